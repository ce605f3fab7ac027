"""One-shot drop-ins with scikit-learn's names, signatures and results, computed by the engine.

>>> from confstream import classification_report
>>> print(classification_report([0, 1, 1], [0, 1, 0], digits=1))  # doctest: +NORMALIZE_WHITESPACE
              precision    recall  f1-score   support
<BLANKLINE>
           0        0.5       1.0       0.7         1
           1        1.0       0.5       0.7         2
<BLANKLINE>
    accuracy                            0.7         3
   macro avg        0.8       0.8       0.7         3
weighted avg        0.8       0.7       0.7         3
<BLANKLINE>

Each function checks its arguments and targets in scikit-learn 1.9's order, with its
exception types and words (confstream's detail, such as the position of a bad value, comes
after them), counts everything in one accumulator, and derives the result from the counts
with scikit-learn's arithmetic. The samples average of multi-label data is computed from
exact per-sample counts (over the requested labels) in scikit-learn's operations.
See docs/DROP_INS.md for the table of drop-ins and the deviations.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import _inputs as I
from . import metrics as M
from .confusion import ConfusionMatrix, LabelTypeError, MultilabelConfusionMatrix, _key_of
from .report import build_report

__all__ = ["classification_report", "confusion_matrix", "multilabel_confusion_matrix",
           "precision_recall_fscore_support", "balanced_accuracy_score", "cohen_kappa_score",
           "matthews_corrcoef", "jaccard_score", "accuracy_score", "precision_score",
           "recall_score", "f1_score", "fbeta_score", "hamming_loss", "zero_one_loss",
           "InvalidParameterError"]

_EMPTY = ("Found empty input array (e.g., `y_true` or `y_pred`) while a minimum of 1 "
          "sample is required.")


# ---------------------------------------------------------------------------------------------
# parameters: scikit-learn's validate_params, with its messages


class InvalidParameterError(ValueError, TypeError):
    """A parameter of a drop-in has an invalid type or value (scikit-learn's words).

    Once scikit-learn is imported, the errors raised are also instances of
    ``sklearn.utils._param_validation.InvalidParameterError``.
    """


class _C:
    def __init__(self, ok, text):
        self.ok, self.text = ok, text

    def __str__(self):
        return self.text


def _is_arraylike(x):
    if I.is_sparse(x):
        return False
    return (hasattr(x, "__len__") or hasattr(x, "shape") or hasattr(x, "__array__")) and \
        not np.isscalar(x)


def _instance(t, name):
    return _C(lambda v: isinstance(v, t), f"an instance of {name!r}")


_ARRAY = _C(_is_arraylike, "an array-like")
_SPARSE = _C(I.is_sparse, "a sparse array or matrix")
_NONE = _C(lambda v: v is None, "None")
_BOOL = _C(lambda v: isinstance(v, (bool, np.bool_)),
           f"an instance of 'bool' or an instance of "
           f"'{np.bool_.__module__}.{np.bool_.__qualname__}'")
_NAN = _C(lambda v: not isinstance(v, numbers.Integral) and isinstance(v, numbers.Real)
          and math.isnan(v), "numpy.nan")


def _str_options(options):
    # ``options`` is a set built from the same literal as scikit-learn's, so that it lists
    # its members in the same order (a set's order depends on the process' string hashes)
    return _C(lambda v: isinstance(v, str) and v in options,
              "a str among {%s}" % ", ".join(repr(o) for o in options))


def _real_options(options):
    return _C(lambda v: isinstance(v, numbers.Real) and v in options,
              "a float among {%s}" % ", ".join(repr(o) for o in options))


def _interval(integral, lo, hi, closed):
    def ok(v):
        if not isinstance(v, numbers.Integral if integral else numbers.Real):
            return False
        if not isinstance(v, numbers.Integral) and math.isnan(v):
            return False
        if lo is not None and (v < lo if closed in ("left", "both") else v <= lo):
            return False
        if hi is not None and (v > hi if closed in ("right", "both") else v >= hi):
            return False
        return True

    def show(b, inf):
        return inf if b is None else (b if integral else float(b))

    text = (f"{'an int' if integral else 'a float'} in the range "
            f"{'[' if closed in ('left', 'both') else '('}{show(lo, '-inf')}, "
            f"{show(hi, 'inf')}{']' if closed in ('right', 'both') else ')'}")
    return _C(ok, text)


_Y = [_ARRAY, _SPARSE]
_OPT_ARRAY = [_ARRAY, _NONE]
_AVERAGE = [_str_options({"micro", "macro", "samples", "weighted", "binary"}), _NONE]
_POS_LABEL = [_instance(numbers.Real, "float"), _instance(str, "str"), _BOOL, _NONE]
_ZERO_DIVISION = [_real_options({0.0, 1.0}), _NAN, _str_options({"warn"})]
_BETA = [_interval(False, 0.0, None, "both")]


def _check_params(func, spec, values):
    for name, constraints in spec:
        v = values[name]
        if any(c.ok(v) for c in constraints):
            continue
        text = (str(constraints[0]) if len(constraints) == 1 else
                ", ".join(str(c) for c in constraints[:-1]) + " or " + str(constraints[-1]))
        cls = M._both_classes(InvalidParameterError, "sklearn.utils._param_validation",
                              "InvalidParameterError")
        raise cls(f"The {name!r} parameter of {func} must be {text}. Got {v!r} instead.")


_SETWISE = [("y_true", _Y), ("y_pred", _Y), ("labels", _OPT_ARRAY), ("pos_label", _POS_LABEL),
            ("average", _AVERAGE), ("sample_weight", _OPT_ARRAY),
            ("zero_division", _ZERO_DIVISION)]


# ---------------------------------------------------------------------------------------------
# targets: scikit-learn's _check_targets, in its order of checks


def _read(y, name):
    if I.is_sparse(y):
        return y
    return I.as_array(y, name)


def _num_samples(x):
    if len(x.shape) == 0:
        raise TypeError("Input should have at least 1 dimension i.e. satisfy "
                        f"`len(x.shape) > 0`, got scalar `{x!r}` instead.")
    return int(x.shape[0])


def _consistent(*arrays):
    lengths = [_num_samples(x) for x in arrays if x is not None]
    if len(set(lengths)) > 1:
        raise ValueError("Found input variables with inconsistent numbers of samples: %r"
                         % lengths)


def _finite(data, name):
    bad = ~np.isfinite(data)
    if bad.any():
        i = int(np.flatnonzero(bad.reshape(-1))[0])
        v = data.reshape(-1)[i]
        what = "NaN" if np.isnan(v) else f"infinity or a value too large for {data.dtype!r}"
        return i, f"Input {name} contains {what}."
    return None


def _type_of_target(y, name):
    """scikit-learn's type_of_target; 'multiclass' stands for binary or multiclass (the
    engine tells them apart from the labels it counts)."""
    if I.is_sparse(y):
        if y.shape[1] > 1:
            data = y.tocsr().data
            if len(data) == 0:
                return "multilabel-indicator"
            # scikit-learn: one distinct stored value, or two of which one is 0, integral
            lo, hi = data.min(), data.max()
            few = lo == hi or ((lo == 0 or hi == 0) and bool(((data == lo) | (data == hi)).all()))
            integral = data.dtype.kind == "f" and all(
                math.isfinite(v) and float(v).is_integer() for v in (lo, hi))
            if few and (y.dtype.kind in "biu" or integral):
                return "multilabel-indicator"
            if data.dtype.kind == "f" and np.any(data != data.astype(np.int64)):
                return "continuous-multioutput"
            return "multiclass-multioutput"
        return "multiclass"
    if y.ndim == 2 and y.shape[1] > 1 and y.size and y.dtype.kind in "biuf":
        lo, hi = y.min(), y.max()
        two = bool(((y == lo) | (y == hi)).all())
        integral = y.dtype.kind != "f" or (math.isfinite(lo) and math.isfinite(hi)
                                           and float(lo).is_integer() and float(hi).is_integer())
        if two and integral:
            return "multilabel-indicator"
    if y.ndim not in (1, 2):
        return "unknown"
    if not min(y.shape):
        return "multiclass" if y.ndim == 1 else "unknown"
    suffix = "-multioutput" if y.ndim == 2 and y.shape[1] > 1 else ""
    if y.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            odd = y != y.astype(np.int64).astype(y.dtype)
        if odd.any():
            bad = _finite(y, name)
            if bad is not None:
                raise ValueError(f"{bad[1]} ({name}{I.position(y.shape, bad[0])} = "
                                 f"{I.describe_value(y.reshape(-1)[bad[0]])})")
            return "continuous" + suffix
    return "multiclass" + suffix


def _continuous_detail(*named):
    """Where the first value that is no class label is, for a 'continuous' target."""
    for y, ty, name in named:
        if ty.startswith("continuous") and not I.is_sparse(y):
            odd = np.flatnonzero((y != np.floor(y)).reshape(-1))
            if odd.size:
                i = int(odd[0])
                return (f" ({name}{I.position(y.shape, i)} = "
                        f"{I.describe_value(y.reshape(-1)[i])} is not a class label)")
    return ""


def _named_type(y, ty):
    """The type as scikit-learn names it in messages (binary: at most two distinct values)."""
    if ty != "multiclass":
        return ty
    return "binary" if np.unique(np.asarray(y)).shape[0] <= 2 else "multiclass"


def _targets(y_true, y_pred, ones_weight=False):
    """(y_type, t, p): 'multiclass' (1-D labels) or 'multilabel-indicator' (2-D, maybe sparse).

    ``ones_weight``: as scikit-learn's confusion_matrix, which checks the lengths with a
    weight of one per sample of y_true when no weights are given.
    """
    t, p = _read(y_true, "y_true"), _read(y_pred, "y_pred")
    if ones_weight and len(t.shape):
        _consistent(t, p, t)
    _consistent(t, p)
    tt, tp = _type_of_target(t, "y_true"), _type_of_target(p, "y_pred")
    if _num_samples(t) < 1 or _num_samples(p) < 1:
        raise ValueError(_EMPTY)
    types = {tt, tp}
    if len(types) > 1:
        raise ValueError("Classification metrics can't handle a mix of {0} and {1} targets{2}"
                         .format(_named_type(t, tt), _named_type(p, tp),
                                 _continuous_detail((t, tt, "y_true"), (p, tp, "y_pred"))))
    y_type = types.pop()
    if y_type not in ("multiclass", "multilabel-indicator"):
        raise ValueError("{0} is not supported{1}".format(
            y_type, _continuous_detail((t, tt, "y_true"), (p, tp, "y_pred"))))
    if y_type == "multiclass":
        if I.is_sparse(t) or I.is_sparse(p):
            raise TypeError("Sparse input is only supported when targets are of multilabel type")
        t = t.reshape(-1) if t.ndim == 2 else t
        p = p.reshape(-1) if p.ndim == 2 else p
        if (t.dtype.kind == "U") != (p.dtype.kind == "U"):
            raise LabelTypeError("Mix of label input types (string and number); Got "
                                 f"{np.unique(t)} and {np.unique(p)}.")
    elif t.shape[1] != p.shape[1]:
        raise ValueError("Multi-label binary indicator input with different numbers of labels")
    return y_type, t, p


def _weights(sample_weight, t, p):
    """scikit-learn's _check_sample_weight (weights keep their dtype)."""
    if sample_weight is None:
        return None
    w = I.as_array(sample_weight, "sample_weight")
    _consistent(t, p, w)
    n = _num_samples(t)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight must be numeric, got dtype {w.dtype}")
    if w.dtype.kind == "f":
        bad = _finite(w, "sample_weight")
        if bad is not None:
            raise ValueError(f"{bad[1]} (sample_weight{I.position(w.shape, bad[0])} = "
                             f"{I.describe_value(w.reshape(-1)[bad[0]])})")
    if w.ndim != 1:
        raise ValueError(f"Sample weights must be 1D array or scalar, got {w.ndim}D array. "
                         f"Expected either a scalar value or a 1D array of length {n}.")
    if not np.any(w):
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return w


