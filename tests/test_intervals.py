"""Confidence intervals: against statsmodels / scipy / scikit-learn, a row-level bootstrap,
and a known population model (coverage)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import confstream as cs
from confstream import intervals as CI

sm_prop = pytest.importorskip("statsmodels.stats.proportion")
scipy_stats = pytest.importorskip("scipy.stats")
scipy_special = pytest.importorskip("scipy.special")
skm = pytest.importorskip("sklearn.metrics")


# ---------------------------------------------------------------------------------------------
# binomial proportions: statsmodels' proportion_confint to 1e-12


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 100_000), frac=st.floats(0, 1), ci=st.floats(0.5, 0.9999),
       edge=st.sampled_from(["any", "zero", "all", "one", "n-1"]))
def test_wilson_and_clopper_pearson_equal_statsmodels(n, frac, ci, edge):
    k = {"any": round(frac * n), "zero": 0, "all": n, "one": min(1, n),
         "n-1": n - 1}[edge]
    for ours, theirs in ((CI.wilson, "wilson"), (CI.clopper_pearson, "beta")):
        lo, hi = ours(k, n, ci)
        rlo, rhi = sm_prop.proportion_confint(k, n, alpha=1 - ci, method=theirs)
        assert lo == pytest.approx(rlo, abs=1e-12, rel=1e-12), (theirs, k, n, ci)
        assert hi == pytest.approx(rhi, abs=1e-12, rel=1e-12), (theirs, k, n, ci)


def test_proportion_intervals_vectorised_and_large_counts():
    rng = np.random.default_rng(5)
    for n in (1, 2, 7, 50, 10**4, 10**6):
        k = np.unique(np.r_[0, 1, n, n - 1, rng.integers(0, n + 1, 30)].clip(0, n))
        for ours, theirs in ((CI.wilson, "wilson"), (CI.clopper_pearson, "beta")):
            lo, hi = ours(k, np.full(k.shape, n), 0.95)
            rlo, rhi = sm_prop.proportion_confint(k, n, alpha=0.05, method=theirs)
            np.testing.assert_allclose(lo, rlo, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(hi, rhi, rtol=1e-12, atol=1e-12)
    assert all(math.isnan(v) for v in CI.wilson(0, 0)) and all(
        math.isnan(v) for v in CI.clopper_pearson(0, 0))


@settings(max_examples=40, deadline=None)
@given(a=st.floats(0.05, 5e4), b=st.floats(0.05, 5e4), q=st.floats(0.001, 0.999))
def test_betainc_and_beta_ppf_equal_scipy(a, b, q):
    x = float(scipy_stats.beta.ppf(q, a, b))
    if 0 < x < 1:
        # 1e-12, or 1e-11 of the value: near the switch between its two continued fractions
        # (x ~ (a + 1) / (a + b + 2)) with one parameter ~5e4, the fraction loses up to 6e-12
        # of the value (e.g. a=47718.4, b=2.53, x=0.99992602: 1.4e-12 from mpmath's). The
        # Clopper-Pearson bounds built on it equal statsmodels' to 1e-12 (tests above).
        assert CI.betainc(a, b, x) == pytest.approx(scipy_special.betainc(a, b, x), abs=1e-12,
                                                    rel=1e-11)
    assert CI.beta_ppf(q, a, b)[0] == pytest.approx(x, abs=1e-12, rel=1e-10)


def test_binom_cdf_equals_scipy():
    for n in (1, 2, 10, 101, 5000, 10**6):
        k = np.unique(np.r_[0, 1, n // 3, n // 2, n - 1, n])
        np.testing.assert_allclose(CI.binom_cdf(k, np.full(k.shape, n)),
                                   scipy_stats.binom.cdf(k, n, 0.5), rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------------------------------
# replicate metrics are scikit-learn's metrics of the replicate's rows


def _rows(table):
    c = table.shape[0]
    cells = np.repeat(np.arange(c * c), table.ravel())
    return cells // c, cells % c


def _margins(tables):
    tables = np.asarray(tables)
    return (np.einsum("bii->bi", tables), tables.sum(axis=2), tables.sum(axis=1))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), c=st.integers(1, 5),
       zero_division=st.sampled_from(["warn", 0, 1, np.nan]),
       average=st.sampled_from([None, "micro", "macro", "weighted"]))
def test_replicate_prfs_equal_sklearn(seed, c, zero_division, average):
    rng = np.random.default_rng(seed)
    tables = rng.integers(0, 4, (6, c, c)) * (rng.random((6, c, c)) < 0.6)
    tables[:, 0, 0] += 1  # every table has a sample
    tp, true, pred = _margins(tables)
    labels = list(range(c))
    got = CI.replicate_prfs(tp, pred, true, average, zero_division)
    for b, table in enumerate(tables):
        t, p = _rows(table)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = skm.precision_recall_fscore_support(t, p, labels=labels, average=average,
                                                     zero_division=zero_division)
        for which, (ours, theirs) in enumerate(zip(got, ref[:3])):
            if average is None:
                defined = ~np.isnan(ours[b])
                np.testing.assert_allclose(ours[b][defined], np.asarray(theirs)[defined],
                                           rtol=1e-12)
                # undefined exactly where scikit-learn had to use zero_division
                denominators = {0: pred[b], 1: true[b], 2: true[b] + pred[b]}
                assert np.array_equal(~defined, denominators[which] == 0)
            else:
                np.testing.assert_allclose(ours[b], theirs, rtol=1e-12, equal_nan=True)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), c=st.integers(2, 5))
def test_replicate_metrics_equal_sklearn(seed, c):
    rng = np.random.default_rng(seed)
    tables = rng.integers(0, 5, (3, c, c)) * (rng.random((3, c, c)) < 0.7)
    tables[:, 0, 0] += 1
    tables[:, 1, 1] += 1  # two labels in common, so kappa is defined
    tp, true, pred = _margins(tables)
    labels = list(range(c))
    for b, table in enumerate(tables):
        t, p = _rows(table)
        n = int(table.sum())
        one = (tp[b:b + 1], true[b:b + 1], pred[b:b + 1], n)
        assert CI.replicate_metric(*one, "matthews_corrcoef")[0] == pytest.approx(
            skm.matthews_corrcoef(t, p), abs=1e-12)
        assert CI.replicate_metric(*one, "accuracy")[0] == pytest.approx(
            skm.accuracy_score(t, p), abs=1e-15)
        for w in (None, "linear", "quadratic"):
            extra = (np.array([(CI._kappa_weights(c, w) * table).sum()]) if w else None)
            assert CI.replicate_metric(*one, "cohen_kappa", weights=w, extra=extra)[0] == \
                pytest.approx(skm.cohen_kappa_score(t, p, labels=labels, weights=w), abs=1e-12)
        present = sorted(set(t) | set(p))
        keep = np.isin(np.arange(c), present)
        sub = tuple(a[:, keep] for a in one[:3]) + (n,)
        for adjusted in (False, True):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref = skm.balanced_accuracy_score(t, p, adjusted=adjusted)
            assert CI.replicate_metric(*sub, "balanced_accuracy", adjusted=adjusted)[0] == \
                pytest.approx(ref, abs=1e-12)
        for average in (None, "micro", "macro", "weighted"):
            for z in (0, 1):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ref = skm.jaccard_score(t, p, labels=labels, average=average,
                                            zero_division=z)
                got = CI.replicate_metric(*one, "jaccard", average=average, zero_division=z)
                if average is None:
                    defined = ~np.isnan(got[0])
                    np.testing.assert_allclose(got[0][defined], ref[defined], rtol=1e-12)
                else:
                    assert got[0] == pytest.approx(ref, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# the count-drawn bootstrap is the row bootstrap


def test_count_bootstrap_matches_row_bootstrap_in_distribution():
    rng = np.random.default_rng(11)
    n, c, b = 300, 3, 2000
    t = rng.choice(c, n, p=[0.5, 0.3, 0.2])
    p = np.where(rng.random(n) < 0.7, t, rng.integers(0, c, n))
    table = np.bincount(t * c + p, minlength=c * c).reshape(c, c)
    counts = CI.bootstrap_margins(table, b, seed=12)[:3]
    idx = rng.integers(0, n, (b, n))
    cells = (t * c + p)[idx] + np.arange(b)[:, None] * c * c
    rows = np.bincount(cells.ravel(), minlength=b * c * c).reshape(b, c, c)
    tp, true, pred = _margins(rows)

    def stats(tp, true, pred):
        _, r, _ = CI.replicate_prfs(tp, pred, true)
        _, _, macro_f1 = CI.replicate_prfs(tp, pred, true, "macro", 0)
        return {"recall 2": r[:, 2], "macro f1": macro_f1,
                "accuracy": tp.sum(axis=1) / n,
                "mcc": CI.replicate_metric(tp, true, pred, n, "matthews_corrcoef")}

    ours, theirs = stats(*counts), stats(tp, true, pred)
    for name in ours:
        res = scipy_stats.ks_2samp(ours[name], theirs[name])
        assert res.pvalue > 0.01, (name, res)
    # and the replicate tables keep the total
    assert np.all(counts[1].sum(axis=1) == n) and np.all(counts[2].sum(axis=1) == n)


# ---------------------------------------------------------------------------------------------
# coverage under a known model


PRIORS = np.array([0.55, 0.3, 0.15])
Q = np.array([[0.85, 0.10, 0.05],  # P(pred = j | true = i)
              [0.15, 0.75, 0.10],
              [0.10, 0.20, 0.70]])


def test_coverage_of_recall_and_macro_f1():
    pop = PRIORS[:, None] * Q
    true_recall = np.diag(Q)
    true_macro_f1 = np.mean(2 * np.diag(pop) / (pop.sum(axis=1) + pop.sum(axis=0)))
    rng = np.random.default_rng(2026)
    n_sets, n = 1000, 1000
    hits = np.zeros(4)
    tables = rng.multinomial(n, pop.ravel(), size=n_sets).reshape(n_sets, 3, 3)
    for i, table in enumerate(tables):
        tp, true, pred, _ = CI.bootstrap_margins(table, 400, seed=i)
        _, r, _ = CI.replicate_prfs(tp, pred, true)
        _, _, f = CI.replicate_prfs(tp, pred, true, "macro", 0)
        lo, hi = CI.percentile_interval(np.column_stack([r, f]), 0.95)
        hits += (lo <= np.r_[true_recall, true_macro_f1]) & (np.r_[true_recall, true_macro_f1] <= hi)
    cover = {"bootstrap": hits / n_sets}
    # the report's own path gives the same intervals (checked on a few data sets)
    for i in range(3):
        got = CI.report_intervals(tables[i], np.arange(3), ci=0.95, method="bootstrap",
                                  n_resamples=400, seed=i, zero_division=0,
                                  micro_is_accuracy=True)
        tp, true, pred, _ = CI.bootstrap_margins(tables[i], 400, seed=i)
        lo, hi = CI.percentile_interval(CI.replicate_prfs(tp, pred, true)[1], 0.95)
        assert [got[(k, "recall")] for k in range(3)] == list(zip(lo, hi))
    k, m = np.einsum("bii->bi", tables), tables.sum(axis=2)
    for method in ("wilson", "clopper-pearson"):
        lo, hi = CI.proportion_interval(k, m, 0.95, method)
        cover[method] = ((lo <= true_recall) & (true_recall <= hi)).mean(axis=0)
    assert np.all((cover["bootstrap"] >= 0.93) & (cover["bootstrap"] <= 0.97)), cover
    assert np.all((cover["wilson"] >= 0.93) & (cover["wilson"] <= 0.97)), cover
    assert np.all(cover["clopper-pearson"] >= 0.94), cover  # conservative by design


# ---------------------------------------------------------------------------------------------
# the report with intervals


def _data(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.choice(3, n, p=PRIORS)
    p = np.array([rng.choice(3, p=Q[k]) for k in t])
    return t, p


def test_report_without_ci_is_unchanged_and_with_ci_adds_intervals():
    t, p = _data()
    acc = cs.ConfusionMatrix().update(t, p)
    names = ["cat", "dog", "minority"]
    plain = acc.report(target_names=names, digits=3)
    assert str(plain) == skm.classification_report(t, p, target_names=names, digits=3)
    assert plain.to_dict() == skm.classification_report(t, p, target_names=names,
                                                        output_dict=True)
    with pytest.raises(ValueError, match="no intervals"):
        plain.interval("recall", "cat")
    rep = acc.report(target_names=names, digits=3, ci=0.95, seed=7)
    d = rep.to_dict()
    ref = skm.classification_report(t, p, target_names=names, output_dict=True)
    for row, values in ref.items():  # every number of sklearn's dict is still there
        if row == "accuracy":
            assert d[row] == values
            continue
        for metric, v in values.items():
            assert d[row][metric] == v
            if metric != "support":
                lo, hi = d[row][metric + " ci"]
                assert lo <= v <= hi and (lo, hi) == rep.interval(metric, row)
    assert tuple(d["accuracy ci"]) == rep.interval("accuracy")
    assert rep.interval("recall", 2) == rep.interval("recall", "minority")
    assert rep.interval("f1", "macro avg") == rep.interval("f1-score", "macro avg")
    text = str(rep)
    assert "95% confidence intervals: percentile bootstrap, 1000 resamples" in text
    lo, hi = rep.interval("recall", "minority")
    assert f"{ref['minority']['recall']:.3f} [{lo:.3f}, {hi:.3f}]" in text
    assert json.loads(json.dumps(d)) == d
    # same seed, same intervals; another seed, others
    assert rep.to_dict() == acc.report(target_names=names, digits=3, ci=0.95, seed=7).to_dict()
    assert rep.to_dict() != acc.report(target_names=names, digits=3, ci=0.95, seed=8).to_dict()


def test_wilson_and_clopper_pearson_reports_equal_statsmodels():
    t, p = _data(seed=3)
    acc = cs.ConfusionMatrix().update(t, p)
    table = skm.confusion_matrix(t, p)
    for method, theirs in (("wilson", "wilson"), ("clopper-pearson", "beta")):
        rep = acc.report(ci=0.9, ci_method=method)
        for k in range(3):
            for metric, den in (("recall", table.sum(axis=1)), ("precision", table.sum(axis=0))):
                ref = sm_prop.proportion_confint(table[k, k], den[k], alpha=0.1, method=theirs)
                assert rep.interval(metric, k) == pytest.approx(ref, abs=1e-12)
        ref = sm_prop.proportion_confint(np.trace(table), table.sum(), alpha=0.1, method=theirs)
        assert rep.interval("accuracy") == pytest.approx(ref, abs=1e-12)
        for metric, row in (("f1-score", 0), ("precision", "macro avg"), ("f1", "weighted avg")):
            with pytest.raises(ValueError, match="bootstrap"):
                rep.interval(metric, row)
        assert "f1-score ci" not in rep.to_dict()["0"]
        assert "Wilson" in str(rep) or "Clopper" in str(rep)


def test_labels_subset_gives_micro_avg_intervals_and_missing_labels_nan():
    t, p = _data(seed=4)
    acc = cs.ConfusionMatrix().update(t, p)
    rep = acc.report(labels=[0, 2, 9], ci=0.95, seed=1, zero_division=0)
    assert rep.accuracy is None
    lo, hi = rep.interval("precision", "micro avg")
    assert lo <= rep.get("precision", "micro avg") <= hi
    assert all(math.isnan(v) for v in rep.interval("recall", 9))  # no samples: no interval
    wil = acc.report(labels=[0, 2], ci=0.95, ci_method="wilson", zero_division=0)
    table = skm.confusion_matrix(t, p)
    ref = sm_prop.proportion_confint(table[0, 0] + table[2, 2],
                                     table[:, 0].sum() + table[:, 2].sum(), alpha=0.05,
                                     method="wilson")
    assert wil.interval("precision", "micro avg") == pytest.approx(ref, abs=1e-12)


def test_short_target_names_cut_rows_as_sklearn():
    t, p = _data(seed=5)
    acc = cs.ConfusionMatrix().update(t, p)
    with pytest.warns(UserWarning, match="labels size, 3, does not match size of target_names"):
        rep = acc.report(labels=[0, 1, 2], target_names=["a", "b"], ci=0.95, seed=0)
    d = rep.to_dict()
    assert list(d)[:2] == ["a", "b"] and "recall ci" in d["a"] and "2" not in d
    assert "macro avg" in str(rep) and rep.interval("recall", "b")[0] < rep.get("recall", "b")


def test_undefined_replicates_are_left_out():
    # class 2 has one true sample and is never predicted; class 1 has a single sample too
    t = np.array([0] * 60 + [1] + [2])
    p = np.array([0] * 50 + [1] * 10 + [1] + [0])
    acc = cs.ConfusionMatrix().update(t, p)
    rep = acc.report(ci=0.95, seed=0, zero_division=0)
    # precision of 2: no predictions at all, undefined in every replicate
    assert all(math.isnan(v) for v in rep.interval("precision", 2))
    # recall of 1: defined only in replicates that drew its sample (left out otherwise: the
    # interval is that of a recall, 0 or 1 here, not pulled to 0 by the missing replicates)
    assert rep.interval("recall", 1) == (1.0, 1.0)
    # averages are scikit-learn's on each replicate: zero_division counts undefined classes
    lo, hi = rep.interval("precision", "macro avg")
    assert lo <= rep.get("precision", "macro avg") <= hi
    nan_rep = acc.report(ci=0.95, seed=0, zero_division=np.nan)
    assert nan_rep.interval("precision", "macro avg")[0] > hi  # nan classes skipped


def test_merged_shards_give_the_interval_of_one_stream():
    rng = np.random.default_rng(9)
    names = np.array(["ant", "bee", "cow", "dog"])
    t = names[rng.choice(4, 3000, p=[0.4, 0.3, 0.2, 0.1])]
    p = np.where(rng.random(3000) < 0.75, t, names[rng.integers(0, 4, 3000)])
    one = cs.ConfusionMatrix().update(t, p)
    # a shard that meets "cow" and "dog" first indexes the labels in another order
    first = np.isin(t, ["cow", "dog"]) & np.isin(p, ["cow", "dog"])
    shards = [cs.ConfusionMatrix().update(t[first], p[first]),
              cs.ConfusionMatrix().update(t[~first][::2], p[~first][::2]),
              cs.ConfusionMatrix().update(t[~first][1::2], p[~first][1::2])]
    merged = sum(shards)
    assert merged.labels != one.labels
    a = one.report(ci=0.9, seed=5)
    b = merged.report(ci=0.9, seed=5)
    assert a.to_dict() == b.to_dict() and str(a) == str(b)
    for m in ("matthews_corrcoef", "cohen_kappa", "balanced_accuracy"):
        assert one.interval(m, seed=2) == merged.interval(m, seed=2)


def test_accumulator_intervals():
    t, p = _data(seed=6)
    acc = cs.ConfusionMatrix(num_classes=4).update(t, p)  # class 3 never seen
    for metric, value in (("matthews_corrcoef", skm.matthews_corrcoef(t, p)),
                          ("cohen_kappa", skm.cohen_kappa_score(t, p)),
                          ("balanced_accuracy", skm.balanced_accuracy_score(t, p)),
                          ("jaccard", None), ("accuracy", skm.accuracy_score(t, p))):
        lo, hi = acc.interval(metric, 0.95, seed=3)
        if value is not None:
            assert lo < value < hi, metric
        else:
            ref = skm.jaccard_score(t, p, average=None)
            assert lo.shape == (3,) and np.all((lo < ref) & (ref < hi))
    lo, hi = acc.interval("cohen_kappa", weights="quadratic", seed=3)
    assert lo < skm.cohen_kappa_score(t, p, weights="quadratic") < hi
    lo, hi = acc.interval("jaccard", average="macro", seed=3)
    assert lo < skm.jaccard_score(t, p, average="macro") < hi
    wl = acc.interval("accuracy", method="wilson")
    assert wl == pytest.approx(sm_prop.proportion_confint(
        int((t == p).sum()), len(t), 0.05, method="wilson"), abs=1e-12)
    with pytest.raises(ValueError, match="bootstrap"):
        acc.interval("matthews_corrcoef", method="wilson")
    with pytest.raises(ValueError, match="unknown metric"):
        acc.interval("auroc")
    with pytest.raises(TypeError, match="weights"):
        acc.interval("matthews_corrcoef", weights="linear")


@pytest.mark.parametrize("kwargs, match", [
    ({"ci": 0}, "ci must be in"), ({"ci": 1}, "ci must be in"), ({"ci": 1.5}, "ci must be in"),
    ({"ci": -0.1}, "ci must be in"), ({"ci": float("nan")}, "ci must be in"),
    ({"ci": 0.95, "n_resamples": 0}, "n_resamples"),
    ({"ci": 0.95, "n_resamples": -3}, "n_resamples"),
    ({"ci": 0.95, "ci_method": "bogus"}, "unknown ci_method 'bogus'"),
])
def test_bad_arguments_raise_value_error_naming_them(kwargs, match):
    acc = cs.ConfusionMatrix().update([0, 1, 1], [0, 1, 0])
    before = acc.to_dict()
    with pytest.raises(ValueError, match=match):
        acc.report(**kwargs)
    with pytest.raises(ValueError, match=match.replace("ci_method", "ci_method")):
        acc.interval("matthews_corrcoef", kwargs["ci"], method=kwargs.get("ci_method",
                                                                            "bootstrap"),
                     n_resamples=kwargs.get("n_resamples", 10))
    assert acc.to_dict() == before
    with pytest.raises(TypeError, match="n_resamples"):
        acc.report(ci=0.9, n_resamples=10.5)
    with pytest.raises(TypeError, match="ci must be"):
        acc.report(ci="0.95")


def test_weighted_data_is_refused_with_the_reason():
    acc = cs.ConfusionMatrix().update([0, 1, 1], [0, 1, 0], sample_weight=[1, 2, 1])
    for call in (lambda: acc.report(ci=0.95), lambda: acc.report(ci=0.95, ci_method="wilson"),
                 lambda: acc.interval("cohen_kappa")):
        with pytest.raises(ValueError, match="Poisson bootstrap"):
            call()
    assert str(acc.report()) == skm.classification_report([0, 1, 1], [0, 1, 0],
                                                          sample_weight=[1, 2, 1])


def test_history_tracks_intervals():
    pd = pytest.importorskip("pandas")
    h = cs.History()
    for epoch in range(3):
        t, p = _data(n=400, seed=epoch)
        h.append(cs.ConfusionMatrix().update(t, p).report(ci=0.95, seed=epoch))
    got = h.interval("recall", 2)
    assert len(got) == 3 and got[1] == h[1].interval("recall", 2)
    assert h.interval("accuracy") == [r.interval("accuracy") for r in h]
    df = h.to_pandas()
    assert isinstance(df, pd.DataFrame)
    row = df[(df["epoch"] == 2) & (df["class"] == "macro avg")].iloc[0]
    assert (row["f1-score_lo"], row["f1-score_hi"]) == h[2].interval("f1-score", "macro avg")
    acc_row = df[(df["epoch"] == 0) & (df["class"] == "accuracy")].iloc[0]
    assert (acc_row["f1-score_lo"], acc_row["f1-score_hi"]) == h[0].interval("accuracy")
    plain = cs.History([cs.ConfusionMatrix().update([0, 1], [0, 1]).report()])
    assert list(plain.to_pandas().columns) == ["epoch", "class", "precision", "recall",
                                               "f1-score", "support"]


def test_reports_with_intervals_from_threads_while_updating():
    code = textwrap.dedent("""
        import threading
        import numpy as np
        import confstream as cs
        acc = cs.ConfusionMatrix(num_classes=5)
        rng = np.random.default_rng(0)
        acc.update(rng.integers(0, 5, 1000), rng.integers(0, 5, 1000))
        errors = []
        def updater(i):
            r = np.random.default_rng(i)
            for _ in range(50):
                acc.update(r.integers(0, 5, 200), r.integers(0, 5, 200))
        def reader(i):
            try:
                for _ in range(10):
                    rep = acc.report(ci=0.9, n_resamples=50, seed=i)
                    n = sum(rep.support)
                    lo, hi = rep.interval("accuracy")
                    assert lo <= rep.accuracy <= hi, (lo, rep.accuracy, hi)
                    acc.interval("matthews_corrcoef", n_resamples=50)
            except Exception as exc:
                errors.append(repr(exc))
        ts = [threading.Thread(target=updater, args=(i,)) for i in range(3)]
        ts += [threading.Thread(target=reader, args=(i,)) for i in range(3)]
        for t in ts: t.start()
        for t in ts: t.join()
        assert not errors, errors
        assert acc.counts.sum() == 1000 + 3 * 50 * 200
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_intervals_doc_examples_run():
    import re
    from pathlib import Path

    doc = Path(__file__).resolve().parents[1] / "docs" / "INTERVALS.md"
    ns: dict = {}
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 3
    for code in blocks:
        exec(compile(code, str(doc), "exec"), ns)
    assert ns["acc"].replicates.shape == (200, 3, 3)
    lo, hi = ns["multi"].interval("f1-score", "samples avg")
    assert lo < ns["multi"].get("f1-score", "samples avg") < hi
    lo, hi = ns["report"].interval("recall", "minority")
    assert lo < ns["report"].get("recall", "minority") < hi
    assert ns["d"].low < ns["d"].estimate < ns["d"].high


