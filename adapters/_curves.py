"""The score curves an adapter streams beside its confusion matrix (``curves=True``).

One rule for Keras' ``ConfusionCallback`` and torch's ``evaluate``: which accumulator the
first prediction calls for, and how a batch's truth and scores are shaped for it. The maths
is the core's (``confstream.ScoreCurves``); nothing is computed here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["check_curves", "curve_options", "new_curves", "curve_batch"]


def curve_options(bits: Any, resolution: Any = "fixed", intervals: Any = None) -> dict:
    """The ``ScoreCurves`` keywords of an adapter's ``curves_bits`` / ``curves_resolution`` /
    ``curves_intervals``."""
    return {"bits": bits, "resolution": resolution, "intervals": intervals}


def check_curves(curves: Any, options: dict) -> bool:
    """``curves`` as a bool, the curves' ``options`` (``curve_options``) checked by the
    accumulator itself (before any epoch, in its words)."""
    if not isinstance(curves, bool):
        raise ValueError(f"curves must be True or False, got {curves!r}")
    if options != curve_options(None):
        from confstream import ScoreCurves

        ScoreCurves(**options)
    return curves


def new_curves(acc: Any, y_pred: np.ndarray, *, multilabel: bool, labels: Any,
               options: dict):
    """The accumulator for predictions like ``y_pred`` (host numpy, after the adapter's own
    squeezing of (N, 1) columns): multi-label, binary (one score or two columns) or
    multi-class (one column per class, class axis 1); ``options`` as ``curve_options``."""
    from confstream import MultilabelScoreCurves, ScoreCurves

    from .generators import _is_float

    if not _is_float(y_pred):
        raise ValueError(f"curves=True needs scores from the model, got predictions of "
                         f"dtype {y_pred.dtype}")
    if multilabel:
        return MultilabelScoreCurves(len(acc.labels), **options)
    width = 1 if y_pred.ndim == 1 else int(y_pred.shape[1])
    if width <= 2:
        if acc.fixed and acc.num_classes != 2:
            raise ValueError(f"curves=True: a {width}-column output gives binary curves but "
                             f"the label space has {acc.num_classes} classes")
        return ScoreCurves(labels=list(labels) if labels is not None else [0, 1], **options)
    if labels is not None:
        return ScoreCurves(labels=list(labels), **options)
    return ScoreCurves(num_classes=width, **options)


def curve_batch(curves: Any, y: Any, y_pred: Any, w: Any, *, multilabel: bool, labels: Any):
    """(truth, scores, weights) of one batch as the curves take them (scores stay what they
    are: numpy, or a CPU torch tensor, bfloat16 included): one-hot truth as class values, a class axis 1 of segmentation scores ``(N, C, ...)`` moved last and flattened
    with the truth (weights repeated per pixel)."""
    y = np.asarray(y)
    if multilabel:
        return y, y_pred, w
    if y_pred.ndim > 2:  # (N, C, H, W) beside (N, H, W) masks
        c = y_pred.shape[1]
        per = int(np.prod(y_pred.shape[2:]))
        moved = y_pred.movedim(1, -1) if hasattr(y_pred, "movedim") else np.moveaxis(
            y_pred, 1, -1)
        y_pred = moved.reshape(-1, c)
        y = y.reshape(-1)
        if w is not None:
            w = np.repeat(np.asarray(w, dtype=np.float64).reshape(-1), per)
    elif y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    elif y.ndim == 2:  # one-hot
        idx = np.argmax(y, axis=1)
        y = idx if labels is None else np.array([labels[i] for i in idx])
    return y, y_pred, w
