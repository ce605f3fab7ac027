"""Confidence intervals from counts: pure functions, no state, no scipy.

Four methods:

* ``"wilson"`` and ``"clopper-pearson"`` for binomial proportions (per-class precision and
  recall, accuracy): equal to statsmodels' ``proportion_confint(method="wilson" | "beta")``.
  The beta quantile of Clopper–Pearson is solved here (safeguarded Newton on the regularized
  incomplete beta function, whose power terms are computed as in TOMS 708 so that large
  counts keep full precision), so the core needs numpy only.
* ``"bootstrap"``: the i.i.d. bootstrap drawn from the counts. For unweighted data the
  bootstrap distribution of a confusion table is Multinomial(N, counts / N), so replicate
  tables are drawn from the counts (exactly that law, by the numba kernel of
  ``_boot_kernels``: only the margins are kept) and every metric is computed on all
  replicates at once; the interval is the percentile interval (numpy's default "linear"
  quantile) of the replicate values. Same counts and seed give the same interval, so merged
  shards give the interval of one stream.
* ``"bca"``: the same replicates read at the bias-corrected and accelerated levels of
  ``bca_levels`` (scipy.stats.bootstrap's ``method="BCa"``), the jackknife done over the
  non-zero cells weighted by their counts.

Undefined replicates (scikit-learn's ``zero_division`` cases): a per-class value whose
denominator is zero in a replicate (e.g. recall of a class that no resampled row belongs to)
is left out of that class's interval, as Wilson and Clopper–Pearson condition on the
denominator too; an average is computed as scikit-learn computes it on the replicate
(``zero_division`` value for the undefined classes, ``"warn"`` acting as 0 without warning,
NaNs skipped for ``zero_division=np.nan``). A value undefined in every replicate has the
interval ``(nan, nan)``.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import NamedTuple

import numpy as np
from numba import get_num_threads

from . import _kernels as K

__all__ = ["Interval", "METHODS", "check_ci", "wilson", "clopper_pearson",
           "proportion_interval", "betainc", "beta_ppf", "binom_cdf",
           "bootstrap_margins", "replicate_prfs", "percentile_interval"]

METHODS = ("bootstrap", "bca", "wilson", "clopper-pearson")
BOOTSTRAPS = ("bootstrap", "bca")


class Interval(NamedTuple):
    """A confidence interval; a plain ``(low, high)`` tuple."""

    low: float
    high: float


def check_ci(ci, method="bootstrap", n_resamples=1000):
    """Validate the interval arguments; return ``(ci, method)`` normalised."""
    if isinstance(ci, bool) or not isinstance(ci, (int, float, np.floating, np.integer)):
        raise TypeError(f"ci must be a float in (0, 1), got {ci!r}")
    ci = float(ci)
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci must be in (0, 1) (e.g. 0.95), got {ci!r}")
    m = method.lower().replace("_", "-") if isinstance(method, str) else method
    m = {"clopper": "clopper-pearson", "beta": "clopper-pearson", "exact": "clopper-pearson",
         "percentile": "bootstrap", "bca-bootstrap": "bca"}.get(m, m)
    if m not in METHODS:
        raise ValueError(f"unknown ci_method {method!r}; one of {list(METHODS)}")
    if m in BOOTSTRAPS:
        if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)):
            raise TypeError(f"n_resamples must be an int >= 1, got {n_resamples!r}")
        if n_resamples < 1:
            raise ValueError(f"n_resamples must be at least 1, got {n_resamples!r}")
    return ci, m


def _z(alpha_half: float) -> float:
    """The standard normal upper ``alpha_half`` quantile (scipy's ``norm.isf``)."""
    return -NormalDist().inv_cdf(alpha_half)


# ---------------------------------------------------------------------------------------------
# binomial proportions


def _as_counts(count, nobs):
    k = np.asarray(count, dtype=np.float64)
    n = np.asarray(nobs, dtype=np.float64)
    if np.any(k < 0) or np.any(k > n) or np.any(k != np.floor(k)) or np.any(n != np.floor(n)):
        raise ValueError("counts must be integers with 0 <= count <= nobs")
    return np.broadcast_arrays(k, n)


def _out(lo, hi, scalar):
    if scalar:
        return Interval(float(lo), float(hi))
    return Interval(lo, hi)


def wilson(count, nobs, ci=0.95):
    """Wilson score interval for ``count`` successes out of ``nobs`` (arrays broadcast).

    Equal to ``statsmodels.stats.proportion.proportion_confint(count, nobs, 1 - ci,
    method="wilson")``; ``nobs == 0`` gives ``(nan, nan)``.

    >>> wilson(7, 10)
    Interval(low=0.39678..., high=0.89221...)
    """
    ci, _ = check_ci(ci, "wilson")
    scalar = np.ndim(count) == 0 and np.ndim(nobs) == 0
    k, n = _as_counts(count, nobs)
    crit = _z((1.0 - ci) / 2.0)
    crit2 = crit ** 2
    ok = n > 0
    n1 = np.where(ok, n, 1.0)
    q = k / n1
    denom = 1 + crit2 / n1
    center = (q + crit2 / (2 * n1)) / denom
    dist = crit * np.sqrt(q * (1.0 - q) / n1 + crit2 / (4.0 * n1 ** 2))
    dist /= denom
    lo = np.where(ok, np.clip(center - dist, 0, 1), np.nan)
    hi = np.where(ok, np.clip(center + dist, 0, 1), np.nan)
    return _out(lo, hi, scalar)


def clopper_pearson(count, nobs, ci=0.95):
    """Clopper–Pearson ("exact", central) interval; arrays broadcast.

    Equal to ``proportion_confint(count, nobs, 1 - ci, method="beta")``: the bounds are the
    ``alpha/2`` quantile of Beta(k, n-k+1) and the ``1-alpha/2`` one of Beta(k+1, n-k), with
    0 for ``k == 0`` and 1 for ``k == n``; ``nobs == 0`` gives ``(nan, nan)``.

    >>> clopper_pearson(7, 10)
    Interval(low=0.34754..., high=0.93332...)
    """
    ci, _ = check_ci(ci, "clopper-pearson")
    scalar = np.ndim(count) == 0 and np.ndim(nobs) == 0
    k, n = _as_counts(count, nobs)
    half = (1.0 - ci) / 2.0
    lo = np.zeros(k.shape)
    hi = np.ones(k.shape)
    m = (k > 0) & (n > 0)
    if np.any(m):
        lo[m] = beta_ppf(half, k[m], n[m] - k[m] + 1)
    m = (k < n) & (n > 0)
    if np.any(m):
        hi[m] = beta_ppf(1.0 - half, k[m] + 1, n[m] - k[m], upper_tail=half)
    lo = np.where(n > 0, lo, np.nan)
    hi = np.where(n > 0, hi, np.nan)
    return _out(lo, hi, scalar)


def proportion_interval(count, nobs, ci=0.95, method="wilson"):
    """``wilson`` or ``clopper_pearson`` by name."""
    _, m = check_ci(ci, method)
    if m == "wilson":
        return wilson(count, nobs, ci)
    if m == "clopper-pearson":
        return clopper_pearson(count, nobs, ci)
    raise ValueError(f"{method!r} is not a method for one proportion: use 'wilson' or "
                     "'clopper-pearson'")


# ---------------------------------------------------------------------------------------------
# the regularized incomplete beta function and its inverse (vectorised, float64)

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def _stirling_delta(z):
    """lgamma(z) - ((z - 0.5) log z - z + log sqrt(2 pi)), for z >= 10 (error < 1e-17)."""
    r = 1.0 / (z * z)
    return (1.0 / z) * (1 / 12 - r * (1 / 360 - r * (1 / 1260 - r * (1 / 1680 - r / 1188))))


def _log_power_terms(x, a, b):
    """log(x**a * (1-x)**b / B(a, b)), accurate for large a and b (no lgamma cancellation)."""
    with np.errstate(divide="ignore", invalid="ignore"):  # x near 0 or 1: -inf is right
        return _log_power_terms_raw(x, a, b)


def _log_power_terms_raw(x, a, b):
    y = 1.0 - x
    # log(1 - x) from x itself: 1 - x rounds away x's low bits, which b * log(1 - x) would
    # carry into the result as b * 1e-16 (1e-12 for b of 1e4)
    lx, ly = np.log(x), np.log1p(-x)
    out = np.empty(np.shape(x))
    big_a, big_b = a >= 10, b >= 10
    both = big_a & big_b
    if np.any(both):
        aa, bb, xx, yy = a[both], b[both], x[both], y[both]
        s = aa + bb
        u = xx * s / aa - 1.0  # x / x0 - 1 with x0 = a / (a + b); a*u + b*v == 0
        v = yy * s / bb - 1.0
        e = -(aa * (u - np.log1p(u)) + bb * (v - np.log1p(v)))
        e += 0.5 * np.log(aa * bb / s) - _LOG_SQRT_2PI
        e -= _stirling_delta(aa) + _stirling_delta(bb) - _stirling_delta(s)
        out[both] = e
    one = big_a ^ big_b
    if np.any(one):
        # the small parameter s, the large one l; x pairs with s when a is the small one
        sm = np.where(big_b, a, b)[one]
        lg = np.where(big_b, b, a)[one]
        ls = np.where(big_b, lx, ly)[one]
        ll = np.where(big_b, ly, lx)[one]
        lgs = np.array([math.lgamma(v) for v in sm])
        # lgamma(l) - lgamma(s + l) by Stirling, without the large terms
        d = (-(sm + lg - 0.5) * np.log1p(sm / lg) - sm * np.log(lg) + sm
             + _stirling_delta(lg) - _stirling_delta(sm + lg))
        out[one] = sm * ls + lg * ll - lgs - d
    small = ~(big_a | big_b)
    if np.any(small):
        aa, bb = a[small], b[small]
        lb = np.array([math.lgamma(p) + math.lgamma(q) - math.lgamma(p + q)
                       for p, q in zip(aa, bb)])
        out[small] = aa * lx[small] + bb * ly[small] - lb
    return out


def _betacf(x, a, b, max_iter=100_000):
    """The continued fraction of I_x(a, b) (modified Lentz), vectorised."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = np.ones_like(x)
    d = 1.0 - qab * x / qap
    d = np.where(np.abs(d) < tiny, tiny, d)
    d = 1.0 / d
    h = d.copy()
    active = np.ones(x.shape, dtype=bool)
    for m in range(1, max_iter + 1):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        xa, aa, bb = x[idx], a[idx], b[idx]
        qa, qp, qm = qab[idx], qap[idx], qam[idx]
        cc, dd, hh = c[idx], d[idx], h[idx]
        m2 = 2 * m
        num = m * (bb - m) * xa / ((qm + m2) * (aa + m2))
        dd = 1.0 + num * dd
        dd = np.where(np.abs(dd) < tiny, tiny, dd)
        cc = 1.0 + num / cc
        cc = np.where(np.abs(cc) < tiny, tiny, cc)
        dd = 1.0 / dd
        hh = hh * dd * cc
        num = -(aa + m) * (qa + m) * xa / ((aa + m2) * (qp + m2))
        dd = 1.0 + num * dd
        dd = np.where(np.abs(dd) < tiny, tiny, dd)
        cc = 1.0 + num / cc
        cc = np.where(np.abs(cc) < tiny, tiny, cc)
        dd = 1.0 / dd
        delta = dd * cc
        hh = hh * delta
        c[idx], d[idx], h[idx] = cc, dd, hh
        active[idx] = np.abs(delta - 1.0) > 4e-16
    return h


def _betainc_pair(a, b, x):
    """(I_x(a, b), 1 - I_x(a, b)), each computed without cancellation where it is small,
    and log of the power terms (for the density)."""
    a, b, x = (np.asarray(v, dtype=np.float64) for v in (a, b, x))
    a, b, x = np.broadcast_arrays(a, b, x)
    a, b, x = a.ravel().copy(), b.ravel().copy(), x.ravel().copy()
    lower = np.zeros(x.shape)
    upper = np.ones(x.shape)
    logpt = np.full(x.shape, -np.inf)
    at1 = x >= 1.0
    lower[at1], upper[at1] = 1.0, 0.0
    inner = (x > 0.0) & (x < 1.0)
    if np.any(inner):
        xi, ai, bi = x[inner], a[inner], b[inner]
        lp = _log_power_terms(xi, ai, bi)
        logpt[inner] = lp
        direct = xi < (ai + 1.0) / (ai + bi + 2.0)
        lo = np.empty(xi.shape)
        hi = np.empty(xi.shape)
        if np.any(direct):
            f = _betacf(xi[direct], ai[direct], bi[direct])
            v = np.exp(lp[direct]) * f / ai[direct]
            lo[direct], hi[direct] = v, 1.0 - v
        rev = ~direct
        if np.any(rev):
            f = _betacf(1.0 - xi[rev], bi[rev], ai[rev])
            v = np.exp(lp[rev]) * f / bi[rev]
            lo[rev], hi[rev] = 1.0 - v, v
        lower[inner], upper[inner] = lo, hi
    return lower, upper, logpt


def betainc(a, b, x):
    """The regularized incomplete beta function I_x(a, b) (scipy's ``betainc``), a, b > 0."""
    shape = np.broadcast(np.asarray(a), np.asarray(b), np.asarray(x)).shape
    lower, _, _ = _betainc_pair(a, b, x)
    return lower.reshape(shape) if shape else float(lower[0])


def beta_ppf(p, a, b, upper_tail=None):
    """x with I_x(a, b) == p (scipy's ``beta.ppf``), vectorised over a and b, a, b > 0.

    With ``upper_tail=q`` it solves 1 - I_x(a, b) == q instead (``beta.isf(q)``), which keeps
    full precision where that tail is small.
    """
    a = np.atleast_1d(np.asarray(a, dtype=np.float64)).ravel()
    b = np.atleast_1d(np.asarray(b, dtype=np.float64)).ravel()
    a, b = np.broadcast_arrays(a, b)
    a, b = a.copy(), b.copy()
    lo = np.zeros(a.shape)
    hi = np.ones(a.shape)
    # start at the normal approximation of the quantile, clipped into (0, 1)
    mean = a / (a + b)
    sd = np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    zq = NormalDist().inv_cdf(p) if upper_tail is None else -NormalDist().inv_cdf(upper_tail)
    x = np.clip(mean + zq * sd, 1e-300, 1 - 1e-16)
    act = np.arange(a.shape[0])
    for _ in range(200):
        aa, bb, xx = a[act], b[act], x[act]
        low_tail, up_tail, logpt = _betainc_pair(aa, bb, xx)
        f = (low_tail - p) if upper_tail is None else (upper_tail - up_tail)
        # f increases with x: keep the bracket
        lo[act] = np.where(f < 0, xx, lo[act])
        hi[act] = np.where(f > 0, xx, hi[act])
        la, ha = lo[act], hi[act]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # x may reach 1.0 (a quantile within an ulp of 1): the density is infinite there
            dens = np.exp(logpt - np.log(xx) - np.log1p(-xx))
            step = f / dens
            new = xx - step
        bad = ~np.isfinite(new) | (new <= la) | (new >= ha)
        # bisect (geometrically while the bracket spans decades: quantiles can be tiny)
        mid = np.where(la > 0, np.sqrt(la * ha), ha * 1e-3)
        mid = np.where((la > 0) & (ha < 4 * la), 0.5 * (la + ha), mid)
        # Newton converges quadratically: a step below 1e-9 leaves the next one below ulps
        # (and a step below an ulp leaves x where it is: that is convergence, not a failure)
        small = np.isfinite(step) & ((np.abs(step) <= 1e-9 * np.minimum(xx, 1 - xx))
                                     | (xx - step == xx))
        new = np.where(bad & ~small, mid, new)
        done = (f == 0) | small
        x[act] = np.where(f == 0, xx, new)
        act = act[~done]
        if act.size == 0:
            break
    return x


def binom_cdf(k, n, p=0.5):
    """P(X <= k) for X ~ Binomial(n, p) (scipy's ``binom.cdf``), via I_{1-p}(n - k, k + 1)."""
    k = np.floor(np.asarray(k, dtype=np.float64))
    n = np.asarray(n, dtype=np.float64)
    k, n = np.broadcast_arrays(k, n)
    out = np.where(k >= n, 1.0, 0.0)
    m = (k >= 0) & (k < n)
    if np.any(m):
        out = out.copy()
        out[m] = betainc(n[m] - k[m], k[m] + 1, np.full(int(m.sum()), 1.0 - p))
    return out if out.ndim else float(out)


# ---------------------------------------------------------------------------------------------
# the count-drawn bootstrap


def _seed_key(seed):
    """A 64-bit key from ``seed`` (anything ``numpy.random.default_rng`` takes)."""
    return np.uint64(np.random.default_rng(seed).integers(0, 2**64, dtype=np.uint64))


def draw_margins(table, n_resamples, seed=None, *, linear=None, key=None, _tables=None):
    """Draw ``n_resamples`` bootstrap replicates of a (C, C) count table.

    Returns ``(tp, true, pred, extra)``: (C, B) int64 arrays of each replicate's diagonal, row
    sums and column sums, and a (L, B) float64 array of ``sum(w * table)`` for each of the
    L (C, C) arrays ``w`` in ``linear``. Each replicate table is exactly Multinomial(N,
    table / N) (see ``_boot_kernels``); same counts and seed, same replicates, and the first
    B replicates of a larger ``n_resamples`` are these. ``_tables``: ``(cap, width_sd)`` of
    ``table_layout``, for the tests of the samplers without tables or beyond them.
    """
    from . import _boot_kernels as BK

    table = np.asarray(table)
    if table.ndim != 2 or table.shape[0] != table.shape[1]:
        raise ValueError(f"table must be square (C, C), got shape {table.shape}")
    c = table.shape[0]
    flat = table.ravel()
    nz = np.flatnonzero(flat)
    counts = flat[nz].astype(np.int64)
    total = int(counts.sum())
    if total == 0:
        raise ValueError("cannot bootstrap an empty table")
    rows, cols = np.divmod(nz, c)
    pvals = counts / total
    lam = BK.poisson_mean(total, nz.shape[0])
    mu = lam * pvals
    kind, offs, k0 = BK.table_layout(mu, *(_tables or ()))
    size = int(offs[-1])
    cdf = np.empty(size)
    guide = np.empty(2 * size, dtype=np.int32)
    k = nz.shape[0]
    flo, fhi, scale, pk0, pk1, emu = (np.zeros(k) for _ in range(6))
    layout = (mu, kind, offs, k0)
    tables = (cdf, guide, flo, fhi, scale, pk0, pk1, emu)
    BK.build_tables(layout, tables)
    aprob = np.empty(k)
    alias = np.empty(k, dtype=np.int64)
    BK.alias_table(pvals, aprob, alias)
    lin = np.zeros((len(linear or ()), k))
    for i, w in enumerate(linear or ()):
        lin[i] = np.asarray(w, dtype=np.float64).ravel()[nz]
    b = int(n_resamples)
    tp = np.empty((c, b), dtype=np.int64)
    true = np.empty((c, b), dtype=np.int64)
    pred = np.empty((c, b), dtype=np.int64)
    extra = np.empty((lin.shape[0], b))
    key = _seed_key(seed) if key is None else np.uint64(key)

    # replicates per block: more amortise each cell's set-up (measured: 256 is 15 % faster
    # than 64 on a dense 100-class table), fewer keep the block's (C, block) margins in cache
    block = int(min(256, max(64, 65536 // max(c, 1))))

    def run(b0, b1, slot):
        BK.draw_margins((key, b0, b1, block), (total, lam, rows, cols, lin, aprob, alias),
                        layout, tables, (tp, true, pred, extra))

    # replicates are independent of how they are split: threads for the large draws
    big = k * b + b * (total - lam) >= 200_000
    K.run_chunks(run, b, get_num_threads() if big else 1, 64)
    return tp, true, pred, extra


def bootstrap_margins(table, n_resamples, seed=None, *, linear=None):
    """``draw_margins`` laid out by replicate: (B, C) ``tp``, ``true``, ``pred`` and a list
    of (B,) arrays ``extra``, one per array of ``linear``."""
    tp, true, pred, extra = draw_margins(table, n_resamples, seed, linear=linear)
    return tp.T, true.T, pred.T, list(extra)


def _ratio(num, den):
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _zero_value(zero_division) -> float:
    if isinstance(zero_division, str):
        return 0.0  # "warn": 0 without the warning
    return float(zero_division)


def _nanavg(values, weights=None):
    """scikit-learn's ``_nanaverage`` along axis 1 (NaNs left out; all-zero weights: mean)."""
    ok = ~np.isnan(values)
    v = np.where(ok, values, 0.0)
    n = ok.sum(axis=1)
    mean = _ratio(v.sum(axis=1), n)
    if weights is None:
        return mean
    w = np.where(ok, weights, 0.0).astype(np.float64)
    wsum = w.sum(axis=1)
    wavg = _ratio((v * w).sum(axis=1), wsum)
    return np.where(wsum != 0, wavg, mean)


def replicate_prfs(tp, pred, true, average=None, zero_division="warn"):
    """Precision, recall and F1 of each replicate (rows), as scikit-learn defines them.

    ``average=None``: (B, K) arrays with NaN where a replicate's denominator is zero.
    ``"micro" | "macro" | "weighted"``: (B,) arrays, undefined classes scored with
    ``zero_division`` first (NaNs skipped for ``np.nan``), as ``precision_recall_fscore_support``.
    """
    tp = np.asarray(tp, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    if average == "micro":
        tp, pred, true = (a.sum(axis=1, keepdims=True) for a in (tp, pred, true))
    p = _ratio(tp, pred)
    r = _ratio(tp, true)
    f = _ratio(2 * tp, true + pred)
    if average is None:
        return p, r, f
    z = _zero_value(zero_division)
    if not math.isnan(z):
        p, r, f = (np.where(np.isnan(a), z, a) for a in (p, r, f))
    weights = true if average == "weighted" else None
    return _nanavg(p, weights), _nanavg(r, weights), _nanavg(f, weights)


def percentile_interval(values, ci):
    """Percentile interval of each column of ``values`` (B, ...) over its non-NaN entries.

    numpy's default ("linear") quantiles at (1 - ci) / 2 and (1 + ci) / 2 (equal to
    ``np.quantile`` of the non-NaN entries); all-NaN columns give NaN. Returns ``(low, high)``
    arrays of the trailing shape.
    """
    v = np.asarray(values, dtype=np.float64)
    shape = v.shape[1:]
    rows = np.ascontiguousarray(v.reshape(v.shape[0], -1).T)
    lo, hi = quantile_rows(rows, np.full(rows.shape[0], (1.0 - ci) / 2.0),
                           np.full(rows.shape[0], (1.0 + ci) / 2.0))
    return lo.reshape(shape), hi.reshape(shape)


def quantile_rows(values, qlo, qhi):
    """The ``qlo[i]`` and ``qhi[i]`` linear quantiles of the non-NaN entries of each row of
    ``values`` (M, B) (NaN for a row without any, or a NaN level)."""
    from . import _boot_kernels as BK

    values = np.ascontiguousarray(values, dtype=np.float64)
    lo = np.empty(values.shape[0])
    hi = np.empty(values.shape[0])
    BK.percentiles(values, np.asarray(qlo, dtype=np.float64), np.asarray(qhi, dtype=np.float64),
                   lo, hi)
    return lo, hi


def _ndtri(p):
    """Standard normal quantile, elementwise (-inf at 0, inf at 1, NaN for NaN)."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    nd = NormalDist()
    for i, v in np.ndenumerate(p):
        if v == 0.0:
            out[i] = -np.inf
        elif v == 1.0:
            out[i] = np.inf
        elif 0.0 < v < 1.0:
            out[i] = nd.inv_cdf(float(v))
    return out


def _ndtr(x):
    """Standard normal CDF, elementwise."""
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    for i, v in np.ndenumerate(x):
        if not math.isnan(v):
            out[i] = 0.5 * math.erfc(-v / math.sqrt(2.0))
    return out


class BCa(NamedTuple):
    """The BCa terms of each statistic: ``z0`` (bias correction), ``a`` (acceleration) and
    the quantile levels ``qlo``, ``qhi`` at which the replicates are read."""

    z0: np.ndarray
    a: np.ndarray
    qlo: np.ndarray
    qhi: np.ndarray


def bca_levels(theta_hat, reps, jack, weights, ci):
    """BCa quantile levels (Efron & Tibshirani 14.3, 15.4; scipy.stats.bootstrap's "BCa").

    ``theta_hat`` (M,): each statistic on the data; ``reps`` (M, B): on the replicates (NaN:
    undefined, left out); ``jack`` (M, K): on the data less one sample of cell k, for each of
    the K cells, and ``weights`` (K,) the cells' counts: every sample of a cell leaves the same
    table, so the jackknife over the N samples is this weighted one over the cells.

    ``z0 = ndtri((#{reps < theta_hat} + #{reps <= theta_hat}) / 2B)``,
    ``a = sum w d^3 / (6 (sum w d^2)^1.5)`` with ``d = mean - jack`` (0 when the jackknife
    values are all equal: scipy gives NaN there), levels ``ndtr(z0 + (z0 + z) / (1 - a (z0 +
    z)))`` for ``z`` the normal quantiles of (1 -+ ci) / 2.
    """
    from . import _boot_kernels as BK

    theta_hat = np.asarray(theta_hat, dtype=np.float64)
    reps = np.ascontiguousarray(reps, dtype=np.float64)
    m = reps.shape[0]
    less = np.empty(m, dtype=np.int64)
    less_eq = np.empty(m, dtype=np.int64)
    defined = np.empty(m, dtype=np.int64)
    BK.below_counts(reps, theta_hat, less, less_eq, defined)
    z0 = _ndtri(_ratio(less + less_eq, 2 * defined))
    a = np.empty(m)
    BK.jackknife_acceleration(np.ascontiguousarray(jack, dtype=np.float64),
                              np.asarray(weights, dtype=np.float64), a)
    z = _z((1.0 - ci) / 2.0)
    levels = []
    for zz in (-z, z):
        n1 = z0 + zz
        with np.errstate(divide="ignore", invalid="ignore"):
            levels.append(_ndtr(z0 + n1 / (1.0 - a * n1)))
    bad = np.isnan(theta_hat)
    qlo, qhi = (np.where(bad, np.nan, q) for q in levels)
    return BCa(z0, a, qlo, qhi)


def _jackknife_margins(margins, cells, start, stop):
    """(C, stop - start) margins of the table less one sample of each cell start .. stop:
    ``margins`` = (tp, true, pred) of the table, ``cells`` = (rows, cols) of its cells."""
    tp, true, pred = margins
    rows, cols = cells
    n = stop - start
    idx = np.arange(n)
    r, q = rows[start:stop], cols[start:stop]
    jt = np.repeat(np.asarray(tp, dtype=np.int64)[:, None], n, axis=1)
    jr = np.repeat(np.asarray(true, dtype=np.int64)[:, None], n, axis=1)
    jp = np.repeat(np.asarray(pred, dtype=np.int64)[:, None], n, axis=1)
    jr[r, idx] -= 1
    jp[q, idx] -= 1
    d = r == q
    jt[r[d], idx[d]] -= 1
    return jt, jr, jp


def _cells(table):
    flat = np.asarray(table, dtype=np.int64).ravel()
    nz = np.flatnonzero(flat)
    rows, cols = np.divmod(nz, table.shape[0])
    return rows, cols, flat[nz]


# ---------------------------------------------------------------------------------------------
# intervals for a report's table and for the other metrics of a confusion matrix

_PRF = ("precision", "recall", "f1-score")


def _take(a, idx):
    """Columns ``idx`` of ``a`` (..., C); -1 gives zeros (a label the data never had)."""
    out = np.zeros(a.shape[:-1] + (len(idx),), dtype=a.dtype)
    ok = idx >= 0
    out[..., ok] = a[..., idx[ok]]
    return out


def _report_bca(table, sel_idx, zval, values, ci, chunk=2048):
    """BCa levels of every value of a report (rows of ``values``, as ``report_values`` lays
    them out) over ``table``."""
    from . import _boot_kernels as BK

    r_all = len(sel_idx)
    tp, true, pred = np.diag(table), table.sum(axis=1), table.sum(axis=0)
    theta = np.empty((r_all + 3, 3, 1))
    BK.report_values(tp[:, None].copy(), true[:, None].copy(), pred[:, None].copy(), sel_idx,
                     zval, theta)
    rows, cols, counts = _cells(table)
    jack = np.empty((r_all + 3, 3, counts.shape[0]))
    for s in range(0, counts.shape[0], chunk):
        e = min(s + chunk, counts.shape[0])
        jt, jr, jp = _jackknife_margins((tp, true, pred), (rows, cols), s, e)
        out = np.empty((r_all + 3, 3, e - s))
        BK.report_values(jt, jr, jp, sel_idx, zval, out)
        jack[:, :, s:e] = out
    return bca_levels(theta.ravel(), values, jack.reshape(-1, counts.shape[0]), counts, ci)


def margin_intervals(tp, true, pred, sel_idx, *, ci, zero_division, micro_is_accuracy,
                     bca_table=None, averages=True):
    """Percentile (or, given the table, BCa) intervals of a report's values from replicate
    margins ``tp``, ``true``, ``pred`` (C, B) (count-drawn or streamed replicates); keys as
    ``report_intervals``' (``averages=False``: the rows' only)."""
    from . import _boot_kernels as BK

    r_all = len(sel_idx)
    zval = _zero_value(zero_division)
    dtype = np.int64 if bca_table is not None else np.float64  # two signatures, no more
    tp, true, pred = (np.ascontiguousarray(a, dtype=dtype) for a in (tp, true, pred))
    values = np.empty((r_all + 3, 3, tp.shape[1]))
    BK.report_values(tp, true, pred, np.asarray(sel_idx, dtype=np.int64), zval, values)
    values = values.reshape(-1, tp.shape[1])
    if bca_table is not None:
        levels = _report_bca(bca_table, sel_idx, zval, values, ci)
        lo, hi = quantile_rows(values, levels.qlo, levels.qhi)
    else:
        lo, hi = percentile_interval(values.T, ci)
    lo, hi = lo.reshape(r_all + 3, 3).tolist(), hi.reshape(r_all + 3, 3).tolist()
    micro = "accuracy" if micro_is_accuracy else "micro avg"
    headings = list(range(r_all)) + ([micro, "macro avg", "weighted avg"] if averages else [])
    out = {}
    for i, row in enumerate(headings):
        for j, metric in enumerate(_PRF):
            out[(row, metric)] = (lo[i][j], hi[i][j])
    if micro_is_accuracy:
        out = {k: v for k, v in out.items() if k[0] != "accuracy" or k[1] == "f1-score"}
    return out


def samples_intervals(samp, *, ci, zero_division):
    """Intervals of the samples-averaged precision, recall and F1 from the streamed
    replicates' (7, B) sums (``_poisson_kernels.add_multilabel_replicates``): per replicate
    (sum of weighted scores + z x weight of the undefined samples) / total weight, or, for
    ``zero_division=np.nan``, the undefined samples left out."""
    z = _zero_value(zero_division)
    samp = np.asarray(samp, dtype=np.float64)
    out = {}
    for q, metric in enumerate(_PRF):
        s, undefined = samp[1 + 2 * q], samp[2 + 2 * q]
        if math.isnan(z):
            v = _ratio(s, samp[0] - undefined)
        else:
            v = _ratio(s + z * undefined, samp[0])
        lo, hi = percentile_interval(v, ci)
        out[("samples avg", metric)] = (float(lo), float(hi))
    return out


def report_intervals(table, sel_idx, *, ci, method, n_resamples, seed, zero_division,
                     micro_is_accuracy):
    """Intervals for every number of a classification report over ``table``.

    ``table``: (C, C) counts, rows true; ``sel_idx``: the report's rows as indices into it
    (-1: a requested label with no samples). Returns ``{(row, metric): (low, high)}`` where
    ``row`` is the row's position, ``"accuracy"`` or an average's heading.
    """
    table = np.asarray(table, dtype=np.int64)
    sel_idx = np.asarray(sel_idx, dtype=np.int64)
    out = {}
    if method in BOOTSTRAPS:
        tp, true, pred, _ = draw_margins(table, n_resamples, seed)
        return margin_intervals(tp, true, pred, sel_idx, ci=ci, zero_division=zero_division,
                                micro_is_accuracy=micro_is_accuracy,
                                bca_table=table if method == "bca" else None)
    tp = _take(np.diag(table), sel_idx)
    true = _take(table.sum(axis=1), sel_idx)
    pred = _take(table.sum(axis=0), sel_idx)
    for metric, den in (("precision", pred), ("recall", true)):
        lo, hi = proportion_interval(tp, den, ci, method)
        for i in range(len(sel_idx)):
            out[(i, metric)] = (float(lo[i]), float(hi[i]))
    if micro_is_accuracy:
        lo, hi = proportion_interval(int(np.trace(table)), int(table.sum()), ci, method)
        out[("accuracy", "f1-score")] = (lo, hi)
    else:  # micro precision and recall over the chosen labels are proportions too
        for metric, den in (("precision", pred), ("recall", true)):
            lo, hi = proportion_interval(int(tp.sum()), int(den.sum()), ci, method)
            out[("micro avg", metric)] = (lo, hi)
    return out


METRICS = ("accuracy", "balanced_accuracy", "matthews_corrcoef", "cohen_kappa", "jaccard")


def replicate_metric(tp, true, pred, total, metric, *, extra=None, adjusted=False,
                     weights=None, average=None, zero_division="warn"):
    """One of ``METRICS`` for every replicate (rows of the (B, C) margins).

    NaN marks a replicate where scikit-learn's value is undefined (left out of intervals).
    """
    tp, true, pred = (np.asarray(a, dtype=np.float64) for a in (tp, true, pred))
    if metric == "accuracy":
        return tp.sum(axis=1) / total
    if metric == "balanced_accuracy":
        per = _ratio(tp, true)  # a class no resampled row belongs to is left out
        ok = ~np.isnan(per)
        n = ok.sum(axis=1)
        score = _ratio(np.where(ok, per, 0).sum(axis=1), n)
        if adjusted:
            chance = _ratio(np.ones(n.shape), n)
            score = (score - chance) / (1 - chance)
        return score
    if metric == "matthews_corrcoef":
        n = np.asarray(total, dtype=np.float64)  # per replicate for streamed replicates
        cov_ytyp = tp.sum(axis=1) * n - (true * pred).sum(axis=1)
        cov_ypyp = n ** 2 - (pred * pred).sum(axis=1)
        cov_ytyt = n ** 2 - (true * true).sum(axis=1)
        prod = cov_ypyp * cov_ytyt
        return np.where(prod == 0, 0.0, cov_ytyp / np.sqrt(np.where(prod == 0, 1, prod)))
    if metric == "cohen_kappa":
        if weights is None:
            num = total - tp.sum(axis=1)
            den = total - (true * pred).sum(axis=1) / total
        else:
            w = _kappa_weights(tp.shape[1], weights)
            num = extra
            den = np.einsum("bi,ij,bj->b", pred, w, true) / total
        return 1 - _ratio(num, den)
    if metric == "jaccard":
        if average == "micro":
            tp, true, pred = (a.sum(axis=1, keepdims=True) for a in (tp, true, pred))
        score = _ratio(tp, true + pred - tp)
        if average is None:
            return score
        z = _zero_value(zero_division)
        score = np.where(np.isnan(score), z, score)
        if average == "micro":
            return score[:, 0]
        if average == "weighted":
            wsum = true.sum(axis=1)
            wavg = _ratio((score * true).sum(axis=1), wsum)
            return np.where(wsum != 0, wavg, score.mean(axis=1))
        return score.mean(axis=1)
    raise ValueError(f"unknown metric {metric!r}; one of {list(METRICS)}")


def _metric_bca(table, metric, linear, kwargs, values, ci):
    """BCa levels of one of ``METRICS`` (``values``: its (B, ...) replicates)."""
    total = int(table.sum())
    tp, true, pred = np.diag(table), table.sum(axis=1), table.sum(axis=0)
    extra0 = float((linear[0] * table).sum()) if linear else None
    theta = replicate_metric(tp[None], true[None], pred[None], total, metric,
                             extra=None if extra0 is None else np.array([extra0]), **kwargs)
    rows, cols, counts = _cells(table)
    jt, jr, jp = _jackknife_margins((tp, true, pred), (rows, cols), 0, counts.shape[0])
    jextra = None if extra0 is None else extra0 - linear[0][rows, cols]
    jack = replicate_metric(jt.T, jr.T, jp.T, total - 1, metric, extra=jextra, **kwargs)
    m = int(np.prod(values.shape[1:], dtype=np.int64))
    return bca_levels(np.reshape(theta, m), values.reshape(values.shape[0], m).T,
                      jack.reshape(jack.shape[0], m).T, counts, ci)


def _kappa_weights(c, weights):
    w = np.zeros((c, c)) + np.arange(c)
    return np.abs(w - w.T) if weights == "linear" else (w - w.T) ** 2


def metric_interval(table, metric, *, ci=0.95, method="bootstrap", n_resamples=1000, seed=None,
                    **kwargs):
    """The interval of one of ``METRICS`` of the (C, C) ``table`` (its present labels, sorted).

    ``kwargs``: ``adjusted`` (balanced_accuracy), ``weights`` (cohen_kappa), ``average`` and
    ``zero_division`` (jaccard), as the metric itself takes them. Per-class Jaccard
    (``average=None``) gives an Interval of arrays.
    """
    ci, method = check_ci(ci, method, n_resamples)
    _check_metric_args(metric, kwargs)
    table = np.asarray(table, dtype=np.int64)
    return _metric_interval_rest(table, metric, ci, method=method, n_resamples=n_resamples,
                                 seed=seed, kwargs=kwargs)


def _check_metric_args(metric, kwargs):
    allowed = {"accuracy": (), "balanced_accuracy": ("adjusted",),
               "matthews_corrcoef": (), "cohen_kappa": ("weights",),
               "jaccard": ("average", "zero_division")}
    if metric not in allowed:
        raise ValueError(f"unknown metric {metric!r}; one of {list(METRICS)}")
    bad = set(kwargs) - set(allowed[metric])
    if bad:
        raise TypeError(f"{metric} takes no argument {sorted(bad)[0]!r}")
    if metric == "cohen_kappa" and kwargs.get("weights") not in (None, "linear", "quadratic"):
        raise ValueError(f"weights must be None, 'linear' or 'quadratic', got "
                         f"{kwargs.get('weights')!r}")
    if metric == "jaccard" and kwargs.get("average") not in (None, "micro", "macro", "weighted"):
        raise ValueError(f"average must be None, 'micro', 'macro' or 'weighted', got "
                         f"{kwargs.get('average')!r}")


def streamed_metric_interval(rep, metric, *, ci=0.95, **kwargs):
    """``metric_interval`` from streamed replicate tables ``rep`` (C, C, B) (percentile)."""
    _check_metric_args(metric, kwargs)
    rep = np.asarray(rep, dtype=np.float64)
    tp = np.einsum("iib->bi", rep)
    true, pred = rep.sum(axis=1).T, rep.sum(axis=0).T
    total = rep.sum(axis=(0, 1))
    extra = None
    if metric == "cohen_kappa" and kwargs.get("weights") is not None:
        extra = np.einsum("ij,ijb->b", _kappa_weights(rep.shape[0], kwargs["weights"]), rep)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = replicate_metric(tp, true, pred, total, metric, extra=extra, **kwargs)
    if metric != "jaccard" or kwargs.get("average") is not None:
        values = np.where(total > 0, values, np.nan)  # an empty replicate has no value
    lo, hi = percentile_interval(values, ci)
    if np.ndim(lo) == 0:
        return Interval(float(lo), float(hi))
    return Interval(lo, hi)


def _metric_interval_rest(table, metric, ci, *, method, n_resamples, seed, kwargs):
    total = int(table.sum())
    if method not in BOOTSTRAPS:
        if metric != "accuracy":
            raise ValueError(f"{metric} is not a binomial proportion: its interval needs "
                             f"method='bootstrap' (got {method!r})")
        return proportion_interval(int(np.trace(table)), total, ci, method)
    linear = None
    if metric == "cohen_kappa" and kwargs.get("weights") is not None:
        linear = [_kappa_weights(table.shape[0], kwargs["weights"])]
    tp, true, pred, extra = bootstrap_margins(table, n_resamples, seed, linear=linear)
    values = replicate_metric(tp, true, pred, total, metric,
                              extra=extra[0] if extra else None, **kwargs)
    if method == "bca":
        levels = _metric_bca(table, metric, linear, kwargs, values, ci)
        lo, hi = quantile_rows(values.reshape(values.shape[0], -1).T, levels.qlo, levels.qhi)
        lo, hi = lo.reshape(values.shape[1:]), hi.reshape(values.shape[1:])
    else:
        lo, hi = percentile_interval(values, ci)
    if np.ndim(lo) == 0:
        return Interval(float(lo), float(hi))
    return Interval(lo, hi)
