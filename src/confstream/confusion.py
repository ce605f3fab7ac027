"""Accumulators: a batch at a time into a confusion matrix, all or nothing, thread-safe.

``ConfusionMatrix`` holds a (C, C) table for single-label data (binary, multi-class, masks);
``MultilabelConfusionMatrix`` an (L, 2, 2) stack for multi-label data. Both keep what is
needed to reproduce scikit-learn's numbers exactly: sample counts always, and, once weights
are used, weighted sums added one sample at a time in input order (as ``np.bincount``).
"""

from __future__ import annotations

import math
import threading
import warnings
from dataclasses import dataclass
from typing import NamedTuple, Optional

import numpy as np
from numba import get_num_threads

from . import _devices
from . import _errors as E
from . import _inputs as I
from . import _kernels as K
from . import _replicates as R
from . import _state as S
from . import metrics as M
from .report import Report, build_report

__all__ = ["ConfusionMatrix", "MultilabelConfusionMatrix", "from_dict", "LabelTypeError"]

FORMAT_VERSION = 1
WEIGHT_RULE = I.WEIGHT_RULE  # the one wording, shared with the device path

_NO1 = np.zeros(0, dtype=np.float64)
_NO2 = np.zeros((0, 0), dtype=np.float64)


class LabelTypeError(TypeError, ValueError):
    """Labels of incompatible types (strings and numbers). Both a TypeError (what the
    issue tracker asked for) and a ValueError (what scikit-learn raises)."""


# The dtypes the kernels are compiled for: every other one is widened (exactly) to one of
# them before a kernel sees it. Each dtype a kernel reads is one more numba compilation per
# combination of its arguments' dtypes, so a short list keeps the first call (and CI's cold
# cache) cheap; these are the ones worth a copy-free path (uint8 masks, int32/int64 labels,
# float32/float64 scores; uint64 keeps the values past int64's range for the error).
_KERNEL_DTYPES = frozenset(np.dtype(d) for d in (
    np.uint8, np.int32, np.int64, np.uint64, np.float32, np.float64))
_WIDER = {np.dtype(np.int8): np.int32, np.dtype(np.int16): np.int32,
          np.dtype(np.uint16): np.int32, np.dtype(np.uint32): np.int64,
          np.dtype(np.float16): np.float32}


def _numba_dtype(arr: np.ndarray) -> np.ndarray:
    """A view, or an exact widening copy, in one of the dtypes the kernels are compiled for
    (bool is read as uint8; other byte orders as the native one)."""
    if arr.dtype.kind == "b":
        return arr.view(np.uint8)
    if arr.dtype.kind not in "iuf":
        return arr  # strings: coded before any kernel reads them
    native = arr.dtype.newbyteorder("=")
    if native in _KERNEL_DTYPES:
        return arr if arr.dtype.isnative else arr.astype(native)
    return arr.astype(_WIDER[native])


def _same_dtype(a: np.ndarray, b: np.ndarray) -> tuple:
    """Two label arrays in one dtype where that is exact (int32 beside int64, float32 beside
    float64, uint8 beside either), so the label kernels need one compilation per dtype, not
    one per pair."""
    if a.dtype == b.dtype:
        return a, b
    kinds = a.dtype.kind + b.dtype.kind
    if np.uint64 in (a.dtype, b.dtype) or ("f" in kinds and kinds != "ff"):
        return a, b  # no exact common dtype among the kernels' (or not worth a copy)
    common = np.result_type(a.dtype, b.dtype)
    return a.astype(common, copy=False), b.astype(common, copy=False)


def _flat(arr: np.ndarray) -> np.ndarray:
    return _numba_dtype(np.ascontiguousarray(arr).reshape(-1))


class _Accumulator:
    """What both accumulators share: lock, pending device counts, merging, state I/O."""

    _kind = ""

    def _init_common(self):
        self._lock = threading.RLock()
        self._pending: list = []

    # -- pending device counts ----------------------------------------------------------
    def _flush(self):
        if not self._pending:
            return
        with self._lock:
            while self._pending:
                item = self._pending[0]
                self._add_state_arrays(item.collect())  # if this raises, the item stays
                self._pending.pop(0)

    def _repr_counts(self):
        """What a repr shows of the counts; it never raises a pending device error (every
        other read does, until ``reset()``), it names it."""
        try:
            self._flush()
        except ValueError:
            return "device error pending"
        return None

    # -- copying, pickling --------------------------------------------------------------
    def copy(self):
        """An independent copy."""
        self._flush()
        with self._lock:
            new = self.__class__.__new__(self.__class__)
            new.__setstate__(self.__getstate__())
        return new

    def __getstate__(self):
        self._flush()
        with self._lock:
            state = {k: v for k, v in self.__dict__.items() if k not in ("_lock", "_pending")}
            return (FORMAT_VERSION, _deepcopy_state(state))

    def __setstate__(self, state):
        version, data = state
        if version != FORMAT_VERSION:
            raise ValueError(f"unknown pickle format version {version!r}")
        for attr in _BOOT_ATTRS:  # pickles from before the streamed bootstrap
            data.setdefault(attr, 0 if attr == "_boot_pos" else None)
        self.__dict__.update(data)
        self._init_common()

    # -- merging ------------------------------------------------------------------------
    def __add__(self, other):
        if isinstance(other, (int, float)) and other == 0:
            return self.copy()
        if not isinstance(other, type(self)):
            return NotImplemented
        return self.copy().__iadd__(other)

    def __radd__(self, other):
        if isinstance(other, (int, float)) and other == 0:  # sum([...]) starts at 0
            return self.copy()
        return NotImplemented

    def __iadd__(self, other):
        if not isinstance(other, type(self)):
            return NotImplemented
        other = other.copy()  # a snapshot under its own lock: it may be updated meanwhile
        self._flush()
        with self._lock:
            # A refused merge changes nothing: the arrays a merge adds into in place are only
            # touched once every check has passed, so the attributes before it suffice.
            saved = dict(self.__dict__)
            try:
                self._merge(other)
            except BaseException:
                self.__dict__.clear()
                self.__dict__.update(saved)
                raise
        return self

    def __eq__(self, other):
        if not isinstance(other, type(self)):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None

    @property
    def weighted(self) -> bool:
        """True once any batch came with ``sample_weight``."""
        self._flush()
        return self._weighted

    def _label_kinds(self):
        """(kinds seen in y_true, kinds seen in y_pred): how labels print (adapters' hook)."""
        return set(getattr(self, "_tkinds", ())), set(getattr(self, "_pkinds", ()))

    def _warn_kwargs(self):
        return {}


_BOOT_ATTRS = ("_boot", "_boot_pos", "_rep", "_rtp", "_rpred", "_rtrue", "_rsamp")


def _deepcopy_state(state: dict) -> dict:
    out = {}
    for k, v in state.items():
        if isinstance(v, np.ndarray):
            out[k] = v.copy()
        elif isinstance(v, I.LabelSpace):
            out[k] = v.copy()
        elif isinstance(v, (set, list, dict)):
            out[k] = type(v)(v)
        else:
            out[k] = v
    return out


@dataclass
class _Batch:
    t: np.ndarray  # 1-D truth (label values, or indices when ``mapped``)
    form: int
    p1: np.ndarray
    p2: np.ndarray
    tshape: tuple
    pshape: tuple
    tkind: str
    pkind: str
    width: int = 0  # class columns of a score matrix
    thr: object = 0.0  # the threshold in the scores' dtype (as numpy compares them)
    class_axis_1: bool = False  # scores came as (B, C, ...): errors name that layout
    zeros: tuple = ((), ())  # signs of the float label 0 seen in (y_true, y_pred): how it prints


