"""Confusion matrices of Dask arrays and DataFrame columns: one accumulator per partition,
tree-reduced with ``+``.

Each partition is counted where it lives (on a worker of a distributed cluster, or a thread of
the local scheduler) into its own accumulator; only the accumulators, O(C²) each, travel and are
merged pairwise-ish (``split_every`` at a time) into one. The result equals one accumulator
updated with all the data, so its ``report()`` equals scikit-learn's ``classification_report``.

>>> import dask.array as da
>>> from confstream.adapters.dask import confusion_matrix
>>> y_true = da.from_array([0, 1, 2, 2, 1, 0], chunks=2)
>>> y_pred = da.from_array([0, 2, 2, 2, 1, 1], chunks=3)   # chunks are aligned for you
>>> confusion_matrix(y_true, y_pred, num_classes=3).counts.tolist()
[[1, 1, 0], [0, 1, 1], [0, 0, 2]]
"""

from __future__ import annotations

import math
from typing import Any, Sequence

__all__ = ["confusion_matrix", "classification_report", "grouped_confusion_matrix",
           "grouped_multilabel_confusion_matrix", "score_curves", "grouped_score_curves"]


def _import_dask() -> Any:
    try:
        import dask
        import dask.array  # noqa: F401
    except ImportError:
        raise ImportError(
            "confstream.adapters.dask needs dask: pip install 'confstream[dask]'") from None
    return dask


def confusion_matrix(
    y_true: Any,
    y_pred: Any,
    *,
    num_classes: int | None = None,
    labels: Sequence[Any] | None = None,
    sample_weight: Any = None,
    multilabel: bool = False,
    threshold: float | Sequence[float] = 0.5,
    ignore_index: Any = None,
    split_every: int = 8,
    compute: bool = True,
) -> Any:
    """Count Dask ``y_true`` against ``y_pred`` into one accumulator, partition by partition.

    Parameters
    ----------
    y_true, y_pred : dask array, dask Series / DataFrame, or array-like
        Labels, or for ``y_pred`` anything ``ConfusionMatrix.update`` takes (an (N, C) score
        array or DataFrame, binary scores, ...). Arrays are rechunked to ``y_true``'s row chunks
        where they differ; Series and DataFrames must have the same number of partitions (take
        the columns from one DataFrame). A Dask collection mixed with an array converts the
        collection with ``to_dask_array(lengths=True)``.
    num_classes, labels : optional
        The label space, as for ``ConfusionMatrix`` (the same for every partition). Neither
        means a dynamic space: each partition grows its own, and merging unites them.
        With ``multilabel=True``, ``num_classes`` is the number of labels (default: the
        width of ``y_true``).
    sample_weight : dask array or Series aligned with ``y_true``, optional
    multilabel : bool
        Count (N, L) indicator / score matrices into a ``MultilabelConfusionMatrix``.
    threshold, ignore_index :
        As for ``ConfusionMatrix`` / ``MultilabelConfusionMatrix``.
    split_every : int
        How many accumulators each merge task adds (the tree's fan-in).
    compute : bool
        ``False`` returns a ``dask.delayed`` object that computes to the accumulator.

    Returns
    -------
    ConfusionMatrix or MultilabelConfusionMatrix (or a Delayed of one)
        Computed with the current scheduler: a ``distributed.Client``'s cluster when one is
        active. Weighted counts are float sums per partition, merged in a tree; they can differ
        from one sequential sum in the last bit, as any parallel sum does.

    Examples
    --------
    >>> import dask.dataframe as dd, pandas as pd
    >>> from confstream.adapters.dask import confusion_matrix
    >>> df = dd.from_pandas(pd.DataFrame({"y": ["a", "b", "b", "a"], "p": ["a", "b", "a", "a"]}),
    ...                     npartitions=2)
    >>> acc = confusion_matrix(df["y"], df["p"])
    >>> print(acc.report().to_dict()["a"]["recall"])
    1.0
    """
    dask = _import_dask()
    if split_every < 2:
        raise ValueError(f"split_every must be at least 2, got {split_every}")
    if multilabel and labels is not None:
        raise ValueError("labels does not apply with multilabel=True; use num_classes")
    parts = _aligned_partitions(y_true, y_pred, sample_weight)
    if multilabel and num_classes is None:
        num_classes = _width(y_true)
    spec = _Spec(multilabel, num_classes, None if labels is None else list(labels),
                 threshold, ignore_index)
    count = dask.delayed(_count, pure=True)
    level = [count(spec, yt, yp, w) for yt, yp, w in parts]
    if not level:
        level = [dask.delayed(spec.new, pure=True)()]
    total = tree_reduce(level, dask.delayed(_merge, pure=True), split_every)
    return total.compute() if compute else total