class _Data:
    """Validated targets and weights, and the accumulator over all of them."""

    def __init__(self, y_true, y_pred, sample_weight, *, weights_later=False, matrix=False):
        self.y_type, self.t, self.p = _targets(y_true, y_pred,
                                               ones_weight=matrix and sample_weight is None)
        self.multilabel = self.y_type == "multilabel-indicator"
        self.weight_error = None
        try:
            self.w = _weights(sample_weight, self.t, self.p)
        except (ValueError, TypeError) as exc:
            if not weights_later:
                raise
            self.w, self.weight_error = None, exc  # scikit-learn checks the labels first
        self.n = _num_samples(self.t)
        if self.multilabel:
            self.acc = MultilabelConfusionMatrix(self.t.shape[1])
        else:
            self.acc = ConfusionMatrix()
        self.acc.update(self.t, self.p, sample_weight=self.w)

    def raise_weight_error(self):
        if self.weight_error is not None:
            raise self.weight_error

    @property
    def weighted(self):
        return self.w is not None

    def present(self):
        return self.acc._sums(None)[2] if not self.multilabel else np.arange(self.t.shape[1])

    def sums(self, labels=None):
        """Per-label sums over ``labels`` (scikit-learn's rules; labels not seen get zeros)."""
        if self.multilabel:
            sums, _, _ = self.acc._sums(None)
            sel = _ml_columns(labels, self.t.shape[1])
            sums = M.Sums(sums.tp[sel], sums.pred[sel], sums.true[sel], sums.total)
        else:
            sums, _, present = self.acc._sums(None)
            if labels is None:
                sel = present
            else:
                sel = np.asarray(labels)
                index = {_key_of(v): i for i, v in enumerate(present.tolist())}
                idx = np.array([index.get(_key_of(v), -1) for v in sel.tolist()], np.int64)
                ok = idx >= 0

                def take(a):
                    out = np.zeros(len(idx), dtype=a.dtype)
                    out[ok] = a[idx[ok]]
                    return out

                sums = M.Sums(take(sums.tp), take(sums.pred), take(sums.true), sums.total)
        if self.weighted:
            # scikit-learn's weighted bincounts are float64 whatever the weights, except (in
            # numpy) a bincount of no value at all: multi-label columns with no 1 anywhere
            arrays = [np.asarray(a, np.float64) for a in (sums.tp, sums.pred, sums.true)]
            if self.multilabel:
                counts = (self.acc._tp[sel], self.acc._pred[sel], self.acc._true[sel])
                arrays = [a if c.sum() else np.zeros(len(a), np.int64)
                          for a, c in zip(arrays, counts)]
            sums = M.Sums(*arrays, np.sum(self.w))
        return sums, sel

    def per_sample(self, labels=None):
        """Per-sample (tp, n_pred, n_true) over the label columns ``labels``, and their
        number, as scikit-learn's samplewise counts (weighted when there are weights)."""
        L = self.t.shape[1]
        cols = None if labels is None else _ml_columns(labels, L)
        t, p = I.sparse_rows(self.t), I.sparse_rows(self.p)
        if I.is_sparse(t) and I.is_sparse(p):  # row counts straight from CSR, O(stored)
            tb, pb = (t != 0).tocsr(), (p != 0).tocsr()
            if cols is not None:
                tb, pb = tb[:, cols].tocsr(), pb[:, cols].tocsr()
            counts = [np.diff(x.indptr).astype(np.int64)
                      for x in (tb.multiply(pb).tocsr(), pb, tb)]
            tp, npred, ntrue = counts
            if self.weighted:
                tp, npred, ntrue = tp * self.w, npred * self.w, ntrue * self.w
            return tp, npred, ntrue, (L if cols is None else len(cols))
        tp = np.zeros(self.n, np.int64)
        npred = np.zeros(self.n, np.int64)
        ntrue = np.zeros(self.n, np.int64)
        for a, b in I.row_block_bounds(self.n, L):
            bt, bp = I.dense_rows(t, a, b) != 0, I.dense_rows(p, a, b) != 0
            if cols is not None:
                bt, bp = bt[:, cols], bp[:, cols]
            tp[a:b] = np.count_nonzero(bt & bp, axis=1)
            npred[a:b] = np.count_nonzero(bp, axis=1)
            ntrue[a:b] = np.count_nonzero(bt, axis=1)
        if self.weighted:
            tp, npred, ntrue = tp * self.w, npred * self.w, ntrue * self.w
        return tp, npred, ntrue, (L if cols is None else len(cols))


