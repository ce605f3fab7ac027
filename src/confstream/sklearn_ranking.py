"""One-shot ranking drop-ins with scikit-learn 1.9's names, signatures, errors and warnings.

``roc_auc_score``, ``average_precision_score``, ``roc_curve``, ``precision_recall_curve``:
they hold all the data, so they are exact on any dtype. Each binary problem is reduced to the
positive and negative mass per distinct score (one sort of the scores, then bincounts) and
read out by ``ranking`` with scikit-learn's arithmetic.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from . import _inputs as I
from . import _radix_kernels as RK
from . import ranking as R

RADIX_MIN = 1 << 16  # from this many scores on, a radix order beats numpy's sort here

__all__ = ["roc_auc_score", "average_precision_score", "roc_curve", "precision_recall_curve"]


class InvalidParameterError(ValueError, TypeError):
    """A keyword outside its allowed values (both kinds, as scikit-learn's own class)."""


# --------------------------------------------------------------------------------------------
# input checks, as scikit-learn words them


def _array(x, name):
    a = I.as_array(x, name)
    if a.dtype.kind not in "biufUS" and a.dtype != object:
        raise TypeError(f"{name} of dtype {a.dtype} is not supported")
    return a


def _unique(y):
    """``np.unique`` of labels; small integer ranges by a bincount instead of a sort."""
    y = np.asarray(y).reshape(-1)
    if y.size and y.dtype.kind in "biu":
        lo, hi = int(y.min()), int(y.max())
        if hi - lo < 1 << 20:
            seen = np.nonzero(np.bincount((y.astype(np.int64) - lo)))[0] + lo
            return seen.astype(y.dtype)
    return np.unique(y)


def _type_of_target(y) -> str:
    if y.ndim == 2 and y.shape[1] > 1:
        if y.dtype.kind in "biuf" and np.isin(y, [0, 1]).all():
            return "multilabel-indicator"
        if y.dtype.kind == "f" and (y != np.round(y)).any():
            return "continuous-multioutput"
        return "multiclass-multioutput"
    if y.ndim > 2 or (y.ndim == 2 and y.shape[1] == 0):
        return "unknown"
    flat = y.reshape(-1)
    if flat.dtype.kind == "f" and flat.size and (flat != np.round(flat)).any():
        return "continuous"
    if _unique(flat).shape[0] > 2:
        return "multiclass"
    return "binary"


def _consistent(*arrays):
    lengths = [a.shape[0] for a in arrays if a is not None]
    if len(set(lengths)) > 1:
        raise ValueError("Found input variables with inconsistent numbers of samples: %r"
                         % [int(n) for n in lengths])


def _column(a):
    if a.ndim == 2 and a.shape[1] == 1:
        return a.reshape(-1)
    if a.ndim != 1:
        raise ValueError("y should be a 1d array, got an array of shape {} instead.".format(
            a.shape))
    return a


def _finite(a):
    if a.dtype.kind == "f":
        if np.isnan(a).any():
            raise ValueError("Input contains NaN.")
        if np.isinf(a).any():
            raise ValueError(f"Input contains infinity or a value too large for {a.dtype!r}.")


def _weights(sample_weight, n):
    if sample_weight is None:
        return None
    w = _column(np.asarray(I.as_array(sample_weight, "sample_weight"), dtype=np.float64))
    if w.shape[0] != n:
        raise ValueError(f"sample_weight.shape == {w.shape}, expected {(n,)}!")
    _finite(w)
    return w


def _pos_label(pos_label, y):
    classes = _unique(y)
    if pos_label is None:
        ok = classes.dtype.kind not in "OUS" and classes.shape[0] <= 2 and any(
            classes.shape == np.asarray(c).shape and np.all(classes == c)
            for c in ([0, 1], [-1, 1], [0], [-1], [1]))
        if not ok:
            rep = ", ".join(repr(c) for c in classes.tolist())
            raise ValueError(f"y_true takes value in {{{rep}}} and pos_label is not specified: "
                             "either make y_true take value in {0, 1} or {-1, 1} or pass "
                             "pos_label explicitly.")
        return 1
    return pos_label


# --------------------------------------------------------------------------------------------
# one binary problem: mass per distinct score


def _counts(y01, s, w):
    """(pos, neg, thresholds) per distinct score, decreasing; zero-weight samples dropped."""
    if w is not None:
        keep = w != 0
        if not keep.any():
            raise ValueError("Sample weights must contain at least one non-zero number.")
        y01, s, w = y01[keep], s[keep], w[keep]
    if s.dtype in (np.float32, np.float64) and s.ndim == 1 and s.shape[0] >= RADIX_MIN:
        # an O(N) stable radix order of the scores' bits (scikit-learn sorts): the same
        # distinct scores, each shown by its first sample (as scikit-learn's thresholds)
        s = np.ascontiguousarray(s)
        first, pos, neg = RK.radix_runs(s.view(np.uint32 if s.dtype == np.float32 else np.uint64),
                                        s.dtype == np.float64, np.ascontiguousarray(y01, bool),
                                        np.zeros(0) if w is None else
                                        np.ascontiguousarray(w, np.float64), w is not None)
        return pos[::-1], neg[::-1], s[first][::-1]
    vals, inv = np.unique(s, return_inverse=True)
    inv = inv.reshape(-1)
    k = vals.shape[0]
    if w is None:
        pos = np.bincount(inv[y01], minlength=k).astype(np.float64)
        neg = np.bincount(inv[~y01], minlength=k).astype(np.float64)
    else:
        pos = np.bincount(inv, weights=np.where(y01, w, 0.0), minlength=k)
        neg = np.bincount(inv, weights=np.where(y01, 0.0, w), minlength=k)
    return pos[::-1], neg[::-1], vals[::-1]


def _binary_input(y_true, y_score, pos_label, sample_weight):
    yt = _array(y_true, "y_true")
    y_type = _type_of_target(yt)
    if not (y_type == "binary" or (y_type == "multiclass" and pos_label is not None)):
        raise ValueError("{0} format is not supported".format(y_type))
    s = _array(y_score, "y_score")
    w = None if sample_weight is None else I.as_array(sample_weight, "sample_weight")
    _consistent(yt, s, w)
    yt, s = _column(yt), _column(s)
    _finite(yt)
    _finite(s)
    pos_label = _pos_label(pos_label, yt)
    w = _weights(sample_weight, yt.shape[0])
    if yt.shape[0] == 0:
        raise ValueError("Found array with 0 sample(s) (shape=(0,)) while a minimum of 1 is "
                         "required.")
    return np.asarray(yt == pos_label).reshape(-1).astype(bool), s, w


def roc_curve(y_true, y_score, *, pos_label=None, sample_weight=None, drop_intermediate=True):
    """``sklearn.metrics.roc_curve``, exact on any dtype: (fpr, tpr, thresholds)."""
    y01, s, w = _binary_input(y_true, y_score, pos_label, sample_weight)
    pos, neg, thr = _counts(y01, s, w)
    return R.roc_curve(pos, neg, thr, w is not None, drop_intermediate)


def precision_recall_curve(y_true, y_score, *, pos_label=None, sample_weight=None,
                           drop_intermediate=False):
    """``sklearn.metrics.precision_recall_curve``: (precision, recall, thresholds)."""
    y01, s, w = _binary_input(y_true, y_score, pos_label, sample_weight)
    pos, neg, thr = _counts(y01, s, w)
    return R.precision_recall_curve(pos, neg, thr, w is not None, drop_intermediate)


def _binary_roc_auc(y01, s, w, max_fpr=None):
    one_class = _unique(y01).shape[0] != 2
    if one_class:
        return R.roc_auc(np.zeros(1), np.zeros(1), False, max_fpr, one_class=True)
    _finite(s)
    pos, neg, _ = _counts(np.asarray(y01, bool), s, w)
    return R.roc_auc(pos, neg, w is not None, max_fpr, one_class=False)


def _binary_ap(y_true, s, w, pos_label):
    y01, s, w = _binary_input(y_true, s, pos_label, w)
    pos, neg, _ = _counts(y01, s, w)
    return R.average_precision(pos, neg, w is not None)


def _average_binary_score(metric, y_true, y_score, average, w):
    options = (None, "micro", "macro", "weighted", "samples")
    if average not in options:
        raise ValueError("average has to be one of {0}".format(options))
    y_type = _type_of_target(y_true)
    if y_type not in ("binary", "multilabel-indicator"):
        raise ValueError("{0} format is not supported".format(y_type))
    if y_type == "binary":
        return metric(y_true, y_score, w)
    _consistent(y_true, y_score, w)
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score)
    if y_score.ndim == 1:
        y_score = y_score.reshape(-1, 1)
    axis = 1
    score_w, avg_w = w, None
    if average == "micro":
        if score_w is not None:
            score_w = np.repeat(score_w, y_true.shape[1])
        y_true, y_score = y_true.ravel(), y_score.ravel()
    elif average == "weighted":
        avg_w = (np.sum(y_true * w.reshape(-1, 1), axis=0) if w is not None
                 else np.sum(y_true, axis=0))
        if np.isclose(np.sum(avg_w), 0):
            return 0
    elif average == "samples":
        avg_w, score_w, axis = score_w, None, 0
    if y_true.ndim == 1:
        y_true = y_true.reshape(-1, 1)
    if y_score.ndim == 1:
        y_score = y_score.reshape(-1, 1)
    k = y_score.shape[axis]
    score = np.zeros((k,))
    for c in range(k):
        yc = np.take(y_true, [c], axis=axis).ravel()
        sc = np.take(y_score, [c], axis=axis).ravel()
        score[c] = metric(yc, sc, score_w)
    if average is not None:
        if avg_w is not None:
            score[avg_w == 0] = 0
        return float(np.average(score, weights=avg_w))
    return score


