"""numba kernels of the score curves: scores and truth in, (score bin x truth) counts out.

Two kinds of bin, both order-preserving (a higher bin never holds a lower score):

* exact (scores of at most 16 significant bits): one bin per representable value.
  ``S_F16`` / ``S_BF16`` read the raw 16-bit pattern, flipped so that unsigned order is
  float order, -0.0 folded onto 0.0 (scikit-learn treats them as equal); ``S_INT`` reads
  integers of at most 16 bits (and bools) as ``value + 32768`` (2^17 bins: int16 and uint16).
* certified (``S_CERT``, any other numeric dtype, read as float64): ``2^m`` bins per binade
  of ``|x|`` for ``2^-E <= |x| < 2^E``, with probabilities folded at 0.5 (for ``x`` in
  [0.5, 1] the binade is that of ``1 - x``, which is exact there), so that 0.999 and 0.001
  are resolved alike; one bin holds ``|x| < 2^-E``, one ``x = 1`` and ``1 - 2^-E < x``, and
  one each the scores beyond ``+-2^E``. A bin is an interval of scores: within a bin only the
  order of positives and negatives is unknown, which is what the bounds of ``ranking`` use.

Kernels never raise. A batch is checked in one pass first (``check``; ``first_bad`` finds
the position of what it refused) and counted only when all of it is good (``count``), under
the accumulator's lock, straight into its state: see "fixed bins" below.
"""

from __future__ import annotations

import math

import numpy as np

from numba import types
from numba.core.extending import overload
from numba.cpython.unsafe.numbers import leading_zeros

from ._errors import ERR_SCORE, ERR_TRUE, ERR_WEIGHT, OK
from ._kernels._rules import _ijit, _int_of, _jit
from ._radix_kernels import _key as _rkey

__all__ = ["S_F16", "S_BF16", "S_INT", "S_CERT", "S_ADAPT", "num_bins", "ERR_SCORE", "ERR_TRUE",
           "ERR_WEIGHT", "OK"]

S_F16 = 0
S_BF16 = 1
S_INT = 2
S_CERT = 3  # the certified layout; the kernels read its scores as raw bits:
S_CERT32 = 4  # float32 bit patterns (uint32)
S_CERT64 = 5  # float64 bit patterns (uint64)
S_ADAPT = 6  # the adaptive certified layout (interval lists, resolution="adaptive")

E_RANGE = 40  # binades resolved on each side: 2^-40 <= |x| < 2^40


def num_bins(smode: int, m: int, e: int = E_RANGE) -> int:
    """How many bins a score mode has (``m`` mantissa bits per binade when certified)."""
    if smode in (S_F16, S_BF16):
        return 1 << 16
    if smode == S_INT:
        return 1 << 17
    return (5 * e - 2) * (1 << m) + 5


def point_bins(m: int, precision: int, e: int = E_RANGE):
    """(b0, b1): the certified bins b0 <= b <= b1 that hold at most one value of a float type
    whose values just below 1 are ``2^-precision`` apart (float32: 24, float64: 53), or None.
    Near 1 the layout bins ``r = 1 - x`` (a multiple of ``2^-precision``) in 2^m bins per
    binade: a bin of the binade ``2^k <= r < 2^(k+1)`` is ``2^(k-m)`` wide, so it holds one
    value at most when ``k <= m - precision``; the last bin (``r < 2^-e``) holds 1.0 alone
    when ``e >= precision``. Elsewhere a bin holds many (2^(precision - 1 - m) per bin)."""
    one = 1 << m
    q = (e - 1) * one
    half1 = 2 * e * one + 2 + q
    top = half1 + q  # the bin of r in [2^-e (1 + (one - 1)/one), 2^(1 - e)): the lowest r
    kmax = m - precision  # the highest binade of r whose bins hold one value
    b1 = top + 1 if e >= precision else top
    if kmax < -e:
        return (top + 1, top + 1) if e >= precision else None
    b0 = top - (kmax + e + 1) * one + 1
    return (b0, b1)


@_ijit
def _mag(a, m, e):
    """Bin of ``a`` (``2^-e <= a < 2^e``) on the magnitude scale: 0 .. 2e*2^m - 1."""
    f, ex = math.frexp(a)  # a = f * 2^ex, f in [0.5, 1)
    return (np.int64(ex) - 1 + e) * (np.int64(1) << m) + np.int64((2.0 * f - 1.0) * (1 << m))


@_ijit
def _cert_bin(x, m, e):
    """Bin of a finite float64 ``x`` in the certified layout (see the module docstring)."""
    one = np.int64(1) << m
    w = 2 * e * one
    z = w + 1  # |x| < 2^-e
    q = (e - 1) * one  # bins of [2^-e, 0.5)
    half0 = z + 1
    half1 = half0 + q
    near1 = half1 + q + 1
    above = near1 + 1
    lo_x = 2.0 ** (-e)
    hi_x = 2.0 ** e
    if x < 0.0:
        a = -x
        if a >= hi_x:
            return np.int64(0)
        if a < lo_x:
            return z
        return 1 + (w - 1 - _mag(a, m, e))
    if x < lo_x:
        return z
    if x < 0.5:
        return half0 + _mag(x, m, e)
    if x <= 1.0:
        r = 1.0 - x  # exact for x in [0.5, 1]
        if r < lo_x:
            return near1
        return half1 + q - _mag(r, m, e)
    if x >= hi_x:
        return above + e * one
    return above + _mag(x, m, e) - e * one


