"""Hugging Face ``Trainer`` glue: ``compute_metrics`` with exact per-class values.

:class:`ComputeMetrics` is a ``compute_metrics`` callable for ``transformers.Trainer`` in
both of its modes:

- ``batch_eval_metrics=True``: the Trainer calls it once per evaluation batch with
  ``compute_result=False`` and with ``compute_result=True`` on the last one. Each batch is
  folded into a confstream accumulator where it lies (on the GPU for CUDA logits: the argmax
  is fused into the count there) and dropped; the last call returns the evaluation's figures
  and starts the next evaluation afresh. Memory stays O(C²) however large the eval set.
- the classic call with the whole eval set's ``EvalPrediction``.

Under DDP the Trainer hands every process the batches already gathered from all processes
(``accelerator.gather_for_metrics``, which also drops the samples a distributed sampler
repeats), so each process counts every sample exactly once and nothing is summed again here.

transformers is not imported by this module (the Trainer brings it); it is the
``confstream[transformers]`` extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._keys import check_metrics, report_keys

__all__ = ["ComputeMetrics"]


def _ndim(a: Any) -> int:
    return len(getattr(a, "shape", np.shape(a)))


class ComputeMetrics:
    """``Trainer(compute_metrics=ComputeMetrics(...))``: per-class precision, recall, F1.

    Returns flat keys, which the Trainer prefixes with ``eval_`` (``metric_key_prefix``):
    ``recall_<class>``, ``precision_<class>``, ``f1_<class>`` (class = target name, else the
    label), the averages ``f1_macro``, ``recall_weighted``, ... (``micro`` where the report
    has no accuracy row, ``samples`` for multi-label) and ``accuracy`` — the key names of
    confstream's Keras and Lightning adapters. The values equal
    ``sklearn.metrics.classification_report`` on the evaluation's labels and argmaxed logits,
    positions labelled ``ignore_index`` left out.

    Parameters
    ----------
    num_classes : int, optional
        Size of the label space (labels ``0 .. C-1``), or the number of label columns with
        ``multilabel=True``. Default: the width of the logits (``model.config.num_labels``);
        with label predictions (e.g. an argmax in ``preprocess_logits_for_metrics``) the space
        is dynamic: the labels seen, sorted.
    labels : sequence, optional
        The label values in the order of the logits' columns.
    target_names : sequence of str, optional
        One name per class (e.g. ``[model.config.id2label[i] for i in range(C)]``), for the
        reports' rows and the keys. Without ``num_classes`` and ``labels`` they fix the label
        space to ``0 .. len(target_names)-1``.
    multilabel : bool
        ``(N, L)`` logits against ``(N, L)`` 0/1 labels (``problem_type=
        "multi_label_classification"``); a logit above ``threshold`` is a positive.
    ignore_index : int or None
        Label value of positions to leave out (-100: the Trainer's and the data collators'
        padding). Not used with ``multilabel=True``.
    prefix_classes : bool
        Return the per-class keys ``{metric}_{class}``; False returns only the averages and
        accuracy (for label spaces too large to log class by class). ``history`` always holds
        the full reports.
    threshold : float or sequence of float
        For ``multilabel=True`` and binary single-column logits: positive when strictly above
        it. 0.0 on logits is ``sigmoid(z) > 0.5``.
    zero_division : {0, 1, "warn", nan}
        As in scikit-learn.
    metrics : sequence of str
        Per-class values to return: any of precision, recall, f1, support.
    curves : bool
        Also stream the logits into a :class:`confstream.ScoreCurves` (or
        :class:`confstream.MultilabelScoreCurves`) and return ``auroc_<class>`` /
        ``ap_<class>`` (and ``auroc_macro``, ``ap_weighted``, ...): each class's AUROC and
        average precision against the rest (binary single-column logits: the positive class),
        ``ignore_index`` positions left out. float16 / bfloat16 logits give scikit-learn's
        values exactly, float32 ones certified values (``history[-1].curve_bounds()``). The
        reports carry them (``Report.with_curves``).
    curves_bits : int, optional
        ``bits`` of the score curves (width of the bounds against memory; default 10).
    curves_resolution : {"fixed", "adaptive"}, default "fixed"
        ``resolution`` of the score curves: "adaptive" keeps float scores as interval lists
        placed where the classes overlap (narrower bounds, slower updates; docs/CURVES.md).
    curves_intervals : int, optional
        ``intervals`` of adaptive score curves (``curves_resolution="adaptive"`` only).

    Attributes
    ----------
    history : confstream.History
        One :class:`confstream.Report` per evaluation (both modes).
    confusion : accumulator or None
        The last finished evaluation's accumulator.
    curves : score curves or None
        The last finished evaluation's score curves (``curves=True``).

    Notes
    -----
    Logits come as ``(N, C)`` for sequence classification or ``(B, T, C)`` for token
    classification, beside ``(N,)`` / ``(B, T)`` labels; ``(B, T, C)`` is read with the
    classes on the last axis (the Hugging Face layout), so no argmax is needed in
    ``preprocess_logits_for_metrics``. When the predictions are a tuple (a model returning
    more than its logits), the first element is taken, as the transformers examples do.

    If an evaluation is interrupted before its last batch, call :meth:`reset` before the next
    one (a finished evaluation resets itself).

    Examples
    --------
    >>> args = TrainingArguments("out", batch_eval_metrics=True)            # doctest: +SKIP
    >>> trainer = Trainer(model, args, eval_dataset=ds,
    ...                   compute_metrics=ComputeMetrics(target_names=["neg", "pos"]))  # doctest: +SKIP
    >>> trainer.evaluate()["eval_recall_pos"]                                # doctest: +SKIP
    """

    def __init__(
        self,
        num_classes: int | None = None,
        *,
        labels: Sequence[Any] | None = None,
        target_names: Sequence[str] | None = None,
        multilabel: bool = False,
        ignore_index: int | None = -100,
        prefix_classes: bool = True,
        threshold: float | Sequence[float] = 0.0,
        zero_division: Any = 0,
        metrics: Sequence[str] = ("precision", "recall", "f1"),
        curves: bool = False,
        curves_bits: int | None = None,
        curves_resolution: str = "fixed",
        curves_intervals: int | None = None,
    ) -> None:
        from confstream import History

        from . import _curves

        self._curve_options = _curves.curve_options(curves_bits, curves_resolution,
                                                    curves_intervals)
        self.with_curves = _curves.check_curves(curves, self._curve_options)
        self.curves_bits = curves_bits
        self.curves_resolution, self.curves_intervals = curves_resolution, curves_intervals
        self.curves = None
        self._curves = None

        if num_classes is not None and (
            isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer))
            or num_classes < 1
        ):
            raise ValueError(f"num_classes must be a positive int or None, got {num_classes!r}")
        self.multilabel = bool(multilabel)
        labels = None if labels is None else list(labels)
        if labels is not None:
            if self.multilabel:
                raise ValueError(
                    "labels is not supported with multilabel=True; give num_classes=L")
            if num_classes is not None and len(labels) != num_classes:
                raise ValueError(f"labels has {len(labels)} entries but num_classes={num_classes}")
        if ignore_index is not None and (
            isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer))
        ):
            raise ValueError(f"ignore_index must be an int or None, got {ignore_index!r}")
        self.target_names = None if target_names is None else [str(n) for n in target_names]
        if self.target_names is not None and num_classes is None and labels is None:
            # Names belong to class indices (as id2label): they fix the space to 0 .. C-1.
            num_classes = len(self.target_names)
        self.num_classes = None if num_classes is None else int(num_classes)
        self.labels = labels
        size = self.num_classes if labels is None else len(labels)
        if self.target_names is not None and size is not None and len(self.target_names) != size:
            raise ValueError(
                f"target_names has {len(self.target_names)} names but the label space has "
                f"{size} classes"
            )
        self.ignore_index = None if ignore_index is None else int(ignore_index)
        self.prefix_classes = bool(prefix_classes)
        self.threshold = threshold
        self.zero_division = zero_division
        self.metrics = check_metrics(metrics)
        self.history = History()
        self.confusion = None
        self._acc = None

    # ------------------------------------------------------------------ the Trainer's call
    def __call__(self, eval_pred: Any, compute_result: bool | None = None) -> dict[str, float]:
        predictions, label_ids = self._unpack(eval_pred)
        if compute_result is None:  # classic mode: the whole evaluation at once
            self.reset()
            if isinstance(predictions, list) and isinstance(label_ids, list):
                # eval_do_concat_batches=False: one entry per batch
                if len(predictions) != len(label_ids):
                    raise ValueError(
                        f"{len(predictions)} batches of predictions but {len(label_ids)} of labels")
                for p, t in zip(predictions, label_ids):
                    self._fold(t, p)
            else:
                self._fold(label_ids, predictions)
            return self._finish()
        self._fold(label_ids, predictions)
        return self._finish() if compute_result else {}

    def reset(self) -> "ComputeMetrics":
        """Forget the batches of an unfinished evaluation."""
        self._acc = None
        self._curves = None
        return self

    # ------------------------------------------------------------------ steps
    @staticmethod
    def _unpack(eval_pred: Any) -> tuple[Any, Any]:
        if hasattr(eval_pred, "predictions"):
            predictions, label_ids = eval_pred.predictions, eval_pred.label_ids
        else:
            predictions, label_ids = eval_pred[0], eval_pred[1]
        if isinstance(predictions, tuple):
            predictions = predictions[0]
        if isinstance(label_ids, tuple):
            raise ValueError(
                f"ComputeMetrics takes one label array; got a tuple of {len(label_ids)} "
                "(a model with several label_names)"
            )
        if predictions is None or label_ids is None:
            raise ValueError("ComputeMetrics needs predictions and labels (label_ids is None)")
        return predictions, label_ids

    def _fold(self, y_true: Any, y_pred: Any) -> None:
        if not self.multilabel and _ndim(y_pred) >= 3 and _ndim(y_pred) == _ndim(y_true) + 1:
            # (B, T, C) beside (B, T): classes are the last axis. As (B*T, C) rows beside
            # (B*T,) labels the form is unambiguous even when T == C.
            y_pred = y_pred.reshape(-1, y_pred.shape[-1])
            y_true = y_true.reshape(-1)
        if self._acc is None:
            self._acc = self._build(y_true, y_pred)
        self._acc.update(y_true, y_pred)
        if self.with_curves:
            self._fold_curves(y_true, y_pred)

    def _fold_curves(self, y_true: Any, y_pred: Any) -> None:
        from . import _curves

        def host(a):
            return a.detach().cpu() if hasattr(a, "detach") else np.asarray(a)

        y_pred, y = host(y_pred), host(y_true)
        y = y.numpy() if hasattr(y, "numpy") else y
        if not self.multilabel:
            if y_pred.ndim == 2 and y_pred.shape[1] == 1:
                y_pred = y_pred[:, 0]
            if self.ignore_index is not None and y.ndim == 1:
                keep = np.asarray(y != self.ignore_index)
                if not keep.all():
                    y, y_pred = y[keep], y_pred[np.nonzero(keep)[0]]
        if self._curves is None:
            self._curves = _curves.new_curves(self._acc, y_pred, multilabel=self.multilabel,
                                              labels=self.labels, options=self._curve_options)
        self._curves.update(*_curves.curve_batch(self._curves, y, y_pred, None,
                                                 multilabel=self.multilabel,
                                                 labels=self.labels))

    def _build(self, y_true: Any, y_pred: Any) -> Any:
        from confstream import ConfusionMatrix, MultilabelConfusionMatrix

        from .generators import _classes_from_scores

        if self.multilabel:
            n = self.num_classes
            if n is None:
                if _ndim(y_pred) != 2:
                    raise ValueError(
                        "multilabel=True needs (N, L) logits, got shape "
                        f"{tuple(getattr(y_pred, 'shape', np.shape(y_pred)))}"
                    )
                n = int(y_pred.shape[1])
            return MultilabelConfusionMatrix(n, threshold=self.threshold)
        n = self.num_classes
        if n is None and self.labels is None:
            n = _classes_from_scores(y_true, y_pred)
        acc = ConfusionMatrix(n, labels=self.labels, threshold=self.threshold,
                              ignore_index=self.ignore_index)
        if self.target_names is not None and acc.fixed and acc.num_classes != len(self.target_names):
            raise ValueError(
                f"target_names has {len(self.target_names)} names but the logits have "
                f"{acc.num_classes} classes"
            )
        return acc

    def _finish(self) -> dict[str, float]:
        acc, self._acc = self._acc, None
        if acc is None or not acc.counts.any():
            raise ValueError(
                "ComputeMetrics: the evaluation counted no samples (every label ignore_index?), "
                "so it has no report"
            )
        kwargs: dict[str, Any] = {"target_names": self.target_names,
                                  "zero_division": self.zero_division}
        if not self.multilabel and (acc.fixed or self.target_names is not None):
            kwargs["labels"] = acc.labels  # every class every time: the keys never vanish
        report = acc.report(**kwargs)
        curves, self._curves = self._curves, None
        if curves is not None:
            report = report.with_curves(curves, warn=False)
            self.curves = curves
        self.confusion = acc
        self.history.append(report)
        out = report_keys(report, metrics=self.metrics, per_class=self.prefix_classes)
        if report.curves is not None:
            for row, vals in report.curves.items():
                avg = row in ("macro avg", "weighted avg")
                if not avg and not self.prefix_classes:
                    continue
                name = row.split()[0] if avg else row
                for metric in ("auroc", "ap"):
                    out[f"{metric}_{name}"] = float(vals[metric])
        return out
