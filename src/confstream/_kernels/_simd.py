"""The LLVM-IR vector bodies: prefetch, the argmax of short score rows, the multi-label
row sums. ``CONFSTREAM_SIMD=0`` (``SIMD`` False) makes the callers take their plain numba
loops instead (the same results; CI runs the kernel tests both ways)."""

from __future__ import annotations

import os

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

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


# The LLVM-IR vector bodies (argmax rows, multi-label rows); CONFSTREAM_SIMD=0 takes the plain
# numba loops instead (the same results; CI runs the kernel tests both ways).
SIMD = os.environ.get("CONFSTREAM_SIMD", "1") != "0"


_ML_W = 16  # labels per vector of the multi-label rows, float32 and float64 scores alike


def _items(context, builder, tty, value):
    """The members of a tuple argument: arrays as their data pointers, integers as i64."""
    out = []
    for k, ty in enumerate(tty.types):
        v = builder.extract_value(value, k)
        if isinstance(ty, types.Array):
            out.append(context.make_array(ty)(context, builder, v).data)
        else:
            out.append(context.cast(builder, v, ty, types.int64))
    return out


def _arrays(tty, n):
    return isinstance(tty, types.BaseTuple) and len(tty) == n and all(
        isinstance(a, types.Array) for a in tty.types)


