"""numba kernels: arrays in, counts out.

Every kernel validates in the same pass as it counts and returns the first bad position
(and a code saying what was wrong) instead of raising; the Python wrappers raise with words.
Kernels never touch the accumulator's state unless they are the ``*_into`` kind, which the
accumulator calls under its lock after a validating pass, so that an update is all or nothing.

Unweighted batches go through ``count_table`` / ``ml_count_tables``: one pass that checks
and counts into tables of the batch's own, split into chunks that free threads claim
(``run_chunks``), merged; the accumulator adds them under its lock. Weighted batches keep
``validate`` + ``count_into``: scikit-learn's summation order, one sample at a time.

Codes returned with a position: see ``ERR_*`` below.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

# One jit policy for every kernel: compiled once, cached on disk, GIL released.
_jit = njit(nogil=True, cache=True)
# Helpers called inside hot loops are inlined by numba itself: a call that is left to LLVM
# passes arrays by reference count, and the atomic increments cost more than the work.
_ijit = njit(nogil=True, cache=True, inline="always")

from ._errors import (  # noqa: F401  (the kernels' codes, also read through this module)
    ERR_INTERNAL, ERR_PRED, ERR_PRED_ML, ERR_SCORE, ERR_TRUE, ERR_TRUE_ML, ERR_WEIGHT, OK)

# Prediction forms.
PRED_LABELS = 0  # p1[i] is a label
PRED_ARGMAX = 1  # argmax of p2[i, :]
PRED_BINARY = 2  # p1[i] > threshold


_I64_MAX_U = np.uint64(2**63 - 1)
_F_LO = -9.2e18  # floats strictly inside (_F_LO, _F_HI) convert to int64 without overflow
_F_HI = 9.2e18


def _int_of(v):  # pragma: no cover - only its jitted overload below runs
    """(v as int64, whether v is an integer that int64 holds): one body per input dtype."""
    raise NotImplementedError


@overload(_int_of, jit_options={"nogil": True})
def _int_of_impl(v):
    if isinstance(v, types.Boolean):
        return lambda v: (np.int64(v), True)
    if isinstance(v, types.Integer):
        if v.signed or v.bitwidth < 64:
            return lambda v: (np.int64(v), True)
        return lambda v: (np.int64(v), v <= _I64_MAX_U)

    def from_float(v):
        inside = (v > _F_LO) & (v < _F_HI)  # False for NaN and infinities
        iv = np.int64(v if inside else 0.0)
        return iv, inside & (np.float64(iv) == v)

    if isinstance(v, types.Float):
        return from_float
    return None


@_ijit
def _idx(v, lut, lo, n):
    """(index of label value ``v`` in the space, whether it is in it), without branches.

    The index is meaningless when the flag is False; callers select a dump cell instead.
    """
    iv, ok = _int_of(v)
    if lut.shape[0] == 0:  # identity space 0..n-1 (or indices already mapped)
        return iv, ok & (np.uint64(iv) < np.uint64(n))
    k = iv - lo
    ok = ok & (np.uint64(k) < np.uint64(lut.shape[0]))
    r = lut[k if ok else 0]
    return r, ok & (r >= 0)


@_ijit
def _index(v, lut, lo, n):
    """Index of label value ``v`` in the space, -1 if not in it (or not an integer)."""
    r, ok = _idx(v, lut, lo, n)
    return r if ok else -1


@_ijit
def _column(c, cols_idx, lut, lo, n):
    """Index of class column c: the column itself in a fixed space, else the label value c."""
    if cols_idx:
        return c if c < n else -1
    return _index(c, lut, lo, n)


@_ijit
def _pred_index(form, p1, p2, i, thr, colmap, lut, lo, n):
    """Index of the prediction of sample i; -1 for a bad label, -2 for a bad score.
    ``colmap``: the index of each score column (``column_map``; -1 where none)."""
    if form == PRED_LABELS:
        return _index(p1[i], lut, lo, n)
    if form == PRED_BINARY:
        s = p1[i]
        if not np.isfinite(s):
            return -2
        return colmap[1 if s > thr else 0]
    best = p2[i, 0]
    if not np.isfinite(best):
        return -2
    arg = 0
    for c in range(1, p2.shape[1]):
        s = p2[i, c]
        if not np.isfinite(s):
            return -2
        if s > best:
            best = s
            arg = c
    return colmap[arg]


@_ijit
def _sample_cell(t, form, p1, p2, i, thr, colmap, lut, lo, n, ign, has_ign):
    """The rule of one sample, written once for every path that takes samples one at a time
    (and for finding the first bad sample of a block): (cell, OK) with cell = true * n +
    pred; (-1, OK) for an ignored sample; (-1, code) for a bad one."""
    tv = t[i]
    if has_ign and tv == ign:
        return -1, OK
    a = _index(tv, lut, lo, n)
    if a < 0:
        return -1, ERR_TRUE
    b = _pred_index(form, p1, p2, i, thr, colmap, lut, lo, n)
    if b < 0:
        return -1, ERR_PRED if b == -1 else ERR_SCORE
    return a * n + b, OK


@_ijit
def _cell(tv, a, oka, b, okb, n, ign, has_ign, dump):
    """The same rule for the branch-free block kernels, which find the indices their own
    way: (the sample's cell, or ``dump`` for an ignored or bad one; whether it is bad)."""
    skip = has_ign & (tv == ign)  # bitwise: a short-circuit would stop if-conversion
    good = oka & okb
    return (a * n + b if (good & (not skip)) else dump), not (skip | good)


@_jit
def cells(t, form, p1, p2, thr, colmap, lut, lo, n, ign, has_ign, w, out):
    """The cell ``true * n + pred`` of every sample into ``out`` (-1 where ``ignore_index``):
    the cell-of-a-sample rule of the sample-at-a-time paths, written once. ``w``: the
    weights to check (empty: none).

    Returns (position, code) of the first bad sample; position -1 when the batch is valid.
    """
    has_w = w.shape[0] > 0
    for i in range(t.shape[0]):
        c, code = _sample_cell(t, form, p1, p2, i, thr, colmap, lut, lo, n, ign, has_ign)
        if code != OK:
            return i, code
        if has_w and c >= 0:
            wi = w[i]
            if not (wi >= 0.0 and wi < np.inf):
                return i, ERR_WEIGHT
        out[i] = c
    return -1, OK


@_jit
def add_cells(cells, ncount):
    """Add one per counted sample into the flat (n * n) int64 table."""
    for i in range(cells.shape[0]):
        c = cells[i]
        if c >= 0:
            ncount[c] += 1


@_jit
def add_cells_weighted(cells, w, n, ncount, wcount, true_w, pred_w, wsum):
    """Add one per sample into ``ncount`` and the weights into the sums, one sample at a time
    in input order as ``np.bincount`` does, so that the sums equal scikit-learn's to the last
    bit across any split into batches; the tables are flat (n * n). Returns the new ``wsum``."""
    for i in range(cells.shape[0]):
        c = cells[i]
        if c >= 0:
            ncount[c] += 1
            wi = np.float64(w[i])
            wcount[c] += wi
            true_w[c // n] += wi
            pred_w[c % n] += wi
            wsum += wi
    return wsum


@_jit
def add_cells_int(cells, w, icount):
    """Add non-negative int64 weights exactly into the flat int64 table. All or nothing: on
    a sum past 2**63 - 1 what was added is taken back and the sample's position returned."""
    top = np.int64(9223372036854775807)
    for i in range(cells.shape[0]):
        c = cells[i]
        if c >= 0:
            if icount[c] > top - w[i]:
                for k in range(i):
                    if cells[k] >= 0:
                        icount[cells[k]] -= w[k]
                return i
            icount[c] += w[i]
    return -1


# ---------------------------------------------------------------------------------------------
# Fast single-label counting: one pass that validates and counts, branch-free per sample.
#
# A chunk of samples is counted into ``nsub`` interleaved sub-tables (sample i into sub-table
# i % nsub), so that runs of samples hitting the same cell (a mask's background, a confident
# model) do not wait on each other's store. Each sub-table has n*n cells and one dump cell
# where ignored and bad samples go; a bad sample also sets a flag, checked once per block of
# ``_BLOCK`` samples, after which the block is scanned again, slowly, for the first bad one.
# Chunks run on separate threads, each into its own tables; the caller sums them.

_BLOCK = 4096


@_jit
def _first_bad(t, form, p1, p2, i0, i1, thr, colmap, lut, lo, n, ign, has_ign):
    """(position, code) of the first bad sample in [i0, i1); (-1, OK) if there is none."""
    for i in range(i0, i1):
        _, code = _sample_cell(t, form, p1, p2, i, thr, colmap, lut, lo, n, ign, has_ign)
        if code != OK:
            return i, code
    return -1, OK


# The block kernels loop over slices from 0 and index the tables with unsigned integers, so
# that numba emits no negative-index wrap-around and LLVM keeps the loop tight.


@_jit
def _labels_block(t, p1, lut, lo, n, ign, has_ign, tab, mask, stride, buf):
    """Labels through the space's look-up table: each sample's cell (or the dump cell) into
    ``buf``, then ``buf`` counted. True if a sample was bad (then nothing was counted)."""
    dump = n * n
    bad = False
    for j in range(t.shape[0]):
        tv = t[j]
        a, oka = _idx(tv, lut, lo, n)
        b, okb = _idx(p1[j], lut, lo, n)
        buf[j], e = _cell(tv, a, oka, b, okb, n, ign, has_ign, dump)
        bad |= e
    if bad:
        return True
    _count_cells(buf, t.shape[0], tab, mask, stride, t, p1)
    return False


@_jit
def _ident_block(t, p1, n, ign, has_ign, tab, mask, stride, buf):
    """Integer labels in the space 0..n-1: one vectorised pass checks each pair and writes
    its cell (or the dump cell) to ``buf``, a second counts ``buf``, which is in L1 by then.
    True if a sample was bad."""
    un = np.uint64(n)
    n32 = np.int32(n)  # cells < 2**31 here: 32-bit lanes, twice as many per vector
    nbad = 0
    dump = np.int32(n * n)
    for j in range(t.shape[0]):
        tv = t[j]
        pv = p1[j]
        ok = (np.uint64(tv) < un) & (np.uint64(pv) < un)  # negatives wrap to huge
        buf[j], e = _cell(tv, np.int32(tv), ok, np.int32(pv), True, n32, ign, has_ign, dump)
        nbad += e
    if nbad:
        return True
    _count_cells(buf, t.shape[0], tab, mask, stride, t, p1)
    return False


@_jit
def _count_cells(buf, m, tab, mask, stride, pa, pb):
    """tab[sub-table of j, buf[j]] += 1 for j < m. Consecutive samples go to different
    sub-tables (unrolled, so that each has a fixed offset): a run of samples in one cell
    then makes no chain of dependent read-modify-writes. Meanwhile the next block of the
    inputs, pa[m:] and pb[m:], is asked for from memory: this loop reads none, and memory
    would idle while it runs."""
    j = 0
    if mask < 8:  # 1, 2, 4 or 8 sub-tables: sample j + k into sub-table k & mask
        o1 = (1 & mask) * stride
        o2 = (2 & mask) * stride
        o3 = (3 & mask) * stride
        o4 = (4 & mask) * stride
        o5 = (5 & mask) * stride
        o6 = (6 & mask) * stride
        o7 = (7 & mask) * stride
        while j + 8 <= m:
            _prefetch(pa, m + j)
            _prefetch(pb, m + j)
            tab[np.uint64(buf[j])] += 1
            tab[np.uint64(o1 + buf[j + 1])] += 1
            tab[np.uint64(o2 + buf[j + 2])] += 1
            tab[np.uint64(o3 + buf[j + 3])] += 1
            tab[np.uint64(o4 + buf[j + 4])] += 1
            tab[np.uint64(o5 + buf[j + 5])] += 1
            tab[np.uint64(o6 + buf[j + 6])] += 1
            tab[np.uint64(o7 + buf[j + 7])] += 1
            j += 8
    while j < m:
        tab[np.uint64((j & mask) * stride + buf[j])] += 1
        j += 1


@_jit
def _binary_block(t, p1, thr, colmap, lut, lo, n, ign, has_ign, tab, mask, stride, buf):
    """Binary scores ``> thr``: each sample's cell into ``buf``, then ``buf`` counted. True if
    a sample was bad (then nothing was counted)."""
    dump = n * n
    bad = False
    c0 = colmap[0]
    c1 = colmap[1]
    if lut.shape[0] == 0:  # truth in 0..n-1: no look-up, a loop LLVM vectorises
        un = np.uint64(n)
        for j in range(t.shape[0]):
            tv = t[j]
            a, oka = _int_of(tv)
            s = p1[j]
            b = c1 if s > thr else c0
            buf[j], e = _cell(tv, a, oka & (np.uint64(a) < un), b,
                              ((s - s) == 0) & (b >= 0), n, ign, has_ign, dump)  # s - s: NaN, inf
            bad |= e
    else:
        for j in range(t.shape[0]):
            tv = t[j]
            a, oka = _idx(tv, lut, lo, n)
            s = p1[j]
            b = c1 if s > thr else c0
            buf[j], e = _cell(tv, a, oka, b, ((s - s) == 0) & (b >= 0), n, ign, has_ign, dump)
            bad |= e
    if bad:
        return True
    _count_cells(buf, t.shape[0], tab, mask, stride, t, p1)
    return False


# Argmax of short rows with vector instructions. numba has no way to ask for them, so this is
# written as LLVM IR: a row of C <= W scores is read as one vector of W lanes (lanes from C on
# read the next row's scores and are replaced by the lowest finite value), its maximum found
# by halving, and the argmax is the lowest lane equal to it, as ``np.argmax`` (first
# occurrence; -0.0 == 0.0). Whether every score is finite is kept for the whole block: the
# largest |bits| seen, an exponent of all ones beyond the largest finite value. A machine
# without such vectors gets the same instructions in narrower pieces from LLVM.

PREFETCH_BYTES = 8192
_VEC_LANES = {np.dtype(np.float32): 16, np.dtype(np.float64): 8}

_I1, _I8, _I32, _I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)


def _splat(builder, value, vty):
    """A vector of type ``vty`` with ``value`` in every lane."""
    v = builder.insert_element(ir.Constant(vty, ir.Undefined), value, ir.Constant(_I32, 0))
    zeros = ir.Constant(ir.VectorType(_I32, vty.count), [0] * vty.count)
    return builder.shuffle_vector(v, v, zeros)


def _lanes_below(builder, count, width):
    """<width x i1>: lane k < count (an i64)."""
    lanes = ir.Constant(ir.VectorType(_I64, width), list(range(width)))
    return builder.icmp_signed("<", lanes, _splat(builder, count, ir.VectorType(_I64, width)))


def _llvm_fn(builder, name, ret, *args):
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(ret, list(args)), name)


