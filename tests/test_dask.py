"""The Dask adapter on a LocalCluster of 2 worker processes, against scikit-learn."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")
skm = pytest.importorskip("sklearn.metrics")
from sklearn.exceptions import UndefinedMetricWarning  # noqa: E402

from _reference import dask_client  # noqa: E402
from confstream.adapters import dask as cdask  # noqa: E402


@pytest.fixture(scope="module")
def client():
    """Two worker processes: accumulators really are pickled, counted and merged apart."""
    yield from dask_client(processes=True)


def data(n: int, kind: str = "int", seed: int = 0):
    rng = np.random.default_rng(seed)
    classes = np.array([0, 1, 2, 5]) if kind == "int" else np.array(["ant", "bee", "cow", "dog"])
    t = classes[rng.choice(4, n, p=[0.6, 0.25, 0.1, 0.05])]
    p = np.where(rng.random(n) < 0.35, classes[rng.integers(0, 4, n)], t)
    return t, p


def sk(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return skm.classification_report(*args, **kw)


def ran_on_workers(client, fn):
    """Run ``fn`` and return the names of the task groups the cluster ran meanwhile."""
    with distributed.get_task_stream(client) as ts:
        result = fn()
    return result, {t["key"][0] if isinstance(t["key"], tuple) else t["key"] for t in ts.data}


def test_arrays_with_unaligned_chunks(client):
    t, p = data(20_000, seed=1)
    y_true = da.from_array(t, chunks=3_000)
    y_pred = da.from_array(p, chunks=4_500)                  # rechunked to y_true's
    acc, keys = ran_on_workers(client, lambda: cdask.confusion_matrix(y_true, y_pred))
    assert str(acc.report()) == sk(t, p)
    assert any(str(k).startswith("_count") for k in keys)    # counted on the cluster
    assert any(str(k).startswith("_merge") for k in keys)    # and merged there


def test_dataframe_series_with_string_labels_and_weights(client):
    t, p = data(12_000, "str", seed=2)
    rng = np.random.default_rng(3)
    w = rng.integers(1, 17, len(t)) / 8.0         # dyadic: partition sums are exact
    df = dd.from_pandas(pd.DataFrame({"t": t, "p": p, "w": w}), npartitions=7)
    text = cdask.classification_report(df["t"], df["p"], sample_weight=df["w"], digits=4)
    assert text == sk(t, p, sample_weight=w, digits=4)
    d = cdask.classification_report(df["t"], df["p"], sample_weight=df["w"], output_dict=True)
    assert d == sk(t, p, sample_weight=w, output_dict=True)


def test_float_weights_agree_to_rounding(client):
    t, p = data(9_000, seed=4)
    w = np.random.default_rng(5).random(len(t))
    acc = cdask.confusion_matrix(da.from_array(t, chunks=1000), da.from_array(p, chunks=1000),
                                 sample_weight=da.from_array(w, chunks=1000))
    np.testing.assert_allclose(acc.counts, skm.confusion_matrix(t, p, labels=acc.labels, sample_weight=w),
                               rtol=1e-12)


def test_report_options_match_sklearn(client):
    t, p = data(5_000, seed=6)
    y_true, y_pred = da.from_array(t, chunks=600), da.from_array(p, chunks=600)
    kw = dict(labels=[5, 0, 9], target_names=["five", "zero", "nine"], zero_division=0.0)
    assert cdask.classification_report(y_true, y_pred, **kw) == sk(t, p, **kw)
    d = cdask.classification_report(y_true, y_pred, output_dict=True, **kw)
    assert d == sk(t, p, output_dict=True, **kw)


def test_fixed_label_space_and_scores(client):
    rng = np.random.default_rng(7)
    scores = rng.random((6_000, 5))
    t = rng.integers(0, 5, 6_000)
    acc = cdask.confusion_matrix(da.from_array(t, chunks=1_000),
                                 da.from_array(scores, chunks=(700, 2)), num_classes=5)
    np.testing.assert_array_equal(acc.counts,
                                  skm.confusion_matrix(t, scores.argmax(1), labels=range(5)))
    assert acc.labels == list(range(5))


def test_multilabel(client):
    rng = np.random.default_rng(8)
    t = (rng.random((4_000, 3)) < 0.3).astype(int)
    s = rng.random((4_000, 3))
    acc = cdask.confusion_matrix(da.from_array(t, chunks=(500, 3)),
                                 da.from_array(s, chunks=(800, 3)), multilabel=True)
    pred = (s > 0.5).astype(int)
    np.testing.assert_array_equal(acc.counts, skm.multilabel_confusion_matrix(t, pred))
    assert str(acc.report(zero_division=0.0)) == sk(t, pred, zero_division=0.0)


def test_series_with_array_and_numpy(client):
    t, p = data(3_000, seed=9)
    s = dd.from_pandas(pd.Series(t), npartitions=4)
    acc = cdask.confusion_matrix(s, da.from_array(p, chunks=1_000))
    assert str(acc.report()) == sk(t, p)
    acc = cdask.confusion_matrix(da.from_array(t, chunks=500), p)       # numpy y_pred
    assert str(acc.report()) == sk(t, p)


def test_mismatched_partitions_are_refused(client):
    t, p = data(1_000, seed=10)
    a = dd.from_pandas(pd.Series(t), npartitions=3)
    b = dd.from_pandas(pd.Series(p), npartitions=4)
    with pytest.raises(ValueError, match="partitions differ"):
        cdask.confusion_matrix(a, b)
    c = dd.from_pandas(pd.Series(p, index=np.arange(1_000) * 2), npartitions=3)
    with pytest.raises(ValueError, match="partitions differ"):
        cdask.confusion_matrix(a, c)                          # same count, other boundaries
    with pytest.raises(ValueError, match="rows"):
        cdask.confusion_matrix(da.from_array(t, chunks=100), da.from_array(p[:-1], chunks=100))


def test_bad_label_raises_from_the_worker(client):
    t = np.arange(1_000) % 3 * 1.0
    p = t.copy()
    p[777] = 0.25
    with pytest.raises(ValueError, match="0.25"):
        cdask.confusion_matrix(da.from_array(t, chunks=100), da.from_array(p, chunks=100))


def test_lazy_and_tree_shape(client):
    t, p = data(2_000, seed=11)
    lazy = cdask.confusion_matrix(da.from_array(t, chunks=50), da.from_array(p, chunks=50),
                                  compute=False, split_every=3)
    graph = dict(lazy.__dask_graph__())
    merges = [k for k in graph if str(k).startswith("_merge")]
    assert len(merges) == 14 + 5 + 2 + 1                      # 40 -> 14 -> 5 -> 2 -> 1
    assert str(lazy.compute().report()) == sk(t, p)


def test_without_a_cluster_too():
    # The local threaded scheduler: same answer, no client needed.
    import dask
    t, p = data(3_000, seed=12)
    with dask.config.set(scheduler="threads"):
        acc = cdask.confusion_matrix(da.from_array(t, chunks=700), da.from_array(p, chunks=700))
    assert str(acc.report()) == sk(t, p)
    assert math.isclose(acc.report().to_dict()["accuracy"], skm.accuracy_score(t, p))


def test_docs_example(client, tmp_path, capsys, monkeypatch):
    """docs/cli.md's Dask example prints what the page shows, on the cluster."""
    import os
    import re
    monkeypatch.chdir(tmp_path)
    path = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "cli.md")
    with open(path, encoding="utf-8") as f:
        blocks = re.findall(r"```(\w+)\n(.*?)```", f.read(), re.S)
    setup = next(body for lang, body in blocks if lang == "python" and "dask" not in body)
    i = next(i for i, (lang, body) in enumerate(blocks) if lang == "python" and "dask" in body)
    assert blocks[i + 1][0] == "text"
    exec(compile(setup, path, "exec"), {})
    capsys.readouterr()
    exec(compile(blocks[i][1], path, "exec"), {})
    assert capsys.readouterr().out == blocks[i + 1][1]


