"""GroupedMultilabelConfusionMatrix: one multi-label confusion matrix per group, one pass.

The multi-label twin of ``GroupedConfusionMatrix``: the state of a
``MultilabelConfusionMatrix`` (per-label tp / pred / true and the per-sample histograms that
give ``samples avg`` exactly) with a group axis in front of it. Group keys go through the
same group space (``_group_space``), the read-outs over groups are the same
(``grouped._GroupedBase``), and each group reads out as a real ``MultilabelConfusionMatrix``.
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads

from . import _errors as E
from . import _group_kernels as GK
from . import _inputs as I
from . import _kernels as K
from . import _state as S
from .confusion import (
    FORMAT_VERSION,
    WEIGHT_RULE,
    MultilabelConfusionMatrix,
    _check_header,
    _hist_f,
    _hist_square,
    _numba_dtype,
)
from ._group_space import _GroupSpace, _NeedGrow, _read_keys, _unknown_key, encode
from .grouped import (
    _array,
    _gaps,
    _GroupedBase,
    _groups_from_dict,
    _groups_to_dict,
    _host,
    _union_groups,
)

__all__ = ["GroupedMultilabelConfusionMatrix"]

# the order of the state arrays that ``GK.ml_count_into`` adds into
_ML_STATE = ("tp", "pred", "true", "hp", "hr", "hf", "ns", "nzero", "tpw", "predw", "truew",
             "whp", "whr", "whf", "wsum")
_ML_OVERALL = ("tpw", "predw", "truew", "whp", "whr", "whf", "wsum")
_NO1 = np.zeros(0, dtype=np.float64)
_AVERAGES = ("micro", "macro", "weighted", "samples")
_PRF = {"precision": 0, "recall": 1, "true_positive_rate": 1, "f1": 2, "f1-score": 2,
        "f1_score": 2, "fbeta": 2, "support": 3}
_PER_LABEL = tuple(_PRF) + ("jaccard", "specificity", "true_negative_rate")


# The state, declared once (``_state.Field``): per group (the first axis, ``_ng``) the
# integer sums of a ``MultilabelConfusionMatrix`` and, once weighted, their weighted twins
# (``ones``: the twin when every sample so far weighed 1); over all groups the weighted sums
# added in input order over all samples (``overall_*``; the total as a 1-element array).
_INTS = (("tp", S.per_class), ("pred", S.per_class), ("true", S.per_class),
         ("hp", _hist_square), ("hr", _hist_square), ("hf", _hist_f), ("ns", S.scalar),
         ("nzero", S.scalar))
_FLOATS = (("tpw", "tp"), ("predw", "pred"), ("truew", "true"), ("whp", "hp"),
           ("whr", "hr"), ("whf", "hf"), ("wsum", "ns"))


def _one(L):
    return (1,)


def _twin(ik):
    return lambda s: s[ik].astype(np.float64)


def _twin_sum(ik):
    return lambda s: np.atleast_1d(s[ik].sum(axis=0).astype(np.float64))


_SHAPE = dict(_INTS)
_FIELDS = (
    *(S.Field("_" + k, k, "counts." + k, shape, True, head="_ng") for k, shape in _INTS),
    *(S.Field("_" + k, k, "weights." + k, _SHAPE[ik], False, S.WEIGHTED, head="_ng",
              ones=_twin(ik)) for k, ik in _FLOATS),
    *(S.Field("_o" + k, "overall_" + k, "weights.overall." + k,
              _one if k == "wsum" else _SHAPE[ik], False, S.WEIGHTED, ones=_twin_sum(ik))
      for k, ik in _FLOATS),
)


class GroupedMultilabelConfusionMatrix(_GroupedBase):
    """One multi-label confusion matrix per group (slice of the data), streamed.

    Parameters
    ----------
    num_labels : int
        Number of labels (columns of the indicator / score matrices).
    threshold : float or sequence of float
        Scores ``> threshold`` (one value, or one per label) predict the label, as for
        ``MultilabelConfusionMatrix``.
    groups : sequence, optional
        The group space, fixed up front: keys (ints, bools or strings), or tuples of keys for
        crossed slices. Without it the space grows as keys appear.

    Memory: per group, ``3·L`` sums and the per-sample histograms of ``(L + 1)·(4·L + 3)``
    cells (twice that once weights are used): what ``samples avg`` needs to be exact.

    Examples
    --------
    >>> acc = GroupedMultilabelConfusionMatrix(3)
    >>> _ = acc.update([[1, 0, 1], [0, 1, 0], [1, 1, 0]],
    ...                [[0.9, 0.2, 0.4], [0.1, 0.7, 0.6], [0.8, 0.3, 0.1]],
    ...                groups=["eu", "us", "us"])
    >>> acc.groups
    ['eu', 'us']
    >>> acc["us"].counts[1].tolist()
    [[0, 0], [1, 1]]
    >>> acc.by_group("recall", of_class="micro")
    {'eu': 0.5, 'us': 0.6666666666666666}
    """

    _kind = "GroupedMultilabelConfusionMatrix"
    _FIELDS = _FIELDS

    def __init__(self, num_labels, *, threshold=0.5, groups=None):
        proto = MultilabelConfusionMatrix(num_labels, threshold=threshold)  # checks both
        self.num_labels = proto.num_labels
        self._thr, self._thr_scalar = proto._thr, proto._thr_scalar
        self._gspace = _GroupSpace() if groups is None else _GroupSpace.from_keys(groups)
        self._init_common()
        self._reset_state()

    def _init_common(self):
        super()._init_common()
        self._version = 0  # bumped whenever the group space changes: tables counted meanwhile are stale

    @property
    def _ng(self) -> int:
        return len(self._gspace)

    def _reset_state(self):
        self._weighted = False
        self.__dict__.update({f.attr: None for f in self._FIELDS if f.when == S.WEIGHTED})
        self.__dict__.update(S.zeros(self, self._FIELDS, self.num_labels, self._ng, False))

    def __setstate__(self, state):
        super().__setstate__(state)
        st, ov = self.__dict__.pop("_st", None), self.__dict__.pop("_ov", None)
        if st is not None:  # pickles from before the declaration: the state as two dicts
            self.__dict__.update({f.attr: None for f in self._FIELDS if f.when == S.WEIGHTED})
            self.__dict__.update({"_" + k: v for k, v in st.items()})
            self.__dict__.update({"_o" + k: v for k, v in (ov or {}).items()})

    # -- public state ---------------------------------------------------------------------
    @property
    def threshold(self):
        return self._thr.copy()

    @property
    def labels(self) -> list:
        return list(range(self.num_labels))

    @property
    def fixed(self) -> bool:
        return True

    @property
    def counts(self) -> np.ndarray:
        """(G, L, 2, 2) ``[[tn, fp], [fn, tp]]`` per group and label, in the order of
        ``groups``; float64 once weights were used."""
        from . import metrics as M

        with self._lock:
            order = self._order()
            if self._weighted:
                parts = (self._tpw, self._predw, self._truew, self._wsum)
            else:
                parts = (self._tp, self._pred, self._true, self._ns)
            out = [M.mcm(tp, pred, true, total) for tp, pred, true, total in
                   zip(*(a[order] for a in parts))]
            dtype = np.float64 if self._weighted else np.int64
            return np.array(out, dtype=dtype).reshape(len(order), self.num_labels, 2, 2)

    @property
    def sample_counts(self) -> np.ndarray:
        """(G,) samples counted per group, in the order of ``groups``."""
        with self._lock:
            return self._ns[self._order()].copy()

    def reset(self):
        """Forget all counts (and, for a dynamic group space, the groups seen)."""
        with self._lock:
            if not self._gspace.fixed:
                self._gspace = _GroupSpace()
            self._version += 1
            self._reset_state()
        return self

    def __repr__(self):
        return (f"GroupedMultilabelConfusionMatrix(num_labels={self.num_labels}, "
                f"groups={I.show_labels(self.groups)}, samples={int(self._ns.sum())}, "
                f"weighted={self._weighted})")

    # -- update -------------------------------------------------------------------------
    def update(self, y_true, y_pred, groups, sample_weight=None):
        """Fold a batch of (N, L) indicator truth and (N, L) indicators or scores, with one
        group key per row (or a tuple / DataFrame of key columns); returns ``self``.

        A batch with a bad value (a label not 0/1, a score not finite, a key that is NaN or
        outside a fixed group space, a bad weight) raises and changes nothing.
        """
        given, rows = self._prepare(y_true, y_pred)
        n = rows[0].shape[0]
        keys = _read_keys(groups, n, (n,))
        w = None
        if sample_weight is not None:
            w = I.as_weights(_host(sample_weight), n)
        if n == 0:
            return self
        if w is None and not self._weighted:
            snap, gspace = self._version, self._gspace
            plan = self._encode(keys, gspace, grow=False)
            tables, row = self._tables(rows, plan)
            if row < 0:
                with self._lock:
                    if self._version == snap and not self._weighted:
                        self._commit(plan, tables, keys)
                        return self
            else:
                err = self._first_bad(rows, plan, None, row)
                if not (err[2] == GK.ERR_GROUP and not gspace.fixed and plan[0] is gspace):
                    raise self._bad(given, plan, keys, w, err)
        with self._lock:
            self._count_locked(given, rows, keys, w)
        return self

    def _prepare(self, y_true, y_pred):
        """((original arrays), (kernel arrays, form, thresholds)): the checks and messages
        of ``MultilabelConfusionMatrix.update``; inputs reach the kernels in few dtypes."""
        y_true, y_pred = _host(y_true), _host(y_pred)
        if I.is_sparse(y_true):
            y_true = y_true.toarray()
        if I.is_sparse(y_pred):
            y_pred = y_pred.toarray()
        t = I.as_array(y_true, "y_true")
        p = I.as_array(y_pred, "y_pred")
        L = self.num_labels
        for name, a in (("y_true", t), ("y_pred", p)):
            if a.ndim != 2 or a.shape[1] != L:
                raise ValueError(
                    f"{name} must have shape (N, {L}) for {L} labels, got {a.shape}")
            if a.dtype.kind not in "biuf":
                raise TypeError(f"{name} must be numeric, got dtype {a.dtype}")
        if t.shape[0] != p.shape[0]:
            raise ValueError(f"y_true and y_pred have different numbers of samples: "
                             f"{t.shape[0]} and {p.shape[0]}")
        form = 1 if p.dtype.kind == "f" else 0
        # a scalar threshold compares in the scores' own dtype (float16 too), as numpy does
        thr = self._thr.astype(p.dtype) if form and self._thr_scalar else self._thr
        tk = _indicators(t)
        if form:
            pk = _numba_dtype(np.ascontiguousarray(p))
            if pk.dtype not in (np.float32, np.float64):  # pragma: no cover - float128
                pk = pk.astype(np.float64)
            thr = thr.astype(pk.dtype) if self._thr_scalar else thr
        else:
            pk = _indicators(p)
        return (t, p), (tk, pk, form, np.ascontiguousarray(thr))

    def _encode(self, keys, gspace, grow):
        """(group space, g, glut, glo) of the batch: ``gspace`` itself, or a grown copy."""
        try:
            if grow and not gspace.fixed:
                raise _NeedGrow()
            g, glut, glo = encode(gspace, keys, False)
        except _NeedGrow:
            gspace = gspace.copy()
            g, glut, glo = encode(gspace, keys, True)
        if g.dtype != np.int64:
            gi = g.astype(np.int64)
            if g.dtype.kind == "f":  # integral floats (checked): within int64, or not a key
                bad = np.flatnonzero(gi != g)
                if bad.size:
                    i = int(bad[0])
                    raise ValueError(f"{keys.names[0]}[{i}] = {g[i].item()!r} is outside the "
                                     f"range of int64 group keys")
            g = gi
        return gspace, g, glut, glo

    def _tables(self, rows, plan):
        """The batch's own unweighted tables, or (None, first bad row); ``rows`` = (t, p,
        form, thr), the kernels' bundle."""
        t, p, form, thr = rows
        gspace, g, glut, glo = plan
        ng = len(gspace)
        n, L = t.shape
        nthreads = get_num_threads()
        nslots = nthreads if (nthreads > 1 and n >= K.ML_PARALLEL_MIN) else 1
        sums = K.slot_zeros(nslots, (ng * 3 * L,))
        hp = K.slot_zeros(nslots, (ng, L + 1, L + 1))
        hr = K.slot_zeros(nslots, (ng, L + 1, L + 1))
        hf = K.slot_zeros(nslots, (ng, L + 1, 2 * L + 1))
        ns = K.slot_zeros(nslots, (ng,))

        keys = (g, glut, glo, ng, True)
        tabs = (sums, hp, hr, hf, ns)
        thr_pad = K.ml_vec_thresholds(t, p, form, thr)
        if thr_pad is not None and ng * 3 * thr_pad.shape[0] <= GK.ML_VEC_COUNTERS_MAX:
            data = (t, p, t.reshape(-1), p.reshape(-1), thr_pad, thr)

            def run(r0, r1, slot):
                bad = GK.ml_vec_chunk(data, keys, (r0, r1), tuple(x[slot] for x in tabs))
                return bad if bad >= 0 else None
        else:
            def run(r0, r1, slot):
                bad = GK.ml_count_chunk(rows, keys, r0, r1,
                                        tuple(x[slot] for x in tabs))
                return bad if bad >= 0 else None

        errors = K.run_chunks(run, n, nslots, K._grain(L * (t.itemsize + p.itemsize)))
        if errors:
            return None, int(min(errors))
        s = sums.reshape(nslots, ng, 3, L)
        # per thread's slot (first axis): ``_commit`` adds them into the state one by one, as
        # summing them first costs a pass over fresh memory (3.9 of 18.7 ms, 10^6 x 39 in
        # 100 groups, AMD EPYC Zen 4)
        return {"tp": s[:, :, 0], "pred": s[:, :, 1], "true": s[:, :, 2], "hp": hp,
                "hr": hr, "hf": hf, "ns": ns}, -1

    def _first_bad(self, rows, plan, w, r0=0):
        gspace, g, glut, glo = plan
        return GK.ml_first_bad(rows, (g, glut, glo, len(gspace), True),
                               w if w is not None else _NO1, r0)

    def _bad(self, given, plan, keys, w, err):
        """The error of ``err`` = (row, column, code) in the arrays ``given`` = (y_true,
        y_pred)."""
        t0, p0 = given
        row, col, code = err
        L = self.num_labels
        if code == GK.ERR_GROUP:
            v = keys.cols[0][row]
            v = bool(v) if keys.kinds[0] == "bool" else v
            return _unknown_key(plan[0], keys.names[0], row, v)
        if code == K.ERR_WEIGHT:
            return E.bad_value("sample_weight", (len(w),), row, w[row], I.describe_value(w[row]),
                               ": " + WEIGHT_RULE)
        if code == K.ERR_SCORE:
            return E.bad_value("y_pred", p0.shape, row * L + col, p0[row, col],
                               I.describe_value(p0[row, col]), "is not a finite score")
        if code in (K.ERR_TRUE_ML, K.ERR_PRED_ML):
            name, arr = ("y_true", t0) if code == K.ERR_TRUE_ML else ("y_pred", p0)
            return E.bad_value(name, arr.shape, row * L + col, arr[row, col],
                               repr(arr[row, col].item()),
                               ": multi-label indicators must be 0 or 1")
        return RuntimeError(  # pragma: no cover - a kernel bug, never a user's input
            f"confstream: the grouped multi-label kernels disagree at row {row}; nothing was "
            f"counted. Please report this with the arrays' dtypes and shapes.")

    def _count_locked(self, given, rows, keys, w):
        gspace = self._gspace
        plan = self._encode(keys, gspace, grow=False)
        err = self._first_bad(rows, plan, w)
        if err[0] >= 0 and err[2] == GK.ERR_GROUP and not gspace.fixed and plan[0] is gspace:
            plan = self._encode(keys, gspace, grow=True)
            err = self._first_bad(rows, plan, w)
        if err[0] >= 0:
            raise self._bad(given, plan, keys, w, err)
        if w is None and not self._weighted:
            tables, row = self._tables(rows, plan)
            if row >= 0:  # pragma: no cover - the two kernels disagree (a bug)
                raise self._bad(given, plan, keys, w, (row, 0, K.ERR_INTERNAL))
            self._commit(plan, tables, keys)
            return
        # validated: make the arrays (which may fail: then nothing has changed), then count
        new_space, g, glut, glo = plan
        ng = len(new_space)
        st = self._resized(ng, weighted=True)
        ww = w if w is not None else np.ones(rows[0].shape[0])
        self._install(new_space, st, weighted=True)
        GK.ml_count_into(rows, (g, glut, glo, ng, True), ww,
                         tuple(st["_" + k] for k in _ML_STATE),
                         tuple(st["_o" + k] for k in _ML_OVERALL))
        self._commit_kinds(keys)

    def _commit(self, plan, tables, keys):
        """Add ``_tables``' slots (under the lock). In place when the groups stay those of the
        state (the arrays are the accumulator's own, read under the lock only; an int64 +=
        of same-shaped arrays cannot fail half way); into grown copies otherwise."""
        if plan[0] is self._gspace and self._ns.shape[0] == len(plan[0]):
            for k, v in tables.items():
                a = getattr(self, "_" + k)
                for part in v:
                    a += part
            self._commit_kinds(keys)
            return
        st = self._resized(len(plan[0]), weighted=False)
        for k, v in tables.items():
            for part in v:
                st["_" + k] += part
        self._install(plan[0], st, weighted=False)
        self._commit_kinds(keys)

    def _sync_arrays(self, weighted) -> dict:
        """The additive state as arrays (weighted sums filled in, weight 1 each, when
        ``weighted``): what ``sync`` sums over ranks."""
        with self._lock:
            return S.dense(self, self._FIELDS, weighted)

    def _load_sync_arrays(self, arrays, weighted):
        with self._lock:
            S.load_dense(self, self._FIELDS, arrays)

    def _commit_kinds(self, keys):
        for j, k in enumerate(keys.kinds):
            self._gspace.kinds[j].add(k)

    def _resized(self, g, weighted):
        """{attr: array} of the state padded to g groups (new arrays; the old are kept
        until ``_install``: making them is what can fail), with the weighted sums (weight 1
        each so far) when ``weighted``."""
        return S.grown(self, self._FIELDS, self.num_labels, g, promote=weighted)

    def _install(self, gspace, attrs, weighted):
        if gspace is not self._gspace:
            self._version += 1
        self._gspace = gspace
        self.__dict__.update(attrs)
        if weighted:
            self._weighted = True

    # -- read-outs: one MultilabelConfusionMatrix per group ------------------------------
    def _empty_matrix(self) -> MultilabelConfusionMatrix:
        thr = float(self._thr[0]) if self._thr_scalar else self._thr.tolist()
        return MultilabelConfusionMatrix(self.num_labels, threshold=thr)

    def _matrix(self, d) -> MultilabelConfusionMatrix:
        cm = self._empty_matrix()
        cm._add_state_arrays(d)
        return cm

    def _group_state(self, i) -> dict:
        """Group i as a ``MultilabelConfusionMatrix``'s dense state."""
        return self._as_plain(lambda a: a[i], {})

    def _as_plain(self, pick, overall) -> dict:
        """A ``MultilabelConfusionMatrix``'s dense state from ``pick`` of each per-group
        array (and the weighted sums of ``overall``, by key, in place of theirs)."""
        d = {k: pick(getattr(self, "_" + k)) for k in MultilabelConfusionMatrix._INT_KEYS}
        d.update(nsamples=[pick(self._ns)], nzero=[pick(self._nzero)],
                 weighted=[1 if self._weighted else 0])
        if self._weighted:
            for k, _ in _FLOATS:
                d[k] = overall[k] if k in overall else pick(getattr(self, "_" + k))
            d["wsum"] = np.reshape(d["wsum"], -1)[:1]
        return d

    def _group_total(self, i) -> int:
        return int(self._ns[i])

    def overall(self) -> MultilabelConfusionMatrix:
        """All groups together, as one ``MultilabelConfusionMatrix`` (weighted sums kept in
        input order over all samples, as scikit-learn adds them on the whole data)."""
        with self._lock:
            overall = ({k: getattr(self, "_o" + k) for k, _ in _FLOATS} if self._weighted
                       else {})
            return self._matrix(self._as_plain(lambda a: a.sum(axis=0), overall))

    @staticmethod
    def _group_metric(cm, metric, of_class, kw) -> float:
        return _ml_metric(cm, metric, of_class, kw)

    def _default_class(self, metric, of_class):
        if of_class is None and not callable(metric) and metric in _PER_LABEL:
            raise ValueError(f"by_group({metric!r}) needs of_class: a label index "
                             f"0..{self.num_labels - 1}, or 'micro' / 'macro' / 'weighted' / "
                             f"'samples'")
        return of_class

    def by_group(self, metric, of_class=None, **kwargs) -> dict:
        """``{group: value}`` of one metric, as fairlearn's ``MetricFrame.by_group``.

        ``metric``: ``"accuracy"`` (subset accuracy, as ``accuracy_score``),
        ``"hamming_loss"``, ``"count"`` (samples, or weight); per label (``of_class`` a
        label index, or an average ``"micro"`` / ``"macro"`` / ``"weighted"`` /
        ``"samples"``): ``"precision"``, ``"recall"``, ``"f1"``, ``"fbeta"`` (``beta=``),
        ``"support"``, ``"jaccard"``, ``"specificity"``; or a function of a
        ``MultilabelConfusionMatrix``. ``kwargs`` go to the metric (``zero_division=0``).
        """
        return super().by_group(metric, of_class, **kwargs)

    def gaps(self, metrics=None, zero_division=0) -> dict:
        """The gap table: ``{(metric, class): {"min", "max", "difference", "ratio",
        "difference_to_overall", "ratio_to_overall"}}`` over the groups seen, for subset
        accuracy and, per label index then per average (``"micro"``, ``"macro"``,
        ``"weighted"``, ``"samples"``), precision, recall and f1 (fairlearn's
        ``MetricFrame.difference()`` / ``ratio()`` of each)."""
        rows = [("accuracy", None)] + [(m, c) for c in list(range(self.num_labels))
                                       + list(_AVERAGES)
                                       for m in ("precision", "recall", "f1-score")]
        return _gaps(self, rows, metrics, zero_division)

    def _repr_html_(self) -> str:
        """A notebook table: one row per group, subset accuracy, micro / macro / samples F1
        (``zero_division=0``) and the number of samples, then the row of all groups."""
        from html import escape

        mats = self.matrices()
        if not mats:
            return f"<pre>{escape(repr(self))}</pre>"
        heads = ["group", "accuracy", "f1 micro", "f1 macro", "f1 samples", "samples"]

        def row(name, cm):
            try:
                cells = [_ml_metric(cm, "accuracy", None, {})] + [
                    _ml_metric(cm, "f1", avg, {"zero_division": 0})
                    for avg in ("micro", "macro", "samples")]
            except ValueError:  # every weight of the group is zero: no value is defined
                cells = [float("nan")] * 4
            return ("<tr><th>" + escape(str(name)) + "</th>"
                    + "".join(f"<td>{v:.3f}</td>" for v in cells)
                    + f"<td>{cm._nsamples}</td></tr>")

        body = "".join(row(g, cm) for g, cm in mats.items()) + row("all", self.overall())
        return ("<table class='confstream-groups'><thead><tr>"
                + "".join(f"<th>{escape(h)}</th>" for h in heads)
                + f"</tr></thead><tbody>{body}</tbody></table>")

    # -- merging, state -------------------------------------------------------------------
    def _merge(self, other: "GroupedMultilabelConfusionMatrix"):
        if other.num_labels != self.num_labels:
            raise ValueError(f"Cannot add grouped multi-label confusion matrices with different "
                             f"label spaces: {self.num_labels} labels and {other.num_labels} "
                             f"labels")
        if not np.array_equal(self._thr, other._thr) or self._thr_scalar != other._thr_scalar:
            raise ValueError(f"Cannot add grouped multi-label confusion matrices with different "
                             f"thresholds: {self._thr.tolist()} and {other._thr.tolist()}")
        gspace = _union_groups(self._gspace, other._gspace)
        weighted = self._weighted or other._weighted
        new = GroupedMultilabelConfusionMatrix.__new__(GroupedMultilabelConfusionMatrix)
        new.num_labels, new._gspace, new._weighted = self.num_labels, gspace, weighted
        attrs = S.zeros(new, self._FIELDS, self.num_labels, len(gspace), weighted)
        new.__dict__.update(attrs)
        for acc in (self, other):
            gi = np.array([gspace.index_of(k) for k in acc._gspace.keys()], dtype=np.int64)
            S.add_into(new, self._FIELDS, S.dense(acc, self._FIELDS, weighted), None, gi)
        self._version += 1
        self._gspace, self._weighted = gspace, weighted
        self.__dict__.update({f.attr: attrs.get(f.attr) for f in self._FIELDS})

    def to_dict(self) -> dict:
        """JSON-safe state; ``GroupedMultilabelConfusionMatrix.from_dict`` reads it back."""
        with self._lock:
            d = {"version": FORMAT_VERSION, "kind": self._kind, "num_labels": self.num_labels,
                 "threshold": float(self._thr[0]) if self._thr_scalar else self._thr.tolist(),
                 "groups": _groups_to_dict(self._gspace), "counts": None, "weights": None}
            return S.to_dict(self, self._FIELDS, d)

    @classmethod
    def from_dict(cls, d: dict) -> "GroupedMultilabelConfusionMatrix":
        """Rebuild an accumulator from ``to_dict()`` output, validating every field."""
        _check_header(d, cls._kind)
        L = d.get("num_labels")
        if isinstance(L, bool) or not isinstance(L, int) or L < 2:
            raise ValueError(f"state: 'num_labels' must be an int of at least 2, got {L!r}")
        thr = d.get("threshold", 0.5)
        if not isinstance(thr, (int, float, list)) or isinstance(thr, bool):
            raise ValueError(f"state: bad 'threshold' {thr!r}")
        acc = cls(L, threshold=thr)
        acc._gspace = _groups_from_dict(d.get("groups"))
        acc._reset_state()
        if not isinstance(d.get("counts"), dict):
            raise ValueError("state: 'counts' must be a dict of per-group arrays")
        wd = d.get("weights")
        if wd is not None and (not isinstance(wd, dict) or not isinstance(wd.get("overall"),
                                                                        dict)):
            raise ValueError("state: 'weights' must be a dict with 'overall', or null")
        S.from_dict(acc, cls._FIELDS, d, L, _array)
        acc._weighted = wd is not None
        if (acc._nzero > acc._ns).any():
            raise ValueError("state: more zero-weight samples than samples in a group")
        return acc