def _ml_columns(labels, L):
    """Label columns of multi-label data, checked as scikit-learn checks them."""
    if labels is None:
        return np.arange(L)
    sel = np.asarray(labels)
    if sel.size == 0:
        return np.zeros(0, np.int64)
    full = np.concatenate([sel, np.setdiff1d(np.arange(L), sel, assume_unique=True)])
    if full.shape != (L,) or np.any(full != np.arange(L)):
        if np.max(full) > L - 1:
            raise ValueError("All labels must be in [0, n labels) for multilabel targets. "
                             "Got %d > %d" % (np.max(full), L - 1))
        if np.min(full) < 0:
            raise ValueError("All labels must be in [0, n labels) for multilabel targets. "
                             "Got %d < 0" % np.min(full))
    return sel.astype(np.int64)


def _not_multilabel(data):
    if data.multilabel:
        raise ValueError("multilabel-indicator is not supported")


# ---------------------------------------------------------------------------------------------
# precision, recall, F, support


def _set_wise_labels(data, average, labels, pos_label):
    """scikit-learn's _check_set_wise_labels, on the labels the engine counted."""
    import warnings

    options = (None, "micro", "macro", "weighted", "samples")
    if average == "binary":
        present = data.present()
        if not data.multilabel and len(present) <= 2:
            if pos_label not in present:
                if len(present) >= 2:
                    raise ValueError(f"pos_label={pos_label} is not a valid label. It "
                                     f"should be one of {present}")
            return [pos_label]
        y_type = "multilabel-indicator" if data.multilabel else "multiclass"
        opts = list(options)
        if y_type == "multiclass":
            opts.remove("samples")
        raise ValueError("Target is %s but average='binary'. Please choose another average "
                         "setting, one of %r." % (y_type, opts))
    if pos_label not in (None, 1):
        warnings.warn(
            "Note that pos_label (set to %r) is ignored when average != 'binary' (got %r). "
            "You may use labels=[pos_label] to specify a single positive class."
            % (pos_label, average), UserWarning, stacklevel=4)
    return labels


