"""numba kernels: arrays in, counts out.

Every kernel validates in the same pass as it counts and returns the first bad position
(and a code saying what was wrong) instead of raising; the Python wrappers raise with words.
Kernels never touch the accumulator's state unless they are the ``*_into`` kind, which the
accumulator calls under its lock after a validating pass, so that an update is all or nothing.

Codes returned with a position: see ``ERR_*`` below.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# One jit policy for every kernel: compiled once, cached on disk, GIL released.
_jit = njit(nogil=True, cache=True)
_pjit = njit(nogil=True, cache=True, parallel=True)

OK = 0
ERR_TRUE = 1  # y_true value not a valid label
ERR_PRED = 2  # y_pred value not a valid label
ERR_WEIGHT = 3  # sample_weight negative or not finite
ERR_SCORE = 4  # y_pred score NaN or infinite
ERR_TRUE_ML = 5  # multi-label truth not 0/1
ERR_PRED_ML = 6  # multi-label prediction not 0/1

# Prediction forms.
PRED_LABELS = 0  # p1[i] is a label
PRED_ARGMAX = 1  # argmax of p2[i, :]
PRED_BINARY = 2  # p1[i] > threshold


@_jit
def _index(v, lut, lo, n):
    """Index of label value ``v`` in the space, -1 if not in it (or not an integer)."""
    iv = np.int64(v)
    if iv != v:
        return -1
    if lut.shape[0] == 0:  # identity space 0..n-1
        if iv < 0 or iv >= n:
            return -1
        return iv
    k = iv - lo
    if k < 0 or k >= lut.shape[0]:
        return -1
    return lut[k]


@_jit
def _column(c, cols_idx, lut, lo, n):
    """Index of class column c: the column itself in a fixed space, else the label value c."""
    if cols_idx:
        return c if c < n else -1
    return _index(c, lut, lo, n)


@_jit
def _pred_index(form, p1, p2, i, thr, cols_idx, lut, lo, n):
    """Index of the prediction of sample i; -1 for a bad label, -2 for a bad score."""
    if form == PRED_LABELS:
        return _index(p1[i], lut, lo, n)
    if form == PRED_BINARY:
        s = p1[i]
        if not np.isfinite(s):
            return -2
        return _column(1 if s > thr else 0, cols_idx, lut, lo, n)
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
    return _column(arg, cols_idx, lut, lo, n)


@_jit
def count(t, form, p1, p2, thr, cols_idx, lut, lo, n, ign, has_ign, table):
    """Count (true, pred) pairs into ``table`` (n, n) int64, a table of the batch's own.

    Returns (position, code); position -1 when the whole batch was valid.
    """
    for i in range(t.shape[0]):
        tv = t[i]
        if has_ign and tv == ign:
            continue
        a = _index(tv, lut, lo, n)
        if a < 0:
            return i, ERR_TRUE
        b = _pred_index(form, p1, p2, i, thr, cols_idx, lut, lo, n)
        if b < 0:
            return i, ERR_PRED if b == -1 else ERR_SCORE
        table[a, b] += 1
    return -1, OK


@_jit
def validate(t, form, p1, p2, thr, cols_idx, w, has_w, lut, lo, n, ign, has_ign):
    """The checks of ``count`` (and of weights) without counting."""
    for i in range(t.shape[0]):
        tv = t[i]
        if has_ign and tv == ign:
            continue
        if _index(tv, lut, lo, n) < 0:
            return i, ERR_TRUE
        b = _pred_index(form, p1, p2, i, thr, cols_idx, lut, lo, n)
        if b < 0:
            return i, ERR_PRED if b == -1 else ERR_SCORE
        if has_w:
            wi = w[i]
            if not (wi >= 0.0 and wi < np.inf):
                return i, ERR_WEIGHT
    return -1, OK


@_jit
def count_into(t, form, p1, p2, thr, cols_idx, w, has_w, lut, lo, n, ign, has_ign,
               ncount, wcount, true_w, pred_w, wsum):
    """Add a validated batch straight into the state, one sample at a time in input order.

    Weighted sums are added sample by sample as ``np.bincount`` does, so that they equal
    scikit-learn's to the last bit across any split into batches. Returns the new ``wsum``.
    """
    for i in range(t.shape[0]):
        tv = t[i]
        if has_ign and tv == ign:
            continue
        a = _index(tv, lut, lo, n)
        b = _pred_index(form, p1, p2, i, thr, cols_idx, lut, lo, n)
        ncount[a, b] += 1
        if has_w:
            wi = np.float64(w[i])
            wcount[a, b] += wi
            true_w[a] += wi
            pred_w[b] += wi
            wsum += wi
    return wsum


@_pjit
def count_parallel(t, p, lut, lo, n, ign, has_ign, nchunks, tables, errs):
    """Labels only, split into ``nchunks`` chunks counted on separate threads.

    ``tables`` is (nchunks, n, n); ``errs`` (nchunks, 2) receives each chunk's first error.
    """
    size = t.shape[0]
    step = (size + nchunks - 1) // nchunks
    for k in prange(nchunks):
        start = k * step
        stop = min(size, start + step)
        tab = tables[k]
        errs[k, 0] = -1
        errs[k, 1] = OK
        for i in range(start, stop):
            tv = t[i]
            if has_ign and tv == ign:
                continue
            a = _index(tv, lut, lo, n)
            if a < 0:
                errs[k, 0] = i
                errs[k, 1] = ERR_TRUE
                break
            b = _index(p[i], lut, lo, n)
            if b < 0:
                errs[k, 0] = i
                errs[k, 1] = ERR_PRED
                break
            tab[a, b] += 1


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
        if not np.isfinite(v) or np.floor(v) != v:
            return i
    return -1


@_jit
def min_max(x):
    lo = x[0]
    hi = x[0]
    for i in range(1, x.shape[0]):
        v = x[i]
        if v < lo:
            lo = v
        elif v > hi:
            hi = v
    return lo, hi


# ---------------------------------------------------------------------------------------------
# Multi-label: per-label [[tn, fp], [fn, tp]] plus per-sample (tp, n_pred, n_true) histograms.


@_jit
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
