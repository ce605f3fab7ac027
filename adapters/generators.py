"""Evaluate any ``predict`` callable over a stream of batches, one ``update()`` per batch.

The batches are never concatenated: memory stays O(batch) + O(C²) however long the stream.
``confstream.adapters.torch.evaluate`` runs the same loop around a ``torch.nn.Module``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from confstream._errors import BatchValueError, reworded
from confstream._inputs import classes_implied

__all__ = ["evaluate"]


def evaluate(
    predict: Callable[[Any], Any],
    batches: Iterable[Any],
    *,
    num_classes: int | None = None,
    labels: Sequence[Any] | None = None,
    multilabel: bool = False,
    threshold: float | Sequence[float] = 0.5,
    progress: bool = False,
):
    """Count ``predict``'s answers on every batch of ``batches`` into a new accumulator.

    Parameters
    ----------
    predict : callable
        Called once per batch as ``predict(x)``: ``model.predict``, ``model.predict_proba``,
        a function, a jitted JAX function, ... It returns anything ``update()`` takes as
        ``y_pred`` (labels, one-hot, scores, binary scores, masks; numpy, lists, torch, TF, JAX).
    batches : iterable
        Yields ``(x, y)`` or ``(x, y, sample_weight)``. Read once, one batch at a time; the
        batches are never concatenated. A batch with no samples (``len(y) == 0``) is
        skipped without calling ``predict``.
    num_classes, labels : optional
        The label space, as for ``ConfusionMatrix``; neither means a dynamic space that grows
        as labels appear. With ``multilabel=True``, ``num_classes`` is the number of labels
        (taken from the first prediction's width when not given) and ``labels`` is not allowed.
    multilabel : bool
        Count into a ``MultilabelConfusionMatrix`` instead of a ``ConfusionMatrix``.
    threshold : float or sequence of float
        Binary and multi-label scores count as positive when strictly above it.
    progress : bool
        Show a tqdm progress bar (only when tqdm is installed; otherwise nothing is shown).

    Returns
    -------
    ConfusionMatrix or MultilabelConfusionMatrix
        ``acc.report()`` equals ``classification_report`` on all ``y`` against all predictions.

    Raises
    ------
    ValueError, TypeError
        A batch that is not ``(x, y)`` / ``(x, y, w)``, or one that ``update()`` rejects; the
        message starts with the batch's index (``"batch 3: ..."``) and the accumulator holds
        the batches before it. With ``multilabel=True`` and no ``num_classes``, an empty stream.

    Examples
    --------
    >>> import numpy as np
    >>> from confstream.adapters.generators import evaluate
    >>> def batches():
    ...     for start in range(0, 6, 2):
    ...         x = np.arange(start, start + 2)
    ...         yield x, x % 3
    >>> acc = evaluate(lambda x: (x + 1) % 3, batches(), num_classes=3)
    >>> acc.counts
    array([[0, 2, 0],
           [0, 0, 2],
           [2, 0, 0]])
    """
    spec = _Spec(num_classes, labels, multilabel, threshold)
    return _run(predict, batches, spec, progress=progress)


class _Spec:
    """What accumulator to build; built lazily when its size comes from the first prediction."""

    def __init__(self, num_classes, labels, multilabel, threshold, *, infer_classes=False):
        if num_classes is not None and (
            isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1
        ):
            raise ValueError(f"num_classes must be a positive int or None, got {num_classes!r}")
        if multilabel and labels is not None:
            raise ValueError(
                "labels is not supported with multilabel=True (labels are the columns "
                "0..L-1); give num_classes=L instead"
            )
        self.num_classes = num_classes
        self.labels = None if labels is None else list(labels)
        self.multilabel = bool(multilabel)
        self.threshold = threshold
        # Only torch.evaluate infers a fixed space from the output width: there it lets CUDA
        # batches be counted on the device. Plain callables keep sklearn's dynamic space.
        self.infer_classes = infer_classes
        self.extra: dict = {}  # more keywords of the accumulator (bootstrap=, seed=, shard=)

    @property
    def needs_prediction(self) -> bool:
        if self.multilabel:
            return self.num_classes is None
        return self.infer_classes and self.num_classes is None and self.labels is None

    def build(self, y_true=None, y_pred=None):
        from confstream import ConfusionMatrix, MultilabelConfusionMatrix

        if self.multilabel:
            n = self.num_classes
            if n is None:
                shape = _shape(y_pred)
                if shape is None or len(shape) != 2:
                    raise ValueError(
                        "multilabel=True without num_classes needs (N, L) predictions to take "
                        f"L from, got shape {shape}"
                    )
                n = int(shape[1])
            return MultilabelConfusionMatrix(n, threshold=self.threshold, **self.extra)
        num_classes = self.num_classes
        if num_classes is None and self.labels is None and y_pred is not None:
            num_classes = _classes_from_scores(y_true, y_pred)
        return ConfusionMatrix(num_classes, labels=self.labels, threshold=self.threshold,
                               **self.extra)


def _run(predict, batches, spec: _Spec, *, progress: bool, desc: str = "evaluate",
         after=None):
    """The loop; ``after(acc, y, y_pred, w)`` (optional) sees each batch once it is counted
    (torch's ``evaluate(curves=True)`` feeds its score curves there)."""
    acc = None if spec.needs_prediction else spec.build()
    with _progress(batches, progress, desc) as stream:
        for i, batch in enumerate(stream):
            x, y, w = _unpack(batch, i)
            shape = _shape(y)
            if shape and shape[0] == 0:
                continue  # many predict()s refuse empty input; there is nothing to count
            y_pred = predict(x)
            if acc is None:
                acc = spec.build(y, y_pred)
            try:
                acc.update(y, y_pred, w)
                if after is not None:
                    after(acc, y, y_pred, w)
            except (ValueError, TypeError) as exc:
                if type(exc) not in (ValueError, TypeError, BatchValueError):
                    raise
                raise reworded(exc, f"batch {i}: {exc}") from exc
    if acc is None:
        if spec.multilabel:
            raise ValueError(
                "no batches: multilabel=True without num_classes takes the number of labels "
                "from the first prediction; give num_classes"
            )
        acc = spec.build()
    return acc


def _unpack(batch, i):
    if isinstance(batch, (tuple, list)) and len(batch) in (2, 3):
        x, y, *rest = batch
        return x, y, (rest[0] if rest else None)
    kind = f"a {type(batch).__name__} of length {len(batch)}" if isinstance(
        batch, (tuple, list)) else f"a {type(batch).__name__}"
    raise TypeError(f"batch {i}: expected (x, y) or (x, y, sample_weight), got {kind}")


class _progress:
    """A tqdm bar around ``it`` when asked for and installed; ``it`` itself otherwise."""

    def __init__(self, it, progress, desc):
        self._it, self._bar = it, None
        if progress:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                return
            total = len(it) if hasattr(it, "__len__") else None
            self._bar = tqdm(it, desc=desc, total=total, unit="batch")

    def __enter__(self):
        return self._it if self._bar is None else self._bar

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.close()
        return False


def _shape(a):
    shape = getattr(a, "shape", None)
    if shape is None:
        try:
            import numpy as np

            shape = np.shape(a)
        except Exception:
            return None
    try:
        return tuple(int(n) for n in shape)
    except TypeError:  # unknown dimensions (symbolic TF shapes)
        return None


def _is_float(a) -> bool:
    is_fp = getattr(a, "is_floating_point", None)  # torch
    if callable(is_fp):
        return bool(is_fp())
    dtype = getattr(a, "dtype", None)
    dtype = getattr(dtype, "as_numpy_dtype", dtype)  # TensorFlow
    try:
        import numpy as np

        return np.issubdtype(np.dtype(dtype), np.floating) if dtype is not None else False
    except TypeError:
        return False


def _classes_from_scores(y_true, y_pred) -> int | None:
    """The number of classes that float predictions imply (``_inputs.classes_implied``: the
    core's own shape rules); None for anything but float predictions."""
    p, t = _shape(y_pred), _shape(y_true)
    if p is None or t is None or not _is_float(y_pred) or not p or not t:
        return None
    return classes_implied(t, p)