class ConfusionMatrix(_Accumulator):
    """A streaming multi-class confusion matrix.

    Parameters
    ----------
    num_classes : int, optional
        The label space is the integers ``0 .. num_classes - 1``.
    labels : sequence, optional
        The label space is these values (ints, strings or bools), in this order.
        With neither ``num_classes`` nor ``labels`` the space grows as labels appear.
    threshold : float
        Binary scores ``(N,)`` / ``(N, 1)`` (a space of two classes) predict the second
        class where ``score > threshold``.
    ignore_index : int, optional
        Positions whose true label equals this value are skipped (e.g. 255 in masks).
    bootstrap : int, optional
        Keep this many streamed Poisson bootstrap replicates (docs/INTERVALS.md): each
        counted sample adds a Poisson(1) weight (times its ``sample_weight``) into its cell of
        every replicate table; ``report(ci=...)`` and ``interval(...)`` then read them
        (weighted data too). Costs ``bootstrap`` floats per cell and a few ns per sample and
        replicate.
    seed, shard : int
        The replicates' weights are a function of (seed, shard, position of the sample in
        the stream, replicate): the same data in the same order give the same replicates.
        Accumulators that are added must have the same ``bootstrap`` and ``seed``; give the
        shards of one data set (processes, ranks) distinct ``shard`` numbers.

    Examples
    --------
    >>> acc = ConfusionMatrix()
    >>> acc.update([0, 1, 2, 2], [0, 2, 2, 2]).update([1], [1]).counts
    array([[1, 0, 0],
           [0, 1, 1],
           [0, 0, 2]])
    """

    # The additive state (``_state``): counts, and once weighted the weight sums (``ones``:
    # what each holds when every sample so far weighed 1, the one weight promotion).
    _FIELDS = (
        S.Field("_n", "n", "counts", S.cells, True),
        S.Field("_w", "w", "weights.cells", S.cells, False, S.WEIGHTED,
                ones=lambda s: S.f64(s["n"])),
        S.Field("_tw", "true_w", "weights.true", S.per_class, False, S.WEIGHTED,
                ones=lambda s: S.f64(s["n"].sum(axis=1))),
        S.Field("_pw", "pred_w", "weights.pred", S.per_class, False, S.WEIGHTED,
                ones=lambda s: S.f64(s["n"].sum(axis=0))),
        S.Field("_wsum", "wsum", "weights.total", S.scalar, False, S.WEIGHTED,
                ones=lambda s: S.f64(s["n"].sum())),
        # exact sums while every weight is an integer (an optional key of format 1)
        S.Field("_wi", "wi", "weights.integer_cells", S.cells, True, S.EXACT,
                ones=lambda s: S.copy_of(s["n"])),
        # the streamed bootstrap's (C, C, B) replicate tables (optional: bootstrap=B)
        S.Field("_rep", "rep", "bootstrap.cells", S.cells, False, S.OPTIONAL, "_nrep"),
    )
    _WEIGHTED_FIELDS = tuple(f for f in _FIELDS if f.when == S.WEIGHTED)

    _kind = "ConfusionMatrix"

    def __init__(self, num_classes=None, *, labels=None, threshold=0.5, ignore_index=None,
                 bootstrap=None, seed=0, shard=0):
        self._boot = R.settings(bootstrap, seed, shard)
        if num_classes is not None and labels is not None:
            raise ValueError("give num_classes or labels, not both")
        if num_classes is not None:
            if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
                raise TypeError(f"num_classes must be an int, got {num_classes!r}")
            if num_classes < 1:
                raise ValueError(f"num_classes must be at least 1, got {num_classes}")
            space = I.LabelSpace(num_classes=int(num_classes))
        elif labels is not None:
            labels = list(I.as_array(labels, "labels").tolist()) if not isinstance(
                labels, (list, tuple)) else list(labels)
            if not labels:
                raise ValueError("labels must not be empty")
            try:
                space = I.LabelSpace(labels)
            except TypeError as exc:
                raise LabelTypeError(str(exc)) from None
        else:
            space = I.LabelSpace()
        thr = float(threshold)
        if not math.isfinite(thr):
            raise ValueError(f"threshold must be finite, got {threshold!r}")
        if ignore_index is not None and (
            isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer))
        ):
            raise TypeError(f"ignore_index must be an int, got {ignore_index!r}")
        if ignore_index is not None and not -(2**63) <= int(ignore_index) < 2**63:
            raise ValueError(f"ignore_index must fit in int64, got {ignore_index!r}")
        self._space = space
        self.threshold = thr
        self.ignore_index = None if ignore_index is None else int(ignore_index)
        self._init_common()
        self._reset_state()

    def _reset_state(self):
        c = len(self._space)
        self._n = np.zeros((c, c), dtype=np.int64)
        self._weighted = False
        self._w = self._tw = self._pw = None
        self._wi = None  # exact int64 sums while every weight so far is an integer
        self._wsum = 0.0
        self._tkinds: set = set()
        self._pkinds: set = set()
        self._rep = None if self._boot is None else np.zeros((c, c, self._nrep))
        self._boot_pos = 0  # samples given so far: the next sample's position in the stream

    @property
    def _nrep(self) -> int:
        return 0 if self._boot is None else self._boot.replicates

    @property
    def bootstrap(self):
        """The number of streamed bootstrap replicates (None: not kept)."""
        return None if self._boot is None else self._boot.replicates

    @property
    def replicates(self):
        """(B, C, C) the streamed bootstrap's replicate tables (Poisson weight x sample
        weight summed per cell), or None without ``bootstrap``."""
        self._flush()
        with self._lock:
            return None if self._rep is None else np.moveaxis(self._rep, -1, 0).copy()

    # -- public state ---------------------------------------------------------------------
    @property
    def labels(self) -> list:
        """The label space in index order (rows and columns of ``counts``)."""
        return list(self._space.values)

    @property
    def num_classes(self) -> int:
        return len(self._space)

    @property
    def fixed(self) -> bool:
        """Whether the label space was given up front (else it grows as labels appear)."""
        return self._space.fixed

    @property
    def counts(self) -> np.ndarray:
        """(C, C) counts, rows = true, columns = predicted: int64 sample counts, or sums of
        integer weights (exact, as scikit-learn's ``confusion_matrix``); float64 once a float
        weight was used."""
        self._flush()
        with self._lock:
            return self._weight_table().copy()

    def _weight_table(self):
        if self._wi is not None:
            return self._wi
        return self._w if self._weighted else self._n

    @property
    def sample_counts(self) -> np.ndarray:
        """(C, C) numbers of samples, whatever the weights."""
        self._flush()
        with self._lock:
            return self._n.copy()

    def reset(self):
        """Forget all counts (and, for a dynamic space, the labels seen)."""
        with self._lock:
            self._pending.clear()
            if not self._space.fixed:
                self._space = I.LabelSpace()
            self._reset_state()
        return self

    def __repr__(self):
        pending = self._repr_counts()
        return (f"ConfusionMatrix(labels={I.show_labels(self.labels)}, "
                f"samples={int(self._n.sum())}, weighted={self._weighted}"
                f"{', ' + pending if pending else ''})")

    def _repr_html_(self) -> str:
        """The matrix as an HTML heatmap table (notebooks): rows true, columns predicted."""
        from ._html import matrix_html

        return matrix_html(self)

    # -- update -------------------------------------------------------------------------
    def update(self, y_true, y_pred, sample_weight=None):
        """Fold a batch into the matrix; returns ``self``.

        ``y_true``: labels of any shape (e.g. (N,) or (B, H, W) masks), or one-hot (N, C).
        ``y_pred``: labels of the same shape; scores or one-hot with one more (class) axis
        (argmax); or binary scores of the same shape, ``> threshold``, in a space of two
        classes. ``sample_weight``: one non-negative weight per sample.
        A batch with a bad value raises and changes nothing.
        """
        if self._boot is not None:  # replicates are counted on the host
            y_true, y_pred, sample_weight = (R.host(x) for x in (y_true, y_pred, sample_weight))
        elif _devices.route(self, y_true, y_pred, sample_weight):
            return self
        try:
            t = I.as_array(y_true, "y_true")
            p = I.as_array(y_pred, "y_pred")
        except TypeError as exc:
            if "Mix of label" in str(exc):
                raise LabelTypeError(str(exc)) from None
            raise
        b = self._prepare(t, p)
        w = None
        if sample_weight is not None:
            w = _Weights(*I.as_weights(sample_weight, b.t.shape[0], exact_ints=True))
        if b.t.shape[0] == 0:
            return self
        self._count(b, w)
        return self

    def _prepare(self, t: np.ndarray, p: np.ndarray) -> _Batch:
        """Work out the form of a batch and flatten it, without reading its values."""
        tshape, pshape = t.shape, p.shape
        space = self._space
        form = I.batch_form(tshape, pshape, pred_is_float=p.dtype.kind == "f",
                            fixed=space.fixed, num_classes=len(space),
                            binary_space=space.binary_scores)
        t = t[:, 0] if form.squeeze_true else t
        p = p[:, 0] if form.squeeze_pred else p
        tk = I.label_kind(t) if not form.onehot_truth else (
            "str" if space.kind == "str" else "int")
        if form.onehot_truth:
            t = self._columns_to_values(self._argmax(t, "y_true"), t.shape[1], "y_true")
        if form.pred == K.PRED_ARGMAX:
            p = np.moveaxis(p, 1, -1) if form.move_class_axis else p
            width = p.shape[-1]
            self._check_width(width)
            if p.dtype.kind not in "biuf":
                raise TypeError(f"y_pred scores must be numeric, got dtype {p.dtype}")
            p2 = _numba_dtype(np.ascontiguousarray(p.reshape(-1, width)))
            return _Batch(_flat(t), K.PRED_ARGMAX, _NO1, p2, tshape, pshape, tk, "int", width,
                          class_axis_1=form.move_class_axis)
        p1 = _flat(p)
        if form.pred == K.PRED_BINARY:
            # numpy compares float16 scores with a Python float in float16: round it there
            thr = p.dtype.type(self.threshold) if p.dtype.kind == "f" else self.threshold
            return _Batch(_flat(t), K.PRED_BINARY, p1, _NO2, tshape, pshape, tk, "int",
                          thr=p1.dtype.type(thr))
        pk = I.label_kind(p)
        t1, p1 = _same_dtype(_flat(t), p1)
        return _Batch(t1, K.PRED_LABELS, p1, _NO2, tshape, pshape, tk, pk,
                      zeros=(self._zero_signs(t1, tk), self._zero_signs(p1, pk)))

    def _zero_signs(self, arr, kind) -> tuple:
        """Which of -0.0 and +0.0 a float label array holds: scikit-learn prints the label
        as it finds it ("-0.0"); the space keys both as 0."""
        if kind != "float" or self.ignore_index == 0:
            return ()
        zero = arr == 0
        if not zero.any():
            return ()
        neg = np.signbit(arr[zero])
        return (("-0.0",) if neg.any() else ()) + (("+0.0",) if not neg.all() else ())

    def _check_width(self, width):
        if self._space.fixed and width != len(self._space):
            raise ValueError(
                f"y_pred has {width} score columns but the label space has "
                f"{len(self._space)} classes {I.show_labels(self._space.values)}"
            )

    def _argmax(self, x, name):
        """Columns of one-hot rows; anything else (soft, all-zero, several 1s) is refused:
        arg-maxing it would count a class the row does not say."""
        if x.dtype.kind not in "biuf":
            raise TypeError(f"{name} one-hot rows must be numeric, got dtype {x.dtype}")
        self._check_width(x.shape[1])
        zero_one = (x == 0) | (x == 1)
        good = zero_one.all(axis=1) & (np.count_nonzero(x, axis=1) == 1)
        if not good.all():
            i = int(np.flatnonzero(~good)[0])
            bad_cols = np.flatnonzero(~zero_one[i])
            where, what = ((f"[{i}, {int(bad_cols[0])}]", I.describe_value(x[i, bad_cols[0]]))
                           if bad_cols.size else (f"[{i}]", I.show_labels(x[i].tolist())))
            raise ValueError(f"{name}{where} = {what}: one-hot truth must hold 0s and a "
                             f"single 1 per row")
        cols, _ = K.argmax_rows(_numba_dtype(np.ascontiguousarray(x)))
        return cols

    def _columns_to_values(self, cols, width, name):
        if self._space.fixed:
            return np.asarray(self._space.values, dtype=object if self._space.kind == "str"
                              else np.int64)[cols].astype(
                str if self._space.kind == "str" else np.int64)
        return cols

    # -- counting -------------------------------------------------------------------------
    def _kernel_args(self, space, b: _Batch, w, grow: bool):
        """(b, w, t, p1, lut, lo, n, ign, has_ign): the batch (and its weights) as the
        kernels read it for ``space``."""
        t, p1 = b.t, b.p1
        has_ign = self.ignore_index is not None
        ign = self.ignore_index if has_ign else 0
        need_map = space._sparse or "str" in (b.tkind, b.pkind if b.form == K.PRED_LABELS else "")
        if need_map:
            nolut = np.zeros(0, np.int64)
            drop = (t == ign) if has_ign and b.tkind != "str" else None
            if drop is not None and drop.all():
                codes = np.full(t.shape[0], -1, np.int64)
                p1 = np.zeros(t.shape[0], np.int64) if b.form == K.PRED_LABELS else p1
                return b, w, codes, p1, nolut, 0, len(space), -1, True
            if drop is not None and drop.any():
                # Ignored samples keep their place (and their weights' place): they are
                # mapped as a label of the batch and then marked with the code -1.
                stand_in = t[int(np.argmin(drop))]
                t = np.where(drop, stand_in, t)
                if b.form == K.PRED_LABELS:
                    p1 = np.where(drop, stand_in, p1)
            else:
                drop = None
            try:
                t = space.codes_for_kernel(t, "y_true", b.tshape, grow)
                if b.form == K.PRED_LABELS:
                    p1 = space.codes_for_kernel(p1, "y_pred", b.pshape, grow)
            except TypeError as exc:
                raise LabelTypeError(str(exc)) from None
            if drop is not None:
                return b, w, np.where(drop, -1, t), p1, nolut, 0, len(space), -1, True
            return b, w, t, p1, nolut, 0, len(space), 0, False
        if grow:
            try:
                space._check_kind("num", "y_true")
            except TypeError as exc:
                raise LabelTypeError(str(exc)) from None
        return b, w, t, p1, space.lut, space.lo, len(space), ign, has_ign

    def _count(self, b: _Batch, w):
        # Counting against a snapshot of the label space happens outside the lock; the
        # commit, under the lock, checks that the space is still that one (a reset, a merge
        # or another thread's growth may have replaced it) and otherwise counts again.
        while True:
            space = self._space
            try:
                if (space.kind is not None or space.fixed) and self._count_known(space, b, w):
                    return
                self._count_growing(b, w)
                return
            except _SpaceChanged:
                continue

    def _count_known(self, space, b: _Batch, w) -> bool:
        """Count against ``space``; False when a dynamic space must grow first."""
        if space.kind == "str" and "str" not in (b.tkind, b.pkind):
            raise self._mix_error(b)
        if space.kind == "num" and "str" in (b.tkind, b.pkind if b.form == K.PRED_LABELS else ""):
            raise self._mix_error(b)
        try:
            b2, w2, t, p1, lut, lo, n, ign, has_ign = self._kernel_args(space, b, w, grow=False)
        except ValueError:
            if space.fixed:
                raise
            return False
        if b.form != K.PRED_LABELS and not space.fixed and b2.width and b.width > len(space):
            return False
        args = (b2, t, p1, lut, lo, n, ign, has_ign, space.fixed)
        # Unweighted data into the state's integer counts: one validating pass into a table
        # of the batch's own (per thread, merged), added under the lock. Not when the table
        # would be much bigger than the batch, nor once the state is weighted (its sums take
        # the samples one at a time, in input order).
        if self._table_pays(w, t, n):
            table, pos, code = self._count_table(args)
            if pos >= 0:
                return self._on_error(space, b2, pos, code, w2)
            with self._lock:
                self._check_space(space)
                if self._weighted:  # another thread's weighted batch came first
                    self._add_cells(self._cells(args, w2), b, w2)
                else:
                    self._n[:n, :n] += table
                    self._commit_kinds(b)
            return True
        cells = self._cells(args, w2)
        if isinstance(cells, tuple):
            return self._on_error(space, b2, *cells, w2)
        with self._lock:
            self._check_space(space)
            self._add_cells(cells, b, w2)
        return True

    def _check_space(self, space):
        """Under the lock: the state still belongs to ``space``, else count again."""
        if self._space is not space or self._n.shape[0] != len(space):
            raise _SpaceChanged()

    def _table_pays(self, w, t, n) -> bool:
        """Count into a table of the batch's own? Unweighted into an unweighted state only
        (weighted sums take the samples one at a time, in input order, straight into the
        state), and not when the table would be much bigger than the batch."""
        return (w is None and not self._weighted and t.shape[0] * 2 >= n * n
                and self._boot is None)  # the replicates need each sample's cell

    def _count_table(self, args):
        """One validating pass into a table of the batch's own: (table, position, code).
        ``args``: (batch, t, p1, lut, lo, n, ign, has_ign, cols_idx), as ``_cells``."""
        b, t, p1, lut, lo, n, ign, has_ign, cols_idx = args
        colmap = (K.NO_COLS if b.form == K.PRED_LABELS
                  else K.column_map(b.width or 2, cols_idx, lut, lo, n))
        return K.count_table(t, K.pred_of(b.form, p1, b.p2, b.thr, colmap),
                             K.space_of(lut, lo, n, ign, has_ign), get_num_threads())

    def _cells(self, args, w):
        """The batch's cells (validated, weights too), or (position, code) of the first bad
        sample."""
        b, t, p1, lut, lo, n, ign, has_ign, cols_idx = args
        out = np.empty(t.shape[0], dtype=np.int64)
        colmap = (K.NO_COLS if b.form == K.PRED_LABELS
                  else K.column_map(b.width or 2, cols_idx, lut, lo, n))
        pos, code = K.cells(t, K.pred_of(b.form, p1, b.p2, b.thr, colmap),
                            K.space_of(lut, lo, n, ign, has_ign), K.NO_KEYS,
                            _NO1 if w is None else w.f, out)
        return out if pos < 0 else (pos, code)

    def _add_cells(self, cells, b, w):
        """Under the lock: add a validated batch's cells into the state, all or nothing."""
        before = (self._weighted, self._w, self._tw, self._pw, self._wsum, self._wi)
        if w is not None and not self._weighted:
            self._to_weighted(w.i is not None)
        elif w is not None and w.i is None and self._wi is not None:
            self._wi = None  # a float weight: the sums are floats from here on
        if self._wi is not None:
            wi = w.i if w is not None else np.ones(cells.shape[0], np.int64)
            pos = K.add_cells_int(cells, wi, self._wi.reshape(-1))
            if pos >= 0:
                (self._weighted, self._w, self._tw, self._pw, self._wsum, self._wi) = before
                a, p = (int(x) for x in np.unravel_index(cells[pos], self._n.shape))
                raise OverflowError(
                    f"sample_weight[{pos}] = {int(wi[pos])}: the sum of integer weights in "
                    f"cell ({a}, {p}) would pass 2**63 - 1 (counts are exact int64 and never "
                    f"wrap); nothing was counted")
        if self._weighted:
            ww = w.f if w is not None else np.ones(cells.shape[0], np.float64)
            self._wsum = K.add_cells_weighted(cells, ww, self._n.reshape(-1),
                                              (self._w.reshape(-1), self._tw, self._pw),
                                              self._wsum)
        else:
            K.add_cells(cells, self._n.reshape(-1))
        if self._rep is not None:
            from . import _poisson_kernels as PK  # on first use: keeps the import quick

            PK.add_cells_replicates(cells, _NO1 if w is None else w.f, w is not None,
                                    (self._boot.key, self._boot_pos, PK.CDF),
                                    self._rep.reshape(-1, self._nrep))
            self._boot_pos += cells.shape[0]
        self._commit_kinds(b)

    def _on_error(self, space, b, pos, code, w):
        if not space.fixed and code in (K.ERR_TRUE, K.ERR_PRED):
            return False  # maybe a new label: grow and count again
        raise self._error(space, b, pos, code, w)

    def _counted(self, b: _Batch):
        """Which samples add labels to a dynamic space: all but those ``ignore_index``
        skips (their predictions neither); None for all."""
        if self.ignore_index is None or b.tkind == "str":
            return None
        keep = b.t != self.ignore_index
        return None if keep.all() else keep

    def _count_growing(self, b: _Batch, w):
        """Dynamic space meets new labels: grow a copy of the space, count, then commit."""
        with self._lock:
            space = self._space.copy()
            try:
                keep = self._counted(b)
                if b.tkind != "str" and not space._sparse:
                    space.grow_numeric(b.t, "y_true", b.tshape, keep)
                if b.form == K.PRED_LABELS and b.pkind != "str" and not space._sparse:
                    space.grow_numeric(b.p1, "y_pred", b.pshape, keep)
                elif b.form != K.PRED_LABELS:
                    space._check_kind("num", "y_pred")
                    space.add_keys(range(b.width or 2))
            except TypeError as exc:
                raise LabelTypeError(str(exc)) from None
            b2, w2, t, p1, lut, lo, n, ign, has_ign = self._kernel_args(space, b, w, grow=True)
            args = (b2, t, p1, lut, lo, n, ign, has_ign, False)
            table = cells = None
            if self._table_pays(w, t, n):
                table, pos, code = self._count_table(args)
            else:
                cells = self._cells(args, w2)
                pos, code = cells if isinstance(cells, tuple) else (-1, K.OK)
            if pos >= 0:
                raise self._error(space, b2, pos, code, w2)
            old = (self._space, self._n, self._w, self._tw, self._pw, self._wi, self._rep)
            self._resize(len(space))  # may fail (memory): then nothing has changed
            self._space = space
            if table is not None:
                self._n[:n, :n] += table
                self._commit_kinds(b)
                return
            try:
                self._add_cells(cells, b, w2)
            except OverflowError:
                (self._space, self._n, self._w, self._tw, self._pw, self._wi,
                 self._rep) = old
                raise

    def _resize(self, c):
        """Grow the arrays to c classes: all are made before any is replaced."""
        if c != self._n.shape[0]:
            self.__dict__.update(S.grown(self, self._FIELDS, c))

    def _to_weighted(self, integer: bool):
        self.__dict__.update(S.promoted(self, self._FIELDS, exact=integer))
        self._weighted = True
        if not integer:
            self._wi = None

    def _commit_kinds(self, b):
        commit_kinds(self._tkinds, self._pkinds, b)

    def _mix_error(self, b):
        kinds = "strings" if self._space.kind == "str" else "numbers"
        return LabelTypeError(
            f"Mix of label input types (string and number): the label space "
            f"{I.show_labels(self._space.values)} holds {kinds}, but this batch has "
            f"y_true of {b.tkind} and y_pred of {b.pkind} labels"
        )

    def _error(self, space, b: _Batch, pos, code, w):
        if code == K.ERR_INTERNAL:  # pragma: no cover - a kernel bug, never a user's input
            return RuntimeError(
                f"confstream: the counting kernels disagree on the block at sample {pos}; "
                "nothing was counted. Please report this with the arrays' dtypes and shapes."
            )
        if code == K.ERR_WEIGHT:
            v = w.f[pos] if w.i is None else w.i[pos]
            return E.bad_value("sample_weight", (len(w.f),), pos, v, I.describe_value(v),
                               ": " + WEIGHT_RULE)
        if code == K.ERR_SCORE:
            row = b.p2[pos] if b.form == K.PRED_ARGMAX else b.p1[pos:pos + 1]
            j = int(np.flatnonzero(~np.isfinite(row))[0])
            if b.form != K.PRED_ARGMAX:
                idx = E.index_in(b.pshape, pos)
            else:
                idx = list(E.index_in(b.pshape[:1] + b.pshape[2:] if b.class_axis_1
                                      else b.pshape[:-1], pos))
                idx.insert(1 if b.class_axis_1 else len(idx), j)
            return E.bad_value("y_pred", b.pshape, pos, row[j], I.describe_value(row[j]),
                               "is not a finite score", index=tuple(idx))
        if code == K.ERR_TRUE:
            name, arr, shape = "y_true", b.t, b.tshape
        elif b.form == K.PRED_LABELS:
            name, arr, shape = "y_pred", b.p1, b.pshape
        else:
            return E.BatchValueError(
                f"y_pred{I.position(b.tshape, pos)}: the predicted class column is outside "
                f"the label space {I.show_labels(space.values)}", argument="y_pred",
                index=E.index_in(b.tshape, pos), value=None, sample=pos)
        v = arr[pos]
        if arr.dtype.kind == "f" and not (np.isfinite(v) and float(v).is_integer()):
            return I.LabelSpace.not_integer_error(name, shape, pos, v)
        if arr.dtype.kind == "u" and arr.dtype.itemsize == 1 and b.tkind == "bool":
            v = bool(v)
        return space.unknown_error(name, shape, pos, v)

    # -- merging, state -------------------------------------------------------------------
    def _merge(self, other: "ConfusionMatrix"):
        R.check_merge(self._boot, other._boot, "confusion matrice")
        if self.threshold != other.threshold or self.ignore_index != other.ignore_index:
            raise ValueError(
                f"Cannot add confusion matrices with different settings: threshold "
                f"{self.threshold} / ignore_index {self.ignore_index} and threshold "
                f"{other.threshold} / ignore_index {other.ignore_index}"
            )
        a, b = self._space, other._space
        if len(b) and len(a) and a.kind != b.kind:
            raise LabelTypeError(
                f"Cannot add confusion matrices over label spaces of different types: "
                f"{I.show_labels(a.values)} and {I.show_labels(b.values)}"
            )
        if a.fixed and b.fixed and a.values != b.values:
            raise ValueError(
                f"Cannot add confusion matrices with different label spaces: "
                f"{I.show_labels(a.values)} and {I.show_labels(b.values)}"
            )
        if a.fixed and not all(v in a.index for v in b.values):
            extra = [v for v in b.values if v not in a.index]
            raise ValueError(
                f"Cannot add confusion matrices with different label spaces: "
                f"{I.show_labels(a.values)} and {I.show_labels(b.values)} "
                f"(labels {I.show_labels(extra)} are not in the first)"
            )
        if b.fixed and not a.fixed:
            extra = [v for v in a.values if v not in b.index]
            if extra:
                raise ValueError(
                    f"Cannot add confusion matrices with different label spaces: "
                    f"{I.show_labels(a.values)} and {I.show_labels(b.values)} "
                    f"(labels {I.show_labels(extra)} are not in the second)"
                )
            # Take the fixed space of the other; re-index our counts into it.
            mine = self._arrays_in(b)
            self._space = b.copy()
            self._reset_counts_keep_kinds()
            self._add_arrays(mine, np.arange(len(b)))
        elif not a.fixed:
            space = a.copy()
            space.kind = space.kind or b.kind
            space.add_keys(b.values)
            self._space = space
            self._resize(len(space))
        idx = np.array([self._space.index[v] for v in b.values], dtype=np.int64)
        self._add_arrays(other._raw_arrays(), idx)
        self._tkinds |= other._tkinds
        self._pkinds |= other._pkinds

    def _reset_counts_keep_kinds(self):
        tk, pk, pos = self._tkinds, self._pkinds, self._boot_pos
        self._reset_state()
        self._tkinds, self._pkinds, self._boot_pos = tk, pk, pos

    def _raw_arrays(self):
        return S.arrays(self, self._FIELDS)

    def _arrays_in(self, space):
        """Our arrays re-indexed into ``space`` (a superset of our labels)."""
        idx = np.array([space.index[v] for v in self._space.values], dtype=np.int64)
        return S.reindexed(self, self._FIELDS, idx, len(space))

    def _add_arrays(self, d, idx):
        """Add arrays indexed like ``idx`` (their index i -> our index idx[i])."""
        ix = np.ix_(idx, idx)
        # Exact integer sums stay exact while both sides have them (unweighted counts weigh
        # 1); a sum past int64 is refused before anything changes.
        other_int = d.get("wi", None if "w" in d else d["n"])
        keep_int = other_int is not None and (self._wi is not None or not self._weighted)
        if keep_int:
            mine = self._wi[ix] if self._wi is not None else self._n[ix]
            _check_int_sum(mine, other_int)
        if "w" in d and not self._weighted:
            self._to_weighted(keep_int)
        if not keep_int:
            self._wi = None
        elif self._wi is not None:
            self._wi[ix] += other_int
        self._n[ix] += d["n"]
        if "rep" in d:
            self._rep[ix] += d["rep"]
        if self._weighted:  # an unweighted state's samples weigh 1 each
            S.add_into(self, self._WEIGHTED_FIELDS,
                       d if "w" in d else S.ones_of(self._FIELDS, d), idx)

    # Hooks for adapters (torch.distributed, devices): the additive state as arrays.
    def _state_arrays(self) -> dict:
        """The additive state: every entry adds elementwise on merge (an unweighted state's
        weight sums as every sample weighing 1: summing states of both kinds stays right)."""
        self._flush()
        with self._lock:
            out = S.dense(self, self._FIELDS, weighted=True)
            out["weighted"] = np.array([1 if self._weighted else 0], dtype=np.int64)
            return out

    def _add_state_arrays(self, d: dict):
        """Add a dict shaped like ``_state_arrays()`` (keys may be missing = zero; the
        weight sums only when it says ``weighted``), all or nothing: every array is read
        and its shape checked (``_state.read_dense``) before anything is added."""
        with self._lock:
            c = len(self._space)
            if ("rep" in d or self._rep is not None) and (self._rep is None or (
                    "rep" not in d and np.asarray(d.get("n", 0)).any())):
                raise ValueError(
                    "state arrays with and without the streamed bootstrap's replicates "
                    f"(bootstrap={self.bootstrap}) cannot be added: the samples of one "
                    "would have no replicates")
            vals = S.read_dense(self, self._FIELDS, d, c)
            weighted = int(np.asarray(d.get("weighted", [0])).reshape(-1)[0]) > 0
            arrays = {k: v for k, v in vals.items() if weighted or k in ("n", "rep")}
            arrays.setdefault("n", np.zeros((c, c), np.int64))
            if weighted and "w" not in arrays:
                raise ValueError("state arrays: weighted, but without the weight sums 'w'")
            self._add_arrays(arrays, np.arange(c))
            kinds = d.get("kinds")
            if kinds:
                self._tkinds |= set(kinds[0])
                self._pkinds |= set(kinds[1])
            elif arrays["n"].any():
                self._tkinds.add("int")
                self._pkinds.add("int")

    def _replace_state_arrays(self, d: dict):
        with self._lock:
            tk, pk, pos = set(self._tkinds), set(self._pkinds), self._boot_pos
            self._reset_state()
            self._tkinds, self._pkinds, self._boot_pos = tk, pk, pos
            self._add_state_arrays(d)

    def _expand(self, labels) -> "ConfusionMatrix":
        """Grow a dynamic label space to include ``labels`` (appended in the given order)."""
        with self._lock:
            if self._space.fixed:
                missing = [v for v in labels if self._space._key(v, "labels") not in
                           self._space.index]
                if missing:
                    raise ValueError(
                        f"labels {I.show_labels(missing)} are not in the fixed label space "
                        f"{I.show_labels(self._space.values)}"
                    )
                return self
            space = self._space.copy()
            try:
                space.add_keys([space._key(v, "labels") for v in labels])
            except TypeError as exc:
                raise LabelTypeError(str(exc)) from None
            self._space = space
            self._resize(len(space))
        return self

    def to_dict(self) -> dict:
        """JSON-safe state; ``ConfusionMatrix.from_dict`` reads it back."""
        self._flush()
        with self._lock:
            d = {
                "version": FORMAT_VERSION,
                "kind": self._kind,
                "labels": list(self._space.values),
                "fixed": self._space.fixed,
                "threshold": self.threshold,
                "ignore_index": self.ignore_index,
                "counts": None,
                "kinds": [sorted(self._tkinds), sorted(self._pkinds)],
                "weights": None,
            }
            if self._boot is not None:  # an optional key of format 1
                d["bootstrap"] = dict(self._boot.to_dict(), position=self._boot_pos)
            return S.to_dict(self, self._FIELDS, d)

    @classmethod
    def from_dict(cls, d: dict) -> "ConfusionMatrix":
        """Rebuild an accumulator from ``to_dict()`` output, validating every field."""
        _check_header(d, cls._kind)
        boot, pos = R.from_dict(d.get("bootstrap"))
        boot_args = {} if boot is None else {"bootstrap": boot.replicates, "seed": boot.seed,
                                             "shard": boot.shard}
        labels = d.get("labels")
        if not isinstance(labels, list) or not all(
                isinstance(v, (str, int)) and not isinstance(v, bool) for v in labels):
            raise ValueError("state: 'labels' must be a list of ints or strings")
        if len(set(labels)) != len(labels):
            raise ValueError(f"state: 'labels' has repeated values: {I.show_labels(labels)}")
        fixed = bool(d.get("fixed"))
        if fixed:
            acc = cls(labels=labels, threshold=d.get("threshold", 0.5),
                      ignore_index=d.get("ignore_index"), **boot_args) if labels else None
            if acc is None:
                raise ValueError("state: a fixed label space cannot be empty")
            if labels == list(range(len(labels))):
                acc._space = I.LabelSpace(num_classes=len(labels))
        else:
            acc = cls(threshold=d.get("threshold", 0.5), ignore_index=d.get("ignore_index"),
                      **boot_args)
            if labels:
                acc._expand(labels)
        kinds = d.get("kinds", [[], []])
        allowed = {"int", "float", "bool", "str", "-0.0", "+0.0"}
        if (not isinstance(kinds, list) or len(kinds) != 2
                or not all(isinstance(k, list) and set(k) <= allowed for k in kinds)):
            raise ValueError(f"state: 'kinds' must be two lists of {sorted(allowed)}")
        if d.get("weights") is not None and not isinstance(d["weights"], dict):
            raise ValueError("state: 'weights' must be a dict or null")
        S.from_dict(acc, cls._FIELDS, d, len(labels), _state_array)
        if boot is not None and d["bootstrap"].get("cells") is None:
            raise ValueError("state: 'bootstrap.cells' is missing")
        acc._weighted = d.get("weights") is not None
        acc._tkinds, acc._pkinds = set(kinds[0]), set(kinds[1])
        acc._boot_pos = pos
        return acc

    # -- reports and metrics --------------------------------------------------------------
    def _sums(self, labels=None):
        """Per-label (tp, pred, true) sums as scikit-learn's bincounts give them."""
        self._flush()
        with self._lock:
            n = self._n
            rows, cols = n.sum(axis=1), n.sum(axis=0)
            present_true = [v for v, r in zip(self._space.values, rows) if r > 0]
            present_pred = [v for v, r, c in zip(self._space.values, rows, cols) if c > 0 and r == 0]
            if not present_true and not present_pred:
                raise ValueError(
                    "Found empty input array (e.g., `y_true` or `y_pred`) while a minimum "
                    "of 1 sample is required."
                )
            present = _present_labels(present_true, present_pred, self._tkinds, self._pkinds)
            _check_weights_total(self._weighted, self._wsum)
            if self._weighted:
                tp_all, pred_all, true_all = np.diag(self._w), self._pw, self._tw
                total = self._wsum
            else:
                tp_all, pred_all, true_all = np.diag(n), cols, rows
                total = int(n.sum())
            if np.trace(n) == 0:  # scikit-learn: no sample with y_true == y_pred at all
                tp_all = np.zeros(len(tp_all))
            if labels is None:
                sel = present
            else:
                sel = np.asarray(labels)
                if sel.ndim != 1 or sel.size == 0:
                    raise ValueError("labels must be a non-empty 1-D list of labels")
                # Labels not in the space (of another type, too) get zeros, as in sklearn.
            idx = np.array([self._space.index.get(_key_of(v), -1) for v in sel.tolist()],
                           dtype=np.int64)

            def take(a):
                out = np.zeros(len(idx), dtype=a.dtype)
                ok = idx >= 0
                out[ok] = a[idx[ok]]
                return out

            return M.Sums(take(tp_all), take(pred_all), take(true_all), total), sel, present

    def report(self, labels=None, target_names=None, digits=2, zero_division="warn", *,
               ci=None, ci_method="bootstrap", n_resamples=1000, seed=None) -> Report:
        """scikit-learn's ``classification_report`` over everything seen so far.

        ``str(report)`` is byte-identical to ``classification_report(all_true, all_pred,
        sample_weight=all_weights, labels=..., target_names=..., digits=...,
        zero_division=...)`` and ``report.to_dict()`` equals its ``output_dict=True`` form.

        With ``ci`` (e.g. 0.95) every value also gets a confidence interval
        (``report.interval(metric, of_class)``; see docs/INTERVALS.md): ``ci_method``
        ``"bootstrap"`` (percentile, ``n_resamples`` tables drawn from the counts with
        ``seed``), ``"bca"`` (the same replicates, bias-corrected and accelerated),
        ``"wilson"`` or ``"clopper-pearson"`` (precision, recall, accuracy).
        """
        if ci is not None:
            from .report import report_with_intervals

            return report_with_intervals(self, labels, target_names, digits, zero_division,
                                         ci=ci, ci_method=ci_method, n_resamples=n_resamples,
                                         seed=seed)
        M.check_zero_division(zero_division)
        sums, sel, present = self._sums(labels)
        labels_given = labels is not None
        micro_is_accuracy = not labels_given or set(sel.tolist()) >= set(present.tolist())
        return build_report(sums, sel, target_names, labels_given=labels_given,
                            micro_is_accuracy=micro_is_accuracy, digits=digits,
                            zero_division=zero_division, samples=None)

    def precision_recall_fscore_support(self, *, beta=1.0, labels=None, average=None,
                                        warn_for=("precision", "recall", "f-score"),
                                        zero_division="warn"):
        """scikit-learn's ``precision_recall_fscore_support`` over everything seen so far."""
        M.check_zero_division(zero_division)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"average must be None, 'micro', 'macro' or 'weighted', got {average!r}")
        sums, _, _ = self._sums(labels)
        return M.prfs(sums, beta=beta, average=average, warn_for=warn_for,
                      zero_division=zero_division)

    def _present_matrix(self, labels=None, weighted=True):
        """The confusion matrix over ``labels`` (default: sorted labels seen), as sklearn's."""
        sums, sel, _ = self._sums(labels)
        del sums
        self._flush()
        with self._lock:
            keys = [_key_of(v) for v in sel.tolist()]
            last = {k: pos for pos, k in enumerate(keys)}  # a repeated label: its last place
            idx = np.array([self._space.index.get(k, -1) if last[k] == pos else -1
                            for pos, k in enumerate(keys)], dtype=np.int64)
            src = self._weight_table() if weighted else self._n
            c = len(idx)
            out = np.zeros((c, c), dtype=src.dtype)
            ok = idx >= 0
            out[np.ix_(ok, ok)] = src[np.ix_(idx[ok], idx[ok])]
        if out.shape == (1, 1):  # scikit-learn's confusion_matrix warns, and so its users
            warnings.warn(
                "A single label was found in 'y_true' and 'y_pred'. For the confusion matrix "
                "to have the correct shape, use the 'labels' parameter to pass all known "
                "labels.", UserWarning, stacklevel=3)
        return out, sel

    def confusion_matrix(self, labels=None, normalize=None) -> np.ndarray:
        """scikit-learn's ``confusion_matrix``: over the sorted labels seen by default."""
        cm, _ = self._present_matrix(labels)
        return M.normalize_confusion(cm, normalize)

    def balanced_accuracy(self, adjusted=False) -> float:
        cm, _ = self._present_matrix()
        return M.balanced_accuracy(cm, adjusted)

    def matthews_corrcoef(self) -> float:
        cm, _ = self._present_matrix()
        return M.matthews_corrcoef(cm)

    def cohen_kappa(self, weights=None, labels=None) -> float:
        cm, _ = self._present_matrix(labels)
        return M.cohen_kappa(cm, weights)

    def jaccard(self, average=None, labels=None, zero_division="warn", pos_label=1):
        """Per-class IoU (``average=None``), or its micro / macro (mIoU) / weighted mean;
        ``average="binary"``: the IoU of ``pos_label`` on data of at most two labels, as
        scikit-learn's ``jaccard_score``."""
        M.check_zero_division(zero_division)
        if average == "binary":
            _, _, present = self._sums(None)
            if len(present) > 2:
                raise ValueError(
                    "Target is multiclass but average='binary'. Please choose another average "
                    "setting, one of [None, 'micro', 'macro', 'weighted'].")
            if pos_label not in present.tolist():
                if len(present) >= 2:
                    raise ValueError(f"pos_label={pos_label!r} is not a valid label. It should "
                                     f"be one of {present}")
            sums, _, _ = self._sums([pos_label])
            return float(M.jaccard(sums, None, zero_division)[0])
        sums, _, _ = self._sums(labels)
        return M.jaccard(sums, average, zero_division)

    def specificity(self, average=None, labels=None, zero_division="warn"):
        """Per-class true-negative rate tn / (tn + fp), or its micro / macro / weighted mean."""
        sums, _, _ = self._sums(labels)
        return M.specificity(sums, average, zero_division)

    def interval(self, metric, ci=0.95, *, method="bootstrap", n_resamples=1000, seed=None,
                 **kwargs):
        """Confidence interval ``(low, high)`` of ``"matthews_corrcoef"``, ``"cohen_kappa"``,
        ``"balanced_accuracy"``, ``"jaccard"`` or ``"accuracy"`` (keywords as the metric's,
        e.g. ``weights=`` or ``average=``); see docs/INTERVALS.md."""
        from .report import accumulator_interval

        return accumulator_interval(self, metric, ci, method=method, n_resamples=n_resamples,
                                    seed=seed, kwargs=kwargs)


