"""The drop-ins' order of the scores: an O(N) stable LSD radix order of their
order-preserving 64-bit keys (float32 widened exactly, -0.0 folded onto 0.0), where
scikit-learn sorts (``sklearn_ranking``, from ``RADIX_MIN`` scores on)."""

from __future__ import annotations

import numpy as np
from numba.cpython.unsafe.numbers import leading_zeros

from ._kernels._jit import _ijit, _jit

_U1 = np.uint64(1)
_TOPBIT = np.uint64(1) << np.uint64(63)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


@_ijit
def _key(x, wide):
    """(key, ok) of a float32 (``wide`` False; ``x`` holds its bits) or float64 (bits)."""
    if wide:
        b = np.uint64(x)
        if ((b >> np.uint64(52)) & np.uint64(0x7FF)) == np.uint64(0x7FF):
            return np.uint64(0), False
    else:
        u = np.uint64(x) & np.uint64(0xFFFFFFFF)
        e8 = (u >> np.uint64(23)) & np.uint64(0xFF)
        if e8 == np.uint64(0xFF):
            return np.uint64(0), False
        sign = u >> np.uint64(31)
        m = u & np.uint64(0x7FFFFF)
        if e8 == np.uint64(0):
            if m == np.uint64(0):
                b = np.uint64(0)
            else:  # subnormal float32: m * 2^-149, a normal float64
                p = np.uint64(63) - np.uint64(leading_zeros(m))
                ex = np.uint64(1023 - 149) + p
                b = (ex << np.uint64(52)) | ((m - (_U1 << p)) << (np.uint64(52) - p))
        else:
            b = ((e8 + np.uint64(1023 - 127)) << np.uint64(52)) | (m << np.uint64(29))
        b = b | (sign << np.uint64(63))
    if b == _TOPBIT:  # -0.0
        b = np.uint64(0)
    if b & _TOPBIT:
        return b ^ _ALL, True
    return b | _TOPBIT, True



@_jit
def radix_runs(s, wide, y, w, has_w):
    """Distinct scores in increasing order by a stable LSD radix order of their keys (11-bit
    digits; a digit every key shares is skipped): per distinct score, the first sample's
    index (the smallest among equal scores, whose value scikit-learn's thresholds show) and
    the positive and negative mass (``y`` 0/1, weights ``w`` when ``has_w``). ``s``: float32
    (``wide`` False) or float64 bit patterns, all finite. Returns (first, pos, neg)."""
    n = s.shape[0]
    keys = np.empty(n, np.uint64)
    for i in range(n):
        keys[i], _ = _key(s[i], wide)
    hist = np.zeros((6, 2048), np.int64)
    for i in range(n):
        k = keys[i]
        for d in range(6):
            hist[d, np.int64((k >> np.uint64(11 * d)) & np.uint64(2047))] += 1
    perm = np.arange(n)
    k2 = np.empty(n, np.uint64)
    p2 = np.empty(n, np.int64)
    off = np.empty(2048, np.int64)
    for d in range(6):
        if hist[d].max() == n:
            continue
        acc = 0
        for b in range(2048):
            off[b] = acc
            acc += hist[d, b]
        sh = np.uint64(11 * d)
        for i in range(n):
            k = keys[i]
            b = np.int64((k >> sh) & np.uint64(2047))
            o = off[b]
            off[b] = o + 1
            k2[o] = k
            p2[o] = perm[i]
        keys, k2 = k2, keys
        perm, p2 = p2, perm
    first = np.empty(n, np.int64)
    pos = np.empty(n)
    neg = np.empty(n)
    m = 0
    i = 0
    while i < n:
        k = keys[i]
        first[m] = perm[i]
        ps = 0.0
        ns = 0.0
        while i < n and keys[i] == k:
            j = perm[i]
            wt = w[j] if has_w else 1.0
            if y[j]:
                ps += wt
            else:
                ns += wt
            i += 1
        pos[m] = ps
        neg[m] = ns
        m += 1
    return first[:m], pos[:m], neg[:m]
