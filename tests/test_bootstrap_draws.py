"""The numba kernels of the count bootstrap: replicates are Multinomial(N, counts / N) (exact
laws, chi-square), on every sampler path; the replicates' report values equal the numpy
reference (itself checked against scikit-learn in test_intervals); quantiles equal numpy's."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from confstream import _boot_kernels as BK
from confstream import intervals as CI

scipy_stats = pytest.importorskip("scipy.stats")

# the sampler paths: tables (default); no tables at all (sequential inversion for means < 10,
# PTRS for larger ones); one-entry tables, so that nearly every draw takes the exact walks
# below or above the table
PATHS = {"tables": None, "no tables": (0, 8.5, 8), "one-entry tables": (1 << 22, 0.0, 0)}


def _cells(table, n_resamples, seed, tables):
    """Replicates of a diagonal table: its margins are its cells."""
    tp, true, pred, _ = CI.draw_margins(np.diag(table), n_resamples, seed, _tables=tables)
    assert np.array_equal(tp, true) and np.array_equal(tp, pred)
    return tp.T


def _chi2_pvalue(observed, expected):
    """Chi-square goodness of fit, outcomes pooled (in order of expectation) so that each
    pooled bin expects at least 5."""
    order = np.argsort(expected)
    obs, exp = observed[order], expected[order]
    bins_o, bins_e, o, e = [], [], 0.0, 0.0
    for a, b in zip(obs, exp):
        o, e = o + a, e + b
        if e >= 5:
            bins_o.append(o)
            bins_e.append(e)
            o, e = 0.0, 0.0
    bins_o[-1] += o
    bins_e[-1] += e
    bins_o, bins_e = np.array(bins_o), np.array(bins_e)
    return scipy_stats.chisquare(bins_o, bins_e * bins_o.sum() / bins_e.sum()).pvalue


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("counts", [[3, 2, 1], [1, 1], [5, 1, 1, 1]])
def test_small_tables_follow_the_exact_multinomial_law(path, counts):
    # N small: lam is small, most of each replicate comes from the alias draws and redraws
    counts = np.array(counts)
    n, b = int(counts.sum()), 20_000
    x = _cells(counts, b, 7, PATHS[path])
    assert np.all(x.sum(axis=1) == n)
    outcomes = [o for o in itertools.product(range(n + 1), repeat=len(counts)) if sum(o) == n]
    pmf = scipy_stats.multinomial(n, counts / n).pmf(np.array(outcomes))
    index = {o: i for i, o in enumerate(outcomes)}
    observed = np.bincount([index[tuple(r)] for r in x.tolist()], minlength=len(outcomes))
    assert _chi2_pvalue(observed.astype(float), pmf * b) > 1e-3


@pytest.mark.parametrize("path", list(PATHS))
def test_larger_tables_have_binomial_cells_and_multinomial_covariances(path):
    counts = np.array([400, 150, 30, 9, 3, 1])  # means from about 1 to 400
    n, b = int(counts.sum()), 20_000
    x = _cells(counts, b, 11, PATHS[path])
    p = counts / n
    assert np.all(x.sum(axis=1) == n)
    for k in range(len(counts)):  # each cell is Binomial(N, p_k), exactly
        ks = np.arange(n + 1)
        observed = np.bincount(x[:, k], minlength=n + 1).astype(float)
        assert _chi2_pvalue(observed, scipy_stats.binom.pmf(ks, n, p[k]) * b) > 1e-3, k
    cov = np.cov(x.T)
    ref = n * (np.diag(p) - np.outer(p, p))
    v = np.diag(ref)
    se = np.sqrt((np.outer(v, v) + ref ** 2) / b)  # sd of a sample covariance
    assert np.all(np.abs(cov - ref) <= 5 * se), (cov, ref)


def test_confusion_margins_have_the_multinomial_moments():
    rng = np.random.default_rng(3)
    c, n = 12, 50_000
    t = rng.integers(0, c, n)
    p = np.where(rng.random(n) < 0.7, t, rng.integers(0, c, n))
    table = np.bincount(t * c + p, minlength=c * c).reshape(c, c)
    b = 4000
    tp, true, pred, extra = CI.draw_margins(table, b, 5, linear=[np.arange(c * c).reshape(c, c)])
    assert np.all(true.sum(axis=0) == n) and np.all(pred.sum(axis=0) == n)
    q = table / n
    for got, expect in ((tp, np.diag(q)), (true, q.sum(axis=1)), (pred, q.sum(axis=0))):
        mean, var = got.mean(axis=1), got.var(axis=1)
        assert np.all(np.abs(mean - n * expect) <= 5 * np.sqrt(n * expect * (1 - expect) / b))
        assert np.all(np.abs(var / (n * expect * (1 - expect)) - 1) < 0.15)
    w = np.arange(c * c, dtype=float)
    assert abs(extra[0].mean() - (w * q.ravel()).sum() * n) < 5 * np.sqrt(
        n * ((w ** 2 * q.ravel()).sum() - (w * q.ravel()).sum() ** 2) / b)
    # the weighted sum is the sum over the replicate's cells: exact on the diagonal weights
    tp2, _, _, ex2 = CI.draw_margins(table, 50, 9, linear=[np.eye(c)])
    assert np.array_equal(ex2[0], tp2.sum(axis=0).astype(float))


def test_replicates_depend_on_seed_and_index_only():
    rng = np.random.default_rng(1)
    table = rng.integers(0, 50, (30, 30)) * (rng.random((30, 30)) < 0.3) + np.eye(30, dtype=int)
    many = CI.draw_margins(table, 1500, 42)  # threads share these out
    few = CI.draw_margins(table, 100, 42)  # one thread
    for a, b in zip(many, few):
        assert np.array_equal(a[:, :100], b)
    again = CI.draw_margins(table, 1500, 42)
    assert all(np.array_equal(a, b) for a, b in zip(many, again))
    other = CI.draw_margins(table, 100, 43)
    assert not np.array_equal(other[0], few[0])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), c=st.integers(1, 6), extra=st.integers(0, 2),
       zero_division=st.sampled_from(["warn", 0, 1, np.nan]))
def test_report_values_kernel_equals_the_reference(seed, c, extra, zero_division):
    rng = np.random.default_rng(seed)
    tables = rng.integers(0, 4, (7, c, c)) * (rng.random((7, c, c)) < 0.5)
    tp, true, pred = (np.einsum("bii->bi", tables), tables.sum(axis=2), tables.sum(axis=1))
    sel = np.r_[rng.permutation(c)[:rng.integers(1, c + 1)], -np.ones(extra, dtype=int)]
    sel = sel.astype(np.int64)
    out = np.empty((len(sel) + 3, 3, 7))
    BK.report_values(np.ascontiguousarray(tp.T), np.ascontiguousarray(true.T),
                     np.ascontiguousarray(pred.T), sel, CI._zero_value(zero_division), out)
    t, tr, pr = (CI._take(a, sel) for a in (tp, true, pred))
    ref = CI.replicate_prfs(t, pr, tr)
    for q in range(3):
        np.testing.assert_array_equal(out[:len(sel), q].T, ref[q])
    for row, average in enumerate(("micro", "macro", "weighted")):
        ref = CI.replicate_prfs(t, pr, tr, average, zero_division)
        for q in range(3):
            np.testing.assert_allclose(out[len(sel) + row, q], ref[q], rtol=1e-15,
                                       equal_nan=True)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300), nan_share=st.floats(0, 0.9),
       ties=st.booleans(), q=st.floats(0, 1))
def test_quantile_kernel_equals_numpy(seed, n, nan_share, ties, q):
    rng = np.random.default_rng(seed)
    v = rng.integers(0, 5, n).astype(float) if ties else rng.normal(size=n)
    v[rng.random(n) < nan_share] = np.nan
    lo, hi = CI.quantile_rows(v[None, :], [q], [1 - q])
    ok = v[~np.isnan(v)]
    if ok.size == 0:
        assert math.isnan(lo[0]) and math.isnan(hi[0])
    else:
        assert lo[0] == np.quantile(ok, q) and hi[0] == np.quantile(ok, 1 - q)