def grouped_confusion_matrix(
    y_true: Any,
    y_pred: Any,
    groups: Any,
    *,
    num_classes: int | None = None,
    labels: Sequence[Any] | None = None,
    group_keys: Sequence[Any] | None = None,
    sample_weight: Any = None,
    threshold: float = 0.5,
    ignore_index: Any = None,
    split_every: int = 8,
    compute: bool = True,
) -> Any:
    """Count Dask ``y_true`` against ``y_pred`` per group into one ``GroupedConfusionMatrix``.

    ``groups`` is a Dask array / Series aligned with ``y_true`` (one key per sample), or a
    tuple of them (or a Dask DataFrame of key columns) for crossed slices. Partitions are
    counted where they live and the accumulators tree-reduced with ``+``, as
    :func:`confusion_matrix` does; ``group_keys`` fixes the group space up front (the
    ``groups=`` of ``GroupedConfusionMatrix``). Other parameters as :func:`confusion_matrix`.

    >>> import dask.array as da
    >>> from confstream.adapters.dask import grouped_confusion_matrix
    >>> y = da.from_array([0, 1, 1, 0, 1, 1], chunks=2)
    >>> g = da.from_array(["a", "a", "b", "b", "b", "a"], chunks=3)
    >>> grouped_confusion_matrix(y, y, g).by_group("count")
    {'a': 3.0, 'b': 3.0}
    """
    dask = _import_dask()
    if split_every < 2:
        raise ValueError(f"split_every must be at least 2, got {split_every}")
    cols, crossed, names = _group_columns(groups)
    parts = _aligned_partitions(y_true, y_pred, sample_weight, cols, names)
    spec = _GroupedSpec(num_classes, None if labels is None else list(labels),
                        None if group_keys is None else list(group_keys), threshold,
                        ignore_index, crossed)
    count = dask.delayed(_count_grouped, pure=True)
    level = [count(spec, yt, yp, w, *gs) for yt, yp, w, *gs in parts]
    if not level:
        level = [dask.delayed(spec.new, pure=True)()]
    total = tree_reduce(level, dask.delayed(_merge, pure=True), split_every)
    return total.compute() if compute else total


def grouped_multilabel_confusion_matrix(
    y_true: Any,
    y_pred: Any,
    groups: Any,
    *,
    num_labels: int | None = None,
    group_keys: Sequence[Any] | None = None,
    sample_weight: Any = None,
    threshold: float | Sequence[float] = 0.5,
    split_every: int = 8,
    compute: bool = True,
) -> Any:
    """Count Dask (N, L) ``y_true`` against ``y_pred`` per group into one
    ``GroupedMultilabelConfusionMatrix``: the multi-label twin of
    :func:`grouped_confusion_matrix`.

    ``y_true`` is a 2-D Dask array or a Dask DataFrame of L indicator columns; ``y_pred`` the
    same shape, 0/1 indicators or scores (``> threshold``, one value or one per label).
    ``groups``: a Dask array / Series aligned with ``y_true``, a tuple of them or a Dask
    DataFrame of key columns (crossed slices). ``num_labels`` defaults to ``y_true``'s width;
    ``group_keys`` fixes the group space. Each partition is counted where it lives and the
    accumulators are tree-reduced with ``+``; the result equals one accumulator updated with
    all the rows, so each group's report is scikit-learn's on that group's rows.

    >>> import dask.array as da, numpy as np
    >>> from confstream.adapters.dask import grouped_multilabel_confusion_matrix
    >>> y = da.from_array(np.array([[1, 0], [0, 1], [1, 1], [0, 0]]), chunks=(2, 2))
    >>> s = da.from_array(np.array([[0.9, 0.2], [0.4, 0.7], [0.8, 0.1], [0.3, 0.6]]),
    ...                   chunks=(3, 2))
    >>> g = da.from_array(np.array(["a", "b", "a", "b"]), chunks=2)
    >>> grouped_multilabel_confusion_matrix(y, s, g).by_group("recall", of_class="micro")
    {'a': 0.6666666666666666, 'b': 1.0}
    """
    dask = _import_dask()
    if split_every < 2:
        raise ValueError(f"split_every must be at least 2, got {split_every}")
    cols, crossed, names = _group_columns(groups)
    if num_labels is None:
        num_labels = _width(y_true)
        if num_labels is None:
            raise ValueError("num_labels is needed when y_true's width is unknown")
    spec = _GroupedMultilabelSpec(num_labels, threshold,
                                  None if group_keys is None else list(group_keys), crossed)
    spec.new()  # the accumulator's own checks, here rather than on a worker
    parts = _aligned_partitions(y_true, y_pred, sample_weight, cols, names)
    count = dask.delayed(_count_grouped, pure=True)
    level = [count(spec, yt, yp, w, *gs) for yt, yp, w, *gs in parts]
    if not level:
        level = [dask.delayed(spec.new, pure=True)()]
    total = tree_reduce(level, dask.delayed(_merge, pure=True), split_every)
    return total.compute() if compute else total