def roc_auc_score(y_true, y_score, *, average="macro", sample_weight=None, max_fpr=None,
                  multi_class="raise", labels=None):
    """``sklearn.metrics.roc_auc_score``, exact on any dtype (every keyword)."""
    if average not in (None, "micro", "macro", "samples", "weighted"):
        raise InvalidParameterError(f"The 'average' parameter of roc_auc_score must be a str among "
                         f"{{'weighted', 'samples', 'micro', 'macro'}} or None. Got "
                         f"{average!r} instead.")
    if multi_class not in ("raise", "ovr", "ovo"):
        raise InvalidParameterError(f"The 'multi_class' parameter of roc_auc_score must be a str among "
                         f"{{'raise', 'ovr', 'ovo'}}. Got {multi_class!r} instead.")
    if max_fpr is not None and (isinstance(max_fpr, bool) or not isinstance(
            max_fpr, (int, float, np.integer, np.floating)) or not 0 < max_fpr <= 1):
        raise InvalidParameterError(f"The 'max_fpr' parameter of roc_auc_score must be a float in the "
                         f"range (0.0, 1.0] or None. Got {max_fpr!r} instead.")
    yt = _array(y_true, "y_true")
    y_type = _type_of_target(yt)
    s = np.asarray(_array(y_score, "y_score"))
    if s.dtype.kind in "biu":
        s = s.astype(np.float64)
    _finite(s)
    w = None if sample_weight is None else _column(np.asarray(
        I.as_array(sample_weight, "sample_weight"), dtype=np.float64))

    def binary_metric(y, sc, ww):
        return _binary_roc_auc(np.asarray(y).astype(bool) if np.asarray(y).dtype.kind != "b"
                               else y, _column(np.asarray(sc)), ww, max_fpr)

    if y_type == "multiclass" or (y_type == "binary" and s.ndim == 2 and s.shape[1] > 2):
        if max_fpr is not None and max_fpr != 1.0:
            raise ValueError("Partial AUC computation not available in multiclass setting, "
                             "'max_fpr' must be set to `None`, received `max_fpr={0}` "
                             "instead".format(max_fpr))
        if multi_class == "raise":
            raise ValueError("multi_class must be in ('ovo', 'ovr')")
        return _multiclass_roc_auc(_column(yt), s, labels, multi_class=multi_class,
                                   average=average, w=w)
    if y_type == "binary":
        classes = _unique(yt)
        y01 = (_column(yt) == classes[-1]) if classes.shape[0] == 2 else np.zeros(
            yt.shape[0], bool)
        return _average_binary_score(binary_metric, y01, s, average, w)
    return _average_binary_score(binary_metric, yt, s, average, w)


