"""PairedConfusion / compare: against numpy on the rows, statsmodels' mcnemar, sklearn."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import confstream as cs

sm_tables = pytest.importorskip("statsmodels.stats.contingency_tables")
scipy_stats = pytest.importorskip("scipy.stats")
skm = pytest.importorskip("sklearn.metrics")


def _data(n, c, seed, names=None):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, c, n)
    a = np.where(rng.random(n) < 0.7, t, rng.integers(0, c, n))
    b = np.where(rng.random(n) < 0.6, t, rng.integers(0, c, n))
    if names is not None:
        names = np.asarray(names)
        t, a, b = names[t], names[a], names[b]
    return t, a, b


def _reference_tables(t, a, b, labels):
    out = np.zeros((len(labels), 2, 2), dtype=np.int64)
    for k, v in enumerate(labels):
        m = t == v
        out[k] = [[np.sum(m & (a == t) & (b == t)), np.sum(m & (a == t) & (b != t))],
                  [np.sum(m & (a != t) & (b == t)), np.sum(m & (a != t) & (b != t))]]
    return out


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 300), c=st.integers(1, 5),
       cuts=st.lists(st.integers(0, 300), max_size=4), strings=st.booleans())
def test_tables_equal_numpy_over_any_batches(seed, n, c, cuts, strings):
    names = [f"c{i}" for i in range(c)] if strings else None
    t, a, b = _data(n, c, seed, names)
    labels = names if strings else list(range(c))
    pc = cs.PairedConfusion(labels=labels) if strings else cs.PairedConfusion(num_classes=c)
    edges = [0, *sorted(min(x, n) for x in cuts), n]
    for i, j in zip(edges[:-1], edges[1:]):
        pc.update(t[i:j], a[i:j], b[i:j])
    assert np.array_equal(pc.tables, _reference_tables(t, a, b, labels))
    if n:
        assert str(pc.a.report(zero_division=0)) == skm.classification_report(
            t, a, zero_division=0)
        ra, rb = pc.recall()
        present = [k for k, v in enumerate(labels) if np.any(t == v)]
        np.testing.assert_allclose(ra[present], skm.recall_score(
            t, a, labels=[labels[k] for k in present], average=None, zero_division=0))
        np.testing.assert_allclose(rb[present], skm.recall_score(
            t, b, labels=[labels[k] for k in present], average=None, zero_division=0))
        assert pc.difference(method="wald").estimate == pytest.approx(
            skm.accuracy_score(t, b) - skm.accuracy_score(t, a), abs=1e-15)


@settings(max_examples=60, deadline=None)
@given(table=st.lists(st.integers(0, 3000), min_size=4, max_size=4),
       exact=st.booleans(), correction=st.booleans())
def test_mcnemar_equals_statsmodels(table, exact, correction):
    table = np.array(table).reshape(2, 2)
    ours = cs.paired.mcnemar(table, exact=exact, correction=correction)
    if not exact and table[0, 1] + table[1, 0] == 0:
        assert np.isnan(ours.pvalue)
        return
    ref = sm_tables.mcnemar(table, exact=exact, correction=correction)
    assert ours.statistic == pytest.approx(ref.statistic, abs=1e-12)
    assert ours.pvalue == pytest.approx(ref.pvalue, abs=1e-12, rel=1e-12)


def test_per_class_mcnemar_and_wald_against_the_rows():
    t, a, b = _data(2000, 3, 1)
    pc = cs.compare(t, a, b)
    z = scipy_stats.norm.isf(0.025)
    for k in (0, 1, 2, None):
        m = np.ones(len(t), bool) if k is None else t == k
        ref = sm_tables.mcnemar(pc.table(k), exact=True)
        assert pc.mcnemar(k).pvalue == pytest.approx(ref.pvalue, abs=1e-12)
        # paired Wald = the z interval of the mean per-sample difference (ddof 0)
        d = (b[m] == t[m]).astype(float) - (a[m] == t[m])
        est, lo, hi = pc.difference(k, method="wald")
        assert est == pytest.approx(d.mean(), abs=1e-15)
        half = z * d.std() / np.sqrt(m.sum())
        assert (lo, hi) == pytest.approx((d.mean() - half, d.mean() + half), abs=1e-12)
        est_b, lo_b, hi_b = pc.difference(k, seed=3)
        assert est_b == est and lo_b < est < hi_b
        assert pc.difference(k, seed=3) == (est_b, lo_b, hi_b)  # same seed, same interval


def test_bootstrap_difference_matches_row_bootstrap():
    t, a, b = _data(400, 3, 7)
    pc = cs.compare(t, a, b)
    rng = np.random.default_rng(8)
    idx = rng.integers(0, 400, (1500, 400))
    m = t[idx] == 2
    d = ((b[idx] == t[idx]) & m).sum(1) / m.sum(1) - ((a[idx] == t[idx]) & m).sum(1) / m.sum(1)
    lo, hi = np.quantile(d, [0.025, 0.975])
    got = pc.difference(2, n_resamples=1500, seed=9)
    # same distribution: the percentile bounds agree to within Monte Carlo error
    assert got.low == pytest.approx(lo, abs=0.02) and got.high == pytest.approx(hi, abs=0.02)


def test_merge_scores_and_bad_input():
    t, a, b = _data(600, 4, 2, names=["w", "x", "y", "z"])
    one = cs.compare(t, a, b)
    parts = [cs.PairedConfusion(labels=["w", "x", "y", "z"]).update(t[i::3], a[i::3], b[i::3])
             for i in range(3)]
    total = sum(parts)
    assert np.array_equal(total.tables, one.tables)
    assert total.difference("y", seed=1) == one.difference("y", seed=1)
    # scores for one model: argmax
    rng = np.random.default_rng(0)
    scores = rng.random((600, 4))
    pc = cs.PairedConfusion(labels=["w", "x", "y", "z"]).update(t, scores, b)
    am = np.array(["w", "x", "y", "z"])[scores.argmax(1)]
    assert np.array_equal(pc.tables, _reference_tables(t, am, b, ["w", "x", "y", "z"]))
    # binary scores in a {0, 1} space: score > 0.5, as the engine reads them
    tb = rng.integers(0, 2, 200)
    sa, sb = rng.random(200), rng.random(200)
    pcb = cs.PairedConfusion(num_classes=2).update(tb, sa, sb)
    assert np.array_equal(pcb.tables, _reference_tables(tb, (sa > 0.5).astype(int),
                                                        (sb > 0.5).astype(int), [0, 1]))
    before = pc.tables
    bad = b.copy()
    bad[5] = "q"
    with pytest.raises(ValueError, match="y_pred_b"):
        pc.update(t, a, bad)
    with pytest.raises(ValueError, match="y_pred_a has 3 samples"):
        pc.update(t, a[:3], b)
    assert np.array_equal(pc.tables, before)
    with pytest.raises(ValueError, match="ci must be in"):
        pc.difference(ci=1.2)
    with pytest.raises(ValueError, match="unknown method"):
        pc.difference(method="newcombe")
    with pytest.raises(ValueError, match="fixed"):
        cs.PairedConfusion()
    text = one.summary(seed=0)
    assert "accuracy" in text and "McNemar p" in text


def test_paired_updates_from_threads():
    code = textwrap.dedent("""
        import threading
        import numpy as np
        import confstream as cs
        pc = cs.PairedConfusion(num_classes=3)
        def work(i):
            r = np.random.default_rng(i)
            for _ in range(40):
                pc.update(r.integers(0, 3, 500), r.integers(0, 3, 500), r.integers(0, 3, 500))
                pc.difference(0, n_resamples=20)
        ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in ts: t.start()
        for t in ts: t.join()
        ref = np.zeros((3, 2, 2), dtype=np.int64)
        for i in range(4):
            r = np.random.default_rng(i)
            for _ in range(40):
                t, a, b = r.integers(0, 3, 500), r.integers(0, 3, 500), r.integers(0, 3, 500)
                for k in range(3):
                    m = t == k
                    ref[k] += [[np.sum(m & (a == t) & (b == t)), np.sum(m & (a == t) & (b != t))],
                               [np.sum(m & (a != t) & (b == t)), np.sum(m & (a != t) & (b != t))]]
        assert np.array_equal(pc.tables, ref)
        assert pc.a.counts.sum() == 4 * 40 * 500
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_coverage_of_the_difference_intervals():
    # known model: per true class, P(a right), P(b right) and their correlation
    rng = np.random.default_rng(77)
    priors = np.array([0.6, 0.3, 0.1])
    joint = np.array([[0.75, 0.10, 0.05, 0.10],      # [both, only a, only b, neither]
                      [0.60, 0.15, 0.10, 0.15],
                      [0.50, 0.10, 0.20, 0.20]])
    truth_acc = float(priors @ (joint[:, 2] - joint[:, 1]))
    truth_2 = joint[2, 2] - joint[2, 1]
    hits = {"wald": [0, 0], "bootstrap": [0, 0]}
    n_sets, n = 500, 2000
    for i in range(n_sets):
        t = rng.choice(3, n, p=priors)
        u = rng.random(n)
        kind = (u[:, None] > np.cumsum(joint[t], axis=1)).sum(axis=1)
        a = np.where((kind == 0) | (kind == 1), t, (t + 1) % 3)
        b = np.where((kind == 0) | (kind == 2), t, (t + 2) % 3)
        pc = cs.PairedConfusion(num_classes=3).update(t, a, b)
        for method in hits:
            kw = {"n_resamples": 300, "seed": i} if method == "bootstrap" else {}
            d = pc.difference(None, 0.95, method=method, **kw)
            hits[method][0] += d.low <= truth_acc <= d.high
            d = pc.difference(2, 0.95, method=method, **kw)
            hits[method][1] += d.low <= truth_2 <= d.high
    cover = {m: np.array(h) / n_sets for m, h in hits.items()}
    for m, c in cover.items():
        assert np.all((c >= 0.93) & (c <= 0.97)), cover