def _group_columns(groups: Any) -> tuple[list, bool, list[str]]:
    """The key columns of ``groups``, whether they are crossed, and their argument names."""
    # a DataFrame, not a Series (a dask Series answers hasattr(s, "columns") too)
    frame = _is_frame(groups) and getattr(groups, "ndim", 1) == 2
    if frame:
        cols = [groups[c] for c in groups.columns]
    else:
        cols = list(groups) if isinstance(groups, tuple) else [groups]
    crossed = len(cols) > 1 or isinstance(groups, tuple) or frame
    names = [f"groups[{j}]" for j in range(len(cols))] if crossed else ["groups"]
    return cols, crossed, names


def score_curves(
    y_true: Any,
    y_score: Any,
    *,
    num_classes: int | None = None,
    labels: Sequence[Any] | None = None,
    multilabel: bool = False,
    bits: int | None = None,
    ovo: bool = False,
    resolution: str = "fixed",
    intervals: int | None = None,
    sample_weight: Any = None,
    split_every: int = 8,
    compute: bool = True,
) -> Any:
    """Stream Dask ``y_true`` and ``y_score`` into one ``ScoreCurves`` (or, with
    ``multilabel=True``, ``MultilabelScoreCurves``), partition by partition.

    Each partition fills its own histogram where it lives; the histograms (``num_bins`` x
    columns x cells, never the scores) are tree-reduced with ``+``, as
    :func:`confusion_matrix` does, so the result equals one accumulator updated with all the
    data: ``roc_auc()``, ``average_precision()`` and the curves are scikit-learn's (float16 /
    bfloat16 / small-integer scores) or certified (float32 / float64, see docs/CURVES.md).
    ``num_classes`` / ``labels`` / ``bits`` / ``ovo`` / ``resolution`` / ``intervals`` are
    those of ``ScoreCurves`` (adaptive interval lists are merged by their union, coarsened
    past ``intervals``, as ``+`` merges them); with
    ``multilabel=True`` ``num_classes`` is the number of labels (default: ``y_true``'s width).
    Alignment of partitions, ``split_every`` and ``compute`` as :func:`confusion_matrix`.

    >>> import dask.array as da, numpy as np
    >>> from confstream.adapters.dask import score_curves
    >>> y = da.from_array([0, 1, 1, 0, 1, 0], chunks=2)
    >>> s = da.from_array(np.array([0.1, 0.8, 0.3, 0.35, 0.9, 0.2], np.float16), chunks=3)
    >>> score_curves(y, s).roc_auc()
    0.888888888888889
    """
    dask = _import_dask()
    if split_every < 2:
        raise ValueError(f"split_every must be at least 2, got {split_every}")
    if multilabel and (labels is not None or ovo):
        raise ValueError("labels and ovo do not apply with multilabel=True; use num_classes")
    parts = _aligned_partitions(y_true, y_score, sample_weight)
    if multilabel and num_classes is None:
        num_classes = _width(y_true)
        if num_classes is None:
            raise ValueError("multilabel=True needs num_classes when y_true's width is "
                             "unknown")
    spec = _CurveSpec(multilabel, num_classes, None if labels is None else list(labels), bits,
                      ovo, resolution=resolution, intervals=intervals)
    spec.new()  # the accumulator's own checks, here rather than on a worker
    count = dask.delayed(_count, pure=True)
    level = [count(spec, yt, ys, w) for yt, ys, w in parts]
    if not level:
        level = [dask.delayed(spec.new, pure=True)()]
    total = tree_reduce(level, dask.delayed(_merge, pure=True), split_every)
    return total.compute() if compute else total


