"""ScoreCurves(resolution="adaptive"): certified curves as lists of disjoint score intervals.

Differential tests against scikit-learn 1.9.1: through random batches (empty ones included),
weights, ties, small buffers and capacities (so that every test flushes and coarsens many
times), shard merges whose intervals were refined apart, dict / pickle round trips and
mixed float32 / float64 batches, the bounds always contain scikit-learn's values; when every
interval is one score value (short streams) the read-outs are scikit-learn's. The format-1
states of tests/fixtures/curves (fixed bins, written before the adaptive layout) still load.
"""

from __future__ import annotations

import gzip
import json
import pickle
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import confstream as cs
from confstream import curves as C

skm = pytest.importorskip("sklearn.metrics")

FAST = settings(max_examples=30, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FIXTURES = Path(__file__).parent / "fixtures" / "curves"


def splits(draw, n):
    """Random batch edges, empty batches included."""
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=6)))
    edges = [0, *cuts, n]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:])]


def scores(draw, rng, n, y):
    kind = draw(st.sampled_from(["sigmoid", "logit", "ties", "narrow", "sorted"]))
    z = rng.normal(size=n) * 2 + 2 * y
    if kind == "sigmoid":
        s = 1 / (1 + np.exp(-z))
    elif kind == "logit":
        s = z * 10
    elif kind == "ties":
        s = np.round(1 / (1 + np.exp(-z)), 2)
    elif kind == "narrow":  # many scores a few ulps apart
        s = 0.3 + 1e-6 * rng.random(n) + 1e-7 * y
    else:
        s = np.sort(z)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    s = s.astype(dtype)
    if draw(st.booleans()):
        s[rng.integers(0, n, max(1, n // 7))] = draw(st.sampled_from([0.0, -0.0]))
    return s


def adaptive(draw, cls=None, **kw):
    cls = cls or cs.ScoreCurves
    acc = cls(resolution="adaptive", intervals=draw(st.sampled_from([64, 200, None])), **kw)
    acc._buffer = draw(st.sampled_from([7, 50, 1 << 17]))
    return acc


def contains(bounds, ref, exact=False):
    """lo <= ref <= hi; exact state (bounds = the value): within 1e-12 of scikit-learn's
    (its weighted sums run sample by sample, ours per score value)."""
    b = np.asarray(bounds, np.float64)
    tol = 1e-12 * np.maximum(1, np.abs(ref)) if exact else 0
    return bool(np.all(b[..., 0] - tol <= ref) and np.all(ref <= b[..., 1] + tol))


def check_binary(acc, y, s, w):
    """Exact (every interval one score value): scikit-learn's values, bit for bit without
    weights, within 1e-12 with them (as the exact modes). Else the bounds contain them."""
    reads = [(skm.roc_auc_score, acc.roc_auc, acc.roc_auc_bounds, {}),
             (skm.roc_auc_score, acc.roc_auc, acc.roc_auc_bounds, {"max_fpr": 0.3}),
             (skm.average_precision_score, acc.average_precision,
              acc.average_precision_bounds, {})]
    exact = acc.exact
    for ref_fn, read, bounds, kw in reads:
        ref = ref_fn(y, s, sample_weight=w, **kw)
        got = read(**kw)
        if exact and w is None:
            assert got == ref, (ref_fn.__name__, kw)
        elif exact:
            assert got == pytest.approx(ref, rel=1e-12, abs=1e-15), (ref_fn.__name__, kw)
        else:
            lo, hi = bounds(**kw)
            assert lo <= ref <= hi and lo <= got <= hi, (ref_fn.__name__, kw, lo, ref, hi)
    if exact and w is None:
        for got, want in zip(acc.roc_curve(), skm.roc_curve(y, s)):
            assert np.array_equal(got, want)


@FAST
@given(st.data())
def test_binary_bounds_contain_sklearn(data):
    draw = data.draw
    n = draw(st.integers(2, 1500))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    s = scores(draw, rng, n, y)
    w = rng.random(n) * 2 if draw(st.booleans()) else None
    acc = adaptive(draw)
    for a, b in splits(draw, n):
        acc.update(y[a:b], s[a:b], sample_weight=None if w is None else w[a:b])
        if draw(st.booleans()) and b > a:
            with warnings.catch_warnings():  # one class so far: scikit-learn's warning
                warnings.simplefilter("ignore")
                acc.roc_auc_bounds()  # a read flushes the buffer mid-stream
    assert acc.nbytes > 0 and max(len(x) for x in acc._snapshot()[0].lo) <= acc.intervals
    check_binary(acc, y, s, w)
    # every curve point is an exact operating point: score >= threshold
    f, t, thr = acc.roc_curve()
    assert acc.precision_recall_curve()[2].dtype == s.dtype
    ww = np.ones(n) if w is None else w
    for i in np.linspace(1, len(thr) - 1, 4).astype(int):
        pred = s >= thr[i]
        assert np.isclose(f[i], ww[pred & (y == 0)].sum() / ww[y == 0].sum(), rtol=1e-12)
        assert np.isclose(t[i], ww[pred & (y == 1)].sum() / ww[y == 1].sum(), rtol=1e-12)
        if w is None:
            assert np.array_equal(acc.confusion_at(thr[i]).counts,
                                  skm.confusion_matrix(y, pred.astype(int), labels=[0, 1]))


def test_short_streams_are_exact_long_ones_certified():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 3000)
    s = rng.random(3000).astype(np.float32)
    acc = cs.ScoreCurves(resolution="adaptive").update(y, s)
    assert acc.exact and acc.roc_auc() == skm.roc_auc_score(y, s)
    small = cs.ScoreCurves(resolution="adaptive", intervals=100).update(y, s)
    assert not small.exact
    lo, hi = small.roc_auc_bounds()
    assert lo < hi and lo <= skm.roc_auc_score(y, s) <= hi
    with pytest.raises(ValueError, match="inside a score interval"):
        small.confusion_at(float(np.median(s)) + 1e-9)


@FAST
@given(st.data())
def test_shard_merges_with_different_refinements(data):
    draw = data.draw
    n = draw(st.integers(3, 1200))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    s = scores(draw, rng, n, y)
    w = rng.integers(0, 4, n).astype(float) if draw(st.booleans()) else None
    if w is not None:
        w[:2] = 1
    cap = draw(st.sampled_from([64, 150]))
    parts = []
    for a, b in splits(draw, n):
        acc = cs.ScoreCurves(resolution="adaptive", intervals=cap)
        acc._buffer = draw(st.sampled_from([5, 33, 1000]))
        for c, d in splits(draw, b - a):
            acc.update(y[a + c:a + d], s[a + c:a + d],
                       sample_weight=None if w is None else w[a + c:a + d])
        if draw(st.booleans()):  # travel as JSON or pickle first
            acc = cs.from_dict(json.loads(json.dumps(acc.to_dict()))) if draw(
                st.booleans()) else pickle.loads(pickle.dumps(acc))
        parts.append(acc)
    total = sum(parts)
    check_binary(total, y, s, w)
    other = parts[0].copy()
    for p in parts[1:]:
        other += p
    assert contains(other.roc_auc_bounds(), skm.roc_auc_score(y, s, sample_weight=w),
                    other.exact)


@FAST
@given(st.data())
def test_multiclass_and_multilabel_bounds_contain_sklearn(data):
    draw = data.draw
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    c = draw(st.integers(3, 4))
    n = draw(st.integers(c, 500))
    y = rng.integers(0, c, n)
    y[:c] = np.arange(c)
    z = rng.normal(size=(n, c))
    z[np.arange(n), y] += 1.5
    p = (np.exp(z) / np.exp(z).sum(1, keepdims=True)).astype(np.float32)
    weighted = draw(st.booleans())
    w = rng.integers(0, 3, n).astype(float) if weighted else None
    if weighted:
        w[:c] = 1
    acc = adaptive(draw, num_classes=c, ovo=not weighted)
    for a, b in splits(draw, n):
        acc.update(y[a:b], p[a:b], sample_weight=None if w is None else w[a:b])
    cases = [("ovr", a) for a in ("macro", "weighted", None, "micro")]
    if not weighted:
        cases += [("ovo", "macro"), ("ovo", "weighted")]
    for mc, avg in cases:
        ref = skm.roc_auc_score(y, p, multi_class=mc, average=avg, sample_weight=w)
        assert contains(acc.roc_auc_bounds(average=avg, multi_class=mc), ref, acc.exact), \
            (mc, avg)
    for avg in ("macro", "weighted", None, "micro"):
        ref = skm.average_precision_score(y, p, average=avg, sample_weight=w)
        assert contains(acc.average_precision_bounds(average=avg), ref, acc.exact), avg
    for k, row in acc.per_class().items():
        ref = skm.roc_auc_score(y == k, p[:, k], sample_weight=w)
        assert contains(row["auroc bounds"], ref, acc.exact)

    L = draw(st.integers(1, 4))
    Y = rng.integers(0, 2, (n, L))
    Y[0], Y[1] = 0, 1
    S = (rng.normal(size=(n, L)) + Y).astype(draw(st.sampled_from([np.float32, np.float64])))
    ml = adaptive(draw, cs.MultilabelScoreCurves, num_labels=L)
    for a, b in splits(draw, n):
        ml.update(Y[a:b], S[a:b], sample_weight=None if w is None else w[a:b])
    for avg in ("macro", "weighted", None, "micro"):
        for ref_fn, bounds in ((skm.roc_auc_score, ml.roc_auc_bounds),
                               (skm.average_precision_score, ml.average_precision_bounds)):
            ref = ref_fn(Y, S, average=avg, sample_weight=w)
            assert contains(bounds(average=avg), ref, ml.exact), (avg, ref_fn.__name__)
    again = cs.from_dict(json.loads(json.dumps(ml.to_dict())))
    assert again == ml and pickle.loads(pickle.dumps(acc)) == acc


def test_float32_and_float64_batches_share_one_state():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 900)
    s = rng.normal(size=900) + y
    acc = cs.ScoreCurves(resolution="adaptive", intervals=80)
    acc._buffer = 64
    for i in range(0, 900, 100):
        part = s[i:i + 100].astype(np.float32 if i % 200 else np.float64)
        s[i:i + 100] = part
        acc.update(y[i:i + 100], part)
    check_binary(acc, y, s, None)


def test_bad_input_changes_nothing_small_and_chunked_batches():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500)
    s = rng.random(500).astype(np.float32)
    for buf in (1000, 64):  # a batch that fits the buffer, and one that is cut in chunks
        acc = cs.ScoreCurves(resolution="adaptive", intervals=64)
        acc._buffer = buf
        acc.update(y[:100], s[:100])
        before = acc.to_dict()
        bad = s[:300].copy()
        bad[-1] = np.nan
        with pytest.raises(ValueError, match=r"y_score\[299\] = nan"):
            acc.update(y[:300], bad)
        with pytest.raises(ValueError, match=r"y_true\[299\] = 2"):
            acc.update(np.append(y[:299], 2), s[:300])
        with pytest.raises(ValueError, match=r"sample_weight\[299\] = -1.0"):
            acc.update(y[:300], s[:300], sample_weight=np.append(np.ones(299), -1))
        assert acc.to_dict() == before and not acc.weighted
        with pytest.raises(ValueError, match="cannot join"):
            acc.update([0, 1], np.array([0.1, 0.2], np.float16))
    ml = cs.MultilabelScoreCurves(2, resolution="adaptive")
    with pytest.raises(ValueError, match=r"y_true\[1, 0\] = 2 is not 0 or 1"):
        ml.update([[0, 1], [2, 0]], np.zeros((2, 2)))
    assert ml.to_dict()["mode"] is None
    mc = cs.ScoreCurves(num_classes=3, resolution="adaptive")
    with pytest.raises(ValueError, match=r"y_score\[1, 2\] = inf"):
        mc.update([0, 1], np.array([[0.2, 0.3, 0.5], [0.2, 0.3, np.inf]], np.float32))
    with pytest.raises(ValueError, match=r"y_true\[1\] = 3 is not"):
        mc.update([0, 3], np.array([[0.2, 0.3, 0.5], [0.2, 0.3, 0.5]]))
    assert mc.to_dict()["mode"] is None


