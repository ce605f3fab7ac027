"""Counts to metrics: pure functions, no state.

The arithmetic follows scikit-learn's operation by operation (same numpy calls on arrays of
the same dtype), so that results from the same sums are bit-identical, not merely close.
"""

from __future__ import annotations

import math
import sys
import warnings
from fractions import Fraction
from dataclasses import dataclass
from typing import Optional

import numpy as np

__all__ = ["UndefinedMetricWarning", "Sums", "SampleStats", "mcm", "prfs", "samples_prfs",
           "jaccard", "specificity", "balanced_accuracy", "matthews_corrcoef", "cohen_kappa",
           "normalize_confusion"]


class UndefinedMetricWarning(UserWarning):
    """A metric is ill-defined (a division by zero); same messages as scikit-learn.

    When scikit-learn has been imported, the warnings raised are of a subclass of this class
    and of ``sklearn.exceptions.UndefinedMetricWarning``, so that filters and
    ``pytest.warns`` written for either class catch them. confstream never imports
    scikit-learn for this: a filter on scikit-learn's class needs that class, so it is
    already imported wherever such a filter exists.
    """


_BOTH = {}


def _both_classes(ours, module, name):
    """A subclass of ``ours`` and of ``module.name`` when that module is already imported."""
    mod = sys.modules.get(module)
    theirs = getattr(mod, name, None) if mod is not None else None
    if not isinstance(theirs, type) or issubclass(ours, theirs):
        return ours
    key = (ours, theirs)
    cls = _BOTH.get(key)
    if cls is None:
        cls = type(ours.__name__, (ours, theirs), {
            "__module__": ours.__module__, "__qualname__": ours.__qualname__,
            "__doc__": ours.__doc__})
        _BOTH[key] = cls
    return cls


def warning_class():
    """The class of the UndefinedMetricWarning to raise now (see UndefinedMetricWarning)."""
    return _both_classes(UndefinedMetricWarning, "sklearn.exceptions", "UndefinedMetricWarning")


def warn_undefined(msg, stacklevel):
    warnings.warn(msg, warning_class(), stacklevel=stacklevel + 1)


@dataclass
class Sums:
    """Per-label sums, exactly as scikit-learn's bincounts produce them."""

    tp: np.ndarray
    pred: np.ndarray
    true: np.ndarray
    total: float  # samples, or the sum of weights


@dataclass
class SampleStats:
    """Multi-label per-sample statistics, kept as histograms.

    hp[tp, n_pred], hr[tp, n_true], hf[tp, n_pred + n_true] count samples;
    weighted holds the same histograms summing the samples' weights.
    """

    hp: np.ndarray
    hr: np.ndarray
    hf: np.ndarray
    weighted: Optional[tuple]
    zero_weight: int
    n: int


def check_zero_division(zero_division):
    if isinstance(zero_division, str) and zero_division == "warn":
        return np.float64(0.0)
    if isinstance(zero_division, (int, float, np.floating, np.integer)):  # bools too, as sklearn
        if zero_division in (0, 1):
            return np.float64(zero_division)
        if np.isnan(zero_division):
            return np.nan
    raise ValueError(
        f'zero_division must be "warn", 0, 1 or np.nan, got {zero_division!r}'
    )


def mcm(tp_sum, pred_sum, true_sum, total) -> np.ndarray:
    """(k, 2, 2) ``[[tn, fp], [fn, tp]]`` as ``multilabel_confusion_matrix`` builds it."""
    fp = pred_sum - tp_sum
    fn = true_sum - tp_sum
    tp = tp_sum
    tn = total - tp - fp - fn
    return np.stack([tn, fp, fn, tp]).T.reshape(-1, 2, 2)


def _warn_prf(average, modifier, msg_start, result_size):
    axis0, axis1 = "sample", "label"
    if average == "samples":
        axis0, axis1 = axis1, axis0
    msg = (
        "{0} ill-defined and being set to 0.0 {{0}} "
        "no {1} {2}s. Use `zero_division` parameter to control"
        " this behavior.".format(msg_start, modifier, axis0)
    )
    if result_size == 1:
        msg = msg.format("due to")
    else:
        msg = msg.format("in {0}s with".format(axis1))
    warn_undefined(msg, stacklevel=4)