def grouped_score_curves(
    y_true: Any,
    y_score: Any,
    groups: Any,
    *,
    num_classes: int | None = None,
    labels: Sequence[Any] | None = None,
    bits: int | None = None,
    resolution: str = "fixed",
    intervals: int | None = None,
    sample_weight: Any = None,
    split_every: int = 8,
    compute: bool = True,
) -> Any:
    """``{group: ScoreCurves}`` of Dask ``y_true`` / ``y_score``, one accumulator per group.

    ``groups`` as for :func:`grouped_confusion_matrix` (one key per sample, or a tuple of key
    columns / a DataFrame of them for crossed slices: keys are then tuples). Each partition
    splits its rows by group where it lives and fills one histogram per group; the
    histograms are added up per group in the tree-reduce, so each group's curves equal one
    accumulator updated with that group's rows (``roc_auc()`` is scikit-learn's
    ``roc_auc_score`` on them, exact or certified as ``ScoreCurves`` is). Groups come sorted;
    ``sum(result.values())`` is the curves of all rows. Other parameters as
    :func:`score_curves`.

    >>> import dask.array as da, numpy as np
    >>> from confstream.adapters.dask import grouped_score_curves
    >>> y = da.from_array([0, 1, 1, 0, 1, 0], chunks=2)
    >>> s = da.from_array(np.array([0.1, 0.8, 0.3, 0.35, 0.9, 0.2], np.float16), chunks=3)
    >>> g = da.from_array(["a", "a", "a", "b", "b", "b"], chunks=2)
    >>> {k: c.roc_auc() for k, c in grouped_score_curves(y, s, g).items()}
    {'a': 1.0, 'b': 1.0}
    """
    dask = _import_dask()
    if split_every < 2:
        raise ValueError(f"split_every must be at least 2, got {split_every}")
    cols, crossed, names = _group_columns(groups)
    spec = _CurveSpec(False, num_classes, None if labels is None else list(labels), bits,
                      False, resolution=resolution, intervals=intervals)
    spec.new()
    parts = _aligned_partitions(y_true, y_score, sample_weight, cols, names)
    count = dask.delayed(_count_curves_by_group, pure=True)
    level = [count(spec, crossed, yt, ys, w, *gs) for yt, ys, w, *gs in parts]
    if not level:
        level = [dask.delayed(_CurvesByGroup, pure=True)()]
    total = tree_reduce(level, dask.delayed(_merge, pure=True), split_every)
    total = dask.delayed(_CurvesByGroup.result, pure=True)(total)
    return total.compute() if compute else total


def classification_report(
    y_true: Any,
    y_pred: Any,
    *,
    labels: Sequence[Any] | None = None,
    target_names: Sequence[str] | None = None,
    sample_weight: Any = None,
    digits: int = 2,
    output_dict: bool = False,
    zero_division: Any = "warn",
    num_classes: int | None = None,
    multilabel: bool = False,
    threshold: float | Sequence[float] = 0.5,
    y_score: Any = None,
    bits: int | None = None,
    resolution: str = "fixed",
    intervals: int | None = None,
    split_every: int = 8,
) -> str | dict:
    """``sklearn.metrics.classification_report`` of Dask collections, counted per partition.

    Takes scikit-learn's keywords (``labels`` chooses the report's rows, as there; it does not
    fix the label space) plus ``num_classes`` / ``multilabel`` / ``threshold`` as
    :func:`confusion_matrix`. Returns the text, or the dict with ``output_dict=True``.

    ``y_score``: scores of the same rows, streamed into ``ScoreCurves`` in the same pass over
    the partitions; the report then carries each class's AUROC and average precision
    (``Report.with_curves``: a second table in the text, ``"auroc"`` / ``"ap"`` and their
    bounds in the dict). ``(N,)`` scores the positive class of 0/1 labels (or of
    ``labels=[neg, pos]``); ``(N, C)`` one class per column: classes ``0 .. C-1``, or
    ``labels`` naming the C classes in column order. ``bits``, ``resolution`` and
    ``intervals`` as for ``ScoreCurves``.

    >>> import dask.array as da
    >>> from confstream.adapters.dask import classification_report
    >>> y = da.from_array([0, 1, 1, 0, 1], chunks=2)
    >>> print(classification_report(y, y, output_dict=True)["accuracy"])
    1.0
    """
    acc = confusion_matrix(y_true, y_pred, num_classes=num_classes, sample_weight=sample_weight,
                           multilabel=multilabel, threshold=threshold, split_every=split_every,
                           compute=y_score is None)
    curves = None
    if y_score is not None:
        if multilabel:
            raise ValueError("y_score does not work with multilabel=True yet; use "
                             "score_curves(..., multilabel=True)")
        width = _width(y_score)
        space = {} if labels is None else {"labels": list(labels)}
        if width is not None and width > 2 and labels is None:
            space = {"num_classes": width}
        elif width is not None and width > 2 and len(space["labels"]) != width:
            raise ValueError(f"y_score has {width} columns but labels names "
                             f"{len(space['labels'])} classes (one per column, in order)")
        elif (width is None or width <= 2) and labels is not None and len(labels) != 2:
            raise ValueError(f"binary y_score scores labels=[neg, pos]; got {len(labels)} "
                             f"labels")
        lazy = score_curves(y_true, y_score, sample_weight=sample_weight, bits=bits,
                            resolution=resolution, intervals=intervals,
                            split_every=split_every, compute=False, **space)
        import dask
        acc, curves = dask.compute(acc, lazy)   # one pass over the partitions
    report = acc.report(labels=None if labels is None else list(labels),
                        target_names=None if target_names is None else list(target_names),
                        digits=digits, zero_division=zero_division)
    if curves is not None:
        report = report.with_curves(curves)
    return report.to_dict() if output_dict else str(report)


