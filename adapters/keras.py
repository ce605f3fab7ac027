"""Keras 3 glue: per-class precision / recall / F1 every epoch.

Two tools, for two places in a Keras workflow:

- :class:`ClassMetrics`, a ``keras.metrics.Metric`` that counts per-class true positives,
  predicted and true totals inside the compiled train / test step with ``keras.ops`` only
  (TensorFlow, JAX and torch backends, ``jit_compile`` on or off). ``model.fit`` history then
  holds ``recall_0``, ``val_recall_0``, ... over whole epochs.
- :class:`ConfusionCallback`, a ``keras.callbacks.Callback`` that predicts a validation set
  batch by batch at the end of an epoch, feeds confstream's core accumulators and keeps one
  :class:`confstream.Report` per epoch (byte-identical to scikit-learn's
  ``classification_report``) in ``callback.history``.

Importing this module imports Keras, which fixes the Keras backend for the process (set
``KERAS_BACKEND`` before).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

try:
    import keras
    from keras import ops
except ImportError as exc:  # pragma: no cover - exercised only without keras
    raise ImportError(
        "confstream.adapters.keras needs Keras 3: pip install \"confstream[keras]\" "
        "(and a backend: tensorflow, torch or jax)"
    ) from exc

from . import _curves
from ._keys import METRICS as _METRICS
from ._keys import class_key

__all__ = ["ClassMetrics", "ConfusionCallback"]


def _check_num_classes(num_classes: Any, multilabel: bool) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise ValueError(f"num_classes must be an int, got {num_classes!r}")
    low = 1 if multilabel else 2
    if num_classes < low:
        what = "labels (multilabel=True)" if multilabel else "classes (use 2 for a sigmoid output)"
        raise ValueError(f"num_classes must be >= {low} {what}, got {num_classes}")
    return int(num_classes)


def _check_threshold(
    threshold: Any, num_classes: int, multilabel: bool
) -> float | tuple[float, ...]:
    if np.ndim(threshold) == 0:
        try:
            value = float(threshold)
        except (TypeError, ValueError):
            raise ValueError(f"threshold must be a number, got {threshold!r}") from None
        if not math.isfinite(value):
            raise ValueError(f"threshold must be finite, got {threshold!r}")
        return value
    if not multilabel:
        raise ValueError(
            f"threshold must be a scalar unless multilabel=True, got {threshold!r}"
        )
    values = tuple(float(t) for t in np.asarray(threshold, dtype=np.float64).ravel())
    if len(values) != num_classes:
        raise ValueError(
            f"threshold has {len(values)} values but num_classes={num_classes} labels"
        )
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"threshold must be finite, got {threshold!r}")
    return values


def _check_names(class_names: Any, num_classes: int) -> tuple[str, ...] | None:
    if class_names is None:
        return None
    if isinstance(class_names, str):
        raise ValueError(f"class_names must be a sequence of names, got the string {class_names!r}")
    names = tuple(str(n) for n in class_names)
    if len(names) != num_classes:
        raise ValueError(f"class_names has {len(names)} names but num_classes={num_classes}")
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"class_names must be unique, repeated: {dup}")
    return names


def _static_width(x: Any) -> int | None:
    shape = tuple(x.shape)
    return None if not shape or shape[-1] is None else int(shape[-1])


@keras.saving.register_keras_serializable(package="confstream")
class ClassMetrics(keras.metrics.Metric):
    """Per-class precision, recall and F1 over an epoch, as a Keras metric.

    Counts are kept in the graph (``keras.ops`` only); ``result()`` returns a dict of scalars
    named ``f"{metric}_{class}"`` which Keras flattens into the logs, so ``model.fit`` history
    holds ``precision_0``, ``val_recall_1``, ... The values equal
    ``sklearn.metrics.precision_recall_fscore_support(..., zero_division=0)`` on the epoch's
    thresholded / argmaxed predictions (up to float32 rounding of the final division).

    Parameters
    ----------
    num_classes : int
        Number of classes (>= 2; 2 for a single sigmoid output), or of labels when
        ``multilabel=True``.
    metrics : sequence of str
        Any of ``"precision"``, ``"recall"``, ``"f1"``, ``"support"`` (weighted count of true
        samples).
    multilabel : bool
        y_pred is ``(N, L)`` independent sigmoids, y_true an ``(N, L)`` 0/1 indicator.
    threshold : float or sequence of float
        Strict ``>`` threshold for sigmoid outputs (one per label allowed with ``multilabel``).
    class_names : sequence of str, optional
        Names used in the keys instead of the class index.
    name : str
        The metric's name (Keras needs one; the result keys do not include it).
    prefix : str
        Put before every key, for two ClassMetrics on one model (e.g. one per output, or a
        weighted and a plain one): ``prefix="w_"`` gives ``w_recall_0``, ``val_w_recall_0``.

    Notes
    -----
    Accepted forms: y_true as sparse integer labels ``(N,)`` / ``(N, 1)`` or one-hot
    ``(N, C)`` (argmax); y_pred as scores ``(N, C)`` (argmax), a sigmoid ``(N, 1)`` / ``(N,)``
    when ``num_classes=2``, or ``(N, L)`` sigmoids with ``multilabel=True``. Keras passes
    ``sample_weight`` (including ``class_weight``) only to ``weighted_metrics``.

    A sparse label that is not an integer in ``[0, num_classes)`` cannot raise inside a
    compiled step; it is counted instead, and every value of ``result()`` becomes NaN until
    ``reset_state()``, so bad labels never go unnoticed (nor are they silently dropped).
    Samples of weight 0 are left out, bad label or not (padding such as label -1 with weight
    0 is fine). One-hot y_true is argmaxed; a multi-label indicator counts a value above 0.5 as 1.

    Examples
    --------
    >>> model.compile("adam", "binary_crossentropy",
    ...               metrics=[ClassMetrics(2, metrics=("recall",))])  # doctest: +SKIP
    >>> model.fit(x, y, validation_data=(xv, yv)).history["val_recall_1"]  # doctest: +SKIP
    """

    def __init__(
        self,
        num_classes: int,
        *,
        metrics: Sequence[str] = ("precision", "recall", "f1"),
        multilabel: bool = False,
        threshold: float | Sequence[float] = 0.5,
        class_names: Sequence[str] | None = None,
        name: str = "class_metrics",
        prefix: str = "",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        self.multilabel = bool(multilabel)
        self.num_classes = _check_num_classes(num_classes, self.multilabel)
        if isinstance(metrics, str):
            metrics = (metrics,)
        metrics = tuple(metrics)
        unknown = [m for m in metrics if m not in _METRICS]
        if unknown or not metrics:
            raise ValueError(f"metrics must be a non-empty subset of {_METRICS}, got {metrics!r}")
        self.metric_names = tuple(dict.fromkeys(metrics))
        self.threshold = _check_threshold(threshold, self.num_classes, self.multilabel)
        self.class_names = _check_names(class_names, self.num_classes)
        if not isinstance(prefix, str):
            raise ValueError(f"prefix must be a str, got {prefix!r}")
        self.prefix = prefix
        c = self.num_classes
        # Additive state only (aggregation "sum"). Sample counts (tp, true, pred per class)
        # are exact integers on every backend (JAX without x64 too): int32 pairs, low digits
        # below 2**16 and the carries, exact to 2**47 samples. Weighted sums are float.
        def state(shape, name, dtype=None):
            return self.add_variable(shape, "zeros", dtype=dtype or self.dtype, name=name)

        self.count_low = state((3, c), "counts_low", "int32")
        self.count_high = state((3, c), "counts_high", "int32")
        self.true_positives = state((c,), "weighted_true_positives")
        self.true_sum = state((c,), "weighted_true_sum")
        self.pred_sum = state((c,), "weighted_pred_sum")
        self.invalid = state((), "invalid_labels")

    # ------------------------------------------------------------------ input forms
    def _pred_matrix(self, y_pred: Any) -> Any:
        """(N, C) 0/1 matrix of predicted classes (labels when multilabel)."""
        c = self.num_classes
        y_pred = ops.convert_to_tensor(y_pred)
        rank = len(y_pred.shape)
        width = _static_width(y_pred)
        if self.multilabel:
            if rank != 2 or (width is not None and width != c):
                raise ValueError(
                    f"y_pred must be (N, {c}) scores for multilabel=True with "
                    f"num_classes={c}, got shape {tuple(y_pred.shape)}"
                )
            return self._above_threshold(y_pred)
        if c == 2 and (rank == 1 or (rank == 2 and width == 1)):
            pred = ops.cast(self._above_threshold(ops.reshape(y_pred, (-1,))), "int32")
        elif rank == 2 and (width is None or width == c):
            pred = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        else:
            hint = " (or 1 for a binary sigmoid)" if c == 2 else ""
            raise ValueError(
                f"y_pred must be (N, {c}) scores for num_classes={c}{hint}, got shape "
                f"{tuple(y_pred.shape)}"
            )
        return ops.equal(ops.expand_dims(pred, -1), ops.arange(c, dtype="int32"))

    def _above_threshold(self, scores: Any) -> Any:
        # Compare in the scores' own dtype, as numpy (and the core engine) do for
        # `scores > threshold`: a float32 0.3 is not above a threshold of 0.3.
        dtype = keras.backend.standardize_dtype(scores.dtype)
        if "float" not in dtype:
            scores, dtype = ops.cast(scores, "float32"), "float32"
        wide = np.float64 if dtype == "float64" else np.float32
        thr = ops.cast(ops.convert_to_tensor(np.asarray(self.threshold, dtype=wide)), dtype)
        return ops.greater(scores, thr)

    def _true_matrix(self, y_true: Any) -> tuple[Any, Any]:
        """(N, C) 0/1 matrix of true classes, and a (N, 1) mask of invalid sparse labels
        (None for indicator forms, which cannot be out of range)."""
        c = self.num_classes
        y_true = ops.convert_to_tensor(y_true)
        rank = len(y_true.shape)
        width = _static_width(y_true)
        none_invalid = None
        if self.multilabel:
            if rank != 2 or (width is not None and width != c):
                raise ValueError(
                    f"y_true must be a (N, {c}) 0/1 indicator for multilabel=True with "
                    f"num_classes={c}, got shape {tuple(y_true.shape)}"
                )
            return ops.greater(ops.cast(y_true, "float32"), 0.5), none_invalid
        if rank == 2 and width == c:
            labels = ops.cast(ops.argmax(y_true, axis=-1), "int32")
            onehot = ops.equal(ops.expand_dims(labels, -1), ops.arange(c, dtype="int32"))
            return onehot, none_invalid
        if not (rank == 1 or (rank == 2 and width == 1)):
            raise ValueError(
                f"y_true must be sparse labels (N,) / (N, 1) or one-hot (N, {c}) for "
                f"num_classes={c}, got shape {tuple(y_true.shape)}"
            )
        values = ops.reshape(y_true, (-1,))
        if "float" not in keras.backend.standardize_dtype(values.dtype):
            values = ops.cast(values, "int32")
            bad = ops.logical_or(ops.less(values, 0), ops.greater_equal(values, c))
            labels = values
        else:
            values = ops.cast(values, "float32")
            rounded = ops.round(values)
            bad = ops.logical_or(
                ops.not_equal(values, rounded),
                ops.logical_or(ops.less(rounded, 0.0), ops.greater(rounded, c - 1.0)),
            )
            # NaN compares unequal to itself, so it lands in `bad`; zero it before the cast.
            labels = ops.cast(ops.where(bad, ops.zeros_like(rounded), rounded), "int32")
        bad = ops.expand_dims(bad, -1)
        onehot = ops.logical_and(
            ops.equal(ops.expand_dims(labels, -1), ops.arange(c, dtype="int32")),
            ops.logical_not(bad),
        )
        return onehot, bad

    def _weights(self, sample_weight: Any) -> Any:
        w = ops.cast(ops.convert_to_tensor(sample_weight), self.dtype)
        rank = len(w.shape)
        width = _static_width(w)
        if rank == 0:
            return w
        if rank == 1:
            return ops.expand_dims(w, -1)
        if rank == 2 and (width == 1 or (self.multilabel and width == self.num_classes)):
            return w
        per = f" or (N, {self.num_classes})" if self.multilabel else ""
        raise ValueError(
            f"sample_weight must be a scalar, (N,) or (N, 1){per}, got shape {tuple(w.shape)}"
        )

    # ------------------------------------------------------------------ keras API
    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        pred_b = self._pred_matrix(y_pred)
        true_b, bad = self._true_matrix(y_true)
        if sample_weight is None:
            pred, true = ops.cast(pred_b, "int32"), ops.cast(true_b, "int32")
            self._add_counts(ops.stack([ops.sum(true * pred, axis=0), ops.sum(true, axis=0),
                                        ops.sum(pred, axis=0)]))
        else:
            pred, true = ops.cast(pred_b, self.dtype), ops.cast(true_b, self.dtype)
            w = self._weights(sample_weight)
            true, pred, hits = true * w, pred * w, true * pred * w
            self.true_positives.assign_add(ops.sum(hits, axis=0))
            self.true_sum.assign_add(ops.sum(true, axis=0))
            self.pred_sum.assign_add(ops.sum(pred, axis=0))
        if bad is not None:
            bad = ops.cast(bad, self.dtype)
            if sample_weight is not None:
                # Zero-weight samples are masked out (Keras pads that way, e.g. label -1).
                bad = bad * ops.cast(ops.not_equal(w, 0), self.dtype)
            self.invalid.assign_add(ops.sum(bad))

    _BASE = 1 << 16

    def _add_counts(self, rows: Any) -> None:
        """Add a batch's (3, C) int32 sample counts exactly: a batch adds < 2**31 - 2**16."""
        low = ops.convert_to_tensor(self.count_low) + rows
        carry = ops.floor_divide(low, self._BASE)
        self.count_low.assign(low - carry * self._BASE)
        self.count_high.assign_add(carry)

    def counts(self) -> np.ndarray:
        """The exact (3, C) int64 sample counts so far: true positives, true and predicted
        per class (batches without ``sample_weight``)."""
        high = np.asarray(ops.convert_to_numpy(self.count_high), dtype=np.int64)
        return high * self._BASE + np.asarray(ops.convert_to_numpy(self.count_low), np.int64)

    def result(self) -> dict[str, Any]:
        # Tensors, not the Variables: jax.numpy takes no keras Variable in ones_like & co.
        low, high = (ops.cast(ops.convert_to_tensor(v), self.dtype)
                     for v in (self.count_low, self.count_high))
        exact = high * float(self._BASE) + low  # rounds only here, once, past 2**24
        tp, t, p = (ops.convert_to_tensor(v) + exact[i] for i, v in
                    enumerate((self.true_positives, self.true_sum, self.pred_sum)))
        values = {
            "precision": self._ratio(tp, p),
            "recall": self._ratio(tp, t),
            "f1": self._ratio(2.0 * tp, t + p),
            "support": ops.convert_to_tensor(t),
        }
        poisoned = ops.greater(ops.convert_to_tensor(self.invalid), 0)
        names = self.class_names or tuple(str(i) for i in range(self.num_classes))
        out = {}
        for metric in self.metric_names:
            column = values[metric]
            column = ops.where(poisoned, ops.full_like(column, float("nan")), column)
            for i, cls in enumerate(names):
                out[class_key(self.prefix, metric, cls)] = column[i]
        return out

    @staticmethod
    def _ratio(num: Any, den: Any) -> Any:
        # sklearn's zero_division=0: an empty denominator gives 0, not NaN.
        defined = ops.greater(den, 0)
        safe = ops.where(defined, den, ops.ones_like(den))
        return ops.where(defined, ops.divide(num, safe), ops.zeros_like(num))

    def get_config(self) -> dict[str, Any]:
        threshold = self.threshold
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "metrics": list(self.metric_names),
            "multilabel": self.multilabel,
            "threshold": list(threshold) if isinstance(threshold, tuple) else threshold,
            "class_names": list(self.class_names) if self.class_names is not None else None,
            "prefix": self.prefix,
        }


