"""The drop-ins and the accumulators' other metrics against scikit-learn's functions."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import confstream as cs
from _reference import ZERO_DIVISION, cuts, raises_same, recorded, same, split

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def labelled(draw, min_classes=1):
    n = draw(st.integers(1, 100))
    c = draw(st.integers(min_classes, 5))
    pool = draw(st.sampled_from([list(range(c)), ["a", "b", "c", "d", "e"][:c], [-2, 5, 9, 11, 40][:c]]))
    t = np.array(draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n)))
    p = np.array(draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n)))
    w = None
    if draw(st.booleans()):
        w = np.array(draw(st.lists(st.floats(0.01, 5, allow_nan=False), min_size=n, max_size=n)))
    return pool, t, p, w


def assert_same_call(ours, ref, *args, **kw):
    """Same result (arrays bit-equal, floats equal, nan == nan) and same warnings."""
    if raises_same(lambda: recorded(ref, *args, **kw), lambda: recorded(ours, *args, **kw)):
        return
    r_ref, w_ref = recorded(ref, *args, **kw)
    r_our, w_our = recorded(ours, *args, **kw)
    assert w_our == w_ref
    if isinstance(r_ref, tuple):
        assert len(r_ref) == len(r_our)
        for a, b in zip(r_ref, r_our):
            _eq(a, b)
    else:
        _eq(r_ref, r_our)


def _eq(a, b):
    if a is None:
        assert b is None
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, (dict, str)):
        assert same(a, b) if isinstance(a, dict) else a == b
    else:
        assert same(float(a), float(b)), (a, b)


@SETTINGS
@given(labelled(), st.data())
def test_classification_report_drop_in(case, data):
    pool, t, p, w = case
    kw = {"digits": data.draw(st.integers(0, 5)), "zero_division": data.draw(ZERO_DIVISION)}
    if data.draw(st.booleans()):
        kw["labels"] = data.draw(st.lists(st.sampled_from(pool), min_size=1, unique=True))
    for output_dict in (False, True):
        assert_same_call(cs.classification_report, skm.classification_report, t, p,
                         sample_weight=w, output_dict=output_dict, **kw)


@SETTINGS
@given(labelled(), st.data())
def test_prfs_drop_in(case, data):
    pool, t, p, w = case
    average = data.draw(st.sampled_from([None, "micro", "macro", "weighted", "binary"]))
    kw = {"average": average, "zero_division": data.draw(ZERO_DIVISION),
          "beta": data.draw(st.sampled_from([1.0, 0.5, 2.0, 0.0, np.inf]))}
    if average == "binary":
        kw["pos_label"] = data.draw(st.sampled_from(pool))
    elif data.draw(st.booleans()):
        kw["labels"] = data.draw(st.lists(st.sampled_from(pool), min_size=1, unique=True))
    assert_same_call(cs.precision_recall_fscore_support, skm.precision_recall_fscore_support,
                     t, p, sample_weight=w, **kw)


@SETTINGS
@given(labelled(), st.data())
def test_confusion_matrix_drop_in(case, data):
    pool, t, p, w = case
    kw = {"normalize": data.draw(st.sampled_from([None, "true", "pred", "all"]))}
    if data.draw(st.booleans()):
        kw["labels"] = data.draw(st.lists(st.sampled_from(pool), min_size=1, unique=True))
    assert_same_call(cs.confusion_matrix, skm.confusion_matrix, t, p, sample_weight=w, **kw)


@SETTINGS
@given(labelled(min_classes=1), st.data())
def test_scalar_metrics_drop_in(case, data):
    pool, t, p, w = case
    assert_same_call(cs.balanced_accuracy_score, skm.balanced_accuracy_score, t, p,
                     sample_weight=w, adjusted=data.draw(st.booleans()))
    assert_same_call(cs.matthews_corrcoef, skm.matthews_corrcoef, t, p, sample_weight=w)
    assert_same_call(cs.cohen_kappa_score, skm.cohen_kappa_score, t, p, sample_weight=w,
                     weights=data.draw(st.sampled_from([None, "linear", "quadratic"])))
    average = data.draw(st.sampled_from([None, "micro", "macro", "weighted"]))
    assert_same_call(cs.jaccard_score, skm.jaccard_score, t, p, sample_weight=w,
                     average=average, zero_division=data.draw(st.sampled_from(["warn", 0, 1])))


@SETTINGS
@given(st.integers(1, 60), st.integers(2, 6), st.booleans(), st.data())
def test_multilabel_drop_ins(n, L, weighted, data):
    t = np.array(data.draw(st.lists(st.lists(st.integers(0, 1), min_size=L, max_size=L),
                                    min_size=n, max_size=n)))
    p = np.array(data.draw(st.lists(st.lists(st.integers(0, 1), min_size=L, max_size=L),
                                    min_size=n, max_size=n)))
    w = np.array(data.draw(st.lists(st.integers(1, 4), min_size=n, max_size=n)), float) \
        if weighted else None
    assert_same_call(cs.multilabel_confusion_matrix, skm.multilabel_confusion_matrix, t, p,
                     sample_weight=w)
    assert_same_call(cs.multilabel_confusion_matrix, skm.multilabel_confusion_matrix, t, p,
                     sample_weight=w, samplewise=True)
    average = data.draw(st.sampled_from([None, "micro", "macro", "weighted"]))
    zd = data.draw(st.sampled_from(["warn", 0, 1]))
    assert_same_call(cs.precision_recall_fscore_support, skm.precision_recall_fscore_support,
                     t, p, sample_weight=w, average=average, zero_division=zd)
    assert_same_call(cs.jaccard_score, skm.jaccard_score, t, p, sample_weight=w,
                     average=average, zero_division=zd)
    # samples averages: exact sums, so equal to numpy's pairwise mean within a few ulp
    for fn, ref in ((cs.precision_recall_fscore_support, skm.precision_recall_fscore_support),
                    (cs.jaccard_score, skm.jaccard_score)):
        r_ref, w_ref = recorded(ref, t, p, sample_weight=w, average="samples", zero_division=zd)
        r_our, w_our = recorded(fn, t, p, sample_weight=w, average="samples", zero_division=zd)
        assert w_our == w_ref
        r_ref = r_ref if isinstance(r_ref, tuple) else (r_ref,)
        r_our = r_our if isinstance(r_our, tuple) else (r_our,)
        for a, b in zip(r_ref, r_our):
            assert (a is None and b is None) or a == pytest.approx(b, rel=1e-14, abs=1e-300)


@SETTINGS
@given(labelled(min_classes=2), st.data())
def test_accumulator_metrics_equal_sklearn_on_all_data(case, data):
    pool, t, p, w = case
    acc = cs.ConfusionMatrix()
    for a, b in split(len(t), data.draw(cuts(len(t)))):
        acc.update(t[a:b], p[a:b], sample_weight=None if w is None else w[a:b])
    assert_same_call(lambda *a, **k: acc.balanced_accuracy(), skm.balanced_accuracy_score,
                     t, p, sample_weight=w)
    assert_same_call(lambda *a, **k: acc.matthews_corrcoef(), skm.matthews_corrcoef,
                     t, p, sample_weight=w)
    assert_same_call(lambda *a, **k: acc.cohen_kappa(), skm.cohen_kappa_score,
                     t, p, sample_weight=w)
    for average in (None, "micro", "macro", "weighted"):
        assert_same_call(lambda *a, **k: acc.jaccard(average=average, zero_division=0),
                         skm.jaccard_score, t, p, sample_weight=w, average=average,
                         zero_division=0)


def test_specificity_is_recall_of_the_negatives():
    rng = np.random.default_rng(5)
    t, p = rng.integers(0, 4, 2000), rng.integers(0, 4, 2000)
    acc = cs.ConfusionMatrix().update(t, p)
    spec = acc.specificity()
    for k in range(4):
        # specificity of class k = recall of "not k" in the one-vs-rest problem
        ref = skm.recall_score(t != k, p != k)
        assert spec[k] == pytest.approx(ref, rel=1e-15)
    assert acc.specificity(average="macro") == pytest.approx(spec.mean(), rel=1e-15)
    ml = cs.MultilabelConfusionMatrix(3).update(rng.integers(0, 2, (50, 3)), rng.random((50, 3)))
    assert ml.specificity().shape == (3,)


def test_mean_iou_for_segmentation_masks():
    rng = np.random.default_rng(6)
    t = rng.integers(0, 5, (4, 32, 32)).astype(np.uint8)
    p = rng.integers(0, 5, (4, 32, 32)).astype(np.uint8)
    t[0, :4] = 255
    acc = cs.ConfusionMatrix(num_classes=5, ignore_index=255)
    for i in range(4):
        acc.update(t[i:i + 1], p[i:i + 1])
    keep = t.reshape(-1) != 255
    tf, pf = t.reshape(-1)[keep], p.reshape(-1)[keep]
    np.testing.assert_array_equal(acc.jaccard(), skm.jaccard_score(tf, pf, average=None))
    assert acc.jaccard(average="macro") == skm.jaccard_score(tf, pf, average="macro")
