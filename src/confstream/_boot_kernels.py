"""numba kernels of the count-drawn bootstrap.

A bootstrap replicate of an unweighted confusion table is Multinomial(N, p) with
p = counts / N over its K non-zero cells. It is drawn here without a multinomial sampler:

1. each cell gets an independent Poisson(lam * p_k) count, lam = N - h sqrt(N); their sum M
   is Poisson(lam) and, given M = m, the cells are Multinomial(m, p);
2. if M > N the replicate is drawn again: conditioning on M <= N changes only the law of M,
   never the law of the cells given M;
3. N - M more samples (about h sqrt(N)) are added one by one from p (Walker's alias table):
   Multinomial(m, p) plus Multinomial(N - m, p) is Multinomial(N, p).

``h`` (``poisson_mean``) trades the redraws of step 2 (K cells each) against the single draws
of step 3: few cells, small h; many cells, h near 2.

So each replicate is exactly Multinomial(N, p) (up to the 2^-53 resolution of the uniform
variates, as for any inversion sampler). The Poisson draws are inversions of per-cell tables of
the cumulative distribution (built once per call, the same for every replicate, searched through a
guide table: about one comparison per draw), with exact fall-backs beyond the tables' 8.5 sd
range; cells whose tables would not fit the memory cap use Hörmann's PTRS rejection sampler (as
numpy's Poisson for large means). Cells are visited in an outer loop and replicates in an inner
one, in blocks whose margins stay in cache.

Random numbers come from SplitMix64 used as a counter-based generator: replicate ``b``'s key is a
hash of (seed key, attempt, b), cell ``k``'s variate a hash of (replicate key, k). So a replicate
does not depend on the block size, on ``n_resamples`` (the first 1,000 of 2,000 replicates are
the 1,000 replicates), nor on the order of the loops.

Only the margins the metrics need are kept: per replicate the diagonal, the row sums and column
sums (and optionally ``sum(w * table)`` for given cell weights ``w``).
"""

from __future__ import annotations

import math

import numpy as np
from ._kernels._jit import _ijit, _jit

GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_FIX = np.uint64(0xD1B54A32D192ED03)
_U11 = np.uint64(11)
_U27 = np.uint64(27)
_U30 = np.uint64(30)
_U31 = np.uint64(31)
_ONE = np.uint64(1)
_TWO_M53 = 1.0 / 9007199254740992.0

SMALL_TABLE = 48  # tables from 0 up to this length are counted through, without a search
T_TABLE = 0  # cell drawn from its table
T_SMALL = 1  # no table, mean < 10: sequential inversion
T_PTRS = 2   # no table, mean >= 10: PTRS


@_ijit
def _mix(z):
    z = (z ^ (z >> _U30)) * _M1
    z = (z ^ (z >> _U27)) * _M2
    return z ^ (z >> _U31)


@_ijit
def _unit(x):
    """A uint64 to a float in [0, 1) with 53 random bits."""
    return np.float64(x >> _U11) * _TWO_M53


@_ijit
def _replicate_key(key, attempt, b):
    return _mix(_mix(key + GAMMA * np.uint64(attempt + 1)) + GAMMA * np.uint64(b + 1))


def poisson_mean(total, cells):
    """lam = N - h sqrt(N) minimising the expected cost of a replicate: the cells' draws,
    repeated with probability P(M > N), plus about h sqrt(N) single draws (costs measured:
    a single draw about 1.5 times a cell's)."""
    root = math.sqrt(total)
    best, best_cost = 0.0, math.inf
    for i in range(61):
        h = i * 0.05
        reject = 0.5 * math.erfc(h / math.sqrt(2.0))  # P(Z > h), the normal limit
        cost = cells / (1.0 - reject) + 1.5 * h * root
        if cost < best_cost:
            best, best_cost = h, cost
    return max(total - best * root, 0.0)


