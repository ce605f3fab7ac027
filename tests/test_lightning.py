"""``confstream.adapters.lightning.ClassMetricsCallback`` in real ``lightning.Trainer`` runs.

Every figure is compared with scikit-learn on the predictions the model itself returned in
that epoch (recorded by the model), never with confstream's own numbers.
"""

from __future__ import annotations

import csv
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pl = pytest.importorskip("lightning.pytorch")
torch = pytest.importorskip("torch")

from sklearn.metrics import classification_report  # noqa: E402

from _lightning_case import TinyModel, loaders  # noqa: E402
from confstream.adapters._keys import report_keys  # noqa: E402
from confstream.adapters.lightning import ClassMetricsCallback, default_get  # noqa: E402

HERE = Path(__file__).resolve().parent
NAMES = ["major", "middle", "minority"]


def trainer(tmp_path, callbacks, epochs=2, **kw):
    return pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, callbacks=callbacks,
                      logger=pl.loggers.CSVLogger(tmp_path, name="csv", version=0),
                      enable_progress_bar=False, enable_model_summary=False,
                      default_root_dir=tmp_path, **kw)


def sk_flat(y, p, prefix, target_names=None, labels=None, **kw):
    """scikit-learn's report as the flat keys the adapters log (names from the helper, values
    from scikit-learn's output_dict)."""
    d = classification_report(y, p, labels=labels, target_names=target_names, output_dict=True,
                              zero_division=0, **kw)
    out = {}
    rows = [k for k in d if k not in ("accuracy", "micro avg", "macro avg", "weighted avg",
                                      "samples avg")]
    for metric, col in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")):
        for row in rows:
            out[f"{prefix}{metric}_{row}"] = d[row][col]
        for avg in ("micro", "macro", "weighted", "samples"):
            if f"{avg} avg" in d:
                out[f"{prefix}{metric}_{avg}"] = d[f"{avg} avg"][col]
    if "accuracy" in d:
        out[f"{prefix}accuracy"] = d["accuracy"]
    return out


def read_csv(tmp_path):
    with open(tmp_path / "csv" / "version_0" / "metrics.csv") as f:
        return list(csv.DictReader(f))


@pytest.fixture(autouse=True)
def quiet_lightning():
    # Lightning's advice about dataloader workers and tiny data sets (PossibleUserWarning) is
    # not ours to assert; the callback itself must raise no warning (checked below).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*number of training batches.*")
        warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
        warnings.filterwarnings("ignore", message=".*litlogger.*")
        warnings.filterwarnings("ignore", message=".*tensorboardX.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
        yield


def test_fit_logs_sklearn_values_every_epoch_and_checkpoint_picks_the_best(tmp_path):
    pl.seed_everything(0, verbose=False)
    train, val = loaders()
    cb = ClassMetricsCallback(target_names=NAMES, stages=("val", "train"))
    best = pl.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val_recall_minority",
                                        mode="max", save_top_k=1, filename="{epoch}")
    model = TinyModel()
    trainer(tmp_path, [cb, best]).fit(model, train, val)

    rows = read_csv(tmp_path)
    val_rows = [r for r in rows if r.get("val_recall_minority")]
    assert len(val_rows) == 2 == len(cb.history)  # the sanity check is not counted
    recalls = []
    for epoch, row in enumerate(val_rows):
        y, p = model.predictions("val", epoch)
        ref = sk_flat(y, p, "val_", NAMES, labels=[0, 1, 2])
        assert {k: float(row[k]) for k in ref} == ref
        assert str(cb.history[epoch]) == classification_report(
            y, p, labels=[0, 1, 2], target_names=NAMES, zero_division=0)
        recalls.append(ref["val_recall_minority"])
        # train stage: training_step returns {"loss", "logits"}
        yt, pt = model.predictions("train", epoch)
        assert str(cb.histories["train"][epoch]) == classification_report(
            yt, pt, labels=[0, 1, 2], target_names=NAMES, zero_division=0)
        train_row = next(r for r in rows if r.get("train_f1_macro") and int(r["epoch"]) == epoch)
        assert float(train_row["train_f1_macro"]) == sk_flat(
            yt, pt, "train_", NAMES, labels=[0, 1, 2])["train_f1_macro"]
    assert recalls[0] != recalls[1], "the data must make the two epochs differ"
    first_best = int(np.argmax(recalls))
    assert Path(best.best_model_path).name == f"epoch={first_best}.ckpt"
    assert float(best.best_model_score) == max(recalls)


