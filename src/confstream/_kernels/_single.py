"""Single-label counting: each sample's cell ``true * n + pred`` (labels, binary scores or
the argmax of score rows), one chunk kernel per form into interleaved sub-tables, and the
sample-at-a-time paths of weighted batches."""

from __future__ import annotations

import threading

import numpy as np

from .._errors import ERR_GROUP, ERR_INTERNAL, ERR_WEIGHT, OK
from ._rules import (
    NO_COLS, PRED_ARGMAX, PRED_BINARY, PRED_LABELS, _cell, _idx, _ijit, _index, _int_of,
    _jit, _pred_index, pred_of, rule_of, _sample_cell)
from ._simd import SIMD, _VEC_LANES, _prefetch, _vec_argmax
from ._threads import _grain, run_chunks, slot_zeros

@_jit
def cells(t, pred, space, keys, w, out):
    """The cell ``true * n + pred`` of every sample into ``out`` (-1 where ``ignore_index``):
    the cell-of-a-sample rule of the sample-at-a-time paths, written once. ``pred``,
    ``space``: the bundles of ``_rules``; ``keys``: the key axis (``NO_KEYS``: none; on, the
    cell is ``key index · n² + true · n + pred`` and the key is checked first, an ignored
    sample's too); ``w``: the weights to check (empty: none).

    Returns (position, code) of the first bad sample; position -1 when the batch is valid.
    """
    _, p1, p2, _, colmap = pred
    lut = space[0]
    rule = rule_of(pred, space)
    g, glut, glo, ng, on = keys
    nn = space[2] * space[2]
    has_w = w.shape[0] > 0
    for i in range(t.shape[0]):
        k = 0
        if on:  # the key's work all under one test: without keys, the loop of main (A/B)
            k = _index(g[i], glut, glo, ng)
            if k < 0:
                return i, ERR_GROUP
        c, code = _sample_cell(t[i], _pred_index(p1, p2, i, colmap, lut, rule), lut, rule)
        if code != OK:
            return i, code
        if has_w and c >= 0:
            wi = w[i]
            if not (wi >= 0.0 and wi < np.inf):
                return i, ERR_WEIGHT
        out[i] = c + k * nn if on and c >= 0 else c
    return -1, OK


@_jit
def add_cells(cells, ncount):
    """Add one per counted sample into the flat (n * n) int64 table."""
    for i in range(cells.shape[0]):
        c = cells[i]
        if c >= 0:
            ncount[c] += 1


@_jit
def add_cells_weighted(cells, w, ncount, sums, wsum):
    """Add one per sample into ``ncount`` and the weights into the sums ``sums`` = (wcount,
    true_w, pred_w), one sample at a time in input order as ``np.bincount`` does, so that the
    sums equal scikit-learn's to the last bit across any split into batches; the tables are
    flat (n * n), the margins (n,). Returns the new ``wsum``."""
    wcount, true_w, pred_w = sums
    n = true_w.shape[0]
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
def _first_bad(t, pred, i0, i1, space, keys):
    """(position, code) of the first bad sample in [i0, i1); (-1, OK) if there is none.
    With ``keys`` on, a sample's key is checked first, ignored samples' too (a key is never
    a thing to skip)."""
    _, p1, p2, _, colmap = pred
    lut = space[0]
    rule = rule_of(pred, space)
    g, glut, glo, ng, on = keys
    for i in range(i0, i1):
        if on and _index(g[i], glut, glo, ng) < 0:
            return i, ERR_GROUP
        _, code = _sample_cell(t[i], _pred_index(p1, p2, i, colmap, lut, rule), lut, rule)
        if code != OK:
            return i, code
    return -1, OK


# The block kernels loop over slices from 0 and index the tables with unsigned integers, so
# that numba emits no negative-index wrap-around and LLVM keeps the loop tight.


@_jit
def _labels_block(t, p1, space, buf):
    """Labels through the space's look-up table: each sample's cell (or the dump cell) into
    ``buf``. True if a sample was bad."""
    lut, lo, n, ign, has_ign = space
    nig = (n, ign, has_ign)
    dump = n * n
    bad = False
    for j in range(t.shape[0]):
        tv = t[j]
        buf[j], e = _cell(tv, _idx(tv, lut, lo, n), _idx(p1[j], lut, lo, n), nig, dump)
        bad |= e
    return bad