def commit_kinds(tkinds: set, pkinds: set, b: _Batch):
    """Add a counted batch's label kinds. The signs of a float 0 are kept only once a -0.0
    was seen (so plain float labels keep the kinds the device path records too); a +0.0
    seen before the first -0.0 is not remembered."""
    tkinds.add(b.tkind)
    pkinds.add(b.pkind)
    for kinds, signs in ((tkinds, b.zeros[0]), (pkinds, b.zeros[1])):
        if "-0.0" in signs or "-0.0" in kinds:
            kinds.update(signs)


def _key_of(v):
    """The label space's key of a label value (None for what can be no label)."""
    if isinstance(v, str):
        return v
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return int(v) if f.is_integer() else None


def _present_labels(true_keys, pred_keys, tkinds, pkinds) -> np.ndarray:
    """The sorted labels seen, typed as scikit-learn's ``unique_labels`` would type them.

    It takes y_true's labels first (as the dtype of all y_true concatenated) and adds
    y_pred's others, then sorts and makes an array: so one float label makes all floats.
    """
    def typed(keys, kinds):
        if "str" in kinds:
            return list(keys)
        if "float" in kinds:
            # a zero seen only as -0.0 prints so; seen both ways, which one numpy's unique
            # keeps depends on its sort, and +0.0 is taken
            negative_zero = "-0.0" in kinds and "+0.0" not in kinds
            return [-0.0 if k == 0 and negative_zero else float(k) for k in keys]
        if kinds == {"bool"}:
            return [bool(k) for k in keys]
        return list(keys)

    values = typed(true_keys, tkinds) + typed(pred_keys, pkinds)
    return np.asarray(sorted(values))


