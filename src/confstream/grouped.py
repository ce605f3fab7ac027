"""GroupedConfusionMatrix: one confusion matrix per group (slice), counted in one pass.

The cell of a sample is ``g·C² + t·C + p``: a group axis in front of the confusion matrix.
Labels go through the engine as for ``ConfusionMatrix`` (its batch forms, its label space,
its kernels' look-up and prediction rules); group keys through a small group space (one
``LabelSpace`` per key column, crossed columns through a table of their combinations).
Each group's counts read out as a real ``ConfusionMatrix``, so every read-out it has works
per group, and reports equal scikit-learn's on that group's rows.
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads

from . import _group_kernels as GK
from . import _inputs as I
from . import _kernels as K
from . import _state as S
from .confusion import (
    FORMAT_VERSION,
    ConfusionMatrix,
    LabelTypeError,
    _Accumulator,
    _check_header,
    _state_array,
    _Weights,
    commit_kinds,
)
from .confusion import from_dict as _from_dict
from ._group_space import (
    _GroupSpace,
    _lookup_key,
    _NeedGrow,
    _read_keys,
    _unknown_key,
    encode,
)

__all__ = ["GroupedConfusionMatrix", "from_dict"]

_NO1 = np.zeros(0, dtype=np.float64)
_NOLUT = np.zeros(0, dtype=np.int64)


# --------------------------------------------------------------------------------------------
# the accumulator


class _GroupedBase(_Accumulator):
    """What the grouped accumulators share: the group axis and the read-outs over it.

    A subclass keeps ``_gspace`` and ``_lock`` and says how one group reads out:
    ``_group_total(i)`` (samples counted in group i), ``_matrix(_group_state(i))`` (that
    group's plain accumulator), ``overall()``, ``_group_metric(acc, metric, of_class, kw)``
    and ``_default_class(metric, of_class)``.
    """

    @property
    def groups(self) -> list:
        """The groups: in the given order for a fixed group space, else sorted."""
        with self._lock:
            keys = self._gspace.keys()
        return keys if self._gspace.fixed else sorted(keys, key=_sort_key)

    def _order(self):
        keys = self._gspace.keys()
        if self._gspace.fixed:
            return np.arange(len(keys))
        return np.array(sorted(range(len(keys)), key=lambda i: _sort_key(keys[i])),
                        dtype=np.int64)

    def __len__(self):
        return len(self._gspace)

    def __contains__(self, key):
        return self._gspace.index_of(key) is not None

    def __iter__(self):
        return iter(self.groups)

    def __getitem__(self, key):
        """That group's accumulator (a copy: updating it changes nothing here)."""
        with self._lock:
            i = self._gspace.index_of(key)
            if i is None:
                raise KeyError(f"no group {key!r}; groups: {I.show_labels(self.groups)}")
            return self._matrix(self._group_state(i))

    def matrices(self) -> dict:
        """``{group: accumulator}`` for the groups with at least one counted sample."""
        with self._lock:
            out = {}
            for key in self.groups:
                i = self._gspace.index_of(key)
                if self._group_total(i) > 0:
                    out[key] = self._matrix(self._group_state(i))
            return out

    def report(self, labels=None, target_names=None, digits=2,
               zero_division="warn") -> dict:
        """``{group: Report}``: each equals scikit-learn's ``classification_report`` on that
        group's rows (labels found per group, as scikit-learn finds them, unless ``labels``
        is given). Groups with no counted sample are left out."""
        mats = self.matrices()
        for g, cm in mats.items():  # refused before any group's report has warned
            if cm.weighted and cm._wsum == 0:
                raise ValueError(f"group {g!r}: Sample weights must contain at least one "
                                 f"non-zero number.")
        out = {}
        for g, cm in mats.items():
            try:
                out[g] = cm.report(labels=labels, target_names=target_names, digits=digits,
                                   zero_division=zero_division)
            except ValueError as exc:  # e.g. all of a group's weights are zero
                raise ValueError(f"group {g!r}: {exc}") from None
        return out

    def by_group(self, metric, of_class=None, **kwargs) -> dict:
        """``{group: value}`` of one metric, as fairlearn's ``MetricFrame.by_group``.

        ``metric``: ``"accuracy"``, ``"balanced_accuracy"``, ``"matthews_corrcoef"``,
        ``"cohen_kappa"``; per class (``of_class`` a label, or an average ``"micro"`` /
        ``"macro"`` / ``"weighted"``; default: label 1 of binary 0/1 data, as scikit-learn's
        ``pos_label``): ``"precision"``, ``"recall"`` (``"true_positive_rate"``), ``"f1"``,
        ``"support"``, ``"jaccard"``, ``"specificity"`` (``"true_negative_rate"``),
        ``"false_positive_rate"``, ``"false_negative_rate"``, ``"selection_rate"``;
        ``"count"`` (samples, or weight); or a function of a ``ConfusionMatrix``.
        ``kwargs`` go to the metric (``zero_division=0``, ``beta=2``, ``weights=...``).
        """
        mats = self.matrices()
        pos = self._default_class(metric, of_class)
        return {g: self._group_metric(cm, metric, pos, kwargs) for g, cm in mats.items()}

    def difference(self, metric, of_class=None, method="between_groups", **kwargs) -> float:
        """The largest gap of ``metric`` between groups, as fairlearn's
        ``MetricFrame.difference(method)``: ``"between_groups"`` (max - min over groups) or
        ``"to_overall"`` (largest |group - overall|). NaN values are skipped."""
        _check_method(method)
        vals = self._values(metric, of_class, kwargs)
        if method == "between_groups":
            return _nanmax(vals) - _nanmin(vals)
        if method == "to_overall":
            overall = self._overall_value(metric, of_class, kwargs)
            return _nanmax(np.abs(vals - overall))
        raise ValueError(f"method must be 'between_groups' or 'to_overall', got {method!r}")

    def ratio(self, metric, of_class=None, method="between_groups", **kwargs) -> float:
        """The smallest ratio of ``metric`` between groups (at most 1), as fairlearn's
        ``MetricFrame.ratio(method)``: ``"between_groups"`` (min / max over groups) or
        ``"to_overall"`` (smallest of group / overall, each taken as at most 1)."""
        _check_method(method)
        vals = self._values(metric, of_class, kwargs)
        with np.errstate(divide="ignore", invalid="ignore"):
            if method == "between_groups":
                return float(np.float64(_nanmin(vals)) / np.float64(_nanmax(vals)))
            if method == "to_overall":
                overall = self._overall_value(metric, of_class, kwargs)
                r = vals / np.float64(overall)
                r = np.where(r > 1, 1 / r, r)
                return _nanmin(r)
        raise ValueError(f"method must be 'between_groups' or 'to_overall', got {method!r}")

    def _values(self, metric, of_class, kwargs):
        vals = list(self.by_group(metric, of_class, **kwargs).values())
        if not vals:
            raise ValueError("no group has a counted sample yet")
        return np.array(vals, dtype=np.float64)

    def _overall_value(self, metric, of_class, kwargs):
        return float(self._group_metric(self.overall(), metric,
                                        self._default_class(metric, of_class), kwargs))

    def to_pandas(self, names=None, **report_kwargs):
        """A long DataFrame: one row per (group, class or average) of each group's report,
        with columns ``names`` (default ``group`` or ``group_0, group_1, ...``), ``class``,
        precision, recall, f1-score, support."""
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - exercised without pandas only
            raise ImportError('to_pandas() needs pandas: pip install "confstream[pandas]"') from None
        ncols = self._gspace.ncols or 1
        if names is None:
            names = ["group"] if ncols == 1 else [f"group_{j}" for j in range(ncols)]
        names = [names] if isinstance(names, str) else list(names)
        if len(names) != ncols:
            raise ValueError(f"names has {len(names)} entries for {ncols} key column(s)")
        records = []
        for g, rep in self.report(**report_kwargs).items():
            parts = list(g) if ncols > 1 else [g]
            for cls, v in rep.to_dict().items():
                if cls == "accuracy":
                    v = {"precision": None, "recall": None, "f1-score": v, "support": None}
                records.append(dict(zip(names, parts), **{"class": cls}, **v))
        return pd.DataFrame.from_records(
            records, columns=names + ["class", "precision", "recall", "f1-score", "support"])

    def copy(self):
        with self._lock:
            new = self.__class__.__new__(self.__class__)
            new.__setstate__(self.__getstate__())
        return new

    def sync(self, group=None):
        """The sum of this accumulator over all ranks of a ``torch.distributed`` process
        group (a collective: every rank calls it); see ``confstream.adapters.torch.sync``.
        Groups and labels seen on some ranks only are in the result."""
        from confstream.adapters.torch import sync

        return sync(self, group)

    def _skeleton(self):
        """An empty copy that keeps the spaces (labels, groups, how they print): what ranks
        exchange before their counts are summed."""
        with self._lock:
            new = self.copy()
        kinds = {k: set(getattr(new, k)) for k in ("_tkinds", "_pkinds") if hasattr(new, k)}
        new._reset_state()
        for k, v in kinds.items():
            setattr(new, k, v)
        return new

    def __getstate__(self):
        with self._lock:
            state = {k: v for k, v in self.__dict__.items() if k not in ("_lock", "_pending")}
            out = {}
            for k, v in state.items():
                if isinstance(v, np.ndarray):
                    v = v.copy()
                elif isinstance(v, (I.LabelSpace, _GroupSpace)):
                    v = v.copy()
                elif isinstance(v, set):
                    v = set(v)
                out[k] = v
            return (FORMAT_VERSION, out)


class GroupedConfusionMatrix(_GroupedBase):
    """One confusion matrix per group (slice of the data), streamed.

    Parameters
    ----------
    num_classes, labels, threshold, ignore_index :
        The label space and input rules, as for ``ConfusionMatrix`` (shared by all groups).
    groups : sequence, optional
        The group space, fixed up front: keys (ints, bools or strings), or tuples of keys for
        crossed slices. Without it the space grows as keys appear.

    Examples
    --------
    >>> acc = GroupedConfusionMatrix()
    >>> _ = acc.update([0, 1, 1, 0, 1], [0, 1, 0, 0, 1], groups=["eu", "eu", "us", "us", "us"])
    >>> acc.groups
    ['eu', 'us']
    >>> acc["us"].counts.tolist()
    [[1, 0], [1, 1]]
    >>> acc.by_group("recall", of_class=1)
    {'eu': 1.0, 'us': 0.5}
    >>> acc.difference("recall", of_class=1)
    0.5
    """

    _kind = "GroupedConfusionMatrix"

    # The state, declared once (``_state.Field``): the per-group arrays have the groups as
    # their first axis (``_ng``); the sums over all groups are kept apart (added in input
    # order over all samples, as scikit-learn adds them on the whole data). ``ones``: what a
    # field holds when every sample so far weighed 1.
    _FIELDS = (
        S.Field("_n", "n", "counts", S.cells, True, head="_ng"),
        S.Field("_w", "w", "weights.cells", S.cells, False, S.WEIGHTED, head="_ng",
                ones=lambda s: s["n"].astype(np.float64)),
        S.Field("_tw", "tw", "weights.true", S.per_class, False, S.WEIGHTED, head="_ng",
                ones=lambda s: s["n"].sum(axis=2).astype(np.float64)),
        S.Field("_pw", "pw", "weights.pred", S.per_class, False, S.WEIGHTED, head="_ng",
                ones=lambda s: s["n"].sum(axis=1).astype(np.float64)),
        S.Field("_ws", "ws", "weights.total", S.scalar, False, S.WEIGHTED, head="_ng",
                ones=lambda s: s["n"].sum(axis=(1, 2)).astype(np.float64)),
        S.Field("_ow", "ow", "weights.overall.cells", S.cells, False, S.WEIGHTED,
                ones=lambda s: s["n"].sum(axis=0).astype(np.float64)),
        S.Field("_otw", "otw", "weights.overall.true", S.per_class, False, S.WEIGHTED,
                ones=lambda s: s["n"].sum(axis=(0, 2)).astype(np.float64)),
        S.Field("_opw", "opw", "weights.overall.pred", S.per_class, False, S.WEIGHTED,
                ones=lambda s: s["n"].sum(axis=(0, 1)).astype(np.float64)),
        S.Field("_ows", "ows", "weights.overall.total", S.scalar, False, S.WEIGHTED,
                ones=lambda s: float(s["n"].sum())),
    )

    def __init__(self, num_classes=None, *, labels=None, groups=None, threshold=0.5,
                 ignore_index=None):
        # ConfusionMatrix checks the arguments and builds the label space
        proto = ConfusionMatrix(num_classes, labels=labels, threshold=threshold,
                                ignore_index=ignore_index)
        self._space = proto._space
        self.threshold = proto.threshold
        self.ignore_index = proto.ignore_index
        self._gspace = _GroupSpace() if groups is None else _GroupSpace.from_keys(groups)
        self._init_common()
        self._reset_state()

    def _init_common(self):
        super()._init_common()
        self._version = 0  # bumped whenever a space changes: a table counted meanwhile is stale

    @property
    def _ng(self) -> int:
        return len(self._gspace)

    def _reset_state(self):
        g, c = len(self._gspace), len(self._space)
        self._n = np.zeros((g, c, c), dtype=np.int64)
        self._weighted = False
        self._w = self._tw = self._pw = self._ws = None
        self._ow = self._otw = self._opw = self._ows = None
        self._tkinds: set = set()
        self._pkinds: set = set()

    def __setstate__(self, state):
        super().__setstate__(state)
        if isinstance(getattr(self, "_ows", None), np.ndarray):  # pickles of 2026-12-01
            self._ows = float(self._ows.reshape(-1)[0]) if self._weighted else None

    # -- public state ---------------------------------------------------------------------
    @property
    def labels(self) -> list:
        """The label space in index order (shared by all groups)."""
        return list(self._space.values)

    @property
    def num_classes(self) -> int:
        return len(self._space)

    @property
    def fixed(self) -> bool:
        return self._space.fixed

    @property
    def counts(self) -> np.ndarray:
        """(G, C, C) counts in the order of ``groups``; float64 once weights were used."""
        with self._lock:
            order = self._order()
            return (self._w if self._weighted else self._n)[order].copy()

    @property
    def sample_counts(self) -> np.ndarray:
        with self._lock:
            return self._n[self._order()].copy()

    def reset(self):
        """Forget all counts (and, for dynamic spaces, the labels and groups seen)."""
        with self._lock:
            if not self._space.fixed:
                self._space = I.LabelSpace()
            if not self._gspace.fixed:
                self._gspace = _GroupSpace()
            self._version += 1
            self._reset_state()
        return self

    def __repr__(self):
        return (f"GroupedConfusionMatrix(labels={I.show_labels(self.labels)}, "
                f"groups={I.show_labels(self.groups)}, samples={int(self._n.sum())}, "
                f"weighted={self._weighted})")

    # -- update -------------------------------------------------------------------------
    def update(self, y_true, y_pred, groups, sample_weight=None):
        """Fold a batch into the per-group matrices; returns ``self``.

        ``y_true`` / ``y_pred`` take every form ``ConfusionMatrix.update`` takes; ``groups``
        is one key per sample (ints, bools or strings), or a tuple of such columns (or a
        DataFrame) for crossed slices, whose groups are tuples. For masks, one key per image
        is spread over its pixels. A batch with a bad value raises and changes nothing.
        """
        y_true, y_pred = _host(y_true), _host(y_pred)
        try:
            t = I.as_array(y_true, "y_true")
            p = I.as_array(y_pred, "y_pred")
        except TypeError as exc:
            if "Mix of label" in str(exc):
                raise LabelTypeError(str(exc)) from None
            raise
        space = self._space
        b = self._proto(space)._prepare(t, p)
        n = b.t.shape[0]
        keys = _read_keys(groups, n, b.tshape)
        w = None
        if sample_weight is not None:
            w = I.as_weights(_host(sample_weight), n)
        if n == 0:
            return self
        if w is None and not self._weighted:
            snap = self._version
            try:
                plan = self._plan(b, keys, grow=False, space=space, gspace=self._gspace)
            except _NeedGrow:
                plan = None
            if plan is not None:
                table, pos, code = self._table(plan)
                if pos < 0:
                    with self._lock:
                        if self._version == snap and not self._weighted:
                            self._n[:plan.ng, :plan.n, :plan.n] += table
                            self._commit_kinds(b)
                            return self
                elif not self._can_grow(code):
                    raise self._bad(plan, pos, code, w)
        with self._lock:
            self._count_locked(b, keys, w)
        return self

    def _can_grow(self, code) -> bool:
        if code == GK.ERR_GROUP:
            return not self._gspace.fixed
        return code in (K.ERR_TRUE, K.ERR_PRED) and not self._space.fixed

    def _proto(self, space) -> ConfusionMatrix:
        """A ConfusionMatrix over ``space``: its batch forms and error messages serve here."""
        cm = ConfusionMatrix(threshold=self.threshold, ignore_index=self.ignore_index)
        cm._space = space
        return cm

    def _count_locked(self, b, keys, w):
        space, gspace = self._space, self._gspace
        unweighted = w is None and not self._weighted

        def attempt(plan):  # one validating pass: into a table of the batch's own, or cells
            return self._table(plan) if unweighted else self._cells(plan, w)

        try:
            plan = self._plan(b, keys, grow=False, space=space, gspace=gspace)
            table, pos, code = attempt(plan)
            if pos >= 0 and self._can_grow(code):
                raise _NeedGrow()
        except _NeedGrow:
            plan = self._plan(b, keys, grow=True, space=space.copy(), gspace=gspace.copy())
            table, pos, code = attempt(plan)
        if pos >= 0:
            raise self._bad(plan, pos, code, w)
        # validated: now make the arrays (which may fail: then nothing has changed) and commit
        arrays = self._resized(plan.ng, plan.n, weighted=self._weighted or w is not None)
        if plan.space is not space or plan.gspace is not gspace:
            self._version += 1
        self._space, self._gspace = plan.space, plan.gspace
        self._install(arrays)
        if unweighted:
            self._n[:plan.ng, :plan.n, :plan.n] += table
        else:  # ``table``: the batch's cells on the group's key axis
            ww = w if w is not None else np.ones(b.t.shape[0])
            total = np.array([self._ows])
            GK.count_into(table, ww, plan.n, (self._n, self._w, self._tw, self._pw, self._ws),
                          (self._ow, self._otw, self._opw, total))
            self._ows = float(total[0])
        self._commit_kinds(b)
        for j, k in enumerate(keys.kinds):
            if k not in self._gspace.kinds[j]:
                self._gspace.kinds[j].add(k)

    def _cells(self, plan, w):
        """The batch's cells on the group's key axis, validated (weights too): (cells,
        position, code), position -1 when the batch is valid."""
        out = np.empty(plan.t.shape[0], dtype=np.int64)
        pos, code = K.cells(plan.t, *plan.bundles(), _NO1 if w is None else w, out)
        return out, pos, code

    def _table(self, plan):
        pred, space, keys = plan.bundles()
        return GK.count_table(plan.t, pred, space, keys, get_num_threads())

    def _plan(self, b, keys, *, grow, space, gspace):
        """The batch as the kernels read it against ``space`` and ``gspace`` (grown in
        place when ``grow``: then they are copies)."""
        ign_on = self.ignore_index is not None
        ign = self.ignore_index if ign_on else 0
        t, p1 = b.t, b.p1
        grow_labels = grow and not space.fixed
        if not grow and space.kind is None and not space.fixed:
            raise _NeedGrow()  # an empty dynamic space: its kind is set by the first batch
        if not grow and gspace.ncols is None:
            raise _NeedGrow()
        try:
            if grow_labels:
                if b.tkind != "str" and not space._sparse:
                    space.grow_numeric(t if not ign_on else t[t != ign], "y_true", b.tshape)
                if b.form == K.PRED_LABELS and b.pkind != "str" and not space._sparse:
                    space.grow_numeric(p1, "y_pred", b.pshape)
                elif b.form != K.PRED_LABELS:
                    space._check_kind("num", "y_pred")
                    space.add_keys(range(b.width or 2))
            if space.kind == "str" and "str" not in (b.tkind, b.pkind):
                raise self._proto(space)._mix_error(b)
            if space.kind == "num" and "str" in (
                    b.tkind, b.pkind if b.form == K.PRED_LABELS else ""):
                raise self._proto(space)._mix_error(b)
            need_map = space._sparse or "str" in (
                b.tkind, b.pkind if b.form == K.PRED_LABELS else "")
            has_ign = ign_on
            if need_map:
                keep = None
                if ign_on and b.tkind != "str":
                    keep = t != ign
                    if keep.all():
                        keep = None
                    elif keep.any():  # ignored samples read as a known label, then skipped
                        t = np.where(keep, t, t[np.argmax(keep)])
                try:
                    if keep is None or keep.any():
                        t = space.codes_for_kernel(t, "y_true", b.tshape, grow_labels)
                    else:
                        t = np.zeros(t.shape[0], np.int64)
                    if b.form == K.PRED_LABELS:
                        p1 = space.codes_for_kernel(p1, "y_pred", b.pshape, grow_labels)
                except ValueError:
                    if grow or space.fixed:
                        raise
                    raise _NeedGrow() from None
                if keep is not None:
                    t = np.where(keep, t, -1)
                    ign, has_ign = -1, True
                else:
                    ign, has_ign = 0, False
                lut, lo = _NOLUT, 0
            else:
                if b.tkind != "str":
                    space._check_kind("num", "y_true")
                lut, lo = space.lut, space.lo
        except TypeError as exc:
            if isinstance(exc, LabelTypeError):
                raise
            raise LabelTypeError(str(exc)) from None
        g, glut, glo = encode(gspace, keys, grow and not gspace.fixed)
        return _Plan(b, t, p1, lut, lo, len(space), ign, has_ign, space.fixed, g, glut, glo,
                     len(gspace), space, gspace, keys)

    def _bad(self, plan, pos, code, w):
        if code == GK.ERR_GROUP:  # only single numeric key columns reach the kernel unmapped
            v = plan.g[pos]
            v = bool(v) if plan.keys.kinds[0] == "bool" else v
            return _unknown_key(plan.gspace, plan.keys.names[0], pos, v)
        return self._proto(plan.space)._error(plan.space, plan.b, pos, code,
                                              None if w is None else _Weights(w, None))

    def _resized(self, g, c, weighted):
        """{attr: array} of the state for g groups and c classes (new arrays; the old are
        kept until ``_install``: making them is what can fail); with ``weighted``, an
        unweighted state's weighted sums too (every sample so far weighed 1)."""
        return S.grown(self, self._FIELDS, c, g, promote=weighted)

    def _install(self, attrs):
        self.__dict__.update(attrs)
        if "_w" in attrs:
            self._weighted = True

    def _commit_kinds(self, b):
        commit_kinds(self._tkinds, self._pkinds, b)

    def _sync_arrays(self, weighted) -> dict:
        """The additive state as arrays (weighted sums filled in, weight 1 each, when
        ``weighted``): what ``sync`` sums over ranks."""
        with self._lock:
            return S.dense(self, self._FIELDS, weighted)

    def _load_sync_arrays(self, arrays, weighted):
        with self._lock:
            S.load_dense(self, self._FIELDS, arrays)

    # -- read-outs: one ConfusionMatrix per group ---------------------------------------
    def _matrix(self, state) -> ConfusionMatrix:
        """A real ConfusionMatrix over our label space holding ``state`` (adapters' hook)."""
        if self._space.fixed:
            cm = ConfusionMatrix(labels=list(self._space.values), threshold=self.threshold,
                                 ignore_index=self.ignore_index)
            if self._space._identity:
                cm = ConfusionMatrix(len(self._space), threshold=self.threshold,
                                     ignore_index=self.ignore_index)
        else:
            cm = ConfusionMatrix(threshold=self.threshold, ignore_index=self.ignore_index)
            if len(self._space):
                cm._expand(list(self._space.values))
        cm._add_state_arrays(state)
        return cm

    def _group_state(self, i) -> dict:
        d = {"n": self._n[i], "kinds": [sorted(self._tkinds), sorted(self._pkinds)]}
        if self._weighted:
            d.update(weighted=[1], w=self._w[i], true_w=self._tw[i], pred_w=self._pw[i],
                     wsum=[self._ws[i]])
        return d

    def overall(self) -> ConfusionMatrix:
        """All groups together, as one ``ConfusionMatrix`` (weighted sums kept in input
        order over all samples, as scikit-learn adds them on the whole data)."""
        with self._lock:
            d = {"n": self._n.sum(axis=0), "kinds": [sorted(self._tkinds), sorted(self._pkinds)]}
            if self._weighted:
                d.update(weighted=[1], w=self._ow, true_w=self._otw, pred_w=self._opw,
                         wsum=[self._ows])
            return self._matrix(d)

    def _group_total(self, i) -> int:
        return int(self._n[i].sum())

    @staticmethod
    def _group_metric(cm, metric, of_class, kw) -> float:
        return _metric(cm, metric, of_class, kw)

    def _default_class(self, metric, of_class):
        if of_class is not None or callable(metric) or metric in _WHOLE:
            return of_class
        seen = self.overall()._sums()[2].tolist() if self._n.sum() else []
        if set(seen) <= {0, 1} and len(self._space):
            return 1
        raise ValueError(f"by_group({metric!r}) needs of_class: a label, or 'micro' / "
                         f"'macro' / 'weighted' (the labels seen are {I.show_labels(seen)}, "
                         f"not binary 0/1)")

    def gaps(self, metrics=None, zero_division=0) -> dict:
        """The gap table: ``{(metric, class): {"min", "max", "difference", "ratio",
        "difference_to_overall", "ratio_to_overall"}}``, per class for precision, recall and
        f1 (and accuracy), over the groups seen."""
        labels = self.overall()._sums()[2].tolist() if self._n.sum() else []
        rows = [("accuracy", None)] + [(m, c) for c in labels
                                       for m in ("precision", "recall", "f1-score")]
        return _gaps(self, rows, metrics, zero_division)

    def _repr_html_(self) -> str:
        """A notebook table: one row per group, accuracy, per-class recall / precision / F1
        (``zero_division=0``) and the support, then the row of all groups together."""
        from html import escape

        mats = self.matrices()
        if not mats:
            return f"<pre>{escape(repr(self))}</pre>"
        overall = self.overall()
        labels = overall._sums()[2].tolist()
        heads = (["group", "accuracy"] + [f"{m} {c}" for c in labels
                                          for m in ("precision", "recall", "f1")] + ["support"])

        def row(name, cm):
            try:
                sums = cm.precision_recall_fscore_support(labels=labels, zero_division=0)
                cells = [_metric(cm, "accuracy", None, {})]
                for i in range(len(labels)):
                    cells += [sums[0][i], sums[1][i], sums[2][i]]
            except ValueError:  # every weight of the group is zero: no value is defined
                cells = [float("nan")] * (1 + 3 * len(labels))
            total = cm.counts.sum()
            return ("<tr><th>" + escape(str(name)) + "</th>"
                    + "".join(f"<td>{v:.3f}</td>" for v in cells)
                    + f"<td>{escape(_support(total))}</td></tr>")

        body = "".join(row(g, cm) for g, cm in mats.items()) + row("all", overall)
        return ("<table class='confstream-groups'><thead><tr>"
                + "".join(f"<th>{escape(h)}</th>" for h in heads)
                + f"</tr></thead><tbody>{body}</tbody></table>")

    # -- merging, state -------------------------------------------------------------------

    def _merge(self, other: "GroupedConfusionMatrix"):
        if self.threshold != other.threshold or self.ignore_index != other.ignore_index:
            raise ValueError(
                f"Cannot add grouped confusion matrices with different settings: threshold "
                f"{self.threshold} / ignore_index {self.ignore_index} and threshold "
                f"{other.threshold} / ignore_index {other.ignore_index}")
        labels = _union_labels(self._space, other._space)
        gspace = _union_groups(self._gspace, other._gspace)
        g, c = len(gspace), len(labels)
        weighted = self._weighted or other._weighted
        parts = []
        for acc in (self, other):
            li = np.array([labels.index[v] for v in acc._space.values], dtype=np.int64)
            gi = np.array([gspace.index_of(k) for k in acc._gspace.keys()], dtype=np.int64)
            parts.append((acc, li, gi))
        new = GroupedConfusionMatrix.__new__(GroupedConfusionMatrix)
        new._space, new._gspace = labels, gspace
        new._reset_state()
        new._weighted = weighted
        new.__dict__.update(S.zeros(new, self._FIELDS, c, g, weighted))
        for acc, li, gi in parts:
            S.add_into(new, self._FIELDS, S.dense(acc, self._FIELDS, weighted), li, gi)
        self._space, self._gspace = labels, gspace
        self._version += 1
        self._weighted = weighted
        self.__dict__.update({f.attr: getattr(new, f.attr) for f in self._FIELDS})
        self._tkinds |= other._tkinds
        self._pkinds |= other._pkinds

    def to_dict(self) -> dict:
        """JSON-safe state; ``GroupedConfusionMatrix.from_dict`` reads it back."""
        with self._lock:
            gs = self._gspace
            d = {
                "version": FORMAT_VERSION,
                "kind": self._kind,
                "labels": list(self._space.values),
                "fixed": self._space.fixed,
                "threshold": self.threshold,
                "ignore_index": self.ignore_index,
                "kinds": [sorted(self._tkinds), sorted(self._pkinds)],
                "groups": _groups_to_dict(gs),
                "counts": None,
                "weights": None,
            }
            S.to_dict(self, self._FIELDS, d)
            return d

    @classmethod
    def from_dict(cls, d: dict) -> "GroupedConfusionMatrix":
        """Rebuild an accumulator from ``to_dict()`` output, validating every field."""
        _check_header(d, cls._kind)
        nl = len(d.get("labels") or []) if isinstance(d.get("labels"), list) else 0
        base = dict(d, kind=ConfusionMatrix._kind, counts=np.zeros((nl, nl), np.int64),
                    weights=None)
        cm = ConfusionMatrix.from_dict(base)  # labels, settings and kinds, validated there
        acc = cls.__new__(cls)
        acc._space = cm._space
        acc.threshold, acc.ignore_index = cm.threshold, cm.ignore_index
        gs = _groups_from_dict(d.get("groups"))
        acc._gspace = gs
        acc._init_common()
        acc._reset_state()
        acc._tkinds, acc._pkinds = set(cm._tkinds), set(cm._pkinds)
        wd = d.get("weights")
        if wd is not None and (not isinstance(wd, dict) or not isinstance(wd.get("overall"),
                                                                        dict)):
            raise ValueError("state: 'weights' must be a dict with 'overall', or null")
        S.from_dict(acc, cls._FIELDS, d, len(acc._space), _array)
        acc._weighted = wd is not None
        return acc


def _groups_to_dict(gs: _GroupSpace) -> dict:
    """The group space as JSON-safe data (``_groups_from_dict`` reads it back)."""
    return {
        "fixed": gs.fixed,
        "columns": [{"keys": list(c.values), "kinds": sorted(k)}
                    for c, k in zip(gs.cols, gs.kinds)],
        "combinations": [list(c) for c in gs.combo_list] if gs.crossed else None,
    }


def _groups_from_dict(gd) -> _GroupSpace:
    """A group space from ``_groups_to_dict`` output, every field validated."""
    if not isinstance(gd, dict) or not isinstance(gd.get("columns"), list):
        raise ValueError("state: 'groups' must be a dict with a list of 'columns'")
    cols = gd["columns"]
    gs = _GroupSpace(len(cols) or None, fixed=bool(gd.get("fixed")))
    for j, col in enumerate(cols):
        keys = col.get("keys") if isinstance(col, dict) else None
        if not isinstance(keys, list) or not all(
                isinstance(v, (str, int)) and not isinstance(v, bool) for v in keys):
            raise ValueError(f"state: groups column {j} 'keys' must be a list of ints "
                             f"or strings")
        kinds = col.get("kinds", [])
        if not isinstance(kinds, list) or not set(kinds) <= {"int", "float", "bool", "str",
                                                                    "-0.0", "+0.0"}:
            raise ValueError(f"state: groups column {j} has bad 'kinds' {kinds!r}")
        sp = I.LabelSpace(keys) if keys else I.LabelSpace()
        sp.fixed = gs.fixed
        gs.cols[j], gs.kinds[j] = sp, set(kinds)
    combos = gd.get("combinations")
    if gs.crossed:
        if not isinstance(combos, list):
            raise ValueError("state: crossed groups need 'combinations'")
        for i, combo in enumerate(combos):
            if (not isinstance(combo, list) or len(combo) != gs.ncols or not all(
                    isinstance(c, int) and 0 <= c < len(gs.cols[j])
                    for j, c in enumerate(combo))):
                raise ValueError(f"state: combination {i} = {combo!r} is not "
                                 f"{gs.ncols} key indices")
            if tuple(combo) in gs.combos:
                raise ValueError(f"state: combination {combo!r} is repeated")
            gs.combos[tuple(combo)] = i
            gs.combo_list.append(tuple(combo))
    return gs


def _array(x, shape, name, integer=False):
    """``_state_array``, also for states with no group or no class yet (``[]`` in JSON)."""
    if int(np.prod(shape)) == 0 and isinstance(x, list) and np.asarray(x).size == 0:
        return np.zeros(shape, dtype=np.int64 if integer else np.float64)
    return _state_array(x, shape, name, integer=integer)


class _Plan:
    __slots__ = ("b", "t", "p1", "lut", "lo", "n", "ign", "has_ign", "cols_idx", "g", "glut",
                 "glo", "ng", "space", "gspace", "keys")

    def __init__(self, *args):
        for k, v in zip(self.__slots__, args):
            setattr(self, k, v)

    def bundles(self):
        """The kernels' argument bundles: (pred, space, keys), the group on the key axis."""
        space = K.space_of(self.lut, self.lo, self.n, self.ign, self.has_ign)
        b = self.b
        pred = K.pred_of(b.form, self.p1, b.p2, b.thr,
                         GK.colmap_of(b.form, b.p2, self.cols_idx, space))
        return pred, space, (self.g, self.glut, self.glo, self.ng, True)


def _host(x):
    return x.cpu() if I.is_device_tensor(x) else x


def _sort_key(k):
    return tuple(_sort_key(v) for v in k) if isinstance(k, tuple) else (isinstance(k, str), k)


def _union_labels(a, b):
    """The label space of a merge, by ConfusionMatrix's rules."""
    if len(a) and len(b) and a.kind != b.kind:
        raise LabelTypeError(f"Cannot add grouped confusion matrices over label spaces of "
                             f"different types: {I.show_labels(a.values)} and "
                             f"{I.show_labels(b.values)}")
    extra_b = [v for v in b.values if v not in a.index]
    extra_a = [v for v in a.values if v not in b.index]
    if a.fixed and (extra_b or (b.fixed and a.values != b.values)):
        raise ValueError(f"Cannot add grouped confusion matrices with different label spaces: "
                         f"{I.show_labels(a.values)} and {I.show_labels(b.values)}")
    if a.fixed:
        return a
    if b.fixed:
        if extra_a:
            raise ValueError(f"Cannot add grouped confusion matrices with different label "
                             f"spaces: {I.show_labels(a.values)} and {I.show_labels(b.values)}")
        return b.copy()
    out = a.copy()
    out.kind = out.kind or b.kind
    out.add_keys(b.values)
    return out


def _union_groups(a: _GroupSpace, b: _GroupSpace) -> _GroupSpace:
    if not b.ncols:
        return a
    if not a.ncols:
        if a.fixed:  # pragma: no cover - a fixed space always has columns
            return a
        return b.copy()
    if a.ncols != b.ncols:
        raise ValueError(f"Cannot add grouped confusion matrices whose groups have "
                         f"{a.ncols} and {b.ncols} key columns")
    ka, kb = a.keys(), b.keys()
    missing = [k for k in kb if a.index_of(k) is None]
    if a.fixed and missing:
        raise ValueError(f"Cannot add grouped confusion matrices with different group "
                         f"spaces: {a.describe()} and {b.describe()}")
    if b.fixed and not a.fixed:
        if [k for k in ka if b.index_of(k) is None]:
            raise ValueError(f"Cannot add grouped confusion matrices with different group "
                             f"spaces: {a.describe()} and {b.describe()}")
        out = b.copy()
        for j in range(out.ncols):
            out.kinds[j] |= a.kinds[j]
        return out
    if a.fixed:
        return a
    out = a.copy()
    for j in range(out.ncols):
        ca, cb = out.cols[j], b.cols[j]
        if len(ca) and len(cb) and ca.kind != cb.kind:
            raise LabelTypeError(f"Cannot add grouped confusion matrices whose group keys "
                                 f"are of different types: {a.describe()} and {b.describe()}")
        ca.kind = ca.kind or cb.kind
        ca.add_keys(cb.values)
        out.kinds[j] |= b.kinds[j]
    if out.crossed:
        for combo in b.combo_list:
            mine = tuple(out.cols[j].index[b.cols[j].values[c]] for j, c in enumerate(combo))
            if mine not in out.combos:
                out.combos[mine] = len(out.combo_list)
                out.combo_list.append(mine)
    return out


# --------------------------------------------------------------------------------------------
# metrics of one group's matrix

_WHOLE = ("accuracy", "balanced_accuracy", "matthews_corrcoef", "cohen_kappa", "count")
_AVERAGES = ("micro", "macro", "weighted")
_PRF = {"precision": 0, "recall": 1, "true_positive_rate": 1, "f1": 2, "f1-score": 2,
        "f1_score": 2, "fbeta": 2, "support": 3}


def _metric(cm: ConfusionMatrix, metric, of_class, kw) -> float:
    if callable(metric):
        return metric(cm, **kw)
    if metric == "accuracy":
        counts = cm.counts
        return float(np.trace(counts) / counts.sum())
    if metric == "count":
        return float(cm.counts.sum())
    if metric == "balanced_accuracy":
        return float(cm.balanced_accuracy(**kw))
    if metric == "matthews_corrcoef":
        return float(cm.matthews_corrcoef())
    if metric == "cohen_kappa":
        return float(cm.cohen_kappa(**kw))
    avg = of_class if isinstance(of_class, str) and of_class in _AVERAGES else None
    labels = None if avg else [of_class]
    if labels is not None and of_class not in cm.labels and not any(
            _lookup_key(of_class) == v for v in cm.labels):
        pass  # a label never seen: scikit-learn gives it zeros, and so does the engine
    if metric in _PRF:
        kw = dict(kw)
        zd = kw.pop("zero_division", "warn")
        beta = kw.pop("beta", 1.0)
        name = {0: "precision", 1: "recall", 2: "f-score", 3: "support"}[_PRF[metric]]
        res = cm.precision_recall_fscore_support(
            beta=beta, labels=labels, average=avg, zero_division=zd,
            warn_for=(name,) if name != "support" else ())
        v = res[_PRF[metric]]
        return float(v if avg else np.asarray(v)[0]) if v is not None else float("nan")
    if metric == "jaccard":
        v = cm.jaccard(average=avg, labels=labels, **kw)
        return float(v if avg else np.asarray(v)[0])
    if metric in ("specificity", "true_negative_rate"):
        v = cm.specificity(average=avg, labels=labels, **kw)
        return float(v if avg else np.asarray(v)[0])
    if metric in ("false_positive_rate", "false_negative_rate", "selection_rate"):
        if avg:
            raise ValueError(f"{metric} is per class: give of_class a label")
        s, _, _ = cm._sums(labels)
        tp, pred, true, total = float(s.tp[0]), float(s.pred[0]), float(s.true[0]), s.total
        with np.errstate(divide="ignore", invalid="ignore"):
            if metric == "selection_rate":
                return float(np.float64(pred) / np.float64(total))
            if metric == "false_positive_rate":
                fp, tn = pred - tp, total - pred - true + tp
                return float(np.float64(fp) / np.float64(fp + tn))
            fn = true - tp
            return float(np.float64(fn) / np.float64(fn + tp))
    raise ValueError(f"unknown metric {metric!r}")


def _support(v) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() else repr(v)


def _gaps(acc, rows, metrics, zero_division) -> dict:
    """The gap table of ``acc`` over ``rows`` of ``(metric, class)``: min, max, difference
    and ratio between groups and to the overall value (fairlearn's MetricFrame)."""
    out = {}
    rows = rows if metrics is None else [r for r in rows if r[0] in metrics]
    for m, c in rows:
        kw = {} if m in ("accuracy", "hamming_loss") else {"zero_division": zero_division}
        vals = acc._values(m, c, kw)
        out[(m, c)] = {
            "min": _nanmin(vals), "max": _nanmax(vals),
            "difference": acc.difference(m, c, **kw),
            "ratio": acc.ratio(m, c, **kw),
            "difference_to_overall": acc.difference(m, c, "to_overall", **kw),
            "ratio_to_overall": acc.ratio(m, c, "to_overall", **kw),
        }
    return out


def _check_method(method):
    if method not in ("between_groups", "to_overall"):
        raise ValueError(f"method must be 'between_groups' or 'to_overall', got {method!r}")


def _nanmax(v) -> float:
    v = np.asarray(v, dtype=np.float64)
    v = v[~np.isnan(v)]
    return float(v.max()) if v.size else float("nan")


def _nanmin(v) -> float:
    v = np.asarray(v, dtype=np.float64)
    v = v[~np.isnan(v)]
    return float(v.min()) if v.size else float("nan")




from_dict = _from_dict  # any accumulator, grouped ones too