def test_docstring_examples(client):
    import doctest
    result = doctest.testmod(cdask, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10 and result.failed == 0


# --------------------------------------------------------------------------------------------
# score curves: per-partition histograms tree-reduced with +


def test_score_curves_binary_exact_and_multiclass_certified(client):
    rng = np.random.default_rng(5)
    n = 30_000
    y = (rng.random(n) < 0.15).astype(np.int64)
    s = (rng.normal(size=n) + 1.5 * y).astype(np.float16)
    w = rng.integers(1, 4, n).astype(float)
    acc, ran = ran_on_workers(client, lambda: cdask.score_curves(
        da.from_array(y, chunks=7_001), da.from_array(s, chunks=5_000),
        sample_weight=da.from_array(w, chunks=9_999), split_every=3))
    assert acc.exact and any("_count" in str(k) for k in ran)
    s64 = s.astype(np.float64)
    assert acc.roc_auc() == pytest.approx(skm.roc_auc_score(y, s64, sample_weight=w), rel=1e-12)
    assert acc.average_precision() == pytest.approx(
        skm.average_precision_score(y, s64, sample_weight=w), rel=1e-12)
    one = type(acc)().update(y, s, sample_weight=w)
    assert np.array_equal(acc.roc_curve()[2], one.roc_curve()[2])

    yc = rng.integers(0, 3, 6_000)
    z = rng.normal(size=(6_000, 3))
    z[np.arange(6_000), yc] += 1.0
    p = (np.exp(z) / np.exp(z).sum(1, keepdims=True)).astype(np.float32)
    df = dd.from_pandas(pd.DataFrame({"y": yc, **{f"p{k}": p[:, k] for k in range(3)}}),
                        npartitions=4)
    mc = cdask.score_curves(df["y"], df[["p0", "p1", "p2"]], num_classes=3, ovo=True, bits=8)
    assert not mc.exact
    for avg, multi in (("macro", "ovr"), ("weighted", "ovo")):
        lo, hi = mc.roc_auc_bounds(average=avg, multi_class=multi)
        assert lo <= skm.roc_auc_score(yc, p, average=avg, multi_class=multi) <= hi
    lo, hi = mc.average_precision_bounds()
    assert lo <= skm.average_precision_score(yc, p) <= hi


def test_score_curves_multilabel_and_errors(client):
    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, (900, 4))
    s = rng.random((900, 4)).astype(np.float16)
    acc = cdask.score_curves(da.from_array(y, chunks=(200, 4)), da.from_array(s, chunks=(300, 4)),
                             multilabel=True)
    for avg in ("macro", "micro", None):
        assert np.allclose(acc.roc_auc(average=avg),
                           skm.roc_auc_score(y, s.astype(np.float64), average=avg), rtol=1e-12)
    bad = s.astype(np.float32)
    bad[777, 2] = np.nan
    with pytest.raises(ValueError, match=r"is not finite"):
        cdask.score_curves(da.from_array(y[:, 0], chunks=300), da.from_array(bad[:, 2],
                                                                             chunks=300))
    with pytest.raises(ValueError, match="bits"):
        cdask.score_curves(da.from_array(y[:, 0], chunks=300),
                           da.from_array(s[:, 0], chunks=300), bits=0)