def table_layout(mu, cap=1 << 22, width_sd=8.5, width_add=8):
    """Which cells get a table and where: ``(kind, offs, k0)`` (numpy, outside numba).

    A table spans [max(0, floor(mu) - w), floor(mu) + w] with w = ceil(8.5 sqrt(mu)) + 8
    (beyond it: less than 1e-17 of the mass, drawn by the exact walks of ``_poisson_slow``);
    the smallest tables are given memory first, up to ``cap`` entries in all.
    """
    mu = np.asarray(mu, dtype=np.float64)
    mode = np.floor(mu).astype(np.int64)
    w = np.ceil(width_sd * np.sqrt(mu)).astype(np.int64) + width_add
    k0 = np.maximum(mode - w, 0)
    size = mode + w - k0 + 1
    order = np.argsort(size, kind="stable")
    fits = np.cumsum(size[order]) <= cap
    has = np.zeros(mu.shape[0], dtype=bool)
    has[order[fits]] = True
    kind = np.where(has, T_TABLE, np.where(mu < 10, T_SMALL, T_PTRS)).astype(np.int64)
    lens = np.where(has, size, 0)
    offs = np.zeros(mu.shape[0] + 1, dtype=np.int64)
    np.cumsum(lens, out=offs[1:])
    return kind, offs, k0


# The argument bundles of ``build_tables`` and ``draw_margins`` (plain tuples, unpacked once
# per call, as in ``_kernels._rules``):
#   layout = (mu, kind, offs, k0s): each cell's Poisson mean and its table's kind, offset
#            and first value (``table_layout``);
#   tables = (cdf, guide, flo, fhi, scale, pk0, pk1, emu): what ``build_tables`` fills;
#   cells  = (total, lam, rows, cols, lin, aprob, alias): the table to draw from (N, the
#            Poisson total's mean, each non-zero cell's row and column, the linear weights
#            of ``extra``, the alias table of its probabilities);
#   job    = (key, b0, b1, block): the seed key and the replicates to draw, in blocks;
#   out    = (tp_out, true_out, pred_out, extra_out).


@_jit
def build_tables(layout, tables):
    """Fill each table cell's normalised CDF over its range, the mass below it (``flo``),
    its last value (``fhi``), the pmf at both ends and its guide table; ``emu`` = exp(-mu).
    ``layout``, ``tables``: the bundles above."""
    mu, kind, offs, k0s = layout
    cdf, guide, flo, fhi, scale, pk0, pk1, emu = tables
    for c in range(mu.shape[0]):
        m = mu[c]
        emu[c] = math.exp(-m)
        if kind[c] != T_TABLE:
            continue
        o = offs[c]
        n = offs[c + 1] - o
        k0 = k0s[c]
        k1 = k0 + n - 1
        mode = np.int64(math.floor(m))
        # unnormalised pmf, 1 at the mode, by the ratios pmf(k+1) / pmf(k) = m / (k + 1)
        cdf[o + mode - k0] = 1.0
        v = 1.0
        for k in range(mode, k0, -1):
            v = v * k / m
            cdf[o + k - 1 - k0] = v
        low = 0.0
        k = k0
        while k > 0:  # the mass below the table: terms fall faster than geometrically
            v = v * k / m
            low += v
            k -= 1
            if v <= 1e-20 * low:
                break
        v = 1.0
        for k in range(mode, k1):
            v = v * m / (k + 1)
            cdf[o + k + 1 - k0] = v
        high = 0.0
        k = k1
        while True:
            v = v * m / (k + 1)
            high += v
            k += 1
            if v <= 1e-20 * high:
                break
        total = low + high
        for i in range(n):
            total += cdf[o + i]
        pk0[c] = cdf[o] / total
        pk1[c] = cdf[o + n - 1] / total
        acc = low
        for i in range(n):
            acc += cdf[o + i]
            cdf[o + i] = acc / total
        flo[c] = low / total
        fhi[c] = cdf[o + n - 1]
        sc = 2 * n / (fhi[c] - flo[c])
        scale[c] = sc
        # guide[i] (2 n slots): the first table position t whose value maps to a slot >= i;
        # the search from there takes one step or none, mostly
        t = 0
        for i in range(2 * n):
            while t < n - 1 and np.int64((cdf[o + t] - flo[c]) * sc) < i:
                t += 1
            guide[2 * o + i] = t