@_jit
def _ident_block(t, p1, space, buf, i0, keys):
    """Integer labels in the space 0..n-1: one vectorised pass checks each pair and writes
    its cell (or the dump cell) to ``buf`` (counted next, while it is in L1), on the key
    axis in the same pass (``_on_key``; sample j's key is keys[0][i0 + j]). True if a sample
    was bad."""
    n, ign, has_ign = space[2], space[3], space[4]
    un = np.uint64(n)
    # cells < 2**31 here: 32-bit lanes, twice as many per vector (the cell in n's type)
    nig32 = (np.int32(n), ign, has_ign)
    nn32 = np.int32(n * n)
    nbad = 0
    dump = np.int32(n * n)
    gdump = np.int32(keys[3] * n * n)
    for j in range(t.shape[0]):
        tv = t[j]
        pv = p1[j]
        ok = (np.uint64(tv) < un) & (np.uint64(pv) < un)  # negatives wrap to huge
        c, e = _cell(tv, (np.int32(tv), ok), (np.int32(pv), True), nig32, dump)
        buf[j], ek = _on_key(c, i0 + j, keys, nn32, gdump)
        nbad += e | ek
    return nbad > 0


@_jit
def _count_cells(buf, m, tab2, pa, pb):
    """tab2[sub-table of j, buf[j]] += 1 for j < m (``tab2``: (nsub, stride), nsub a power
    of two). Consecutive samples go to different sub-tables (unrolled, so that each has a
    fixed offset): a run of samples in one cell then makes no chain of dependent
    read-modify-writes. Meanwhile the next block of the inputs, pa[m:] and pb[m:], is asked
    for from memory: this loop reads none, and memory would idle while it runs."""
    tab = tab2.reshape(-1)
    mask = tab2.shape[0] - 1
    stride = tab2.shape[1]
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
def _binary_block(t, p1, thr, colmap, space, buf):
    """Binary scores ``> thr``: each sample's cell into ``buf``. True if a sample was bad."""
    lut, lo, n, ign, has_ign = space
    nig = (n, ign, has_ign)
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
            buf[j], e = _cell(tv, (a, oka & (np.uint64(a) < un)),
                              (b, ((s - s) == 0) & (b >= 0)), nig, dump)  # s - s: NaN, inf
            bad |= e
    else:
        for j in range(t.shape[0]):
            tv = t[j]
            s = p1[j]
            b = c1 if s > thr else c0
            buf[j], e = _cell(tv, _idx(tv, lut, lo, n), (b, ((s - s) == 0) & (b >= 0)), nig,
                              dump)
            bad |= e
    return bad


@_jit
def _argmax_vec_block(t, rows, colmap, space, buf):
    """``_argmax_block`` for C-contiguous float rows of at most W scores, ``rows`` = (flat,
    width, nvec, cols_ident): the argmax of the first ``nvec`` rows of ``flat`` (the block's
    scores as one vector) by ``_vec_argmax``, of the rest (at most W / width rows at the end
    of the batch) one score at a time; then each sample's cell into ``buf``.
    ``cols_ident``: column c is class c (``colmap`` is 0, 1, ...). True if a sample was
    bad."""
    flat, width, nvec, cols_ident = rows
    lut, lo, n, ign, has_ign = space
    nig = (n, ign, has_ign)
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
            buf[j], e = _cell(tv, (a, oka & (np.uint64(a) < un)), (buf[j], True), nig, dump)
            bad |= e
    else:
        for j in range(m):
            tv = t[j]
            b = colmap[buf[j]]
            buf[j], e = _cell(tv, _idx(tv, lut, lo, n), (b, b >= 0), nig, dump)
            bad |= e
    return bad