def _samplewise_refused():
    return ValueError("Samplewise metrics are not available outside of multilabel "
                      "classification.")


def _samples_sums(data, labels):
    tp, npred, ntrue, _ = data.per_sample(labels)
    return M.Sums(tp, npred, ntrue, 0), (data.w if data.weighted else None)


def _prfs(data, beta, *, labels, pos_label, average, warn_for, zero_division):
    labels = _set_wise_labels(data, average, labels, pos_label)
    data.raise_weight_error()
    if average == "samples":
        if not data.multilabel:
            raise _samplewise_refused()
        sums, w = _samples_sums(data, labels)
        return M.prfs(sums, beta=beta, average="samples", warn_for=warn_for,
                      zero_division=zero_division, sample_weight=w)
    sums, _ = data.sums(labels)
    return M.prfs(sums, beta=beta, average=average, warn_for=warn_for,
                  zero_division=zero_division)


def precision_recall_fscore_support(y_true, y_pred, *, beta=1.0, labels=None, pos_label=1,
                                    average=None, warn_for=("precision", "recall", "f-score"),
                                    sample_weight=None, zero_division="warn"):
    """``sklearn.metrics.precision_recall_fscore_support``, computed by the engine."""
    _check_params("precision_recall_fscore_support",
                  _SETWISE[:2] + [("beta", _BETA)] + _SETWISE[2:5]
                  + [("warn_for", [_instance(list, "list"), _instance(tuple, "tuple"),
                                   _instance(set, "set")])] + _SETWISE[5:], locals())
    return _one_of_prfs(None, y_true, y_pred, sample_weight, beta=beta, labels=labels,
                        pos_label=pos_label, average=average, warn_for=warn_for,
                        zero_division=zero_division)


