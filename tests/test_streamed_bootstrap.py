"""The streamed Poisson bootstrap (``ConfusionMatrix(bootstrap=B)``, multi-label too).

References: the Poisson(1) law (chi-square); replicate tables rebuilt in numpy from the
weights of ``draw_weights`` (the counter-based stream) and each sample's cell; a sample-level
bootstrap done with numpy (two-sample KS); coverage over simulated data sets of a known model
(weighted recall, multi-label micro F1); threads in a child process.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import confstream as cs
from confstream import _poisson_kernels as PK
from confstream import _replicates as R

stats = pytest.importorskip("scipy.stats")


def weights_of(acc, n, pos0=0):
    """(n, B) Poisson weights of the samples at positions pos0 .. pos0 + n - 1."""
    out = np.empty((n, acc.bootstrap), dtype=np.int64)
    PK.draw_weights(acc._boot.key, pos0, n, acc.bootstrap, PK.CDF, out)
    return out


def data(n, c=3, seed=0, acc_p=0.8):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, c, n)
    p = np.where(rng.random(n) < acc_p, t, rng.integers(0, c, n))
    return t, p


# ---------------------------------------------------------------------------------------------
# the weights


def test_poisson_weights_follow_poisson_one():
    acc = cs.ConfusionMatrix(bootstrap=64, seed=11)
    k = weights_of(acc, 40_000).ravel()
    counts = np.bincount(k, minlength=8)
    pmf = stats.poisson(1).pmf(np.arange(7))
    expected = np.append(pmf, 1 - pmf.sum()) * k.size
    observed = np.append(counts[:7], counts[7:].sum())
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    # the tail walk: the table's values agree with the exact distribution function
    cdf = stats.poisson(1).cdf(np.arange(PK._KMAX))
    np.testing.assert_allclose(PK.CDF.astype(np.float64) / 2.0**64, cdf, rtol=1e-15, atol=0)
    assert PK.poisson1(np.uint64(2**64 - 1), PK.CDF) == PK._KMAX
    assert PK.poisson1(np.uint64(PK.CDF[9]), PK.CDF) == 10
    assert PK.poisson1(np.uint64(PK.CDF[9] - np.uint64(1)), PK.CDF) == 9


def test_weights_are_independent_across_samples_replicates_and_shards():
    a = cs.ConfusionMatrix(bootstrap=200, seed=1)
    b = cs.ConfusionMatrix(bootstrap=200, seed=1, shard=1)
    c = cs.ConfusionMatrix(bootstrap=200, seed=2)
    wa, wb, wc = (weights_of(x, 2000).astype(float) for x in (a, b, c))
    for x, y in ((wa[:, 0], wa[:, 1]), (wa[:-1, 0], wa[1:, 0]), (wa.ravel(), wb.ravel()),
                 (wa.ravel(), wc.ravel())):
        assert abs(np.corrcoef(x, y)[0, 1]) < 0.05
    assert np.array_equal(wa, weights_of(cs.ConfusionMatrix(bootstrap=200, seed=1), 2000))


# ---------------------------------------------------------------------------------------------
# the replicate state against numpy


def reference_tables(acc, t_idx, p_idx, c, w=None, keep=None):
    """(B, C, C) replicate tables in numpy: cell of each sample times its weights."""
    k = weights_of(acc, len(t_idx)).astype(np.float64)
    if w is not None:
        k = k * np.asarray(w, np.float64)[:, None]
    out = np.zeros((acc.bootstrap, c * c))
    cells = t_idx * c + p_idx
    for i in range(len(cells)):  # in input order, as the kernel adds
        if keep is None or keep[i]:
            out[:, cells[i]] += k[i]
    return out.reshape(acc.bootstrap, c, c)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32), cuts=st.lists(st.integers(0, 300), max_size=4),
       weighted=st.booleans())
def test_replicates_equal_numpy_for_any_split(seed, cuts, weighted):
    t, p = data(300, seed=seed % 1000)
    w = np.random.default_rng(seed).random(300) * 3 if weighted else None
    acc = cs.ConfusionMatrix(num_classes=3, bootstrap=16, seed=seed)
    bounds = [0, *sorted(cuts), 300]
    for a, b in zip(bounds[:-1], bounds[1:]):
        acc.update(t[a:b], p[a:b], None if w is None else w[a:b])
    np.testing.assert_array_equal(acc.replicates, reference_tables(acc, t, p, 3, w))
    assert acc._boot_pos == 300


def test_replicates_with_weights_of_eight_and_more():
    # Weights >= 8 (probability ~1e-5 each) take the kernels' second, looping draw: a stream
    # long enough to hold some, checked against draw_weights sample by sample.
    n, b = 20000, 64
    t, p = data(n, seed=3)
    acc = cs.ConfusionMatrix(num_classes=3, bootstrap=b, seed=9)
    k = weights_of(acc, n)
    assert (k >= 8).sum() >= 5  # the rare path is exercised (about 13 expected)
    w = np.random.default_rng(3).random(n) * 2
    acc.update(t, p, sample_weight=w)
    np.testing.assert_array_equal(acc.replicates, reference_tables(acc, t, p, 3, w))
    tm, pm = ml_data(n, 3)
    ml = cs.MultilabelConfusionMatrix(3, bootstrap=b, seed=9).update(tm, pm)
    np.testing.assert_allclose(ml._rtp, (tm & pm).T.astype(float) @ k, rtol=1e-12)
    np.testing.assert_allclose(ml._rsamp[0], k.sum(axis=0), rtol=0)


def test_replicates_with_strings_growth_and_ignore_index():
    t = np.array([0, 255, 2, 1, 255, 2, 0, 5])
    p = np.array([0, 1, 2, 2, 0, 2, 1, 5])
    acc = cs.ConfusionMatrix(ignore_index=255, bootstrap=8, seed=4)
    acc.update(t[:3], p[:3]).update(t[3:], p[3:])  # the space grows from {0, 1, 2} to 5
    idx = {v: i for i, v in enumerate(acc.labels)}
    ti = np.array([idx.get(v, 0) for v in t])
    pi = np.array([idx.get(v, 0) for v in p])
    ref = reference_tables(acc, ti, pi, len(idx), keep=t != 255)
    np.testing.assert_array_equal(acc.replicates, ref)
    s = cs.ConfusionMatrix(bootstrap=8, seed=4).update(["b", "a"], ["b", "b"])
    ix = {v: i for i, v in enumerate(s.labels)}
    ref = reference_tables(s, np.array([ix["b"], ix["a"]]), np.array([ix["b"], ix["b"]]), 2)
    np.testing.assert_array_equal(s.replicates, ref)


def test_scores_and_binary_forms_use_the_cell_rule():
    rng = np.random.default_rng(3)
    t = rng.integers(0, 4, 200)
    scores = rng.random((200, 4)).astype(np.float32)
    a = cs.ConfusionMatrix(4, bootstrap=10).update(t, scores)
    np.testing.assert_array_equal(a.replicates, reference_tables(a, t, scores.argmax(1), 4))
    tb = rng.integers(0, 2, 200)
    sb = rng.random(200)
    b = cs.ConfusionMatrix(2, bootstrap=10, threshold=0.3).update(tb, sb)
    np.testing.assert_array_equal(b.replicates, reference_tables(b, tb, (sb > 0.3) * 1, 2))


# ---------------------------------------------------------------------------------------------
# state: merge, copy, pickle, dict, reset, all or nothing


def test_state_round_trips_and_merges():
    t, p = data(500)
    a = cs.ConfusionMatrix(bootstrap=20, seed=5).update(t[:200], p[:200])
    b = cs.ConfusionMatrix(bootstrap=20, seed=5, shard=1).update(t[200:], p[200:], np.ones(300))
    for x in (a, b):
        back = cs.from_dict(json.loads(json.dumps(x.to_dict())))
        assert back == x and back.bootstrap == 20 and back._boot == x._boot
        assert pickle.loads(pickle.dumps(x)) == x
        assert x.copy() == x
    m = a + b
    np.testing.assert_array_equal(m.replicates, a.replicates + b.replicates)
    assert m._boot_pos == a._boot_pos  # the merged stream goes on from its own position
    c = a.copy()
    c += b
    assert c == m and sum([a, b]) == m
    # a fixed space absorbing a dynamic one re-indexes the replicates too
    f = cs.ConfusionMatrix(labels=[2, 1, 0], bootstrap=20, seed=5) + a
    np.testing.assert_array_equal(f.replicates, a.replicates[:, ::-1, ::-1])
    a.reset()
    assert a._boot_pos == 0 and a.replicates.shape == (20, 0, 0)
    old = cs.ConfusionMatrix(3).update(t, p).to_dict()  # format 1 without the new key
    assert "bootstrap" not in old and cs.from_dict(old).bootstrap is None


def test_multilabel_state_round_trips_and_merges():
    rng = np.random.default_rng(2)
    t = (rng.random((300, 3)) < 0.4).astype(int)
    p = (rng.random((300, 3)) < 0.4).astype(int)
    a = cs.MultilabelConfusionMatrix(3, bootstrap=12, seed=2).update(t[:100], p[:100])
    b = cs.MultilabelConfusionMatrix(3, bootstrap=12, seed=2, shard=3).update(t[100:], p[100:])
    for x in (a, b):
        assert cs.from_dict(json.loads(json.dumps(x.to_dict()))) == x
        assert pickle.loads(pickle.dumps(x)) == x
    m = a + b
    np.testing.assert_array_equal(m._rsamp, a._rsamp + b._rsamp)
    sp = pytest.importorskip("scipy.sparse")
    s = cs.MultilabelConfusionMatrix(3, bootstrap=12, seed=2).update(sp.csr_matrix(t[:100]),
                                                                     sp.csr_matrix(p[:100]))
    assert s == a


@pytest.mark.parametrize("kwargs, err, words", [
    ({"bootstrap": 0}, ValueError, "bootstrap must be at least 1"),
    ({"bootstrap": 2.5}, TypeError, "bootstrap must be an int"),
    ({"bootstrap": True}, TypeError, "bootstrap must be an int"),
    ({"bootstrap": 5, "seed": -1}, ValueError, "seed must be at least 0"),
    ({"bootstrap": 5, "shard": "1"}, TypeError, "shard must be an int"),
    ({"seed": 3}, ValueError, "give bootstrap=B"),
])
def test_bad_settings_are_refused(kwargs, err, words):
    for cls, args in ((cs.ConfusionMatrix, ()), (cs.MultilabelConfusionMatrix, (3,))):
        with pytest.raises(err, match=words):
            cls(*args, **kwargs)


def test_merging_different_settings_is_refused():
    t, p = data(50)
    a = cs.ConfusionMatrix(bootstrap=10, seed=1).update(t, p)
    before = a.to_dict()
    for other, words in ((cs.ConfusionMatrix(bootstrap=11, seed=1), "bootstrap=10, seed=1 and "
                          "bootstrap=11, seed=1"),
                         (cs.ConfusionMatrix(bootstrap=10, seed=2), "seed=2"),
                         (cs.ConfusionMatrix(), "with and without")):
        with pytest.raises(ValueError, match=words):
            a + other.update(t, p)
        with pytest.raises(ValueError, match="different bootstrap settings|with and without"):
            other + a
    assert a.to_dict() == before
    m = cs.MultilabelConfusionMatrix(3, bootstrap=4)
    with pytest.raises(ValueError, match="different bootstrap settings"):
        m + cs.MultilabelConfusionMatrix(3, bootstrap=5)
    with pytest.raises(ValueError, match="with and without"):
        m + cs.MultilabelConfusionMatrix(3)
    bad = a.to_dict()
    bad["bootstrap"]["replicates"] = 0
    with pytest.raises(ValueError, match="state: 'bootstrap'"):
        cs.from_dict(bad)
    bad = a.to_dict()
    del bad["bootstrap"]["cells"]
    with pytest.raises(ValueError, match="bootstrap.cells"):
        cs.from_dict(bad)


def test_a_refused_batch_changes_no_replicate():
    t, p = data(100)
    a = cs.ConfusionMatrix(num_classes=3, bootstrap=10).update(t, p)
    before = a.to_dict()
    with pytest.raises(ValueError):
        a.update([0, 1, 7], [0, 1, 1])
    with pytest.raises(ValueError, match="sample_weight"):
        a.update([0, 1, 2], [0, 1, 1], [1.0, np.nan, 1.0])
    assert a.to_dict() == before
    m = cs.MultilabelConfusionMatrix(2, bootstrap=10).update([[0, 1]], [[1, 1]])
    before = m.to_dict()
    with pytest.raises(ValueError):
        m.update([[0, 1], [2, 0]], [[1, 1], [0, 0]])
    assert m.to_dict() == before


# ---------------------------------------------------------------------------------------------
# read-outs: equal to numpy on the replicates; against a numpy sample-level bootstrap


def test_report_intervals_are_percentiles_of_the_replicates():
    t, p = data(400, c=4, seed=9)
    w = np.random.default_rng(9).random(400)
    acc = cs.ConfusionMatrix(bootstrap=300, seed=9).update(t, p, sample_weight=w)
    rep = acc.replicates
    r = acc.report(ci=0.9)
    tp = np.einsum("bii->bi", rep)
    recall = tp / rep.sum(axis=2)
    prec = tp / rep.sum(axis=1)
    for k in range(4):
        assert r.interval("recall", k) == pytest.approx(np.quantile(recall[:, k], [0.05, 0.95]),
                                                       abs=1e-12)
        assert r.interval("precision", k) == pytest.approx(
            np.quantile(prec[:, k], [0.05, 0.95]), abs=1e-12)
    accuracy = tp.sum(axis=1) / rep.sum(axis=(1, 2))
    assert r.interval("accuracy") == pytest.approx(np.quantile(accuracy, [0.05, 0.95]),
                                                   abs=1e-12)
    assert acc.interval("accuracy", 0.9) == pytest.approx(r.interval("accuracy"), abs=1e-12)
    assert "streamed Poisson replicates" in str(r)
    # the point values stay scikit-learn's weighted ones
    from sklearn.metrics import classification_report, matthews_corrcoef

    assert str(acc.report()) == classification_report(t, p, sample_weight=w)
    lo, hi = acc.interval("matthews_corrcoef")
    assert lo < matthews_corrcoef(t, p, sample_weight=w) < hi


def test_weighted_without_replicates_names_the_way():
    acc = cs.ConfusionMatrix().update([0, 1], [0, 1], sample_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"ConfusionMatrix\(bootstrap=200\)"):
        acc.report(ci=0.95)
    acc = cs.ConfusionMatrix(bootstrap=5).update([0, 1], [0, 1], sample_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="give method 'bootstrap'"):
        acc.report(ci=0.95, ci_method="wilson")
    m = cs.MultilabelConfusionMatrix(2).update([[0, 1]], [[1, 1]])
    with pytest.raises(ValueError, match="bootstrap=200"):
        m.report(ci=0.95)
    m = cs.MultilabelConfusionMatrix(2, bootstrap=5).update([[0, 1]], [[1, 1]])
    with pytest.raises(ValueError, match="use 'bootstrap'"):
        m.report(ci=0.95, ci_method="bca")
    with pytest.raises(ValueError, match="leave seed out"):
        m.report(ci=0.95, seed=3)


def numpy_row_bootstrap(stat, n, b, seed, *arrays):
    rng = np.random.default_rng(seed)
    out = np.empty(b)
    for i in range(b):
        idx = rng.integers(0, n, n)
        out[i] = stat(*(a[idx] for a in arrays))
    return out


def test_streamed_matches_a_numpy_row_bootstrap_in_distribution():
    t, p = data(600, seed=4, acc_p=0.7)
    w = np.random.default_rng(4).gamma(2.0, 1.0, 600)
    acc = cs.ConfusionMatrix(3, bootstrap=2000, seed=4).update(t, p, sample_weight=w)
    rep = acc.replicates
    streamed = rep[:, 0, 0] / rep[:, 0, :].sum(axis=1)

    def weighted_recall0(t, p, w):
        m = t == 0
        return (w[m] * (p[m] == 0)).sum() / w[m].sum()

    ref = numpy_row_bootstrap(weighted_recall0, 600, 2000, 5, t, p, w)
    assert stats.ks_2samp(streamed, ref).pvalue > 0.01
    # a deliberately wrong bootstrap (half the samples' variance) is told apart
    assert stats.ks_2samp(streamed, ref.mean() + (ref - ref.mean()) / np.sqrt(2)).pvalue < 1e-4


def ml_data(n, seed, prev=(0.5, 0.3, 0.15), sens=(0.85, 0.7, 0.6), fpr=(0.1, 0.05, 0.02)):
    rng = np.random.default_rng(seed)
    u = rng.random((n, 1))  # one latent value: the labels of a sample go together
    t = (u < np.array(prev)).astype(np.int64)
    r = rng.random((n, 3))
    p = np.where(t == 1, r < np.array(sens), r < np.array(fpr)).astype(np.int64)
    return t, p


def micro_f1(t, p):
    tp = (t & p).sum()
    return 2 * tp / (t.sum() + p.sum())


def samples_f1(t, p):
    tp = (t & p).sum(axis=1)
    d = t.sum(axis=1) + p.sum(axis=1)
    return np.where(d > 0, 2 * tp / np.where(d > 0, d, 1), 0.0).mean()


def test_multilabel_micro_and_samples_match_a_numpy_row_bootstrap():
    t, p = ml_data(500, 1)
    acc = cs.MultilabelConfusionMatrix(3, bootstrap=2000, seed=8).update(t, p)
    micro = 2 * acc._rtp.sum(axis=0) / (acc._rtrue.sum(axis=0) + acc._rpred.sum(axis=0))
    ref = numpy_row_bootstrap(micro_f1, 500, 2000, 2, t, p)
    assert stats.ks_2samp(micro, ref).pvalue > 0.01
    samp = acc._rsamp[5] / acc._rsamp[0]  # no sample has empty truth and prediction... (z=0)
    ref = numpy_row_bootstrap(samples_f1, 500, 2000, 3, t, p)
    assert stats.ks_2samp(samp, ref).pvalue > 0.01
    r = acc.report(ci=0.95, zero_division=0)
    assert r.interval("f1-score", "samples avg") == pytest.approx(
        np.quantile(samp, [0.025, 0.975]), abs=1e-12)
    assert r.interval("f1-score", "micro avg") == pytest.approx(
        np.quantile(micro, [0.025, 0.975]), abs=1e-12)


def test_multilabel_replicates_equal_numpy_with_weights_and_scores():
    t, p = ml_data(300, 5)
    w = np.random.default_rng(5).random(300)
    scores = np.where(p == 1, 0.8, 0.2).astype(np.float32)
    acc = cs.MultilabelConfusionMatrix(3, bootstrap=7, seed=1)
    acc.update(t[:120], scores[:120], sample_weight=w[:120]).update(t[120:], scores[120:],
                                                                    sample_weight=w[120:])
    k = weights_of(acc, 300) * w[:, None]
    np.testing.assert_allclose(acc._rtp, (t & p).T.astype(float) @ k, rtol=1e-12)
    np.testing.assert_allclose(acc._rpred, p.T.astype(float) @ k, rtol=1e-12)
    np.testing.assert_allclose(acc._rsamp[0], k.sum(axis=0), rtol=1e-12)
    tp, npred = (t & p).sum(1), p.sum(1)
    prec = np.where(npred > 0, tp / np.maximum(npred, 1), 0.0)
    np.testing.assert_allclose(acc._rsamp[1], prec @ k, rtol=1e-12)
    np.testing.assert_allclose(acc._rsamp[2], (npred == 0) @ k, rtol=1e-12, atol=1e-12)
    r = acc.report(ci=0.9, zero_division=np.nan)
    v = acc._rsamp[1] / (acc._rsamp[0] - acc._rsamp[2])
    assert r.interval("precision", "samples avg") == pytest.approx(
        np.quantile(v, [0.05, 0.95]), abs=1e-12)


# ---------------------------------------------------------------------------------------------
# coverage over simulated data sets of a known model (fixed seeds, not timed)


def test_coverage_weighted_recall_and_multilabel_micro_f1():
    sets = 500
    # weighted: w ~ U(0.5, 2.5), P(right | w) = 0.5 + 0.15 w, so the weighted recall of each
    # class is (0.5 E[w] + 0.15 E[w^2]) / E[w]
    ew, ew2 = 1.5, (2.5**3 - 0.5**3) / 6.0
    truth_w = (0.5 * ew + 0.15 * ew2) / ew
    # multi-label micro F1 of ``ml_data``'s model (from the label marginals)
    prev, sens, fpr = np.array((0.5, 0.3, 0.15)), np.array((0.85, 0.7, 0.6)), np.array(
        (0.1, 0.05, 0.02))
    etp, efp = (prev * sens).sum(), ((1 - prev) * fpr).sum()
    truth_ml = 2 * etp / (2 * etp + efp + (prev * (1 - sens)).sum())
    hit_w = hit_ml = 0
    rng = np.random.default_rng(2026)
    for s in range(sets):
        n = 300
        t = rng.integers(0, 2, n)
        w = rng.uniform(0.5, 2.5, n)
        right = rng.random(n) < 0.5 + 0.15 * w
        p = np.where(right, t, 1 - t)
        acc = cs.ConfusionMatrix(2, bootstrap=200, seed=s).update(t, p, sample_weight=w)
        lo, hi = acc.report(ci=0.95).interval("recall", 0)
        hit_w += lo <= truth_w <= hi
        tm, pm = ml_data(300, 10_000 + s)
        m = cs.MultilabelConfusionMatrix(3, bootstrap=200, seed=s).update(tm, pm)
        lo, hi = m.report(ci=0.95, zero_division=0).interval("f1-score", "micro avg")
        hit_ml += lo <= truth_ml <= hi
    print("coverage: weighted recall", hit_w / sets, "multi-label micro F1", hit_ml / sets)
    assert 0.93 <= hit_w / sets <= 0.97, hit_w / sets
    assert 0.93 <= hit_ml / sets <= 0.97, hit_ml / sets


def test_same_seed_same_interval_and_merged_shards_are_valid():
    t, p = data(4000, seed=12)
    one = cs.ConfusionMatrix(3, bootstrap=400, seed=3).update(t, p)
    again = cs.ConfusionMatrix(3, bootstrap=400, seed=3)
    for a in range(0, 4000, 700):
        again.update(t[a:a + 700], p[a:a + 700])
    assert one.report(ci=0.95).to_dict() == again.report(ci=0.95).to_dict()
    shards = [cs.ConfusionMatrix(3, bootstrap=400, seed=3, shard=i).update(t[i::4], p[i::4])
              for i in range(4)]
    merged = sum(shards)
    assert merged.counts.tolist() == one.counts.tolist()
    # another draw of the same bootstrap: the same interval up to the Monte Carlo error
    for k in range(3):
        a = np.array(one.report(ci=0.9).interval("recall", k))
        b = np.array(merged.report(ci=0.9).interval("recall", k))
        assert np.abs(a - b).max() < 0.006


def test_threads_update_one_accumulator_in_a_child_process():
    code = textwrap.dedent("""
        import threading, numpy as np, confstream as cs
        rng = np.random.default_rng(0)
        t = rng.integers(0, 5, 3000); p = rng.integers(0, 5, 3000)
        w = rng.random(3000)
        acc = cs.ConfusionMatrix(bootstrap=32, seed=1)
        ml = cs.MultilabelConfusionMatrix(3, bootstrap=32, seed=1)
        tm = (rng.random((3000, 3)) < 0.5).astype(np.int64); pm = 1 - tm
        errors = []
        def work(i):
            try:
                for _ in range(10):
                    acc.update(t, p, sample_weight=w if i % 2 else None)
                    ml.update(tm, pm)
                    acc.copy().report(ci=0.9)
                    ml.copy() + ml.copy()
            except Exception as exc:
                errors.append(repr(exc))
        ths = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        [th.start() for th in ths]; [th.join() for th in ths]
        assert not errors, errors
        assert acc.sample_counts.sum() == 40 * 3000 and acc._boot_pos == 40 * 3000
        assert ml._boot_pos == 40 * 3000
        # every batch is the same rows, so the replicates do not depend on the order
        ref = cs.MultilabelConfusionMatrix(3, bootstrap=32, seed=1)
        for _ in range(40):
            ref.update(tm, pm)
        assert np.array_equal(ref._rtp, ml._rtp) and np.array_equal(ref._rsamp, ml._rsamp)
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "ok"