class _FloatLanes:
    """The LLVM types and constants for W lanes of float32 (W = 16) or float64 (W = 8)."""

    def __init__(self, f64):
        dt = np.float64 if f64 else np.float32
        self.width = 8 if f64 else 16
        self.nbytes = 8 if f64 else 4
        self.name = "f64" if f64 else "f32"
        self.fty = ir.DoubleType() if f64 else ir.FloatType()
        self.vty = ir.VectorType(self.fty, self.width)
        self.viy = ir.VectorType(_I64 if f64 else _I32, self.width)
        self.mask_ty = ir.IntType(self.width)  # one bit per lane
        self.lowest = ir.Constant(self.vty, [float(np.finfo(dt).min)] * self.width)
        self.zero = ir.Constant(self.vty, [0.0] * self.width)
        top = int(np.array(np.finfo(dt).max).view(np.uint64 if f64 else np.uint32))
        self.max_finite_bits = ir.Constant(self.viy, [top] * self.width)
        self.abs_mask = ir.Constant(self.viy, [(1 << (8 * self.nbytes - 1)) - 1] * self.width)

    def abs_bits(self, builder, v):
        """|v| as unsigned integers: above ``max_finite_bits`` exactly for NaN and inf."""
        return builder.and_(builder.bitcast(v, self.viy), self.abs_mask)

    def load(self, builder, ptr, align=None):
        return builder.load(builder.bitcast(ptr, self.vty.as_pointer()),
                            align=align or self.nbytes)

    def any_set(self, builder, bits):
        """Whether any lane of a <W x i1> is set."""
        as_int = builder.bitcast(bits, self.mask_ty)
        return builder.icmp_unsigned("!=", as_int, ir.Constant(self.mask_ty, 0))


