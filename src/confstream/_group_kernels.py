"""numba kernels of the grouped accumulator: the cell of a sample is ``g·C² + t·C + p``.

Every single-label path puts the group on the engine's key axis (``keys`` = (g, glut, glo,
ng, True), the bundles of ``confstream._kernels``): unweighted binary scores and argmax rows
are counted by the engine's chunk kernels (``K.count_table(..., keys=...)``); the weighted
path takes the engine's cells on the key axis (``K.cells(..., keys, ...)``, the rule of one
sample with the group checked first) and adds them here in input order; labels go through
the block kernels here (the group read in the cell's one pass: faster, see ``count_table``),
whose bad blocks are searched by the engine's ``_first_bad``. As everywhere in confstream,
kernels never raise: they return the first bad position and a code.
"""

from __future__ import annotations

import numpy as np

from . import _kernels as K
from ._errors import ERR_GROUP
from ._kernels._jit import _jit

_BLOCK = K._BLOCK


def colmap_of(form, p2, cols_idx, space):
    """The engine's column map of the score columns (``K.column_map``; none for labels)."""
    if form == K.PRED_LABELS:
        return K.NO_COLS
    lut, lo, n = space[0], space[1], space[2]
    return K.column_map(p2.shape[1] if form == K.PRED_ARGMAX else 2, cols_idx, lut, lo, n)


@_jit
def _labels_block(t, p1, g, space, keys, job):
    """Labels (both arrays) through the space's table: branch-free cells into the job's
    buffer, then counted into its tables. ``t``, ``p1``, ``g``: the block's slices. True if
    a sample was bad (then nothing was counted)."""
    lut, lo, n, ign, has_ign = space
    _, glut, glo, ng, _ = keys
    _, _, tab, buf, _, _ = job
    nn = n * n
    dump = ng * nn
    bad = False
    for j in range(t.shape[0]):
        tv = t[j]
        a, oka = K._idx(tv, lut, lo, n)
        b, okb = K._idx(p1[j], lut, lo, n)
        k, okg = K._idx(g[j], glut, glo, ng)
        skip = has_ign & (tv == ign)
        good = oka & okb
        bad |= not (okg & (skip | good))
        buf[j] = k * nn + a * n + b if (okg & good & (not skip)) else dump
    if bad:
        return True
    K._count_cells(buf, t.shape[0], tab, t, p1)
    return False


@_jit
def _ident_block(t, p1, g, space, keys, job):
    """Integer labels in 0..n-1 and integer keys in 0..ng-1 (no look-up tables): one
    vectorisable pass writes each sample's cell (32-bit lanes) or the dump cell to the job's
    buffer, a second counts it. True if a sample was bad."""
    n, ign, has_ign = space[2], space[3], space[4]
    ng = keys[3]
    _, _, tab, buf, _, _ = job
    un, ug = np.uint64(n), np.uint64(ng)
    n32 = np.int32(n)
    nn32 = np.int32(n * n)
    dump = np.int32(ng * n * n)
    nbad = 0
    for j in range(t.shape[0]):
        tv = t[j]
        pv = p1[j]
        gv = g[j]
        skip = has_ign & (tv == ign)
        okg = np.uint64(gv) < ug
        ok = (np.uint64(tv) < un) & (np.uint64(pv) < un)
        nbad += not (okg & (skip | ok))
        buf[j] = (np.int32(gv) * nn32 + np.int32(tv) * n32 + np.int32(pv)
                  if (okg & ok & (not skip)) else dump)
    if nbad:
        return True
    K._count_cells(buf, t.shape[0], tab, t, g)
    return False


@_jit
def _labels_chunk(t, pred, space, keys, job, ident):
    """Count samples [i0, i1) of the job into its tables (nsub, stride); (first bad
    position, code). ``ident``: integer labels and keys in 0..n-1 and 0..ng-1, read without
    look-ups."""
    p1 = pred[1]
    g = keys[0]
    i0, i1 = job[0], job[1]
    i = i0
    while i < i1:
        end = min(i1, i + _BLOCK)
        if ident:
            bad = _ident_block(t[i:end], p1[i:end], g[i:end], space, keys, job)
        else:
            bad = _labels_block(t[i:end], p1[i:end], g[i:end], space, keys, job)
        if bad:
            pos, code = K._first_bad(t, pred, i, end, space, keys)
            # a block that is called bad where the sample-by-sample check finds nothing
            # would be dropped: say so rather than count short
            return (pos, code) if pos >= 0 else (i, K.ERR_INTERNAL)
        i = end
    return -1, K.OK