def test_settings_helper():
    assert R.settings(None, 0, 0) is None
    b = R.settings(np.int64(3), 2, 1)
    assert b == R.Boot(3, 2, 1) and b.key == R.Boot(3, 2, 1).key != R.Boot(3, 2, 0).key


def test_torch_distributed_sync_adds_the_replicates(tmp_path):
    torch = pytest.importorskip("torch")
    if not (torch.distributed.is_available() and torch.distributed.is_gloo_available()):
        pytest.skip("torch.distributed with gloo is needed")
    sync_case = pytest.importorskip("test_torch_sync")  # its two-process gloo group
    t, p = data(200, c=4, seed=21)
    tm, pm = ml_data(100, 21)
    inputs = []
    for rank in range(2):
        half = slice(rank * 100, (rank + 1) * 100)
        inputs.append({
            "cm": cs.ConfusionMatrix(bootstrap=6, seed=2, shard=rank).update(
                t[half], p[half], np.full(100, 0.5 + rank)),
            "ml": cs.MultilabelConfusionMatrix(3, bootstrap=6, seed=2, shard=rank).update(
                tm[rank * 50:(rank + 1) * 50], pm[rank * 50:(rank + 1) * 50]),
            "other_seed": cs.ConfusionMatrix(2, bootstrap=6, seed=rank).update([0], [1]),
            "after_errors": cs.ConfusionMatrix(2).update([rank], [1]),
        })
    results = sync_case.run_group(tmp_path, inputs)
    for rank in range(2):
        res = results[rank]
        assert "crash" not in res, res.get("crash")
        for name in ("cm", "ml"):
            assert res[name][0] == "ok", res[name]
            total = cs.from_dict(res[name][1])
            ref = inputs[0][name] + inputs[1][name]
            assert total.counts.tolist() == ref.counts.tolist()
            if name == "cm":
                np.testing.assert_allclose(total.replicates, ref.replicates, rtol=1e-12)
            else:
                np.testing.assert_allclose(total._rsamp, ref._rsamp, rtol=1e-12)
        assert res["other_seed"][0] == "raised" and "bootstrap" in res["other_seed"][2]


