"""Score curves: a (score bin x truth) histogram per class, streamed, merged by addition.

``ScoreCurves`` (binary, or one-vs-rest / one-vs-one multi-class) and
``MultilabelScoreCurves`` keep, per score column, the count (or weight) of positives and
negatives in each score bin. ROC / PR curves, AUROC and average precision are pure functions
of it (``ranking``). Scores of at most 16 significant bits (float16, bfloat16, bool, integers
of <= 16 bits) get one bin per value: read-outs equal scikit-learn's. Other scores get
``2**bits`` bins per binade: read-outs come with bounds that contain scikit-learn's value.
"""

from __future__ import annotations

import math
import warnings
import threading
from typing import NamedTuple

import numpy as np
from numba import get_num_threads

from . import _curve_kernels as CK
from . import _devices
from . import _inputs as I
from . import ranking as R
from ._kernels._threads import _grain, run_chunks
from .confusion import ConfusionMatrix

__all__ = ["ScoreCurves", "MultilabelScoreCurves"]

FORMAT_VERSION = 1
ADAPTIVE_VERSION = 2  # states of resolution="adaptive" (interval lists)
DEFAULT_BITS = 10  # 2^10 bins per binade: 202,757 bins, 3.1 MiB per class
# resolution="adaptive": per column a buffer of BUFFER keys (8 bytes each; float64 scores
# add a byte, weights 8 bytes a row) and up to DEFAULT_INTERVALS intervals (16 bytes of edges
# + 8 per cell, one more as the merge's sentinel): 4.0 MiB per class for float32 scores
BUFFER = 1 << 17
DEFAULT_INTERVALS = 98_303
_MODE_NAMES = {CK.S_F16: "float16", CK.S_BF16: "bfloat16", CK.S_INT: "int16",
               CK.S_CERT: "certified", CK.S_ADAPT: "adaptive certified"}
_TOP = np.uint64(1) << np.uint64(63)


def _key_values(keys):
    """float64 values of order-preserving keys (``_radix_kernels._key``'s inverse)."""
    k = np.asarray(keys, np.uint64)
    return np.where(k & _TOP, k ^ _TOP, ~k).view(np.float64)


def _value_key(x):
    """Order-preserving key of a finite float64 (-0.0 as 0.0)."""
    b = np.array([0.0 if x == 0 else x], np.float64).view(np.uint64)[0]
    return int(b ^ _TOP) if not b & _TOP else int(~b & np.uint64(0xFFFFFFFFFFFFFFFF))


