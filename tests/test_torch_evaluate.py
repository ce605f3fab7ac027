"""``confstream.adapters.torch.evaluate`` on real DataLoaders, against scikit-learn on the
model's own predictions (computed here in one pass over all the data)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.metrics import classification_report  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

import confstream as cs  # noqa: E402
from _reference import same  # noqa: E402
from confstream.adapters.torch import evaluate  # noqa: E402


def assert_report(acc, y_true, y_pred, w=None):
    kw = {"sample_weight": w, "zero_division": 0}
    rep = acc.report(zero_division=0)
    assert str(rep) == classification_report(y_true, y_pred, **kw)
    assert same(rep.to_dict(), classification_report(y_true, y_pred, output_dict=True, **kw),
                approx_keys=("samples avg",))


class Net(torch.nn.Module):
    """Dropout and batch norm: their eval mode changes the outputs, so a test can tell."""

    def __init__(self, d_in=6, d_out=4):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(d_in, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU(),
            torch.nn.Dropout(0.5), torch.nn.Linear(16, d_out))
        self.seen_modes = []

    def forward(self, x):
        self.seen_modes.append((self.training, torch.is_inference_mode_enabled()))
        return self.body(x)


def data(n=203, d_in=6, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d_in, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    return x, y


def reference(model, x):
    model.eval()
    with torch.no_grad():
        return model.body(x)


def test_dataloader_equals_sklearn_on_model_predictions():
    torch.manual_seed(0)
    x, y = data()
    model = Net()
    model.train()
    model.body[1].running_mean += 0.3  # eval-mode batch norm differs from train mode
    acc = evaluate(model, DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True),
                   progress=False)
    pred = reference(model, x).argmax(dim=1).numpy()
    assert acc.num_classes == 4 and acc.fixed  # taken from the logits' width
    assert_report(acc, y.numpy(), pred)


def test_modes_restored_and_inference_mode_used():
    x, y = data(40)
    model = Net()
    model.train()
    model.body[1].eval()  # a submodule in its own mode stays so
    evaluate(model, DataLoader(TensorDataset(x, y), batch_size=16), progress=False)
    assert model.seen_modes == [(False, True)] * 3
    assert model.training and model.body[0].training and not model.body[1].training
    # also when a batch fails
    bad = DataLoader(TensorDataset(x, torch.full((40,), 9)), batch_size=16)
    with pytest.raises(ValueError, match=r"batch 0: y_true\[0\] = 9"):
        evaluate(model, bad, progress=False)
    assert model.training and not model.body[1].training
    model.eval()
    evaluate(model, DataLoader(TensorDataset(x, y), batch_size=16), progress=False)
    assert not model.training


def test_weights_labels_and_binary_scores():
    x, y = data(150, classes=2, seed=3)
    w = torch.rand(150, dtype=torch.float64)
    model = torch.nn.Sequential(torch.nn.Linear(6, 1), torch.nn.Sigmoid())
    loader = DataLoader(TensorDataset(x, y, w), batch_size=40)
    acc = evaluate(model, loader, threshold=0.4, progress=False)
    with torch.no_grad():
        pred = (model(x)[:, 0] > 0.4).long().numpy()
    assert acc.num_classes == 2
    assert_report(acc, y.numpy(), pred, w.numpy())
    # labels given: score columns are the labels in this order
    x, y = data(90, classes=3, seed=4)
    names = np.array([10, 20, 30])
    model = torch.nn.Linear(6, 3)
    acc = evaluate(model, DataLoader(TensorDataset(x, torch.from_numpy(names[y.numpy()])),
                                     batch_size=25), labels=names.tolist(), progress=False)
    with torch.no_grad():
        pred = names[model(x).argmax(dim=1).numpy()]
    assert_report(acc, names[y.numpy()], pred)


def test_multilabel_and_segmentation():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(64, 6, generator=g)
    y = (torch.rand(64, 3, generator=g) > 0.5).int()
    model = torch.nn.Linear(6, 3)
    acc = evaluate(model, DataLoader(TensorDataset(x, y), batch_size=20), multilabel=True,
                   threshold=0.0, progress=False)
    assert isinstance(acc, cs.MultilabelConfusionMatrix) and acc.num_labels == 3
    with torch.no_grad():
        pred = (model(x) > 0).int().numpy()
    assert_report(acc, y.numpy(), pred)
    # masks: (B, C, H, W) scores beside (B, H, W) labels
    img = torch.randn(12, 2, 5, 5, generator=g)
    mask = torch.randint(0, 3, (12, 5, 5), generator=g)
    conv = torch.nn.Conv2d(2, 3, 1)
    acc = evaluate(conv, DataLoader(TensorDataset(img, mask), batch_size=5), progress=False)
    with torch.no_grad():
        pred = conv(img).argmax(dim=1)
    assert acc.num_classes == 3 and acc.fixed  # from the class axis
    assert_report(acc, mask.reshape(-1).numpy(), pred.reshape(-1).numpy())


def test_progress_bar_and_errors(capsys):
    pytest.importorskip("tqdm")
    x, y = data(50)
    model = torch.nn.Linear(6, 4)
    evaluate(model, DataLoader(TensorDataset(x, y), batch_size=20), progress=True)
    err = capsys.readouterr().err
    assert "3/3" in err and "batch" in err
    evaluate(model, DataLoader(TensorDataset(x, y), batch_size=20), progress=False)
    assert capsys.readouterr().err == ""
    with pytest.raises(TypeError, match="returned a tuple"):
        evaluate(lambda_module(lambda t: (t, t)), [(x, y)], progress=False)
    with pytest.raises(TypeError, match=r"batch 1: expected \(x, y\)"):
        evaluate(model, [(x, y), (x,)], progress=False)
    # the model's device is used for x; a model without parameters runs on the CPU
    acc = evaluate(torch.nn.Identity(), [(torch.eye(4), torch.arange(4))], progress=False)
    assert acc.counts.trace() == 4


def lambda_module(fn):
    class M(torch.nn.Module):
        def forward(self, x):
            return fn(x)

    return M()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_model_counts_on_the_device():
    x, y = data(300)
    model = Net().cuda()
    acc = evaluate(model, DataLoader(TensorDataset(x, y), batch_size=64), progress=False)
    assert len(acc._pending) == 1 and acc._pending[0].device.type == "cuda"
    pred = reference(model, x.cuda()).argmax(dim=1).cpu().numpy()
    assert_report(acc, y.numpy(), pred)


def test_docstring_examples():
    import doctest

    import confstream.adapters.torch as mod

    result = doctest.testmod(mod)
    assert result.attempted > 0 and result.failed == 0
