"""numba kernels of the streamed Poisson bootstrap (``ConfusionMatrix(bootstrap=B)``).

Each counted sample gets, in each of the B replicates, an independent Poisson(1) weight; a
replicate table is the sum of (Poisson weight x sample weight) per cell. This is the
"Poisson bootstrap" (Hanley & MacGibbon 2006; Oza's online bagging): its replicates are
the i.i.d. bootstrap's up to the total being Poisson(N) instead of exactly N, and they can
be built one sample at a time, merged by addition, and weighted.

The weights come from a counter-based generator: sample ``i`` of the stream (its position
among all samples the accumulator was given) has the key ``mix(key + GAMMA (i + 1))`` and its
weight in replicate ``r`` is the inversion of ``mix(sample key + GAMMA (r + 1))`` (SplitMix64's
mixer as in ``_boot_kernels``). So the replicates depend only on the seed and the order of
the data, not on how the stream is cut into batches, nor on threads.

Poisson(1) by inversion of a 64-bit uniform against the table of its distribution function
scaled to 2^64 (exact up to that resolution; values past 21, probability < 2e-21, are 22).
The first eight comparisons are done without branches (the value is < 8 but with
probability 1e-5); the rare rest by a loop. A sample's B weights are drawn into a small buffer
by the branch-free comparisons alone (a loop that vectorises), and drawn again with the loop
only when one of them reached 8: with the loop inside, LLVM's vector code went 12x slower
(16.5 -> 1.4 ns per sample and replicate on an AMD EPYC Zen 4), the same values.

The cell of a sample comes from the core's own rule (``_kernels.cells``, computed by the
accumulator before these kernels run); multi-label rows are read with the rule of
``_kernels._multilabel`` (truth == 1, prediction == 1 or score > threshold).
"""

from __future__ import annotations

from decimal import Decimal, getcontext

import numpy as np

from ._boot_kernels import GAMMA, _mix
from ._kernels._jit import _ijit, _jit

_KMAX = 22


def _poisson1_table() -> np.ndarray:
    """floor(P(X <= k) 2^64) for k = 0 .. 21, X ~ Poisson(1), in 40-digit decimals."""
    getcontext().prec = 40
    e = Decimal(1).exp()
    p = 1 / e
    c = Decimal(0)
    out = []
    for k in range(_KMAX):
        c += p
        out.append(min(int(c * (Decimal(2) ** 64)), 2**64 - 1))
        p = p / (k + 1)
    return np.array(out, dtype=np.uint64)


CDF = _poisson1_table()
_T = tuple(np.uint64(v) for v in CDF[:8])
_T0, _T1, _T2, _T3, _T4, _T5, _T6, _T7 = _T


@_ijit
def poisson1(u, cdf):
    """Poisson(1) from the uniform uint64 ``u``: the number of table entries <= u."""
    k = (np.int64(u >= _T0) + np.int64(u >= _T1) + np.int64(u >= _T2) + np.int64(u >= _T3)
         + np.int64(u >= _T4) + np.int64(u >= _T5) + np.int64(u >= _T6))
    if u >= _T7:  # probability 1e-5
        k = 8
        while k < _KMAX and u >= cdf[k]:
            k += 1
    return k


@_ijit
def _sample_key(key, pos):
    return _mix(key + GAMMA * np.uint64(pos + 1))


@_ijit
def sample_weights(sk, cdf, out):
    """The Poisson weights of the sample with key ``sk`` in replicates 0 .. len(out) - 1,
    into the int64 buffer ``out``: the branch-free part for all (vectorised), ``poisson1``'s
    loop again for all only when one of them is 8 or more (probability ~1e-5 each)."""
    rare = False
    for r in range(out.shape[0]):
        u = _mix(sk + GAMMA * np.uint64(r + 1))
        out[r] = (np.int64(u >= _T0) + np.int64(u >= _T1) + np.int64(u >= _T2)
                  + np.int64(u >= _T3) + np.int64(u >= _T4) + np.int64(u >= _T5)
                  + np.int64(u >= _T6))
        rare |= u >= _T7
    if rare:
        for r in range(out.shape[0]):
            out[r] = poisson1(_mix(sk + GAMMA * np.uint64(r + 1)), cdf)


@_jit
def draw_weights(key, pos0, n, nrep, cdf, out):
    """The (n, nrep) Poisson weights of samples pos0 .. pos0 + n - 1 (tests, references):
    ``poisson1`` one at a time, not ``sample_weights``, so that it checks that one."""
    for i in range(n):
        sk = _sample_key(key, pos0 + i)
        for r in range(nrep):
            out[i, r] = poisson1(_mix(sk + GAMMA * np.uint64(r + 1)), cdf)


# ``stream`` = (key, pos0, cdf): the accumulator's seed key, the position in its stream of
# the batch's first sample, and ``CDF``.


@_jit
def add_cells_replicates(cells, w, has_w, stream, rep):
    """Add each counted sample's Poisson weights (times its weight) into its cell of every
    replicate: ``rep`` is (cells, B) float64, ``cells[i]`` the cell of sample pos0 + i (-1:
    not counted, ``ignore_index``; its position is used up all the same)."""
    key, pos0, cdf = stream
    nrep = rep.shape[1]
    kb = np.empty(nrep, np.int64)
    for i in range(cells.shape[0]):
        c = cells[i]
        if c < 0:
            continue
        sample_weights(_sample_key(key, pos0 + i), cdf, kb)
        row = rep[c]
        if has_w:
            wi = np.float64(w[i])
            for r in range(nrep):
                row[r] += kb[r] * wi
        else:
            for r in range(nrep):
                row[r] += kb[r]


@_jit
def add_multilabel_replicates(rows, w, has_w, stream, reps):
    """A validated multi-label batch ``rows`` = (t, p, form, thr) into the replicates ``reps``
    = (tp, pred, true, samp): ``tp``, ``pred``, ``true`` (L, B) per-label sums of the
    weights; ``samp`` (7, B): the total weight, then for precision, recall and F1 the sum of
    weight x per-sample score over the samples where it is defined and the weight of the
    samples where it is not (``zero_division``)."""
    t, p, form, thr = rows
    key, pos0, cdf = stream
    tp, pred, true, samp = reps
    L = t.shape[1]
    nrep = tp.shape[1]
    k = np.empty(nrep)
    kb = np.empty(nrep, np.int64)
    for i in range(t.shape[0]):
        sample_weights(_sample_key(key, pos0 + i), cdf, kb)
        wi = np.float64(w[i]) if has_w else 1.0
        for r in range(nrep):
            k[r] = kb[r] * wi
        ntp = 0
        npred = 0
        ntrue = 0
        for j in range(L):
            ta = 1 if t[i, j] == 1 else 0
            if form == 0:
                pb = 1 if p[i, j] == 1 else 0
            else:
                pb = 1 if p[i, j] > thr[j] else 0
            if pb:
                npred += 1
                for r in range(nrep):
                    pred[j, r] += k[r]
            if ta:
                ntrue += 1
                for r in range(nrep):
                    true[j, r] += k[r]
            if ta & pb:
                ntp += 1
                for r in range(nrep):
                    tp[j, r] += k[r]
        for r in range(nrep):
            samp[0, r] += k[r]
        for q, d, num in ((0, npred, ntp), (1, ntrue, ntp), (2, npred + ntrue, 2 * ntp)):
            if d == 0:
                for r in range(nrep):
                    samp[2 + 2 * q, r] += k[r]
            elif num > 0:
                s = num / d
                for r in range(nrep):
                    samp[1 + 2 * q, r] += k[r] * s
