"""Score curves against scikit-learn 1.9.1: exact cases bit for bit, certified cases bounded.

The reference is always scikit-learn on the concatenated data; the accumulators see the same
data in random batches (empty ones too).
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import confstream as cs
from confstream import ranking as R

skm = pytest.importorskip("sklearn.metrics")

FAST = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
EXACT_DTYPES = [np.float16, np.int16, np.uint8, np.int8, np.bool_, np.uint16]


def run(fn, *args, **kw):
    """(result or the exception, [(warning message)...]) of a call, warnings recorded."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        try:
            out = fn(*args, **kw)
        except Exception as exc:  # noqa: BLE001 - compared with the reference's
            out = exc
    return out, [str(w.message) for w in rec]


def same(a, b):
    """Equal results: arrays and floats bit for bit (NaN equal to NaN), errors by text."""
    if isinstance(a, Exception) or isinstance(b, Exception):
        # scikit-learn's InvalidParameterError is a ValueError: the text must be the same
        kinds = (ValueError, NotImplementedError, ZeroDivisionError, TypeError)
        return all(isinstance(a, k) == isinstance(b, k) for k in kinds) and str(a) == str(b)
    if isinstance(a, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, list):  # warning messages
        return a == b
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind not in "fc" or b.dtype.kind not in "fc":
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)


def close(a, b, rtol=1e-12):
    if isinstance(a, tuple):
        return all(close(x, y, rtol) for x, y in zip(a, b))
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.shape == b.shape and np.allclose(a, b, rtol=rtol, atol=1e-14, equal_nan=True)


def splits(draw, n):
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=5)))
    edges = [0, *cuts, n]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:])]