@intrinsic
def _vec_ml(typingctx, rows, span, out):
    """Rows r0 .. r0 + nrows of a multi-label batch, 16 labels at a time, with plain loads.
    ``rows`` = (tf: uint8/int8 truth, pf: float scores, both flat C-ordered vectors of L per
    row; thr: the thresholds in the scores' dtype, padded to Lpad = L rounded up to 16);
    ``span`` = (L, r0, nrows); ``out`` = (acc, cnt, gk).
    A row's last vector reads into the next row (those lanes are masked off), so the caller
    keeps 16 elements readable past each row's last vector start (it counts a batch's last
    rows another way). ``acc[base + k * Lpad + j]`` (uint8 or uint16 counters: the caller
    calls for at most 255 or 65535 rows) += the row's tp / pred / true of label j, where
    base = 3 * Lpad * gk[i] (the row's group; gk empty: base 0); ``cnt[3 * i + k]`` =
    row i's tp / n_pred / n_true (popcounts of the masks). False if a truth was not 0/1 or a
    score not finite."""
    if not (_arrays(rows, 3) and _arrays(out, 3) and isinstance(span, types.BaseTuple)
            and len(span) == 3 and all(isinstance(x, types.Integer) for x in span.types)):
        return None
    sig = types.boolean(rows, span, out)
    pdt, adt = rows.types[1].dtype, out.types[0].dtype
    if pdt not in (types.float32, types.float64) or adt not in (types.uint8, types.uint16):
        return _no_vector_impl(sig)
    W = _ML_W
    f64 = pdt == types.float64
    fty = ir.DoubleType() if f64 else ir.FloatType()
    nbytes = 8 if f64 else 4
    vf = ir.VectorType(fty, W)
    vi = ir.VectorType(_I64 if f64 else _I32, W)
    cty = ir.IntType(adt.bitwidth)  # the counters
    vc = ir.VectorType(cty, W)

    def codegen(context, builder, signature, args):
        tptr, pptr, thptr = _items(context, builder, signature.args[0], args[0])
        Lv, r0v, nr = _items(context, builder, signature.args[1], args[1])
        aptr, cptr, gptr = _items(context, builder, signature.args[2], args[2])
        gty = signature.args[2].types[2]
        ngk = context.make_array(gty)(context, builder, builder.extract_value(args[2], 2)).nitems
        grouped = builder.icmp_unsigned("!=", ngk, ir.Constant(_I64, 0))
        v8 = ir.VectorType(_I8, W)
        i16 = ir.IntType(16)
        wide = ir.Constant(_I64, W)
        nfull = builder.udiv(Lv, wide)  # whole vectors per row; then one of `rem` labels
        rem = builder.sub(Lv, builder.mul(nfull, wide))
        lpad = builder.mul(builder.udiv(builder.add(Lv, ir.Constant(_I64, W - 1)), wide), wide)
        last = _lanes_below(builder, rem, W)  # the same lanes of every row's last vector
        one8 = ir.Constant(v8, [1] * W)
        ctpop = _llvm_fn(builder, "llvm.ctpop.i16", i16, i16)
        ahead = ir.Constant(_I64, PREFETCH_BYTES // nbytes)
        ahead_at = {line: ir.Constant(_I64, (PREFETCH_BYTES + line) // nbytes)
                    for line in range(0, W * nbytes, 64)}
        # every truth byte ORed (a bad one has a bit above bit 0) and every score's s - s
        # ORed (+0.0 for a finite s, NaN otherwise), of the lanes in rows only
        tor = cgutils.alloca_once_value(builder, ir.Constant(v8, [0] * W))
        sor = cgutils.alloca_once_value(builder, ir.Constant(vi, [0] * W))
        per_row = [cgutils.alloca_once_value(builder, ir.Constant(i16, 0)) for _ in range(3)]
        gslot = cgutils.alloca_once_value(builder, ir.Constant(_I64, 0))

        def vector(el, off, mask, gbase):
            """The W labels from flat element el (label off of its row); ``mask``: the lanes
            in the row (None: all)."""
            # a prefetch per cache line of scores (the same rows ahead in the truth): once
            # per row measured 1.8x slower than none, once per line 1.2x faster
            for line in range(0, W * nbytes, 64):
                _emit_prefetch(builder, builder.gep(pptr, [builder.add(el, ahead_at[line])]))
            _emit_prefetch(builder, builder.gep(tptr, [builder.add(el, ahead)]))
            tv = builder.load(builder.bitcast(builder.gep(tptr, [el]), v8.as_pointer()),
                              align=1)
            sv = builder.load(builder.bitcast(builder.gep(pptr, [el]), vf.as_pointer()),
                              align=nbytes)
            th = builder.load(builder.bitcast(builder.gep(thptr, [off]), vf.as_pointer()),
                              align=nbytes)
            pb = builder.fcmp_ordered(">", sv, th)
            ta = builder.icmp_unsigned("==", tv, one8)
            diff = builder.bitcast(builder.fsub(sv, sv), vi)
            if mask is not None:
                pb, ta = builder.and_(pb, mask), builder.and_(ta, mask)
                tv = builder.select(mask, tv, ir.Constant(v8, [0] * W))
                diff = builder.select(mask, diff, ir.Constant(vi, [0] * W))
            builder.store(builder.or_(builder.load(tor), tv), tor)
            builder.store(builder.or_(builder.load(sor), diff), sor)
            for k, b in enumerate((builder.and_(ta, pb), pb, ta)):
                at = builder.add(builder.add(builder.mul(ir.Constant(_I64, k), lpad), off),
                                 gbase)
                ap = builder.bitcast(builder.gep(aptr, [at]), vc.as_pointer())
                builder.store(builder.sub(builder.load(ap, align=1), builder.sext(b, vc)),
                              ap, align=1)
                n = builder.call(ctpop, [builder.bitcast(b, i16)])
                builder.store(builder.add(builder.load(per_row[k]), n), per_row[k])

        with cgutils.for_range(builder, nr) as rows:
            base = builder.mul(builder.add(r0v, rows.index), Lv)
            builder.store(ir.Constant(_I64, 0), gslot)
            with builder.if_then(grouped):  # the row's group's counters
                gval = context.cast(builder, builder.load(builder.gep(gptr, [rows.index])),
                                    gty.dtype, types.int64)
                builder.store(builder.mul(builder.mul(gval, lpad), ir.Constant(_I64, 3)),
                              gslot)
            gbase = builder.load(gslot)
            for c in per_row:
                builder.store(ir.Constant(i16, 0), c)
            with cgutils.for_range(builder, nfull) as chunks:
                off = builder.mul(chunks.index, wide)
                vector(builder.add(base, off), off, None, gbase)
            with builder.if_then(builder.icmp_unsigned("!=", rem, ir.Constant(_I64, 0))):
                off = builder.mul(nfull, wide)
                vector(builder.add(base, off), off, last, gbase)
            row3 = builder.mul(rows.index, ir.Constant(_I64, 3))
            for k in range(3):
                builder.store(builder.zext(builder.load(per_row[k]), _I32),
                              builder.gep(cptr, [builder.add(row3, ir.Constant(_I64, k))]))
        high = builder.and_(builder.load(tor), ir.Constant(v8, [0xFE] * W))
        bad_t = builder.icmp_unsigned("!=", builder.bitcast(high, ir.IntType(8 * W)),
                                      ir.Constant(ir.IntType(8 * W), 0))
        sbits = ir.IntType(8 * nbytes * W)
        bad_s = builder.icmp_unsigned("!=", builder.bitcast(builder.load(sor), sbits),
                                      ir.Constant(sbits, 0))
        return builder.not_(builder.or_(bad_t, bad_s))

    return sig, codegen
