"""Curve counts -> ROC / PR curves, AUROC, average precision and their bounds (pure).

Every function takes the per-bin positive and negative mass of the bins that hold data, in
**decreasing** score order (``pos``, ``neg``: float64), and, for the curves, each bin's
threshold. A bin is an interval of scores; when every bin holds one score value (the exact
case, or the drop-ins, whose bins are the distinct scores) the arithmetic below is
scikit-learn 1.9.1's (``sklearn/metrics/_ranking.py``: ``confusion_matrix_at_thresholds``,
``roc_curve``, ``precision_recall_curve``, ``_binary_roc_auc_score``,
``average_precision_score``), step for step, so that results are bit-identical unweighted.
With weights scikit-learn sums one sample at a time and we sum per bin: <= 1e-12 relative.

When a bin holds several score values (the certified case) the point values treat each bin
as one tie, and ``*_bounds`` give intervals that provably contain scikit-learn's value on the
data (proofs in ``roc_auc_bounds`` and ``average_precision_bounds``).
"""

from __future__ import annotations

import warnings

import numpy as np

from . import _curve_kernels as CK
from .metrics import UndefinedMetricWarning

__all__ = ["clf_curve", "roc_curve", "precision_recall_curve", "auc", "roc_auc",
           "average_precision", "roc_auc_bounds", "average_precision_bounds", "slack"]

_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 names it trapz


def slack(n_bins: int) -> float:
    """Outward widening of a bound for floating-point rounding: ours (sums over ``n_bins``
    terms) and scikit-learn's (pairwise sums and a division per point)."""
    return 1e-12 + 8 * np.finfo(np.float64).eps * max(n_bins, 1)


def clf_curve(pos, neg, weighted):
    """(fps, tps) at each bin, as ``confusion_matrix_at_thresholds`` computes them."""
    tps = np.cumsum(np.asarray(pos, dtype=np.float64))
    if weighted:
        fps = np.cumsum(np.asarray(neg, dtype=np.float64))
    else:
        # scikit-learn: fps = 1 + threshold_idxs - tps, threshold_idxs = samples so far - 1
        idx = np.cumsum(np.asarray(pos, np.int64) + np.asarray(neg, np.int64)) - 1
        fps = 1 + idx.astype(np.float64) - tps
    return fps, tps


def roc_curve(pos, neg, thresholds, weighted, drop_intermediate=True):
    """(fpr, tpr, thresholds) as ``sklearn.metrics.roc_curve``."""
    fps, tps = clf_curve(pos, neg, weighted)
    thresholds = np.asarray(thresholds)
    if drop_intermediate and fps.shape[0] > 2:
        keep = np.where(np.concatenate([
            [True], np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), [True]]))[0]
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    tps = np.concatenate([[0.0], tps])
    fps = np.concatenate([[0.0], fps])
    thresholds = np.concatenate([[np.inf], thresholds.astype(np.float64)])
    if fps[-1] <= 0:
        warnings.warn("No negative samples in y_true, false positive value should be "
                      "meaningless", UndefinedMetricWarning, stacklevel=3)
        fpr = np.full(fps.shape, np.nan)
    else:
        fpr = fps / fps[-1]
    if tps[-1] <= 0:
        warnings.warn("No positive samples in y_true, true positive value should be "
                      "meaningless", UndefinedMetricWarning, stacklevel=3)
        tpr = np.full(tps.shape, np.nan)
    else:
        tpr = tps / tps[-1]
    return fpr, tpr, thresholds


def precision_recall_curve(pos, neg, thresholds, weighted, drop_intermediate=False):
    """(precision, recall, thresholds) as ``sklearn.metrics.precision_recall_curve``."""
    fps, tps = clf_curve(pos, neg, weighted)
    thresholds = np.asarray(thresholds)
    if drop_intermediate and fps.shape[0] > 2:
        keep = np.where(np.concatenate([
            [True], np.logical_or(np.diff(tps[:-1]), np.diff(tps[1:])), [True]]))[0]
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    ps = tps + fps
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(ps != 0, np.divide(tps, ps), 0.0)
    if tps[-1] == 0:
        warnings.warn("No positive class found in y_true, recall is set to one for all "
                      "thresholds.", UserWarning, stacklevel=3)
        recall = np.full(tps.shape, 1.0)
    else:
        recall = tps / tps[-1]
    return (np.concatenate((np.flip(precision), [1.0])),
            np.concatenate((np.flip(recall), [0.0])), np.flip(thresholds))