def _check_int_sum(a, b):
    """Refuse a + b (non-negative int64 arrays) where it would pass 2**63 - 1."""
    b = np.asarray(b, dtype=np.int64)
    over = a > np.iinfo(np.int64).max - b
    if over.any():
        cell = tuple(int(i) for i in np.argwhere(over)[0])
        raise OverflowError(
            f"Cannot add the accumulators: the sum of integer weights at {cell} would pass "
            f"2**63 - 1 (counts are exact int64 and never wrap); nothing was changed")


def _check_weights_total(weighted, total):
    # Weights are non-negative, so a zero total means every weight was zero.
    if weighted and total == 0:
        raise ValueError("Sample weights must contain at least one non-zero number.")


class _SpaceChanged(Exception):
    """Internal: the label space was replaced while a batch was counted: count it again."""


class _Weights(NamedTuple):
    """A batch's weights: float64 (the sums scikit-learn's report adds) and, for integer
    weights, int64 (the exact counts of its ``confusion_matrix``)."""

    f: np.ndarray
    i: Optional[np.ndarray]


def _check_header(d, kind):
    if not isinstance(d, dict):
        raise TypeError(f"state must be a dict, got {type(d).__name__}")
    if d.get("version") != FORMAT_VERSION:
        raise ValueError(f"state: unknown format version {d.get('version')!r} "
                         f"(this confstream reads version {FORMAT_VERSION})")
    if d.get("kind") != kind:
        raise ValueError(f"state: kind {d.get('kind')!r} is not {kind!r}")