class _Columns:
    """A snapshot of fixed-bin state squeezed to the bins that hold data: per column j the
    (pos, neg, bins) that ``_Curves._column`` gives, in decreasing score order (float64 mass;
    ``dtype`` is the state's). What the per-class read-outs take instead of a copy of the
    whole table."""

    def __init__(self, table, nthreads):
        k = table.shape[0]
        counts = np.zeros(k, np.int64)
        parts = min(nthreads, k)

        def run(kernel, *out):
            def chunk(a, b, slot):
                kernel(table, (a * k // parts, b * k // parts), *out)
            run_chunks(chunk, parts, nthreads, 1)

        run(CK.present_count, counts)
        off = np.zeros(k + 1, np.int64)
        np.cumsum(counts, out=off[1:])
        bins = np.empty(off[-1], np.int64)
        pos, neg = np.empty(off[-1]), np.empty(off[-1])
        run(CK.present_bins, (off, bins, pos, neg))
        self.cols = [(pos[a:b], neg[a:b], bins[a:b]) for a, b in zip(off[:-1], off[1:])]
        self.dtype = table.dtype

    def all_zero(self):
        return self.dtype == np.float64 and not any(c[0].any() or c[1].any() for c in self.cols)


class _Intervals:
    """A snapshot of adaptive certified state: per column the intervals' lower and upper keys
    (increasing) and their mass (k, cells). ``table[j]`` is column j's mass, as for the
    dense tables."""

    def __init__(self, lo, hi, mass):
        self.lo, self.hi, self.mass = lo, hi, mass

    def __getitem__(self, j):
        return self.mass[j]

    def __len__(self):
        return len(self.mass)

    def points(self) -> bool:
        """Every interval is one score value: nothing is tied that scikit-learn would not tie."""
        return all(bool(np.all(a == b)) for a, b in zip(self.lo, self.hi))

    def __eq__(self, other):
        return isinstance(other, _Intervals) and len(self) == len(other) and all(
            np.array_equal(a, b) for x, y in ((self.lo, other.lo), (self.hi, other.hi),
                                              (self.mass, other.mass)) for a, b in zip(x, y))

    __hash__ = None


class _Ties(NamedTuple):
    """What a read-out knows of the bins' score values: ``exact``, every bin holds one value
    (read-outs are scikit-learn's); else ``points``, the fixed bins (b0, b1) that can hold
    one value of the scores' dtype only (None: none; adaptive intervals with equal ends are
    such points too). A point bin's samples are tied in scikit-learn's curve as well: the
    bounds take it as it is (``ranking``'s ``points``), so saturated scores (many exactly
    1.0, or 1 - 2^-24) cost no width."""
    exact: bool
    points: tuple | None = None


def _union(lo_a, hi_a, m_a, lo_b, hi_b, m_b):
    """Union of two interval lists (overlapping intervals joined, masses added)."""
    cells = m_a.shape[1]
    n = len(lo_a) + len(lo_b)
    olo, ohi = np.empty(n, np.uint64), np.empty(n, np.uint64)
    om = np.empty(n * cells)
    k = CK.union_intervals((lo_a, hi_a, np.ascontiguousarray(m_a).reshape(-1)),
                           (lo_b, hi_b, np.ascontiguousarray(m_b).reshape(-1)),
                           (olo, ohi, om), (len(lo_a), len(lo_b), cells))
    return olo[:k], ohi[:k], om[:k * cells].reshape(k, cells)
_EMPTY_F = np.zeros((0, 0), dtype=np.float64)
_EMPTY_I = np.zeros((0, 0), dtype=np.int64)
_NO_W = np.zeros(0, dtype=np.float64)
_NO_I3 = np.zeros((0, 0, 0), dtype=np.int64)
_NO_F3 = np.zeros((0, 0, 0), dtype=np.float64)
# a binary batch of at least this many rows is counted by threads, each into a table of its
# own (kept zero between batches, added into the state after): below it, one thread counts
# straight into the state, as adding a table costs about as much as counting 2^20 scores
PAR_ROWS = 1 << 20
PAR_SCORES = 1 << 16  # scores of a batch from which its columns are counted by threads
_NO_C = np.zeros((0, 0), dtype=np.uint8)


def _host(x, name):
    if I.is_device_tensor(x):
        raise ValueError(f"{name} is a tensor on {x.device}: the score curves count host "
                         f"arrays; pass {name}.cpu()")
    return x


def _scores_of(y_score):
    """(numpy view the kernels read, score mode, dtype thresholds are given in)."""
    _host(y_score, "y_score")
    if I._module(y_score).startswith("torch") and str(y_score.dtype) == "torch.bfloat16":
        import torch  # the tensor exists, so torch does

        raw = y_score.detach()
        return raw.contiguous().view(torch.int16).numpy().view(np.uint16), CK.S_BF16, \
            np.dtype(np.float32)
    s = I.as_array(y_score, "y_score")
    k = s.dtype.kind
    if k not in "biuf":
        raise TypeError(f"y_score must be numeric, got dtype {s.dtype}")
    if not s.dtype.isnative:
        s = s.astype(s.dtype.newbyteorder("="))
    if s.dtype == np.float16:
        return s.view(np.uint16), CK.S_F16, s.dtype
    # few kernel specialisations (each compiles once): int32 for the small integers,
    # float32 / float64 for the rest
    if k == "b" or (k in "iu" and s.dtype.itemsize <= 2):
        return s.astype(np.int32), CK.S_INT, s.dtype
    if s.dtype == np.float32:
        return s.view(np.uint32), CK.S_CERT32, s.dtype
    if s.dtype == np.float64:
        return s.view(np.uint64), CK.S_CERT64, s.dtype
    return s.astype(np.float64).view(np.uint64), CK.S_CERT64, s.dtype


def _values(s, mode):
    """The scores as float64, from what the kernels read."""
    if mode == CK.S_F16:
        return s.view(np.float16).astype(np.float64)
    if mode == CK.S_BF16:
        return (s.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    if mode == CK.S_CERT32:
        return s.view(np.float32).astype(np.float64)
    if mode == CK.S_CERT64:
        return s.view(np.float64)
    return s.astype(np.float64)


def _truth_view(t):
    """Truth in one of the dtypes the kernels are compiled for: uint8, int64, float64."""
    if t.dtype.kind == "b":
        return t.view(np.uint8)
    if t.dtype == np.uint8 or t.dtype == np.int64 or t.dtype == np.float64:
        return t
    return t.astype(np.float64 if t.dtype.kind == "f" else np.int64)


def _float16_of_keys(keys):
    keys = np.asarray(keys, np.int64)
    bits = np.where(keys >= 0x8000, keys - 0x8000, 0x8000 | (0x7FFF - keys)).astype(np.uint16)
    return bits


def _ordered_to_float(k, dtype):
    """Floats from their order-preserving signed integer keys (inverse of _float_to_ordered)."""
    if dtype == np.float32:
        k = k.astype(np.int32)
        bits = np.where(k >= 0, k, k ^ np.int32(0x7FFFFFFF))
        return bits.view(np.float32)
    bits = np.where(k >= 0, k, k ^ np.int64(0x7FFFFFFFFFFFFFFF))
    return bits.view(np.float64)


def _lower_edges(bins, m, dtype):
    """The smallest value of ``dtype`` in each certified bin (so ``score >= edge`` is exactly
    'in this bin or above'), by bisection over the order-preserving keys of ``dtype``."""
    dtype = np.dtype(np.float32 if dtype == np.float32 else np.float64)
    finfo = np.finfo(dtype)
    top = np.array([finfo.max], dtype).view(np.int32 if dtype == np.float32 else np.int64)[0]
    it = np.int32 if dtype == np.float32 else np.int64
    lo = np.full(len(bins), -np.int64(top), dtype=np.int64)  # key of -max
    hi = np.full(len(bins), np.int64(top), dtype=np.int64)
    bins = np.asarray(bins, np.int64)
    # invariant: bin(value(hi)) >= b; find the smallest such key
    for _ in range(66):
        if not (lo < hi).any():
            break
        mid = (lo >> 1) + (hi >> 1) + (lo & hi & 1)  # no overflow
        vals = _ordered_to_float(mid.astype(it), dtype).astype(np.float64)
        ge = CK.bins_of(vals, m, CK.E_RANGE) >= bins
        hi = np.where(ge, mid, hi)
        lo = np.where(ge, lo, mid + 1)
    out = _ordered_to_float(hi.astype(it), dtype)
    return np.where(out == 0, np.zeros((), dtype), out).astype(dtype)  # -0.0 -> 0.0


def _resolution_of(settings):
    if settings.get("resolution", "fixed") == "fixed":
        return {}
    return {"resolution": settings["resolution"], "intervals": settings.get("intervals")}


class _Curves:
    """Shared machinery: state, lock, merging, state I/O, binary read-outs per column."""

    _kind = ""
    _buffer = BUFFER  # adaptive: keys buffered per column (tests set a small one)

    def _init_common(self):
        self._lock = threading.RLock()

    def _setup(self, k, cells, bits, resolution="fixed", intervals=None):
        if resolution not in ("fixed", "adaptive"):
            raise ValueError(f"resolution must be 'fixed' or 'adaptive', got {resolution!r}")
        if intervals is not None and (resolution != "adaptive" or isinstance(intervals, bool)
                                      or not isinstance(intervals, (int, np.integer))
                                      or not 64 <= intervals <= 1 << 26):
            raise ValueError(f"intervals (resolution='adaptive' only) must be an int in "
                             f"64..{1 << 26}, got {intervals!r}")
        if bits is not None and resolution == "adaptive":
            raise ValueError("bits sets the fixed bins; resolution='adaptive' takes "
                             "intervals= instead")
        self.resolution = resolution
        self.intervals = (int(intervals) if intervals is not None else DEFAULT_INTERVALS) \
            if resolution == "adaptive" else None
        if bits is not None and (isinstance(bits, bool) or not isinstance(bits, (int, np.integer))
                                 or not 1 <= bits <= 20):
            raise ValueError(f"bits must be an int in 1..20 (bins per binade = 2**bits), "
                             f"got {bits!r}")
        self._k = k
        self._cells = cells
        self.bits = int(bits) if bits is not None else DEFAULT_BITS
        self._init_common()
        self._reset_state()

    def _reset_state(self):
        self._iv = None  # adaptive: per column [lo, hi, mass (flat), count, tau]
        self._bk = self._bc = self._bw = None  # adaptive: the key buffer
        self._narrow = True
        self._fill = 0
        self._scratch = None
        self._slots = None  # fixed bins: the threads' tables of a long binary batch
        self._mode = None
        self._dtype = None
        self._weighted = False
        self._table = None
        self._not_prob = False  # some multi-class row did not sum to 1 (roc_auc refuses)
        # multi-class: bit i set once class i appeared in y_true (zero-weight samples too), as
        # scikit-learn's average_precision_score asks which classes y_true holds
        self._seen = 0

    def reset(self):
        """Forget all data (the score mode too)."""
        with self._lock:
            self._reset_state()
        return self

    # -- state ---------------------------------------------------------------------------
    @property
    def exact(self) -> bool:
        """True when every bin holds one score value: read-outs equal scikit-learn's."""
        if self._mode == CK.S_ADAPT:
            return self._snapshot()[0].points()
        return self._mode != CK.S_CERT

    def _exact_of(self, mode, table):
        if mode == CK.S_ADAPT:
            return table.points()
        return mode != CK.S_CERT

    def _ties_of(self, mode, dtype, table):
        """``_Ties`` of a snapshot (its mode, the scores' dtype): fixed bins near 1 that hold
        one float32 (or float64) value at most (``CK.point_bins``)."""
        exact = self._exact_of(mode, table)
        points = None
        if not exact and mode == CK.S_CERT and dtype is not None:
            precision = {np.dtype(np.float32): 24, np.dtype(np.float64): 53}.get(
                np.dtype(dtype))
            if precision is not None:
                points = CK.point_bins(self.bits, precision)
        return _Ties(exact, points)

    def _points(self, table, j, bins, ties):
        """Which of column ``j``'s present ``bins`` (as ``_column`` gives them) hold one score
        value, or None when none is known to."""
        if isinstance(table, _Intervals):
            lo = table.lo[j]
            idx = np.searchsorted(lo, bins)
            return table.hi[j][idx] == bins
        if ties.points is None:
            return None
        b = np.asarray(bins)
        return (b >= ties.points[0]) & (b <= ties.points[1])

    @property
    def weighted(self) -> bool:
        return self._weighted

    @property
    def num_bins(self) -> int:
        """Bins per score column (0 before the first batch fixes the score mode)."""
        if self._mode == CK.S_ADAPT:
            return self.intervals
        return 0 if self._mode is None else CK.num_bins(self._mode, self.bits)

    @property
    def nbytes(self) -> int:
        """Memory of the state (adaptive: the intervals' arrays and the key buffer; the
        flushes' scratch, shared by the columns, is not counted)."""
        if self._mode == CK.S_ADAPT:
            with self._lock:
                n = sum(a.nbytes for iv in self._iv for a in iv[:3])
                return n + sum(0 if a is None else a.nbytes for a in (self._bk, self._bc,
                                                                      self._bw))
        t = self._table
        return 0 if t is None else t.nbytes

    def _table_shape(self, mode):
        return (self._k, CK.num_bins(mode, self.bits), self._cells)

    def _count_fixed(self, modes, t, s, w, weighted, *, kind, ncls, message):
        """Check a batch, then count it into the fixed bins (``_curve_kernels.count``).

        ``modes``: (layout, dtype, raw score mode). ``t``: (n, 1) class ids (``ncls`` classes; kind 0 one-vs-rest or binary, kind 1
        one-vs-one) or (n, K) 0/1 truth (kind 2, ``ncls`` 0); ``s``: (n, K) raw scores,
        C-contiguous. Threads share the rows of the check and, under the lock, the columns
        of the count; a long unweighted binary batch (one column) goes to ``_count_rows``.
        ``message(position, where)`` words a refusal."""
        mode, dtype, rmode = modes
        n, k = s.shape
        nthreads = get_num_threads()
        if k == 1 and not weighted and n >= PAR_ROWS and nthreads > 1:
            return self._count_rows(modes, t, s, nthreads, message)
        check = (rmode, weighted, ncls)
        multiclass = kind < 2 and k > 1
        present = np.zeros((nthreads, ncls if multiclass else 0), np.bool_)
        values = None
        if multiclass:
            values = (s.view(np.float32) if rmode == CK.S_CERT32 else
                      s.view(np.float64) if rmode == CK.S_CERT64 else _values(s, rmode))
        probs = [True] * nthreads

        def run_check(i0, i1, slot):
            if not CK.check(t, s, w, check, (i0, i1)):
                return True
            if multiclass:
                probs[slot] &= CK.class_rows(t, values, present[slot], (i0, i1))
            return None

        if run_chunks(run_check, n, nthreads, _grain(s.strides[0] + t.strides[0])):
            raise ValueError(message(*CK.first_bad(t, s, w, check)[::2]))
        seen = sum(1 << int(i) for i in np.nonzero(present.any(axis=0))[0])

        def add(state):
            wt = state.dtype == np.float64
            ww = w if weighted else (np.ones(n) if wt else w)
            rule = (rmode, self.bits, CK.E_RANGE, wt, kind)
            tabs = (_NO_I3, state) if wt else (state, _NO_F3)
            # threads own whole columns (sums keep the input's order); a small batch is not
            # worth handing to a second thread
            parts = min(nthreads, k) if n * k >= PAR_SCORES else 1

            def run(a, b, slot):
                CK.count(t, s, ww, tabs, rule, (0, n, a * k // parts, b * k // parts))

            run_chunks(run, parts, nthreads, 1)

        self._commit(mode, dtype, None, weighted, not_prob=multiclass and not all(probs),
                     add=add, seen=seen)

    def _count_rows(self, modes, t, s, nthreads, message):
        """A long unweighted binary batch: threads count chunks of rows, each into a table
        of its own (checking as they go), added into the state when all of it was good."""
        mode, dtype, rmode = modes
        n = s.shape[0]
        rule = (rmode, self.bits, CK.E_RANGE, False, 0)
        with self._lock:
            self._check_mode(mode, dtype)
            tables = self._slot_tables(nthreads, self._table_shape(mode),
                                       np.uint32 if n < 1 << 32 else np.int64)
            spans = [[tables[0].shape[1], -1] for _ in tables]

            def run(i0, i1, slot):
                ok, lo, hi = CK.count(t, s, _NO_W, (tables[slot], _NO_F3), rule, (i0, i1, 0, 1))
                spans[slot][0] = min(spans[slot][0], lo)
                spans[slot][1] = max(spans[slot][1], hi)
                return None if ok else True

            bad = run_chunks(run, n, nthreads, _grain(s.strides[0] + t.strides[0]))

            def add(state):
                for table, (lo, hi) in zip(tables, spans):
                    if hi >= lo:
                        CK.drain(table, state, lo, hi, True)

            if not bad:
                self._commit(mode, dtype, None, False, add=add)
                return
            for table, (lo, hi) in zip(tables, spans):  # the tables zero again, the state
                if hi >= lo:                            # as it was
                    CK.drain(table, table, lo, hi, False)
        raise ValueError(message(*CK.first_bad(t, s, _NO_W, (rmode, False, 2))[::2]))

    def _slot_tables(self, nthreads, shape, dtype):
        """Zeroed tables of the state's shape, one per thread (under the lock; they are left
        zero after each batch). uint32 counts where a batch cannot pass them: half the
        memory, so that a table of the default bins stays in a 2 MiB L2 cache."""
        s = self._slots
        if s is None or len(s) < nthreads or s[0].shape != shape or s[0].dtype != dtype:
            self._slots = [np.zeros(shape, dtype) for _ in range(nthreads)]
        return self._slots[:nthreads]

    def _commit(self, mode, dtype, table, weighted, *, lo=0, hi=None, not_prob=False, add=None,
                seen=0):
        """Add a batch's table (or run ``add(state_table)``) under the lock; the mode is
        checked again there: threads race for it."""
        with self._lock:
            self._check_mode(mode, dtype)
            if self._mode is None:
                self._mode = mode
                self._table = np.zeros(self._table_shape(mode),
                                       np.float64 if weighted else np.int64)
            if weighted and not self._weighted:
                self._to_weighted()
            if add is not None:
                add(self._table)
            else:
                hi = table.shape[1] - 1 if hi is None else hi
                if hi >= lo:
                    self._table[:, lo:hi + 1] += table[:, lo:hi + 1]
            self._dtype = dtype if self._dtype is None else np.result_type(self._dtype, dtype)
            self._not_prob |= not_prob
            self._seen |= seen

    def _to_weighted(self):
        self._weighted = True
        if self._table is not None:
            self._table = self._table.astype(np.float64)

    def _check_mode(self, mode, dtype):
        if self._mode is not None and mode != self._mode:
            raise ValueError(
                f"y_score of dtype {np.dtype(dtype).name} ({_MODE_NAMES[mode]} bins) cannot "
                f"join scores counted in {_MODE_NAMES[self._mode]} bins (dtype "
                f"{np.dtype(self._dtype).name}); keep one score dtype per accumulator")

    def _layout(self, rmode):
        """The layout a raw score mode counts in."""
        if rmode in (CK.S_CERT32, CK.S_CERT64):
            return CK.S_ADAPT if self.resolution == "adaptive" else CK.S_CERT
        return rmode

    # -- adaptive certified intervals ------------------------------------------------------
    def _alloc_adaptive(self):
        cap, cells = self.intervals, self._cells
        # index cap of each array is the merge's sentinel
        self._iv = [[np.empty(cap + 1, np.uint64), np.empty(cap + 1, np.uint64),
                     np.empty((cap + 1) * cells), 0, 0.0] for _ in range(self._k)]
        self._bk = np.empty((self._k, self._buffer), np.uint64)
        self._bc = None  # cells of float64 keys (float32 keys carry theirs)
        self._narrow = True
        self._fill = 0

    def _scratch_arrays(self):
        if self._scratch is None:
            s, m = self._buffer, self.intervals + self._buffer
            self._scratch = (np.empty(s, np.uint64), np.empty(s, np.uint64),
                             np.empty(s, np.int64), np.empty(s, np.int64),
                             np.empty(s + 1, np.uint64), np.empty((s + 1) * self._cells),
                             np.empty(m, np.uint64), np.empty(m, np.uint64),
                             np.empty(m * self._cells))
        return self._scratch

    def _flush(self):
        """Merge the key buffer into the intervals (under the lock)."""
        n = self._fill
        if n == 0 or self._iv is None:
            return
        cells = self._cells
        cb = max(1, (cells - 1).bit_length())
        has_w = self._bw is not None
        wts = self._bw if has_w else _NO_W
        wa, wb, pa, pb, dk, dm, olo, ohi, om = self._scratch_arrays()
        cap = self.intervals
        bc = self._bc if self._bc is not None else _NO_C
        for j, iv in enumerate(self._iv):
            iv[3], iv[4] = CK.flush_column(
                (self._bk, bc, wts), (iv[0], iv[1], iv[2]),
                (wa, wb, pa, pb, dk, dm, olo, ohi, om),
                (has_w, n, j, self._narrow, cells, cb, iv[3], cap, cap * 7 // 8, iv[4], CK.LAM))
        self._fill = 0

    def _set_narrow(self, narrow):
        """float32 keys (narrow) and float64 keys wait in differently laid out buffers."""
        if narrow == self._narrow:
            return
        self._flush()
        self._narrow = narrow
        if not narrow and self._bc is None:
            self._bc = np.empty((self._k, self._buffer), np.uint8)

    def _adaptive_add(self, kind, batch, modes, *, not_prob=False, seen=0):
        """Validate a batch ``(t, s, n, w, weighted)`` (``modes``: raw score mode, dtype) and
        add its keys (all or nothing). Returns None, or the kernel's (position, code, where)
        of the first bad value (nothing counted)."""
        t, s, n, w, weighted = batch
        rmode, dtype = modes
        narrow = rmode == CK.S_CERT32
        cb = max(1, (self._cells - 1).bit_length())
        tf = np.ascontiguousarray(t).reshape(-1)
        sf = np.ascontiguousarray(s).reshape(-1)
        ncols = self._k
        tw = ncols if kind == 3 else 1  # truth values per row
        with self._lock:
            self._check_mode(CK.S_ADAPT, dtype)
            if self._mode is None:
                self._alloc_adaptive()
            self._set_narrow(narrow)
            bc = self._bc if self._bc is not None else _NO_C
            if weighted and self._bw is None:
                self._bw = np.ones(self._buffer)  # rows buffered so far weigh 1
            hw = self._bw is not None
            wu = w if weighted else (np.ones(n) if hw else _NO_W)
            bw = self._bw if hw else _NO_W
            free = self._buffer - self._fill
            if n <= free:
                r = CK.fill_keys((tf, sf, wu), (hw, narrow, kind, ncols, cb),
                                 (self._bk, bc, bw), (n, self._fill, False))
                if r[0] >= 0:
                    if self._mode is None:
                        self._reset_state()
                    return r
                self._fill += n
            else:
                r = CK.fill_keys((tf, sf, wu), (hw, narrow, kind, ncols, cb),
                                 (self._bk, bc, bw), (n, 0, True))
                if r[0] >= 0:
                    if self._mode is None:
                        self._reset_state()
                    return r
                i = 0
                while i < n:
                    m = min(self._buffer - self._fill, n - i)
                    CK.fill_keys((tf[i * tw:(i + m) * tw], sf[i * ncols:(i + m) * ncols],
                                  wu[i:i + m] if hw else wu), (hw, narrow, kind, ncols, cb),
                                 (self._bk, bc, bw), (m, self._fill, False))
                    self._fill += m
                    i += m
                    if self._fill == self._buffer:
                        self._flush()
            self._mode = CK.S_ADAPT
            if weighted:
                self._weighted = True
            self._dtype = dtype if self._dtype is None else np.result_type(self._dtype, dtype)
            self._not_prob |= not_prob
            self._seen |= seen() if callable(seen) else seen
        return None

    def _adaptive_snapshot(self):
        self._flush()
        c = self._cells
        return _Intervals([iv[0][:iv[3]].copy() for iv in self._iv],
                          [iv[1][:iv[3]].copy() for iv in self._iv],
                          [iv[2][:iv[3] * c].reshape(iv[3], c).copy() for iv in self._iv])

    def _adaptive_merge(self, ivs, taus=None):
        """Add another state's intervals (union per column, coarsened past the capacity);
        under the lock, the mode already set."""
        self._flush()
        cap, c = self.intervals, self._cells
        for j, iv in enumerate(self._iv):
            k = iv[3]
            lo, hi, m = _union(iv[0][:k], iv[1][:k], iv[2][:k * c].reshape(k, c),
                               ivs.lo[j], ivs.hi[j], ivs.mass[j])
            tau = max(iv[4], 0.0 if taus is None else taus[j])
            iv[3], iv[4] = CK.coarsen((lo, hi, np.ascontiguousarray(m).reshape(-1)),
                                      (iv[0], iv[1], iv[2]),
                                      (len(lo), c, cap, cap * 7 // 8, tau, CK.LAM))

    def _snapshot(self, squeezed=False):
        """(table, mode, dtype, weighted, not_prob) as of now. ``squeezed``: fixed bins of
        one-vs-rest columns come as ``_Columns`` (the bins that hold data), not a copy."""
        with self._lock:
            if self._mode == CK.S_ADAPT:
                return (self._adaptive_snapshot(), self._mode, self._dtype, self._weighted,
                        self._not_prob)
            if self._table is None:
                t = None
            elif squeezed and self._cells == 2:
                t = _Columns(self._table, get_num_threads())
            else:
                t = self._table.copy()
            return t, self._mode, self._dtype, self._weighted, self._not_prob

    # -- merging, copying, pickling --------------------------------------------------------
    def _settings(self):
        return (self._k, self._cells, self.bits, self.resolution, self.intervals)

    def copy(self):
        with self._lock:
            new = self.__class__.__new__(self.__class__)
            new.__setstate__(self.__getstate__())
        return new

    def __getstate__(self):
        with self._lock:
            if self._mode == CK.S_ADAPT:  # the buffer merged in, the intervals trimmed
                ivs = self._adaptive_snapshot()
                d = {k: v for k, v in self.__dict__.items()
                     if k not in ("_lock", "_iv", "_bk", "_bc", "_bw", "_scratch", "_slots")}
                d["_ivs"] = (ivs.lo, ivs.hi, ivs.mass, [iv[4] for iv in self._iv])
                return (ADAPTIVE_VERSION, d)
            d = {k: v for k, v in self.__dict__.items()
                 if k not in ("_lock", "_scratch", "_slots")}
            d["_table"] = None if self._table is None else self._table.copy()
            return (FORMAT_VERSION, d)

    def __setstate__(self, state):
        version, data = state
        if version not in (FORMAT_VERSION, ADAPTIVE_VERSION):
            raise ValueError(f"unknown pickle format version {version!r}")
        data = dict(data)
        ivs = data.pop("_ivs", None)
        data.setdefault("resolution", "fixed")  # pickles of format 1 had fixed bins only
        data.setdefault("intervals", None)
        self.__dict__.update(data)
        self._iv = None
        self._bk = self._bc = self._bw = None
        self._fill = 0
        self._scratch = None
        self._slots = None
        self._init_common()
        if version == ADAPTIVE_VERSION:
            self._alloc_adaptive()
            if self._weighted:
                self._bw = np.ones(self._buffer)
            self._adaptive_merge(_Intervals(*ivs[:3]), ivs[3])

    def __add__(self, other):
        if isinstance(other, (int, float)) and other == 0:
            return self.copy()
        if not isinstance(other, type(self)):
            return NotImplemented
        return self.copy().__iadd__(other)

    def __radd__(self, other):
        if isinstance(other, (int, float)) and other == 0:
            return self.copy()
        return NotImplemented

    def __iadd__(self, other):
        if not isinstance(other, type(self)):
            return NotImplemented
        if self._settings() != other._settings() or self._extra() != other._extra():
            raise ValueError(
                f"Cannot add score curves with different settings: {self!r} and {other!r}")
        with other._lock:
            table, mode, dtype, weighted, not_prob = other._snapshot()
            seen = other._seen
            taus = None if mode != CK.S_ADAPT else [iv[4] for iv in other._iv]
        if mode is None:
            return self
        if mode == CK.S_ADAPT:
            self._commit_intervals(dtype, table, weighted, not_prob, seen, taus)
            return self
        self._commit(mode, dtype, table, weighted, not_prob=not_prob, seen=seen)
        return self

    def _commit_intervals(self, dtype, ivs, weighted, not_prob, seen, taus=None):
        with self._lock:
            self._check_mode(CK.S_ADAPT, dtype)
            if self._mode is None:
                self._alloc_adaptive()
                self._mode = CK.S_ADAPT
            if weighted:
                self._weighted = True
                if self._bw is None:
                    self._bw = np.ones(self._buffer)
            self._adaptive_merge(ivs, taus)
            self._dtype = dtype if self._dtype is None else np.result_type(self._dtype, dtype)
            self._not_prob |= not_prob
            self._seen |= seen

    def __eq__(self, other):
        if not isinstance(other, type(self)):
            return NotImplemented
        a, b = self._snapshot(), other._snapshot()
        if isinstance(a[0], _Intervals) or isinstance(b[0], _Intervals):
            return (self._settings() == other._settings() and a[1:] == b[1:]
                    and self._seen == other._seen and a[0] == b[0])
        return (self._settings() == other._settings() and a[1:] == b[1:]
                and self._seen == other._seen and ((a[0] is None and b[0] is None)
                     or (a[0] is not None and b[0] is not None and np.array_equal(a[0], b[0]))))

    __hash__ = None

    def _extra(self):
        return ()

    def to_dict(self) -> dict:
        """JSON-safe state (sparse: only non-empty bins); ``from_dict`` reads it back."""
        with self._lock:
            table, mode, dtype, weighted, not_prob = self._snapshot()
            taus = None if mode != CK.S_ADAPT else [float(iv[4]) for iv in self._iv]
        adaptive = self.resolution == "adaptive"
        d = {"version": ADAPTIVE_VERSION if adaptive else FORMAT_VERSION, "kind": self._kind,
             "settings": self._settings_dict(),
             "mode": mode, "dtype": None if dtype is None else np.dtype(dtype).str,
             "weighted": weighted, "not_prob": not_prob, "bins": None}
        if adaptive:
            settings = d["settings"]
            settings.pop("bits", None)
            settings["resolution"], settings["intervals"] = "adaptive", self.intervals
        if mode == CK.S_ADAPT:
            d["bins"] = None
            d["intervals"] = {
                "column": [j for j in range(len(table)) for _ in range(len(table.lo[j]))],
                "lo": [int(x) for a in table.lo for x in a],
                "hi": [int(x) for a in table.hi for x in a],
                "values": [r for m in table.mass for r in m.tolist()],
                "tau": taus}
        elif table is not None:
            nz = np.nonzero(table.any(axis=2))
            d["bins"] = {"column": nz[0].tolist(), "bin": nz[1].tolist(),
                         "values": table[nz].tolist()}
        if self._tracks_seen():
            d["seen"] = [i for i in range(self.num_classes) if self._seen >> i & 1]
        return d

    def _intervals_from_dict(self, d, dtype, weighted):
        iv = d.get("intervals")
        k, c = self._k, self._cells
        try:
            col = np.asarray(iv["column"], dtype=np.int64).reshape(-1)
            lo = np.asarray([int(x) for x in iv["lo"]], dtype=np.uint64)
            hi = np.asarray([int(x) for x in iv["hi"]], dtype=np.uint64)
            vals = np.asarray(iv["values"], dtype=np.float64).reshape(len(col), c)
            taus = iv.get("tau")
            taus = [0.0] * k if taus is None else [float(x) for x in taus]
        except (KeyError, TypeError, ValueError, OverflowError, AttributeError):
            raise ValueError("state: 'intervals' must hold 'column', 'lo', 'hi' and 'values' "
                             "lists of matching lengths (keys in 0..2^64-1)") from None
        if len(lo) != len(col) or len(hi) != len(col) or len(taus) != k:
            raise ValueError("state: 'intervals' lists differ in length")
        if (col < 0).any() or (col >= k).any() or (np.diff(col) < 0).any():
            raise ValueError(f"state: 'intervals' columns must be sorted in 0..{k - 1}")
        if not np.isfinite(vals).all() or (vals < 0).any():
            raise ValueError("state: 'intervals' values must be finite and non-negative")
        if not weighted and (vals != np.floor(vals)).any():
            raise ValueError("state: unweighted 'intervals' values must be integers")
        if not np.isfinite(_key_values(lo)).all() or not np.isfinite(_key_values(hi)).all():
            raise ValueError("state: an interval key is not the key of a finite score")
        los, his, ms = [], [], []
        for j in range(k):
            sel = col == j
            a, b = lo[sel], hi[sel]
            if (a > b).any() or (b[:-1] >= a[1:]).any():
                raise ValueError(f"state: the intervals of column {j} are not increasing and "
                                 f"disjoint")
            if len(a) > self.intervals:
                raise ValueError(f"state: column {j} has {len(a)} intervals, more than "
                                 f"intervals={self.intervals}")
            los.append(a)
            his.append(b)
            ms.append(vals[sel])
        seen = self._seen_of_dict(d, lambda: [  # states without "seen": classes with mass
            i for i in range(self.num_classes)
            if (ms[0][:, i].sum() if self.ovo else ms[i][:, 1].sum()) > 0])
        self._commit_intervals(dtype, _Intervals(los, his, ms), weighted,
                               bool(d.get("not_prob", False)), seen, taus)
        return self

    def _seen_of_dict(self, d, fallback):
        if not self._tracks_seen():
            return 0
        seen = d.get("seen")
        if seen is None:
            seen = fallback()
        if not isinstance(seen, list) or any(
                isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < self.num_classes
                for i in seen):
            raise ValueError(f"state: 'seen' must be a list of class indices in "
                             f"0..{self.num_classes - 1}")
        return sum(1 << i for i in set(seen))

    def _tracks_seen(self):
        return self._kind == "ScoreCurves" and not self._binary

    @classmethod
    def from_dict(cls, d: dict):
        if not isinstance(d, dict):
            raise TypeError(f"state must be a dict, got {type(d).__name__}")
        if d.get("version") not in (FORMAT_VERSION, ADAPTIVE_VERSION):
            raise ValueError(f"state: unknown format version {d.get('version')!r} "
                             f"(this confstream reads versions {FORMAT_VERSION} and "
                             f"{ADAPTIVE_VERSION})")
        if d.get("kind") != cls._kind:
            raise ValueError(f"state: kind {d.get('kind')!r} is not {cls._kind!r}")
        settings = d.get("settings")
        if not isinstance(settings, dict):
            raise ValueError("state: 'settings' must be a dict")
        try:
            acc = cls._from_settings(settings)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"state: bad settings: {exc}") from None
        mode = d.get("mode")
        if mode is None:
            if d.get("bins") is not None:
                raise ValueError("state: 'bins' given without a score mode")
            return acc
        if mode not in _MODE_NAMES:
            raise ValueError(f"state: unknown score mode {mode!r}")
        if (mode == CK.S_ADAPT) != (acc.resolution == "adaptive" and mode not in
                                    (CK.S_F16, CK.S_BF16, CK.S_INT)):
            raise ValueError(f"state: score mode {mode!r} does not go with resolution "
                             f"{acc.resolution!r}")
        try:
            dtype = np.dtype(d.get("dtype"))
        except TypeError:
            raise ValueError(f"state: bad dtype {d.get('dtype')!r}") from None
        weighted = d.get("weighted")
        if not isinstance(weighted, bool):
            raise ValueError("state: 'weighted' must be a bool")
        if mode == CK.S_ADAPT:
            return acc._intervals_from_dict(d, dtype, weighted)
        shape = acc._table_shape(mode)
        table = np.zeros(shape, np.float64 if weighted else np.int64)
        bins = d.get("bins")
        if not isinstance(bins, dict):
            raise ValueError("state: 'bins' must be a dict")
        try:
            col = np.asarray(bins["column"], dtype=np.int64).reshape(-1)
            b = np.asarray(bins["bin"], dtype=np.int64).reshape(-1)
            vals = np.asarray(bins["values"], dtype=np.float64).reshape(len(col), shape[2])
        except (KeyError, TypeError, ValueError):
            raise ValueError("state: 'bins' must hold 'column', 'bin' and 'values' lists of "
                             "matching lengths") from None
        if len(b) != len(col) or (col < 0).any() or (col >= shape[0]).any() \
                or (b < 0).any() or (b >= shape[1]).any():
            raise ValueError("state: 'bins' has an index outside the table "
                             f"{shape[0]} columns x {shape[1]} bins")
        if not np.isfinite(vals).all() or (vals < 0).any():
            raise ValueError("state: 'bins' values must be finite and non-negative")
        if not weighted and (vals != np.floor(vals)).any():
            raise ValueError("state: unweighted 'bins' values must be integers")
        table[col, b] = vals
        acc._mode, acc._dtype, acc._weighted = mode, dtype, weighted
        acc._table = table
        acc._not_prob = bool(d.get("not_prob", False))
        if acc._tracks_seen():
            seen = d.get("seen")
            if seen is None:  # states written before "seen": the classes with mass
                col = table[0] if acc.ovo else table[np.arange(shape[0]), :, 1]
                mass = col.sum(axis=0) if acc.ovo else col.sum(axis=1)
                seen = [i for i in range(acc.num_classes) if mass[i] > 0]
            if not isinstance(seen, list) or any(
                    isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < shape[0]
                    for i in seen):
                raise ValueError(f"state: 'seen' must be a list of class indices in "
                                 f"0..{acc.num_classes - 1}")
            acc._seen = sum(1 << i for i in set(seen))
        return acc

    # -- per-column binary problems --------------------------------------------------------
    def _require_data(self, table, weights=True):
        if table is None:
            raise ValueError("no samples seen: update() the curves before reading them")
        if weights:
            self._require_weights(table)

    def _require_weights(self, table):
        if isinstance(table, _Columns):
            if table.all_zero():
                raise ValueError("Sample weights must contain at least one non-zero number.")
            return
        parts = table.mass if isinstance(table, _Intervals) else [table]
        if parts and all(m.dtype == np.float64 and not m.any() for m in parts):
            # weighted, every weight zero: as scikit-learn words it
            raise ValueError("Sample weights must contain at least one non-zero number.")

    def _column(self, table, j, pos_cells=None, neg_cells=None):
        """(pos, neg, bins) of column j: present bins in decreasing score order."""
        if isinstance(table, _Columns):
            return table.cols[j]
        col = table[j]
        if pos_cells is None:
            pos, neg = col[:, 1], col[:, 0]
        else:
            pos = col[:, pos_cells].sum(axis=1) if len(pos_cells) > 1 else col[:, pos_cells[0]]
            neg = col[:, neg_cells].sum(axis=1)
        present = np.nonzero((pos + neg) > 0)[0][::-1]
        if isinstance(table, _Intervals):  # the intervals' lower keys stand for the bins
            return (pos[present].astype(np.float64), neg[present].astype(np.float64),
                    table.lo[j][present])
        return pos[present].astype(np.float64), neg[present].astype(np.float64), present

    def _thresholds(self, bins, mode, dtype):
        if mode == CK.S_ADAPT:  # the smallest score of each interval: a value of the data
            v = _key_values(bins)
            return v.astype(dtype) if np.dtype(dtype).kind == "f" else v
        if mode in (CK.S_F16, CK.S_BF16):
            bits = _float16_of_keys(bins)
            if mode == CK.S_F16:
                return bits.view(np.float16).astype(dtype)
            return (bits.astype(np.uint32) << 16).view(np.float32).astype(dtype)
        if mode == CK.S_INT:
            return (np.asarray(bins, np.int64) - 32768).astype(dtype)
        return _lower_edges(bins, self.bits, dtype)

    def _bounds_of(self, pos, neg, what, weighted, points, max_fpr=None):
        """(lo, hi) of one binary problem; ``points``: its bins that hold one score value."""
        if what == "roc":
            return R.roc_auc_bounds(pos, neg, max_fpr, points=points)
        return R.average_precision_bounds(pos, neg, weighted, points=points)

    def __repr__(self):
        mode = "empty" if self._mode is None else _MODE_NAMES[self._mode]
        if self.resolution == "adaptive":
            return (f"{type(self).__name__}({self._repr_args()}, bins={mode}, "
                    f"resolution='adaptive', intervals={self.intervals})")
        return f"{type(self).__name__}({self._repr_args()}, bins={mode}, bits={self.bits})"


class ScoreCurves(_Curves):
    """Streaming ROC / precision-recall curves, AUROC and average precision.

    Parameters
    ----------
    num_classes : int, optional
        None or 2: binary (truth 0/1, scores ``(N,)`` for the positive class or ``(N, 2)``);
        ``C > 2``: multi-class, truth in ``0 .. C-1``, scores ``(N, C)``.
    labels : list, optional
        The label values instead: ``[neg, pos]`` (binary) or the classes in column order.
    bits : int, default 10
        Certified scores (float32, float64, wider integers) get ``2**bits`` bins per binade:
        ``(198 * 2**bits + 5)`` bins per column (3.1 MiB per class at 10, for ``ovo`` times
        the number of classes). Each extra bit halves the bound's width and doubles memory.
    ovo : bool, default False
        Multi-class: also keep, per column, the histogram of every true class (memory x C/2)
        so that ``roc_auc(multi_class="ovo")`` can be read.
    resolution : {"fixed", "adaptive"}, default "fixed"
        How certified scores are kept. "fixed": the bins above. "adaptive": per column a
        sorted list of at most ``intervals`` disjoint score intervals, placed (by joining
        neighbours that add the least tied cross-class mass) where the classes overlap, plus
        a buffer of 2^17 keys: 4.0 MiB per class, about 8x narrower bounds than the default
        bins on probabilities, updates about 6x slower (docs/CURVES.md). ``exact`` is True
        while every interval is one score value. Scores of <= 16 bits stay exact either way.
    intervals : int, default 98,303
        resolution="adaptive": intervals per column (32 bytes each with two cells).

    Examples
    --------
    >>> import numpy as np
    >>> sc = ScoreCurves().update([0, 1, 1, 0], np.array([0.1, 0.4, 0.35, 0.8], np.float16))
    >>> sc.roc_auc(), sc.exact
    (0.5, True)
    """

    _kind = "ScoreCurves"

    def __init__(self, num_classes=None, *, labels=None, bits=None, ovo=False,
                 resolution="fixed", intervals=None):
        if num_classes is not None and labels is not None:
            raise ValueError("give num_classes or labels, not both")
        if labels is not None:
            labels = list(labels)
            if len(labels) < 2 or len(set(labels)) != len(labels):
                raise ValueError(f"labels must hold at least 2 distinct values, got {labels!r}")
            c = len(labels)
        elif num_classes is None:
            c = 2
        else:
            if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
                raise TypeError(f"num_classes must be an int, got {num_classes!r}")
            if num_classes < 2:
                raise ValueError(f"num_classes must be at least 2, got {num_classes}")
            c = int(num_classes)
        self.labels = labels if labels is not None else list(range(c))
        self._given_labels = labels is not None
        self.num_classes = c
        self.ovo = bool(ovo)
        if self.ovo and c == 2:
            raise ValueError("ovo needs a multi-class space (num_classes > 2)")
        binary = c == 2
        self._binary = binary
        self._setup(1 if binary else c, c if self.ovo else 2, bits, resolution, intervals)

    def _settings(self):
        return super()._settings() + (tuple(self.labels), self.ovo)

    def _relabelled(self, labels=None, *, swap=False):
        """A copy of these binary curves under ``labels = [neg, pos]`` (None: 0 / 1) with the
        same bins; ``swap``: this state's truth 0 is ``pos`` and 1 is ``neg``. The CLI counts
        truth as the order it first met the labels in and learns which one is positive only
        at the end of a file (the adaptive joins' cost is symmetric in the two cells, so the
        swapped state is the one counting with the labels known would have made)."""
        out = type(self)(labels=labels, bits=self.bits if self.resolution == "fixed" else None,
                         resolution=self.resolution, intervals=self.intervals)
        with self._lock:
            table, mode, dtype, weighted, not_prob = self._snapshot()
            taus = None if mode != CK.S_ADAPT else [iv[4] for iv in self._iv]
        if mode == CK.S_ADAPT:
            if swap:
                table = _Intervals(table.lo, table.hi, [m[:, ::-1].copy() for m in table.mass])
            out._commit_intervals(dtype, table, weighted, not_prob, 0, taus)
        elif mode is not None:
            out._commit(mode, dtype, table[..., ::-1].copy() if swap else table, weighted,
                        not_prob=not_prob)
        return out

    def _settings_dict(self):
        return {"labels": self.labels if self._given_labels else None,
                "num_classes": self.num_classes, "bits": self.bits, "ovo": self.ovo}

    @classmethod
    def _from_settings(cls, s):
        if s.get("labels") is not None:
            return cls(labels=s["labels"], bits=s.get("bits"), ovo=bool(s.get("ovo")),
                       **_resolution_of(s))
        return cls(num_classes=s.get("num_classes"), bits=s.get("bits"),
                   ovo=bool(s.get("ovo")), **_resolution_of(s))

    def _repr_args(self):
        if self._given_labels:
            return f"labels={self.labels!r}"
        return f"num_classes={self.num_classes}"

    # -- update ------------------------------------------------------------------------------
    def _truth_codes(self, t):
        """Truth as the kernel reads it: raw 0/1 / class ids, or indices of the labels."""
        if not self._given_labels:
            if t.dtype.kind not in "biuf":
                raise ValueError(f"y_true of dtype {t.dtype} is not in the label space "
                                 f"{I.show_labels(self.labels)}; give labels=")
            return _truth_view(t)
        codes = np.full(t.shape, -1, dtype=np.int64)
        for i, v in enumerate(self.labels):
            try:
                codes[t == v] = i
            except (TypeError, ValueError):
                pass
        return codes

    def update(self, y_true, y_score, sample_weight=None):
        """Count a batch. Returns self. All or nothing: a bad batch raises and counts nothing.

        torch tensors on a GPU are counted there (float16 / bfloat16 / small-integer scores:
        only the histogram comes to the host); other device scores are copied to the host."""
        if _devices.route(self, y_true, y_score, sample_weight):
            return self
        return self._update_host(y_true, y_score, sample_weight)

    def _update_host(self, y_true, y_score, sample_weight=None):
        t = I.as_array(_host(y_true, "y_true"), "y_true")
        s, rmode, dtype = _scores_of(y_score)
        mode = self._layout(rmode)
        if t.ndim == 2 and t.shape[1] == 1:
            t = t.reshape(-1)
        if t.ndim != 1:
            raise ValueError(f"y_true must be 1-D, got shape {t.shape}")
        n = t.shape[0]
        c = self.num_classes
        if self._binary:
            if s.ndim == 2 and s.shape[1] == 2:
                s = s[:, 1]
            elif s.ndim == 2 and s.shape[1] == 1:
                s = s.reshape(-1)
            if s.ndim != 1:
                raise ValueError(f"binary y_score must be (N,) or (N, 2), got shape {s.shape}")
        elif s.ndim != 2 or s.shape[1] != c:
            raise ValueError(f"y_score must be (N, {c}) for {c} classes, got shape {s.shape}")
        if s.shape[0] != n:
            raise ValueError(f"y_true has {n} samples but y_score has {s.shape[0]}")
        w = I.as_weights(sample_weight, n) if sample_weight is not None else _NO_W
        weighted = sample_weight is not None
        if n == 0:
            return self
        with self._lock:
            self._check_mode(mode, dtype)
        codes = self._truth_codes(t)
        s = np.ascontiguousarray(s)
        if mode == CK.S_ADAPT:
            if self._binary:
                r = self._adaptive_add(0, (codes, s, n, w, weighted), (rmode, dtype))
            else:
                not_prob = not np.allclose(1, _values(s, rmode).sum(axis=1))
                r = self._adaptive_add(
                    2 if self.ovo else 1, (codes, s, n, w, weighted), (rmode, dtype),
                    not_prob=not_prob,
                    seen=lambda: sum(1 << int(i) for i in np.nonzero(np.bincount(
                        codes.astype(np.int64, copy=False), minlength=c))[0]))
            if r is not None:
                raise ValueError(self._message(r[2], r[0], t, s, w, rmode))
            return self
        t2 = np.ascontiguousarray(codes).reshape(n, 1)  # the kernels read the truth flat
        s2 = s.reshape(n, -1)
        self._count_fixed((mode, dtype, rmode), t2, s2, w, weighted,
                          kind=0 if self._binary or not self.ovo else 1,
                          ncls=2 if self._binary else c,
                          message=lambda pos, where: self._message(where, pos, t, s, w, rmode))
        return self

    def _message(self, where, pos, t, s, w, mode):
        if where == 0:
            v = I.describe_value(t[pos])
            return (f"y_true[{pos}] = {v} is not in the label space "
                    f"{I.show_labels(self.labels)}")
        if where == 2:
            return (f"sample_weight[{pos}] = {I.describe_value(w[pos])} must be finite and "
                    f"non-negative")
        idx = I.position(s.shape, pos)
        raw = s.reshape(-1)[pos]
        if mode == CK.S_F16:
            raw = np.uint16(raw).view(np.float16)
        elif mode in (CK.S_CERT32, CK.S_CERT64):
            raw = raw.view(np.float32 if mode == CK.S_CERT32 else np.float64)
        elif mode == CK.S_BF16:
            raw = np.array([np.uint32(raw) << 16], np.uint32).view(np.float32)[0]
        return f"y_score{idx} = {I.describe_value(raw)} is not finite"

    # -- read-outs -----------------------------------------------------------------------------
    def _problem(self, table, j):
        """(pos, neg, bins) of class j against the rest."""
        if self._binary:
            return self._column(table, 0)
        if not self.ovo:
            return self._column(table, j)
        rest = [i for i in range(self.num_classes) if i != j]
        return self._column(table, j, [j], rest)

    def _of_class_index(self, of_class):
        if self._binary:
            if of_class is not None and of_class != self.labels[1]:
                raise ValueError(f"binary curves are of the positive class "
                                 f"{self.labels[1]!r}, got of_class={of_class!r}")
            return 0
        if of_class is None:
            raise ValueError("of_class is needed for a multi-class curve (one of "
                             f"{I.show_labels(self.labels)})")
        if of_class not in self.labels:
            raise ValueError(f"of_class={of_class!r} is not in {I.show_labels(self.labels)}")
        return self.labels.index(of_class)

    def roc_curve(self, of_class=None, drop_intermediate=True):
        """(fpr, tpr, thresholds) as ``sklearn.metrics.roc_curve`` (of one class vs the rest).

        Certified bins: the points are the bins' lower edges, each an exact operating point
        (``score >= threshold``); scikit-learn's curve has more points in between."""
        table, mode, dtype, weighted, _ = self._snapshot()
        self._require_data(table)
        pos, neg, bins = self._problem(table, self._of_class_index(of_class))
        return R.roc_curve(pos, neg, self._thresholds(bins, mode, dtype), weighted,
                           drop_intermediate)

    def precision_recall_curve(self, of_class=None, drop_intermediate=False):
        """(precision, recall, thresholds) as ``sklearn.metrics.precision_recall_curve``."""
        table, mode, dtype, weighted, _ = self._snapshot()
        self._require_data(table)
        pos, neg, bins = self._problem(table, self._of_class_index(of_class))
        return R.precision_recall_curve(pos, neg, self._thresholds(bins, mode, dtype),
                                        weighted, drop_intermediate)

    def _per_class(self, table, what, weighted, ties, max_fpr=None):
        vals, bounds, support = [], [], []
        for j in range(1 if self._binary else self.num_classes):
            pos, neg, bins = self._problem(table, j)
            if what == "roc":
                v = R.roc_auc(pos, neg, weighted, max_fpr)
            else:
                v = R.average_precision(pos, neg, weighted)
            b = (v, v) if ties.exact else self._bounds_of(
                pos, neg, what, weighted, self._points(table, j, bins, ties), max_fpr)
            vals.append(v)
            bounds.append(b)
            support.append(pos.sum())
        return np.array(vals), np.array(bounds, dtype=np.float64).reshape(-1, 2), \
            np.array(support)

    def per_class(self, warn=True) -> dict:
        """AUROC and average precision of each class against the rest, with their bounds.

        ``{label: {"auroc": v, "auroc bounds": (lo, hi), "ap": v, "ap bounds": (lo, hi),
        "support": positives}}``; binary curves give the positive class only. Each value is
        scikit-learn's ``roc_auc_score(y == label, score)`` / ``average_precision_score``
        of that one binary problem (exact scores; certified: the bounds contain it). A class
        without positives (or negatives) gets what scikit-learn gives: AUROC nan, AP 0.0
        when it has no positives, with scikit-learn's warnings (``warn=False``: none).
        This is what reports (``Report.with_curves``), Keras logs and the CLI show."""
        table, mode, dtype, weighted, _ = self._snapshot()
        self._require_data(table)
        ties = self._ties_of(mode, dtype, table)
        with warnings.catch_warnings():
            if not warn:
                warnings.simplefilter("ignore")
            out = {}
            labels = [self.labels[1]] if self._binary else self.labels
            for j, label in enumerate(labels):
                pos, neg, bins = self._problem(table, j)
                points = None if ties.exact else self._points(table, j, bins, ties)
                row = {}
                for what, key in (("roc", "auroc"), ("ap", "ap")):
                    v = (R.roc_auc(pos, neg, weighted) if what == "roc"
                         else R.average_precision(pos, neg, weighted))
                    b = (v, v) if ties.exact else self._bounds_of(pos, neg, what, weighted,
                                                                  points)
                    row[key], row[key + " bounds"] = float(v), (float(b[0]), float(b[1]))
                row["support"] = float(pos.sum()) if weighted else int(pos.sum())
                out[label] = row
        return out

    def _micro(self, table, what, weighted, ties, max_fpr=None):
        # micro = one binary problem over every (sample, class) cell: the columns' sum
        if isinstance(table, _Intervals):  # the union of the columns' intervals
            lo = hi = m = None
            for j in range(len(table)):
                mj = self._problem_table(table, j) if self.ovo else table[j]
                if lo is None:
                    lo, hi, m = table.lo[j], table.hi[j], mj
                else:
                    lo, hi, m = _union(lo, hi, m, table.lo[j], table.hi[j], mj)
            pos, neg = m[::-1, 1].copy(), m[::-1, 0].copy()
            keep = (pos + neg) > 0
            pos, neg = pos[keep], neg[keep]
            points = (lo == hi)[::-1][keep]
            if what == "roc":
                v = R.roc_auc(pos, neg, weighted, max_fpr)
            else:
                v = R.average_precision(pos, neg, weighted)
            exact = ties.exact and all(np.array_equal(a, b) for a, b in zip(table.lo, table.hi)) \
                and np.array_equal(lo, hi)
            return v, ((v, v) if exact else self._bounds_of(pos, neg, what, weighted, points,
                                                            max_fpr))
        if self.ovo:
            summed = np.stack([self._problem_table(table, j) for j in range(self.num_classes)])
        else:
            summed = table
        tot = summed.sum(axis=0)
        pos, neg = tot[:, 1], tot[:, 0]
        present = np.nonzero((pos + neg) > 0)[0][::-1]
        pos, neg = pos[present].astype(np.float64), neg[present].astype(np.float64)
        if what == "roc":
            v = R.roc_auc(pos, neg, weighted, max_fpr)
        else:
            v = R.average_precision(pos, neg, weighted)
        points = self._points(summed, None, present, ties)
        return v, ((v, v) if ties.exact else self._bounds_of(pos, neg, what, weighted, points,
                                                             max_fpr))

    def _problem_rows(self, table, j):
        """(k, 2) [neg, pos] rows of class j against the rest, in the column's bin order."""
        if self._binary:
            return table[0]
        if not self.ovo:
            return table[j]
        return self._problem_table(table, j)

    def _problem_table(self, table, j):
        col = table[j]
        pos = col[:, j]
        neg = col.sum(axis=1) - pos
        return np.stack([neg, pos], axis=1)

    def _read(self, what, average, multi_class="ovr", max_fpr=None):
        table, mode, dtype, weighted, not_prob = self._snapshot(
            squeezed=average != "micro" and multi_class == "ovr")
        # the weights are looked at after the classes, in scikit-learn's order
        self._require_data(table, weights=False)
        ties = self._ties_of(mode, dtype, table)
        if self._binary:
            self._require_weights(table)
            if what == "roc":
                R._check_max_fpr(max_fpr)
            v, b, _ = self._per_class(table, what, weighted, ties, max_fpr)
            return float(v[0]), (float(b[0, 0]), float(b[0, 1]))
        if what == "roc":
            self._require_weights(table)
            return self._read_multiclass_roc(table, weighted, ties, average=average,
                                             multi_class=multi_class, max_fpr=max_fpr,
                                             not_prob=not_prob)
        options = (None, "micro", "macro", "weighted")
        if average not in options:
            raise ValueError(f"average has to be one of {options}")
        with self._lock:
            seen = self._seen
        absent = [self.labels[i] for i in range(self.num_classes) if not seen >> i & 1]
        if absent:
            # scikit-learn binarizes y_true over the classes it holds: fewer than the score
            # columns, and average_precision_score refuses the data (a shape or pos_label
            # error, whatever the average); so do we, in words.
            raise ValueError(
                f"average precision of {self.num_classes} score columns needs every class in "
                f"y_true, but {I.show_labels(absent)} never appeared: scikit-learn's "
                f"average_precision_score binarizes y_true over the classes present and "
                f"refuses these scores too; per_class() gives each class's own value")
        self._require_weights(table)
        return self._average(table, "ap", weighted, ties, average)

    def _average(self, table, what, weighted, ties, average, max_fpr=None):
        if average == "micro":
            return self._micro(table, what, weighted, ties, max_fpr)
        v, b, support = self._per_class(table, what, weighted, ties, max_fpr)
        if average is None:
            return v, b
        wts = support if average == "weighted" else None
        if wts is not None:
            if np.isclose(np.sum(wts), 0):
                return 0, (0.0, 0.0)
            v = np.where(wts == 0, 0, v)
            b = np.where((wts == 0)[:, None], 0, b)
        avg = float(np.average(v, weights=wts))
        return avg, (float(np.average(b[:, 0], weights=wts)),
                     float(np.average(b[:, 1], weights=wts)))

    def _read_multiclass_roc(self, table, weighted, ties, *, average, multi_class, max_fpr,
                             not_prob):
        if max_fpr is not None and max_fpr != 1.0:
            raise ValueError("Partial AUC computation not available in multiclass setting, "
                             "'max_fpr' must be set to `None`, received `max_fpr={0}` "
                             "instead".format(max_fpr))
        if multi_class == "raise":
            raise ValueError("multi_class must be in ('ovo', 'ovr')")
        if not_prob:
            raise ValueError("Target scores need to be probabilities for multiclass roc_auc, "
                             "i.e. they should sum up to 1.0 over classes")
        options = ("macro", "weighted", None)
        if multi_class == "ovr":
            options = ("micro",) + options
        if average not in options:
            raise ValueError("average must be one of {0} for multiclass problems".format(
                options))
        if multi_class not in ("ovo", "ovr"):
            raise ValueError("multi_class='{0}' is not supported for multiclass ROC AUC, "
                             "multi_class must be in {1}".format(multi_class, ("ovo", "ovr")))
        if average is None and multi_class == "ovo":
            raise NotImplementedError("average=None is not implemented for multi_class='ovo'.")
        if multi_class == "ovr":
            return self._average(table, "roc", weighted, ties, average)
        if not self.ovo:
            raise ValueError("multi_class='ovo' needs the pairwise histograms: build "
                             "ScoreCurves(num_classes=C, ovo=True), or use "
                             "cs.roc_auc_score(..., multi_class='ovo') on the whole data")
        if weighted:
            raise ValueError("sample_weight is not supported for multiclass one-vs-one ROC "
                             "AUC, 'sample_weight' must be None in this case.")
        counts = table[0].sum(axis=0)  # every column sees every sample once
        present = [i for i in range(self.num_classes) if counts[i] > 0]
        total = counts.sum()
        scores, lows, highs, prev = [], [], [], []
        for ia, a in enumerate(present):
            for b in present[ia + 1:]:
                pa, na, ba = self._column(table, a, [a], [b])
                pb, nb, bb = self._column(table, b, [b], [a])
                va, vb = R.roc_auc(pa, na, False), R.roc_auc(pb, nb, False)
                scores.append((va + vb) / 2)
                if ties.exact:
                    lows.append(scores[-1])
                    highs.append(scores[-1])
                else:
                    la, ha = R.roc_auc_bounds(pa, na, points=self._points(table, a, ba, ties))
                    lb, hb = R.roc_auc_bounds(pb, nb, points=self._points(table, b, bb, ties))
                    lows.append((la + lb) / 2)
                    highs.append((ha + hb) / 2)
                prev.append((counts[a] + counts[b]) / total)
        wts = np.array(prev) if average == "weighted" else None
        return (float(np.average(np.array(scores), weights=wts)),
                (float(np.average(np.array(lows), weights=wts)),
                 float(np.average(np.array(highs), weights=wts))))

    def roc_auc(self, average="macro", multi_class="ovr", max_fpr=None):
        """AUROC as ``sklearn.metrics.roc_auc_score`` on all data seen (labels = this space).

        Exact scores: scikit-learn's value. Certified: the value with each bin taken as one
        tie; ``roc_auc_bounds`` gives the interval that contains scikit-learn's."""
        return self._read("roc", average, multi_class, max_fpr)[0]

    def roc_auc_bounds(self, average="macro", multi_class="ovr", max_fpr=None):
        """(lo, hi): an interval that contains scikit-learn's AUROC on the data seen."""
        return self._read("roc", average, multi_class, max_fpr)[1]

    def average_precision(self, average="macro"):
        """Average precision as ``sklearn.metrics.average_precision_score``."""
        return self._read("ap", average)[0]

    def average_precision_bounds(self, average="macro"):
        """(lo, hi): an interval that contains scikit-learn's average precision."""
        return self._read("ap", average)[1]

    # -- operating points ---------------------------------------------------------------------
    def confusion_at(self, threshold, of_class=None) -> ConfusionMatrix:
        """The confusion matrix of ``score >= threshold`` (the meaning of the curves'
        thresholds); multi-class: of one class against the rest, labels [0, 1]."""
        table, mode, dtype, weighted, _ = self._snapshot()
        self._require_data(table)
        j = self._of_class_index(of_class)
        pos, neg, bins = self._problem(table, j)
        thr = float(threshold)
        if math.isnan(thr):
            raise ValueError("threshold must not be NaN")
        if mode == CK.S_ADAPT and math.isfinite(thr):
            col = self._problem_rows(table, j)
            lo_k, hi_k = table.lo[j], table.hi[j]
            tk = np.uint64(_value_key(thr))
            inside = np.nonzero((lo_k < tk) & (tk <= hi_k))[0]
            if len(inside):
                i = int(inside[0])
                a, b = _key_values(lo_k[i:i + 1])[0], _key_values(hi_k[i:i + 1])[0]
                raise ValueError(
                    f"threshold {thr!r} falls inside a score interval [{a!r}, {b!r}] of the "
                    f"adaptive state: the counts cannot tell which of its scores are >= it; "
                    f"use an interval's lowest score such as {a!r} (the thresholds of "
                    f"roc_curve are)")
            above = lo_k >= tk
            pos, neg = col[:, 1], col[:, 0]
        elif mode == CK.S_CERT and math.isfinite(thr):
            b = int(CK.bins_of(np.array([thr]), self.bits, CK.E_RANGE)[0])
            # the data are values of ``dtype``: thr splits no bin when no such value of
            # bin b lies below it
            edge = float(_lower_edges(np.array([b]), self.bits, dtype)[0])
            if thr > edge:
                nxt = float(_lower_edges(np.array([b + 1]), self.bits, dtype)[0]) \
                    if b + 1 < self.num_bins else math.inf
                raise ValueError(
                    f"threshold {thr!r} falls inside a score bin [{edge!r}, {nxt!r}): the "
                    f"counts cannot tell which of its scores are >= it; use a bin edge such "
                    f"as {edge!r} or {nxt!r} (the thresholds of roc_curve are bin edges)")
            above = np.asarray(bins) >= b
        else:
            vals = self._thresholds(bins, mode, dtype).astype(np.float64)
            above = vals >= thr
        tp, fp = pos[above].sum(), neg[above].sum()
        fn, tn = pos.sum() - tp, neg.sum() - fp
        labels = self.labels if self._binary else [0, 1]
        cm = ConfusionMatrix(labels=labels)
        n = np.array([[tn, fp], [fn, tp]])
        if weighted:
            cm._add_state_arrays({"n": np.zeros((2, 2), np.int64), "w": n,
                                  "true_w": n.sum(axis=1), "pred_w": n.sum(axis=0),
                                  "wsum": np.array([n.sum()]), "weighted": np.array([1])})
        else:
            cm._add_state_arrays({"n": n.astype(np.int64), "kinds": [["int"], ["int"]]})
        return cm

    def recall_at_precision(self, min_precision, of_class=None):
        """(highest recall with precision >= min_precision, its threshold); (0.0, inf) when
        no threshold reaches it. Exact at the returned threshold (certified: among bin edges)."""
        p, r, thr = self.precision_recall_curve(of_class)
        ok = np.nonzero(p[:-1] >= min_precision)[0]
        if len(ok) == 0:
            return 0.0, math.inf
        i = ok[np.argmax(r[ok])]
        return float(r[i]), thr[i].item()

    def precision_at_recall(self, min_recall, of_class=None):
        """(highest precision with recall >= min_recall, its threshold); (0.0, inf) if none."""
        p, r, thr = self.precision_recall_curve(of_class)
        ok = np.nonzero(r[:-1] >= min_recall)[0]
        if len(ok) == 0:
            return 0.0, math.inf
        i = ok[np.argmax(p[ok])]
        return float(p[i]), thr[i].item()


class MultilabelScoreCurves(ScoreCurves):
    """Per-label streaming curves for multi-label data: truth and scores ``(N, L)``.

    ``average`` takes None, "micro", "macro" and "weighted" as scikit-learn's; "samples"
    needs every sample's scores and is refused (use ``cs.roc_auc_score`` on the data).
    ``bits``, ``resolution`` and ``intervals`` are those of ``ScoreCurves``."""

    _kind = "MultilabelScoreCurves"

    def __init__(self, num_labels, *, bits=None, resolution="fixed", intervals=None):
        if isinstance(num_labels, bool) or not isinstance(num_labels, (int, np.integer)):
            raise TypeError(f"num_labels must be an int, got {num_labels!r}")
        if num_labels < 1:
            raise ValueError(f"num_labels must be at least 1, got {num_labels}")
        self.labels = list(range(int(num_labels)))
        self._given_labels = False
        self.num_classes = int(num_labels)
        self.ovo = False
        self._binary = False
        self._setup(int(num_labels), 2, bits, resolution, intervals)

    def _settings_dict(self):
        return {"num_labels": self.num_classes, "bits": self.bits}

    @classmethod
    def _from_settings(cls, s):
        return cls(s.get("num_labels"), bits=s.get("bits"), **_resolution_of(s))

    def _repr_args(self):
        return f"num_labels={self.num_classes}"

    def update(self, y_true, y_score, sample_weight=None):
        """Count a batch of ``(N, L)`` truth and scores. Returns self; all or nothing."""
        t = I.as_array(_host(y_true, "y_true"), "y_true")
        s, rmode, dtype = _scores_of(y_score)
        mode = self._layout(rmode)
        L = self.num_classes
        if t.ndim != 2 or t.shape[1] != L:
            raise ValueError(f"y_true must be (N, {L}), got shape {t.shape}")
        if s.shape != t.shape:
            raise ValueError(f"y_score has shape {s.shape}, y_true {t.shape}")
        if t.dtype.kind not in "biuf":
            raise ValueError(f"y_true must be a 0/1 indicator, got dtype {t.dtype}")
        n = t.shape[0]
        w = I.as_weights(sample_weight, n) if sample_weight is not None else _NO_W
        weighted = sample_weight is not None
        if n == 0:
            return self
        with self._lock:
            self._check_mode(mode, dtype)
        given = t
        # int8 indicators as their bytes (0 and 1 stay 0 and 1, any other value stays neither)
        # instead of an int64 copy (8x the memory: 45 of 250 ms at (10^6, 39)); the messages
        # read the values given
        t = np.ascontiguousarray(t.view(np.uint8) if t.dtype == np.int8 else _truth_view(t))
        s = np.ascontiguousarray(s)

        def bad(pos, where):
            if where == 0:
                idx = I.position(given.shape, pos)
                return (f"y_true{idx} = {I.describe_value(given.reshape(-1)[pos])} is not 0 "
                        f"or 1")
            return self._message(where, pos, given, s, w, rmode)

        if mode != CK.S_ADAPT:
            self._count_fixed((mode, dtype, rmode), t, s, w, weighted, kind=2, ncls=0,
                              message=bad)
            return self
        r = self._adaptive_add(3, (t, s, n, w, weighted), (rmode, dtype))
        if r is not None:
            raise ValueError(bad(r[0], r[2]))
        return self

    def _read(self, what, average, multi_class="ovr", max_fpr=None):
        table, mode, dtype, weighted, _ = self._snapshot(squeezed=average != "micro")
        self._require_data(table)
        ties = self._ties_of(mode, dtype, table)
        if average == "samples":
            raise ValueError("average='samples' needs every sample's scores; the streamed "
                             "curves keep per-label counts only: use cs.roc_auc_score / "
                             "cs.average_precision_score on the data")
        options = (None, "micro", "macro", "weighted", "samples")
        if average not in options:
            raise ValueError("average has to be one of {0}".format(options))
        if what == "roc":
            R._check_max_fpr(max_fpr)
        if self.num_classes == 1:  # scikit-learn sees (N, 1) truth as binary: one number
            v, b, _ = self._per_class(table, what, weighted, ties, max_fpr)
            return float(v[0]), (float(b[0, 0]), float(b[0, 1]))
        return self._average(table, what, weighted, ties, average, max_fpr)

    def _of_class_index(self, of_class):
        if of_class is None or of_class not in self.labels:
            raise ValueError(f"of_class must be a label index in 0..{self.num_classes - 1}, "
                             f"got {of_class!r}")
        return of_class