def _multiclass_roc_auc(y_true, y_score, labels, *, multi_class, average, w):
    if not y_score.ndim == 2:
        raise ValueError("`y_score` needs to be of shape `(n_samples, n_classes)`, since "
                         "`y_true` contains multiple classes. Got "
                         f"`y_score.shape={y_score.shape}`.")
    if not np.allclose(1, y_score.sum(axis=1)):
        raise ValueError("Target scores need to be probabilities for multiclass roc_auc, i.e. "
                         "they should sum up to 1.0 over classes")
    options = ("macro", "weighted", None)
    if multi_class == "ovr":
        options = ("micro",) + options
    if average not in options:
        raise ValueError("average must be one of {0} for multiclass problems".format(options))
    if average is None and multi_class == "ovo":
        raise NotImplementedError("average=None is not implemented for multi_class='ovo'.")
    if labels is not None:
        labels = _column(np.asarray(labels))
        classes = np.unique(labels)
        if len(classes) != len(labels):
            raise ValueError("Parameter 'labels' must be unique")
        if not np.array_equal(classes, labels):
            raise ValueError("Parameter 'labels' must be ordered")
        if len(classes) != y_score.shape[1]:
            raise ValueError("Number of given labels, {0}, not equal to the number of columns "
                             "in 'y_score', {1}".format(len(classes), y_score.shape[1]))
        if len(np.setdiff1d(y_true, classes)):
            raise ValueError("'y_true' contains labels not in parameter 'labels'")
    else:
        classes = np.unique(y_true)
        if len(classes) != y_score.shape[1]:
            raise ValueError("Number of classes in y_true not equal to the number of columns "
                             "in 'y_score'")

    def metric(y, sc, ww):
        return _binary_roc_auc(np.asarray(y).astype(bool), np.asarray(sc).ravel(), ww)

    if multi_class == "ovo":
        if w is not None:
            raise ValueError("sample_weight is not supported for multiclass one-vs-one ROC "
                             "AUC, 'sample_weight' must be None in this case.")
        enc = np.searchsorted(classes, y_true)
        present = np.unique(enc)
        scores, prevalence = [], []
        for a, b in combinations(present, 2):
            am, bm = enc == a, enc == b
            ab = am | bm
            prevalence.append(np.average(ab))
            sa = metric(am[ab], y_score[ab, a], None)
            sb = metric(bm[ab], y_score[ab, b], None)
            scores.append((sa + sb) / 2)
        return np.average(np.array(scores),
                          weights=np.array(prevalence) if average == "weighted" else None)
    y_bin = (y_true.reshape(-1, 1) == classes.reshape(1, -1)).astype(np.int64)
    return _average_binary_score(metric, y_bin, y_score, average, w)