def _indicators(a: np.ndarray) -> np.ndarray:
    """Indicator arrays for the kernels: bool / uint8 as bytes, other integers as int64,
    floats as float64 (every value kept: a bad one is still seen and named)."""
    a = _numba_dtype(np.ascontiguousarray(a))
    if a.dtype == np.uint8:
        return a
    if a.dtype.kind in "iu":
        return a.astype(np.int64, copy=False)
    return a.astype(np.float64, copy=False)


# --------------------------------------------------------------------------------------------
# metrics of one group's multi-label matrix


def _ml_metric(cm: MultilabelConfusionMatrix, metric, of_class, kw) -> float:
    if callable(metric):
        return metric(cm, **kw)
    if metric in ("accuracy", "hamming_loss", "count"):
        if kw:
            raise TypeError(f"{metric} takes no keyword arguments, got {sorted(kw)}")
        total = cm._wsum if cm._weighted else cm._nsamples
        if metric == "count":
            return float(total)
        with np.errstate(divide="ignore", invalid="ignore"):
            if metric == "accuracy":  # exact matches: n_pred + n_true == 2 tp
                hf = cm._whf if cm._weighted else cm._hf
                k = np.arange(hf.shape[0])
                return float(np.float64(hf[k, 2 * k].sum()) / np.float64(total))
            tp, pred, true = ((cm._tpw, cm._predw, cm._truew) if cm._weighted
                              else (cm._tp, cm._pred, cm._true))
            diff = (pred - tp).sum() + (true - tp).sum()
            return float(np.float64(diff) / (np.float64(total) * cm.num_labels))
    if metric not in _PER_LABEL:
        raise ValueError(f"unknown metric {metric!r}")
    avg = of_class if isinstance(of_class, str) and of_class in _AVERAGES else None
    if avg is None and (isinstance(of_class, (bool, np.bool_)) or not isinstance(
            of_class, (int, np.integer)) or not 0 <= of_class < cm.num_labels):
        raise ValueError(f"of_class must be a label index 0..{cm.num_labels - 1} or one of "
                         f"{_AVERAGES}, got {of_class!r}")
    labels = None if avg else [int(of_class)]
    if metric in _PRF:
        kw = dict(kw)
        zd = kw.pop("zero_division", "warn")
        beta = kw.pop("beta", 1.0)
        if kw:
            raise TypeError(f"{metric} got unexpected keyword arguments {sorted(kw)}")
        name = {0: "precision", 1: "recall", 2: "f-score", 3: "support"}[_PRF[metric]]
        res = cm.precision_recall_fscore_support(
            beta=beta, labels=labels, average=avg, zero_division=zd,
            warn_for=(name,) if name != "support" else ())
        v = res[_PRF[metric]]
        return float(v if avg else np.asarray(v)[0]) if v is not None else float("nan")
    if metric == "jaccard":
        v = cm.jaccard(average=avg, labels=labels, **kw)
    else:
        v = cm.specificity(average=avg, labels=labels, **kw)
    return float(v if avg else np.asarray(v)[0])