def _to_numpy(a: Any) -> Any:
    if a is None or isinstance(a, np.ndarray):
        return a
    if type(a).__module__.startswith("torch"):
        return a.detach().cpu().numpy()
    if hasattr(a, "numpy"):  # TensorFlow eager tensors
        return a.numpy()
    return np.asarray(a)


def _for_model(a: Any) -> Any:
    # A batch from another framework (tf.data under torch, a torch DataLoader under
    # TensorFlow, ...) goes to the model as numpy; the backend's own tensors go as they are.
    root = type(a).__module__.split(".")[0]
    foreign = root in ("tensorflow", "torch", "jax", "jaxlib")
    if foreign and not root.startswith(keras.backend.backend()):
        return _to_numpy(a)
    return a


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _num_rows(a: Any) -> int:
    return int(keras.tree.flatten(a)[0].shape[0])


class ConfusionCallback(keras.callbacks.Callback):
    """Sklearn-identical per-class reports on validation data, every ``every`` epochs.

    At the end of an epoch the model predicts ``validation_data`` batch by batch; each batch
    goes straight into a :class:`confstream.ConfusionMatrix` (or
    :class:`confstream.MultilabelConfusionMatrix`), so no predictions are kept. The epoch's
    :class:`confstream.Report` is appended to ``callback.history`` (a
    :class:`confstream.History`) and the per-class values are written into the epoch's
    ``logs`` as ``f"{log_prefix}{metric}_{class}"``, where Keras' ``History``, ``EarlyStopping``
    and any callback listed after this one see them.

    Parameters
    ----------
    validation_data
        ``(x, y)`` or ``(x, y, sample_weight)`` arrays (a tuple; predicted in slices of
        ``batch_size``), a ``keras.utils.PyDataset``, a ``tf.data.Dataset``, any re-iterable
        of ``(x, y[, sample_weight])`` batches, or a zero-argument callable returning a fresh
        iterable each time. A one-shot generator is consumed by the first evaluation unless
        ``steps`` bounds the number of batches drawn each time (as with an endless generator).
    every : int
        Evaluate at the end of epochs ``every``, ``2 * every``, ...
    num_classes : int, optional
        Size of the label space (number of labels if ``multilabel``). Inferred from the first
        batch's prediction width when omitted (a width of 1 means binary).
    labels : sequence, optional
        The label space, in the order of the model's output columns.
    multilabel : bool
        Independent sigmoid outputs ``(N, L)`` against a 0/1 indicator ``y``.
    threshold : float or sequence of float
        Strict ``>`` threshold for sigmoid outputs (one per label allowed with ``multilabel``).
    log_prefix : str
        Prefix of the keys written to ``logs``. With the default ``"val_"`` and a
        :class:`ClassMetrics` on the same validation data the keys coincide (and this
        callback's float64 values replace the metric's float32 ones).
    verbose : bool
        Print each epoch's report.
    metrics : sequence of str
        Which per-class values go into ``logs``: any of precision, recall, f1, support.
    target_names : sequence of str, optional
        One name per class of the label space, for the reports' rows and the log keys. The
        reports then list every class, even one absent from an epoch (as
        ``classification_report(labels=..., target_names=...)`` does).
    zero_division : {0, 1, "warn", nan}
        Passed to the report and to the logged values.
    batch_size : int
        Slice size when ``validation_data`` is a tuple of arrays.
    steps : int, optional
        Number of batches drawn per evaluation from an iterable ``validation_data``.
    ci : float, optional
        Confidence level (e.g. 0.95): the reports carry intervals and ``logs`` gets
        ``<prefix><metric>_<class>_lo`` / ``_hi`` beside each logged value (precision,
        recall, f1; nan for a class absent from the epoch; no f1 bounds with the binomial
        methods "wilson" and "clopper-pearson"). Single-label, unweighted only.
    ci_method, n_resamples, seed
        Passed to ``report`` with ``ci`` (see docs/INTERVALS.md).
    curves : bool
        Also stream the predicted scores into a :class:`confstream.ScoreCurves` (or
        :class:`confstream.MultilabelScoreCurves`), kept as ``callback.curves``: ``logs`` get
        ``<prefix>auroc_<class>`` and ``<prefix>ap_<class>`` (scikit-learn's
        ``roc_auc_score`` / ``average_precision_score`` of the class against the rest; binary
        outputs: the positive class), and the reports carry them (``Report.with_curves``;
        ``callback.history.get("auroc", 1)``). The model must output scores. float32 outputs
        are binned: the values come with certified bounds (``report.curve_bounds``), see
        docs/CURVES.md. A class without positives in an epoch logs AUROC nan and AP 0.0, as
        scikit-learn gives (without its warning every epoch).
    curves_bits : int, optional
        ``bits`` of the score curves (width of the bounds against memory; default 10).
    curves_resolution : {"fixed", "adaptive"}, default "fixed"
        ``resolution`` of the score curves: "adaptive" keeps float scores as interval lists
        placed where the classes overlap (narrower bounds, slower updates; docs/CURVES.md).
    curves_intervals : int, optional
        ``intervals`` of adaptive score curves (``curves_resolution="adaptive"`` only).

    Examples
    --------
    >>> cb = ConfusionCallback((x_val, y_val), verbose=True)  # doctest: +SKIP
    >>> model.fit(x, y, epochs=5, callbacks=[cb])  # doctest: +SKIP
    >>> cb.history.get("recall", 1)  # doctest: +SKIP
    >>> print(cb.history[-1])  # doctest: +SKIP
    """

    def __init__(
        self,
        validation_data: Any,
        *,
        every: int = 1,
        num_classes: int | None = None,
        labels: Sequence[Any] | None = None,
        multilabel: bool = False,
        threshold: float | Sequence[float] = 0.5,
        log_prefix: str = "val_",
        verbose: bool = False,
        metrics: Sequence[str] = ("precision", "recall", "f1"),
        target_names: Sequence[str] | None = None,
        zero_division: Any = 0,
        batch_size: int = 32,
        steps: int | None = None,
        ci: float | None = None,
        ci_method: str = "bootstrap",
        n_resamples: int = 1000,
        seed: int | None = None,
        curves: bool = False,
        curves_bits: int | None = None,
        curves_resolution: str = "fixed",
        curves_intervals: int | None = None,
    ) -> None:
        super().__init__()
        from confstream import History
        from confstream.intervals import check_ci

        if ci is not None:
            if multilabel:
                raise ValueError(
                    "ci is for single-label problems here: multi-label intervals need the "
                    "streamed Poisson bootstrap's per-sample replicates, which this callback's "
                    "in-graph counts do not keep (use MultilabelConfusionMatrix(L, "
                    "bootstrap=200) on model.predict(...), then report(ci=...))")
            ci, ci_method = check_ci(ci, ci_method, n_resamples)
        self.ci = ci
        self._ci_kwargs = ({} if ci is None else
                           {"ci": ci, "ci_method": ci_method, "n_resamples": n_resamples,
                            "seed": seed})

        every = _positive_int("every", every)
        batch_size = _positive_int("batch_size", batch_size)
        steps = None if steps is None else _positive_int("steps", steps)
        self.multilabel = bool(multilabel)
        if num_classes is not None:
            num_classes = _check_num_classes(num_classes, self.multilabel)
        if labels is not None:
            if self.multilabel:
                raise ValueError(
                    "labels is for single-label problems; use num_classes with multilabel=True"
                )
            labels = list(labels)
            if num_classes is not None and len(labels) != num_classes:
                raise ValueError(f"labels has {len(labels)} entries but num_classes={num_classes}")
        if isinstance(metrics, str):
            metrics = (metrics,)
        metrics = tuple(dict.fromkeys(metrics))
        if not metrics or any(m not in _METRICS for m in metrics):
            raise ValueError(f"metrics must be a non-empty subset of {_METRICS}, got {metrics!r}")
        if not isinstance(log_prefix, str):
            raise ValueError(f"log_prefix must be a str, got {log_prefix!r}")
        if isinstance(validation_data, tuple) and len(validation_data) not in (2, 3):
            raise ValueError(
                "validation_data as a tuple must be (x, y) or (x, y, sample_weight), got a "
                f"tuple of {len(validation_data)}"
            )
        self.validation_data = validation_data
        self.every = int(every)
        self.num_classes = num_classes
        self.labels = labels
        self.threshold = threshold
        self.log_prefix = log_prefix
        self.verbose = bool(verbose)
        self.metrics = metrics
        self.target_names = None if target_names is None else [str(n) for n in target_names]
        self.zero_division = zero_division
        self.batch_size = int(batch_size)
        self.steps = None if steps is None else int(steps)
        self.history = History()
        self.confusion = None  # the last evaluation's accumulator
        self._curve_options = _curves.curve_options(curves_bits, curves_resolution,
                                                    curves_intervals)
        self.with_curves = _curves.check_curves(curves, self._curve_options)
        self.curves_bits = curves_bits
        self.curves_resolution, self.curves_intervals = curves_resolution, curves_intervals
        self.curves = None  # the last evaluation's score curves (curves=True)

    # ------------------------------------------------------------------ batches
    def _batches(self) -> Iterable[Any]:
        data = self.validation_data
        if isinstance(data, tuple):
            x, y, sw = keras.utils.unpack_x_y_sample_weight(data)
            n = _num_rows(x)
            for name, part in (("y", y), ("sample_weight", sw)):
                if part is not None and _num_rows(part) != n:
                    raise ValueError(
                        f"validation_data: x has {n} rows but {name} has {_num_rows(part)}"
                    )
            for start in range(0, n, self.batch_size):
                cut = slice(start, start + self.batch_size)
                yield tuple(
                    None if part is None else keras.tree.map_structure(lambda a: a[cut], part)
                    for part in (x, y, sw)
                )
            return
        if isinstance(data, keras.utils.PyDataset):
            n = data.num_batches
            if n is None and self.steps is None:
                raise ValueError("validation_data is an endless PyDataset: give steps")
            n = self.steps if n is None else min(n, self.steps or n)
            for i in range(n):
                yield data[i]
            return
        if callable(data) and not hasattr(data, "__iter__"):
            data = data()
        it = iter(data)
        for i, batch in enumerate(it):
            yield batch
            if self.steps is not None and i + 1 >= self.steps:
                return

    # ------------------------------------------------------------------ counting
    def _new_accumulator(self, y_pred: np.ndarray) -> Any:
        from confstream import ConfusionMatrix, MultilabelConfusionMatrix

        width = 1 if y_pred.ndim == 1 else int(y_pred.shape[-1])
        if self.multilabel:
            acc = MultilabelConfusionMatrix(self.num_classes or width, threshold=self.threshold)
            size = len(acc.labels)
        elif self.labels is not None:
            acc = ConfusionMatrix(labels=self.labels, threshold=self.threshold)
            size = acc.num_classes
        else:
            acc = ConfusionMatrix(self.num_classes or max(width, 2), threshold=self.threshold)
            size = acc.num_classes
        if self.target_names is not None and len(self.target_names) != size:
            raise ValueError(
                f"target_names has {len(self.target_names)} names but the label space has {size} "
                "classes (give num_classes or labels to fix the label space)"
            )
        return acc

    def _shape_batch(self, y: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(y) != len(y_pred):
            raise ValueError(
                f"a validation batch has {len(y)} labels but {len(y_pred)} predictions"
            )
        if not self.multilabel:
            # (N, 1) labels and sigmoid outputs are per-sample values, not 1-column matrices.
            if y.ndim == 2 and y.shape[1] == 1:
                y = y[:, 0]
            if y_pred.ndim == 2 and y_pred.shape[1] == 1:
                y_pred = y_pred[:, 0]
        return y, y_pred

    def evaluate(self) -> Any:
        """Predict ``validation_data`` with ``self.model`` and return its Report.

        The accumulator is kept as ``self.confusion``; nothing is appended to the history.
        """
        if self.model is None:
            raise ValueError("ConfusionCallback has no model: pass it to fit() or call set_model()")
        acc = curves = None
        for batch in self._batches():
            x, y, sw = keras.utils.unpack_x_y_sample_weight(batch)
            if y is None:
                hint = ""
                if isinstance(self.validation_data, list):
                    hint = " (a list is read as a list of batches: give arrays as a tuple (x, y))"
                raise ValueError(
                    "validation batches must carry labels: (x, y) or (x, y, sample_weight)" + hint
                )
            y_pred = _to_numpy(self.model.predict_on_batch(keras.tree.map_structure(_for_model, x)))
            if isinstance(y_pred, (list, tuple, dict)):
                raise ValueError("ConfusionCallback needs a model with a single output")
            y, y_pred = self._shape_batch(_to_numpy(y), np.asarray(y_pred))
            if sw is not None:
                sw = np.asarray(_to_numpy(sw)).reshape(len(y))
            if acc is None:
                acc = self._new_accumulator(y_pred)
                if self.with_curves:
                    curves = _curves.new_curves(acc, y_pred, multilabel=self.multilabel,
                                                labels=self.labels, options=self._curve_options)
            acc.update(y, y_pred, sample_weight=sw)
            if curves is not None:
                curves.update(*_curves.curve_batch(curves, y, y_pred, sw,
                                                   multilabel=self.multilabel,
                                                   labels=self.labels))
        if acc is None:
            hint = (
                " (a one-shot generator is used up by the first evaluation: pass a re-iterable, "
                "a callable returning a fresh generator, or steps for an endless one)"
            )
            raise ValueError(f"validation_data yielded no batches{hint}")
        self.confusion = acc
        self.curves = curves
        kwargs = {"target_names": self.target_names, "zero_division": self.zero_division}
        if self.target_names is not None and not self.multilabel:
            # Names belong to classes, not to whichever labels this epoch happened to see.
            kwargs["labels"] = acc.labels
        report = acc.report(**kwargs, **self._ci_kwargs)
        return report if curves is None else report.with_curves(curves, warn=False)

    def _log_values(self, acc: Any) -> dict[str, float]:
        if self.multilabel:
            p, r, f, s = acc.precision_recall_fscore_support(
                average=None, zero_division=self.zero_division
            )
            labels = list(range(len(s)))
        else:
            labels = list(acc.labels)
            p, r, f, s = acc.precision_recall_fscore_support(
                labels=labels, average=None, zero_division=self.zero_division
            )
        names = self.target_names if self.target_names is not None else [str(lab) for lab in labels]
        columns = {"precision": p, "recall": r, "f1": f, "support": s}
        out = {
            class_key(self.log_prefix, metric, name): float(columns[metric][i])
            for metric in self.metrics
            for i, name in enumerate(names)
        }
        report = self.history[-1] if len(self.history) else None
        if report is not None and report.curves is not None:
            have = report.curves
            for metric in ("auroc", "ap"):
                for name in names:
                    if str(name) in have:
                        out[class_key(self.log_prefix, metric, name)] = float(
                            have[str(name)][metric])
        if self.ci is not None and report is not None and report.ci is not None:
            for metric in self.metrics:
                if metric == "support":
                    continue
                if metric == "f1" and report.ci_method in ("wilson", "clopper-pearson"):
                    continue  # F1 is no binomial proportion: these methods give it none
                for label, name in zip(labels, names):
                    try:
                        lo, hi = report.interval(metric, label)
                    except KeyError:  # a class absent from this epoch's report
                        lo = hi = float("nan")
                    key = class_key(self.log_prefix, metric, name)
                    out[key + "_lo"], out[key + "_hi"] = float(lo), float(hi)
        return out

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if (epoch + 1) % self.every:
            return
        report = self.evaluate()
        self.history.append(report)
        if logs is not None:
            logs.update(self._log_values(self.confusion))
        if self.verbose:
            print(f"\nEpoch {epoch + 1}: classification report\n{report}")