@_ijit
def _poisson_small(u, m, em):
    x = 0
    p = em
    f = p
    while u >= f:
        x += 1
        p = p * m / x
        if p == 0.0:
            break
        f += p
    return x


@_ijit
def _poisson_ptrs(x, m):
    """Hörmann's PTRS (numpy's ``random_poisson_ptrs``) on the variates of stream ``x``."""
    slam = math.sqrt(m)
    loglam = math.log(m)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2)
    i = np.uint64(1)
    while True:
        u = _unit(_mix(x + GAMMA * i)) - 0.5
        v = _unit(_mix(x + GAMMA * (i + _ONE)))
        i += np.uint64(2)
        us = 0.5 - abs(u)
        k = math.floor((2 * a / us + b) * u + m + 0.43)
        if us >= 0.07 and v <= vr:
            return np.int64(k)
        if k < 0 or (us < 0.013 and v > us):
            continue
        if (math.log(v) + math.log(invalpha) - math.log(a / (us * us) + b)
                <= -m + k * loglam - math.lgamma(k + 1)):
            return np.int64(k)


@_jit
def _poisson_slow(kd, x, u, m, em, tab):
    """Poisson(m) where a table does not answer: no table, or ``u`` beyond the table's range;
    ``em`` = exp(-m), ``tab`` = (k0, n, flo, fhi, pk0, pk1) of the cell's table. Scalars only
    (a call with arrays costs their reference counts)."""
    k0, n, flo, fhi, pk0, pk1 = tab
    if kd == T_SMALL:
        return _poisson_small(u, m, em)
    if kd == T_PTRS:
        return _poisson_ptrs(x, m)
    if u < flo:  # below the table (mass < 1e-17): walk down from its first entry
        k = k0 - 1
        f = flo
        p = pk0 * k0 / m
        while k > 0:
            g = f - p
            if g <= u:
                break
            f = g
            p = p * k / m
            k -= 1
        return k
    k = k0 + n - 1  # above the table: walk up from its last entry
    f = fhi
    p = pk1
    while True:
        k += 1
        p = p * m / k
        f += p
        if f > u or p == 0.0:
            return k


@_jit
def alias_table(p, prob, alias):
    """Walker's alias table (Vose's construction) of the probabilities ``p``."""
    k = p.shape[0]
    small = np.empty(k, dtype=np.int64)
    large = np.empty(k, dtype=np.int64)
    q = p * k
    ns = 0
    nl = 0
    for i in range(k):
        if q[i] < 1.0:
            small[ns] = i
            ns += 1
        else:
            large[nl] = i
            nl += 1
    while ns > 0 and nl > 0:
        ns -= 1
        s = small[ns]
        nl -= 1
        g = large[nl]
        prob[s] = q[s]
        alias[s] = g
        q[g] = (q[g] + q[s]) - 1.0
        if q[g] < 1.0:
            small[ns] = g
            ns += 1
        else:
            large[nl] = g
            nl += 1
    for i in range(nl):
        prob[large[i]] = 1.0
        alias[large[i]] = large[i]
    for i in range(ns):  # left over by rounding: their q is 1 up to an ulp
        prob[small[i]] = 1.0
        alias[small[i]] = small[i]


