"""torch ``evaluate(..., curves=True)``: each class's AUROC / AP against scikit-learn's
``roc_auc_score`` / ``average_precision_score`` on the model's outputs for the same loader.

Outputs cast to float16 / bfloat16 are binned one bin per value: equal to scikit-learn's
(computed on the same values as float64). float32 outputs are certified: scikit-learn's value
lies inside the bounds."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from sklearn.metrics import average_precision_score, roc_auc_score  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from confstream.adapters.torch import evaluate  # noqa: E402


class Cast(torch.nn.Module):
    def __init__(self, dtype):
        super().__init__()
        self.dtype = dtype

    def forward(self, x):
        return x.to(self.dtype)


def outputs(model, loader):
    with torch.inference_mode():
        return torch.cat([model(x) for x, *_ in loader]).float().numpy().astype(np.float64)


def data(n, c, seed, dim=5):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, c, (n,), generator=g)
    x = torch.randn(n, dim, generator=g)
    x[:, 0] += y.float()
    return x, y


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_multiclass_exact_half_outputs_equal_sklearn(dtype):
    torch.manual_seed(0)
    x, y = data(300, 4, 1)
    w = torch.randint(1, 4, (300,)).double()
    model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Softmax(dim=1), Cast(dtype))
    loader = DataLoader(TensorDataset(x, y, w), batch_size=64)
    acc, curves = evaluate(model, loader, curves=True, progress=False)
    assert curves.exact and acc.num_classes == 4
    s, yy, ww = outputs(model, loader), y.numpy(), w.numpy()
    per = curves.per_class()
    for k in range(4):
        assert per[k]["auroc"] == pytest.approx(
            roc_auc_score(yy == k, s[:, k], sample_weight=ww), rel=1e-12, abs=0)
        assert per[k]["ap"] == pytest.approx(
            average_precision_score(yy == k, s[:, k], sample_weight=ww), rel=1e-12, abs=0)
    report = acc.report().with_curves(curves)
    assert report.get("auroc", 2) == per[2]["auroc"]
    assert report.get("ap", "weighted avg") == pytest.approx(
        average_precision_score(np.eye(4)[yy], s, average="weighted", sample_weight=ww),
        rel=1e-12)


def test_binary_float32_logits_certified():
    torch.manual_seed(1)
    x, y = data(400, 2, 2)
    model = torch.nn.Linear(5, 1)
    loader = DataLoader(TensorDataset(x, y), batch_size=50)
    acc, curves = evaluate(model, loader, threshold=0.0, curves=True, progress=False)
    assert not curves.exact
    s = outputs(model, loader)[:, 0]
    got = curves.per_class()
    assert list(got) == [1]
    for key, fn in (("auroc", roc_auc_score), ("ap", average_precision_score)):
        lo, hi = got[1][key + " bounds"]
        ref = fn(y.numpy(), s)
        assert lo <= ref <= hi and hi - lo < 1e-3, (key, lo, ref, hi)


def test_segmentation_scores_and_masks():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(12, 3, 4, 4, generator=g)
    y = x.argmax(dim=1)
    flip = torch.rand(12, 4, 4, generator=g) < 0.3
    y = torch.where(flip, torch.randint(0, 3, (12, 4, 4), generator=g), y)
    model = torch.nn.Sequential(torch.nn.Softmax(dim=1), Cast(torch.float16))
    loader = DataLoader(TensorDataset(x, y), batch_size=5)
    acc, curves = evaluate(model, loader, curves=True, progress=False)
    s = np.moveaxis(outputs(model, loader), 1, -1).reshape(-1, 3)
    yy = y.numpy().reshape(-1)
    for k, row in curves.per_class().items():
        assert row["auroc"] == roc_auc_score(yy == k, s[:, k])
        assert row["ap"] == average_precision_score(yy == k, s[:, k])


def test_multilabel_and_refusals():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(90, 3, generator=g)
    y = (x + torch.randn(90, 3, generator=g) > 0).long()
    model = torch.nn.Sequential(torch.nn.Sigmoid(), Cast(torch.bfloat16))
    loader = DataLoader(TensorDataset(x, y), batch_size=32)
    acc, curves = evaluate(model, loader, multilabel=True, curves=True, progress=False)
    s = outputs(model, loader)
    for k, row in curves.per_class().items():
        assert row["auroc"] == roc_auc_score(y.numpy()[:, k], s[:, k])
    with pytest.raises(ValueError, match="curves=True needs scores"):
        evaluate(_ArgMax(), DataLoader(TensorDataset(x, y[:, 0]), batch_size=32),
                 num_classes=3, curves=True, progress=False)
    with pytest.raises(ValueError, match="curves must be True or False"):
        evaluate(model, loader, curves=1, progress=False)
    assert not isinstance(evaluate(model, loader, multilabel=True, progress=False), tuple)


class _ArgMax(torch.nn.Module):
    def forward(self, x):
        return x.argmax(dim=1)


def test_adaptive_resolution_equals_adaptive_curves_by_hand():
    from confstream import ScoreCurves

    torch.manual_seed(3)
    x, y = data(400, 3, 4)
    w = torch.randint(1, 4, (400,)).double()
    model = torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.Softmax(dim=1))
    loader = DataLoader(TensorDataset(x, y, w), batch_size=100)
    acc, curves = evaluate(model, loader, curves=True, curves_resolution="adaptive",
                           curves_intervals=64, progress=False)
    want = ScoreCurves(num_classes=3, resolution="adaptive", intervals=64)
    with torch.inference_mode():
        for xb, yb, wb in loader:
            want.update(yb.numpy(), model(xb).numpy(), sample_weight=wb.numpy())
    assert curves == want and curves.resolution == "adaptive" and not curves.exact
    s, yy, ww = outputs(model, loader), y.numpy(), w.numpy()
    per = curves.per_class(warn=False)
    for k in range(3):
        for m, fn in (("auroc", roc_auc_score), ("ap", average_precision_score)):
            lo, hi = per[k][m + " bounds"]
            assert lo <= fn(yy == k, s[:, k], sample_weight=ww) <= hi and hi > lo


@pytest.mark.parametrize("kw, words", [
    ({"curves_intervals": 64}, r"intervals \(resolution='adaptive' only\) must be an int"),
    ({"curves_resolution": "adaptive", "curves_intervals": True}, "got True"),
    ({"curves_resolution": "fine"}, "resolution must be 'fixed' or 'adaptive', got 'fine'"),
])
def test_bad_curve_resolution_is_refused_before_the_loader_runs(kw, words):
    def never():
        raise AssertionError("the loader was read")
        yield

    with pytest.raises(ValueError, match=words):
        evaluate(torch.nn.Identity(), never(), curves=True, progress=False, **kw)