def auc(x, y) -> float:
    """``sklearn.metrics.auc`` (trapezoid, either direction)."""
    if x.shape[0] < 2:
        raise ValueError("At least 2 points are needed to compute area under curve, but "
                         "x.shape = %s" % x.shape)
    direction = 1
    dx = np.diff(x)
    if np.any(dx < 0):
        if np.all(dx <= 0):
            direction = -1
        else:
            raise ValueError("x is neither increasing nor decreasing : {}.".format(x))
    return float(direction * _trapezoid(y, x))


def _check_max_fpr(max_fpr):
    if max_fpr is not None and not (0 < max_fpr <= 1):
        raise ValueError("Expected max_fpr in range (0, 1], got: %r" % max_fpr)


def _one_class(pos, neg) -> bool:
    return not (np.sum(pos) > 0 and np.sum(neg) > 0)


def roc_auc(pos, neg, weighted, max_fpr=None, one_class=None) -> float:
    """``_binary_roc_auc_score``: AUROC (McClish-standardised partial AUC with max_fpr).

    ``one_class``: whether y_true holds one class only (scikit-learn asks of the samples,
    zero-weight ones included); by default, whether the counts do."""
    if _one_class(pos, neg) if one_class is None else one_class:
        warnings.warn("Only one class is present in y_true. ROC AUC score is not defined in "
                      "that case.", UndefinedMetricWarning, stacklevel=3)
        return np.nan
    fpr, tpr, _ = roc_curve(pos, neg, np.zeros(len(pos)), weighted)
    if max_fpr is None or max_fpr == 1:
        return auc(fpr, tpr)
    _check_max_fpr(max_fpr)
    stop = np.searchsorted(fpr, max_fpr, "right")
    x_interp = [fpr[stop - 1], fpr[stop]]
    y_interp = [tpr[stop - 1], tpr[stop]]
    tpr = np.append(tpr[:stop], np.interp(max_fpr, x_interp, y_interp))
    fpr = np.append(fpr[:stop], max_fpr)
    partial_auc = auc(fpr, tpr)
    min_area = 0.5 * max_fpr**2
    max_area = max_fpr
    return 0.5 * (1 + (partial_auc - min_area) / (max_area - min_area))


def average_precision(pos, neg, weighted) -> float:
    """``average_precision_score`` of one binary problem (the step integral)."""
    precision, recall, _ = precision_recall_curve(pos, neg, np.zeros(len(pos)), weighted)
    return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))


_NO_POINTS = np.zeros(0, dtype=np.bool_)