def count_table(t, pred, space, keys, nthreads):
    """A batch's own (ng, n, n) int64 table, or None with the first bad (position, code).

    Labels: the block kernels above, with the group in the cell's one pass (32-bit lanes in
    the identity space); measured 1.4x faster on 2 idle cores than the engine's chunk kernels
    with the group as their key axis, whose identity pass reads the key as a 64-bit index
    (benchmarks/README.md, "The key axis"). Binary scores and argmax rows: the engine's
    ``count_table`` with the group as the key axis of the cell.
    Chunks are claimed by free threads (``K.run_chunks``), each into tables of its own."""
    form, p1, p2 = pred[0], pred[1], pred[2]
    if form != K.PRED_LABELS:
        return K.count_table(t, pred, space, nthreads, keys=keys)
    lut, n = space[0], space[2]
    g, glut, ng = keys[0], keys[1], keys[3]
    cells = ng * n * n
    nsub = K.NSUB_SMALL if cells <= 1024 else (2 if cells <= 8192 else 1)
    stride = (cells + 1 + 7) // 8 * 8
    size = t.shape[0]
    nslots = nthreads if (nthreads > 1 and size >= K.PARALLEL_MIN) else 1
    tables = K.slot_zeros(nslots, (nsub, stride))
    bufs = np.empty((nslots, _BLOCK), dtype=np.int32 if cells < K._CELLS_MAX else np.int64)
    ident = (lut.shape[0] == 0 and glut.shape[0] == 0
             and t.dtype.kind in "iub" and p1.dtype.kind in "iub" and g.dtype.kind in "iub"
             and cells < K._CELLS_MAX)

    def run(i0, i1, slot):
        pos, code = _labels_chunk(t, pred, space, keys,
                                  (i0, i1, tables[slot], bufs[slot], t, p1), ident)
        return (pos, code) if pos >= 0 else None

    item = t.itemsize + g.itemsize + p1.itemsize
    errors = K.run_chunks(run, size, nslots, K._grain(item))
    if errors:
        pos, code = min(errors)
        return None, int(pos), int(code)
    table = tables[0, 0] if nslots == 1 and nsub == 1 else tables.sum(axis=(0, 1))
    return table[:cells].reshape(ng, n, n), -1, K.OK


@_jit
def count_into(cells, w, n, tabs, otabs):
    """Add a validated batch's cells on the key axis (``K.cells`` with the group as the key:
    g·n² + t·n + p, -1 where ignored) into the weighted state, one sample at a time in input
    order. ``tabs`` = (ncount, wcount, true_w, pred_w, wsum): per group, (ng, n, n), (ng, n)
    and (ng,); ``otabs`` = (ocells, otrue, opred, ototal): over all groups, (n, n), (n,) and a
    1-element array.

    Per group and over all groups alike, weighted sums are added as ``np.bincount`` adds
    them on that group's rows (or on all rows), so that they equal scikit-learn's to the
    last bit across any split into batches."""
    ncount, wcount, true_w, pred_w, wsum = tabs
    ocells, otrue, opred, ototal = otabs
    nn = n * n
    for i in range(cells.shape[0]):
        c = cells[i]
        if c < 0:
            continue
        k = c // nn
        r = c - k * nn
        a, b = r // n, r % n
        wi = np.float64(w[i])
        ncount[k, a, b] += 1
        wcount[k, a, b] += wi
        true_w[k, a] += wi
        pred_w[k, b] += wi
        wsum[k] += wi
        ocells[a, b] += wi
        otrue[a] += wi
        opred[b] += wi
        ototal[0] += wi


@_jit
def key_indices(x, lut, lo, n, out):
    """Indices of numeric keys ``x`` in a space (look-up table, or 0..n-1 when it is
    empty) into ``out``; the first position not in it, or -1."""
    for i in range(x.shape[0]):
        r = K._index(x[i], lut, lo, n)
        if r < 0:
            return i
        out[i] = r
    return -1


@_jit
def combine(codes, sizes, out):
    """Mixed-radix code of crossed key indices: codes (k, N) int64 -> out (N,)."""
    for i in range(codes.shape[1]):
        c = np.int64(0)
        for j in range(codes.shape[0]):
            c = c * sizes[j] + codes[j, i]
        out[i] = c


# --------------------------------------------------------------------------------------------
# Multi-label, per group: the engine's multi-label row rule (``K._ml_row``) with a group axis
# in front of its state (per-label tp / pred / true and the per-sample histograms).
# Inputs reach these kernels in few dtypes: truth uint8 / int64 / float64, predictions
# uint8 / int64 (indicators) or float32 / float64 (scores), keys int64.
#
# Their bundles: ``rows`` = (t, p, form, thr), the batch (truth and predictions (N, L), the
# prediction form: 0 indicators, 1 scores ``> thr[j]``); ``keys`` = (g, glut, glo, ng, on),
# the engine's key axis (the group); ``tabs`` = (sums, hp, hr, hf, ns), one thread's tables.