def test_cli_weighted_ci_uses_the_streamed_bootstrap(tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    from confstream import cli

    t, p = data(300, seed=30)
    w = np.random.default_rng(30).random(300) + 0.5
    path = tmp_path / "preds.csv"
    pd.DataFrame({"y": t, "yhat": p, "w": w}).to_csv(path, index=False)
    assert cli.main(["report", str(path), "--true", "y", "--pred", "yhat", "--weight", "w",
                     "--ci", "0.9", "--n-resamples", "50", "--seed", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    acc = cs.ConfusionMatrix(bootstrap=50, seed=2).update(t, p, sample_weight=pd.read_csv(
        path)["w"].to_numpy())
    assert out.strip() == str(acc.report(ci=0.9)).strip()
    assert "50 streamed Poisson replicates, seed 2" in out


def test_device_path_is_counted_on_the_host_with_replicates():
    torch = pytest.importorskip("torch")
    from confstream import _devices

    t, p = data(100, seed=31)
    with _devices.forced():  # CPU tensors take the device path, as CUDA tensors would
        acc = cs.ConfusionMatrix(3, bootstrap=5, seed=1).update(torch.from_numpy(t),
                                                                torch.from_numpy(p))
        ml = cs.MultilabelConfusionMatrix(2, bootstrap=5).update(
            torch.tensor([[0, 1], [1, 1]]), torch.tensor([[0.2, 0.9], [0.7, 0.1]]))
    ref = cs.ConfusionMatrix(3, bootstrap=5, seed=1).update(t, p)
    assert acc == ref and not acc._pending
    assert ml._boot_pos == 2 and ml._rsamp[0].sum() > 0


def test_old_pickles_load_and_a_refused_growing_batch_keeps_the_replicates():
    t, p = data(50)
    for acc in (cs.ConfusionMatrix().update(t, p),
                cs.MultilabelConfusionMatrix(2).update([[0, 1]], [[1, 1]])):
        version, state = acc.__getstate__()
        for attr in ("_boot", "_boot_pos", "_rep", "_rtp", "_rpred", "_rtrue", "_rsamp"):
            state.pop(attr, None)  # as pickled before the streamed bootstrap
        old = type(acc).__new__(type(acc))
        old.__setstate__((version, state))
        assert old == acc and old.bootstrap is None
        assert old.copy().update(*((t, p) if isinstance(acc, cs.ConfusionMatrix) else
                                   ([[1, 1]], [[1, 0]]))) is not None
    big = 2**62
    acc = cs.ConfusionMatrix(bootstrap=3).update([0, 1], [0, 1], sample_weight=[big, 1])
    before = acc.to_dict()
    with pytest.raises(OverflowError):
        acc.update([0, 2], [0, 2], sample_weight=[big, 1])  # a new label and an overflow
    assert acc.to_dict() == before and acc.replicates.shape == (3, 2, 2)
