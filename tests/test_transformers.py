"""``confstream.adapters.transformers.ComputeMetrics`` in real ``transformers.Trainer.evaluate``
runs, on tiny randomly initialised BERTs built from a config (nothing is downloaded).

The reference is scikit-learn on the predictions of the same model (``trainer.predict``),
with the ``-100`` positions left out, in both modes of ``batch_eval_metrics``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from sklearn.metrics import classification_report  # noqa: E402

from confstream.adapters.transformers import ComputeMetrics  # noqa: E402

VOCAB, T = 50, 5
NAMES = ["O", "PER", "LOC", "ORG", "MISC"]  # 5 classes beside 5 tokens: (B, T, C) with T == C


class Rows(torch.utils.data.Dataset):
    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


def make_rows(n, seed, token=False, classes=3):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCAB, (n, T), generator=g)
    mask = torch.ones(n, T, dtype=torch.long)
    lengths = torch.randint(2, T + 1, (n,), generator=g)
    if token:
        labels = torch.randint(0, classes, (n, T), generator=g)
    else:
        labels = torch.randint(0, classes, (n,), generator=g)
    rows = []
    for i in range(n):
        m, ii = mask[i].clone(), ids[i].clone()
        m[lengths[i]:] = 0
        ii[lengths[i]:] = 0
        lab = labels[i].clone()
        if token:
            lab[lengths[i]:] = -100  # padding, as DataCollatorForTokenClassification pads
        rows.append({"input_ids": ii, "attention_mask": m, "labels": lab})
    return Rows(rows)


def tiny_model(token, classes):
    cfg = transformers.BertConfig(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=32,
                                  max_position_embeddings=T, num_labels=classes)
    torch.manual_seed(0)
    cls = (transformers.BertForTokenClassification if token
           else transformers.BertForSequenceClassification)
    return cls(cfg).eval()


def make_trainer(tmp_path, model, cm, batched):
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), per_device_eval_batch_size=8, report_to=[], use_cpu=True,
        batch_eval_metrics=batched, disable_tqdm=True)
    return transformers.Trainer(model=model, args=args, compute_metrics=cm)


def reference(trainer, ds, **kw):
    """scikit-learn's output_dict on the model's own predictions of ``ds``."""
    cm = trainer.compute_metrics
    trainer.compute_metrics = None  # predict() would call it too
    try:
        out = trainer.predict(ds)
    finally:
        trainer.compute_metrics = cm
    y = np.asarray(out.label_ids).reshape(-1)
    p = np.asarray(out.predictions).argmax(-1).reshape(-1)
    keep = y != -100
    return y[keep], p[keep]


def flat(d, prefix="eval_"):
    """scikit-learn's output_dict in the adapters' key names."""
    out = {}
    for row, v in d.items():
        if row == "accuracy":
            out[prefix + "accuracy"] = v
            continue
        name = row[:-4] if row.endswith(" avg") else row
        for metric, col in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")):
            out[f"{prefix}{metric}_{name}"] = v[col]
    return out


@pytest.fixture(autouse=True)
def quiet():
    with warnings.catch_warnings():
        # third-party deprecation notices raised inside transformers / accelerate
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        yield


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("token", [False, True], ids=["sequence", "token"])
def test_evaluate_equals_sklearn_and_evaluations_do_not_mix(tmp_path, batched, token):
    classes = 5 if token else 3
    names = NAMES[:classes]
    model = tiny_model(token, classes)
    cm = ComputeMetrics(target_names=names)
    trainer = make_trainer(tmp_path, model, cm, batched)
    first, second = make_rows(37, 1, token, classes), make_rows(21, 2, token, classes)
    results = [trainer.evaluate(first), trainer.evaluate(second), trainer.evaluate(first)]
    assert len(cm.history) == 3
    for ds, res, report in zip((first, second, first), results, cm.history):
        y, p = reference(trainer, ds)
        assert len(y) < len(ds) * T if token else len(y) == len(ds)
        kw = dict(labels=list(range(classes)), target_names=names, zero_division=0)
        ref = classification_report(y, p, output_dict=True, **kw)
        assert str(report) == classification_report(y, p, **kw)
        want = flat(ref)
        assert {k: res[k] for k in want} == want
        assert f"eval_recall_{names[-1]}" in res and "eval_f1_macro" in res
    assert results[0] == {**results[2], "eval_runtime": results[0]["eval_runtime"],
                          "eval_samples_per_second": results[0]["eval_samples_per_second"],
                          "eval_steps_per_second": results[0]["eval_steps_per_second"]}


def test_batched_calls_reset_only_at_compute_result():
    cm = ComputeMetrics(3)
    ep = transformers.EvalPrediction
    rng = np.random.default_rng(0)
    ys = [rng.integers(0, 3, 10) for _ in range(3)]
    ss = [rng.normal(size=(10, 3)).astype(np.float32) for _ in range(3)]
    assert cm(ep(torch.from_numpy(ss[0]), torch.from_numpy(ys[0])), compute_result=False) == {}
    cm(ep(torch.from_numpy(ss[1]), torch.from_numpy(ys[1])), compute_result=False)
    out = cm(ep(torch.from_numpy(ss[2]), torch.from_numpy(ys[2])), compute_result=True)
    y, p = np.concatenate(ys), np.concatenate(ss).argmax(1)
    assert out == flat(classification_report(y, p, labels=[0, 1, 2], output_dict=True,
                                             zero_division=0), prefix="")
    again = cm(ep(ss[0], ys[0]), compute_result=True)
    assert again["accuracy"] == float(np.mean(ss[0].argmax(1) == ys[0]))
    # an interrupted evaluation is forgotten by reset()
    cm(ep(ss[1], ys[1]), compute_result=False)
    cm.reset()
    assert cm(ep(ss[0], ys[0]), compute_result=True) == again


def test_classic_forms_tuple_list_multilabel_and_prefix_classes():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 20)
    s = rng.normal(size=(20, 3)).astype(np.float32)
    ref = flat(classification_report(y, s.argmax(1), labels=[0, 1, 2], output_dict=True,
                                     zero_division=0), prefix="")
    ep = transformers.EvalPrediction
    assert ComputeMetrics()(ep((s, np.zeros((20, 4))), y)) == ref  # extra outputs: logits first
    assert ComputeMetrics()(ep([s[:7], s[7:]], [y[:7], y[7:]])) == ref  # unconcatenated batches
    only_avg = ComputeMetrics(prefix_classes=False)(ep(s, y))
    assert only_avg == {k: v for k, v in ref.items() if not k[-1].isdigit()}
    # label predictions (an argmax in preprocess_logits_for_metrics) with -100 padding
    yt = np.where(rng.random((4, 6)) < 0.2, -100, rng.integers(0, 3, (4, 6)))
    pt = rng.integers(0, 3, (4, 6))
    keep = yt != -100
    got = ComputeMetrics()(ep(pt, yt))
    assert got == flat(classification_report(yt[keep], pt[keep], output_dict=True,
                                             zero_division=0), prefix="")
    # multi-label logits
    yl = rng.integers(0, 2, (30, 4))
    zl = rng.normal(size=(30, 4)).astype(np.float32)
    got = ComputeMetrics(multilabel=True)(ep(zl, yl))
    ml = classification_report(yl, (zl > 0).astype(int), output_dict=True, zero_division=0)
    assert got == flat(ml, prefix="") and "f1_samples" in got


@pytest.mark.parametrize("kw, match", [
    (dict(num_classes=0), "num_classes"),
    (dict(num_classes=3, labels=[0, 1]), "labels has 2"),
    (dict(multilabel=True, labels=[0, 1]), "multilabel"),
    (dict(ignore_index=0.5), "ignore_index"),
    (dict(num_classes=2, target_names=["a"]), "target_names has 1"),
    (dict(metrics=["auc"]), "metrics must be"),
])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        ComputeMetrics(**kw)


def test_bad_batch_raises_and_changes_nothing():
    cm = ComputeMetrics(3)
    ep = transformers.EvalPrediction
    cm(ep(np.eye(3, dtype=np.float32), np.array([0, 1, 2])), compute_result=False)
    with pytest.raises(ValueError, match="7"):
        cm(ep(np.eye(3, dtype=np.float32), np.array([0, 7, 2])), compute_result=False)
    out = cm(ep(np.eye(3, dtype=np.float32), np.array([0, 1, 2])), compute_result=True)
    assert out["accuracy"] == 1.0 and cm.history[-1].support.tolist() == [2, 2, 2]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_batched_logits_are_counted_on_the_device():
    cm = ComputeMetrics(target_names=NAMES)
    ep = transformers.EvalPrediction
    g = torch.Generator().manual_seed(0)
    ys = [torch.randint(0, 5, (4, T), generator=g) for _ in range(3)]
    for y in ys:
        y[:, -2:] = -100
    zs = [torch.randn(4, T, 5, generator=g) for _ in range(3)]
    for y, z in zip(ys[:2], zs[:2]):
        assert cm(ep(z.cuda(), y.cuda()), compute_result=False) == {}
    assert [p.device.type for p in cm._acc._pending] == ["cuda"]
    out = cm(ep(zs[2].cuda(), ys[2].cuda()), compute_result=True)
    y = torch.cat(ys).reshape(-1).numpy()
    p = torch.cat(zs).argmax(-1).reshape(-1).numpy()
    keep = y != -100
    ref = classification_report(y[keep], p[keep], labels=list(range(5)), target_names=NAMES,
                                output_dict=True, zero_division=0)
    assert out == flat(ref, prefix="")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_trainer_evaluate_equals_sklearn(tmp_path):
    model = tiny_model(True, 5)
    cm = ComputeMetrics(target_names=NAMES)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), per_device_eval_batch_size=8, report_to=[],
        batch_eval_metrics=True, disable_tqdm=True)
    trainer = transformers.Trainer(model=model, args=args, compute_metrics=cm)
    ds = make_rows(37, 1, True, 5)
    res = trainer.evaluate(ds)
    y, p = reference(trainer, ds)
    ref = classification_report(y, p, labels=list(range(5)), target_names=NAMES,
                                output_dict=True, zero_division=0)
    want = flat(ref)
    assert {k: res[k] for k in want} == want


def test_target_names_fix_the_space_and_an_empty_evaluation_raises():
    ep = transformers.EvalPrediction
    cm = ComputeMetrics(target_names=["a", "b", "c", "d"])
    y, p = np.array([2, 0, 2]), np.array([2, 2, 0])  # label predictions; classes 1, 3 absent
    out = cm(ep(p, y))
    ref = classification_report(y, p, labels=[0, 1, 2, 3], target_names=["a", "b", "c", "d"],
                                output_dict=True, zero_division=0)
    assert out == flat(ref, prefix="") and "recall_d" in out
    with pytest.raises(ValueError, match="counted no samples"):
        cm(ep(np.zeros((2, 3, 4), np.float32), np.full((2, 3), -100)), compute_result=True)
    with pytest.raises(ValueError, match="y_true"):  # a name beyond the 4 classes
        cm(ep(p, np.array([0, 4, 1])))


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 40), classes=st.integers(2, 6),
       token=st.booleans(), cuts=st.lists(st.integers(0, 40), max_size=5),
       torch_in=st.booleans())
def test_any_split_into_batches_equals_sklearn(seed, n, classes, token, cuts, torch_in):
    rng = np.random.default_rng(seed)
    shape = (n, 4) if token else (n,)
    y = rng.integers(0, classes, shape)
    if token:
        y[rng.random(shape) < 0.3] = -100
        y[0, 0] = 0  # at least one counted position
    z = rng.normal(size=shape + (classes,)).astype(np.float32)
    keep = y != -100
    ref = classification_report(y[keep], z.argmax(-1)[keep], labels=list(range(classes)),
                                output_dict=True, zero_division=0)
    want = flat(ref, prefix="")
    conv = torch.from_numpy if torch_in else (lambda a: a)
    ep = transformers.EvalPrediction
    cm = ComputeMetrics(classes)
    bounds = sorted({0, n, *[c for c in cuts if c <= n]})
    for a, b in zip(bounds[:-1], bounds[1:]):
        out = cm(ep(conv(z[a:b]), conv(y[a:b])), compute_result=b == n)
    assert out == want
    assert ComputeMetrics(classes)(ep(z, y)) == want


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("token", [False, True], ids=["sequence", "token"])
def test_curves_return_auroc_and_ap_per_class(tmp_path, batched, token):
    """curves=True: eval_auroc_<class> / eval_ap_<class> contain scikit-learn's values on the
    model's own logits (padding -100 left out); a tiny BERT built from a config."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    classes = 4 if token else 3
    names = NAMES[:classes]
    model = tiny_model(token, classes)
    cm = ComputeMetrics(target_names=names, curves=True)
    trainer = make_trainer(tmp_path, model, cm, batched)
    ds = make_rows(40, 3, token, classes)
    res = trainer.evaluate(ds)
    cm.compute_metrics = None
    trainer.compute_metrics = None
    out = trainer.predict(ds)
    y = np.asarray(out.label_ids).reshape(-1)
    z = np.asarray(out.predictions).reshape(len(y), classes)
    keep = y != -100
    y, z = y[keep], z[keep]
    report = cm.history[-1]
    for k, name in enumerate(names):
        for metric, fn in (("auroc", roc_auc_score), ("ap", average_precision_score)):
            ref = fn(y == k, z[:, k])
            lo, hi = report.curves[name][metric + " bounds"]
            assert lo <= ref <= hi, (metric, name)
            assert res[f"eval_{metric}_{name}"] == report.curves[name][metric]
    assert "eval_auroc_macro" in res and "eval_ap_weighted" in res
    assert cm.curves is not None and cm.curves.num_classes == classes