def test_cli_ci_flag(tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    from confstream import cli

    t, p = _data(n=800, seed=12)
    path = tmp_path / "preds.csv"
    pd.DataFrame({"y": t, "yhat": p}).to_csv(path, index=False)
    acc = cs.ConfusionMatrix().update(t, p)
    assert cli.main(["report", str(path), "--true", "y", "--pred", "yhat", "--ci", "0.9",
                     "--seed", "4", "--digits", "3", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out == str(acc.report(digits=3, ci=0.9, seed=4))
    assert cli.main(["report", str(path), "--true", "y", "--pred", "yhat", "--ci", "0.95",
                     "--ci-method", "wilson", "--format", "json", "--no-progress"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got == json.loads(json.dumps(acc.report(ci=0.95, ci_method="wilson").to_dict()))
    assert cli.main(["report", str(path), "--true", "y", "--pred", "yhat",
                     "--no-progress"]) == 0
    assert capsys.readouterr().out == skm.classification_report(t, p)
    assert cli.main(["report", str(path), "--true", "y", "--pred", "yhat", "--ci", "0.95",
                     "--format", "csv"]) == 2
    assert "--ci works with --format text or json" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main(["report", str(path), "--true", "y", "--pred", "yhat", "--ci", "1.5"])
    assert exc.value.code == 2 and "level in (0, 1)" in capsys.readouterr().err


def test_keras_callback_logs_interval_bounds():
    pytest.importorskip("keras")
    from confstream.adapters.keras import ConfusionCallback

    t, p = _data(n=600, seed=13)
    x = np.eye(3, dtype=np.float32)[p]  # the "model" predicts one-hot rows of p

    class Model:
        def predict_on_batch(self, xb):
            return np.asarray(xb)

    cb = ConfusionCallback((x, t), num_classes=3, target_names=["a", "b", "minority"],
                           ci=0.9, seed=2, batch_size=128)
    cb.set_model(Model())
    logs: dict = {}
    cb.on_epoch_end(0, logs)
    rep = cs.ConfusionMatrix(num_classes=3).update(t, p).report(
        labels=[0, 1, 2], target_names=["a", "b", "minority"], zero_division=0, ci=0.9, seed=2)
    assert str(cb.history[-1]) == str(rep)
    assert (logs["val_recall_minority_lo"], logs["val_recall_minority_hi"]) == \
        rep.interval("recall", "minority")
    assert logs["val_f1_a_lo"] < logs["val_f1_a"] < logs["val_f1_a_hi"]
    with pytest.raises(ValueError, match="ci must be in"):
        ConfusionCallback((x, t), ci=2)
    with pytest.raises(ValueError, match="single-label"):
        ConfusionCallback((x, t), multilabel=True, ci=0.9)