def _divide(numerator, denominator, metric, modifier, *, average, warn_for, zero_division):
    mask = denominator == 0
    denominator = np.array(denominator, dtype=np.float64, copy=True)
    denominator[mask] = 1
    result = np.asarray(numerator, dtype=np.float64) / denominator
    if not np.any(mask):
        return result
    result[mask] = check_zero_division(zero_division)
    if zero_division != "warn" or metric not in warn_for:
        return result
    _warn_prf(average, modifier, f"{metric.capitalize()} is", result.shape[0])
    return result


def _average(a, weights=None):
    return np.average(a, weights=weights)


def _nanaverage(a, weights=None):
    if a.shape[0] == 0:
        return np.nan
    mask = np.isnan(a)
    if np.all(mask):
        return np.nan
    if weights is None:
        return np.nanmean(a)
    weights = np.asarray(weights)
    a, weights = a[~mask], weights[~mask]
    try:
        return _average(a, weights=weights)
    except ZeroDivisionError:
        return _average(a)


def prfs(sums: Sums, *, beta=1.0, average=None, warn_for=("precision", "recall", "f-score"),
         zero_division="warn", sample_weight=None):
    """Precision, recall, F-beta and support from per-label sums (``average`` as sklearn).

    With ``average="samples"`` the sums are per-sample counts (weighted by the samples'
    weights when there are weights, which ``sample_weight`` then holds).
    """
    if beta < 0:
        raise ValueError(f"beta must be non-negative, got {beta!r}")
    m = mcm(sums.tp, sums.pred, sums.true, sums.total)
    tp_sum = m[:, 1, 1]
    pred_sum = tp_sum + m[:, 0, 1]
    true_sum = tp_sum + m[:, 1, 0]
    if average == "micro":
        tp_sum = np.reshape(np.sum(tp_sum), (1,))
        pred_sum = np.reshape(np.sum(pred_sum), (1,))
        true_sum = np.reshape(np.sum(true_sum), (1,))
    beta2 = beta ** 2
    how = {"average": average, "warn_for": warn_for, "zero_division": zero_division}
    precision = _divide(tp_sum, pred_sum, "precision", "predicted", **how)
    recall = _divide(tp_sum, true_sum, "recall", "true", **how)
    if np.isposinf(beta):
        f_score = recall
    elif beta == 0:
        f_score = precision
    else:
        denom = beta2 * true_sum.astype(np.float64) + pred_sum.astype(np.float64)
        f_score = _divide((1 + beta2) * tp_sum.astype(np.float64), denom, "f-score",
                          "true nor predicted", **how)
    weights = true_sum if average == "weighted" else (
        sample_weight if average == "samples" else None)
    if average is not None:
        precision = float(_nanaverage(precision, weights=weights))
        recall = float(_nanaverage(recall, weights=weights))
        f_score = float(_nanaverage(f_score, weights=weights))
        true_sum = None
    return precision, recall, f_score, true_sum


# ---------------------------------------------------------------------------------------------
# 'samples' average from histograms of per-sample statistics


def _hist_mean(hist, whist, score_of, z):
    """Mean (weighted by sample weights when ``whist`` is given) of per-sample scores.

    ``score_of(tp, d)`` gives the score of a histogram cell, None where the per-sample
    denominator is zero: such samples score ``z``, or are left out when ``z`` is nan.
    The sums are exact (fractions), so the result is the correctly rounded mean; numpy's
    pairwise sum over the samples agrees with it to within an ulp or so.
    """
    num = Fraction(0)
    den = Fraction(0)
    count = 0
    for tp, d in zip(*np.nonzero(hist)):
        tp, d = int(tp), int(d)
        c = int(hist[tp, d])
        s = score_of(tp, d)
        if s is None:
            if math.isnan(z):
                continue
            s = z
        w = Fraction(float(whist[tp, d])) if whist is not None else Fraction(c)
        count += c
        num += Fraction(s) * w
        den += w
    if count == 0:
        return np.nan
    if den == 0:  # every weight zero: scikit-learn falls back to the unweighted mean,
        return z  # and every such sample has a zero denominator (tp*w / (d*w)), so scores z
    return float(num / den)