def test_callback_metrics_are_exact_float64(tmp_path):
    pl.seed_everything(0, verbose=False)
    train, val = loaders()
    cb = ClassMetricsCallback(3)
    model = TinyModel()
    t = trainer(tmp_path, [cb], epochs=1)
    t.fit(model, train, val)
    y, p = model.predictions("val", 0)
    ref = sk_flat(y, p, "val_", labels=[0, 1, 2])
    got = {k: v for k, v in t.callback_metrics.items() if k.startswith("val_")}
    assert set(got) == set(ref)
    for k, v in got.items():
        assert v.dtype == torch.float64 and v.item() == ref[k], k


def test_test_stage_every_and_validate(tmp_path):
    pl.seed_everything(0, verbose=False)
    train, val = loaders()
    cb = ClassMetricsCallback(3, stages=("val", "test"), every=2, metrics=("recall",),
                              averages=False)
    model = TinyModel()
    t = trainer(tmp_path, [cb], epochs=3)
    t.fit(model, train, val)
    assert len(cb.history) == 1  # val epochs 1, 2, 3: only the 2nd is counted
    y, p = model.predictions("val", 1)
    assert str(cb.history[0]) == classification_report(y, p, labels=[0, 1, 2], zero_division=0)
    t.test(model, val)
    t.test(model, val)
    assert len(cb.histories["test"]) == 1  # test runs 1 and 2: the 2nd
    y, p = model.predictions("test", t.current_epoch)
    n = len(val.dataset)
    # both test runs recorded under the same epoch; the second one is the counted one
    y, p = y[n:], p[n:]
    assert str(cb.histories["test"][0]) == classification_report(
        y, p, labels=[0, 1, 2], zero_division=0)
    keys = [k for k in t.callback_metrics if k.startswith("test_")]
    assert sorted(keys) == ["test_recall_0", "test_recall_1", "test_recall_2"]


def test_multilabel_and_custom_get(tmp_path):
    class MultiLabel(TinyModel):
        def validation_step(self, batch, batch_idx):
            x, y = batch
            logits = self.net(x)
            if not self.trainer.sanity_checking:
                self.seen[("val", self.current_epoch)][0].append(y.numpy())
                self.seen[("val", self.current_epoch)][1].append((logits > 0).int().numpy())
            return {"scores": logits}

    pl.seed_everything(0, verbose=False)
    train, val = loaders()
    g = torch.Generator().manual_seed(0)
    yml = (torch.rand(len(val.dataset), 3, generator=g) > 0.5).int()
    val = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(val.dataset.tensors[0], yml), batch_size=16)
    cb = ClassMetricsCallback(multilabel=True, get=lambda out, b: (b[1], out["scores"]))
    model = MultiLabel()
    t = trainer(tmp_path, [cb], epochs=1)
    t.validate(model, val)
    y, p = model.predictions("val", 0)
    assert str(cb.history[0]) == classification_report(y, p, zero_division=0)
    ref = sk_flat(y, p, "val_")
    assert {k: t.callback_metrics[k].item() for k in ref} == ref
    assert "val_f1_samples" in ref and "val_accuracy" not in ref


def test_default_get_forms():
    logits = torch.zeros(2, 3)
    y = torch.tensor([0, 1])
    assert default_get(logits, (None, y))[1] is logits
    assert default_get({"logits": logits, "loss": 1}, {"labels": y})[0] is y
    with pytest.raises(TypeError, match="returned None"):
        default_get(None, (None, y))
    with pytest.raises(TypeError, match=r"keys \['loss'\]"):
        default_get({"loss": 1}, (None, y))
    with pytest.raises(TypeError, match="batch has keys"):
        default_get(logits, {"x": 1})
    with pytest.raises(TypeError, match="batch\\[1\\]"):
        default_get(logits, (y,))


@pytest.mark.parametrize("kw, match", [
    (dict(stages=("valid",)), "stages must be"),
    (dict(every=0), "every must be"),
    (dict(num_classes=3, labels=[1, 2]), "labels has 2"),
    (dict(num_classes=3, target_names=["a"]), "target_names has 1"),
    (dict(metrics=("auc",)), "metrics must be"),
])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        ClassMetricsCallback(**kw)