def _args_as_i64(context, builder, signature, args, which):
    return [context.cast(builder, args[k], signature.args[k], types.int64) for k in which]


@intrinsic
def _prefetch(typingctx, a, i):
    """Ask for the cache line of ``a``'s element i (counted from its start, in memory order)
    to be fetched; a hint that never faults, also beyond the end of ``a``."""
    if not isinstance(a, types.Array):
        return None
    sig = types.void(a, i)

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        (k,) = _args_as_i64(context, builder, signature, args, (1,))
        _emit_prefetch(builder, builder.gep(data, [k]))
        return context.get_dummy_value()

    return sig, codegen


def _emit_prefetch(builder, ptr):
    i8p = _I8.as_pointer()
    fn = _llvm_fn(builder, "llvm.prefetch.p0", ir.VoidType(), i8p, _I32, _I32, _I32)
    # read, keep in all cache levels, data
    builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(_I32, 0), ir.Constant(_I32, 3),
                      ir.Constant(_I32, 1)])


def _no_vector_impl(sig):
    """For dtypes the caller never sends (typing must still pass): returns False."""
    return sig, lambda context, builder, signature, args: ir.Constant(_I1, 0)


@intrinsic
def _vec_argmax(typingctx, flat, ncols, nrows, out):
    """out[j] = argmax of row j (flat[j*ncols : j*ncols + ncols]) for j < nrows; True if
    every score was finite. The caller makes sure that W values from each row start are in
    ``flat`` and that ncols <= W (16 lanes for float32, 8 for float64)."""
    if not (isinstance(flat, types.Array) and isinstance(out, types.Array)):
        return None
    sig = types.boolean(flat, ncols, nrows, out)
    if flat.dtype not in (types.float32, types.float64):
        return _no_vector_impl(sig)
    fl = _FloatLanes(flat.dtype == types.float64)
    W = fl.width

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        out_arr = context.make_array(signature.args[3])(context, builder, args[3])
        ncols_v, nrows_v = _args_as_i64(context, builder, signature, args, (1, 2))
        in_row = _lanes_below(builder, ncols_v, W)
        ahead = ir.Constant(_I64, PREFETCH_BYTES // fl.nbytes)
        cttz = _llvm_fn(builder, "llvm.cttz.i64", _I64, _I64, _I1)
        largest = cgutils.alloca_once_value(builder, ir.Constant(fl.viy, [0] * W))
        with cgutils.for_range(builder, nrows_v) as loop:
            j = loop.index
            ptr = builder.gep(data, [builder.mul(j, ncols_v)])
            _emit_prefetch(builder, builder.gep(ptr, [ahead]))
            v = builder.select(in_row, fl.load(builder, ptr), fl.lowest)
            bits = fl.abs_bits(builder, v)
            seen = builder.load(largest)
            builder.store(builder.select(builder.icmp_unsigned(">", bits, seen), bits, seen),
                          largest)
            m, w = v, W
            while w > 1:  # halves: the larger of each pair of lanes, until one is left
                h = w // 2
                lo = builder.shuffle_vector(m, m, ir.Constant(ir.VectorType(_I32, h),
                                                              list(range(h))))
                hi = builder.shuffle_vector(m, m, ir.Constant(ir.VectorType(_I32, h),
                                                              list(range(h, w))))
                m = builder.select(builder.fcmp_ordered(">", hi, lo), hi, lo)
                w = h
            top = _splat(builder, builder.extract_element(m, ir.Constant(_I32, 0)), fl.vty)
            eq = builder.bitcast(builder.fcmp_ordered("==", v, top), fl.mask_ty)
            idx = builder.call(cttz, [builder.zext(eq, _I64), ir.Constant(_I1, 0)])
            idx = context.cast(builder, idx, types.int64, signature.args[3].dtype)
            builder.store(idx, builder.gep(out_arr.data, [j]))
        over = builder.icmp_unsigned(">", builder.load(largest), fl.max_finite_bits)
        return builder.not_(fl.any_set(builder, over))

    return sig, codegen


@_jit
def _argmax_vec_block(t, flat, width, nvec, colmap, cols_ident, lut, lo, n, ign, has_ign, tab,
                      mask, stride, buf):
    """``_argmax_block`` for C-contiguous float rows of at most W scores: the argmax of the
    first ``nvec`` rows by ``_vec_argmax``, of the rest (at most W / width rows at the end of
    the batch) one score at a time; then each sample's cell into ``buf``, then ``buf``
    counted. ``cols_ident``: column c is class c (``colmap`` is 0, 1, ...). True if a sample
    was bad."""
    m = t.shape[0]
    k = max(0, min(m, nvec))  # nvec < 0: the block starts after the last vector row
    bad = False
    if k > 0:
        bad = not _vec_argmax(flat, width, k, buf)
    for j in range(k, m):
        best = flat[j * width]
        c = 0
        for q in range(width):
            s = flat[j * width + q]
            bad |= not np.isfinite(s)
            g = s > best
            best = s if g else best
            c = q if g else c
        buf[j] = c
    if bad:
        return True
    dump = n * n
    if lut.shape[0] == 0 and cols_ident:  # the same with no look-up: a loop LLVM vectorises
        un = np.uint64(n)
        for j in range(m):
            tv = t[j]
            a, oka = _int_of(tv)
            buf[j], e = _cell(tv, a, oka & (np.uint64(a) < un), buf[j], True, n, ign, has_ign,
                              dump)
            bad |= e
    else:
        for j in range(m):
            tv = t[j]
            a, oka = _idx(tv, lut, lo, n)
            b = colmap[buf[j]]
            buf[j], e = _cell(tv, a, oka, b, b >= 0, n, ign, has_ign, dump)
            bad |= e
    if bad:
        return True
    _count_cells(buf, m, tab, mask, stride, t, t)
    return False


@_ijit
def _argmax4(p2, pu, j, width, bits, emask, eone, ebit):
    """Argmax of rows j..j+3 side by side, and whether each row is finite.

    Each row's running maximum is a chain of dependent compares; four independent chains keep
    the core busy. Ties go to the first column, as ``np.argmax``. Finiteness is read from the
    same values' bits (``pu``, the scores viewed as unsigned integers): an exponent of all
    ones plus ``eone`` carries into ``ebit``; those integer operations run beside the float
    compares and cost next to nothing. ``bits`` False (integer scores): always finite.
    """
    b0 = p2[j, 0]
    b1 = p2[j + 1, 0]
    b2 = p2[j + 2, 0]
    b3 = p2[j + 3, 0]
    e0 = e1 = e2 = e3 = emask ^ emask  # zero, in the unsigned type (0 would be signed)
    if bits:
        e0 = (pu[j, 0] & emask) + eone
        e1 = (pu[j + 1, 0] & emask) + eone
        e2 = (pu[j + 2, 0] & emask) + eone
        e3 = (pu[j + 3, 0] & emask) + eone
    c0 = 0
    c1 = 0
    c2 = 0
    c3 = 0
    for k in range(1, width):
        s0 = p2[j, k]
        s1 = p2[j + 1, k]
        s2 = p2[j + 2, k]
        s3 = p2[j + 3, k]
        if bits:
            e0 |= (pu[j, k] & emask) + eone
            e1 |= (pu[j + 1, k] & emask) + eone
            e2 |= (pu[j + 2, k] & emask) + eone
            e3 |= (pu[j + 3, k] & emask) + eone
        g0 = s0 > b0
        g1 = s1 > b1
        g2 = s2 > b2
        g3 = s3 > b3
        b0 = s0 if g0 else b0
        b1 = s1 if g1 else b1
        b2 = s2 if g2 else b2
        b3 = s3 if g3 else b3
        c0 = k if g0 else c0
        c1 = k if g1 else c1
        c2 = k if g2 else c2
        c3 = k if g3 else c3
    return (c0, c1, c2, c3, (e0 & ebit) == 0, (e1 & ebit) == 0, (e2 & ebit) == 0,
            (e3 & ebit) == 0)


@_jit
def _argmax_block(t, p2, pu, bits, emask, eone, ebit, colmap, lut, lo, n, ign, has_ign, tab,
                  mask, stride):
    """Count rows by their argmax into the flat sub-tables; True if a sample was bad (a NaN
    or infinity anywhere in its row, a truth or a column not in the space). The per-sample
    code is written out here, not called: arrays handed to a helper cost reference counting
    per sample."""
    bad = False
    width = p2.shape[1]
    m = t.shape[0]
    dump = n * n
    j = 0
    while j < m:
        if j + 4 <= m:
            c0, c1, c2, c3, f0, f1, f2, f3 = _argmax4(p2, pu, j, width, bits, emask, eone, ebit)
            rows = 4
        else:  # the last rows, one at a time
            best = p2[j, 0]
            e = emask ^ emask
            c0 = 0
            for k in range(width):
                if bits:
                    e |= (pu[j, k] & emask) + eone
                s = p2[j, k]
                g = s > best
                best = s if g else best
                c0 = k if g else c0
            c1 = c2 = c3 = 0
            f0 = (e & ebit) == 0
            f1 = f2 = f3 = True
            rows = 1
        for r in range(rows):
            c = c0 if r == 0 else (c1 if r == 1 else (c2 if r == 2 else c3))
            fin = f0 if r == 0 else (f1 if r == 1 else (f2 if r == 2 else f3))
            tv = t[j + r]
            a, oka = _idx(tv, lut, lo, n)
            b = colmap[c]
            cell, e = _cell(tv, a, oka & fin, b, b >= 0, n, ign, has_ign, dump)
            bad |= e
            tab[np.uint64(((j + r) & mask) * stride + cell)] += 1
        j += rows
    return bad


# One chunk kernel per prediction form, each given only what its form reads: a batch of labels
# compiles no argmax code and a batch of scores no label-pair code. Each counts samples
# [i0, i1) into ``tab`` (nsub, stride) a block at a time and returns (first bad position,
# code); a bad block is scanned again by ``_first_bad``, which applies the one rule of
# ``_sample_cell``. ``buf``: _BLOCK cell numbers (int32 while n * n < 2**31).

@_ijit
def _bad_block(t, form, p1, p2, i, end, thr, colmap, lut, lo, n, ign, has_ign):
    pos, code = _first_bad(t, form, p1, p2, i, end, thr, colmap, lut, lo, n, ign, has_ign)
    # a block kernel that calls a block bad where the sample-by-sample check finds nothing
    # would drop the block: say so rather than count short
    return (pos, code) if pos >= 0 else (i, ERR_INTERNAL)


@_jit
def _chunk_labels(t, p1, i0, i1, ident, lut, lo, n, ign, has_ign, tab, buf):
    """Labels in both arrays; ``ident``: integers in the space 0..n-1 (no look-up)."""
    mask = tab.shape[0] - 1
    stride = tab.shape[1]
    ftab = tab.reshape(-1)
    i = i0
    while i < i1:
        end = min(i1, i + _BLOCK)
        if ident:
            bad = _ident_block(t[i:end], p1[i:end], n, ign, has_ign, ftab, mask, stride, buf)
        else:
            bad = _labels_block(t[i:end], p1[i:end], lut, lo, n, ign, has_ign, ftab, mask,
                                stride, buf)
        if bad:
            # labels read no score columns: an empty column map (and score matrix)
            return _bad_block(t, PRED_LABELS, p1, np.empty((0, 0), p1.dtype), i, end, 0.0,
                              lut[:0], lut, lo, n, ign, has_ign)
        i = end
    return -1, OK


@_jit
def _chunk_binary(t, p1, i0, i1, thr, colmap, lut, lo, n, ign, has_ign, tab, buf):
    """Binary scores ``> thr`` (``colmap``: the indices of the classes 0 and 1)."""
    mask = tab.shape[0] - 1
    stride = tab.shape[1]
    ftab = tab.reshape(-1)
    i = i0
    while i < i1:
        end = min(i1, i + _BLOCK)
        if _binary_block(t[i:end], p1[i:end], thr, colmap, lut, lo, n, ign, has_ign, ftab,
                         mask, stride, buf):
            return _bad_block(t, PRED_BINARY, p1, np.empty((0, 0), p1.dtype), i, end, thr,
                              colmap, lut, lo, n, ign, has_ign)
        i = end
    return -1, OK


@_jit
def _chunk_argmax(t, p2, i0, i1, colmap, lut, lo, n, ign, has_ign, tab, pu, bits, emask, eone,
                  ebit, flat, nvec, cols_ident, buf):
    """Argmax of score rows. ``pu``, ``bits``, ``emask``, ``eone``, ``ebit``: the scores'
    bits (``_argmax_block``); ``flat``, ``nvec``: the scores as one C-contiguous vector and
    how many rows from the batch's start ``_vec_argmax`` may read (0: it is not used);
    ``cols_ident``: score column c is class c."""
    mask = tab.shape[0] - 1
    stride = tab.shape[1]
    ftab = tab.reshape(-1)
    width = p2.shape[1]
    i = i0
    while i < i1:
        end = min(i1, i + _BLOCK)
        if nvec > 0:
            bad = _argmax_vec_block(t[i:end], flat[i * width:end * width], width, nvec - i,
                                    colmap, cols_ident, lut, lo, n, ign, has_ign, ftab, mask,
                                    stride, buf)
            if bad and has_ign:  # finiteness was read per block: a NaN in an ignored row
                # is no error, which only the row-by-row kernel can tell (nothing counted yet)
                bad = _argmax_block(t[i:end], p2[i:end], pu[i:end] if bits else pu, bits,
                                    emask, eone, ebit, colmap, lut, lo, n, ign, has_ign, ftab,
                                    mask, stride)
        else:
            bad = _argmax_block(t[i:end], p2[i:end], pu[i:end] if bits else pu, bits, emask,
                                eone, ebit, colmap, lut, lo, n, ign, has_ign, ftab, mask,
                                stride)
        if bad:
            return _bad_block(t, PRED_ARGMAX, p2[:, 0], p2, i, end, 0.0, colmap, lut, lo, n,
                              ign, has_ign)
        i = end
    return -1, OK


NO_COLS = np.zeros(0, dtype=np.int64)  # the column map of a batch of labels: none


@_jit
def column_map(width, cols_idx, lut, lo, n):
    """Index in the space of each class column of a score matrix, -1 where there is none."""
    out = np.empty(width, dtype=np.int64)
    for c in range(width):
        out[c] = _column(c, cols_idx, lut, lo, n)
    return out


# Threads. Chunks of a batch are claimed by whichever thread is free: this one and up to
# nthreads - 1 pool threads, each counting into tables of its own (its "slot"). numba's own
# parallel loops give each thread a fixed share instead, and wait for the slowest: on a busy
# machine (data loaders, other jobs) a thread that the OS schedules late then costs a whole
# time slice, ~10 ms, on every batch. Here the calling thread just does the chunks itself.

_pool = None
_pool_size = 0
_pool_lock = threading.Lock()


def _forget_pool():  # a forked child has the pool object but none of its threads
    global _pool, _pool_size
    _pool, _pool_size = None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _workers(n):
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < n:
            old = _pool
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="confstream")
            _pool_size = n
            if old is not None:  # its threads finish what they hold, then end
                old.shutdown(wait=False)
        return _pool