@_jit
def ml_first_bad(rows, keys, w, r0):
    """(row, column, code) of the first bad value from row r0 on; (-1, 0, OK) if none.
    ``w``: the weights to check (empty: none)."""
    t, p, form, thr = rows
    g, glut, glo, ng, _ = keys
    has_w = w.shape[0] > 0
    L = t.shape[1]
    for i in range(r0, t.shape[0]):
        if K._index(g[i], glut, glo, ng) < 0:
            return i, 0, ERR_GROUP
        r, j, _ = K._ml_row(t, p, i, form, thr, L)
        if r < 0:
            return i, j, (K.ERR_TRUE_ML if r == -1 else (K.ERR_PRED_ML if r == -2
                                                          else K.ERR_SCORE))
        if has_w:
            wi = w[i]
            if not (wi >= 0.0 and wi < np.inf):
                return i, 0, K.ERR_WEIGHT
    return -1, 0, K.OK


@_jit
def _ml_rows(rows, keys, r0, r1, tabs):
    """Rows [r0, r1) into one thread's tables, one pass and no branch in the inner loops
    (one loop per prediction form, so that LLVM vectorises them across labels). The engine's
    row rule ``K._ml_add_row`` written out with the group's offset: calling it here made
    this kernel 30% slower (benchmarks/README.md, "the key axis"). ``sums``
    flat (ng · 3 · L) = tp / pred / true per group, the histograms (ng, ...), samples per
    group ns (ng,). True if a row held a bad value (then the tables are thrown away)."""
    t, p, form, thr = rows
    g, glut, glo, ng, _ = keys
    sums, hp, hr, hf, ns = tabs
    L = t.shape[1]
    L3 = 3 * L
    bad = False
    for i in range(r0, r1):
        k, okg = K._idx(g[i], glut, glo, ng)
        k = k if okg else 0
        base = k * L3
        ntp = 0
        npred = 0
        ntrue = 0
        ok = okg
        if form == 0:
            for j in range(L):
                a = t[i, j]
                b = p[i, j]
                ta = a == 1
                pb = b == 1
                ok &= (ta | (a == 0)) & (pb | (b == 0))
                x = ta & pb
                sums[np.uint64(base + j)] += x
                sums[np.uint64(base + L + j)] += pb
                sums[np.uint64(base + 2 * L + j)] += ta
                ntp += x
                npred += pb
                ntrue += ta
        else:
            for j in range(L):
                a = t[i, j]
                sc = p[i, j]
                ta = a == 1
                pb = sc > thr[j]
                ok &= (ta | (a == 0)) & ((sc - sc) == 0)
                x = ta & pb
                sums[np.uint64(base + j)] += x
                sums[np.uint64(base + L + j)] += pb
                sums[np.uint64(base + 2 * L + j)] += ta
                ntp += x
                npred += pb
                ntrue += ta
        uk = np.uint64(k)  # unsigned indices: no wrap-around test, loops stay affine
        hp[uk, np.uint64(ntp), np.uint64(npred)] += 1
        hr[uk, np.uint64(ntp), np.uint64(ntrue)] += 1
        hf[uk, np.uint64(ntp), np.uint64(npred + ntrue)] += 1
        ns[uk] += 1
        bad |= not ok
    return bad


@_jit
def ml_count_chunk(rows, keys, r0, r1, tabs):
    """Rows [r0, r1) into one thread's tables (``sums`` flat, (ng, 3, L) in C order); the
    first bad row, or -1. Blocks of rows are counted by ``_ml_rows``; a bad block is
    searched row by row."""
    r = r0
    while r < r1:
        end = min(r1, r + _ML_BLOCK)
        if _ml_rows(rows, keys, r, end, tabs):
            row, _, _ = ml_first_bad(rows, keys, _NOW, r)
            # a block called bad where the row-by-row check finds nothing would be dropped:
            # say so rather than count short
            return row if 0 <= row < end else r
        r = end
    return -1


_ML_BLOCK = 1024
_NOW = np.zeros(0, dtype=np.float64)


_ML_GBLOCK = 4096  # rows per ``_vec_ml`` call (its uint16 counters hold 65535)
ML_VEC_COUNTERS_MAX = 1 << 22  # groups x 3 x Lpad counters (8 MiB); more: ``ml_count_chunk``