def samples_prfs(st: SampleStats, *, beta=1.0, warn_for=("precision", "recall", "f-score"),
                 zero_division="warn"):
    """Samples-averaged precision, recall and F-beta, as scikit-learn's ``average='samples'``.

    With weights, scikit-learn divides ``tp*w`` by ``d*w``: a sample of weight 0 then has a
    zero denominator too, scores ``zero_division`` with weight 0, and triggers the warning.
    """
    z = float(check_zero_division(zero_division))
    wp, wr, wf = st.weighted if st.weighted is not None else (None, None, None)
    zero_w = st.weighted is not None and st.zero_weight > 0

    def mean(hist, whist, metric, modifier, score_of):
        if (hist[:, 0].sum() > 0 or zero_w) and zero_division == "warn" and metric in warn_for:
            _warn_prf("samples", modifier, f"{metric.capitalize()} is", st.n)
        return _hist_mean(hist, whist, score_of, z)

    def ratio(tp, d):
        return None if d == 0 else tp / d

    precision = mean(st.hp, wp, "precision", "predicted", ratio)
    recall = mean(st.hr, wr, "recall", "true", ratio)
    if np.isposinf(beta):
        f = recall
    elif beta == 0:
        f = precision
    elif beta != 1:
        # hf is keyed by n_pred + n_true, the F denominator only for beta == 1.
        raise ValueError("average='samples' is computed for beta=1 (and 0, inf) only")
    else:
        f = mean(st.hf, wf, "f-score", "true nor predicted",
                 lambda tp, d: None if d == 0 else 2.0 * tp / d)
    return float(precision), float(recall), float(f), None


def samples_jaccard(st: SampleStats, zero_division="warn"):
    """Samples-averaged Jaccard: per sample tp / |true or pred| = tp / (n_pred + n_true - tp)."""
    z = float(check_zero_division(zero_division))
    zero_w = st.weighted is not None and st.zero_weight > 0
    if (st.hf[:, 0].sum() > 0 or zero_w) and zero_division == "warn":
        _warn_prf("samples", "true or predicted", "Jaccard is", st.n)
    whist = st.weighted[2] if st.weighted is not None else None
    return float(_hist_mean(st.hf, whist, lambda tp, d: None if d == 0 else tp / (d - tp), z))


# ---------------------------------------------------------------------------------------------
# other metrics from sums or from the confusion matrix


def jaccard(sums: Sums, average=None, zero_division="warn", sample_weight=None):
    """Jaccard per label or averaged; ``average="samples"`` takes per-sample sums (and the
    samples' weights in ``sample_weight``), as ``prfs``."""
    if average not in (None, "micro", "macro", "weighted", "binary", "samples"):
        raise ValueError(f"average must be None, 'micro', 'macro' or 'weighted', got {average!r}")
    m = mcm(sums.tp, sums.pred, sums.true, sums.total)
    numerator = m[:, 1, 1]
    denominator = m[:, 1, 1] + m[:, 0, 1] + m[:, 1, 0]
    if average == "micro":
        numerator = np.sum(numerator, keepdims=True)
        denominator = np.sum(denominator, keepdims=True)
    score = _divide(numerator, denominator, "jaccard", "true or predicted", average=average,
                    warn_for=("jaccard",), zero_division=zero_division)
    if average is None:
        return score
    weights = None
    if average == "weighted":
        weights = m[:, 1, 0] + m[:, 1, 1]
        if not np.any(weights):
            weights = None
    elif average == "samples":
        weights = sample_weight
    return float(_average(score, weights=weights))