def average_precision_score(y_true, y_score, *, average="macro", pos_label=1,
                            sample_weight=None):
    """``sklearn.metrics.average_precision_score``, exact on any dtype."""
    if average not in (None, "micro", "samples", "weighted", "macro"):
        raise InvalidParameterError(f"The 'average' parameter of average_precision_score must be a str "
                         f"among {{'micro', 'samples', 'weighted', 'macro'}} or None. Got "
                         f"{average!r} instead.")
    yt = _array(y_true, "y_true")
    s = np.asarray(_array(y_score, "y_score"))
    w = None if sample_weight is None else _column(np.asarray(
        I.as_array(sample_weight, "sample_weight"), dtype=np.float64))
    y_type = _type_of_target(yt)
    present = _unique(yt)
    if y_type == "binary":
        if present.shape[0] == 2 and pos_label not in present:
            raise ValueError(f"pos_label={pos_label} is not a valid label. It should be one "
                             f"of {present}")
    elif y_type == "multilabel-indicator" and pos_label != 1:
        raise ValueError("Parameter pos_label is fixed to 1 for multilabel-indicator y_true. "
                         "Do not set pos_label or set pos_label to 1.")
    elif y_type == "multiclass":
        if pos_label != 1:
            raise ValueError("Parameter pos_label is fixed to 1 for multiclass y_true. "
                             "Do not set pos_label or set pos_label to 1.")
        yt = (_column(yt).reshape(-1, 1) == present.reshape(1, -1)).astype(np.int64)
        if not s.shape == yt.shape:
            raise ValueError("`y_score` needs to be of shape `(n_samples, n_classes)`, since "
                             "`y_true` contains multiple classes. Got "
                             f"`y_score.shape={s.shape}`.")

    def metric(y, sc, ww):
        return _binary_ap(y, sc, ww, pos_label)

    return _average_binary_score(metric, yt, s, average, w)

