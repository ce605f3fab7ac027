"""Multi-label counting: per-label (tp, predicted, true) sums of (N, L) truth and
predictions or scores, validated in the same pass."""

from __future__ import annotations

import numpy as np

from .._errors import ERR_INTERNAL, ERR_PRED_ML, ERR_SCORE, ERR_TRUE_ML, ERR_WEIGHT, OK
from ._rules import _ijit, _jit
from ._simd import SIMD, _ML_W, _vec_ml
from ._threads import _grain, run_chunks, slot_zeros

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
def ml_count_into(rows, w, has_w, st, wsum):
    """Add a validated multi-label batch into the state in input order. ``rows`` = (t, p,
    form, thr): the batch (``_ml_block``); ``st`` = (tp_n, pred_n, true_n, tp_w, pred_w,
    true_w, hist_p, hist_r, hist_f, whist_p, whist_r, whist_f): the state's arrays (the
    weighted ones empty without weights).

    hist_p[tp, n_pred], hist_r[tp, n_true], hist_f[tp, n_pred + n_true] count samples;
    whist_* hold the sums of their weights. Returns (new wsum, zero-weight samples seen).
    """
    t, p, form, thr = rows
    (tp_n, pred_n, true_n, tp_w, pred_w, true_w,
     hist_p, hist_r, hist_f, whist_p, whist_r, whist_f) = st
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


@_ijit
def _ml_add_row(t, p, thr, sums, i, rule):
    """Row i into ``sums`` (flat: tp at base + j, pred at base + L + j, true at base + 2L + j);
    (tp, n_pred, n_true, whether the row was good). ``rule`` = (form, base, L): the scalars
    beside the arrays, as the per-sample helpers of ``_rules`` take them (a tuple of arrays
    would cost reference counts per row). One inner loop per prediction form, without
    branches, so that LLVM vectorises it across labels."""
    form, base, L = rule
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
            sums[np.uint64(base + j)] += x
            sums[np.uint64(base + L + j)] += pb
            sums[np.uint64(base + 2 * L + j)] += ta
            ntp += x
            npred += pb
            ntrue += ta
    else:
        for j in range(L):
            a = t[i, j]
            s = p[i, j]
            ta = a == 1
            pb = s > thr[j]
            ok &= (ta | (a == 0)) & ((s - s) == 0)  # s - s: NaN for NaN and infinities
            x = ta & pb
            sums[np.uint64(base + j)] += x
            sums[np.uint64(base + L + j)] += pb
            sums[np.uint64(base + 2 * L + j)] += ta
            ntp += x
            npred += pb
            ntrue += ta
    return ntp, npred, ntrue, ok


@_jit
def _ml_block(rows, tabs):
    """Count the rows of ``rows`` = (t, p, form, thr) into ``tabs`` = (sums, hp, hr, hf):
    sums (3, L) = tp, pred, true and the histograms. True if a row held a bad value."""
    t, p, form, thr = rows
    sums, hp, hr, hf = tabs
    L = t.shape[1]
    flat = sums.reshape(-1)
    rule = (form, 0, L)
    bad = False
    for i in range(t.shape[0]):
        ntp, npred, ntrue, ok = _ml_add_row(t, p, thr, flat, i, rule)
        hp[np.uint64(ntp), np.uint64(npred)] += 1
        hr[np.uint64(ntp), np.uint64(ntrue)] += 1
        hf[np.uint64(ntp), np.uint64(npred + ntrue)] += 1
        bad |= not ok
    return bad


@_jit
def _ml_chunk(rows, span, tabs, err):
    """Rows [r0, r1) = ``span`` of ``rows`` = (t, p, form, thr) into one thread's tables
    ``tabs`` = (sums, hp, hr, hf); err = (row, column, code) of the first bad."""
    t, p, form, thr = rows
    r0, r1 = span
    err[0] = -1
    err[1] = 0
    err[2] = OK
    r = r0
    while r < r1:
        end = min(r1, r + _ML_BLOCK)
        if _ml_block((t[r:end], p[r:end], form, thr), tabs):
            row, col, code = ml_validate(t[r:end], p[r:end], form, thr, _NOW, False)
            err[0] = r + row
            err[1] = col
            err[2] = code
            return
        r = end


_NOW = np.zeros(0, dtype=np.float64)


