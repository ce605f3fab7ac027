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
"""

from __future__ import annotations

import warnings

import numpy as np

from . import _inputs as I
from . import metrics as M
from .confusion import ConfusionMatrix, MultilabelConfusionMatrix

__all__ = ["classification_report", "confusion_matrix", "multilabel_confusion_matrix",
           "precision_recall_fscore_support", "balanced_accuracy_score", "cohen_kappa_score",
           "matthews_corrcoef", "jaccard_score"]

_EMPTY = ("Found empty input array (e.g., `y_true` or `y_pred`) while a minimum of 1 "
          "sample is required.")


def _is_multilabel(t: np.ndarray) -> bool:
    return t.ndim == 2 and t.shape[1] > 1


def _accumulate(y_true, y_pred, sample_weight=None):
    """One accumulator over all the data: multi-label for 2-D indicators, else labels."""
    if sample_weight is not None and np.ndim(sample_weight) != 1:
        raise ValueError(f"Sample weights must be 1D array or scalar, got "
                         f"{np.ndim(sample_weight)}D array.")
    t = I.as_array(y_true, "y_true")
    p = I.as_array(y_pred, "y_pred")
    if _is_multilabel(t) or _is_multilabel(p):
        if not (_is_multilabel(t) and _is_multilabel(p)):
            raise ValueError(
                "Classification metrics can't handle a mix of multilabel-indicator and "
                "multiclass targets")
        if t.shape[1] != p.shape[1]:
            raise ValueError("Multi-label binary indicator input with different numbers of labels")
        if p.dtype.kind == "f" and not np.isin(p, (0, 1)).all():
            raise ValueError("y_pred must be a 0/1 indicator matrix (got scores)")
        acc = MultilabelConfusionMatrix(t.shape[1])
    else:
        for name, a in (("y_true", t), ("y_pred", p)):
            if a.ndim == 2 and a.shape[1] == 1:
                continue
            if a.ndim != 1:
                raise ValueError(f"{name} must be 1-D labels or a 2-D indicator, got shape {a.shape}")
        if t.reshape(-1).shape[0] != p.reshape(-1).shape[0]:
            raise ValueError(
                f"Found input variables with inconsistent numbers of samples: "
                f"[{t.shape[0]}, {p.shape[0]}]")
        acc = ConfusionMatrix()
        t, p = t.reshape(-1), p.reshape(-1)
    if t.shape[0] == 0:
        raise ValueError(_EMPTY)
    acc.update(t, p, sample_weight=sample_weight)
    return acc


def classification_report(y_true, y_pred, *, labels=None, target_names=None, sample_weight=None,
                          digits=2, output_dict=False, zero_division="warn"):
    """``sklearn.metrics.classification_report``, computed by the engine."""
    acc = _accumulate(y_true, y_pred, sample_weight)
    rep = acc.report(labels=labels, target_names=target_names, digits=digits,
                     zero_division=zero_division)
    return rep.to_dict() if output_dict else str(rep)


def _set_wise_labels(acc, average, labels, pos_label):
    options = (None, "micro", "macro", "weighted", "samples")
    if average not in options and average != "binary":
        raise ValueError("average has to be one of " + str(options))
    multilabel = isinstance(acc, MultilabelConfusionMatrix)
    if average == "binary":
        if not multilabel:
            _, _, present = acc._sums()
            if len(present) <= 2:
                if pos_label not in present.tolist():
                    if len(present) >= 2:
                        raise ValueError(f"pos_label={pos_label} is not a valid label. It "
                                         f"should be one of {present}")
                return [pos_label]
            opts = [o for o in options if o != "samples"]
            raise ValueError("Target is multiclass but average='binary'. Please "
                             "choose another average setting, one of %r." % (opts,))
        raise ValueError("Target is multilabel-indicator but average='binary'. Please "
                         "choose another average setting, one of %r." % (list(options),))
    if pos_label not in (None, 1):
        warnings.warn(
            "Note that pos_label (set to %r) is ignored when average != 'binary' (got %r). "
            "You may use labels=[pos_label] to specify a single positive class."
            % (pos_label, average), UserWarning, stacklevel=3)
    if average == "samples" and not multilabel:
        raise ValueError("Sample-based precision, recall, fscore is not meaningful outside "
                         "multilabel classification. See the accuracy_score instead.")
    return labels


def precision_recall_fscore_support(y_true, y_pred, *, beta=1.0, labels=None, pos_label=1,
                                    average=None, warn_for=("precision", "recall", "f-score"),
                                    sample_weight=None, zero_division="warn"):
    """``sklearn.metrics.precision_recall_fscore_support``, computed by the engine."""
    M.check_zero_division(zero_division)
    acc = _accumulate(y_true, y_pred, sample_weight)
    labels = _set_wise_labels(acc, average, labels, pos_label)
    if average == "binary":
        # scikit-learn runs the per-class computation on [pos_label] with average="binary",
        # which changes only the warning's wording ("due to") and averages one value.
        sums, _, _ = acc._sums(labels)
        return M.prfs(sums, beta=beta, average="binary", warn_for=warn_for,
                      zero_division=zero_division)
    return acc.precision_recall_fscore_support(beta=beta, labels=labels, average=average,
                                               warn_for=warn_for, zero_division=zero_division)


def confusion_matrix(y_true, y_pred, *, labels=None, sample_weight=None, normalize=None):
    """``sklearn.metrics.confusion_matrix``, computed by the engine."""
    acc = _accumulate(y_true, y_pred, sample_weight)
    if isinstance(acc, MultilabelConfusionMatrix):
        raise ValueError("multilabel-indicator is not supported")
    if labels is not None:
        _require_a_true_label(acc, labels, "At least one label specified must be in y_true")
    cm, _ = acc._present_matrix(labels)
    if sample_weight is not None and np.asarray(sample_weight).dtype.kind in "iub":
        cm = cm.astype(np.int64)
    return M.normalize_confusion(cm, normalize)


def _require_a_true_label(acc, labels, message):
    """scikit-learn's confusion_matrix refuses ``labels`` none of which is in y_true."""
    from .confusion import _key_of

    if np.asarray(labels).size == 0:
        raise ValueError("'labels' should contain at least one label.")
    rows = acc.sample_counts.sum(axis=1)
    true_keys = {k for k, r in zip(acc.labels, rows) if r > 0}
    if not any(_key_of(v) in true_keys for v in np.asarray(labels).tolist()):
        raise ValueError(message)