@_jit
def ml_vec_chunk(data, keys, span, tabs):
    """``ml_count_chunk`` for uint8 / int8 / bool truth and float scores by the engine's
    vector rows (``K._vec_ml``) with each row's group: data = (t, p, tf, pf: t and p flat,
    thr_pad, thr), keys = (g, glut, glo, ng, _), span = (r0, r1), tabs = (sums flat (ng, 3, L),
    hp, hr, hf, ns). The groups' uint16 counters of a block are added into ``sums`` for the
    groups the block saw. The first bad row, or -1."""
    t, p, tf, pf, thr_pad, thr = data
    g, glut, glo, ng, _ = keys
    r0, r1 = span
    sums, hp, hr, hf, ns = tabs
    n, L = t.shape
    lpad = thr_pad.shape[0]
    acc = np.zeros(ng * 3 * lpad, dtype=np.uint16)
    cnt = np.empty(3 * _ML_GBLOCK, dtype=np.int32)
    gk = np.empty(_ML_GBLOCK, dtype=np.int64)
    seen = np.zeros(ng, dtype=np.bool_)
    touched = np.empty(min(ng, _ML_GBLOCK), dtype=np.int64)
    # as in K._ml_vec_chunk: the rows whose vectors stay inside the batch
    rv_end = max(0, min(r1, n + 1 - (lpad + L - 1) // L))
    r = r0
    while r < rv_end:
        end = min(rv_end, r + _ML_GBLOCK)
        m = end - r
        nt = 0
        okg = True
        for q in range(m):
            k, ok = K._idx(g[r + q], glut, glo, ng)
            okg &= ok
            k = k if ok else 0
            gk[q] = k
            if not seen[k]:
                seen[k] = True
                touched[nt] = k
                nt += 1
        if not okg or not K._vec_ml((tf, pf, thr_pad), (L, r, m), (acc, cnt, gk[:m])):
            row, _, _ = ml_first_bad((t, p, 1, thr), keys, _NOW, r)
            return row if 0 <= row < end else r
        for x in range(nt):
            k = touched[x]
            seen[k] = False
            for c in range(3):
                a0 = (k * 3 + c) * lpad
                s0 = (k * 3 + c) * L
                for j in range(L):
                    sums[s0 + j] += acc[a0 + j]
                    acc[a0 + j] = 0
        for q in range(m):
            uk = np.uint64(gk[q])
            a = np.uint64(cnt[3 * q])
            b = cnt[3 * q + 1]
            c = cnt[3 * q + 2]
            hp[uk, a, np.uint64(b)] += 1
            hr[uk, a, np.uint64(c)] += 1
            hf[uk, a, np.uint64(b + c)] += 1
            ns[uk] += 1
        r = end
    r = max(r, r0)
    if r < r1:
        return ml_count_chunk((t, p, 1, thr), keys, r, r1, tabs)
    return -1


@_jit
def ml_count_into(rows, keys, w, st, ov):
    """Add a validated batch into the weighted state one row at a time in input order: per
    group and over all groups alike, each weighted sum is added as ``np.bincount`` adds it
    on that group's rows (or on all rows). ``st`` = (tp, pred, true, hp, hr, hf, ns, nzero,
    tpw, predw, truew, whp, whr, whf, wsum): per group; ``ov`` = (tpw, predw, truew, whp,
    whr, whf, wsum): over all groups, its ``wsum`` a 1-element array."""
    t, p, form, thr = rows
    g, glut, glo, ng, _ = keys
    tp, pred, true, hp, hr, hf, ns, nzero, tpw, predw, truew, whp, whr, whf, wsum = st
    otpw, opredw, otruew, owhp, owhr, owhf, owsum = ov
    L = t.shape[1]
    for i in range(t.shape[0]):
        k = K._index(g[i], glut, glo, ng)
        wi = np.float64(w[i])
        ntp = 0
        npred = 0
        ntrue = 0
        for j in range(L):
            ta = 1 if t[i, j] == 1 else 0
            if form == 0:
                pb = 1 if p[i, j] == 1 else 0
            else:
                pb = 1 if p[i, j] > thr[j] else 0
            if ta & pb:
                ntp += 1
                tp[k, j] += 1
                tpw[k, j] += wi
                otpw[j] += wi
            if pb:
                npred += 1
                pred[k, j] += 1
                predw[k, j] += wi
                opredw[j] += wi
            if ta:
                ntrue += 1
                true[k, j] += 1
                truew[k, j] += wi
                otruew[j] += wi
        hp[k, ntp, npred] += 1
        hr[k, ntp, ntrue] += 1
        hf[k, ntp, npred + ntrue] += 1
        whp[k, ntp, npred] += wi
        whr[k, ntp, ntrue] += wi
        whf[k, ntp, npred + ntrue] += wi
        owhp[ntp, npred] += wi
        owhr[ntp, ntrue] += wi
        owhf[ntp, npred + ntrue] += wi
        ns[k] += 1
        wsum[k] += wi
        owsum[0] += wi
        if wi == 0.0:
            nzero[k] += 1