@_ijit
def _argmax4(p2, pu, j, width, bits, consts):
    """Argmax of rows j..j+3 side by side, and whether each row is finite; ``consts`` =
    (emask, eone, ebit).

    Each row's running maximum is a chain of dependent compares; four independent chains keep
    the core busy. Ties go to the first column, as ``np.argmax``. Finiteness is read from the
    same values' bits (``pu``, the scores viewed as unsigned integers): an exponent of all
    ones plus ``eone`` carries into ``ebit``; those integer operations run beside the float
    compares and cost next to nothing. ``bits`` False (integer scores): always finite.
    """
    emask, eone, ebit = consts
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
def _argmax_block(t, p2, fin, colmap, space, buf):
    """Each row's cell by its argmax into ``buf``; True if a sample was bad (a NaN
    or infinity anywhere in its row, a truth or a column not in the space). ``fin`` = (pu,
    bits, emask, eone, ebit): the block's scores viewed as unsigned integers and the
    constants that find NaNs and infinities in them (``_score_bits``). The per-sample
    code is written out here, not called: arrays handed to a helper cost reference counting
    per sample."""
    pu, bits, emask, eone, ebit = fin
    consts = (emask, eone, ebit)
    lut, lo, n, ign, has_ign = space
    nig = (n, ign, has_ign)
    bad = False
    width = p2.shape[1]
    m = t.shape[0]
    dump = n * n
    j = 0
    while j < m:
        if j + 4 <= m:
            c0, c1, c2, c3, f0, f1, f2, f3 = _argmax4(p2, pu, j, width, bits, consts)
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
            fin_r = f0 if r == 0 else (f1 if r == 1 else (f2 if r == 2 else f3))
            tv = t[j + r]
            a, oka = _idx(tv, lut, lo, n)
            b = colmap[c]
            buf[j + r], e = _cell(tv, (a, oka & fin_r), (b, b >= 0), nig, dump)
            bad |= e
        j += rows
    return bad


# One chunk kernel per prediction form, each given only what its form reads: a batch of labels
# compiles no argmax code and a batch of scores no label-pair code. Each takes samples
# [i0, i1) a block at a time: the block kernel writes each sample's cell into ``buf``
# (``_BLOCK`` cell numbers, int32 while the table has fewer than 2**31 cells), ``_block_done``
# puts the cells on the key axis if there is one and counts them into ``tab`` (nsub, stride).
# A bad block is scanned again by ``_first_bad``, which applies the one rule of
# ``_sample_cell``. Returns (first bad position, code).
#
# Their arguments are the bundles of ``_rules`` (``pred``, ``space``) and two of this module:
# ``keys`` = (g, glut, glo, ng, on), the key axis: with ``on``, sample i's cell is
# ``key index · n² + true · n + pred``, the key index being g[i]'s index in the key space
# (look-up table ``glut`` from ``glo``, or 0..ng-1 when it is empty) — one more axis of the
# same table, with no copy of the loops (the grouped accumulator's groups); and
# ``job`` = (i0, i1, tab, buf, pa, pb), a chunk's work: samples [i0, i1), its tables
# (nsub, stride), its cell buffer, and the two input arrays whose next block is fetched while
# a block is counted.

NO_KEYS = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 0, 0, False)


@_ijit
def _on_key(c, j, keys, nn, dump):
    """Cell c of sample j on the key axis: (key index of keys[0][j] · nn + c, or ``dump``
    = ng · nn for the dump cell c = nn or a key not in the key space; whether the key was
    not). Without keys: (c, False). ``keys[4]`` is the same for every sample, so LLVM takes
    the test out of the caller's loop."""
    g, glut, glo, ng, on = keys
    if not on:
        return c, False
    k, ok = _idx(g[j], glut, glo, ng)
    return (nn * k + c if (ok & (c < nn)) else dump), not ok


@_ijit
def _key_cells(buf, i, m, keys, nn):
    """buf[j] = index of key keys[0][i + j] · nn + buf[j] for j < m (the dump cell nn stays
    the dump cell, now ng · nn); True if a key was not in the key space."""
    g, glut, glo, ng, _ = keys
    gb = g[i:i + m]
    dump = ng * nn
    nbad = 0  # a count, not a flag: LLVM vectorises the loop then
    for j in range(m):
        k, ok = _idx(gb[j], glut, glo, ng)
        c = buf[j]
        nbad += not ok
        buf[j] = k * nn + c if (ok & (c < nn)) else dump
    return nbad > 0