def _state_array(x, shape, name, integer=False):
    if x is None:
        raise ValueError(f"state: '{name}' is missing")
    try:
        raw = np.asarray(x)
        if raw.dtype.kind not in "iuf":
            raise TypeError
        a = raw.astype(np.float64)
    except (TypeError, ValueError):
        if not (isinstance(x, list) and not x):
            raise ValueError(f"state: '{name}' is not numeric") from None
        raw = a = np.zeros(0)
    if a.size == 0 and int(np.prod(shape)) == 0:  # JSON writes a (0, 0) table as []
        raw, a = raw.reshape(shape), a.reshape(shape)
    if a.shape != tuple(shape):
        raise ValueError(f"state: '{name}' has shape {a.shape}, expected {tuple(shape)}")
    if not np.isfinite(a).all():
        raise ValueError(f"state: '{name}' has values that are not finite")
    if (a < 0).any():
        bad = np.argwhere(a < 0)[0] if a.ndim else ()
        raise ValueError(f"state: '{name}' has a negative value at {tuple(int(i) for i in bad)}")
    if integer:
        if raw.dtype.kind in "iu":  # exact: never through float64
            if raw.dtype.kind == "u" and (raw > np.uint64(np.iinfo(np.int64).max)).any():
                raise ValueError(f"state: '{name}' has values past the int64 range")
            return raw.astype(np.int64)
        if (a != np.floor(a)).any():
            raise ValueError(f"state: '{name}' must hold integers")
        if (a >= 2.0**63).any():
            raise ValueError(f"state: '{name}' has values past the int64 range")
        return a.astype(np.int64)
    return a