@_jit
def draw_margins(job, cells, layout, tables, out):
    """Replicates b0 .. b1 - 1 into the (C, B) margins ``*_out`` and the (L, B) ``extra_out``
    (the bundles above)."""
    key, b0, b1, block = job
    total, lam, rows, cols, lin, aprob, alias = cells
    mu, kind, offs, k0s = layout
    cdf, guide, flo, fhi, scale, pk0, pk1, emu = tables
    tp_out, true_out, pred_out, extra_out = out
    k = rows.shape[0]
    c_all = tp_out.shape[0]
    nl = lin.shape[0]
    for s in range(b0, b1, block):
        e = min(s + block, b1)
        nb = e - s
        tp = np.zeros((c_all, nb), dtype=np.int64)
        tr = np.zeros((c_all, nb), dtype=np.int64)
        pr = np.zeros((c_all, nb), dtype=np.int64)
        ex = np.zeros((nl, nb), dtype=np.float64)
        m = np.zeros(nb, dtype=np.int64)
        rk = np.empty(nb, dtype=np.uint64)
        attempt = np.zeros(nb, dtype=np.int64)
        active = np.arange(nb)
        pend = np.empty(nb, dtype=np.int64)
        ubuf = np.empty(nb, dtype=np.float64)
        cnt = np.empty(nb, dtype=np.int64)
        na = nb if lam > 0 else 0
        for j in range(nb):
            rk[j] = _replicate_key(key, 0, s + j)
        while na > 0:  # the Poisson cells of the active replicates
            for c in range(k):
                cg = GAMMA * np.uint64(c + 1)
                r = rows[c]
                q = cols[c]
                dg = r == q
                kd = kind[c]
                o = offs[c]
                n = offs[c + 1] - o
                k0 = k0s[c]
                f0 = flo[c]
                f1 = fhi[c]
                sc = scale[c]
                if kd == T_TABLE and k0 == 0 and n <= SMALL_TABLE:
                    # A short table from 0 (a small mean): the draw is the number of table
                    # entries <= u, counted without branches across the replicates (the same
                    # variate as the guided search below, so the same replicates).
                    # Counted through the first m entries only (u below entry m - 1 but with
                    # probability 1e-3; then the count goes on one entry at a time).
                    mc = 1
                    while mc < n and cdf[o + mc - 1] < 0.999:
                        mc += 1
                    for jj in range(na):
                        ubuf[jj] = _unit(_mix(rk[active[jj]] + cg))
                        cnt[jj] = 0
                    for i in range(mc):
                        ci = cdf[o + i]
                        for jj in range(na):
                            cnt[jj] += ubuf[jj] >= ci
                    last = cdf[o + mc - 1]
                    npend = 0
                    for jj in range(na):
                        j = active[jj]
                        u = ubuf[jj]
                        if u < f1:
                            x = cnt[jj]
                            if u >= last:
                                while cdf[o + x] <= u:
                                    x += 1
                            tr[r, j] += x
                            pr[q, j] += x
                            if dg:
                                tp[r, j] += x
                            for l in range(nl):
                                ex[l, j] += lin[l, c] * x
                        else:  # beyond the table (mass < 1e-17): after this loop
                            pend[npend] = j
                            npend += 1
                elif kd == T_TABLE:
                    npend = 0
                    for jj in range(na):
                        j = active[jj]
                        u = _unit(_mix(rk[j] + cg))
                        if f0 <= u < f1:  # the common case: the table and its guide
                            i = np.int64((u - f0) * sc)
                            if i > 2 * n - 1:
                                i = 2 * n - 1
                            t = np.int64(guide[2 * o + i])
                            t += np.int64(cdf[o + t] <= u)  # no branch for the usual step
                            while cdf[o + t] <= u:
                                t += 1
                            x = k0 + t
                            tr[r, j] += x
                            pr[q, j] += x
                            if dg:
                                tp[r, j] += x
                            if nl:
                                for l in range(nl):
                                    ex[l, j] += lin[l, c] * x
                        else:  # beyond the table (mass < 1e-17): after this loop
                            pend[npend] = j
                            npend += 1
                else:
                    for jj in range(na):
                        pend[jj] = active[jj]
                    npend = na
                # no array slices here: each one costs reference counts, per cell and block
                for jj in range(npend):
                    j = pend[jj]
                    z = _mix(rk[j] + cg)
                    x = _poisson_slow(kd, z, _unit(z), mu[c], emu[c],
                                      (k0, n, f0, f1, pk0[c], pk1[c]))
                    tr[r, j] += x
                    pr[q, j] += x
                    if dg:
                        tp[r, j] += x
                    for l in range(nl):
                        ex[l, j] += lin[l, c] * x
            # a replicate whose Poisson total passed N is drawn again (new attempt key)
            nn = 0
            for jj in range(na):
                j = active[jj]
                mj = 0
                for i in range(c_all):
                    mj += tr[i, j]
                m[j] = mj
                if mj > total:
                    attempt[j] += 1
                    rk[j] = _replicate_key(key, attempt[j], s + j)
                    for i in range(c_all):
                        tp[i, j] = 0
                        tr[i, j] = 0
                        pr[i, j] = 0
                    for l in range(nl):
                        ex[l, j] = 0.0
                    m[j] = 0
                    active[nn] = j
                    nn += 1
            na = nn
        for j in range(nb):
            fk = _mix(rk[j] ^ _FIX)
            for i in range(total - m[j]):  # the rest, one sample at a time
                g = GAMMA * np.uint64(2 * i + 1)
                c = np.int64(_unit(_mix(fk + g)) * k)
                if c >= k:
                    c = k - 1
                a = alias[c]
                c = a if _unit(_mix(fk + g + GAMMA)) >= aprob[c] else c
                r = rows[c]
                q = cols[c]
                tr[r, j] += 1
                pr[q, j] += 1
                tp[r, j] += r == q
                for l in range(nl):
                    ex[l, j] += lin[l, c]
        for i in range(c_all):
            for j in range(nb):
                tp_out[i, s + j] = tp[i, j]
                true_out[i, s + j] = tr[i, j]
                pred_out[i, s + j] = pr[i, j]
        for l in range(nl):
            for j in range(nb):
                extra_out[l, s + j] = ex[l, j]