def test_settings_and_state_validation():
    with pytest.raises(ValueError, match="resolution must be"):
        cs.ScoreCurves(resolution="fine")
    with pytest.raises(ValueError, match="intervals="):
        cs.ScoreCurves(resolution="adaptive", bits=12)
    with pytest.raises(ValueError, match="intervals"):
        cs.ScoreCurves(intervals=100)
    fixed = cs.ScoreCurves().update([0, 1], np.array([0.2, 0.4], np.float32))
    ada = cs.ScoreCurves(resolution="adaptive").update([0, 1], np.array([0.2, 0.4], np.float32))
    with pytest.raises(ValueError, match="different settings"):
        fixed + ada
    assert "resolution='adaptive'" in repr(ada)
    d = ada.to_dict()
    assert d["version"] == 2 and d["settings"]["resolution"] == "adaptive"
    assert cs.from_dict(json.loads(json.dumps(d))) == ada
    iv = d["intervals"]
    for change, msg in [({"lo": iv["hi"][::-1], "hi": iv["lo"][::-1]}, "not increasing"),
                        ({"lo": [0, iv["lo"][1]]}, "not the key of a finite"),
                        ({"values": [[-1, 0], [0, 1]]}, "non-negative"),
                        ({"values": [[0.5, 0], [0, 1]]}, "integers"),
                        ({"column": [0, 1]}, "columns"),
                        ({"lo": iv["lo"][:1]}, "differ in length")]:
        with pytest.raises(ValueError, match=msg):
            cs.from_dict({**d, "intervals": {**iv, **change}})
    small = cs.ScoreCurves(resolution="adaptive", intervals=64)
    big = cs.ScoreCurves(resolution="adaptive", intervals=100).update(
        np.arange(100) % 2, np.arange(100, dtype=np.float32))
    state = big.to_dict()
    state["settings"] = small.to_dict()["settings"]
    with pytest.raises(ValueError, match="more than intervals=64"):
        cs.from_dict(state)