def multilabel_confusion_matrix(y_true, y_pred, *, sample_weight=None, labels=None,
                                samplewise=False):
    """``sklearn.metrics.multilabel_confusion_matrix``, computed by the engine."""
    acc = _accumulate(y_true, y_pred, sample_weight)
    multilabel = isinstance(acc, MultilabelConfusionMatrix)
    if samplewise:
        if not multilabel:
            raise ValueError("Samplewise metrics are not available outside of multilabel "
                             "classification.")
        t = np.asarray(I.as_array(y_true, "y_true")) != 0
        p = np.asarray(I.as_array(y_pred, "y_pred")) != 0
        if labels is not None:
            t, p = t[:, labels], p[:, labels]
        tp = (t & p).sum(axis=1)
        fp = (p & ~t).sum(axis=1)
        fn = (t & ~p).sum(axis=1)
        if sample_weight is not None:
            w = np.asarray(sample_weight)
            tp, fp, fn = tp * w, fp * w, fn * w
            tn = w * t.shape[1] - tp - fp - fn
        else:
            tn = t.shape[1] - tp - fp - fn
        return np.stack([tn, fp, fn, tp]).T.reshape(-1, 2, 2)
    sums = acc._sums(labels)[0]
    if sample_weight is not None:
        sums.total = np.sum(np.asarray(sample_weight))  # scikit-learn's (pairwise) sum
    return M.mcm(sums.tp, sums.pred, sums.true, sums.total)


def balanced_accuracy_score(y_true, y_pred, *, sample_weight=None, adjusted=False):
    """``sklearn.metrics.balanced_accuracy_score``, computed by the engine."""
    acc = _accumulate(y_true, y_pred, sample_weight)
    if isinstance(acc, MultilabelConfusionMatrix):
        raise ValueError("multilabel-indicator is not supported")
    return acc.balanced_accuracy(adjusted=adjusted)


def cohen_kappa_score(y1, y2, *, labels=None, weights=None, sample_weight=None,
                      replace_undefined_by=np.nan):
    """``sklearn.metrics.cohen_kappa_score``, computed by the engine."""
    acc = _accumulate(y1, y2, sample_weight)
    if isinstance(acc, MultilabelConfusionMatrix):
        raise ValueError("multilabel-indicator is not supported")
    if labels is not None:
        _require_a_true_label(
            acc, labels, "At least one label in `labels` must be present in `y1` (even though "
            "`cohen_kappa_score` is otherwise agnostic to the order of `y1` and `y2`).")
    cm, _ = acc._present_matrix(labels)
    return M.cohen_kappa(cm, weights, replace_undefined_by)


def matthews_corrcoef(y_true, y_pred, *, sample_weight=None):
    """``sklearn.metrics.matthews_corrcoef``, computed by the engine."""
    acc = _accumulate(y_true, y_pred, sample_weight)
    if isinstance(acc, MultilabelConfusionMatrix):
        raise ValueError("multilabel-indicator is not supported")
    return acc.matthews_corrcoef()


def jaccard_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary",
                  sample_weight=None, zero_division="warn"):
    """``sklearn.metrics.jaccard_score``, computed by the engine."""
    if not (zero_division == "warn" or zero_division in (0, 1)) or isinstance(zero_division, bool):
        raise ValueError(f'zero_division must be "warn", 0 or 1, got {zero_division!r}')
    acc = _accumulate(y_true, y_pred, sample_weight)
    labels = _set_wise_labels(acc, average, labels, pos_label)
    if average == "samples":
        _, _, st = acc._sums(None)
        return M.samples_jaccard(st, zero_division)
    sums, _, _ = acc._sums(labels)
    return M.jaccard(sums, average, zero_division)