@_ijit
def _cert_bin_bits(u, wide, m, e):
    """``_cert_bin`` of a float32 (``wide`` False) or float64 given by its bit pattern ``u``
    (uint64), in integer arithmetic; -1 for NaN / infinity. Same bins as ``_cert_bin``."""
    mb = 52 if wide else 23
    bias = 1023 if wide else 127
    emask = 0x7FF if wide else 0xFF
    neg = (u >> (63 if wide else 31)) & 1
    be = np.int64((u >> mb) & emask)
    man = np.int64(u & ((np.uint64(1) << mb) - 1))
    if be == emask:
        return np.int64(-1)
    one = np.int64(1) << m
    w = 2 * e * one
    z = w + 1
    q = (e - 1) * one
    half0 = z + 1
    half1 = half0 + q
    near1 = half1 + q + 1
    above = near1 + 1
    ex = be - bias  # binade of |x| (normal numbers; smaller ones fall below 2^-e)
    mag = (ex + e) * one + (man >> (mb - m))
    if neg:
        if ex >= e:
            return np.int64(0)
        if ex < -e:
            return z
        return 1 + (w - 1 - mag)
    if ex < -e:
        return z
    if ex <= -2:
        return half0 + mag
    if ex == -1:  # [0.5, 1): 1 - x = (2^mb - man) * 2^-(mb + 1), exactly
        k = (np.int64(1) << mb) - man
        p = 63 - np.int64(leading_zeros(np.uint64(k)))
        er = p - (mb + 1)
        if er < -e:
            return near1
        rest = k - (np.int64(1) << p)
        top = (rest >> (p - m)) if p >= m else (rest << (m - p))
        return half1 + q - ((er + e) * one + top)
    if ex == 0 and man == 0:  # x == 1
        return near1
    if ex >= e:
        return above + e * one
    return above + mag - e * one


@_ijit
def _key16(b, bf):
    """Order-preserving key of a 16-bit float pattern, or -1 for NaN / infinity."""
    b = np.int64(b) & 0xFFFF
    expo = (b & 0x7F80) if bf else (b & 0x7C00)
    if expo == (0x7F80 if bf else 0x7C00):
        return np.int64(-1)
    if b == 0x8000:
        b = 0
    if b & 0x8000:
        return 0x7FFF - (b & 0x7FFF)
    return 0x8000 + b


@_ijit
def _bin(x, smode, m, e):
    """Bin of one raw score, or -1 if it is not finite."""
    if smode == S_F16:
        return _key16(x, False)
    if smode == S_BF16:
        return _key16(x, True)
    if smode == S_INT:
        return np.int64(x) + 32768
    if smode == S_CERT32:
        return _cert_bin_bits(np.uint64(x) & np.uint64(0xFFFFFFFF), False, m, e)
    if smode == S_CERT64:
        return _cert_bin_bits(np.uint64(x), True, m, e)
    v = np.float64(x)
    if not math.isfinite(v):
        return np.int64(-1)
    return _cert_bin(v, m, e)


@_ijit
def _weight_ok(w, i):
    v = w[i]
    return (v >= 0.0) & (v < np.inf)  # False for NaN; no branch, so that checks vectorise


# -- fixed bins: validate, then count --------------------------------------------------------
#
# A batch is checked first (``first_bad``: the truth in its space, every score finite, every
# weight finite and >= 0) and counted only when all of it is good, so that the counting loops
# cannot fail: they run under the accumulator's lock straight into its state, the columns of
# a score matrix split between threads (each thread owns whole columns of the table). A long
# binary batch is counted by threads into tables of their own, kept zero between batches
# (``drain`` adds one into the state and clears it), since its one column cannot be split.

@_ijit
def _finite(x, smode):
    """Whether one raw score is finite (integers always are)."""
    if smode == S_CERT32:
        return (np.uint64(x) & np.uint64(0x7F800000)) != np.uint64(0x7F800000)
    if smode == S_CERT64:
        top = np.uint64(0x7FF0000000000000)
        return (np.uint64(x) & top) != top
    if smode == S_F16:
        return (np.int64(x) & 0x7C00) != 0x7C00
    if smode == S_BF16:
        return (np.int64(x) & 0x7F80) != 0x7F80
    if smode == S_INT:
        return True
    return math.isfinite(np.float64(x))


@_ijit
def _truth_ok(v, top):
    tv, ok = _int_of(v)
    return ok & (tv >= 0) & (tv <= top)


@_jit
def check(t, s, w, rule, span):
    """Whether rows ``span = (i0, i1)`` are all good, in branch-free (vectorised) loops.
    ``t``: (n, 1) class ids (``ncls`` of them: 2 for binary) or, with ``ncls == 0``, (n, K)
    0/1 truth; ``s``: (n, K) raw scores, C-contiguous; ``rule = (smode, has_w, ncls)``. The
    position is found by ``first_bad``, only when this says no."""
    smode, has_w, ncls = rule
    i0, i1 = span
    k = s.shape[1]
    ok = _truth_rows(t, ncls, i0, i1)
    flat = s[i0:i1].reshape(-1)
    for x in range(flat.shape[0]):  # loops from 0 over views: no index wraparound to test
        ok &= _finite(flat[x], smode)
    if has_w:
        ok &= _weights_ok(w[i0:i1])
    return ok


@_ijit
def _weights_ok(w):
    ok = True
    for i in range(w.shape[0]):
        ok &= _weight_ok(w, i)
    return ok


@_ijit
def _truth_rows(t, ncls, i0, i1):
    """Whether the truth of rows i0 .. i1 of ``t`` (C-contiguous) is in its space (see
    ``check``), in one vectorised loop over the flat rows."""
    k = t.shape[1]
    flat = t.reshape(-1)[i0 * k:i1 * k]
    top = 1 if ncls == 0 else ncls - 1
    ok = True
    for x in range(flat.shape[0]):
        ok &= _truth_ok(flat[x], top)
    return ok