@pytest.mark.parametrize("batched", [True, False])
def test_curves_adaptive_resolution_equals_adaptive_curves_by_hand(tmp_path, batched):
    from sklearn.metrics import roc_auc_score

    from confstream import ScoreCurves

    model = tiny_model(False, 3)
    cm = ComputeMetrics(curves=True, curves_resolution="adaptive", curves_intervals=64)
    trainer = make_trainer(tmp_path, model, cm, batched)
    ds = make_rows(120, 4, False, 3)
    res = trainer.evaluate(ds)
    trainer.compute_metrics = None
    out = trainer.predict(ds)
    y, z = np.asarray(out.label_ids), np.asarray(out.predictions)
    want = ScoreCurves(num_classes=3, resolution="adaptive", intervals=64)
    for i in range(0, len(y), 8):                  # per_device_eval_batch_size
        want.update(y[i:i + 8], z[i:i + 8])
    assert cm.curves == want and not want.exact
    per = want.per_class(warn=False)
    for k in range(3):
        assert res[f"eval_auroc_{k}"] == per[k]["auroc"]
        lo, hi = per[k]["auroc bounds"]
        assert lo <= roc_auc_score(y == k, z[:, k]) <= hi
    for kw, words in (({"curves_intervals": 64}, r"intervals \(resolution='adaptive' only\)"),
                      ({"curves_resolution": "fine"}, "resolution must be 'fixed' or")):
        with pytest.raises(ValueError, match=words):
            ComputeMetrics(curves=True, **kw)