def _one_of_prfs(which, y_true, y_pred, sample_weight, **prfs):
    """``_prfs`` (its keywords in ``prfs``) on the data; its ``which``-th value (all four
    for None)."""
    data = _Data(y_true, y_pred, sample_weight, weights_later=True)
    out = _prfs(data, **prfs)
    return out if which is None else out[which]


def precision_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary",
                    sample_weight=None, zero_division="warn"):
    """``sklearn.metrics.precision_score``, computed by the engine."""
    _check_params("precision_score", _SETWISE, locals())
    return _one_of_prfs(0, y_true, y_pred, sample_weight, beta=1.0, labels=labels,
                        pos_label=pos_label, average=average, warn_for=("precision",),
                        zero_division=zero_division)


def recall_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary",
                 sample_weight=None, zero_division="warn"):
    """``sklearn.metrics.recall_score``, computed by the engine."""
    _check_params("recall_score", _SETWISE, locals())
    return _one_of_prfs(1, y_true, y_pred, sample_weight, beta=1.0, labels=labels,
                        pos_label=pos_label, average=average, warn_for=("recall",),
                        zero_division=zero_division)


def fbeta_score(y_true, y_pred, *, beta, labels=None, pos_label=1, average="binary",
                sample_weight=None, zero_division="warn"):
    """``sklearn.metrics.fbeta_score``, computed by the engine."""
    _check_params("fbeta_score", _SETWISE[:2] + [("beta", _BETA)] + _SETWISE[2:], locals())
    return _one_of_prfs(2, y_true, y_pred, sample_weight, beta=beta, labels=labels,
                        pos_label=pos_label, average=average, warn_for=("f-score",),
                        zero_division=zero_division)