def _hist_square(L):
    return (L + 1, L + 1)


def _hist_f(L):
    return (L + 1, 2 * L + 1)


def _sample_sums(L):
    return (7,)  # total weight; for precision, recall, F1: weighted scores, undefined weight


class MultilabelConfusionMatrix(_Accumulator):
    """A streaming stack of per-label 2x2 matrices for multi-label data.

    Parameters
    ----------
    num_labels : int
        Number of labels (columns of the indicator / score matrices).
    threshold : float or sequence of float
        Scores ``> threshold`` (one value, or one per label) predict the label.
    bootstrap, seed, shard : int
        Keep ``bootstrap`` streamed Poisson bootstrap replicates (as ``ConfusionMatrix``'s):
        per-label sums and the samples average's per-sample sums of each replicate, which
        ``report(ci=...)`` reads (micro and samples averages need them: the counts alone do
        not say how the labels of a sample go together).

    Examples
    --------
    >>> acc = MultilabelConfusionMatrix(3)
    >>> acc.update([[1, 0, 1], [0, 1, 0]], [[0.9, 0.2, 0.4], [0.1, 0.7, 0.6]]).counts[0]
    array([[1, 0],
           [0, 1]])
    """

    _kind = "MultilabelConfusionMatrix"

    def __init__(self, num_labels, *, threshold=0.5, bootstrap=None, seed=0, shard=0):
        self._boot = R.settings(bootstrap, seed, shard)
        if isinstance(num_labels, bool) or not isinstance(num_labels, (int, np.integer)):
            raise TypeError(f"num_labels must be an int, got {num_labels!r}")
        if num_labels < 2:
            raise ValueError(
                f"num_labels must be at least 2, got {num_labels}: one column of 0/1 labels is "
                f"binary data (scikit-learn reads it so); use ConfusionMatrix(num_classes=2)")
        self.num_labels = int(num_labels)
        thr = np.asarray(threshold, dtype=np.float64)
        # numpy compares scores with a scalar threshold in the scores' dtype, and with an
        # array of thresholds in the promoted dtype: keep to that.
        self._thr_scalar = thr.ndim == 0
        if thr.ndim == 0:
            thr = np.full(self.num_labels, float(thr))
        if thr.shape != (self.num_labels,):
            raise ValueError(
                f"threshold must be one value or {self.num_labels} values, got shape {thr.shape}"
            )
        if not np.isfinite(thr).all():
            raise ValueError(f"threshold must be finite, got {threshold!r}")
        self._thr = thr
        self._init_common()
        self._reset_state()

    @property
    def threshold(self):
        return self._thr.copy()

    def _reset_state(self):
        L = self.num_labels
        self._tp = np.zeros(L, np.int64)
        self._pred = np.zeros(L, np.int64)
        self._true = np.zeros(L, np.int64)
        self._nsamples = 0
        self._hp = np.zeros((L + 1, L + 1), np.int64)
        self._hr = np.zeros((L + 1, L + 1), np.int64)
        self._hf = np.zeros((L + 1, 2 * L + 1), np.int64)
        self._weighted = False
        self._tpw = self._predw = self._truew = None
        self._whp = self._whr = self._whf = None
        self._wsum = 0.0
        self._nzero = 0
        b = self._nrep
        self._rtp, self._rpred, self._rtrue, self._rsamp = (
            (None,) * 4 if self._boot is None else
            (np.zeros((L, b)), np.zeros((L, b)), np.zeros((L, b)), np.zeros((7, b))))
        self._boot_pos = 0

    _nrep = ConfusionMatrix._nrep
    bootstrap = ConfusionMatrix.bootstrap

    def _add_replicates(self, t, p, form, thr, w):
        """Under the lock, after validation: the batch into the replicates."""
        if self._boot is None:
            return
        t = t.astype(np.uint8)  # validated 0 / 1: one dtype for the kernel
        if not form:
            p = p.astype(np.uint8)
        from . import _poisson_kernels as PK  # on first use: keeps the import quick

        PK.add_multilabel_replicates((t, p, form, np.asarray(thr)), _NO1 if w is None else w,
                                     w is not None, (self._boot.key, self._boot_pos, PK.CDF),
                                     (self._rtp, self._rpred, self._rtrue, self._rsamp))
        self._boot_pos += t.shape[0]

    @property
    def labels(self) -> list:
        return list(range(self.num_labels))

    @property
    def fixed(self) -> bool:
        return True

    def reset(self):
        with self._lock:
            self._pending.clear()
            self._reset_state()
        return self

    def __repr__(self):
        pending = self._repr_counts()
        return (f"MultilabelConfusionMatrix(num_labels={self.num_labels}, "
                f"samples={self._nsamples}, weighted={self._weighted}"
                f"{', ' + pending if pending else ''})")

    def _repr_html_(self) -> str:
        """The per-label tn, fp, fn, tp as an HTML heatmap table (notebooks)."""
        from ._html import multilabel_html

        return multilabel_html(self)

    @property
    def counts(self) -> np.ndarray:
        """(L, 2, 2) ``[[tn, fp], [fn, tp]]`` per label; float64 once weights were used."""
        self._flush()
        with self._lock:
            if self._weighted:
                tp, pred, true, total = self._tpw, self._predw, self._truew, self._wsum
            else:
                tp, pred, true, total = self._tp, self._pred, self._true, self._nsamples
            return M.mcm(tp, pred, true, total)

    def update(self, y_true, y_pred, sample_weight=None):
        """Fold a batch of (N, L) indicator truth and (N, L) indicators or scores.

        Returns ``self``; a batch with a bad value raises and changes nothing.
        """
        if self._boot is not None:  # replicates are counted on the host
            y_true, y_pred, sample_weight = (R.host(x) for x in (y_true, y_pred, sample_weight))
        elif _devices.route(self, y_true, y_pred, sample_weight):
            return self
        if I.is_sparse(y_true) or I.is_sparse(y_pred):
            return self._update_sparse(y_true, y_pred, sample_weight)
        t = I.as_array(y_true, "y_true")
        p = I.as_array(y_pred, "y_pred")
        L = self.num_labels
        for name, a in (("y_true", t), ("y_pred", p)):
            if a.ndim != 2 or a.shape[1] != L:
                raise ValueError(
                    f"{name} must have shape (N, {L}) for {L} labels, got {a.shape}"
                )
            if a.dtype.kind not in "biuf":
                raise TypeError(f"{name} must be numeric, got dtype {a.dtype}")
        if t.shape[0] != p.shape[0]:
            raise ValueError(
                f"y_true and y_pred have different numbers of samples: {t.shape[0]} and {p.shape[0]}"
            )
        n = t.shape[0]
        w = I.as_weights(sample_weight, n) if sample_weight is not None else None
        if n == 0:
            return self
        t = _numba_dtype(np.ascontiguousarray(t))
        form = 1 if p.dtype.kind == "f" else 0
        # a scalar threshold compares in the scores' own dtype (float16 too), as numpy does
        thr = self._thr.astype(p.dtype) if form and self._thr_scalar else self._thr
        p = _numba_dtype(np.ascontiguousarray(p))
        thr = thr.astype(p.dtype) if form and self._thr_scalar else thr
        if not form:
            t, p = _same_dtype(t, p)
        # Unweighted into unweighted state: one validating pass into counts of the batch's
        # own (per thread, merged); else validate, then add one sample at a time in order.
        counted = None
        if w is None and not self._weighted:
            counted, err = K.ml_count_tables(t, p, form, thr, get_num_threads())
            row, col, code = err if err is not None else (-1, 0, K.OK)
        else:
            row, col, code = K.ml_validate(t, p, form, thr,
                                           w if w is not None else _NO1, w is not None)
        if row >= 0:
            if code == K.ERR_INTERNAL:  # pragma: no cover - a kernel bug, never a user's input
                raise RuntimeError(
                    f"confstream: the counting kernels disagree on the rows from {row}; "
                    "nothing was counted. Please report this with the arrays' dtypes and shapes."
                )
            if code == K.ERR_WEIGHT:
                raise E.bad_value("sample_weight", (len(w),), row, w[row],
                                  I.describe_value(w[row]), ": " + WEIGHT_RULE)
            if code == K.ERR_SCORE:
                raise E.bad_value("y_pred", p.shape, row * L + col, p[row, col],
                                  I.describe_value(p[row, col]), "is not a finite score")
            name, arr = ("y_true", t) if code == K.ERR_TRUE_ML else ("y_pred", p)
            raise E.bad_value(name, arr.shape, row * L + col, arr[row, col],
                              repr(arr[row, col].item()), ": multi-label indicators must be 0 or 1")
        with self._lock:
            if counted is not None and not self._weighted:
                self._add_replicates(t, p, form, thr, None)
                for state, add in zip((self._tp, self._pred, self._true, self._hp, self._hr,
                                       self._hf), counted):
                    state += add
                self._nsamples += n
                return self
            if w is not None and not self._weighted:
                self._to_weighted()
            has_w = self._weighted
            ww = w if w is not None else (np.ones(n) if has_w else _NO1)
            z1 = _NO1
            z2 = np.zeros((0, 0), np.float64)
            self._wsum, nz = K.ml_count_into(
                (t, p, form, thr), ww, has_w,
                (self._tp, self._pred, self._true,
                 self._tpw if has_w else z1, self._predw if has_w else z1,
                 self._truew if has_w else z1, self._hp, self._hr, self._hf,
                 self._whp if has_w else z2, self._whr if has_w else z2,
                 self._whf if has_w else z2), self._wsum)
            self._nzero += nz
            self._nsamples += n
            self._add_replicates(t, p, form, thr, w)
        return self

    def _update_sparse(self, y_true, y_pred, sample_weight):
        """scipy.sparse input: dense blocks of rows through the dense path, all or nothing."""
        L = self.num_labels
        t, p = I.sparse_rows(y_true), I.sparse_rows(y_pred)
        if not I.is_sparse(t):
            t = I.as_array(t, "y_true")
        if not I.is_sparse(p):
            p = I.as_array(p, "y_pred")
        for name, a in (("y_true", t), ("y_pred", p)):
            if len(a.shape) != 2 or a.shape[1] != L:
                raise ValueError(
                    f"{name} must have shape (N, {L}) for {L} labels, got {tuple(a.shape)}")
        n = t.shape[0]
        if p.shape[0] != n:
            raise ValueError(
                f"y_true and y_pred have different numbers of samples: {n} and {p.shape[0]}")
        w = I.as_weights(sample_weight, n) if sample_weight is not None else None
        self._flush()
        with self._lock:  # re-entrant: the blocks' updates take it too, nobody else can
            saved = self._state_arrays_unlocked()
            pos = self._boot_pos
            try:
                for a, b in I.row_block_bounds(n, L):
                    self.update(I.dense_rows(t, a, b), I.dense_rows(p, a, b),
                                None if w is None else w[a:b])
            except BaseException as exc:
                self._replace_state_arrays(saved)
                self._boot_pos = pos
                if isinstance(exc, ValueError) and a:
                    raise ValueError(_shift_rows(str(exc), a)) from None
                raise
        return self

    def _to_weighted(self):
        self.__dict__.update(S.promoted(self, self._FIELDS))
        self._weighted = True

    _INT_KEYS = ("tp", "pred", "true", "hp", "hr", "hf")
    _FLOAT_KEYS = ("tpw", "predw", "truew", "whp", "whr", "whf")
    # The additive state (``_state``): per-label sums, the per-sample histograms of the
    # samples average, and once weighted their weighted twins (``ones``: what each holds
    # when every sample so far weighed 1, its integer twin).
    _FIELDS = (
        *(S.Field("_" + k, k, k, shape, True) for k, shape in zip(
            _INT_KEYS, (S.per_class,) * 3 + (_hist_square,) * 2 + (_hist_f,))),
        S.Field("_nsamples", "nsamples", "samples", S.scalar, True),
        *(S.Field("_" + k, k, "weights." + k, shape, False, S.WEIGHTED,
                  ones=lambda s, ik=ik: S.f64(s[ik]))
          for k, ik, shape in zip(_FLOAT_KEYS, _INT_KEYS,
                                  (S.per_class,) * 3 + (_hist_square,) * 2 + (_hist_f,))),
        S.Field("_wsum", "wsum", "weights.total", S.scalar, False, S.WEIGHTED,
                ones=lambda s: S.f64(s["nsamples"])),
        S.Field("_nzero", "nzero", "weights.zero_weight_samples", S.scalar, True, S.WEIGHTED,
                ones=lambda s: 0),
        # the streamed bootstrap's replicates (optional: bootstrap=B), each (..., B)
        *(S.Field("_r" + k, "r" + k, "bootstrap." + k, shape, False, S.OPTIONAL, "_nrep")
          for k, shape in (("tp", S.per_class), ("pred", S.per_class), ("true", S.per_class),
                           ("samp", _sample_sums))),
    )
    _REP_KEYS = ("rtp", "rpred", "rtrue", "rsamp")

    def _merge(self, other):
        R.check_merge(self._boot, other._boot, "multi-label confusion matrice")
        if other.num_labels != self.num_labels:
            raise ValueError(
                f"Cannot add multi-label confusion matrices with different label spaces: "
                f"{self.num_labels} labels and {other.num_labels} labels"
            )
        if not np.array_equal(self._thr, other._thr):
            raise ValueError(
                f"Cannot add multi-label confusion matrices with different thresholds: "
                f"{self._thr.tolist()} and {other._thr.tolist()}"
            )
        self._add_state_arrays(other._state_arrays_unlocked())

    def _state_arrays_unlocked(self):
        """The additive state (``_state.dense``: an unweighted state's weighted sums as
        every sample weighing 1, so that states of both kinds add up right)."""
        d = S.dense(self, self._FIELDS, weighted=True)
        d["weighted"] = np.array([1 if self._weighted else 0], np.int64)
        return d

    def _state_arrays(self) -> dict:
        self._flush()
        with self._lock:
            return self._state_arrays_unlocked()

    def _add_state_arrays(self, d: dict):
        """Add a dict shaped like ``_state_arrays()`` (keys may be missing = zero; an
        unweighted one's weighted sums, if missing, are its counts), all or nothing."""
        with self._lock:
            has_rep = any(k in d for k in self._REP_KEYS)
            if (has_rep or self._boot is not None) and (self._boot is None or (
                    not has_rep and int(np.asarray(d.get("nsamples", [0])).reshape(-1)[0]))):
                raise ValueError(
                    "state arrays with and without the streamed bootstrap's replicates "
                    f"(bootstrap={self.bootstrap}) cannot be added: the samples of one "
                    "would have no replicates")
            vals = S.read_dense(self, self._FIELDS, d, self.num_labels)  # checks them all
            if int(np.asarray(d.get("weighted", [0])).reshape(-1)[0]) > 0 and not self._weighted:
                self._to_weighted()
            S.add_dense(self, self._FIELDS, vals)

    def _replace_state_arrays(self, d: dict):
        with self._lock:
            pos = self._boot_pos
            self._reset_state()
            self._boot_pos = pos
            self._add_state_arrays(d)

    def _expand(self, labels):
        bad = [v for v in labels if v not in range(self.num_labels)]
        if bad:
            raise ValueError(f"labels {bad} are outside 0..{self.num_labels - 1}")
        return self

    def to_dict(self) -> dict:
        self._flush()
        with self._lock:
            d = {"version": FORMAT_VERSION, "kind": self._kind, "num_labels": self.num_labels,
                 # one value stays one value: it compares in the scores' dtype (float32 too)
                 "threshold": float(self._thr[0]) if self._thr_scalar else self._thr.tolist(),
                 "samples": None, "weights": None}
            if self._boot is not None:  # an optional key of format 1
                d["bootstrap"] = dict(self._boot.to_dict(), position=self._boot_pos)
            return S.to_dict(self, self._FIELDS, d)

    @classmethod
    def from_dict(cls, d: dict) -> "MultilabelConfusionMatrix":
        _check_header(d, cls._kind)
        L = d.get("num_labels")
        if not isinstance(L, int) or L < 1:
            raise ValueError(f"state: 'num_labels' must be a positive int, got {L!r}")
        boot, pos = R.from_dict(d.get("bootstrap"))
        acc = cls(L, threshold=d.get("threshold", 0.5), **({} if boot is None else {
            "bootstrap": boot.replicates, "seed": boot.seed, "shard": boot.shard}))
        if d.get("weights") is not None and not isinstance(d["weights"], dict):
            raise ValueError("state: 'weights' must be a dict or null")
        if boot is not None:
            missing = [k for k in ("tp", "pred", "true", "samp") if d["bootstrap"].get(k) is None]
            if missing:
                raise ValueError(f"state: 'bootstrap.{missing[0]}' is missing")
        S.from_dict(acc, cls._FIELDS, d, L, _state_array)
        acc._weighted = d.get("weights") is not None
        acc._boot_pos = pos
        return acc

    # -- reports --------------------------------------------------------------------------
    def _sums(self, labels=None):
        self._flush()
        with self._lock:
            if self._nsamples == 0:
                raise ValueError(
                    "Found empty input array (e.g., `y_true` or `y_pred`) while a minimum "
                    "of 1 sample is required."
                )
            _check_weights_total(self._weighted, self._wsum)
            L = self.num_labels
            if labels is None:
                sel = np.arange(L)
            else:
                sel = np.asarray(labels)
                if sel.ndim != 1 or sel.size == 0 or sel.dtype.kind not in "iu":
                    raise ValueError("labels must be a non-empty list of label indices")
                if sel.max() >= L:
                    raise ValueError(
                        f"All labels must be in [0, n labels) for multilabel targets. "
                        f"Got {sel.max()} > {L - 1}"
                    )
                if sel.min() < 0:
                    raise ValueError(
                        f"All labels must be in [0, n labels) for multilabel targets. "
                        f"Got {sel.min()} < 0"
                    )
            if self._weighted:
                tp, pred, true, total = self._tpw, self._predw, self._truew, self._wsum
            else:
                tp, pred, true, total = self._tp, self._pred, self._true, self._nsamples
            sums = M.Sums(tp[sel].copy(), pred[sel].copy(), true[sel].copy(), total)
            # Per-sample statistics are kept over all labels: they serve any order of them.
            samples = M.SampleStats(
                self._hp.copy(), self._hr.copy(), self._hf.copy(),
                None if not self._weighted else (self._whp.copy(), self._whr.copy(),
                                                 self._whf.copy()),
                self._nzero, self._nsamples) if sorted(sel.tolist()) == list(range(L)) else None
            return sums, sel, samples

    def report(self, labels=None, target_names=None, digits=2, zero_division="warn", *,
               ci=None, ci_method="bootstrap", n_resamples=None, seed=None) -> Report:
        """scikit-learn's ``classification_report`` for multi-label data seen so far.

        Samples avg is computed from exact per-sample statistics; it needs all labels
        (with ``labels`` given it is not available and raises, as the statistics would
        have to be kept per subset).

        With ``ci`` (e.g. 0.95), every value gets the percentile interval of the streamed
        Poisson bootstrap replicates (made with ``bootstrap=B``; ``ci_method`` must be
        ``"bootstrap"``; ``n_resamples`` and ``seed``, if given, must be the accumulator's).
        """
        if ci is not None:
            return self._report_with_intervals(labels, target_names, digits, zero_division,
                                               ci=ci, ci_method=ci_method,
                                               n_resamples=n_resamples, seed=seed)
        M.check_zero_division(zero_division)
        sums, sel, samples = self._sums(labels)
        if samples is None:
            raise ValueError(
                "MultilabelConfusionMatrix.report(labels=...) needs every label (in any "
                "order): 'samples avg' over a subset would need that subset's per-sample "
                "statistics; build the accumulator on the columns you need instead"
            )
        return build_report(sums, sel, target_names, labels_given=labels is not None,
                            micro_is_accuracy=False, digits=digits,
                            zero_division=zero_division, samples=samples)

    def _report_with_intervals(self, labels, target_names, digits, zero_division, *, ci,
                               ci_method, n_resamples, seed) -> Report:
        from . import intervals as CI

        ci, method = CI.check_ci(ci, ci_method, 1 if n_resamples is None else n_resamples)
        snap = self.copy()  # one consistent state for the values and their intervals
        if snap._boot is None:
            raise ValueError(
                "MultilabelConfusionMatrix.report(ci=...) needs streamed bootstrap replicates "
                "(micro and samples averages depend on how the labels of each sample go "
                "together, which the counts do not keep): make the accumulator with "
                "MultilabelConfusionMatrix(num_labels, bootstrap=200)")
        if method != "bootstrap":
            raise ValueError(f"ci_method={ci_method!r}: multi-label intervals come from the "
                             "streamed replicates, read as percentiles: use 'bootstrap'")
        for name, value, own in (("n_resamples", n_resamples, snap.bootstrap),
                                 ("seed", seed, snap._boot.seed)):
            if value is not None and value != own:
                raise ValueError(f"{name}={value!r}: the replicates were drawn during the "
                                 f"updates with bootstrap={snap.bootstrap}, seed="
                                 f"{snap._boot.seed}; leave {name} out")
        report = snap.report(labels, target_names, digits, zero_division)
        sel = np.asarray(report.labels, dtype=np.int64)
        values = CI.margin_intervals(snap._rtp, snap._rtrue, snap._rpred, sel, ci=ci,
                                     zero_division=zero_division, micro_is_accuracy=False)
        values.update(CI.samples_intervals(snap._rsamp, ci=ci, zero_division=zero_division))
        report._ci = {"level": ci, "method": method, "n_resamples": snap.bootstrap,
                      "seed": snap._boot.seed, "streamed": True, "values": values}
        return report

    def precision_recall_fscore_support(self, *, beta=1.0, labels=None, average=None,
                                        warn_for=("precision", "recall", "f-score"),
                                        zero_division="warn"):
        M.check_zero_division(zero_division)
        if average not in (None, "micro", "macro", "weighted", "samples"):
            raise ValueError(f"average must be None, 'micro', 'macro', 'weighted' or "
                             f"'samples', got {average!r}")
        sums, _, samples = self._sums(labels)
        if average == "samples":
            if samples is None:
                raise ValueError(_samples_subset_message(labels, "precision_recall_fscore_support"))
            return M.samples_prfs(samples, beta=beta, warn_for=warn_for,
                                  zero_division=zero_division)
        return M.prfs(sums, beta=beta, average=average, warn_for=warn_for,
                      zero_division=zero_division)

    def jaccard(self, average=None, labels=None, zero_division="warn"):
        M.check_zero_division(zero_division)
        sums, _, samples = self._sums(labels)
        if average == "samples":
            if samples is None:
                raise ValueError(_samples_subset_message(labels, "jaccard_score"))
            return M.samples_jaccard(samples, zero_division)
        return M.jaccard(sums, average, zero_division)

    def specificity(self, average=None, labels=None, zero_division="warn"):
        sums, _, _ = self._sums(labels)
        return M.specificity(sums, average, zero_division)