# --------------------------------------------------------------------------------------------
# tasks (run on workers: module-level and small, so they pickle by reference)

class _Spec:
    """How to build each partition's accumulator; the same for all of them."""

    def __init__(self, multilabel: bool, num_classes: int | None, labels: list | None,
                 threshold: Any, ignore_index: Any) -> None:
        self.multilabel = multilabel
        self.num_classes = num_classes
        self.labels = labels
        self.threshold = threshold
        self.ignore_index = ignore_index

    def new(self) -> Any:
        import confstream
        if self.multilabel:
            if self.num_classes is None:
                raise ValueError("multilabel=True needs num_classes when y_true's width is "
                                 "unknown")
            return confstream.MultilabelConfusionMatrix(self.num_classes,
                                                        threshold=self.threshold)
        return confstream.ConfusionMatrix(self.num_classes, labels=self.labels,
                                          threshold=self.threshold,
                                          ignore_index=self.ignore_index)

    def __dask_tokenize__(self) -> tuple:
        return ("confstream-dask-spec", self.multilabel, self.num_classes,
                None if self.labels is None else tuple(map(repr, self.labels)),
                repr(self.threshold), repr(self.ignore_index))


class _CurveSpec:
    """How to build each partition's score curves; the same for all of them."""

    def __init__(self, multilabel: bool, num_classes: int | None, labels: list | None,
                 bits: int | None, ovo: bool, *, resolution: str = "fixed",
                 intervals: int | None = None) -> None:
        self.multilabel, self.num_classes, self.labels = multilabel, num_classes, labels
        self.bits, self.ovo = bits, ovo
        self.resolution, self.intervals = resolution, intervals

    def new(self) -> Any:
        import confstream
        keys = {"bits": self.bits, "resolution": self.resolution, "intervals": self.intervals}
        if self.multilabel:
            return confstream.MultilabelScoreCurves(self.num_classes, **keys)
        if self.labels is not None:
            return confstream.ScoreCurves(labels=self.labels, ovo=self.ovo, **keys)
        return confstream.ScoreCurves(self.num_classes, ovo=self.ovo, **keys)

    def __dask_tokenize__(self) -> tuple:
        return ("confstream-dask-curve-spec", self.multilabel, self.num_classes,
                None if self.labels is None else tuple(map(repr, self.labels)), self.bits,
                self.ovo, self.resolution, self.intervals)


def _count(spec: Any, y_true: Any, y_pred: Any, sample_weight: Any) -> Any:
    return spec.new().update(_host(y_true), _host(y_pred),
                             sample_weight=None if sample_weight is None else _host(sample_weight))