CHUNK_BYTES = 1 << 21  # input bytes per chunk claimed by a thread (benchmarks/run.py)


def run_chunks(run, size, nthreads, grain):
    """Call ``run(i0, i1, slot)`` over [0, size) in chunks of about ``grain`` items.

    Returns the results that were not None (errors), in no particular order. After an error
    no new chunk is handed out: every chunk before it has been claimed already, so the
    earliest error is among the results.
    """
    nchunks = min(size // max(grain, 1), 16 * nthreads)
    if nthreads <= 1 or nchunks <= 1:
        r = run(0, size, 0)
        return [] if r is None else [r]
    step = -(-size // nchunks)
    nchunks = -(-size // step)
    lock = threading.Lock()
    settled = threading.Condition(lock)
    state = [0, 0]  # next chunk to hand out, chunks being counted
    found = []
    failed = []

    def work(slot):
        while True:
            with lock:
                k = state[0]
                if k >= nchunks:
                    return
                state[0] = k + 1
                state[1] += 1
            r = None
            try:
                r = run(k * step, min(size, (k + 1) * step), slot)
            except BaseException as exc:  # re-raised by the calling thread
                failed.append(exc)
            with lock:
                if r is not None or failed:
                    if r is not None:
                        found.append(r)
                    state[0] = nchunks
                state[1] -= 1
                if state[1] == 0:
                    settled.notify_all()

    pool = _workers(nthreads - 1)
    for slot in range(1, nthreads):
        pool.submit(work, slot)
    work(0)
    with lock:
        while state[1] > 0:
            settled.wait()
    if failed:
        raise failed[0]
    return found


def slot_zeros(nslots, shape, dtype=np.int64):
    """(nslots, *shape) zeros whose slots are at least a cache line apart: threads writing
    to neighbouring slots must not share a line (false sharing costs more than the work)."""
    size = int(np.prod(shape))
    pad = 128 // np.dtype(dtype).itemsize
    buf = np.zeros((nslots, size + pad), dtype=dtype)
    return buf[:, :size].reshape((nslots,) + tuple(shape))


def _grain(nbytes_per_item):
    return max(4096, CHUNK_BYTES // max(1, nbytes_per_item))


# Byte labels (uint8 / int8 / bool masks): count the 65536 possible (truth, prediction) byte
# pairs with no check at all, then fold the pairs into the table, checking each distinct pair
# once. Only for big batches: the pair tables cost a fixed 512 KiB per thread and sub-table.

_PAIR_SUB = 2


@_jit
def _pairs_chunk(t, p, tab):
    """Histogram of (t << 8 | p) for byte arrays into tab (_PAIR_SUB, 65536)."""
    flat = tab.reshape(-1)
    for j in range(t.shape[0]):
        key = (np.uint32(t[j]) << np.uint32(8)) | np.uint32(p[j])
        flat[np.uint64((j & (_PAIR_SUB - 1)) * 65536 + key)] += 1


@_jit
def fold_pairs(pairs, signed, lut, lo, n, ign, has_ign, table):
    """Add byte-pair counts into ``table`` (n, n); False if a pair was not in the space."""
    for key in range(65536):
        c = pairs[key]
        if c == 0:
            continue
        tv = key >> 8
        pv = key & 255
        if signed:  # the bytes were int8
            tv = tv - 256 if tv >= 128 else tv
            pv = pv - 256 if pv >= 128 else pv
        if has_ign and tv == ign:
            continue
        a = _index(tv, lut, lo, n)
        b = _index(pv, lut, lo, n)
        if a < 0 or b < 0:
            return False
        table[a, b] += c
    return True


PAIRS_MIN = 1 << 20  # samples: below this the pair tables cost more than they save


def _count_byte_pairs(t, p, lut, lo, n, ign, has_ign, nthreads):
    t8, p8 = t.view(np.uint8), p.view(np.uint8)
    # uint32 counts (half the memory to clear and to sum) while no chunk can overflow them
    small = t.shape[0] < (1 << 32)
    tables = slot_zeros(max(1, nthreads), (_PAIR_SUB, 65536), np.uint32 if small else np.int64)
    run_chunks(lambda i0, i1, slot: _pairs_chunk(t8[i0:i1], p8[i0:i1], tables[slot]),
               t.shape[0], nthreads, _grain(2))
    table = np.zeros((n, n), dtype=np.int64)
    if fold_pairs(tables.sum(axis=(0, 1), dtype=np.int64), t.dtype == np.int8, lut, lo, n,
                  ign, has_ign, table):
        return table, -1, OK
    pos, code = _first_bad(t, PRED_LABELS, p, _NO2F, 0, t.shape[0], 0.0, NO_COLS, lut, lo, n,
                           ign, has_ign)
    return None, pos, code


_NO2F = np.zeros((0, 0), dtype=np.float64)
_BYTES = (np.dtype(np.uint8), np.dtype(np.int8))


_NO_BITS = np.zeros((0, 0), dtype=np.uint64)
_FLOAT_BITS = {  # dtype: (unsigned view, exponent mask, its lowest bit, the bit it carries to)
    np.dtype(np.float32): (np.uint32, 0x7F800000, 0x00800000, 0x80000000),
    np.dtype(np.float64): (np.uint64, 0x7FF0000000000000, 0x0010000000000000,
                           0x8000000000000000),
}


def _score_bits(p2):
    """A score matrix's bits and the constants that find NaNs and infinities in them."""
    spec = _FLOAT_BITS.get(p2.dtype)
    if spec is None or p2.size == 0:  # integer scores (one-hot) are always finite
        u = np.uint64
        return _NO_BITS, False, u(0), u(0), u(0)
    u, emask, eone, ebit = spec
    return p2.view(u), True, u(emask), u(eone), u(ebit)


_NO1F = np.zeros(0, dtype=np.float64)


def _vec_rows(p2):
    """(p2 as one vector, how many of its first rows ``_vec_argmax`` may read whole), or
    (empty, 0) where it does not apply: not float32/64, not C-contiguous, rows too wide."""
    lanes = _VEC_LANES.get(p2.dtype)
    rows, width = p2.shape
    if lanes is None or width > lanes or width == 0 or not p2.flags.c_contiguous:
        return _NO1F, 0
    if p2.size < lanes:
        return _NO1F, 0
    flat = p2.reshape(-1)
    return flat, min(rows, (flat.shape[0] - lanes) // width + 1)


# The LLVM-IR vector bodies (argmax rows, multi-label rows); CONFSTREAM_SIMD=0 takes the plain
# numba loops instead (the same results; CI runs the kernel tests both ways).
SIMD = os.environ.get("CONFSTREAM_SIMD", "1") != "0"
NSUB_SMALL = 8  # sub-tables for up to 1024 cells (benchmarks/run.py, "sub-tables")
_CELLS_MAX = 2**31 - 1  # cells numbered in int32 buffers below this (16 GiB tables above)
PARALLEL_MIN = 1 << 16  # below this many samples one thread is faster (benchmarks/run.py)


def count_table(t, form, p1, p2, thr, colmap, lut, lo, n, ign, has_ign, nthreads, nsub=0):
    """A batch's own (n, n) int64 table, or None with the first bad (position, code).

    Picks one thread or ``nthreads`` by size, and the number of interleaved sub-tables
    (``nsub``, a power of two; 0: by how many cells there are, as several small tables stay
    in L1 and big ones would not).
    """
    cells = n * n
    ident = (form == PRED_LABELS and lut.shape[0] == 0 and t.dtype.kind in "iub"
             and p1.dtype.kind in "iub" and cells < _CELLS_MAX)
    # bytes through a look-up table: the pair histogram checks each distinct pair once (the
    # space 0..n-1 needs no look-up, and its small tables count as fast)
    if (form == PRED_LABELS and nsub <= 0 and not ident and t.dtype in _BYTES
            and p1.dtype == t.dtype and t.shape[0] >= PAIRS_MIN):
        return _count_byte_pairs(t, p1, lut, lo, n, ign, has_ign, nthreads)
    if nsub <= 0:
        nsub = NSUB_SMALL if cells <= 1024 else (2 if cells <= 8192 else 1)
    stride = (cells + 1 + 7) // 8 * 8  # whole cache lines per sub-table
    nslots = nthreads if (nthreads > 1 and t.shape[0] >= PARALLEL_MIN) else 1
    tables = slot_zeros(nslots, (nsub, stride))

    pu, bits, emask, eone, ebit = _score_bits(p2 if form == PRED_ARGMAX else _NO2F)
    flat, nvec = _vec_rows(p2) if form == PRED_ARGMAX and SIMD else (_NO1F, 0)
    bufs = np.empty((nslots, _BLOCK), dtype=np.int32 if cells < _CELLS_MAX else np.int64)
    cols_ident = bool(nvec) and bool((colmap == np.arange(colmap.shape[0])).all())

    if form == PRED_LABELS:
        def chunk(i0, i1, slot):
            return _chunk_labels(t, p1, i0, i1, ident, lut, lo, n, ign, has_ign, tables[slot],
                                 bufs[slot])
    elif form == PRED_BINARY:
        def chunk(i0, i1, slot):
            return _chunk_binary(t, p1, i0, i1, thr, colmap, lut, lo, n, ign, has_ign,
                                 tables[slot], bufs[slot])
    else:
        def chunk(i0, i1, slot):
            return _chunk_argmax(t, p2, i0, i1, colmap, lut, lo, n, ign, has_ign, tables[slot],
                                 pu, bits, emask, eone, ebit, flat, nvec, cols_ident,
                                 bufs[slot])

    def run(i0, i1, slot):
        pos, code = chunk(i0, i1, slot)
        return (pos, code) if pos >= 0 else None

    item = t.itemsize + (p1.itemsize if form != PRED_ARGMAX else p2.itemsize * p2.shape[1])
    errors = run_chunks(run, t.shape[0], nslots, _grain(item))
    if errors:
        pos, code = min(errors)
        return None, int(pos), int(code)
    table = tables[0, 0] if nslots == 1 and nsub == 1 else tables.sum(axis=(0, 1))
    return table[:cells].reshape(n, n), -1, OK


@_jit
def argmax_rows(x):
    """Row-wise argmax of a 2-D score or one-hot matrix; (-1, row) on a NaN or infinity."""
    out = np.empty(x.shape[0], dtype=np.int64)
    for i in range(x.shape[0]):
        best = x[i, 0]
        if not np.isfinite(best):
            return out, i
        arg = 0
        for c in range(1, x.shape[1]):
            s = x[i, c]
            if not np.isfinite(s):
                return out, i
            if s > best:
                best = s
                arg = c
        out[i] = arg
    return out, -1


@_jit
def first_not_integer(x):
    """Position of the first value that is not a finite integer, or -1."""
    for i in range(x.shape[0]):
        v = x[i]
        if not (v > _F_LO and v < _F_HI) or np.floor(v) != v:  # NaN, infinities, beyond int64
            return i
    return -1


@_jit
def min_max(x):
    lo = x[0]
    hi = x[0]
    for i in range(1, x.shape[0]):  # selects, not branches: the loop vectorises
        v = x[i]
        lo = v if v < lo else lo
        hi = v if v > hi else hi
    return lo, hi


@_jit
def distinct_ints(x, max_span):
    """Sorted distinct values of an integer array through a table over [min, max], and True;
    or (empty, False) when they span more than ``max_span`` (then ``np.unique`` does better).

    Two reads of the data and no sort: what a dynamic label space needs when it grows.
    """
    out = np.empty(0, dtype=np.int64)
    if x.shape[0] == 0:
        return out, True
    lo, hi = min_max(x)
    ilo, ok_lo = _int_of(lo)
    ihi, ok_hi = _int_of(hi)
    span = ihi - ilo
    if not (ok_lo and ok_hi) or span < 0 or span >= max_span:
        return out, False
    seen = np.zeros(span + 1, dtype=np.bool_)
    for i in range(x.shape[0]):
        seen[np.uint64(np.int64(x[i]) - ilo)] = True
    return np.flatnonzero(seen) + ilo, True


# ---------------------------------------------------------------------------------------------
# Multi-label: per-label [[tn, fp], [fn, tp]] plus per-sample (tp, n_pred, n_true) histograms.


@_ijit
def _ml_row(t, p, i, form, thr, L):
    """Per-sample tp, n_pred, n_true of row i, or a negative code for a bad value."""
    tp = 0
    npred = 0
    ntrue = 0
    for j in range(L):
        a = t[i, j]
        if a == 1:
            ta = 1
        elif a == 0:
            ta = 0
        else:
            return -1, j, 0
        if form == 0:
            b = p[i, j]
            if b == 1:
                pb = 1
            elif b == 0:
                pb = 0
            else:
                return -2, j, 0
        else:
            s = p[i, j]
            if not np.isfinite(s):
                return -3, j, 0
            pb = 1 if s > thr[j] else 0
        tp += ta & pb
        npred += pb
        ntrue += ta
    return tp, npred, ntrue


@_jit
def ml_validate(t, p, form, thr, w, has_w):
    """Returns (row, column, code); row -1 when valid."""
    L = t.shape[1]
    for i in range(t.shape[0]):
        r, j, _ = _ml_row(t, p, i, form, thr, L)
        if r < 0:
            return i, j, (ERR_TRUE_ML if r == -1 else (ERR_PRED_ML if r == -2 else ERR_SCORE))
        if has_w:
            wi = w[i]
            if not (wi >= 0.0 and wi < np.inf):
                return i, 0, ERR_WEIGHT
    return -1, 0, OK


@_jit
def ml_count_into(t, p, form, thr, w, has_w, tp_n, pred_n, true_n, tp_w, pred_w, true_w,
                  hist_p, hist_r, hist_f, whist_p, whist_r, whist_f, wsum):
    """Add a validated multi-label batch into the state in input order.

    hist_p[tp, n_pred], hist_r[tp, n_true], hist_f[tp, n_pred + n_true] count samples;
    whist_* hold the sums of their weights. Returns (new wsum, zero-weight samples seen).
    """
    L = t.shape[1]
    nzero = 0
    for i in range(t.shape[0]):
        ntp = 0
        npred = 0
        ntrue = 0
        wi = np.float64(w[i]) if has_w else 1.0
        for j in range(L):
            ta = 1 if t[i, j] == 1 else 0
            if form == 0:
                pb = 1 if p[i, j] == 1 else 0
            else:
                pb = 1 if p[i, j] > thr[j] else 0
            if ta & pb:
                ntp += 1
                tp_n[j] += 1
                if has_w:
                    tp_w[j] += wi
            if pb:
                npred += 1
                pred_n[j] += 1
                if has_w:
                    pred_w[j] += wi
            if ta:
                ntrue += 1
                true_n[j] += 1
                if has_w:
                    true_w[j] += wi
        hist_p[ntp, npred] += 1
        hist_r[ntp, ntrue] += 1
        hist_f[ntp, npred + ntrue] += 1
        if has_w:
            whist_p[ntp, npred] += wi
            whist_r[ntp, ntrue] += wi
            whist_f[ntp, npred + ntrue] += wi
            wsum += wi
            if wi == 0.0:
                nzero += 1
    return wsum, nzero


# Multi-label, unweighted: one validating pass into tables of the batch's own, split across
# threads; the accumulator adds them to its state under its lock only if the batch was valid.

_ML_BLOCK = 1024  # rows between checks of the error flag


@_jit
def _ml_block(t, p, form, thr, sums, hp, hr, hf):
    """Count rows of ``t``, ``p`` into sums (3, L) = tp, pred, true and the histograms.

    True if a row held a bad value. One inner loop per prediction form, without branches,
    so that LLVM can vectorise it across labels.
    """
    L = t.shape[1]
    tp = sums[0]
    pr = sums[1]
    tr = sums[2]
    bad = False
    for i in range(t.shape[0]):
        ntp = 0
        npred = 0
        ntrue = 0
        ok = True
        if form == 0:
            for j in range(L):
                a = t[i, j]
                b = p[i, j]
                ta = a == 1
                pb = b == 1
                ok &= (ta | (a == 0)) & (pb | (b == 0))
                x = ta & pb
                tp[j] += x
                pr[j] += pb
                tr[j] += ta
                ntp += x
                npred += pb
                ntrue += ta
        else:
            for j in range(L):
                a = t[i, j]
                s = p[i, j]
                ta = a == 1
                pb = s > thr[j]
                ok &= (ta | (a == 0)) & ((s - s) == 0)
                x = ta & pb
                tp[j] += x
                pr[j] += pb
                tr[j] += ta
                ntp += x
                npred += pb
                ntrue += ta
        hp[np.uint64(ntp), np.uint64(npred)] += 1
        hr[np.uint64(ntp), np.uint64(ntrue)] += 1
        hf[np.uint64(ntp), np.uint64(npred + ntrue)] += 1
        bad |= not ok
    return bad


@_jit
def _ml_chunk(t, p, r0, r1, form, thr, sums, hp, hr, hf, err):
    """Rows [r0, r1) into one thread's tables; err = (row, column, code) of the first bad."""
    err[0] = -1
    err[1] = 0
    err[2] = OK
    r = r0
    while r < r1:
        end = min(r1, r + _ML_BLOCK)
        if _ml_block(t[r:end], p[r:end], form, thr, sums, hp, hr, hf):
            row, col, code = ml_validate(t[r:end], p[r:end], form, thr, _NOW, False)
            err[0] = r + row
            err[1] = col
            err[2] = code
            return
        r = end


_NOW = np.zeros(0, dtype=np.float64)


@intrinsic
def _vec_ml(typingctx, tf, pf, thr, L, r0, nrows, acc, cnt):
    """Rows r0 .. r0 + nrows of a multi-label batch (``tf``: uint8/int8 truth, ``pf``: float
    scores, both flat C-ordered vectors of L per row), W labels at a time (16 for float32
    scores, 8 for float64; the last W of a row read with a masked load):
    acc[k * Lpad + j] += tp / pred / true of label j, and cnt[3 * i + k] = the row's tp /
    n_pred / n_true (popcounts of the compare masks). ``thr``: the thresholds in the scores'
    dtype, padded to Lpad, a multiple of W. False if a truth was not 0/1 or a score not
    finite."""
    if not all(isinstance(a, types.Array) for a in (tf, pf, thr, acc, cnt)):
        return None
    sig = types.boolean(tf, pf, thr, L, r0, nrows, acc, cnt)
    if pf.dtype not in (types.float32, types.float64):
        return _no_vector_impl(sig)
    fl = _FloatLanes(pf.dtype == types.float64)
    W = fl.width

    def codegen(context, builder, signature, args):
        tptr, pptr, thptr, aptr, cptr = (
            context.make_array(signature.args[k])(context, builder, args[k]).data
            for k in (0, 1, 2, 6, 7))
        Lv, r0v, nr = _args_as_i64(context, builder, signature, args, (3, 4, 5))
        v8, v32 = ir.VectorType(_I8, W), ir.VectorType(_I32, W)
        vb = ir.VectorType(_I1, W)
        wide = ir.Constant(_I64, W)
        nchunks = builder.udiv(builder.add(Lv, ir.Constant(_I64, W - 1)), wide)
        lpad = builder.mul(nchunks, wide)
        one8, zero8 = ir.Constant(v8, [1] * W), ir.Constant(v8, [0] * W)
        load_t = _llvm_fn(builder, f"llvm.masked.load.v{W}i8.p0", v8, v8.as_pointer(), _I32,
                          vb, v8)
        load_p = _llvm_fn(builder, f"llvm.masked.load.v{W}{fl.name}.p0", fl.vty,
                          fl.vty.as_pointer(), _I32, vb, fl.vty)
        ctpop = _llvm_fn(builder, "llvm.ctpop.i32", _I32, _I32)
        ahead = ir.Constant(_I64, PREFETCH_BYTES // fl.nbytes)
        badp = cgutils.alloca_once_value(builder, ir.Constant(_I1, 0))
        per_row = [cgutils.alloca_once_value(builder, ir.Constant(_I32, 0)) for _ in range(3)]
        with cgutils.for_range(builder, nr) as rows:
            base = builder.mul(builder.add(r0v, rows.index), Lv)
            for c in per_row:
                builder.store(ir.Constant(_I32, 0), c)
            _emit_prefetch(builder, builder.gep(pptr, [builder.add(base, ahead)]))
            _emit_prefetch(builder, builder.gep(tptr, [builder.add(base, ahead)]))
            with cgutils.for_range(builder, nchunks) as chunks:
                off = builder.mul(chunks.index, wide)
                mask = _lanes_below(builder, builder.sub(Lv, off), W)
                el = builder.add(base, off)
                tv = builder.call(load_t, [builder.bitcast(builder.gep(tptr, [el]),
                                                           v8.as_pointer()),
                                           ir.Constant(_I32, 1), mask, zero8])
                sv = builder.call(load_p, [builder.bitcast(builder.gep(pptr, [el]),
                                                           fl.vty.as_pointer()),
                                           ir.Constant(_I32, fl.nbytes), mask, fl.zero])
                th = fl.load(builder, builder.gep(thptr, [off]))
                pb = builder.and_(builder.fcmp_ordered(">", sv, th), mask)
                ta = builder.icmp_unsigned("==", tv, one8)  # masked-off lanes read 0
                bad = builder.or_(builder.icmp_unsigned(">", tv, one8),
                                  builder.icmp_unsigned(">", fl.abs_bits(builder, sv),
                                                        fl.max_finite_bits))
                builder.store(builder.or_(builder.load(badp), fl.any_set(builder, bad)), badp)
                for k, bits in enumerate((builder.and_(ta, pb), pb, ta)):
                    at = builder.add(builder.mul(ir.Constant(_I64, k), lpad), off)
                    ap = builder.bitcast(builder.gep(aptr, [at]), v32.as_pointer())
                    builder.store(builder.add(builder.load(ap, align=4), builder.zext(bits, v32)),
                                  ap, align=4)
                    n = builder.call(ctpop, [builder.zext(builder.bitcast(bits, fl.mask_ty),
                                                          _I32)])
                    builder.store(builder.add(builder.load(per_row[k]), n), per_row[k])
            row3 = builder.mul(rows.index, ir.Constant(_I64, 3))
            for k in range(3):
                builder.store(builder.load(per_row[k]),
                              builder.gep(cptr, [builder.add(row3, ir.Constant(_I64, k))]))
        return builder.not_(builder.load(badp))

    return sig, codegen


ML_PARALLEL_MIN = 1 << 12

@_jit
def _ml_vec_chunk(t, p, tf, pf, thr_pad, thr, r0, r1, sums, hp, hr, hf, err):
    """``_ml_chunk`` for uint8 / int8 / bool truth and float scores, by ``_vec_ml``."""
    err[0] = -1
    err[1] = 0
    err[2] = OK
    L = t.shape[1]
    lpad = thr_pad.shape[0]
    acc = np.zeros(3 * lpad, dtype=np.int32)  # a block's rows fit in int32
    cnt = np.empty(3 * _ML_BLOCK, dtype=np.int32)
    r = r0
    while r < r1:
        end = min(r1, r + _ML_BLOCK)
        acc[:] = 0
        if not _vec_ml(tf, pf, thr_pad, L, r, end - r, acc, cnt):
            row, col, code = ml_validate(t[r:end], p[r:end], 1, thr, _NOW, False)
            if row < 0:  # the two disagree (a bug): say so rather than count short
                row, col, code = 0, 0, ERR_INTERNAL
            err[0] = r + row
            err[1] = col
            err[2] = code
            return
        for k in range(3):
            for j in range(L):
                sums[k, j] += acc[k * lpad + j]
        for q in range(end - r):
            a = np.uint64(cnt[3 * q])
            b = cnt[3 * q + 1]
            c = cnt[3 * q + 2]
            hp[a, np.uint64(b)] += 1
            hr[a, np.uint64(c)] += 1
            hf[a, np.uint64(b + c)] += 1
        r = end


def _thresholds_as(thr, dtype, lanes):
    """Thresholds in the scores' dtype, padded to a multiple of ``lanes``, that compare as
    ``thr`` does: a float32 score s > t (float64) iff s > t rounded down to float32."""
    low = thr.astype(dtype)
    above = low.astype(np.float64) > thr
    low[above] = np.nextafter(low[above], dtype.type(-np.inf))
    out = np.zeros(-(-thr.shape[0] // lanes) * lanes, dtype=dtype)
    out[: thr.shape[0]] = low
    return out
  # rows; below this one thread is faster (benchmarks/run.py)


_ML_VEC_TRUTH = (np.dtype(np.uint8), np.dtype(np.int8))  # bool arrives as uint8


def ml_count_tables(t, p, form, thr, nthreads):
    """A multi-label batch's own counts: ((tp, pred, true, hp, hr, hf), None) when valid,
    else (None, (row, column, code)) of the first bad value. Unweighted only.
    """
    n, L = t.shape
    nslots = nthreads if (nthreads > 1 and n >= ML_PARALLEL_MIN) else 1
    sums = slot_zeros(nslots, (3, L))
    hp = slot_zeros(nslots, (L + 1, L + 1))
    hr = slot_zeros(nslots, (L + 1, L + 1))
    hf = slot_zeros(nslots, (L + 1, 2 * L + 1))

    lanes = (_VEC_LANES.get(p.dtype) if SIMD and form == 1 and t.dtype in _ML_VEC_TRUTH
             else None)
    if lanes is not None and t.flags.c_contiguous and p.flags.c_contiguous:
        thr_pad = _thresholds_as(np.asarray(thr, dtype=np.float64), p.dtype, lanes)
        tf, pf = t.reshape(-1), p.reshape(-1)

        def run(r0, r1, slot):
            err = np.empty(3, dtype=np.int64)
            _ml_vec_chunk(t, p, tf, pf, thr_pad, thr, r0, r1, sums[slot], hp[slot], hr[slot],
                          hf[slot], err)
            return (int(err[0]), int(err[1]), int(err[2])) if err[0] >= 0 else None
    else:
        def run(r0, r1, slot):
            err = np.empty(3, dtype=np.int64)
            _ml_chunk(t, p, r0, r1, form, thr, sums[slot], hp[slot], hr[slot], hf[slot], err)
            return (int(err[0]), int(err[1]), int(err[2])) if err[0] >= 0 else None

    errors = run_chunks(run, n, nslots, _grain(L * (t.itemsize + p.itemsize)))
    if errors:
        return None, min(errors)
    s = sums.sum(axis=0)
    return (s[0], s[1], s[2], hp.sum(axis=0), hr.sum(axis=0), hf.sum(axis=0)), None


# ---------------------------------------------------------------------------------------------
# String labels: fixed-width code units (numpy 'U' arrays viewed as uint32 rows) looked up in
# an open-addressing hash table of the label space; no sort, one pass.


@_jit
def _row_hash(rows, i):
    h = np.uint64(1469598103934665603)  # FNV-1a over the row's code units
    for j in range(rows.shape[1]):
        h = (h ^ np.uint64(rows[i, j])) * np.uint64(1099511628211)
    return h


@_jit
def str_table(keys, size):
    """Slots (a power of two) holding row indices of ``keys``, -1 where empty."""
    table = np.full(size, -1, dtype=np.int64)
    mask = np.uint64(size - 1)
    for k in range(keys.shape[0]):
        s = _row_hash(keys, k) & mask
        while table[s] >= 0:
            s = (s + np.uint64(1)) & mask
        table[s] = k
    return table


@_jit
def str_codes(rows, keys, table, codes, out):
    """out[i] = codes[k] where rows[i] equals keys[k]; returns the first row not among
    the keys (-1 when every row was found)."""
    mask = np.uint64(table.shape[0] - 1)
    w = rows.shape[1]
    for i in range(rows.shape[0]):
        s = _row_hash(rows, i) & mask
        while True:
            k = table[s]
            if k < 0:
                return i
            same = True
            for j in range(w):
                if rows[i, j] != keys[k, j]:
                    same = False
                    break
            if same:
                out[i] = codes[k]
                break
            s = (s + np.uint64(1)) & mask
    return -1
