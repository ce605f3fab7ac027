"""Score curves in the Dask adapter's report and per group, on a LocalCluster of 2 worker
processes (accumulators pickled, counted and merged apart), against scikit-learn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

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
    yield from dask_client(processes=True)


def binary(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = (1 / (1 + np.exp(-(rng.normal(size=n) + 1.5 * y)))).astype(np.float16)
    return y, s, (s > 0.5).astype(np.int64), rng.integers(1, 4, n).astype(np.float64)


def test_report_with_y_score_is_sklearns_report_and_curves(client):
    y, s, p, w = binary(5000, 1)
    s64 = s.astype(np.float64)
    yd, sd, pd_ = (da.from_array(y, chunks=700), da.from_array(s, chunks=1100),
                   da.from_array(p, chunks=900))
    d = cdask.classification_report(yd, pd_, y_score=sd, output_dict=True)
    ref = skm.classification_report(y, p, output_dict=True)
    assert {k: v for k, v in d.items() if k != "1"} == {k: v for k, v in ref.items()
                                                       if k != "1"}
    assert d["1"]["auroc"] == skm.roc_auc_score(y, s64)
    assert d["1"]["ap"] == skm.average_precision_score(y, s64)
    assert "auroc" not in d["0"]
    text = cdask.classification_report(yd, pd_, y_score=sd, digits=3)
    assert text.startswith(skm.classification_report(y, p, digits=3))
    assert f"{skm.roc_auc_score(y, s64):.3f}" in text.split("auroc")[1]
    dw = cdask.classification_report(yd, pd_, y_score=sd, sample_weight=da.from_array(w, 800),
                                     output_dict=True)
    assert dw["1"]["auroc"] == pytest.approx(skm.roc_auc_score(y, s64, sample_weight=w),
                                             rel=1e-12)
    assert dw["1"]["ap"] == pytest.approx(
        skm.average_precision_score(y, s64, sample_weight=w), rel=1e-12)


def test_report_with_a_score_frame_and_string_labels(client):
    rng = np.random.default_rng(2)
    n = 4000
    classes = ["ant", "bee", "cow"]
    y = rng.choice(classes, n)
    sc = rng.dirichlet(np.ones(3), n)
    df = pd.DataFrame({"y": y, "p": np.array(classes)[sc.argmax(1)],
                       **{f"s_{c}": sc[:, i] for i, c in enumerate(classes)}})
    ddf = dd.from_pandas(df, npartitions=5)
    d = cdask.classification_report(ddf["y"], ddf["p"], y_score=ddf[[f"s_{c}" for c in classes]],
                                    labels=classes, output_dict=True)
    for i, c in enumerate(classes):
        for m, ref in (("auroc", skm.roc_auc_score(y == c, sc[:, i])),
                       ("ap", skm.average_precision_score(y == c, sc[:, i]))):
            lo, hi = d[c][m + " bounds"]
            assert lo <= ref <= hi and hi - lo < 1e-3, (c, m)
    lo, hi = d["macro avg"]["auroc bounds"]
    assert lo <= skm.roc_auc_score(y, sc, multi_class="ovr", labels=classes) <= hi
    with pytest.raises(ValueError, match="3 columns but labels names 2"):
        cdask.classification_report(ddf["y"], ddf["p"],
                                    y_score=ddf[[f"s_{c}" for c in classes]],
                                    labels=classes[:2])


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(50, 2000), st.integers(150, 700), st.booleans(),
       st.booleans())
def test_grouped_score_curves_equal_sklearn_per_group(client, seed, n, chunk, crossed,
                                                      weighted):
    y, s, _, w = binary(n, seed)
    rng = np.random.default_rng(seed + 1)
    g = rng.choice(np.array(["eu", "us", "apac"]), n)
    h = rng.integers(0, 3, n)
    groups = (da.from_array(g, chunks=chunk), da.from_array(h, chunks=chunk)) if crossed \
        else da.from_array(g, chunks=chunk)
    got = cdask.grouped_score_curves(da.from_array(y, chunks=chunk), da.from_array(s, chunks=97),
                                     groups, sample_weight=da.from_array(w, chunks=chunk)
                                     if weighted else None)
    keys = list(zip(g.tolist(), h.tolist())) if crossed else g.tolist()
    assert list(got) == sorted(set(keys))
    s64 = s.astype(np.float64)
    for key, curves in got.items():
        m = np.array([k == key for k in keys])
        wm = w[m] if weighted else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            if len(set(y[m].tolist())) < 2:
                continue
            ref_auc = skm.roc_auc_score(y[m], s64[m], sample_weight=wm)
            ref_ap = skm.average_precision_score(y[m], s64[m], sample_weight=wm)
        assert curves.exact
        if weighted:
            assert curves.roc_auc() == pytest.approx(ref_auc, rel=1e-12)
            assert curves.average_precision() == pytest.approx(ref_ap, rel=1e-12)
        else:
            assert curves.roc_auc() == ref_auc and curves.average_precision() == ref_ap
    whole = cdask.score_curves(da.from_array(y, chunks=chunk), da.from_array(s, chunks=chunk),
                               sample_weight=da.from_array(w, chunks=chunk) if weighted
                               else None)
    total = sum(got.values())
    if weighted:   # float sums in another order: to rounding
        np.testing.assert_allclose(total._table, whole._table, rtol=1e-12)
    else:
        assert total == whole


def test_grouped_score_curves_from_a_dataframe_and_bad_scores(client):
    y, s, _, _ = binary(3000, 3)
    df = pd.DataFrame({"y": y, "s": s.astype(np.float32),
                       "g": np.where(np.arange(3000) % 3 == 0, "a", "b")})
    ddf = dd.from_pandas(df, npartitions=4)
    got = cdask.grouped_score_curves(ddf["y"], ddf["s"], ddf["g"])
    for key, curves in got.items():
        m = df["g"].to_numpy() == key
        lo, hi = curves.roc_auc_bounds()
        assert not curves.exact
        assert lo <= skm.roc_auc_score(y[m], df["s"].to_numpy()[m]) <= hi
    bad = s.copy()
    bad[1234] = np.nan          # partition 1 of chunks of 1000: its row 234
    with pytest.raises(ValueError, match=r"y_score\[234\] = nan is not finite"):
        cdask.grouped_score_curves(da.from_array(y, chunks=1000), da.from_array(bad, 1000),
                                   da.from_array(np.arange(3000) % 2, 1000))
    with pytest.raises(ValueError, match=r"y_score\[234\] = nan is not finite"):
        cdask.score_curves(da.from_array(y, chunks=1000), da.from_array(bad, 1000))


def adaptive_by_hand(parts, **options):
    """Each partition's ScoreCurves, added up in the tree-reduce's order (one level)."""
    from confstream import ScoreCurves

    accs = [ScoreCurves(**options).update(*part) for part in parts]
    out = accs[0].copy()
    for acc in accs[1:]:
        out += acc
    return out


def test_adaptive_resolution_equals_adaptive_curves_by_hand(client):
    rng = np.random.default_rng(11)
    n, chunk = 4000, 500
    y = rng.integers(0, 2, n)
    s = (1 / (1 + np.exp(-(rng.normal(size=n) + 1.2 * y)))).astype(np.float32)
    w = rng.integers(1, 4, n).astype(np.float64)
    yd, sd, wd = (da.from_array(a, chunks=chunk) for a in (y, s, w))
    plain = [(y[i:i + chunk], s[i:i + chunk]) for i in range(0, n, chunk)]
    for weights in (None, wd):
        got = cdask.score_curves(yd, sd, sample_weight=weights, resolution="adaptive",
                                 intervals=64)
        parts = plain if weights is None else [
            (*part, w[i:i + chunk]) for part, i in zip(plain, range(0, n, chunk))]
        want = adaptive_by_hand(parts, resolution="adaptive", intervals=64)
        assert got == want and got.resolution == "adaptive" and got.intervals == 64
        ww = None if weights is None else w
        for (lo, hi), ref in ((got.roc_auc_bounds(), skm.roc_auc_score(y, s, sample_weight=ww)),
                              (got.average_precision_bounds(),
                               skm.average_precision_score(y, s, sample_weight=ww))):
            assert lo <= ref <= hi and hi > lo
    d = cdask.classification_report(yd, (sd > 0.5).astype(int), y_score=sd,
                                    resolution="adaptive", intervals=64, output_dict=True)
    want = adaptive_by_hand(plain, resolution="adaptive", intervals=64)
    assert d["1"]["auroc"] == want.roc_auc()
    assert list(d["1"]["auroc bounds"]) == list(want.roc_auc_bounds())
    grouped = cdask.grouped_score_curves(yd, sd, da.from_array(np.arange(n) % 2, chunks=chunk),
                                         resolution="adaptive", intervals=64)
    for key, curves in grouped.items():
        m = np.arange(n) % 2 == key
        assert curves.resolution == "adaptive" and curves.intervals == 64
        lo, hi = curves.roc_auc_bounds()
        assert lo <= skm.roc_auc_score(y[m], s[m]) <= hi


def test_resolution_is_in_the_graph_keys_and_bad_values_are_refused_early():
    y = da.from_array(np.array([0, 1, 1, 0]), chunks=2)
    s = da.from_array(np.array([0.1, 0.7, 0.4, 0.3], np.float32), chunks=2)
    keys = {cdask.score_curves(y, s, compute=False, **kw).key for kw in (
        {}, {"resolution": "adaptive"}, {"resolution": "adaptive", "intervals": 64},
        {"resolution": "adaptive", "intervals": 100})}
    assert len(keys) == 4
    same = cdask.score_curves(y, s, compute=False, resolution="adaptive", intervals=64).key
    assert same in keys
    for kw, words in (({"intervals": 64}, r"intervals \(resolution='adaptive' only\)"),
                      ({"resolution": "adaptive", "intervals": 10}, "64..67108864, got 10"),
                      ({"resolution": "coarse"}, "resolution must be 'fixed' or 'adaptive'"),
                      ({"resolution": "adaptive", "bits": 8}, "bits sets the fixed bins")):
        with pytest.raises(ValueError, match=words):
            cdask.score_curves(y, s, compute=False, **kw)
        with pytest.raises(ValueError, match=words):
            cdask.grouped_score_curves(y, s, y, compute=False, **kw)