def roc_auc_bounds(pos, neg, max_fpr=None, points=None):
    """(lo, hi) that contain scikit-learn's AUROC of any data with these bin counts;
    ``points`` (bool per bin, or None): the bins that hold one score value.

    Proof. Within a bin the scores are unknown but the bin is an interval: every sample of a
    higher bin scores above every sample of a lower one. On the ROC plane the curve passes
    through the corner ``(F0, T0)`` before the bin and ``(F0 + n, T0 + p)`` after it, and
    between them it is monotone, so over ``[F0, F0 + n]`` it lies between ``T0`` and
    ``T0 + p``. The area (and the area up to ``max_fpr``, cut in the straddling bin) is thus
    between the sums of those two step functions; the McClish standardisation is increasing
    in the partial area. scikit-learn's curve for the data is one such monotone path (its
    ties are straight segments, its dropped points collinear), so its value is inside.
    For the full AUROC: lo = sum_b n_b T0_b / (P N), hi = lo + sum_b p_b n_b / (P N).
    A bin that holds one score value is one tie in scikit-learn's curve too, so its part of
    the curve is known, the straight segment between its corners (``np.interp`` along it
    where ``max_fpr`` cuts it): lo and hi take its trapezoid.
    """
    _check_max_fpr(max_fpr)
    pos = np.asarray(pos, np.float64)
    neg = np.asarray(neg, np.float64)
    big_p, big_n = pos.sum(), neg.sum()
    if not (big_p > 0 and big_n > 0):
        return (np.nan, np.nan)
    t1 = np.cumsum(pos) / big_p
    t0 = t1 - pos / big_p
    f1 = np.cumsum(neg) / big_n
    f0 = f1 - neg / big_n
    eps = slack(len(pos))
    pts = None if points is None or not np.any(points) else np.asarray(points, bool)
    if max_fpr is None or max_fpr == 1:
        if pts is None:
            lo = float(np.sum((f1 - f0) * t0))
            hi = float(np.sum((f1 - f0) * t1))
        else:
            tie = 0.5 * (t0 + t1)
            lo = float(np.sum((f1 - f0) * np.where(pts, tie, t0)))
            hi = float(np.sum((f1 - f0) * np.where(pts, tie, t1)))
        # not clipped to [0, 1] past the slack: scikit-learn's value itself can round to
        # 1.0000000000000002 (seen in a macro average of classes that are all perfect)
        return (max(-eps, lo - eps), min(1.0 + eps, hi + eps))
    width = np.clip(np.minimum(f1, max_fpr) - f0, 0.0, None)
    if pts is None:
        lo, hi = float(np.sum(width * t0)) - eps, float(np.sum(width * t1)) + eps
    else:
        span = f1 - f0
        with np.errstate(divide="ignore", invalid="ignore"):
            end = np.where(span > 0, t0 + (t1 - t0) * width / span, t0)
        tie = 0.5 * (t0 + end)
        lo = float(np.sum(width * np.where(pts, tie, t0))) - eps
        hi = float(np.sum(width * np.where(pts, tie, t1))) + eps
    min_area, max_area = 0.5 * max_fpr**2, max_fpr

    def mc(a):
        return 0.5 * (1 + (a - min_area) / (max_area - min_area))

    return (mc(max(lo, -eps)), mc(min(hi, max_area + eps)))


def average_precision_bounds(pos, neg, weighted, points=None):
    """(lo, hi) that contain scikit-learn's average precision of any data with these counts;
    ``points`` (bool per bin, or None): the bins that hold one score value.

    Proof. AP = (1/P) sum_k dTP_k * prec_k over scikit-learn's distinct thresholds, prec_k
    = TP_k / (TP_k + FP_k) at the end of step k. Because a bin is an interval of scores, the
    cumulative (TP, FP) at every bin edge is the same whatever the order inside the bins, so
    the sum splits into independent per-bin terms. Take a bin with ``p`` positives and ``n``
    negatives after ``(T0, F0)``; a step inside it that ends at ``(T0 + t, F0 + f)``,
    ``0 <= f <= n``, contributes ``dt * (T0 + t) / (T0 + t + F0 + f)``.

    * upper: ``(T0 + t) / (T0 + t + F0)`` bounds each step's precision and increases with
      ``t <= p``, so the bin gives at most ``p (T0 + p) / (T0 + p + F0)`` (all its positives
      first, tied).
    * lower: with ``g(t) = (T0 + t) / (T0 + t + c)``, ``c = F0 + n``, each step gives at least
      ``dt * g(t_end)``; g increases, so that is at least ``sum_{i=1..p} g(i)`` for unit
      samples (all negatives first, positives one by one) and at least ``integral_0^p g =
      p - c log(1 + p / (T0 + c))`` for any masses (weights).

    Ties change nothing: a tie group is one step, covered above. A bin that holds one score
    value is such a group, a single step of known size: ``p (T0 + p) / (T0 + p + F0 + n)``
    for lo and hi. The bounds are widened by ``slack`` for rounding.
    """
    pos = np.ascontiguousarray(pos, np.float64)
    neg = np.ascontiguousarray(neg, np.float64)
    big_p = pos.sum()
    if not big_p > 0:
        return (0.0, 0.0)
    pts = _NO_POINTS if points is None else np.ascontiguousarray(points, np.bool_)
    lo, hi = CK.ap_bounds(pos, neg, not weighted, pts)
    eps = slack(len(pos))
    return (max(-eps, lo / big_p - eps), min(1.0 + eps, hi / big_p + eps))