ML_PARALLEL_MIN = 1 << 12

_ML_VEC_BLOCK = 255  # rows per ``_vec_ml`` call: its byte counters hold 255
_NO_GROUPS = np.zeros(0, dtype=np.int64)


@_jit
def _ml_vec_chunk(data, span, tabs, err):
    """``_ml_chunk`` for uint8 / int8 / bool truth and float scores, by ``_vec_ml``:
    data = (t, p, tf, pf: t and p flat, thr_pad, thr), span = (r0, r1), tabs = (sums, hp, hr,
    hf). Its plain loads read up to Lpad elements from a row's start: the rows from which
    that would pass the batch's end (its last row or so) go through ``_ml_chunk``."""
    t, p, tf, pf, thr_pad, thr = data
    r0, r1 = span
    sums, hp, hr, hf = tabs
    err[0] = -1
    err[1] = 0
    err[2] = OK
    n, L = t.shape
    lpad = thr_pad.shape[0]
    acc8 = np.zeros(3 * lpad, dtype=np.uint8)
    cnt = np.empty(3 * _ML_VEC_BLOCK, dtype=np.int32)
    # row r's vectors read elements [r * L, r * L + lpad): inside the batch for
    # r * L + lpad <= n * L, i.e. r < n + 1 - ceil(lpad / L)
    rv_end = max(0, min(r1, n + 1 - (lpad + L - 1) // L))
    r = r0
    while r < rv_end:
        end = min(rv_end, r + _ML_VEC_BLOCK)
        if not _vec_ml((tf, pf, thr_pad), (L, r, end - r), (acc8, cnt, _NO_GROUPS)):
            row, col, code = ml_validate(t[r:end], p[r:end], 1, thr, _NOW, False)
            if row < 0:  # the two disagree (a bug): say so rather than count short
                row, col, code = 0, 0, ERR_INTERNAL
            err[0] = r + row
            err[1] = col
            err[2] = code
            return
        for k in range(3):
            for j in range(L):
                sums[k, j] += acc8[k * lpad + j]
        acc8[:] = 0
        for q in range(end - r):
            a = np.uint64(cnt[3 * q])
            b = cnt[3 * q + 1]
            c = cnt[3 * q + 2]
            hp[a, np.uint64(b)] += 1
            hr[a, np.uint64(c)] += 1
            hf[a, np.uint64(b + c)] += 1
        r = end
    r = max(r, r0)
    if r < r1:
        _ml_chunk((t, p, 1, thr), (r, r1), tabs, err)


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
_ML_VEC_SCORES = (np.dtype(np.float32), np.dtype(np.float64))


def ml_vec_thresholds(t, p, form, thr):
    """The padded thresholds of ``_vec_ml`` if a batch takes the vector rows (uint8 / int8 /
    bool truth, float32 / float64 scores, both C-ordered, SIMD on), else None."""
    if not (SIMD and form == 1 and t.dtype in _ML_VEC_TRUTH and p.dtype in _ML_VEC_SCORES
            and t.flags.c_contiguous and p.flags.c_contiguous):
        return None
    return _thresholds_as(np.asarray(thr, dtype=np.float64), p.dtype, _ML_W)


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

    thr_pad = ml_vec_thresholds(t, p, form, thr)
    if thr_pad is not None:
        tf, pf = t.reshape(-1), p.reshape(-1)

        def run(r0, r1, slot):
            err = np.empty(3, dtype=np.int64)
            _ml_vec_chunk((t, p, tf, pf, thr_pad, thr), (r0, r1),
                          (sums[slot], hp[slot], hr[slot], hf[slot]), err)
            return (int(err[0]), int(err[1]), int(err[2])) if err[0] >= 0 else None
    else:
        def run(r0, r1, slot):
            err = np.empty(3, dtype=np.int64)
            _ml_chunk((t, p, form, thr), (r0, r1),
                      (sums[slot], hp[slot], hr[slot], hf[slot]), err)
            return (int(err[0]), int(err[1]), int(err[2])) if err[0] >= 0 else None

    errors = run_chunks(run, n, nslots, _grain(L * (t.itemsize + p.itemsize)))
    if errors:
        return None, min(errors)
    s = sums.sum(axis=0)
    return (s[0], s[1], s[2], hp.sum(axis=0), hr.sum(axis=0), hf.sum(axis=0)), None