def specificity(sums: Sums, average=None, zero_division="warn"):
    """tn / (tn + fp) per label; averages as for recall (weighted by support)."""
    check_zero_division(zero_division)
    m = mcm(sums.tp, sums.pred, sums.true, sums.total)
    tn, fp = m[:, 0, 0], m[:, 0, 1]
    support = m[:, 1, 1] + m[:, 1, 0]
    if average == "micro":
        tn, fp = np.sum(tn, keepdims=True), np.sum(fp, keepdims=True)
    elif average not in (None, "macro", "weighted"):
        raise ValueError(f"average must be None, 'micro', 'macro' or 'weighted', got {average!r}")
    score = _divide(tn, tn + fp, "specificity", "negative", average=average,
                    warn_for=("specificity",), zero_division=zero_division)
    if average is None:
        return score
    return float(_nanaverage(score, weights=support if average == "weighted" else None))


def balanced_accuracy(cm: np.ndarray, adjusted=False) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        per_class = np.diag(cm) / np.sum(cm, axis=1)
    if np.any(np.isnan(per_class)):
        warnings.warn("y_pred contains classes not in y_true", stacklevel=3)
        per_class = per_class[~np.isnan(per_class)]
    score = np.mean(per_class)
    if adjusted:
        n_classes = per_class.shape[0]
        chance = 1 / n_classes
        score -= chance
        score /= 1 - chance
    return float(score)


def matthews_corrcoef(cm: np.ndarray) -> float:
    t_sum = cm.sum(axis=1, dtype=np.float64)
    p_sum = cm.sum(axis=0, dtype=np.float64)
    n_correct = np.trace(cm, dtype=np.float64)
    n_samples = p_sum.sum()
    cov_ytyp = n_correct * n_samples - np.dot(t_sum, p_sum)
    cov_ypyp = n_samples ** 2 - np.dot(p_sum, p_sum)
    cov_ytyt = n_samples ** 2 - np.dot(t_sum, t_sum)
    cov_ypyp_ytyt = cov_ypyp * cov_ytyt
    if cov_ypyp_ytyt == 0:
        return 0.0
    return float(cov_ytyp / np.sqrt(cov_ypyp_ytyt))


def cohen_kappa(cm: np.ndarray, weights=None, replace_undefined_by=np.nan) -> float:
    if weights not in (None, "linear", "quadratic"):
        raise ValueError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}")
    n_classes = cm.shape[0]
    confusion = cm.astype(np.float64, copy=False)
    sum0 = np.sum(confusion, axis=0)
    sum1 = np.sum(confusion, axis=1)
    numerator = np.outer(sum0, sum1)
    denominator = np.sum(sum0)
    if denominator == 0:
        warnings.warn(
            "`y2` contains no labels that are present in both `y1` and `labels`."
            "`cohen_kappa_score` is undefined and set to the value defined by "
            f"the `replace_undefined_by` param, which is set to {replace_undefined_by}.",
            warning_class(), stacklevel=3)
        return replace_undefined_by
    expected = numerator / denominator
    if weights is None:
        w_mat = np.ones([n_classes, n_classes], dtype=np.float64)
        np.fill_diagonal(w_mat, 0)
    else:
        w_mat = np.zeros([n_classes, n_classes], dtype=np.float64)
        w_mat += np.arange(n_classes)
        w_mat = np.abs(w_mat - w_mat.T) if weights == "linear" else (w_mat - w_mat.T) ** 2
    numerator = np.sum(w_mat * confusion)
    denominator = np.sum(w_mat * expected)
    if denominator == 0:
        warnings.warn(
            "`y1`, `y2` and `labels` have only one label in common. "
            "`cohen_kappa_score` is undefined and set to the value defined by the "
            f"the `replace_undefined_by` param, which is set to {replace_undefined_by}.",
            warning_class(), stacklevel=3)
        return replace_undefined_by
    k = numerator / denominator
    return float(1 - k)


def normalize_confusion(cm: np.ndarray, normalize=None) -> np.ndarray:
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(f"normalize must be one of None, 'true', 'pred', 'all', got {normalize!r}")
    if normalize is None:
        return cm
    with np.errstate(all="ignore"):
        if normalize == "true":
            cm = cm / cm.sum(axis=1, keepdims=True)
        elif normalize == "pred":
            cm = cm / cm.sum(axis=0, keepdims=True)
        else:
            cm = cm / cm.sum()
        return np.nan_to_num(cm)