@_ijit
def _bad_block(t, pred, i, end, space, keys):
    pos, code = _first_bad(t, pred, i, end, space, keys)
    # a block kernel that calls a block bad where the sample-by-sample check finds nothing
    # would drop the block: say so rather than count short
    return (pos, code) if pos >= 0 else (i, ERR_INTERNAL)


@_ijit
def _block_done(bad, i, end, nn, keys, job):
    """The block [i, end)'s cells in the job's buffer: on the key axis (``keys``; off where
    the block kernel put them there), then counted into the job's tables (prefetching the
    next block of its inputs). True if the block is bad (then nothing was counted)."""
    _, _, tab, buf, pa, pb = job
    m = end - i
    if keys[4]:
        bad |= _key_cells(buf, i, m, keys, nn)
    if bad:
        return True
    _count_cells(buf, m, tab, pa[i:], pb[i:])
    return False


@_jit
def _chunk_labels(t, pred, space, keys, job, ident):
    """Labels in both arrays; ``ident``: integers in the space 0..n-1 (no look-up)."""
    p1 = pred[1]
    n = space[2]
    i0, i1, _, buf, _, _ = job
    g, glut, glo, ng, on = keys
    after = (g, glut, glo, ng, on and not ident)  # the identity pass keys its cells itself
    i = i0
    while i < i1:
        end = min(i1, i + _BLOCK)
        if ident:
            bad = _ident_block(t[i:end], p1[i:end], space, buf, i, keys)
        else:
            bad = _labels_block(t[i:end], p1[i:end], space, buf)
        if _block_done(bad, i, end, n * n, after, job):
            return _bad_block(t, pred, i, end, space, keys)
        i = end
    return -1, OK


@_jit
def _chunk_binary(t, pred, space, keys, job):
    """Binary scores ``> thr`` (the pred bundle's ``colmap``: the indices of the classes 0
    and 1)."""
    _, p1, _, thr, colmap = pred
    n = space[2]
    i0, i1, _, buf, _, _ = job
    i = i0
    while i < i1:
        end = min(i1, i + _BLOCK)
        bad = _binary_block(t[i:end], p1[i:end], thr, colmap, space, buf)
        if _block_done(bad, i, end, n * n, keys, job):
            return _bad_block(t, pred, i, end, space, keys)
        i = end
    return -1, OK


@_jit
def _chunk_argmax(t, pred, space, keys, job, scan):
    """Argmax of score rows. ``scan`` = (fin, flat, nvec, cols_ident): the scores' bits and
    constants (``fin``, ``_argmax_block``); the scores as one C-contiguous vector and how many
    rows from the batch's start ``_vec_argmax`` may read (0: it is not used); whether score
    column c is class c."""
    _, _, p2, _, colmap = pred
    has_ign = space[4]
    n = space[2]
    i0, i1, _, buf, _, _ = job
    fin, flat, nvec, cols_ident = scan
    pu, bits, emask, eone, ebit = fin
    width = p2.shape[1]
    i = i0
    while i < i1:
        end = min(i1, i + _BLOCK)
        fin_b = (pu[i:end] if bits else pu, bits, emask, eone, ebit)
        if nvec > 0:
            bad = _argmax_vec_block(t[i:end], (flat[i * width:end * width], width, nvec - i,
                                               cols_ident), colmap, space, buf)
            if bad and has_ign:  # finiteness was read per block: a NaN in an ignored row
                # is no error, which only the row-by-row kernel can tell (nothing counted yet)
                bad = _argmax_block(t[i:end], p2[i:end], fin_b, colmap, space, buf)
        else:
            bad = _argmax_block(t[i:end], p2[i:end], fin_b, colmap, space, buf)
        if _block_done(bad, i, end, n * n, keys, job):
            return _bad_block(t, pred, i, end, space, keys)
        i = end
    return -1, OK