# ---------------------------------------------------------------------------------------------
# the report's values on every replicate, and percentiles over replicates


@_ijit
def _div(a, b):
    return a / b if b != 0 else np.nan


@_jit
def report_values(tp, true, pred, sel, zval, out):
    """Precision, recall and F1 of the report's rows on each replicate (columns).

    ``tp``/``true``/``pred``: (C, B) margins; ``sel``: (R,) indices into C, -1 for a label
    without samples (zeros). ``out``: (R + 3, 3, B): rows, micro, macro and weighted averages;
    per-row values NaN where undefined, averages as scikit-learn's with ``zval`` for the
    undefined classes (NaN: skipped).
    """
    r_all = sel.shape[0]
    nb = tp.shape[1]
    skip = zval != zval
    for b in range(nb):
        st = 0.0
        sp = 0.0
        sr = 0.0
        msum = np.zeros(3)
        mcnt = np.zeros(3)
        wsum = np.zeros(3)
        wcnt = np.zeros(3)
        for i in range(r_all):
            ix = sel[i]
            if ix >= 0:
                t = np.float64(tp[ix, b])
                n_true = np.float64(true[ix, b])
                n_pred = np.float64(pred[ix, b])
            else:
                t = 0.0
                n_true = 0.0
                n_pred = 0.0
            st += t
            sp += n_pred
            sr += n_true
            v0 = _div(t, n_pred)
            v1 = _div(t, n_true)
            v2 = _div(2 * t, n_true + n_pred)
            out[i, 0, b] = v0
            out[i, 1, b] = v1
            out[i, 2, b] = v2
            for q in range(3):
                v = out[i, q, b]
                if v != v:
                    v = zval
                if skip and v != v:
                    continue
                msum[q] += v
                mcnt[q] += 1.0
                wsum[q] += v * n_true
                wcnt[q] += n_true
        out[r_all, 0, b] = _div(st, sp)
        out[r_all, 1, b] = _div(st, sr)
        out[r_all, 2, b] = _div(2 * st, sr + sp)
        for q in range(3):
            v = out[r_all, q, b]
            if v != v:
                out[r_all, q, b] = zval
            mean = _div(msum[q], mcnt[q])
            out[r_all + 1, q, b] = mean
            out[r_all + 2, q, b] = wsum[q] / wcnt[q] if wcnt[q] != 0 else mean