def f1_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary",
             sample_weight=None, zero_division="warn"):
    """``sklearn.metrics.f1_score``, computed by the engine."""
    _check_params("f1_score", _SETWISE, locals())
    return _one_of_prfs(2, y_true, y_pred, sample_weight, beta=1, labels=labels,
                        pos_label=pos_label, average=average, warn_for=("f-score",),
                        zero_division=zero_division)


def jaccard_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary",
                  sample_weight=None, zero_division="warn"):
    """``sklearn.metrics.jaccard_score``, computed by the engine."""
    spec = _SETWISE[:-1] + [("zero_division", [_real_options({0, 1}),
                                               _str_options({"warn"})])]
    _check_params("jaccard_score", spec, locals())
    data = _Data(y_true, y_pred, sample_weight, weights_later=True)
    labels = _set_wise_labels(data, average, labels, pos_label)
    data.raise_weight_error()
    if average == "samples":
        if not data.multilabel:
            raise _samplewise_refused()
        sums, w = _samples_sums(data, labels)
        return M.jaccard(sums, "samples", zero_division, sample_weight=w)
    sums, _ = data.sums(labels)
    return M.jaccard(sums, average, zero_division)


# ---------------------------------------------------------------------------------------------
# reports and matrices


def classification_report(y_true, y_pred, *, labels=None, target_names=None, sample_weight=None,
                          digits=2, output_dict=False, zero_division="warn"):
    """``sklearn.metrics.classification_report``, computed by the engine."""
    _check_params("classification_report",
                  [("y_true", _Y), ("y_pred", _Y), ("labels", _OPT_ARRAY),
                   ("target_names", _OPT_ARRAY), ("sample_weight", _OPT_ARRAY),
                   ("digits", [_interval(True, 0, None, "left")]), ("output_dict", [_BOOL]),
                   ("zero_division", _ZERO_DIVISION)], locals())
    data = _Data(y_true, y_pred, sample_weight)
    if labels is not None and np.asarray(labels).size == 0 and not output_dict and not (
            target_names is not None and len(target_names)):
        # scikit-learn fails on max() of the (empty) row names
        raise ValueError("max() arg is an empty sequence (labels=[]: a report needs at "
                         "least one label)")
    if data.multilabel:
        sums, sel = data.sums(labels)
        ssums, w = _samples_sums(data, labels)

        def samples_avg():
            return M.prfs(ssums, average="samples", zero_division=zero_division,
                          sample_weight=w)

        rep = build_report(sums, sel, target_names, labels_given=labels is not None,
                           micro_is_accuracy=False, digits=digits,
                           zero_division=zero_division, samples=samples_avg)
    else:
        present = data.present()
        sums, sel = data.sums(labels)
        micro_is_accuracy = labels is None or set(np.asarray(labels).tolist()) >= set(
            present.tolist())
        rep = build_report(sums, sel, target_names, labels_given=labels is not None,
                           micro_is_accuracy=micro_is_accuracy, digits=digits,
                           zero_division=zero_division)
    return rep.to_dict() if output_dict else str(rep)