class _CurvesByGroup:
    """Score curves per group key (one partition's, or the sum of several)."""

    def __init__(self, groups: dict | None = None) -> None:
        self.groups = {} if groups is None else groups

    def copy(self) -> "_CurvesByGroup":
        return _CurvesByGroup({k: v.copy() for k, v in self.groups.items()})

    def __iadd__(self, other: "_CurvesByGroup") -> "_CurvesByGroup":
        for k, v in other.groups.items():
            if k in self.groups:
                self.groups[k] += v
            else:
                self.groups[k] = v.copy()
        return self

    def result(self) -> dict:
        from confstream.grouped import _sort_key
        return {k: self.groups[k] for k in sorted(self.groups, key=_sort_key)}


def _count_curves_by_group(spec: Any, crossed: bool, y_true: Any, y_score: Any,
                           sample_weight: Any, *groups: Any) -> Any:
    import numpy as np

    t, s = np.asarray(_host(y_true)), np.asarray(_host(y_score))
    w = None if sample_weight is None else np.asarray(_host(sample_weight))
    keys = [np.asarray(_host(g)) for g in groups]
    n = len(t)
    if any(len(k) != n for k in keys):
        raise ValueError(f"groups have {[len(k) for k in keys]} rows but y_true has {n}")
    codes = np.zeros(n, np.int64)
    for k in keys:                         # crossed keys: mixed-radix codes
        u, inv = np.unique(k, return_inverse=True)
        codes = codes * len(u) + inv.reshape(-1)
    out = _CurvesByGroup()
    present, first = np.unique(codes, return_index=True)
    try:
        for code, row in zip(present.tolist(), first.tolist()):
            m = codes == code
            vals = tuple(_scalar(k[row]) for k in keys)
            out.groups[vals if crossed else vals[0]] = spec.new().update(
                t[m], s[m], sample_weight=None if w is None else w[m])
    except (ValueError, TypeError):
        spec.new().update(t, s, sample_weight=w)   # the message with the partition's position
        raise
    return out