@_jit
def class_rows(t, v, present, span):
    """Multi-class rows ``span`` of a checked batch: set ``present[c]`` for each class id in
    ``t`` (n, 1), and return whether every row of the scores ``v`` (n, K) as floats sums to 1
    (``np.allclose(1, v.sum(axis=1))``, which scikit-learn's ``roc_auc_score`` asks)."""
    i0, i1 = span
    prob = True
    tt = t[i0:i1]
    for i in range(tt.shape[0]):
        present[np.uint64(_int_of(tt[i, 0])[0])] = True
    vv = v[i0:i1]
    n = vv.shape[0]
    n4 = n - n % 4
    for i in range(0, n4, 4):  # four rows at a time: four chains of additions side by side
        r0 = r1 = r2 = r3 = 0.0
        for j in range(vv.shape[1]):
            r0 += np.float64(vv[i, j])
            r1 += np.float64(vv[i + 1, j])
            r2 += np.float64(vv[i + 2, j])
            r3 += np.float64(vv[i + 3, j])
        prob &= ((abs(1.0 - r0) <= 1e-8 + 1e-5 * abs(r0)) & (abs(1.0 - r1) <= 1e-8 + 1e-5 * abs(r1))
                 & (abs(1.0 - r2) <= 1e-8 + 1e-5 * abs(r2))
                 & (abs(1.0 - r3) <= 1e-8 + 1e-5 * abs(r3)))
    for i in range(n4, n):
        r = 0.0
        for j in range(vv.shape[1]):
            r += np.float64(vv[i, j])
        prob &= abs(1.0 - r) <= 1e-8 + 1e-5 * abs(r)
    return prob


@_jit
def first_bad(t, s, w, rule):
    """(flat position, code, where: 0 truth / 1 scores / 2 weights) of the first bad value
    of a batch ``check`` refused (same arrays and rule); scans in the order of the rows."""
    smode, has_w, ncls = rule
    n, k = s.shape
    per_column = ncls == 0
    top = 1 if per_column else ncls - 1
    binary = k == 1 and not per_column  # its rows: truth, score, weight (the others: weight first)
    for i in range(n):
        wbad = has_w and not _weight_ok(w, i)
        if wbad and not binary:
            return i, ERR_WEIGHT, 2
        if not per_column and not _truth_ok(t[i, 0], top):
            return i, ERR_TRUE, 0
        for j in range(k):
            if per_column and not _truth_ok(t[i, j], 1):
                return i * k + j, ERR_TRUE, 0
            if not _finite(s[i, j], smode):
                return i * k + j, ERR_SCORE, 1
        if wbad:
            return i, ERR_WEIGHT, 2
    return -1, OK, 0


@_ijit
def _unit32(x, m, e):
    """``_cert_bin`` of a float32 ``x`` in [0, 1] without branches, so that a loop of it
    vectorises (int32 lanes): the binade of ``x`` below 0.5, of ``1 - x`` (exact there) from
    0.5 on. Outside [0, 1] the bin means nothing."""
    one = np.int32(1) << np.int32(m)
    z = np.int32(2 * e) * one + np.int32(1)
    q = np.int32(e - 1) * one
    half0 = z + np.int32(1)
    half1 = half0 + q
    near1 = half1 + q + np.int32(1)
    low = x < np.float32(0.5)
    u = np.float32(x if low else np.float32(1.0) - x).view(np.uint32)
    ex = np.int32((u >> np.uint32(23)) & np.uint32(0xFF)) - np.int32(127)
    mm = np.int32((u & np.uint32(0x7FFFFF)) >> np.uint32(23 - m))
    mag = (ex + np.int32(e)) * one + mm
    small = ex < np.int32(-e)
    b_lo = z if small else half0 + mag
    b_hi = near1 if small else half1 + q - mag
    b = b_lo if low else b_hi
    return b


@_ijit
def _unit64(x, m, e):
    """``_unit32`` for float64 (int64 lanes)."""
    one = np.int64(1) << m
    z = 2 * e * one + 1
    q = (e - 1) * one
    half0 = z + 1
    half1 = half0 + q
    near1 = half1 + q + 1
    low = x < 0.5
    u = np.float64(x if low else 1.0 - x).view(np.uint64)
    ex = np.int64((u >> np.uint64(52)) & np.uint64(0x7FF)) - 1023
    mm = np.int64((u & np.uint64(0xFFFFFFFFFFFFF)) >> np.uint64(52 - m))
    mag = (ex + e) * one + mm
    small = ex < -e
    b_lo = z if small else half0 + mag
    b_hi = near1 if small else half1 + q - mag
    b = b_lo if low else b_hi
    return b


def _unit(x, m, e):  # pragma: no cover - only its jitted overload below runs
    """``_unit32`` or ``_unit64`` by the dtype of ``x``."""
    raise NotImplementedError


@overload(_unit, jit_options={"nogil": True}, inline="always")
def _unit_impl(x, m, e):
    if isinstance(x, types.Float):
        return (lambda x, m, e: _unit32(x, m, e)) if x.bitwidth == 32 else \
            (lambda x, m, e: _unit64(x, m, e))
    return None


@_ijit
def _unit_block(v, m, e, buf):
    """``buf[x] = _unit(v[x])`` (float32 or float64 scores). Returns (whether every score is
    finite, whether some score is outside [0, 1])."""
    rare = False
    fin = True
    for x in range(buf.shape[0]):
        y = v[x]
        buf[x] = _unit(y, m, e)
        rare |= (y < 0.0) | (y > 1.0)
        fin &= abs(y) < np.inf
    return fin, rare