def _samples_subset_message(labels, dropin):
    labels = np.asarray(labels).tolist()
    return (
        f"average='samples' over labels={labels} needs the per-sample counts of those "
        f"columns, which an accumulator over every label does not keep (it would give "
        f"the value over all labels): update a MultilabelConfusionMatrix({len(labels)}) "
        f"with the columns y_true[:, {labels}] and y_pred[:, {labels}], or call "
        f"confstream.{dropin}(y_true, y_pred, labels={labels}, average='samples')"
    )


def _shift_rows(message, offset):
    """An error about rows of a block of rows, written about rows of the whole input."""
    import re

    return re.sub(r"(y_true|y_pred|sample_weight)\[(\d+)",
                  lambda m: f"{m.group(1)}[{int(m.group(2)) + offset}", message, count=1)


def from_dict(d: dict):
    """Rebuild either accumulator from its ``to_dict()`` output."""
    if not isinstance(d, dict):
        raise TypeError(f"state must be a dict, got {type(d).__name__}")
    kind = d.get("kind")
    for cls in (ConfusionMatrix, MultilabelConfusionMatrix):
        if kind == cls._kind:
            return cls.from_dict(d)
    # the accumulators that build on this module, imported when their state is read
    if kind in ("ScoreCurves", "MultilabelScoreCurves"):
        from . import curves

        return getattr(curves, kind).from_dict(d)
    if kind == "GroupedConfusionMatrix":
        from .grouped import GroupedConfusionMatrix

        return GroupedConfusionMatrix.from_dict(d)
    if kind == "GroupedMultilabelConfusionMatrix":
        from .grouped_multilabel import GroupedMultilabelConfusionMatrix

        return GroupedMultilabelConfusionMatrix.from_dict(d)
    raise ValueError(f"state: unknown kind {kind!r}")
