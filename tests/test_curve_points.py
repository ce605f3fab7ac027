"""Bins that hold one score value ("points") in certified curves, against scikit-learn 1.9.1.

A saturated float32 classifier gives many scores of exactly 1.0 (and 1 - 2^-24, ...): in the
fixed bins near 1 (``_curve_kernels.point_bins``) and in adaptive intervals whose ends are
equal, a bin holds one value, so its samples are one tie in scikit-learn's curve too, and the
bounds take it as it is instead of as an unknown order (``ranking``'s ``points``). Checked:
the point terms equal scikit-learn on tie groups; which fixed bins are points, by brute force
over the float values; bounds that contain scikit-learn's value on saturated data, binary,
multi-class and multi-label, fixed and adaptive, weighted, with ``max_fpr``; and that such
data no longer widen the bounds.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import confstream as cs
from confstream import _curve_kernels as CK
from confstream import ranking as R
from confstream.curves import _lower_edges

skm = pytest.importorskip("sklearn.metrics")

FAST = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def splits(draw, n):
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=4)))
    edges = [0, *cuts, n]
    return list(zip(edges[:-1], edges[1:]))


@FAST
@given(st.data())
def test_point_terms_equal_sklearn_on_tie_groups(data):
    """Every bin one value (distinct scores, each with its positives and negatives): the
    bounds with ``points`` all True collapse onto scikit-learn's value (within the slack),
    weighted or not, with ``max_fpr``."""
    draw = data.draw
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    k = draw(st.integers(1, 40))
    npos = rng.integers(0, 6, k)
    nneg = rng.integers(0, 6, k)
    npos[0] += 1
    nneg[-1] += 1
    ys, ss = [], []
    for b in range(k):  # bin b holds the score k - b: decreasing, as the bins come
        ys += [1] * int(npos[b]) + [0] * int(nneg[b])
        ss += [float(k - b)] * int(npos[b] + nneg[b])
    y, s = np.array(ys), np.array(ss)
    w = rng.random(y.size) + 0.1 if draw(st.booleans()) else None
    ww = np.ones(y.size) if w is None else w
    pos = np.array([ww[(s == k - b) & (y == 1)].sum() for b in range(k)])
    neg = np.array([ww[(s == k - b) & (y == 0)].sum() for b in range(k)])
    points = np.ones(k, bool)
    eps = 2 * R.slack(k)
    for max_fpr in (None, 0.3, 1.0):
        ref = skm.roc_auc_score(y, s, sample_weight=w, max_fpr=max_fpr)
        lo, hi = R.roc_auc_bounds(pos, neg, max_fpr, points=points)
        assert lo <= ref <= hi and hi - lo <= 2 * eps, (max_fpr, lo, ref, hi)
    ref = skm.average_precision_score(y, s, sample_weight=w)
    lo, hi = R.average_precision_bounds(pos, neg, w is not None, points=points)
    assert lo <= ref <= hi and hi - lo <= 2 * eps, (lo, ref, hi)
    # some bins points, the others not: still bounds of scikit-learn's value
    some = rng.random(k) < 0.5
    lo, hi = R.roc_auc_bounds(pos, neg, points=some)
    assert lo <= skm.roc_auc_score(y, s, sample_weight=w) <= hi


@pytest.mark.parametrize("bits", [1, 4, 10, 13, 20])
@pytest.mark.parametrize("dtype, precision", [(np.float32, 24), (np.float64, 53)])
def test_point_bins_hold_one_value_each(bits, dtype, precision):
    """By brute force over the float values: in every bin of ``point_bins`` the value after
    the bin's smallest one lies in a higher bin, and in the three bins below the range it
    does not (the range is not narrower than it could be there)."""
    r = CK.point_bins(bits, precision)
    if r is None:
        assert dtype == np.float64 and bits <= 12  # the last bin, r < 2^-40, holds 2^13
        return
    b0, b1 = r
    idx = np.unique(np.r_[np.arange(b0 - 3, min(b0 + 4000, b1 + 1)),
                          np.arange(max(b0, b1 - 4000), b1 + 1)])
    edges = _lower_edges(idx, bits, dtype)
    nxt = np.nextafter(edges, dtype(np.inf)).astype(np.float64)
    one_value = CK.bins_of(nxt, bits, CK.E_RANGE) > idx
    assert one_value[idx >= b0].all()
    assert not one_value[idx < b0].any()
    near1 = CK.bins_of(np.array([1.0]), bits, CK.E_RANGE)[0]
    assert (b1 == near1) == (dtype == np.float32)


def saturated(rng, n, y, kind):
    """float32 probabilities of an over-confident classifier: many exactly 1.0, 1 - 2^-24,
    ... (and exactly 0.0 in a softmax)."""
    z = rng.normal(size=n) * 2 + 2 * y
    if kind == "steep":
        return (1 / (1 + np.exp(-8 * z))).astype(np.float32)
    if kind == "mixed":  # saturated positives beside continuous negatives
        s = (1 / (1 + np.exp(-z))).astype(np.float32)
        s[(y == 1) & (rng.random(n) < 0.5)] = 1.0
        s[(y == 0) & (rng.random(n) < 0.1)] = 1.0
        return s
    near = np.float32(1) - np.float32(2.0**-24) * rng.integers(0, 5, n).astype(np.float32)
    return np.where(rng.random(n) < 0.7, near,
                    (1 / (1 + np.exp(-z))).astype(np.float32)).astype(np.float32)


def contains(b, ref, exact=False):
    """lo <= ref <= hi; an exact state's bounds are its value: within 1e-12 of scikit-learn's
    with weights (summed per score value there, sample by sample in scikit-learn)."""
    tol = 1e-12 if exact else 0.0
    return b[0] - tol <= ref <= b[1] + tol


@FAST
@given(st.data())
def test_saturated_binary_bounds_contain_sklearn_and_stay_narrow(data):
    draw = data.draw
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(2, 3000))
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    s = saturated(rng, n, y, draw(st.sampled_from(["steep", "mixed", "near"])))
    w = rng.random(n) * 2 if draw(st.booleans()) else None
    adaptive = draw(st.booleans())
    acc = (cs.ScoreCurves(resolution="adaptive", intervals=draw(st.sampled_from([64, 1024])))
           if adaptive else cs.ScoreCurves(bits=draw(st.sampled_from([None, 4, 12]))))
    for a, b in splits(draw, n):
        acc.update(y[a:b], s[a:b], sample_weight=None if w is None else w[a:b])
    for max_fpr in (None, 0.2):
        ref = skm.roc_auc_score(y, s, sample_weight=w, max_fpr=max_fpr)
        b = acc.roc_auc_bounds(max_fpr=max_fpr)
        assert contains(b, ref, acc.exact) and contains(b, acc.roc_auc(max_fpr=max_fpr)), \
            (max_fpr, b, ref)
    ref = skm.average_precision_score(y, s, sample_weight=w)
    b = acc.average_precision_bounds()
    assert contains(b, ref, acc.exact) and contains(b, acc.average_precision())
    for row in acc.per_class().values():
        assert contains(row["auroc bounds"], skm.roc_auc_score(y, s, sample_weight=w),
                        acc.exact)


def test_saturated_scores_cost_no_width():
    """A quarter of the scores exactly 1.0, both classes among them: the bin (interval) of 1.0
    used to count as an unknown order (AUROC width 1.3e-2, AP 0.11 here); now the width is
    that of the other scores, and the bounds without the points are much wider."""
    rng = np.random.default_rng(0)
    n = 200_000
    y = rng.random(n) < 0.3
    z = rng.normal(size=n) + 3 * y
    s = (1 / (1 + np.exp(-8 * z))).astype(np.float32)
    assert 0.2 < (s == 1).mean() < 0.3 and y[s == 1].mean() < 1
    for acc in (cs.ScoreCurves(), cs.ScoreCurves(resolution="adaptive")):
        acc.update(y, s)
        assert not acc.exact
        lo, hi = acc.roc_auc_bounds()
        alo, ahi = acc.average_precision_bounds()
        assert lo <= skm.roc_auc_score(y, s) <= hi and hi - lo < 1e-5, (lo, hi)
        assert alo <= skm.average_precision_score(y, s) <= ahi and ahi - alo < 1e-5
        pos, neg, _ = acc._column(acc._snapshot()[0], 0)
        wlo, whi = R.roc_auc_bounds(pos, neg)  # every bin an unknown order
        assert whi - wlo > 1e-3 > 100 * (hi - lo)
    # float64 scores of the same values: no fixed bin near 1 holds one float64 value at the
    # default bits, so the fixed bounds stay wide there (and still contain the value)
    acc = cs.ScoreCurves().update(y, s.astype(np.float64))
    lo, hi = acc.roc_auc_bounds()
    assert lo <= skm.roc_auc_score(y, s) <= hi and hi - lo > 1e-3


@FAST
@given(st.data())
def test_saturated_multiclass_and_multilabel_bounds_contain_sklearn(data):
    draw = data.draw
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    c = draw(st.integers(3, 4))
    n = draw(st.integers(c, 800))
    y = rng.integers(0, c, n)
    y[:c] = np.arange(c)
    z = rng.normal(size=(n, c)) * 3
    z[np.arange(n), y] += draw(st.sampled_from([2.0, 40.0, 120.0]))  # 120: softmax -> 0 / 1
    e = np.exp((z - z.max(1, keepdims=True)).astype(np.float32))
    p = (e / e.sum(1, keepdims=True)).astype(np.float32)
    weighted = draw(st.booleans())
    w = rng.integers(1, 3, n).astype(float) if weighted else None
    adaptive = draw(st.booleans())
    kw = {"resolution": "adaptive", "intervals": 64} if adaptive else {"bits": 6}
    acc = cs.ScoreCurves(num_classes=c, ovo=not weighted, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rows that sum to 1 only up to float32 rounding
        for a, b in splits(draw, n):
            acc.update(y[a:b], p[a:b], sample_weight=None if w is None else w[a:b])
        cases = [("ovr", a) for a in ("macro", "weighted", "micro")]
        if not weighted:
            cases += [("ovo", "macro"), ("ovo", "weighted")]
        for mc, avg in cases:
            try:
                ref = skm.roc_auc_score(y, p, multi_class=mc, average=avg, sample_weight=w)
            except ValueError:  # rows that scikit-learn does not take for probabilities
                continue
            assert contains(acc.roc_auc_bounds(average=avg, multi_class=mc), ref, acc.exact), \
                (mc, avg)
        for avg in ("macro", "weighted", "micro"):
            ref = skm.average_precision_score(y, p, average=avg, sample_weight=w)
            assert contains(acc.average_precision_bounds(average=avg), ref, acc.exact), avg
    L = draw(st.integers(1, 3))
    Y = rng.integers(0, 2, (n, L))
    Y[0], Y[1] = 0, 1
    S = np.stack([saturated(rng, n, Y[:, j], "mixed") for j in range(L)], axis=1)
    ml = cs.MultilabelScoreCurves(L, **kw)
    for a, b in splits(draw, n):
        ml.update(Y[a:b], S[a:b], sample_weight=None if w is None else w[a:b])
    for avg in ("macro", "weighted", None, "micro"):
        for ref_fn, bounds in ((skm.roc_auc_score, ml.roc_auc_bounds),
                               (skm.average_precision_score, ml.average_precision_bounds)):
            ref = np.atleast_1d(ref_fn(Y, S, average=avg, sample_weight=w))
            got = np.atleast_2d(np.asarray(bounds(average=avg), dtype=np.float64))
            if got.shape[0] != ref.shape[0]:
                got = got.reshape(-1, 2)
            assert all(contains((lo, hi), r, ml.exact) for (lo, hi), r in zip(got, ref)), \
                (avg, ref_fn)
