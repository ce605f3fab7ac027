"""``ci`` through the torch and Lightning adapters, with real tiny models.

The intervals are compared with ``acc.report(ci=...)`` recomputed from the model's own
predictions (recorded by the model), and the point values with scikit-learn.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.metrics import classification_report  # noqa: E402

import confstream as cs  # noqa: E402
from confstream.adapters.torch import evaluate  # noqa: E402


def tiny_data(n=300, seed=0, weights=False):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.nn.functional.one_hot(y, 3).float() * 2 + torch.randn(n, 3, generator=g)
    tensors = (x, y) + ((torch.rand(n, generator=g) + 0.5,) if weights else ())
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*tensors), batch_size=64)


def tiny_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))


def predictions(model, loader):
    with torch.no_grad():
        ys, ps, ws = [], [], []
        for batch in loader:
            ys.append(batch[1].numpy())
            ps.append(model(batch[0]).argmax(1).numpy())
            if len(batch) == 3:
                ws.append(batch[2].numpy())
    return np.concatenate(ys), np.concatenate(ps), (np.concatenate(ws) if ws else None)


def test_torch_evaluate_with_ci_returns_the_report_with_intervals():
    model, loader = tiny_model(), tiny_data()
    acc, report = evaluate(model, loader, progress=False, ci=0.9, seed=3,
                           target_names=["a", "b", "c"], zero_division=0)
    y, p, _ = predictions(model, loader)
    ref = cs.ConfusionMatrix(3).update(y, p).report(target_names=["a", "b", "c"],
                                                   zero_division=0, ci=0.9, seed=3)
    assert str(report) == str(ref) and report.to_dict() == ref.to_dict()
    assert str(acc.report(target_names=["a", "b", "c"], zero_division=0)) == \
        classification_report(y, p, target_names=["a", "b", "c"], zero_division=0)
    _, wil = evaluate(model, loader, progress=False, ci=0.95, ci_method="wilson")
    assert wil.ci_method == "wilson" and wil.interval("recall", 1) == ref_wilson(y, p, 1)
    acc, curves, rep = evaluate(model, loader, progress=False, curves=True, ci=0.95, seed=1)
    assert rep.curves is not None and rep.ci == 0.95


def ref_wilson(y, p, k):
    from confstream.intervals import proportion_interval

    return proportion_interval(int(((y == k) & (p == k)).sum()), int((y == k).sum()), 0.95,
                               "wilson")


def test_torch_evaluate_weighted_loader_with_the_streamed_bootstrap():
    model, loader = tiny_model(), tiny_data(weights=True)
    with pytest.raises(ValueError, match="bootstrap=200"):
        evaluate(model, loader, progress=False, ci=0.95)
    acc, report = evaluate(model, loader, progress=False, ci=0.95, bootstrap=50, seed=4)
    y, p, w = predictions(model, loader)
    ref = cs.ConfusionMatrix(3, bootstrap=50, seed=4).update(y, p, sample_weight=w)
    assert acc.bootstrap == 50
    np.testing.assert_allclose(acc.replicates, ref.replicates, rtol=1e-12)
    assert report.to_dict() == ref.report(ci=0.95).to_dict()
    assert str(acc.report()) == classification_report(y, p, sample_weight=w)


def test_torch_evaluate_multilabel_ci_and_bad_arguments():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(200, 4, generator=g)
    y = (x[:, :3] > 0).int()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=50)
    model = torch.nn.Linear(4, 3)
    with pytest.raises(ValueError, match="bootstrap=B"):
        evaluate(model, loader, multilabel=True, progress=False, ci=0.95)
    acc, report = evaluate(model, loader, multilabel=True, threshold=0.0, progress=False,
                           ci=0.95, bootstrap=40, zero_division=0)
    lo, hi = report.interval("f1-score", "samples avg")
    assert lo <= report.get("f1-score", "samples avg") <= hi
    with pytest.raises(ValueError, match="ci must be in"):
        evaluate(model, loader, progress=False, ci=1.5)
    with pytest.raises(ValueError, match="give ci="):
        evaluate(model, loader, progress=False, target_names=["a"])
    with pytest.raises(ValueError, match="bootstrap must be at least 1"):
        evaluate(model, loader, progress=False, bootstrap=0)


# ---------------------------------------------------------------------------------------------
# Lightning

pl = pytest.importorskip("lightning.pytorch")


@pytest.fixture()
def quiet():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*number of training batches.*")
        warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
        warnings.filterwarnings("ignore", message=".*litlogger.*")
        warnings.filterwarnings("ignore", message=".*tensorboardX.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
        yield


def lightning_trainer(tmp_path, callbacks, epochs=1):
    return pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, callbacks=callbacks,
                      logger=False, enable_progress_bar=False, enable_model_summary=False,
                      enable_checkpointing=False, default_root_dir=tmp_path)


def test_lightning_logs_bounds_and_early_stopping_reads_them(tmp_path, quiet):
    from _lightning_case import TinyModel, loaders

    from confstream.adapters.lightning import ClassMetricsCallback

    pl.seed_everything(0, verbose=False)
    train, val = loaders()
    names = ["major", "middle", "minority"]
    cb = ClassMetricsCallback(target_names=names, ci=0.9, seed=5)
    stop = pl.callbacks.EarlyStopping(monitor="val_recall_minority_lo", mode="max", patience=5)
    model = TinyModel()
    t = lightning_trainer(tmp_path, [cb, stop], epochs=2)
    t.fit(model, train, val)
    y, p = model.predictions("val", 1)
    ref = cs.ConfusionMatrix(3).update(y, p).report(labels=[0, 1, 2], target_names=names,
                                                   zero_division=0, ci=0.9, seed=5)
    assert str(cb.history[-1]) == str(ref)
    got = {k: v.item() for k, v in t.callback_metrics.items()}
    for metric, col in (("recall", "recall"), ("precision", "precision"), ("f1", "f1-score")):
        for name in names:
            lo, hi = ref.interval(col, name)
            assert got[f"val_{metric}_{name}_lo"] == lo and got[f"val_{metric}_{name}_hi"] == hi
        lo, hi = ref.interval(col, "macro avg")
        assert got[f"val_{metric}_macro_lo"] == lo and got[f"val_{metric}_macro_hi"] == hi
    assert (got["val_accuracy_lo"], got["val_accuracy_hi"]) == ref.interval("accuracy")
    assert stop.monitor in got and "val_support_major_lo" not in got


def test_lightning_multilabel_streamed_bootstrap(tmp_path, quiet):
    from _lightning_case import TinyModel, loaders

    from confstream.adapters.lightning import ClassMetricsCallback

    class MultiLabel(TinyModel):
        def validation_step(self, batch, batch_idx):
            x, y = batch
            return {"scores": self.net(x)}

    with pytest.raises(ValueError, match="bootstrap=B"):
        ClassMetricsCallback(multilabel=True, ci=0.95)
    with pytest.raises(ValueError, match="ci must be in"):
        ClassMetricsCallback(ci=0)
    with pytest.raises(TypeError, match="bootstrap must be an int"):
        ClassMetricsCallback(bootstrap=2.0)
    pl.seed_everything(0, verbose=False)
    _, val = loaders()
    g = torch.Generator().manual_seed(0)
    yml = (torch.rand(len(val.dataset), 3, generator=g) > 0.5).int()
    val = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(val.dataset.tensors[0], yml), batch_size=16)
    cb = ClassMetricsCallback(multilabel=True, get=lambda out, b: (b[1], out["scores"]),
                              ci=0.95, bootstrap=30)
    t = lightning_trainer(tmp_path, [cb])
    t.validate(MultiLabel(), val)
    acc = cb.confusion["val"]
    assert acc.bootstrap == 30
    report = cb.history[-1]
    got = {k: v.item() for k, v in t.callback_metrics.items()}
    assert (got["val_f1_samples_lo"], got["val_f1_samples_hi"]) == report.interval(
        "f1-score", "samples avg")
    assert got["val_f1_micro_lo"] <= got["val_f1_micro"] <= got["val_f1_micro_hi"]