def _scalar(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


class _GroupedSpec:
    """How to build each partition's grouped accumulator; the same for all of them."""

    def __init__(self, num_classes: int | None, labels: list | None, group_keys: list | None,
                 threshold: Any, ignore_index: Any, crossed: bool) -> None:
        self.num_classes, self.labels, self.group_keys = num_classes, labels, group_keys
        self.threshold, self.ignore_index, self.crossed = threshold, ignore_index, crossed

    def new(self) -> Any:
        import confstream
        return confstream.GroupedConfusionMatrix(self.num_classes, labels=self.labels,
                                                 groups=self.group_keys,
                                                 threshold=self.threshold,
                                                 ignore_index=self.ignore_index)

    def __dask_tokenize__(self) -> tuple:
        return ("confstream-dask-grouped-spec", self.num_classes,
                None if self.labels is None else tuple(map(repr, self.labels)),
                None if self.group_keys is None else tuple(map(repr, self.group_keys)),
                repr(self.threshold), repr(self.ignore_index), self.crossed)


class _GroupedMultilabelSpec:
    """How to build each partition's grouped multi-label accumulator."""

    def __init__(self, num_labels: int, threshold: Any, group_keys: list | None,
                 crossed: bool) -> None:
        self.num_labels, self.threshold = num_labels, threshold
        self.group_keys, self.crossed = group_keys, crossed

    def new(self) -> Any:
        import confstream
        return confstream.GroupedMultilabelConfusionMatrix(self.num_labels,
                                                           threshold=self.threshold,
                                                           groups=self.group_keys)

    def __dask_tokenize__(self) -> tuple:
        return ("confstream-dask-grouped-ml-spec", self.num_labels, repr(self.threshold),
                None if self.group_keys is None else tuple(map(repr, self.group_keys)),
                self.crossed)


def _count_grouped(spec: Any, y_true: Any, y_pred: Any, sample_weight: Any,
                   *groups: Any) -> Any:
    keys = tuple(_host(g) for g in groups) if spec.crossed else _host(groups[0])
    return spec.new().update(_host(y_true), _host(y_pred), keys,
                             sample_weight=None if sample_weight is None else _host(sample_weight))


def tree_reduce(items: list, merge: Any, split_every: int = 8) -> Any:
    """Merge ``items`` (delayed accumulators, or futures) ``split_every`` at a time, level by
    level, with ``merge`` (``dask.delayed(_merge)``, or a function submitting ``_merge``)."""
    while len(items) > 1:
        items = [merge(*items[i:i + split_every]) for i in range(0, len(items), split_every)]
    return items[0]


def _merge(*accs: Any) -> Any:
    out = accs[0].copy()
    for acc in accs[1:]:
        out += acc
    return out


def _host(x: Any) -> Any:
    """A pandas partition as numpy; a categorical column as its values."""
    if type(x).__module__.split(".")[0] != "pandas":
        return x
    import pandas as pd
    dtype = getattr(x, "dtype", None)
    if isinstance(dtype, pd.CategoricalDtype):
        x = x.astype(dtype.categories.dtype)
        dtype = x.dtype
    if isinstance(dtype, pd.StringDtype) and not x.isna().any():
        return x.to_numpy(dtype=str)          # fixed-width unicode, not one object per row
    return x.to_numpy()


# --------------------------------------------------------------------------------------------
# partition alignment

def _is_frame(x: Any) -> bool:
    """A Dask Series or DataFrame."""
    return hasattr(x, "npartitions") and hasattr(x, "to_delayed") and hasattr(x, "divisions")


def _is_array(x: Any) -> bool:
    import dask.array as da
    return isinstance(x, da.Array)


def _aligned_partitions(y_true: Any, y_pred: Any, sample_weight: Any,
                        extra: Sequence[Any] = (), extra_names: Sequence[str] = ()) -> list[tuple]:
    """One ``(y_true, y_pred, weight, *extra)`` tuple of delayed partitions per partition."""
    import dask.array as da
    inputs = [y_true, y_pred] + ([] if sample_weight is None else [sample_weight]) + list(extra)
    names = ["y_true", "y_pred"] + ([] if sample_weight is None else ["sample_weight"]) + list(
        extra_names)
    if all(_is_frame(x) for x in inputs):
        counts = [x.npartitions for x in inputs]
        if len(set(counts)) > 1:
            detail = ", ".join(f"{n} has {c}" for n, c in zip(names, counts))
            raise ValueError(f"partitions differ ({detail}): take the columns from one "
                             f"DataFrame, or repartition them alike")
        divisions = [tuple(x.divisions) for x in inputs]
        if all(None not in d for d in divisions) and len(set(divisions)) > 1:
            raise ValueError("partitions differ: the Series have the same number of partitions "
                             "but different index boundaries (divisions); take the columns "
                             "from one DataFrame, or repartition them alike")
        delayed = [list(x.to_delayed()) for x in inputs]
    else:
        arrays = []
        for x in inputs:
            if _is_frame(x):
                x = x.to_dask_array(lengths=True)
            elif not _is_array(x):
                x = _as_numpy(x)
            arrays.append(x)
        ref = next((a for a in arrays if _is_array(a)), None)
        if ref is None:
            ref = arrays[0] = da.from_array(arrays[0], chunks=_default_rows(arrays[0]))
        if ref.ndim == 0:
            raise ValueError("y_true must have at least one dimension")
        ref = _known(ref)
        rows = ref.chunks[0]
        aligned = []
        for name, a in zip(names, arrays):
            if not _is_array(a):
                a = da.from_array(a, chunks=(rows,) + tuple(-1 for _ in a.shape[1:]))
            a = _known(a)
            if a.ndim == 0 or a.shape[0] != ref.shape[0]:
                raise ValueError(f"{name} has {a.shape[0] if a.ndim else 0} rows but "
                                 f"y_true has {ref.shape[0]}")
            want = (rows,) + tuple((n,) for n in a.shape[1:])
            if a.chunks != want:
                a = a.rechunk(want)
            aligned.append(a)
        delayed = [list(a.to_delayed().ravel()) for a in aligned]
    if sample_weight is None:
        delayed.insert(2, [None] * len(delayed[0]))
    return list(zip(*delayed))


def _known(a: Any) -> Any:
    """``a`` with its chunk sizes known (computing them when a filter left them NaN)."""
    if any(math.isnan(c) for dim in a.chunks for c in dim):
        a = a.compute_chunk_sizes()
    return a


def _as_numpy(x: Any) -> Any:
    import numpy as np
    return np.asarray(x.to_numpy() if hasattr(x, "to_numpy") else x)


def _default_rows(x: Any) -> tuple:
    return (max(1, min(len(x), 1_000_000)),) + tuple(-1 for _ in x.shape[1:])


def _width(y_true: Any) -> int | None:
    shape = getattr(y_true, "shape", None)
    if _is_frame(y_true):
        cols = getattr(y_true, "columns", None)
        return None if cols is None else len(cols)
    if shape is not None and len(shape) == 2 and not math.isnan(shape[1]):
        return int(shape[1])
    return None