# Byte labels (uint8 / int8 / bool masks): only 256 values each, so a batch is counted with no
# check at all into a table of (truth byte, prediction byte) cells, then folded into the
# space's table, checking each byte value once. The cells: a byte value of the space is one
# compact index (``byte_cells``), and the truth has two more rows (ignored, not in the space)
# and the prediction one more column (not in the space), so that the table is as small as the
# space (23 x 22 counts for 21 classes), and ``cellof[(t << 8) | p]`` (65536 uint32, of which a
# batch reads a few cache lines) gives a pair's cell in one load. Interleaved sub-tables break
# the chains of one cell's increments (masks repeat a pair for long runs); eight samples of
# one pair (a word of each array that repeats one byte: masks' regions) add 8 at once.
# Counting into all 65536 byte pairs instead (1 MiB of sub-tables per thread) ran at the
# mercy of where the table's pages fell in a 1 MiB L2: on an AMD EPYC Zen 4, 16x512x512
# masks, one thread, 3.8 ms in one thread and 8.4 ms in another; these tables 3.8-4.5 ms in
# every thread. Only for big batches (``PAIRS_MIN``).
_PAIR_SUB = 4
_PAIR_CELLS_MAX = 258 * 257  # 256 byte values + 2 rows, + 1 column


@_jit
def byte_cells(signed, space, cellof, idx):
    """Fill ``cellof`` (65536 uint32: the cell of each (truth byte << 8 | prediction byte))
    and ``idx`` (the space's index of each compact byte index); returns (k, the number of
    byte values in the space: the table is (k + 2) x (k + 1))."""
    lut, lo, n, ign, has_ign = space
    comp = np.empty(256, np.int64)
    k = 0
    for b in range(256):
        v = b - 256 if signed and b >= 128 else b
        i = _index(v, lut, lo, n)
        comp[b] = -1
        if i >= 0:
            comp[b] = k
            idx[k] = i
            k += 1
    m = k + 1
    for a in range(256):
        va = a - 256 if signed and a >= 128 else a
        row = k if has_ign and va == ign else (comp[a] if comp[a] >= 0 else k + 1)
        for b in range(256):
            col = comp[b] if comp[b] >= 0 else k
            cellof[(a << 8) | b] = np.uint32(row * m + col)
    return k


@_ijit
def _byte_add(t, p, j, cellof, stride, tab):
    key = (np.uint64(t[j]) << np.uint64(8)) | np.uint64(p[j])
    tab[np.uint64(j & (_PAIR_SUB - 1)) * stride + np.uint64(cellof[key])] += 1


_BYTES8 = np.uint64(0x0101010101010101)
_NO_WORDS = np.zeros(0, dtype=np.uint64)


