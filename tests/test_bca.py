"""ci_method="bca": against scipy.stats.bootstrap(method="BCa") on the sample-level data, and
coverage over simulated data sets."""

from __future__ import annotations

import numpy as np
import pytest

import confstream as cs
from confstream import _boot_kernels as BK
from confstream import intervals as CI

scipy_stats = pytest.importorskip("scipy.stats")
resampling = pytest.importorskip("scipy.stats._resampling")
skm = pytest.importorskip("sklearn.metrics")

C = 3


def _table(n=400, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.choice(C, n, p=[0.5, 0.3, 0.2])
    p = np.where(rng.random(n) < 0.75, t, rng.integers(0, C, n))
    return np.bincount(t * C + p, minlength=C * C).reshape(C, C)


def _samples(table):
    """The data set behind a table: one cell index per sample."""
    return np.repeat(np.arange(C * C), table.ravel())


def _margins(x, axis=-1):
    x = np.moveaxis(np.asarray(x), axis, -1)
    tp = np.stack([(x == k * C + k).sum(-1) for k in range(C)], -1).astype(float)
    true = np.stack([(x // C == k).sum(-1) for k in range(C)], -1).astype(float)
    pred = np.stack([(x % C == k).sum(-1) for k in range(C)], -1).astype(float)
    return tp, true, pred


# statistics of sample-level data, vectorised as scipy.stats.bootstrap wants them
def recall_2(x, axis=-1):
    tp, true, _ = _margins(x, axis)
    return tp[..., 2] / true[..., 2]


def macro_f1(x, axis=-1):
    tp, true, pred = _margins(x, axis)
    return (2 * tp / (true + pred)).mean(-1)


def mcc(x, axis=-1):
    tp, true, pred = _margins(x, axis)
    n = true.sum(-1)
    cov = tp.sum(-1) * n - (true * pred).sum(-1)
    return cov / np.sqrt((n ** 2 - (pred ** 2).sum(-1)) * (n ** 2 - (true ** 2).sum(-1)))


def _report_reps(table, n_resamples, seed):
    """Our replicates of the report's values, the BCa levels, and the rows of recall 2 and
    macro F1 in them."""
    tp, true, pred, _ = CI.draw_margins(table, n_resamples, seed)
    values = np.empty((C + 3, 3, n_resamples))
    sel = np.arange(C)
    BK.report_values(tp, true, pred, sel, 0.0, values)
    values = values.reshape(-1, n_resamples)
    levels = CI._report_bca(table, sel, 0.0, values, 0.95)
    return values, levels, {"recall 2": 2 * 3 + 1, "macro f1": (C + 1) * 3 + 2}


@pytest.mark.parametrize("seed", [0, 1])
def test_bca_terms_equal_scipys_on_the_same_replicates(seed):
    # z0 and the acceleration are deterministic given the replicates: scipy's own _bca_interval
    # (its jackknife over every sample) on our replicates must give our levels
    table = _table(seed=seed)
    x = _samples(table)
    values, levels, rows = _report_reps(table, 3000, seed)
    for name, stat in (("recall 2", recall_2), ("macro f1", macro_f1)):
        i = rows[name]
        assert stat(x) == pytest.approx(skm.recall_score(x // C, x % C, average=None)[2]
                                        if name == "recall 2" else
                                        skm.f1_score(x // C, x % C, average="macro"), abs=1e-12)
        a1, a2, a_hat = resampling._bca_interval((x,), stat, axis=-1, alpha=0.025,
                                                 theta_hat_b=values[i], batch=None, xp=np)
        assert levels.a[i] == pytest.approx(float(a_hat), rel=1e-9, abs=1e-15), name
        assert levels.qlo[i] == pytest.approx(float(a1), rel=1e-9), name
        assert levels.qhi[i] == pytest.approx(float(a2), rel=1e-9), name
        assert levels.a[i] != 0 and levels.qlo[i] != 0.025  # the corrections do something
        lo, hi = CI.quantile_rows(values[i:i + 1], levels.qlo[i:i + 1], levels.qhi[i:i + 1])
        assert lo[0] == pytest.approx(np.percentile(values[i], a1 * 100), abs=1e-12)
        assert hi[0] == pytest.approx(np.percentile(values[i], a2 * 100), abs=1e-12)


def test_accumulator_bca_terms_equal_scipys():
    table = _table(seed=3)
    x = _samples(table)
    tp, true, pred, _ = CI.bootstrap_margins(table, 2000, 4)
    values = CI.replicate_metric(tp, true, pred, int(table.sum()), "matthews_corrcoef")
    levels = CI._metric_bca(table, "matthews_corrcoef", None, {}, values, 0.95)
    a1, a2, a_hat = resampling._bca_interval((x,), mcc, axis=-1, alpha=0.025,
                                             theta_hat_b=values, batch=None, xp=np)
    assert levels.a[0] == pytest.approx(float(a_hat), rel=1e-9)
    assert (levels.qlo[0], levels.qhi[0]) == pytest.approx((float(a1), float(a2)), rel=1e-9)
    acc = cs.ConfusionMatrix().update(x // C, x % C)
    got = acc.interval("matthews_corrcoef", method="bca", n_resamples=2000, seed=4)
    assert got == pytest.approx((np.percentile(values, a1 * 100),
                                 np.percentile(values, a2 * 100)), abs=1e-12)


@pytest.mark.parametrize("name, stat", [("recall", recall_2), ("macro avg", macro_f1)])
def test_bca_intervals_match_scipys_bootstrap_in_distribution(name, stat):
    # scipy resamples the 600 rows itself; with 20,000 resamples both intervals are within
    # Monte-Carlo error (a few thousandths) of the exact BCa interval
    table = _table(n=600, seed=5)
    x = _samples(table)
    ref = scipy_stats.bootstrap((x,), stat, method="BCa", n_resamples=20_000, rng=1,
                                vectorized=True).confidence_interval
    acc = cs.ConfusionMatrix().update(x // C, x % C)
    rep = acc.report(ci=0.95, ci_method="bca", n_resamples=20_000, seed=2, zero_division=0)
    got = rep.interval("recall", 2) if name == "recall" else rep.interval("f1-score", name)
    assert got == pytest.approx((ref.low, ref.high), abs=0.006)
    # and the percentile interval is another interval (the corrections are not nil here)
    perc = acc.report(ci=0.95, n_resamples=20_000, seed=2, zero_division=0)
    assert perc.interval("recall", 2) != rep.interval("recall", 2)


PRIORS = np.array([0.55, 0.3, 0.15])
Q = np.array([[0.85, 0.10, 0.05],
              [0.15, 0.75, 0.10],
              [0.10, 0.20, 0.70]])


def _coverage(priors, q, n, n_sets, seed):
    pop = priors[:, None] * q
    truth = np.r_[np.diag(q), np.mean(2 * np.diag(pop) / (pop.sum(axis=1) + pop.sum(axis=0)))]
    rng = np.random.default_rng(seed)
    tables = rng.multinomial(n, pop.ravel(), size=n_sets).reshape(n_sets, C, C)
    hits = {"bootstrap": np.zeros(4), "bca": np.zeros(4)}
    for i, table in enumerate(tables):
        for method in hits:
            got = CI.report_intervals(table, np.arange(C), ci=0.95, method=method,
                                      n_resamples=400, seed=i, zero_division=0,
                                      micro_is_accuracy=True)
            iv = np.array([got[(k, "recall")] for k in range(C)]
                          + [got[("macro avg", "f1-score")]])
            hits[method] += (iv[:, 0] <= truth) & (truth <= iv[:, 1])
    k, m = np.einsum("bii->bi", tables), tables.sum(axis=2)
    lo, hi = CI.wilson(k, m, 0.95)
    wilson = ((lo <= truth[:C]) & (truth[:C] <= hi)).mean(axis=0)
    return {key: v / n_sets for key, v in hits.items()}, wilson


def test_bca_coverage():
    cover, _ = _coverage(PRIORS, Q, 1000, 500, 2027)
    assert np.all((cover["bca"] >= 0.93) & (cover["bca"] <= 0.97)), cover
    # where it matters: a class of about 40 samples with recall 0.85 (skewed replicates), and
    # a class of about 18 with recall 0.96
    cover, wilson = _coverage(np.array([0.9, 0.07, 0.03]),
                              np.array([[0.9, 0.07, 0.03], [0.1, 0.85, 0.05],
                                        [0.02, 0.02, 0.96]]), 600, 1000, 7)
    keep = [0, 1, 3]  # recall of classes 0 and 1, macro F1
    assert np.all((cover["bca"][keep] >= 0.93) & (cover["bca"][keep] <= 0.97)), cover
    assert abs(cover["bca"][1] - 0.95) < abs(cover["bootstrap"][1] - 0.95), cover
    # a recall near 1 on 18 samples: every row right in half the data sets, so every
    # bootstrap interval (percentile or BCa) is [1, 1] there; Wilson is the interval to use
    assert cover["bca"][2] < 0.6 and cover["bootstrap"][2] < 0.6, cover
    assert wilson[2] >= 0.93, wilson


def test_bca_everywhere_the_bootstrap_is():
    table = _table(seed=8)
    x = _samples(table)
    acc = cs.ConfusionMatrix().update(x // C, x % C)
    rep = acc.report(ci=0.9, ci_method="BCa", seed=3)
    assert "90% confidence intervals: BCa bootstrap, 1000 resamples" in str(rep)
    d = rep.to_dict()
    for row in ("0", "1", "2", "macro avg", "weighted avg"):
        for metric in ("precision", "recall", "f1-score"):
            lo, hi = d[row][metric + " ci"]
            assert lo <= d[row][metric] <= hi
    assert rep.to_dict() == acc.report(ci=0.9, ci_method="bca", seed=3).to_dict()
    for metric, kw in (("cohen_kappa", {"weights": "quadratic"}), ("balanced_accuracy", {}),
                       ("jaccard", {"average": "macro"}), ("accuracy", {})):
        lo, hi = acc.interval(metric, method="bca", seed=1, **kw)
        assert lo < hi
    lo, hi = acc.interval("jaccard", method="bca", seed=1)
    assert lo.shape == (C,) and np.all(lo < hi)
    # a value that does not move under the bootstrap: all replicates equal, so is the interval
    one = cs.ConfusionMatrix().update([0] * 50 + [1] * 50, [0] * 50 + [1] * 50)
    assert one.report(ci=0.95, ci_method="bca", seed=0).interval("recall", 0) == (1.0, 1.0)
    with pytest.raises(ValueError, match="n_resamples"):
        acc.report(ci=0.9, ci_method="bca", n_resamples=0)


def test_cli_bca(tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    import json

    from confstream import cli

    x = _samples(_table(seed=9))
    path = tmp_path / "preds.csv"
    pd.DataFrame({"y": x // C, "yhat": x % C}).to_csv(path, index=False)
    assert cli.main(["report", str(path), "--true", "y", "--pred", "yhat", "--ci", "0.95",
                     "--ci-method", "bca", "--seed", "2", "--format", "json",
                     "--no-progress"]) == 0
    rep = cs.ConfusionMatrix().update(x // C, x % C).report(ci=0.95, ci_method="bca", seed=2)
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(rep.to_dict()))