def confusion_matrix(y_true, y_pred, *, labels=None, sample_weight=None, normalize=None):
    """``sklearn.metrics.confusion_matrix``, computed by the engine.

    With integer weights the counts are int64, exact; a sum past int64 raises.
    """
    _check_params("confusion_matrix",
                  [("y_true", [_ARRAY]), ("y_pred", [_ARRAY]), ("labels", _OPT_ARRAY),
                   ("sample_weight", _OPT_ARRAY),
                   ("normalize", [_str_options({"true", "pred", "all"}), _NONE])], locals())
    data = _Data(y_true, y_pred, sample_weight, matrix=True)
    _not_multilabel(data)
    acc = data.acc
    if labels is not None:
        _require_a_true_label(acc, labels, "At least one label specified must be in y_true")
    cm, _ = acc._present_matrix(labels)
    if data.weighted and data.w.dtype.kind in "iub" and cm.dtype != np.int64:
        cm = cm.astype(np.int64)
    return M.normalize_confusion(cm, normalize)


def _require_a_true_label(acc, labels, message):
    """scikit-learn's confusion_matrix refuses ``labels`` none of which is in y_true."""
    if np.asarray(labels).size == 0:
        raise ValueError("'labels' should contain at least one label.")
    rows = acc.sample_counts.sum(axis=1)
    true_keys = {k for k, r in zip(acc.labels, rows) if r > 0}
    if not any(_key_of(v) in true_keys for v in np.asarray(labels).tolist()):
        raise ValueError(message)


def multilabel_confusion_matrix(y_true, y_pred, *, sample_weight=None, labels=None,
                                samplewise=False):
    """``sklearn.metrics.multilabel_confusion_matrix``, computed by the engine."""
    _check_params("multilabel_confusion_matrix",
                  [("y_true", _Y), ("y_pred", _Y), ("sample_weight", _OPT_ARRAY),
                   ("labels", _OPT_ARRAY), ("samplewise", [_BOOL])], locals())
    data = _Data(y_true, y_pred, sample_weight)
    if samplewise:
        if not data.multilabel:
            raise _samplewise_refused()
        tp, npred, ntrue, width = data.per_sample(labels)
        fp, fn = npred - tp, ntrue - tp
        tn = (data.w * width if data.weighted else width) - tp - fp - fn
        return np.stack([tn, fp, fn, tp]).T.reshape(-1, 2, 2)
    sums, _ = data.sums(labels)
    return M.mcm(sums.tp, sums.pred, sums.true, sums.total)


# ---------------------------------------------------------------------------------------------
# scores of the confusion matrix


def balanced_accuracy_score(y_true, y_pred, *, sample_weight=None, adjusted=False):
    """``sklearn.metrics.balanced_accuracy_score``, computed by the engine."""
    _check_params("balanced_accuracy_score",
                  [("y_true", [_ARRAY]), ("y_pred", [_ARRAY]), ("sample_weight", _OPT_ARRAY),
                   ("adjusted", [_BOOL])], locals())
    data = _Data(y_true, y_pred, sample_weight, matrix=True)
    _not_multilabel(data)
    return data.acc.balanced_accuracy(adjusted=adjusted)


def cohen_kappa_score(y1, y2, *, labels=None, weights=None, sample_weight=None,
                      replace_undefined_by=np.nan):
    """``sklearn.metrics.cohen_kappa_score``, computed by the engine."""
    _check_params("cohen_kappa_score",
                  [("y1", [_ARRAY]), ("y2", [_ARRAY]), ("labels", _OPT_ARRAY),
                   ("weights", [_str_options({"linear", "quadratic"}), _NONE]),
                   ("sample_weight", _OPT_ARRAY),
                   ("replace_undefined_by", [_interval(False, -1.0, 1.0, "both"), _NAN])],
                  locals())
    data = _Data(y1, y2, sample_weight, matrix=True)
    _not_multilabel(data)
    if labels is not None:
        _require_a_true_label(
            data.acc, labels, "At least one label in `labels` must be present in `y1` (even "
            "though `cohen_kappa_score` is otherwise agnostic to the order of `y1` and `y2`).")
    cm, _ = data.acc._present_matrix(labels)
    return M.cohen_kappa(cm, weights, replace_undefined_by)