def scores_of(draw, n, dtype, y):
    ties = draw(st.sampled_from(["heavy", "some", "none"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if dtype == np.bool_:
        return rng.integers(0, 2, n).astype(bool)
    base = rng.normal(size=n) * 2 + y * draw(st.floats(0, 3))
    if ties == "heavy":
        base = np.round(base)
    elif ties == "some":
        base = np.round(base * 8) / 8
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        scale = 1 if ties != "none" else 40
        return np.clip(np.round(base * scale + (0 if info.min < 0 else 20)), info.min,
                       info.max).astype(dtype)
    if ties == "none" and dtype == np.float16:
        base = base * 100
    out = base.astype(dtype)
    if draw(st.booleans()) and n:
        out[rng.integers(0, n, max(1, n // 5))] = -0.0 if dtype != np.float64 else 0.0
    return out


# --------------------------------------------------------------------------------------------
# binary, exact: scikit-learn's arrays bit for bit


@FAST
@given(st.data())
def test_binary_exact_equals_sklearn(data):
    draw = data.draw
    dtype = draw(st.sampled_from(EXACT_DTYPES))
    n = draw(st.integers(1, 300))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    y = (rng.random(n) < draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))).astype(np.int64)
    s = scores_of(draw, n, dtype, y)
    labels = draw(st.sampled_from([None, ["neg", "pos"]]))
    truth = y if labels is None else np.array(["neg", "pos"])[y]
    acc = cs.ScoreCurves(labels=labels)
    for a, b in splits(draw, n):
        acc.update(truth[a:b], s[a:b])
    assert acc.exact
    pos_label = None if labels is None else "pos"
    for drop in (True, False):
        assert same(run(acc.roc_curve, drop_intermediate=drop),
                    run(skm.roc_curve, truth, s, pos_label=pos_label, drop_intermediate=drop))
        assert same(run(acc.precision_recall_curve, drop_intermediate=drop),
                    run(skm.precision_recall_curve, truth, s, pos_label=pos_label,
                        drop_intermediate=drop))
    max_fpr = draw(st.sampled_from([None, 1.0, 0.5, 0.05]))
    ref_auc = run(skm.roc_auc_score, y, s, max_fpr=max_fpr)
    assert same(run(acc.roc_auc, max_fpr=max_fpr), ref_auc)
    if not isinstance(ref_auc[0], Exception) and not np.isnan(ref_auc[0]):
        assert same(acc.roc_auc_bounds(max_fpr=max_fpr), (ref_auc[0], ref_auc[0]))
    ref_ap = run(skm.average_precision_score, truth, s, pos_label=pos_label or 1)
    assert same(run(acc.average_precision), ref_ap)


@FAST
@given(st.data())
def test_binary_exact_weighted(data):
    draw = data.draw
    dtype = draw(st.sampled_from(EXACT_DTYPES))
    n = draw(st.integers(2, 200))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    s = scores_of(draw, n, dtype, y)
    integer_w = draw(st.booleans())
    w = rng.integers(0, 4, n).astype(np.float64) if integer_w else rng.random(n) * 3
    w[rng.random(n) < 0.2] = 0.0
    w[:2] = 1.0
    acc = cs.ScoreCurves()
    for a, b in splits(draw, n):
        acc.update(y[a:b], s[a:b], sample_weight=w[a:b])
    assert acc.weighted
    # integer weights sum exactly: even drop_intermediate gives the same points
    drops = (True, False) if integer_w else (False,)
    for drop in drops:
        got, ref = acc.roc_curve(drop_intermediate=drop), skm.roc_curve(
            y, s, sample_weight=w, drop_intermediate=drop)
        assert close(got, ref)
        got = acc.precision_recall_curve(drop_intermediate=drop)
        ref = skm.precision_recall_curve(y, s, sample_weight=w, drop_intermediate=drop)
        assert close(got, ref) and got[2].dtype == ref[2].dtype
    max_fpr = draw(st.sampled_from([None, 0.3]))
    assert close(acc.roc_auc(max_fpr=max_fpr),
                 skm.roc_auc_score(y, s, sample_weight=w, max_fpr=max_fpr))
    assert close(acc.average_precision(), skm.average_precision_score(y, s, sample_weight=w))


def test_negative_zero_and_zero_share_a_bin():
    y = np.array([1, 0, 1, 0])
    s = np.array([0.0, -0.0, -0.0, 0.5], np.float16)
    acc = cs.ScoreCurves().update(y, s)
    f, t, thr = acc.roc_curve(drop_intermediate=False)
    rf, rt, rthr = skm.roc_curve(y, s, drop_intermediate=False)
    assert same((f, t), (rf, rt)) and np.array_equal(thr, rthr)  # -0.0 == 0.0
    assert acc.roc_auc() == skm.roc_auc_score(y, s)


# --------------------------------------------------------------------------------------------
# binary, certified: bounds contain scikit-learn's value


def certified_data(draw, n):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    kind = draw(st.sampled_from(["sigmoid", "logit", "ties", "narrow"]))
    z = rng.normal(size=n) * 2 + 2 * y
    if kind == "sigmoid":
        s = 1 / (1 + np.exp(-z))
    elif kind == "logit":
        s = z * 10
    elif kind == "ties":
        s = np.round(1 / (1 + np.exp(-z)), 2)
    else:  # everything in a few bins: the widest bounds
        s = 0.3 + 1e-6 * rng.random(n) + 1e-7 * y
    return y, s.astype(draw(st.sampled_from([np.float32, np.float64])))


@FAST
@given(st.data())
def test_binary_certified_bounds_contain_sklearn(data):
    draw = data.draw
    n = draw(st.integers(2, 3000))
    y, s = certified_data(draw, n)
    weighted = draw(st.booleans())
    rng = np.random.default_rng(1)
    w = rng.random(n) * 2 if weighted else None
    bits = draw(st.sampled_from([None, 4, 12]))
    acc = cs.ScoreCurves(bits=bits)
    for a, b in splits(draw, n):
        acc.update(y[a:b], s[a:b], sample_weight=None if w is None else w[a:b])
    assert not acc.exact
    for max_fpr in (None, 0.2):
        ref = skm.roc_auc_score(y, s, sample_weight=w, max_fpr=max_fpr)
        lo, hi = acc.roc_auc_bounds(max_fpr=max_fpr)
        assert lo <= ref <= hi
        assert lo <= acc.roc_auc(max_fpr=max_fpr) <= hi
    ref = skm.average_precision_score(y, s, sample_weight=w)
    lo, hi = acc.average_precision_bounds()
    assert lo <= ref <= hi and lo <= acc.average_precision() <= hi
    # every curve point is an exact operating point: score >= threshold
    f, t, thr = acc.roc_curve()
    ww = np.ones(n) if w is None else w
    for i in np.linspace(1, len(thr) - 1, 5).astype(int):
        pred = s >= thr[i]
        assert np.isclose(f[i], ww[pred & (y == 0)].sum() / ww[y == 0].sum(), rtol=1e-12)
        assert np.isclose(t[i], ww[pred & (y == 1)].sum() / ww[y == 1].sum(), rtol=1e-12)
    p, r, thr2 = acc.precision_recall_curve()
    assert thr2.dtype == s.dtype


def test_bounds_are_attained_by_adversarial_orders():
    """Within a bin the order is free: the bounds' extreme orders are reached (tight)."""
    rng = np.random.default_rng(0)
    base = 0.3  # all these scores fall in one certified bin at bits=4
    outside_y = rng.integers(0, 2, 50)
    outside_s = np.where(outside_y == 1, 0.9, 0.7)  # bins of one class: no doubt there
    inner_y = np.array([1] * 7 + [0] * 5)
    for order in ("pos_first_tied", "neg_first_distinct", "mixed"):
        if order == "pos_first_tied":
            inner_s = np.where(inner_y == 1, base + 2e-3, base)
        elif order == "neg_first_distinct":
            inner_s = np.where(inner_y == 1, base + 1e-4 * np.arange(12), base + 5e-3)
        else:
            inner_s = base + 1e-3 * rng.random(12)
        y = np.concatenate([outside_y, inner_y])
        s = np.concatenate([outside_s, inner_s]).astype(np.float64)
        acc = cs.ScoreCurves(bits=4).update(y, s)
        lo, hi = acc.average_precision_bounds()
        ap = skm.average_precision_score(y, s)
        alo, ahi = acc.roc_auc_bounds()
        auc = skm.roc_auc_score(y, s)
        assert lo <= ap <= hi and alo <= auc <= ahi
        if order == "pos_first_tied":
            assert hi - ap < 1e-9 and ahi - auc < 1e-9
        if order == "neg_first_distinct":
            assert ap - lo < 1e-9 and auc - alo < 1e-9


def test_more_bits_narrow_the_bound():
    rng = np.random.default_rng(3)
    n = 200_000
    y = rng.integers(0, 2, n)
    s = (1 / (1 + np.exp(-(rng.normal(size=n) * 2 + 2 * y)))).astype(np.float32)
    ref = skm.roc_auc_score(y, s)
    widths = []
    for bits in (6, 10, 14):
        lo, hi = cs.ScoreCurves(bits=bits).update(y, s).roc_auc_bounds()
        assert lo <= ref <= hi
        widths.append(hi - lo)
    assert widths[0] > 4 * widths[1] > 16 * widths[2]


def test_merged_shards_equal_one_stream():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 5000)
    s = rng.random(5000).astype(np.float32)
    whole = cs.ScoreCurves().update(y, s)
    parts = [cs.ScoreCurves().update(y[i::4], s[i::4]) for i in range(4)]
    assert sum(parts) == whole
    a = parts[0].copy()
    a += parts[1]
    assert a + parts[2] + parts[3] == whole
    assert (parts[3] + parts[2] + parts[1] + parts[0]).roc_auc_bounds() == whole.roc_auc_bounds()
    with pytest.raises(ValueError, match="different settings"):
        cs.ScoreCurves(bits=4) + cs.ScoreCurves(bits=5)
    with pytest.raises(ValueError, match="cannot join"):
        cs.ScoreCurves().update([0, 1], np.array([0.5, 1], np.float16)) + whole


# --------------------------------------------------------------------------------------------
# operating points


def test_confusion_at_and_operating_points_exact():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 500)
    s = np.round(rng.normal(size=500) + y, 1).astype(np.float16)
    acc = cs.ScoreCurves().update(y, s)
    p, r, thr = skm.precision_recall_curve(y, s)
    for t in thr[::7]:
        cm = acc.confusion_at(t)
        assert np.array_equal(cm.counts, skm.confusion_matrix(y, (s >= t).astype(int)))
    for target in (0.5, 0.7, 0.9, 1.1):
        ok = p[:-1] >= target
        want = r[:-1][ok].max() if ok.any() else 0.0
        got, t = acc.recall_at_precision(target)
        assert got == want
        if ok.any():
            pred = (s >= t).astype(int)
            assert skm.recall_score(y, pred) == got
            assert skm.precision_score(y, pred) >= target
    got, t = acc.precision_at_recall(0.8)
    ok = r[:-1] >= 0.8
    assert got == p[:-1][ok].max()
    assert skm.recall_score(y, (s >= t).astype(int)) >= 0.8


def test_confusion_at_certified_refuses_a_threshold_inside_a_bin():
    y = np.array([0, 1, 0, 1])
    s = np.array([0.1, 0.30001, 0.3, 0.9], np.float32)
    acc = cs.ScoreCurves().update(y, s)
    _, _, thr = acc.roc_curve(drop_intermediate=False)
    cm = acc.confusion_at(thr[2])
    assert np.array_equal(cm.counts, skm.confusion_matrix(y, (s >= thr[2]).astype(int)))
    with pytest.raises(ValueError, match="falls inside a score bin"):
        acc.confusion_at(0.3000005)


# --------------------------------------------------------------------------------------------
# multi-class and multi-label


def simplex_rows(rng, n, c, y, exact):
    """Probabilities that sum to 1 exactly: multiples of 1/64 (float16-exact) or softmax."""
    if exact:
        cuts = np.sort(rng.integers(0, 65, (n, c - 1)), axis=1)
        parts = np.diff(np.concatenate([np.zeros((n, 1)), cuts, np.full((n, 1), 64)], 1), axis=1)
        parts[np.arange(n), y] += 0  # truth-independent is fine; ties are plenty
        return (parts / 64).astype(np.float16)
    z = rng.normal(size=(n, c))
    z[np.arange(n), y] += 1.5
    e = np.exp(z)
    return (e / e.sum(1, keepdims=True)).astype(np.float32)


@FAST
@given(st.data())
def test_multiclass_against_sklearn(data):
    draw = data.draw
    c = draw(st.integers(3, 5))
    n = draw(st.integers(c, 400))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    y = rng.integers(0, c, n)
    y[:c] = np.arange(c)
    exact = draw(st.booleans())
    s = simplex_rows(rng, n, c, y, exact)
    weighted = draw(st.booleans())
    w = rng.integers(0, 3, n).astype(float) if weighted else None
    if weighted:
        w[:c] = 1
    acc = cs.ScoreCurves(num_classes=c, ovo=not weighted)
    for a, b in splits(draw, n):
        acc.update(y[a:b], s[a:b], sample_weight=None if w is None else w[a:b])
    assert acc.exact == exact
    cases = [("ovr", a) for a in ("macro", "weighted", None, "micro")]
    if not weighted:
        cases += [("ovo", "macro"), ("ovo", "weighted")]
    for mc, avg in cases:
        ref = skm.roc_auc_score(y, s, multi_class=mc, average=avg, sample_weight=w,
                                labels=list(range(c)))
        if exact:
            got = acc.roc_auc(average=avg, multi_class=mc)
            assert (same(got, ref) if not weighted else close(got, ref)), (mc, avg)
        else:
            b = np.asarray(acc.roc_auc_bounds(average=avg, multi_class=mc))
            assert np.all(b[..., 0] <= ref) and np.all(ref <= b[..., 1]), (mc, avg)
    for avg in ("macro", "weighted", None, "micro"):
        ref = skm.average_precision_score(y, s, average=avg, sample_weight=w)
        if exact:
            got = acc.average_precision(average=avg)
            assert same(got, ref) if not weighted else close(got, ref)
        else:
            b = acc.average_precision_bounds(average=avg)
            b = np.asarray(b)
            assert np.all(b[..., 0] <= ref) and np.all(ref <= b[..., 1])


def test_multiclass_errors_as_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    s = simplex_rows(rng, 60, 3, y, False)
    acc = cs.ScoreCurves(num_classes=3).update(y, s)
    for kw in ({"max_fpr": 0.5}, {"multi_class": "raise"}, {"average": "samples"},
               {"multi_class": "ovo", "average": None}):
        ref = run(skm.roc_auc_score, y, s, **{"multi_class": "ovr", **kw})[0]
        got = run(acc.roc_auc, **{"multi_class": "ovr", **kw})[0]
        assert same(got, ref), kw
    with pytest.raises(ValueError, match="ovo=True.*cs.roc_auc_score"):
        acc.roc_auc(multi_class="ovo")
    bad = cs.ScoreCurves(num_classes=3).update(y, s * 2)
    assert same(run(bad.roc_auc)[0], run(skm.roc_auc_score, y, s * 2, multi_class="ovr")[0])
    assert 0 <= bad.average_precision_bounds()[0]  # AP takes any scores


@FAST
@given(st.data())
def test_multilabel_against_sklearn(data):
    draw = data.draw
    L = draw(st.integers(1, 5))
    n = draw(st.integers(2, 300))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    Y = rng.integers(0, 2, (n, L))
    Y[0], Y[1] = 0, 1
    exact = draw(st.booleans())
    S = rng.normal(size=(n, L)) + Y
    S = np.round(S, 1).astype(np.float16) if exact else S.astype(np.float32)
    weighted = draw(st.booleans())
    w = rng.integers(0, 3, n).astype(float) if weighted else None
    if weighted:
        w[:2] = 1
    acc = cs.MultilabelScoreCurves(L)
    for a, b in splits(draw, n):
        acc.update(Y[a:b], S[a:b], sample_weight=None if w is None else w[a:b])
    for avg in ("macro", "weighted", None, "micro"):
        for fn, ref_fn, bnd in ((acc.roc_auc, skm.roc_auc_score, acc.roc_auc_bounds),
                                (acc.average_precision, skm.average_precision_score,
                                 acc.average_precision_bounds)):
            ref = ref_fn(Y, S, average=avg, sample_weight=w)
            if exact:
                got = fn(average=avg)
                assert same(got, ref) if not weighted else close(got, ref)
            else:
                b = np.asarray(bnd(average=avg))
                assert np.all(b[..., 0] <= ref) and np.all(ref <= b[..., 1])
    with pytest.raises(ValueError, match="samples.*cs.roc_auc_score"):
        acc.roc_auc(average="samples")


# --------------------------------------------------------------------------------------------
# bad input: ValueError naming value and position, state unchanged


def test_bad_input_names_value_and_position_state_unchanged():
    acc = cs.ScoreCurves().update([0, 1, 1], np.array([0.2, 0.5, 0.9], np.float32))
    before = acc.to_dict()
    cases = [
        (([0, 1, 0], np.array([0.1, np.nan, 0.3], np.float32)), r"y_score\[1\] = nan"),
        (([0, 1, 0], np.array([0.1, 0.2, np.inf], np.float32)), r"y_score\[2\] = inf"),
        (([0, 2, 0], np.array([0.1, 0.2, 0.3], np.float32)), r"y_true\[1\] = 2 is not"),
        (([0, 1, 0.5], np.array([0.1, 0.2, 0.3], np.float32)), r"y_true\[2\] = 0.5"),
        (([0, 1], np.array([0.1, 0.2, 0.3], np.float32)), "2 samples but y_score has 3"),
        (([0, 1, 1], np.array([0.5, 1, 1], np.float16)), "cannot join"),
    ]
    for args, msg in cases:
        with pytest.raises(ValueError, match=msg):
            acc.update(*args)
        assert acc.to_dict() == before
    with pytest.raises(ValueError, match=r"sample_weight\[1\] = -1.0"):
        acc.update([0, 1], np.array([0.1, 0.2], np.float32), sample_weight=[1, -1])
    assert acc.to_dict() == before and not acc.weighted
    f16 = cs.ScoreCurves().update([0, 1], np.array([0.5, 1], np.float16))
    with pytest.raises(ValueError, match=r"y_score\[1\] = nan"):
        f16.update([0, 1], np.array([0.5, np.nan], np.float16))
    mc = cs.ScoreCurves(num_classes=3)
    with pytest.raises(ValueError, match=r"y_score\[1, 2\] = nan"):
        mc.update([0, 1], np.array([[0.2, 0.3, 0.5], [0.2, 0.3, np.nan]]))
    with pytest.raises(ValueError, match=r"y_true\[1\] = 3 is not"):
        mc.update([0, 3], np.array([[0.2, 0.3, 0.5], [0.2, 0.3, 0.5]]))
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        mc.update([0, 1], np.array([[0.2, 0.8], [0.2, 0.8]]))
    ml = cs.MultilabelScoreCurves(2)
    with pytest.raises(ValueError, match=r"y_true\[1, 0\] = 2 is not 0 or 1"):
        ml.update([[0, 1], [2, 0]], np.zeros((2, 2)))
    for bad_value in (-1, 2, -128):  # int8 truth is read as its bytes: named as given
        t8 = np.array([[0, 1], [1, 0], [0, bad_value]], np.int8)
        with pytest.raises(ValueError, match=rf"y_true\[2, 1\] = {bad_value} is not 0 or 1"):
            ml.update(t8, np.zeros((3, 2), np.float32))
    assert mc.to_dict()["mode"] is None and ml.to_dict()["mode"] is None
    t8 = np.array([[0, 1], [1, 1], [1, 0]], np.int8)
    s8 = np.array([[0.1, 0.9], [0.6, 0.3], [0.7, 0.2]], np.float32)
    got = cs.MultilabelScoreCurves(2).update(t8, s8)
    assert got == cs.MultilabelScoreCurves(2).update(t8.astype(np.int64), s8)
    assert got.roc_auc(average=None).tolist() == skm.roc_auc_score(t8, s8, average=None).tolist()
    with pytest.raises(ValueError, match="no samples seen"):
        mc.roc_auc()
    lab = cs.ScoreCurves(labels=["a", "b"])
    with pytest.raises(ValueError, match=r"y_true\[1\] = 'c' is not in the label space"):
        lab.update(["a", "c"], [0.1, 0.2])


# --------------------------------------------------------------------------------------------
# state: dict, pickle, reset; torch tensors


def test_state_round_trips_and_validates():
    rng = np.random.default_rng(0)
    for acc in (cs.ScoreCurves().update(rng.integers(0, 2, 100), rng.random(100)),
                cs.ScoreCurves(num_classes=3, ovo=True).update(
                    rng.integers(0, 3, 50), simplex_rows(rng, 50, 3, None, True)),
                cs.MultilabelScoreCurves(3).update(rng.integers(0, 2, (40, 3)),
                                                   rng.random((40, 3)), rng.random(40))):
        d = json.loads(json.dumps(acc.to_dict()))
        again = type(acc).from_dict(d)
        assert again == acc and pickle.loads(pickle.dumps(acc)) == acc
        assert again.roc_auc_bounds() == acc.roc_auc_bounds()
        assert acc.copy().reset().to_dict()["mode"] is None
    good = cs.ScoreCurves().update([0, 1], [0.2, 0.4]).to_dict()
    for key, value, msg in [("version", 99, "unknown format version"),
                            ("kind", "ConfusionMatrix", "is not 'ScoreCurves'"),
                            ("mode", 7, "unknown score mode"),
                            ("bins", {"column": [0], "bin": [10**9], "values": [[1, 0]]},
                             "outside the table"),
                            ("bins", {"column": [0], "bin": [5], "values": [[-1, 0]]},
                             "non-negative"),
                            ("bins", {"column": [0], "bin": [5], "values": [[0.5, 0]]},
                             "integers")]:
        bad = dict(good, **{key: value})
        with pytest.raises(ValueError, match=msg):
            cs.ScoreCurves.from_dict(bad)


def test_torch_half_and_bfloat16_as_they_are():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 2000)
    x = torch.tensor(rng.normal(size=2000) + y, dtype=torch.float32)
    for dt in (torch.float16, torch.bfloat16):
        t = x.to(dt)
        acc = cs.ScoreCurves().update(torch.tensor(y), t)
        ref = t.float().numpy() if dt == torch.bfloat16 else t.numpy()
        assert acc.exact
        assert acc.roc_auc() == skm.roc_auc_score(y, ref)
        assert acc.average_precision() == skm.average_precision_score(y, ref)
        assert same(acc.precision_recall_curve(), skm.precision_recall_curve(y, ref))
    with pytest.raises(ValueError, match=r"y_score\[3\] = nan"):
        cs.ScoreCurves().update([0, 1, 0, 1], torch.tensor([0, 1, 2, float("nan")],
                                                          dtype=torch.bfloat16))


def test_threads_update_merge_read_in_a_child_process():
    code = textwrap.dedent("""
        import threading, numpy as np, confstream as cs
        from sklearn.metrics import roc_auc_score
        rng = np.random.default_rng(0)
        y = rng.integers(0, 2, 205_000)
        s = rng.random(205_000).astype(np.float16)
        acc = cs.ScoreCurves().update(y[200_000:], s[200_000:])  # readable from the start
        side = cs.ScoreCurves()
        errors = []
        def work(k):
            try:
                for i in range(k, 40, 4):
                    part = slice(i * 5_000, (i + 1) * 5_000)
                    if i % 3 == 0:
                        side.update(y[part], s[part])
                    else:
                        acc.update(y[part], s[part])
                    acc.roc_auc_bounds(); acc.copy(); acc.to_dict()
            except Exception as exc:
                errors.append(exc)
        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        [t.start() for t in threads]; [t.join() for t in threads]
        assert not errors, errors
        acc += side
        assert acc.roc_auc() == roc_auc_score(y, s), (acc.roc_auc(), roc_auc_score(y, s))
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_ranking_functions_are_pure_and_match_sklearn_on_counts():
    # bins = distinct scores: the read-outs of ranking equal scikit-learn's
    y = np.array([0, 0, 1, 1, 1, 0])
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.8, 0.35])
    vals, inv = np.unique(-s, return_inverse=True)
    pos = np.bincount(inv, weights=y).astype(float)
    neg = np.bincount(inv, weights=1 - y).astype(float)
    assert same(R.roc_curve(pos, neg, -vals, False), skm.roc_curve(y, s))
    assert R.roc_auc(pos, neg, False) == skm.roc_auc_score(y, s)
    assert R.average_precision(pos, neg, False) == skm.average_precision_score(y, s)


# --------------------------------------------------------------------------------------------
# drop-ins: scikit-learn's results, errors and warnings, on any dtype


@FAST
@given(st.data())
def test_dropins_equal_sklearn(data):
    draw = data.draw
    n = draw(st.integers(1, 200))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = draw(st.sampled_from([np.float64, np.float32, np.float16, np.int64, np.uint8]))
    kind = draw(st.sampled_from(["binary", "binary_str", "multiclass", "multilabel"]))
    weighted = draw(st.booleans())
    w = (rng.random(n) * 2 * (rng.random(n) > 0.2)) if weighted else None
    c = draw(st.integers(3, 4))
    if kind == "multiclass":
        y = rng.integers(0, c, n)
        z = np.round(rng.normal(size=(n, c)), draw(st.sampled_from([0, 3])))
        e = np.exp(z)
        s = e / e.sum(1, keepdims=True)
    elif kind == "multilabel":
        y = rng.integers(0, 2, (n, c))
        s = np.round(rng.normal(size=(n, c)) + y, draw(st.sampled_from([0, 2, 8])))
        s = s.astype(dtype) if np.dtype(dtype).kind == "f" else (s * 10).astype(dtype)
    else:
        y = rng.integers(0, 2, n)
        s = np.round(rng.normal(size=n) + y, draw(st.sampled_from([0, 2, 8])))
        s = s.astype(dtype) if np.dtype(dtype).kind == "f" else (s * 10 + 30).astype(dtype)
        if kind == "binary_str":
            y = np.array(["no", "yes"])[y]
    avg = draw(st.sampled_from([None, "micro", "macro", "weighted", "samples"]))
    calls = []
    if kind in ("binary", "binary_str"):
        pl = None if kind == "binary" else "yes"
        drop = draw(st.booleans())
        calls += [("roc_curve", dict(pos_label=pl, drop_intermediate=drop)),
                  ("precision_recall_curve", dict(pos_label=pl, drop_intermediate=drop)),
                  ("average_precision_score", dict(pos_label=pl or 1, average=avg))]
        calls += [("roc_auc_score", dict(average=avg, max_fpr=draw(st.sampled_from(
            [None, 0.5, 1.0]))))]
    elif kind == "multiclass":
        mc = draw(st.sampled_from(["ovr", "ovo", "raise"]))
        labels = draw(st.sampled_from([None, list(range(c))]))
        calls += [("roc_auc_score", dict(average=avg, multi_class=mc, labels=labels)),
                  ("average_precision_score", dict(average=avg))]
    else:
        calls += [("roc_auc_score", dict(average=avg, max_fpr=draw(st.sampled_from(
            [None, 0.3])))), ("average_precision_score", dict(average=avg))]
    for name, kw in calls:
        ref = run(getattr(skm, name), y, s, sample_weight=w, **kw)
        got = run(getattr(cs, name), y, s, sample_weight=w, **kw)
        if isinstance(ref[0], Exception) or not weighted:
            assert same(got, ref), (name, kw, got, ref)
        else:
            assert close(got[0], ref[0]) and got[1] == ref[1], (name, kw, got, ref)


@FAST
@given(st.data())
def test_dropins_radix_order_equals_sklearn(data):
    """The same cases with the O(N) radix order taken for every size (normally from
    RADIX_MIN scores on)."""
    from confstream import sklearn_ranking as SR

    old, SR.RADIX_MIN = SR.RADIX_MIN, 0
    try:
        test_dropins_equal_sklearn.hypothesis.inner_test(data)
    finally:
        SR.RADIX_MIN = old


def test_dropins_radix_order_on_a_large_tied_stream():
    from confstream import sklearn_ranking as SR

    rng = np.random.default_rng(12)
    n = SR.RADIX_MIN + 999
    y = rng.integers(0, 2, n)
    for dtype in (np.float32, np.float64):
        s = np.round(rng.normal(size=n) + y, 2).astype(dtype)
        s[rng.integers(0, n, 500)] = -0.0  # -0.0 and 0.0 tie; the first one shows
        s[rng.integers(0, n, 500)] = 0.0
        w = rng.random(n)
        assert same(run(cs.roc_curve, y, s, drop_intermediate=False),
                    run(skm.roc_curve, y, s, drop_intermediate=False))
        assert same(run(cs.precision_recall_curve, y, s), run(skm.precision_recall_curve, y, s))
        assert cs.roc_auc_score(y, s) == skm.roc_auc_score(y, s)
        assert cs.average_precision_score(y, s) == skm.average_precision_score(y, s)
        assert close(cs.roc_auc_score(y, s, sample_weight=w),
                     skm.roc_auc_score(y, s, sample_weight=w))


def test_dropin_errors_as_sklearn():
    y3 = [0, 1, 1]
    cases = [
        ("roc_curve", (y3, [0.1, np.nan, 0.3]), {}),
        ("roc_curve", (y3, [0.1, np.inf, 0.3]), {}),
        ("roc_curve", ([0, 1, 2], [0.1, 0.2, 0.3]), {}),
        ("roc_curve", ([0.5, 1, 1], [0.1, 0.2, 0.3]), {}),
        ("roc_curve", ([2, 3, 3], [0.1, 0.2, 0.3]), {}),
        ("roc_curve", ([0, 1], [0.1, 0.2, 0.3]), {}),
        ("roc_curve", (y3, [[0.1, 0.9]] * 3), {}),
        ("average_precision_score", (y3, [0.1, 0.2, 0.3]), {"pos_label": 2}),
        ("average_precision_score", ([2, 3, 3], [0.1, 0.2, 0.3]), {}),
        ("roc_auc_score", ([0, 1, 2], [[0.1, 0.2, 0.7]] * 3), {}),
        ("roc_auc_score", ([0, 1, 2], [[0.1, 0.2, 0.8]] * 3), {"multi_class": "ovr"}),
        ("roc_auc_score", ([0, 1, 2], [[0.1, 0.2, 0.7]] * 3), {"multi_class": "ovo",
                                                              "sample_weight": [1, 1, 1]}),
        ("roc_auc_score", ([0, 1, 2], [[0.1, 0.2, 0.7]] * 3), {"multi_class": "ovr",
                                                              "labels": [0, 2, 1]}),
        ("roc_auc_score", ([0, 0, 0], [0.1, 0.2, 0.3]), {}),
        ("roc_auc_score", ([1, 1, 1], [0.1, 0.2, 0.3]), {"max_fpr": 1.5}),
    ]
    for name, args, kw in cases:
        ref = run(getattr(skm, name), *args, **kw)
        got = run(getattr(cs, name), *args, **kw)
        assert same(got, ref), (name, args, kw, got, ref)


def test_docs_curves_examples_run():
    import pathlib
    import re

    doc = pathlib.Path(__file__).resolve().parents[1] / "docs" / "CURVES.md"
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 6
    ns: dict = {}
    for code in blocks:
        exec(compile(code, str(doc), "exec"), ns)
    assert ns["acc"].bits == 10
    assert ns["report"].curves_exact and len(ns["history"]) == 1


# --------------------------------------------------------------------------------------------
# multi-class average precision: which classes take part (scikit-learn 1.9.1 binarizes y_true
# over the classes present; with a class of the space absent it refuses the (N, C) scores)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_multiclass_average_precision_classes_as_sklearn(data):
    draw = data.draw
    c = draw(st.integers(3, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    present = sorted(draw(st.sets(st.integers(0, c - 1), min_size=1, max_size=c)))
    n = draw(st.integers(len(present), 120))
    y = rng.choice(present, n)
    y[:len(present)] = present
    s = simplex_rows(rng, n, c, np.minimum(y, c - 1), True)
    w = None
    if draw(st.booleans()):  # zero weights too: a class present with weight 0 is present
        w = rng.integers(0, 3, n).astype(float)
    labels = draw(st.sampled_from([None, "shifted"]))
    space = list(range(c)) if labels is None else [v + 10 for v in range(c)]
    yy = y if labels is None else y + 10
    acc = cs.ScoreCurves(num_classes=c) if labels is None else cs.ScoreCurves(labels=space)
    for a, b in splits(draw, n):
        acc.update(yy[a:b], s[a:b], sample_weight=None if w is None else w[a:b])
    acc = cs.ScoreCurves.from_dict(json.loads(json.dumps(acc.to_dict()))) \
        if draw(st.booleans()) else acc
    for avg in ("macro", "weighted", None, "micro"):
        ref, _ = run(skm.average_precision_score, yy, s, average=avg, sample_weight=w)
        got, _ = run(acc.average_precision, average=avg)
        if isinstance(ref, Exception):
            assert isinstance(got, ValueError) and isinstance(ref, ValueError), (avg, got, ref)
            assert "never appeared" in str(got)
        else:
            assert not isinstance(got, Exception), (avg, got)
            assert close(got, ref), (avg, got, ref)
        bounds, _ = run(acc.average_precision_bounds, average=avg)
        assert isinstance(bounds, ValueError) == isinstance(ref, Exception)


def test_seen_classes_travel_and_old_states_derive_them():
    rng = np.random.default_rng(3)
    y = np.array([0, 1, 1, 0, 1, 0])
    s = simplex_rows(rng, 6, 3, y, True)
    w = np.array([1.0, 1, 1, 1, 1, 0])
    acc = cs.ScoreCurves(num_classes=3).update(np.append(y[:5], 2), s, sample_weight=w)
    d = acc.to_dict()
    assert d["seen"] == [0, 1, 2]  # class 2 came with weight 0: present, as for sklearn
    assert cs.from_dict(json.loads(json.dumps(d))) == acc
    with pytest.warns(UserWarning, match="No positive class found"):
        got = acc.average_precision()
    with pytest.warns(UserWarning, match="No positive class found"):
        ref = skm.average_precision_score(np.append(y[:5], 2), s.astype(np.float64),
                                          sample_weight=w)
    assert got == pytest.approx(ref, rel=1e-12)
    old = dict(d)
    del old["seen"]  # a state written before "seen": the classes with mass
    assert cs.from_dict(old)._seen == 0b011
    half = cs.ScoreCurves(num_classes=3).update(y[:2], s[:2])
    assert (half + cs.ScoreCurves(num_classes=3).update([2], s[2:3]))._seen == 0b111
    with pytest.raises(ValueError, match=r"\[2\] never appeared"):
        half.average_precision()
    with pytest.raises(ValueError, match="'seen'"):
        cs.from_dict({**d, "seen": [5]})