def test_format1_fixture_states_still_load():
    """States written by the fixed-bin layout (format 1) before the adaptive one existed."""
    rec = json.loads((FIXTURES / "curves_format1.json").read_text())
    for case in rec:
        acc = cs.from_dict(case["state"])
        assert acc.to_dict() == case["state"]
        for name, want in case["reads"].items():
            got = getattr(acc, name)()
            assert np.allclose(np.asarray(got, np.float64), np.asarray(want, np.float64),
                               rtol=0, atol=0), (case["name"], name)
        rng = np.random.default_rng(case["seed"])  # the data the state was written from
        y = rng.integers(0, 2, 400)
        s = (rng.normal(size=400) + y).astype(case["dtype"])
        assert contains(acc.roc_auc_bounds(), skm.roc_auc_score(y, s))
        with gzip.open(FIXTURES / f"curves_format1_{case['name']}.pkl.gz", "rb") as fh:
            assert pickle.load(fh) == acc


def test_threads_update_merge_read_in_a_child_process():
    code = textwrap.dedent("""
        import threading, numpy as np, confstream as cs
        from sklearn.metrics import roc_auc_score
        rng = np.random.default_rng(0)
        y = rng.integers(0, 2, 40_000)
        s = (rng.normal(size=40_000) + y).astype(np.float32)
        acc = cs.ScoreCurves(resolution="adaptive", intervals=500)
        acc._buffer = 3000
        side = cs.ScoreCurves(resolution="adaptive", intervals=500)
        errors = []
        def work(k):
            try:
                for i in range(k, 40, 4):
                    part = slice(i * 1000, (i + 1) * 1000)
                    (side if i % 3 == 0 else acc).update(y[part], s[part])
                    acc.roc_auc_bounds(); acc.copy(); acc.to_dict(); acc + side
            except Exception as exc:
                errors.append(exc)
        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        [t.start() for t in threads]; [t.join() for t in threads]
        assert not errors, errors
        acc += side
        lo, hi = acc.roc_auc_bounds()
        assert lo <= roc_auc_score(y, s) <= hi, (lo, roc_auc_score(y, s), hi)
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_memory_is_what_nbytes_says():
    acc = cs.ScoreCurves(resolution="adaptive").update([0, 1], np.array([0.1, 0.9], np.float32))
    assert acc.nbytes == (C.DEFAULT_INTERVALS + 1) * 32 + C.BUFFER * 8 == 4 * 2**20