def matthews_corrcoef(y_true, y_pred, *, sample_weight=None):
    """``sklearn.metrics.matthews_corrcoef``, computed by the engine."""
    _check_params("matthews_corrcoef", [("y_true", [_ARRAY]), ("y_pred", [_ARRAY]),
                                        ("sample_weight", _OPT_ARRAY)], locals())
    data = _Data(y_true, y_pred, sample_weight)
    _not_multilabel(data)
    return data.acc.matthews_corrcoef()


def _correct(data):
    """The number (or weight) of exactly right samples, and the total (or total weight)."""
    if data.multilabel:
        _, _, st = data.acc._sums(None)
        L = data.t.shape[1]
        diag = np.arange(L + 1)
        hf = st.weighted[2] if data.weighted else st.hf
        return hf[diag, 2 * diag].sum(), (st.n if not data.weighted else data.acc._wsum)
    counts = data.acc.counts if data.weighted else data.acc.sample_counts
    total = data.acc._wsum if data.weighted else int(data.acc.sample_counts.sum())
    return np.trace(counts), total


def accuracy_score(y_true, y_pred, *, normalize=True, sample_weight=None):
    """``sklearn.metrics.accuracy_score``, computed by the engine (subset accuracy for
    multi-label data)."""
    _check_params("accuracy_score", [("y_true", _Y), ("y_pred", _Y), ("normalize", [_BOOL]),
                                     ("sample_weight", _OPT_ARRAY)], locals())
    data = _Data(y_true, y_pred, sample_weight)
    return _accuracy(data, normalize)


def _accuracy(data, normalize):
    right, total = _correct(data)
    if normalize:
        return float(np.float64(right) / np.float64(total))
    return float(right)


def zero_one_loss(y_true, y_pred, *, normalize=True, sample_weight=None):
    """``sklearn.metrics.zero_one_loss``, computed by the engine."""
    _check_params("zero_one_loss", [("y_true", _Y), ("y_pred", _Y), ("normalize", [_BOOL]),
                                    ("sample_weight", _OPT_ARRAY)], locals())
    data = _Data(y_true, y_pred, sample_weight)
    score = _accuracy(data, normalize)
    if normalize:
        return 1 - score
    if data.weighted:
        return np.sum(data.w) - score
    return data.n - score


def hamming_loss(y_true, y_pred, *, sample_weight=None):
    """``sklearn.metrics.hamming_loss``, computed by the engine."""
    _check_params("hamming_loss", [("y_true", _Y), ("y_pred", _Y),
                                   ("sample_weight", _OPT_ARRAY)], locals())
    data = _Data(y_true, y_pred, sample_weight)
    if data.multilabel:
        if data.weighted:
            # scikit-learn's dot product of the per-sample numbers of differing labels with
            # the weights: from the exact per-sample counts, the same operation
            tp, npred, ntrue = _unweighted_per_sample(data)
            differences = np.dot(npred + ntrue - 2 * tp, data.w)
            weight_average = np.average(data.w)
        else:
            sums, _ = data.sums(None)
            differences = np.sum(sums.pred - sums.tp) + np.sum(sums.true - sums.tp)
            weight_average = 1.0
        return float(differences) / (data.t.shape[0] * data.t.shape[1] * weight_average)
    counts = data.acc.counts if data.weighted else data.acc.sample_counts
    wrong = counts.sum() - np.trace(counts) if not data.weighted else \
        counts[~np.eye(len(counts), dtype=bool)].sum()  # no cancellation: the wrong cells
    _, total = _correct(data)
    return float(np.float64(wrong) / np.float64(total))


def _unweighted_per_sample(data):
    w, data.w = data.w, None
    try:
        return data.per_sample(None)[:3]
    finally:
        data.w = w