@_ijit
def _kth(buf, n, k):
    """The k-th smallest of buf[:n] (quickselect, reorders buf[:n])."""
    lo = 0
    hi = n - 1
    while lo < hi:
        mid = (lo + hi) >> 1
        # median of three as the pivot
        a, b, c = buf[lo], buf[mid], buf[hi]
        if a > b:
            a, b = b, a
        if b > c:
            b = c
            if a > b:
                b = a
        pivot = b
        i = lo
        j = hi
        while i <= j:
            while buf[i] < pivot:
                i += 1
            while buf[j] > pivot:
                j -= 1
            if i <= j:
                buf[i], buf[j] = buf[j], buf[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return buf[k]
    return buf[k]


@_ijit
def _quantile(buf, n, q):
    """numpy's default ("linear") quantile of buf[:n]."""
    h = (n - 1) * q
    i0 = np.int64(math.floor(h))
    if i0 < 0:
        i0 = 0
    if i0 > n - 1:
        i0 = n - 1
    g = h - i0
    a = _kth(buf, n, i0)
    if i0 + 1 >= n or g == 0.0:
        return a
    b = buf[i0 + 1]
    for i in range(i0 + 2, n):  # after the selection every later entry is >= a
        if buf[i] < b:
            b = buf[i]
    d = b - a
    if g >= 0.5:
        return b - d * (1.0 - g)
    return a + d * g


@_jit
def percentiles(values, qlo, qhi, lo, hi):
    """Per row of ``values`` (M, B): the ``qlo[i]`` and ``qhi[i]`` quantiles of its non-NaN
    entries (NaN for a row without any, or for a NaN level)."""
    nb = values.shape[1]
    buf = np.empty(nb)
    for i in range(values.shape[0]):
        n = 0
        for b in range(nb):
            v = values[i, b]
            if v == v:
                buf[n] = v
                n += 1
        if n == 0 or qlo[i] != qlo[i]:
            lo[i] = np.nan
        else:
            lo[i] = _quantile(buf, n, qlo[i])
        if n == 0 or qhi[i] != qhi[i]:
            hi[i] = np.nan
        else:
            hi[i] = _quantile(buf, n, qhi[i])


@_jit
def below_counts(values, ref, less, less_equal, defined):
    """Per row: how many non-NaN entries are < ``ref[i]`` and <= it, and how many there are."""
    for i in range(values.shape[0]):
        a = 0
        e = 0
        n = 0
        r = ref[i]
        for b in range(values.shape[1]):
            v = values[i, b]
            if v == v:
                n += 1
                if v < r:
                    a += 1
                if v <= r:
                    e += 1
        less[i] = a
        less_equal[i] = e
        defined[i] = n


@_jit
def jackknife_acceleration(jack, weights, a):
    """Per row of ``jack`` (M, K): sum w d^3 / (6 (sum w d^2)^1.5), d = mean - jack, over the
    non-NaN entries with weights ``w`` (NaN when none; 0 when all are equal)."""
    for i in range(jack.shape[0]):
        sw = 0.0
        s = 0.0
        for k in range(jack.shape[1]):
            v = jack[i, k]
            if v == v:
                sw += weights[k]
                s += weights[k] * v
        if sw == 0.0:
            a[i] = np.nan
            continue
        mean = s / sw
        num = 0.0
        den = 0.0
        for k in range(jack.shape[1]):
            v = jack[i, k]
            if v == v:
                d = mean - v
                num += weights[k] * d * d * d
                den += weights[k] * d * d
        a[i] = num / (6.0 * den ** 1.5) if den > 0 else 0.0