@_ijit
def _bin_block(flat, smode, m, e, buf):
    """Bins of the raw scores ``flat`` (C-contiguous, as long as ``buf``) into ``buf``:
    probabilities in one vectorised pass, any other score fixed up after. Returns whether
    all were finite (if not, ``buf`` means nothing)."""
    fin = True
    rare = True
    if smode == S_CERT32:
        fin, rare = _unit_block(flat.view(np.float32), m, e, buf)
    elif smode == S_CERT64:
        fin, rare = _unit_block(flat.view(np.float64), m, e, buf)
    if not fin or not rare:
        return fin
    for x in range(buf.shape[0]):
        u = flat[x]
        if smode == S_CERT32:
            if (u & 0xFFFFFFFF) <= 0x3F800000:  # [0, 1]: binned above
                continue
        elif smode == S_CERT64:
            if np.uint64(u) <= np.uint64(0x3FF0000000000000):
                continue
        b = _bin(u, smode, m, e)
        buf[x] = b
        fin &= b >= 0
    return fin


@_jit
def count(t, s, w, tabs, rule, span):
    """Count rows ``i0 .. i1`` and columns ``j0 .. j1`` (``span``) into ``tabs = (ti, tf)``:
    (K, nb, cells) int64 counts or, with ``has_w``, float64 weights. ``rule = (smode, m, e,
    has_w, kind)``: kind 0, ``t`` (n, 1) class ids and column j counts ``t == j`` (one
    column: ``t`` itself, 0/1); kind 1 (one-vs-one), the class id itself; kind 2, ``t`` (n, K)
    and column j counts ``t[:, j]``. ``s``: (n, K) raw scores, C-contiguous.

    The truth and weights are checked first (of all the rows, or of each block of rows for
    one column), then rows go in small blocks that are checked and binned in the L1 cache
    (``_bin_block``).
    One column: each block is then added into the table. Several: the blocks' bins (and
    per-column truth) are laid out column by column in a buffer of many rows, and each of
    this call's columns is added from it in one run, so that its table stays in the cache
    (taking the columns in turn every few rows costs a cache miss per sample). A bad value
    stops the count before its rows are added: returns (False, ...), the rows before it
    counted. Otherwise (True, the lowest and the highest bin counted)."""
    ti, tf = tabs
    smode, m, e, has_w, kind = rule
    i0, i1, j0, j1 = span
    k = s.shape[1]
    flat = s.reshape(-1)
    tflat = t.reshape(-1)
    nb = tf.shape[1] if has_w else ti.shape[1]
    ncls = 0 if kind == 2 else (2 if k == 1 else k)
    lo = np.int32(nb)
    hi = np.int32(-1)
    sub = max(16, 4096 // k)  # rows binned at a time
    # rows checked, then added, at a time (weighted, one column: added from ``buf``)
    # (several columns: 2^20 cells a block, 4 MiB of int32 cells, so that each column's run
    # adds many rows into its table, whose hot lines were evicted by the other columns'
    # runs: multi-label (5e5, 39), one thread, AMD EPYC Zen 4, 2^18: 147-169 ms, 2^20:
    # 137-145, 2^21: 119-139)
    step = (sub if has_w else 16 * sub) if k == 1 else max(sub, min(i1 - i0, (1 << 20) // k))
    # the truth and weights in long loops that vectorise (block by block of ``sub`` rows
    # measured slower than the count itself): of all the rows for several columns, of each
    # block (then still in the cache when it is added) for one (both measured best)
    if k > 1 and (not _truth_rows(t, ncls, i0, i1) or (has_w and not _weights_ok(w[i0:i1]))):
        return False, np.int64(lo), np.int64(hi)
    buf = np.empty(sub * k, np.int32)
    cols = np.empty((k if k > 1 else 0, step), np.int32)
    ncells = tf.shape[2] if has_w else ti.shape[2]
    # unweighted columns get each row's cell in ``cols`` (the truth's cell folded in): one
    # scatter per column, no truth buffer; where bins x cells fit in int32
    cell_cols = k > 1 and not has_w and nb * ncells < 2**31
    tcols = np.empty((k if kind == 2 and not cell_cols else 0, step), np.uint8)
    for b0 in range(i0, i1, step):
        b1 = min(i1, b0 + step)
        if k == 1 and (not _truth_rows(t, ncls, b0, b1) or
                       (has_w and not _weights_ok(w[b0:b1]))):
            return False, np.int64(lo), np.int64(hi)
        for s0 in range(b0, b1, sub):
            s1 = min(b1, s0 + sub)
            bb = buf[:(s1 - s0) * k]
            if not _bin_block(flat[s0 * k:s1 * k], smode, m, e, bb):
                return False, np.int64(lo), np.int64(hi)
            # indices as uint64: known non-negative (checked above), so no wraparound test
            if k == 1 and not has_w:  # binary: the hot loop
                # the cell (bin, truth) of each row in the vectorised pass that finds the
                # bins' range, then a bare scatter: 1.9 -> 1.4 ns a row (AMD EPYC Zen 4)
                tt = tflat[s0:s1]
                for x in range(bb.shape[0]):
                    v = bb[x]
                    lo = min(lo, v)
                    hi = max(hi, v)
                    bb[x] = 2 * v + np.int32(_int_of(tt[x])[0])
                f0 = ti[0].reshape(-1)
                for r in range(s1 - s0):
                    f0[np.uint64(bb[r])] += 1
                continue
            for x in range(bb.shape[0]):
                lo = min(lo, bb[x])
                hi = max(hi, bb[x])
            if k == 1:  # weighted binary: added from ``buf`` (one block of ``sub`` rows)
                continue
            for r in range(s1 - s0):
                x = s0 - b0 + r
                for j in range(j0, j1):
                    if cell_cols:  # the cell itself, bin * cells + truth's cell
                        if kind == 2:
                            c = _int_of(tflat[(s0 + r) * k + j])[0]
                        elif kind == 1:
                            c = _int_of(tflat[s0 + r])[0]
                        else:
                            c = np.int64(_int_of(tflat[s0 + r])[0] == j)
                        cols[j, x] = bb[r * k + j] * ncells + np.int32(c)
                    else:
                        cols[j, x] = bb[r * k + j]
                        if kind == 2:
                            tcols[j, x] = np.uint8(_int_of(tflat[(s0 + r) * k + j])[0])
        if k == 1 and not has_w:
            continue
        for j in range(j0, j1):
            uj = np.uint64(j)
            if cell_cols:  # unweighted columns: a bare scatter of the cells
                fj = ti[j].reshape(-1)
                cj = cols[j]
                for r in range(b1 - b0):
                    fj[np.uint64(cj[r])] += 1
                continue
            for r in range(b1 - b0):
                b = np.uint64(cols[j, r]) if k > 1 else np.uint64(buf[r])
                if kind == 2 and k > 1:
                    c = np.int64(tcols[j, r])
                else:  # one column: the truth of row r itself
                    c = _int_of(tflat[b0 + r])[0]
                    if kind == 0 and k > 1:
                        c = np.int64(c == j)
                if has_w:
                    tf[uj, b, np.uint64(c)] += w[b0 + r]
                else:
                    ti[uj, b, np.uint64(c)] += 1
    return True, np.int64(lo), np.int64(hi)


@_jit
def drain(src, dst, lo, hi, add):
    """``dst[:, lo:hi + 1] += src[:, lo:hi + 1]`` (only with ``add``), then those bins of
    ``src`` zero again."""
    for j in range(src.shape[0]):
        for b in range(lo, hi + 1):
            for c in range(src.shape[2]):
                if add:
                    dst[j, b, c] += src[j, b, c]
                src[j, b, c] = 0


@_jit
def bins_of(x, m, e):
    """Certified bins of float64 values (used to find the bins' lower edges)."""
    out = np.empty(x.shape[0], dtype=np.int64)
    for i in range(x.shape[0]):
        out[i] = _cert_bin(x[i], m, e)
    return out


@_jit
def ap_bounds(pos, neg, exact_sum, points):
    """Bounds of the average-precision sum over bins taken in decreasing score order.

    ``pos[k]``, ``neg[k]``: positive / negative mass of the k-th bin from the top;
    ``points[k]`` (or an empty array: none): the bin holds one score value, one step of
    scikit-learn's curve. Returns (lo, hi) of ``sum_k contribution_k`` where AP = that sum /
    total positives. See ``ranking.average_precision_bounds`` for the proof.
    """
    lo = 0.0
    hi = 0.0
    t0 = 0.0
    f0 = 0.0
    has_points = points.shape[0] > 0
    for k in range(pos.shape[0]):
        p = pos[k]
        n = neg[k]
        if p > 0.0 and has_points and points[k]:
            x = p * (t0 + p) / (t0 + p + f0 + n)  # the tie's one step
            lo += x
            hi += x
        elif p > 0.0:
            hi += p * (t0 + p) / (t0 + p + f0)
            c = f0 + n
            if c == 0.0:
                lo += p
            elif exact_sum and p <= 4096.0:
                s = 0.0
                for i in range(1, int(p) + 1):
                    s += (t0 + i) / (t0 + i + c)
                lo += s
            else:
                lo += p - c * math.log1p(p / (t0 + c))
        t0 += p
        f0 += n
    return lo, hi


# -- adaptive certified intervals (``resolution="adaptive"``) ------------------------------
#
# Per score column a sorted list of disjoint intervals [lo, hi] of order-preserving float64
# keys (``_radix_kernels._key``: float32 widened exactly, -0.0 folded onto 0.0) with their
# mass per cell. Every lo and hi is a key some sample had. Samples wait in a buffer of keys;
# a flush radix-orders the buffer once (O(1) per key), merges its distinct keys into the
# intervals (a key inside an interval adds to it, any other key becomes a point interval) and,
# when the list outgrows its capacity, joins neighbouring intervals greedily left to right
# while the joined group's cost stays under a threshold tau: cost = tied cross-cell mass
# (P * N for two cells) + LAM * (group mass)^2. The first term is what a join adds to the
# bounds' width; the second keeps pure runs (one class only, as in a class-sorted stream) in
# equal-mass pieces, so that the other class arriving later still finds them fine. Joining
# keeps the bounds provable: ties inside an interval are the only error, and their mass is
# known. Shards merge by the union of their intervals (overlapping ones joined).

LAM = 1.0 / 1024.0


@_ijit
def _tz64(v):
    n = 0
    while n < 64 and (v >> np.uint64(n)) & np.uint64(1) == np.uint64(0):
        n += 1
    return n


@_ijit
def _key32(u):
    """(order-preserving 32-bit key, ok) of a float32 bit pattern; -0.0 folded onto 0.0."""
    u = np.uint64(u) & np.uint64(0xFFFFFFFF)
    if (u & np.uint64(0x7F800000)) == np.uint64(0x7F800000):
        return np.uint64(0), False
    if u == np.uint64(0x80000000):
        u = np.uint64(0)
    if u & np.uint64(0x80000000):
        return (~u) & np.uint64(0xFFFFFFFF), True
    return u | np.uint64(0x80000000), True


@_ijit
def _k32_to_k64(k):
    """The float64 key (``_radix_kernels._key``) of the float32 whose 32-bit key is ``k``."""
    if k & np.uint64(0x80000000):
        u = k ^ np.uint64(0x80000000)
    else:
        u = (~k) & np.uint64(0xFFFFFFFF)
    return _rkey(u, False)[0]


@_ijit
def _fill32(t, s, bk, rule):
    """``fill_keys`` of float32 keys without weights, one tight loop per kind; ``rule`` =
    (n, kind, ncols, sh, start, dry)."""
    n, kind, ncols, sh, start, dry = rule
    if kind == 0:
        for i in range(n):
            tv, ok = _int_of(t[i])
            if not ok or tv < 0 or tv > 1:
                return i, ERR_TRUE, 0
            kk, okk = _key32(s[i])
            if not okk:
                return i, ERR_SCORE, 1
            if not dry:
                bk[0, start + i] = (kk << sh) | np.uint64(tv)
    elif kind == 1:
        for i in range(n):
            tv, ok = _int_of(t[i])
            if not ok or tv < 0 or tv >= ncols:
                return i, ERR_TRUE, 0
            for j in range(ncols):
                kk, okk = _key32(s[i * ncols + j])
                if not okk:
                    return i * ncols + j, ERR_SCORE, 1
                if not dry:
                    bk[j, start + i] = (kk << sh) | np.uint64(1 if tv == j else 0)
    else:
        for i in range(n):
            for j in range(ncols):
                tv, ok = _int_of(t[i * ncols + j])
                if not ok or tv < 0 or tv > 1:
                    return i * ncols + j, ERR_TRUE, 0
                kk, okk = _key32(s[i * ncols + j])
                if not okk:
                    return i * ncols + j, ERR_SCORE, 1
                if not dry:
                    bk[j, start + i] = (kk << sh) | np.uint64(tv)
    return -1, OK, 0


@_jit
def fill_keys(batch, layout, buf, span):
    """Validate a batch ``(t, s, w)`` and (unless ``dry``) write it into the key buffer
    ``buf = (bk, bc, wts)`` at row ``start`` (``span = (n, start, dry)``; ``layout`` =
    (has_w, narrow, kind, ncols, cb)):
    ``narrow`` (float32 bits in ``s``): ``bk[j, r] = key32 << cb | cell``; else (float64
    bits): ``bk[j, r] = key64``, ``bc[j, r] = cell``. ``kind``: 0 binary (``s`` (n,), ``t``
    0/1 codes), 1 multi-class one-vs-rest (``t`` class ids, cell ``t == j``), 2 one-vs-one
    (cell = ``t``), 3 multi-label (``t`` (n, K) 0/1). ``t``, ``s`` flat (C order). Returns
    (flat position, code, where: 0 truth, 1 scores, 2 weights); ``-1, OK, 0`` when all is
    well."""
    t, s, w = batch
    has_w, narrow, kind, ncols, cb = layout
    bk, bc, wts = buf
    n, start, dry = span
    sh = np.uint64(cb)
    if narrow and not has_w and kind != 2:
        return _fill32(t, s, bk, (n, kind, ncols, sh, start, dry))
    for i in range(n):
        if has_w and not _weight_ok(w, i):
            return i, ERR_WEIGHT, 2
        r = start + i
        if kind != 3:
            tv, ok = _int_of(t[i])
            if not ok or tv < 0 or (kind == 0 and tv > 1) or (kind > 0 and tv >= ncols):
                return i, ERR_TRUE, 0
        for j in range(ncols):
            if kind == 3:
                tv, ok = _int_of(t[i * ncols + j])
                if not ok or tv < 0 or tv > 1:
                    return i * ncols + j, ERR_TRUE, 0
                cell = tv
            elif kind == 1:
                cell = 1 if tv == j else 0
            else:
                cell = tv
            if narrow:
                kk, okk = _key32(s[i * ncols + j])
                if not okk:
                    return i * ncols + j, ERR_SCORE, 1
                if not dry:
                    bk[j, r] = (kk << sh) | np.uint64(cell)
            else:
                kk, okk = _rkey(s[i * ncols + j], True)
                if not okk:
                    return i * ncols + j, ERR_SCORE, 1
                if not dry:
                    bk[j, r] = kk
                    bc[j, r] = cell
        if has_w and not dry:
            wts[r] = w[i]
    return -1, OK, 0


@_ijit
def _cost(m, base, ncells, add, abase, lam):
    """Cost of the group ``m[base:base+ncells]`` plus ``add[abase:abase+ncells]``."""
    tot = 0.0
    sq = 0.0
    for c in range(ncells):
        v = m[base + c] + add[abase + c]
        tot += v
        sq += v * v
    return 0.5 * (tot * tot - sq) + lam * tot * tot


@_jit
def _groups(src, dst, rule, acc):
    """Greedy left-to-right grouping of the ``mcount`` intervals ``src = (olo, ohi, om)``
    under cost ``tau``; writes the groups into ``dst = (lo, hi, mass)`` when ``write``
    (``rule = (mcount, ncells, tau, lam, write)``). Returns the number of groups."""
    olo, ohi, om = src
    lo, hi, mass = dst
    mcount, ncells, tau, lam, write = rule
    g = 0
    for c in range(ncells):
        acc[c] = 0.0
    glo = olo[0]
    ghi = ohi[0]
    for c in range(ncells):
        acc[c] = om[c]
    for i in range(1, mcount):
        if _cost(acc, 0, ncells, om, i * ncells, lam) <= tau:
            for c in range(ncells):
                acc[c] += om[i * ncells + c]
            ghi = ohi[i]
        else:
            if write:
                lo[g] = glo
                hi[g] = ghi
                for c in range(ncells):
                    mass[g * ncells + c] = acc[c]
            g += 1
            glo = olo[i]
            ghi = ohi[i]
            for c in range(ncells):
                acc[c] = om[i * ncells + c]
    if write:
        lo[g] = glo
        hi[g] = ghi
        for c in range(ncells):
            mass[g * ncells + c] = acc[c]
    return g + 1


@_jit
def coarsen(src, dst, rule):
    """``dst = (lo, hi, mass)`` <- the ``mcount`` intervals of ``src = (olo, ohi, om)``,
    joined into at most ``target`` groups when more than ``cap`` (``rule = (mcount, ncells,
    cap, target, tau, lam)``). Returns (count, tau used)."""
    olo, ohi, om = src
    lo, hi, mass = dst
    mcount, ncells, cap, target, tau, lam = rule
    if mcount <= cap:
        for i in range(mcount):
            lo[i] = olo[i]
            hi[i] = ohi[i]
        for i in range(mcount * ncells):
            mass[i] = om[i]
        return mcount, tau
    acc = np.zeros(ncells)
    if tau <= 0.0:
        tot = 0.0
        for i in range(mcount * ncells):
            tot += om[i]
        tau = (tot / target) ** 2 * lam * 0.5
    for _ in range(200):
        g = _groups(src, dst, (mcount, ncells, tau, lam, False), acc)
        if g <= target:
            break
        r = g / target
        tau *= min(max(r * r, 1.25), 64.0)
    g = _groups(src, dst, (mcount, ncells, tau, lam, True), acc)
    return g, tau


@_jit
def _radix(a, b, nbits, perm, perm2, has_perm):
    """LSD radix order of ``a`` (uint64, values < 2^nbits) in balanced digits of <= 11 bits
    (every digit's histogram from one pass); ``b`` scratch of a's size; ``perm`` carried
    along when ``has_perm``. Returns (sorted, its perm): the inputs or the scratch arrays."""
    n = a.shape[0]
    passes = (nbits + 10) // 11
    if passes == 0:
        return a, perm
    width = (nbits + passes - 1) // passes
    nb = 1 << width
    mask = np.uint64(nb - 1)
    hist = np.zeros((passes, nb), np.int64)
    for i in range(n):
        v = a[i]
        for d in range(passes):
            hist[d, np.int64((v >> np.uint64(d * width)) & mask)] += 1
    for d in range(passes):
        sh = np.uint64(d * width)
        off = hist[d]
        tot = 0
        for x in range(nb):
            c = off[x]
            off[x] = tot
            tot += c
        if has_perm:
            for i in range(n):
                v = a[i]
                x = np.int64((v >> sh) & mask)
                o = off[x]
                off[x] = o + 1
                b[o] = v
                perm2[o] = perm[i]
            perm, perm2 = perm2, perm
        else:
            for i in range(n):
                v = a[i]
                x = np.int64((v >> sh) & mask)
                o = off[x]
                off[x] = o + 1
                b[o] = v
        a, b = b, a
    return a, perm


@_jit
def _merge2(iv, new, out, counts):
    """Two cells: merge the ``d`` distinct new keys ``new = (dk, dm)`` (keys, masses) into
    the ``k`` intervals ``iv = (lo, hi, mass)`` (``counts = (k, d)``), into ``out = (olo,
    ohi, om)``, without data-dependent branches; ``lo[k]`` and ``dk[d]`` hold the largest
    key (sentinels), index ``k`` / ``d`` of every array is readable. Returns the count."""
    lo, hi, mass = iv
    dk, dm = new
    olo, ohi, om = out
    k, d = counts
    ia = 0
    ib = 0
    m = 0
    curhi = np.uint64(0)  # no finite score has key 0
    for _ in range(k + d):
        la = lo[ia]
        lb = dk[ib]
        ta = la <= lb
        l0 = la if ta else lb
        h0 = hi[ia] if ta else lb
        p0 = mass[2 * ia] if ta else dm[2 * ib]
        p1 = mass[2 * ia + 1] if ta else dm[2 * ib + 1]
        ia += 1 if ta else 0
        ib += 0 if ta else 1
        ab = l0 <= curhi
        t = m - 1 if ab else m
        olo[t] = olo[t] if ab else l0
        nh = (h0 if h0 > curhi else curhi) if ab else h0
        ohi[t] = nh
        curhi = nh
        om[2 * t] = (om[2 * t] if ab else 0.0) + p0
        om[2 * t + 1] = (om[2 * t + 1] if ab else 0.0) + p1
        m += 0 if ab else 1
    return m


@_jit
def _merge_any(iv, new, out, counts):
    """``_merge2`` for any number of cells (one-vs-one), with branches; ``counts = (k, d,
    ncells)``."""
    lo, hi, mass = iv
    dk, dm = new
    olo, ohi, om = out
    k, d, ncells = counts
    ia = 0
    ib = 0
    m = 0
    curhi = np.uint64(0)
    for _ in range(k + d):
        ta = lo[ia] <= dk[ib]
        if ta:
            l0, h0 = lo[ia], hi[ia]
        else:
            l0, h0 = dk[ib], dk[ib]
        if m > 0 and l0 <= curhi:
            t = m - 1
            if h0 > curhi:
                curhi = h0
        else:
            t = m
            olo[t] = l0
            curhi = h0
            for c in range(ncells):
                om[t * ncells + c] = 0.0
            m += 1
        ohi[t] = curhi
        for c in range(ncells):
            om[t * ncells + c] += mass[ia * ncells + c] if ta else dm[ib * ncells + c]
        if ta:
            ia += 1
        else:
            ib += 1
    return m


@_jit
def flush_column(buf, iv, scratch, rule):
    """Merge the ``n`` buffered keys of column ``j`` (``buf = (bk, bc, wts)``, ``fill_keys``'
    layout) into its ``k`` intervals ``iv = (lo, hi, mass)`` (mass flat, ``ncells`` per
    interval; arrays of ``cap + 1``); coarsen past ``cap``. ``rule = (has_w, n, j, narrow,
    ncells, cb, k, cap, target, tau, lam)``. ``scratch = (wa, wb, pa, pb, dk, dm, olo, ohi,
    om)``: ``wa``/``wb``/``pa``/``pb``/``dk`` (>= n + 1), ``dm`` ((n + 1) * ncells),
    ``olo``/``ohi``/``om`` (k + n). Returns (new count, tau)."""
    bk, bc, wts = buf
    lo, hi, mass = iv
    wa, wb, pa, pb, dk, dm, olo, ohi, om = scratch
    has_w, n, j, narrow, ncells, cb, k, cap, target, tau, lam = rule
    if n == 0:
        return k, tau
    a = bk[j]
    a0 = a[0]
    v = np.uint64(0)
    for i in range(n):
        v |= a[i] ^ a0
    if v == np.uint64(0):
        lowb = 0
        rng = 0
    else:
        lowb = _tz64(v)
        rng = 64 - np.int64(leading_zeros(v)) - lowb
    ub = np.uint64(lowb)
    fmask = ((np.uint64(1) << np.uint64(rng)) - np.uint64(1)) if rng < 64 else ~np.uint64(0)
    high = a0 & ~(fmask << ub)
    scb = np.uint64(cb)
    cmask = (np.uint64(1) << scb) - np.uint64(1)
    fits = narrow or rng + cb <= 63  # key and cell in one word
    perm_needed = has_w or not fits
    if narrow or not fits:
        for i in range(n):
            wa[i] = (a[i] >> ub) & fmask
        nbits = rng
    else:
        cc = bc[j]
        for i in range(n):
            wa[i] = (((a[i] >> ub) & fmask) << scb) | np.uint64(cc[i])
        nbits = rng + cb
    if perm_needed:
        for i in range(n):
            pa[i] = i
    srt, perm = _radix(wa[:n], wb[:n], nbits, pa[:n], pb[:n], perm_needed)
    # distinct keys in increasing order with their masses per cell
    d = -1
    prev = ~np.uint64(0)
    for i in range(n):
        x = srt[i]
        if narrow:
            p = high | (x << ub)
            kid = p >> scb
            cell = p & cmask
        elif fits:
            kid = x >> scb
            cell = x & cmask
        else:
            kid = x
            cell = np.uint64(bc[j, perm[i]])
        if d < 0 or kid != prev:
            d += 1
            prev = kid
            if narrow:
                dk[d] = _k32_to_k64(kid)
            else:
                dk[d] = high | (kid << ub)
            for c in range(ncells):
                dm[d * ncells + c] = 0.0
        dm[d * ncells + np.int64(cell)] += wts[perm[i]] if has_w else 1.0
    d += 1
    big = ~np.uint64(0)
    lo[k] = big
    dk[d] = big
    for c in range(ncells):
        mass[k * ncells + c] = 0.0
        dm[d * ncells + c] = 0.0
    hi[k] = big
    if ncells == 2:
        m = _merge2(iv, (dk, dm), (olo, ohi, om), (k, d))
    else:
        m = _merge_any(iv, (dk, dm), (olo, ohi, om), (k, d, ncells))
    return coarsen((olo, ohi, om), iv, (m, ncells, cap, target, tau, lam))


@_jit
def union_intervals(a, b, out, counts):
    """Union of two interval lists ``a = (alo, ahi, am)`` and ``b`` (overlapping intervals
    joined, masses added) into ``out = (olo, ohi, om)`` of size >= ka + kb (``counts = (ka,
    kb, ncells)``). Returns the count."""
    alo, ahi, am = a
    blo, bhi, bm = b
    olo, ohi, om = out
    ka, kb, ncells = counts
    ia = 0
    ib = 0
    m = 0
    while ia < ka or ib < kb:
        if ib >= kb or (ia < ka and alo[ia] <= blo[ib]):
            l0 = alo[ia]
            h0 = ahi[ia]
            src = 0
        else:
            l0 = blo[ib]
            h0 = bhi[ib]
            src = 1
        if m > 0 and l0 <= ohi[m - 1]:
            if h0 > ohi[m - 1]:
                ohi[m - 1] = h0
        else:
            olo[m] = l0
            ohi[m] = h0
            for c in range(ncells):
                om[m * ncells + c] = 0.0
            m += 1
        base = (m - 1) * ncells
        if src == 0:
            for c in range(ncells):
                om[base + c] += am[ia * ncells + c]
            ia += 1
        else:
            for c in range(ncells):
                om[base + c] += bm[ib * ncells + c]
            ib += 1
    return m


@_jit
def present_bins(table, span, off):
    """Columns ``span = (j0, j1)`` of a (K, nb, 2) table (negatives, positives), squeezed:
    the bins that hold data, in decreasing score order. ``off`` (K + 1,): column j's bins go
    to ``off[j] .. off[j + 1]`` of the outputs, which ``present_count`` sized."""
    bins, pos, neg = off[1], off[2], off[3]
    off = off[0]
    j0, j1 = span
    for j in range(j0, j1):
        x = off[j]
        col = table[j]
        for b in range(col.shape[0] - 1, -1, -1):
            p = col[b, 1]
            q = col[b, 0]
            if p + q > 0:
                bins[x] = b
                pos[x] = p
                neg[x] = q
                x += 1


@_jit
def present_count(table, span, counts):
    """``counts[j]``: how many bins of column j (in ``span = (j0, j1)``) hold data."""
    j0, j1 = span
    for j in range(j0, j1):
        c = 0
        col = table[j]
        for b in range(col.shape[0]):
            c += (col[b, 0] + col[b, 1]) > 0
        counts[j] = c