@_jit
def _bytes_chunk(data, span, cells, tab, out):
    """Counts of the byte cells (see above) of samples [i0, i1) added into ``out`` (the
    cells, int64), by way of the scratch sub-tables ``tab`` (uint32, _PAIR_SUB x stride):
    zero before, zero after. data = (t, p, t64, p64: the same bytes as 64-bit words), span =
    (i0, i1), cells = (cellof, number of cells)."""
    t, p, t64, p64 = data
    i0, i1 = span
    cellof, ncells = cells
    stride = np.uint64(ncells)
    w0 = (i0 + 7) // 8
    w1 = min(i1 // 8, t64.shape[0])
    if w1 <= w0:  # no whole word inside (or no words: strided input): one by one
        w0 = w1 = i1 // 8 + 1
    for j in range(i0, min(i1, 8 * w0)):
        _byte_add(t, p, j, cellof, stride, tab)
    for w in range(w0, w1):
        a = t64[w]
        b = p64[w]
        tv = a & np.uint64(0xFF)
        pv = b & np.uint64(0xFF)
        if ((a ^ (tv * _BYTES8)) | (b ^ (pv * _BYTES8))) == 0:
            tab[np.uint64(cellof[(tv << np.uint64(8)) | pv])] += 8
        else:
            for q in range(8):  # one shift of both words: one sample, on either byte order
                sh = np.uint64(8 * q)
                key = (((a >> sh) & np.uint64(0xFF)) << np.uint64(8)) | ((b >> sh) & np.uint64(0xFF))
                tab[np.uint64(q & (_PAIR_SUB - 1)) * stride + np.uint64(cellof[key])] += 1
    for j in range(max(8 * w1, i0), i1):
        _byte_add(t, p, j, cellof, stride, tab)
    for q in range(_PAIR_SUB):  # summed and cleared in one pass
        for c in range(ncells):
            x = tab[q * ncells + c]
            if x:
                out[c] += np.int64(x)
                tab[q * ncells + c] = 0


_pair_tls = threading.local()


def _pair_scratch():
    """This thread's uint32 sub-tables, all zero (up to 1 MiB, kept for its next batch of
    masks: ``_bytes_chunk`` leaves them zero)."""
    tab = getattr(_pair_tls, "tab", None)
    if tab is None:
        tab = _pair_tls.tab = np.zeros(_PAIR_SUB * _PAIR_CELLS_MAX, dtype=np.uint32)
    return tab


@_jit
def fold_bytes(counts, k, idx, table):
    """Add the byte cells' counts into ``table`` (n, n); False if a counted sample was not
    in the space (the ignored row is skipped)."""
    m = k + 1
    for r in range(k):
        if counts[r * m + k]:
            return False
        for c in range(k):
            x = counts[r * m + c]
            if x:
                table[idx[r], idx[c]] += x
    for c in range(m):
        if counts[(k + 1) * m + c]:
            return False
    return True


PAIRS_MIN = 1 << 20  # samples: below this the byte tables cost more than they save


def _count_byte_pairs(t, p, space, nthreads):
    t8, p8 = t.view(np.uint8), p.view(np.uint8)
    cellof = np.empty(65536, dtype=np.uint32)
    idx = np.empty(256, dtype=np.int64)
    k = byte_cells(t.dtype == np.int8, space, cellof, idx)
    ncells = (k + 2) * (k + 1)
    nslots = max(1, nthreads)
    outs = slot_zeros(nslots, (ncells,))
    # eight chunks per thread (each folds its sub-tables, a few KiB for small spaces), so that
    # a thread that wakes late (an idle vCPU, seen in the benchmark's race: 5.5 ms against
    # 2.7 alone) leaves its chunks to the others; of fewer than 2^32 samples so that uint32
    # sub-tables hold a chunk's counts
    step = min(1 << 31, max(_grain(2), -(-t.shape[0] // (8 * nslots))))

    if t8.flags.c_contiguous and p8.flags.c_contiguous:
        nw = t.shape[0] // 8
        data = (t8, p8, t8[:8 * nw].view(np.uint64), p8[:8 * nw].view(np.uint64))
    else:
        data = (t8, p8, _NO_WORDS, _NO_WORDS)

    def run(i0, i1, slot):
        _bytes_chunk(data, (i0, i1), (cellof, ncells), _pair_scratch(), outs[slot])

    run_chunks(run, t.shape[0], nslots, step)
    counts = outs[0] if nslots == 1 else outs.sum(axis=0)
    n = space[2]
    table = np.zeros((n, n), dtype=np.int64)
    if fold_bytes(counts, k, idx, table):
        return table, -1, OK
    pos, code = _first_bad(t, pred_of(PRED_LABELS, p, _NO2F, 0.0, NO_COLS), 0, t.shape[0],
                           space, NO_KEYS)
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
# The empty vector in the scores' own float type: float32 scores then compile one
# ``_chunk_argmax`` (and one ``_argmax_vec_block``), whether or not ``_vec_argmax`` applies.
_NO1_OF = {np.dtype(np.float32): np.zeros(0, dtype=np.float32)}


def _no_rows(p2):
    """``_vec_rows``' answer where it does not apply: (an empty vector, 0)."""
    return _NO1_OF.get(p2.dtype, _NO1F), 0


def _vec_rows(p2):
    """(p2 as one vector, how many of its first rows ``_vec_argmax`` may read whole), or
    (empty, 0) where it does not apply: not float32/64, not C-contiguous, rows too wide."""
    lanes = _VEC_LANES.get(p2.dtype)
    rows, width = p2.shape
    if lanes is None or width > lanes or width == 0 or not p2.flags.c_contiguous:
        return _no_rows(p2)
    if p2.size < lanes:
        return _no_rows(p2)
    flat = p2.reshape(-1)
    return flat, min(rows, (flat.shape[0] - lanes) // width + 1)
NSUB_SMALL = 8  # sub-tables for up to 1024 cells (benchmarks/run.py, "sub-tables")
_CELLS_MAX = 2**31 - 1  # cells numbered in int32 buffers below this (16 GiB tables above)
PARALLEL_MIN = 1 << 16  # below this many samples one thread is faster (benchmarks/run.py)


def count_table(t, pred, space, nthreads, nsub=0, keys=NO_KEYS):
    """A batch's own (n, n) int64 table — (ng, n, n) with ``keys`` on — or None with the first
    bad (position, code). ``pred``, ``space``: the bundles of ``_rules`` (``pred_of``,
    ``space_of``); ``keys``: the key axis (see the chunk kernels).

    Picks one thread or ``nthreads`` by size, and the number of interleaved sub-tables
    (``nsub``, a power of two; 0: by how many cells there are, as several small tables stay
    in L1 and big ones would not).
    """
    form, p1, p2, _, colmap = pred
    lut, n = space[0], space[2]
    ng = keys[3] if keys[4] else 1
    cells = ng * n * n
    ident = (form == PRED_LABELS and lut.shape[0] == 0 and t.dtype.kind in "iub"
             and p1.dtype.kind in "iub" and cells < _CELLS_MAX)
    # bytes (masks): the pair histogram counts with no check and checks each distinct pair
    # once; faster than the identity space's two passes too (AMD EPYC, 2026-12-02: 10^7 uint8
    # labels 5.2-7.0 ms against 8.8-10.1 ms, 16x512x512 masks 2.8-3.1 against 4.2 ms)
    if (form == PRED_LABELS and nsub <= 0 and t.dtype in _BYTES
            and p1.dtype == t.dtype and t.shape[0] >= PAIRS_MIN and not keys[4]):
        return _count_byte_pairs(t, p1, space, nthreads)
    if nsub <= 0:
        nsub = NSUB_SMALL if cells <= 1024 else (2 if cells <= 8192 else 1)
    stride = (cells + 1 + 7) // 8 * 8  # whole cache lines per sub-table
    nslots = nthreads if (nthreads > 1 and t.shape[0] >= PARALLEL_MIN) else 1
    tables = slot_zeros(nslots, (nsub, stride))

    fin = _score_bits(p2 if form == PRED_ARGMAX else _NO2F)
    flat, nvec = _NO1F, 0
    if form == PRED_ARGMAX:
        flat, nvec = _vec_rows(p2) if SIMD else _no_rows(p2)
    bufs = np.empty((nslots, _BLOCK), dtype=np.int32 if cells < _CELLS_MAX else np.int64)
    cols_ident = bool(nvec) and bool((colmap == np.arange(colmap.shape[0])).all())
    # what the next block's prefetch reads: the label arrays (argmax: the truth only)
    ahead = p1 if form != PRED_ARGMAX else t

    if form == PRED_LABELS:
        def chunk(job):
            return _chunk_labels(t, pred, space, keys, job, ident)
    elif form == PRED_BINARY:
        def chunk(job):
            return _chunk_binary(t, pred, space, keys, job)
    else:
        scan = (fin, flat, nvec, cols_ident)

        def chunk(job):
            return _chunk_argmax(t, pred, space, keys, job, scan)

    def run(i0, i1, slot):
        pos, code = chunk((i0, i1, tables[slot], bufs[slot], t, ahead))
        return (pos, code) if pos >= 0 else None

    item = t.itemsize + (p1.itemsize if form != PRED_ARGMAX else p2.itemsize * p2.shape[1])
    if keys[4]:
        item += keys[0].itemsize
    errors = run_chunks(run, t.shape[0], nslots, _grain(item))
    if errors:
        pos, code = min(errors)
        return None, int(pos), int(code)
    table = tables[0, 0] if nslots == 1 and nsub == 1 else tables.sum(axis=(0, 1))
    return table[:cells].reshape((ng, n, n) if keys[4] else (n, n)), -1, OK


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