def test_class_named_like_an_average_is_refused():
    import confstream as cs

    report = cs.ConfusionMatrix(labels=["macro", "b"]).update(["macro", "b"], ["b", "b"]).report(
        zero_division=0)
    with pytest.raises(ValueError, match="same keys as the averages"):
        report_keys(report, prefix="val_")


def test_ddp_two_ranks_every_rank_equals_sklearn_on_all_data(tmp_path):
    pytest.importorskip("torch.distributed")
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", PYTHONWARNINGS="ignore")
    for var in ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "MASTER_PORT"):
        env.pop(var, None)  # Lightning picks a free port itself
    try:
        run = subprocess.run([sys.executable, str(HERE / "_lightning_ddp.py"), str(tmp_path)],
                             env=env, capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the 2-rank DDP run hung: {exc.stderr}")
    assert run.returncode == 0, run.stderr[-4000:]
    ranks = [pickle.loads((tmp_path / f"rank{r}.pkl").read_bytes()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    for epoch in (0, 1):
        y = np.concatenate([r["seen"][("val", epoch)][0] for r in ranks])
        p = np.concatenate([r["seen"][("val", epoch)][1] for r in ranks])
        assert len(y) == 64  # each rank saw half of the validation set
        ref = classification_report(y, p, labels=[0, 1, 2], target_names=["a", "b", "c"],
                                    zero_division=0)
        yt = np.concatenate([r["seen"][("train", epoch)][0] for r in ranks])
        pt = np.concatenate([r["seen"][("train", epoch)][1] for r in ranks])
        # the ranks saw different train labels: the synced report covers their union
        assert set(ranks[0]["seen"][("train", epoch)][0]) != set(yt)
        ref_train = classification_report(yt, pt, zero_division=0)
        for r in ranks:
            assert r["val_text"][epoch] == ref
            assert r["train_text"][epoch] == ref_train
    last = sk_flat(y, p, "val_", ["a", "b", "c"], labels=[0, 1, 2])
    for r in ranks:
        assert {k: r["logged"][k] for k in last} == last


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_fit_counts_on_the_device_and_equals_sklearn(tmp_path):
    pl.seed_everything(0, verbose=False)
    train, val = loaders()
    seen = []

    class Spy(ClassMetricsCallback):
        def _end(self, trainer, pl_module, stage):
            for acc in self._accs[stage].values():  # before any read folds them
                seen.append([p.device.type for p in acc._pending])
            super()._end(trainer, pl_module, stage)

    cb = Spy(target_names=NAMES)
    model = TinyModel()
    t = pl.Trainer(max_epochs=2, accelerator="gpu", devices=1, callbacks=[cb], logger=False,
                   enable_progress_bar=False, enable_model_summary=False,
                   enable_checkpointing=False, default_root_dir=tmp_path)
    t.fit(model, train, val)
    assert seen and all(kinds == ["cuda"] for kinds in seen)
    for epoch in (0, 1):
        y, p = model.predictions("val", epoch)
        assert str(cb.history[epoch]) == classification_report(
            y, p, labels=[0, 1, 2], target_names=NAMES, zero_division=0)
    ref = sk_flat(y, p, "val_", NAMES, labels=[0, 1, 2])
    assert {k: t.callback_metrics[k].item() for k in ref} == ref


def test_two_val_dataloaders_are_reported_apart(tmp_path):
    class TwoLoaders(TinyModel):
        def validation_step(self, batch, batch_idx, dataloader_idx=0):
            x, y = batch
            logits = self.net(x)
            if not self.trainer.sanity_checking:
                self._record(f"val{dataloader_idx}", y, logits)
            return logits

    pl.seed_everything(0, verbose=False)
    train, val = loaders()
    other = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(*[t[:40].flip(0) for t in val.dataset.tensors]),
        batch_size=16)
    cb = ClassMetricsCallback(3)
    model = TwoLoaders()
    t = trainer(tmp_path, [cb], epochs=1)
    t.fit(model, train, [val, other])
    for idx, name in ((0, "val"), (1, "val/dataloader_idx_1")):
        y, p = model.predictions(f"val{idx}", 0)
        assert str(cb.histories[name][0]) == classification_report(
            y, p, labels=[0, 1, 2], zero_division=0)
        suffix = "" if idx == 0 else "/dataloader_idx_1"
        ref = sk_flat(y, p, "val_", labels=[0, 1, 2])
        assert {k: t.callback_metrics[k + suffix].item() for k in ref} == ref


def test_curves_log_auroc_and_ap_per_class(tmp_path):
    """curves=True: val_auroc_<class> / val_ap_<class> logged every epoch; the model's own
    float32 logits of that epoch give scikit-learn's values, which the bounds contain."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    pl.seed_everything(0, verbose=False)
    train, val = loaders()
    cb = ClassMetricsCallback(target_names=NAMES, curves=True)
    best = pl.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val_auroc_minority",
                                        mode="max", save_top_k=1)
    model = TinyModel()
    trainer(tmp_path, [cb, best]).fit(model, train, val)
    rows = [r for r in read_csv(tmp_path) if r.get("val_auroc_minority")]
    assert len(rows) == 2 == len(cb.history)
    for epoch, row in enumerate(rows):
        y, _ = model.predictions("val", epoch)
        z = np.concatenate(model.scores[("val", epoch)])
        report = cb.history[epoch]
        for k, name in enumerate(NAMES):
            for metric, fn in (("auroc", roc_auc_score), ("ap", average_precision_score)):
                ref = fn(y == k, z[:, k])
                lo, hi = report.curves[name][metric + " bounds"]
                assert lo <= ref <= hi, (metric, name, lo, ref, hi)
                assert float(row[f"val_{metric}_{name}"]) == report.curves[name][metric]
        assert "val_auroc_macro" in row and "val_ap_weighted" in row
    assert cb.curves["val"].num_classes == 3 and not cb.curves["val"].exact
    with pytest.raises(ValueError, match="curves must be True or False"):
        ClassMetricsCallback(curves="yes")


def test_curves_binary_half_logits_are_exact(tmp_path):
    from sklearn.metrics import roc_auc_score

    class Binary(TinyModel):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(4, 1)
            self.logged = []

        def validation_step(self, batch, batch_idx):
            x, y = batch
            z = self.net(x)[:, 0].to(torch.float16)
            if not self.trainer.sanity_checking:
                self.logged.append((y.numpy() > 0, z.float().numpy()))
            return z

        def training_step(self, batch, batch_idx):
            x, y = batch
            return torch.nn.functional.binary_cross_entropy_with_logits(
                self.net(x)[:, 0], (y > 0).float())

    pl.seed_everything(0, verbose=False)
    train, val = loaders()
    cb = ClassMetricsCallback(num_classes=2, curves=True,
                              get=lambda out, batch: ((batch[1] > 0).long(), out))
    model = Binary()
    trainer(tmp_path, [cb], epochs=1).fit(model, train, val)
    y = np.concatenate([a for a, _ in model.logged])
    z = np.concatenate([b for _, b in model.logged])
    assert cb.curves["val"].exact
    assert cb.history[-1].curves["1"]["auroc"] == roc_auc_score(y, z)


def test_curves_adaptive_resolution_equals_adaptive_curves_by_hand(tmp_path):
    from sklearn.metrics import roc_auc_score

    from confstream import ScoreCurves

    pl.seed_everything(0, verbose=False)
    train, val = loaders(n_val=160, batch_size=32)
    cb = ClassMetricsCallback(target_names=NAMES, curves=True, curves_resolution="adaptive",
                              curves_intervals=64)
    model = TinyModel()
    trainer(tmp_path, [cb], epochs=1).fit(model, train, val)
    want = ScoreCurves(num_classes=3, resolution="adaptive", intervals=64)
    ys, _ = model.seen[("val", 0)]
    for yb, zb in zip(ys, model.scores[("val", 0)]):   # the batches the callback saw
        want.update(yb, zb)
    assert cb.curves["val"] == want and not want.exact
    y, z = np.concatenate(ys), np.concatenate(model.scores[("val", 0)])
    for k, name in enumerate(NAMES):
        assert cb.history[-1].curves[name]["auroc"] == want.per_class(warn=False)[k]["auroc"]
        lo, hi = cb.history[-1].curves[name]["auroc bounds"]
        assert lo <= roc_auc_score(y == k, z[:, k]) <= hi
    for kw, words in (({"curves_intervals": 64}, r"intervals \(resolution='adaptive' only\)"),
                      ({"curves_resolution": "fine"}, "resolution must be 'fixed' or")):
        with pytest.raises(ValueError, match=words):
            ClassMetricsCallback(curves=True, **kw)
