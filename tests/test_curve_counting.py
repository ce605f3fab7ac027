"""The counting of the fixed-bin curves (``_curve_kernels.check`` / ``count``): the bins of the
vectorised pass against the float64 rule (``bins_of``), the long binary batches that threads
count into tables of their own, refusals that leave the state as it was, the row sums of
multi-class scores against scikit-learn's check, and threads sharing one accumulator.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import confstream as cs
from confstream import _curve_kernels as CK
from confstream import curves as C

skm = pytest.importorskip("sklearn.metrics")

FAST = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def special(dtype):
    """Scores where the bins change: zeros, subnormals, the fold at 0.5, 1.0, the ends of
    the resolved range (2^-40, 2^40), their neighbours, negatives and beyond 1."""
    f = np.dtype(dtype).type
    base = [0.0, -0.0, 0.5, 1.0, 2.0 ** -40, 2.0 ** 40, 2.0 ** -41, 1 - 2.0 ** -40, 0.25,
            0.75, 1e-30, 3.0, 1e30, 0.1, 0.9, 0.999, 0.001]
    vals = []
    for b in base:
        for x in (b, -b):
            x = f(x)
            vals += [x, np.nextafter(x, f(np.inf)), np.nextafter(x, f(-np.inf))]
    info = np.finfo(dtype)
    vals += [info.tiny, info.smallest_subnormal, info.max, -info.max, -info.tiny]
    return np.array(vals, dtype)


def table_of(acc):
    return acc._table


def reference_table(y, s, bits, k=1):
    """(k, nb, 2) counts from the float64 rule ``bins_of`` (scores of any float dtype are
    exactly float64 values), one column per score column."""
    nb = CK.num_bins(CK.S_CERT, bits)
    out = np.zeros((k, nb, 2), np.int64)
    s = s.reshape(len(y), k)
    for j in range(k):
        b = CK.bins_of(s[:, j].astype(np.float64), bits, CK.E_RANGE)
        t = y if y.ndim == 1 else y[:, j]
        np.add.at(out[j], (b, t), 1)
    return out


@FAST
@given(st.data())
def test_vectorised_bins_equal_the_float64_rule(data):
    draw = data.draw
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    bits = draw(st.sampled_from([1, 4, 10, 20]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 6000))
    kind = draw(st.sampled_from(["unit", "bits", "mixed"]))
    if kind == "unit":  # probabilities: the branch-free pass alone
        s = rng.random(n).astype(dtype) ** draw(st.sampled_from([1, 8, 40]))
    else:  # any finite bit pattern: the fix-up of scores outside [0, 1] too
        ints = np.uint32 if dtype == np.float32 else np.uint64
        s = rng.integers(0, np.iinfo(ints).max, n, dtype=ints, endpoint=True).view(dtype)
        s = np.where(np.isfinite(s), s, dtype(0.5))
        if kind == "mixed":
            s[rng.random(n) < 0.7] = rng.random(int((rng.random(n) < 0.7).sum()) or 1)[0]
    s = np.concatenate([s, special(dtype)])
    rng.shuffle(s)
    y = rng.integers(0, 2, len(s))
    acc = cs.ScoreCurves(bits=bits).update(y, s)
    assert np.array_equal(table_of(acc), reference_table(y, s, bits))
    # one-vs-rest columns and multi-label columns bin the same way
    k = 3
    m = len(s) // k
    sm, ym = s[:m * k].reshape(m, k), rng.integers(0, 2, (m, k))
    ml = cs.MultilabelScoreCurves(k, bits=bits).update(ym, sm)
    assert np.array_equal(table_of(ml), reference_table(ym, sm, bits, k))


def test_long_binary_batches_equal_short_ones_and_refusals_change_nothing():
    n = C.PAR_ROWS + 12_345  # threads count it, each into a table of its own
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, n)
    s = (1 / (1 + np.exp(-(rng.normal(size=n) * 2 + y)))).astype(np.float32)
    s[:50] = special(np.float32)[:50] % 2  # some scores off the fast path, all finite
    short = cs.ScoreCurves()
    for a in range(0, n, 100_000):
        short.update(y[a:a + 100_000], s[a:a + 100_000])
    long = cs.ScoreCurves().update(y, s)
    assert long == short and long.roc_auc_bounds() == short.roc_auc_bounds()
    lo, hi = long.roc_auc_bounds()
    assert lo <= skm.roc_auc_score(y, s) <= hi
    before = long.to_dict()
    for where, value, msg in [(n - 1, np.nan, rf"y_score\[{n - 1}\] = nan"),
                              (7, np.inf, r"y_score\[7\] = inf"),
                              (n // 2 + 3, 2, rf"y_true\[{n // 2 + 3}\] = 2 is not")]:
        bad_y, bad_s = y.copy(), s.copy()
        if isinstance(value, int):
            bad_y[where] = value
        else:
            bad_s[where] = value
        with pytest.raises(ValueError, match=msg):
            long.update(bad_y, bad_s)
        assert long.to_dict() == before
    # the threads' tables were left zero: the next batch counts as on a fresh accumulator
    long.update(y, s)
    assert long == short + short


def test_a_first_long_batch_refused_leaves_no_mode():
    n = C.PAR_ROWS + 1
    s = np.full(n, 0.25, np.float32)
    s[-1] = np.nan
    acc = cs.ScoreCurves()
    with pytest.raises(ValueError, match=rf"y_score\[{n - 1}\] = nan"):
        acc.update(np.zeros(n, np.int64), s)
    assert acc.to_dict()["mode"] is None and acc.num_bins == 0
    acc.update(np.zeros(4, np.int64), np.ones(4, np.float16))  # any score dtype still joins
    assert acc.exact


@pytest.mark.parametrize("offset", [0.0, 2e-6, -2e-6, 5e-5, -5e-5, 1e-3])
def test_multiclass_row_sums_are_checked_as_sklearn(offset):
    rng = np.random.default_rng(6)
    y = np.arange(300) % 3
    p = rng.random((300, 3))
    p /= p.sum(axis=1, keepdims=True)
    p[17] *= 1 + offset  # one row off by ``offset`` relative
    got = None
    try:
        got = cs.ScoreCurves(num_classes=3).update(y, p).roc_auc()
    except ValueError as exc:
        got = str(exc)
    try:
        ref = skm.roc_auc_score(y, p, multi_class="ovr")
    except ValueError as exc:
        ref = str(exc)
    assert type(got) is type(ref)
    if isinstance(ref, str):
        assert got == ref
    # average precision does not ask for probabilities
    cs.ScoreCurves(num_classes=3).update(y, p).average_precision()


def test_threads_share_long_and_short_batches_in_a_child_process():
    code = textwrap.dedent(f"""
        import threading, numpy as np, confstream as cs
        n = {C.PAR_ROWS} + 1000
        rng = np.random.default_rng(0)
        y = rng.integers(0, 2, n)
        s = rng.random(n).astype(np.float32)
        yc = rng.integers(0, 4, 50_000)
        sc = rng.random((50_000, 4)); sc /= sc.sum(1, keepdims=True)
        acc, mc = cs.ScoreCurves(), cs.ScoreCurves(num_classes=4)
        errors = []
        def work(k):
            try:
                for i in range(3):
                    if k % 2:
                        acc.update(y, s)
                        bad = s.copy(); bad[-1] = np.nan
                        try:
                            acc.update(y, bad)
                        except ValueError:
                            pass
                    else:
                        acc.update(y[:5000], s[:5000])
                        mc.update(yc, sc)
                    acc.roc_auc_bounds(); acc.copy(); mc.average_precision_bounds()
            except Exception as exc:
                errors.append(exc)
        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        [t.start() for t in threads]; [t.join() for t in threads]
        assert not errors, errors
        want = cs.ScoreCurves()
        for _ in range(6):
            want.update(y, s)
            want.update(y[:5000], s[:5000])
        assert acc == want
        want_mc = cs.ScoreCurves(num_classes=4)
        for _ in range(6):
            want_mc.update(yc, sc)
        assert mc == want_mc
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr
