"""``confstream report PATH --by COL --score COL``: each group's AUROC and average precision
(with ``--pred``: beside its classification report), the overall values and their gaps,
against scikit-learn's ``roc_auc_score`` / ``average_precision_score`` on each group's rows;
on one process and on a Dask cluster (parts counted on the workers, curves added up)."""

from __future__ import annotations

import json
import math
import os
import tempfile
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")
skm = pytest.importorskip("sklearn.metrics")
from sklearn.exceptions import UndefinedMetricWarning  # noqa: E402

from _reference import cli_output, dask_client  # noqa: E402


@pytest.fixture(scope="module")
def client():
    yield from dask_client(processes=False)


run = cli_output


def sk(fn, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return fn(*a, **kw)


def equal(got, ref, weighted):
    if math.isnan(ref):
        return math.isnan(got)
    return got == ref if not weighted else math.isclose(got, ref, rel_tol=1e-12,
                                                         abs_tol=1e-15)


def group_rows(d):
    return {tuple(g["group"].values()): g["report"] for g in d["groups"]}


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(4, 300), st.integers(1, 90), st.booleans(),
       st.booleans(), st.booleans())
def test_groups_equal_sklearn_on_their_rows(seed, n, chunk, weighted, with_pred, crossed):
    """float16 scores: each group's (and the overall) AUROC / AP is scikit-learn's, whatever
    the chunks; with --pred the classification report is unchanged beside it."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[0], y[-1] = 0, 1
    s = (rng.integers(0, 9, n) / 8 * 0.9 + 0.05 * y).astype(np.float16)
    g = rng.choice(np.array(["a", "b", "c"]), n)
    h = rng.integers(0, 2, n)
    w = rng.integers(1, 4, n).astype(np.float64) if weighted else None
    arrays = {"y": y, "s": s, "g": g, "h": h, "p": (s > 0.5).astype(np.int64)}
    if weighted:
        arrays["w"] = w
    by = "g,h" if crossed else "g"
    extra = (["--weight", "w"] if weighted else []) + (["--pred", "p"] if with_pred else [])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "d.npz")
        np.savez(path, **arrays)
        rc, out, err = run("report", path, "--true", "y", "--score", "s", "--by", by,
                           "--format", "json", "--chunksize", chunk, *extra)
    assert rc == 0, err
    d = json.loads(out)
    rows = group_rows(d)
    keys = list(zip(g, h)) if crossed else [(v,) for v in g]
    s64 = s.astype(np.float64)
    for key in sorted(set(keys)):
        m = np.array([k == key for k in keys])
        json_key = tuple(int(x) if isinstance(x, np.integer) else str(x) for x in key)
        row = rows[json_key]
        wm = None if w is None else w[m]
        if with_pred:
            ref = sk(skm.classification_report, y[m], arrays["p"][m], sample_weight=wm,
                     output_dict=True, zero_division=0)
            assert row["accuracy"] == pytest.approx(ref["accuracy"], rel=1e-12)
        if not (y[m] == 1).any():
            assert "1" not in row or math.isnan(row["1"]["auroc"]) or row["1"]["ap"] == 0
            continue
        auc = sk(skm.roc_auc_score, y[m], s64[m], sample_weight=wm) if (y[m] == 0).any() \
            else math.nan
        ap = sk(skm.average_precision_score, y[m], s64[m], sample_weight=wm)
        assert equal(row["1"]["auroc"], auc, weighted), (key, row, auc)
        assert equal(row["1"]["ap"], ap, weighted), (key, row, ap)
        assert row["1"]["auroc bounds"][0] == row["1"]["auroc bounds"][1] or math.isnan(auc)
    total = d["overall curves"]["1"]
    assert equal(total["auroc"], skm.roc_auc_score(y, s64, sample_weight=w), weighted)
    assert equal(total["ap"], skm.average_precision_score(y, s64, sample_weight=w), weighted)
    gap = next(x for x in d["gaps"] if x["metric"] == "auroc" and x["class"] == 1)
    vals = [r["1"]["auroc"] for r in rows.values() if "1" in r]
    vals = [v for v in vals if not math.isnan(v)]
    if vals:
        assert gap["max"] == max(vals) and gap["min"] == min(vals)
        assert gap["difference_to_overall"] == pytest.approx(
            max(abs(v - total["auroc"]) for v in vals), abs=1e-15)


def frame(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    region = rng.choice(["eu", "us", "apac"], n)
    y = rng.choice(["ham", "spam"], n, p=[0.75, 0.25])
    s = 1 / (1 + np.exp(-rng.normal(1.5 * (y == "spam") + 0.2 * (region == "us") - 0.7)))
    return pd.DataFrame({"region": region, "y": y, "s": s,
                         "p": np.where(s > 0.5, "spam", "ham"),
                         "w": rng.integers(1, 5, n) * 0.25})


def test_csv_parts_are_certified_per_group_and_dask_gives_the_same(tmp_path, client):
    df = frame()
    root = tmp_path / "parts"
    for i, part in enumerate([df.iloc[k::5] for k in range(5)]):
        for region, sub in part.groupby("region"):
            folder = root / f"region={region}"
            folder.mkdir(parents=True, exist_ok=True)
            sub.drop(columns="region").to_csv(folder / f"{i}.csv", index=False)
    back = pd.concat([pd.read_csv(f).assign(region=f.parent.name.split("=")[1])
                      for f in sorted(root.rglob("*.csv"))])
    base = ["report", root, "--true", "y", "--score", "s", "--by", "region", "--weight", "w",
            "--format", "json"]
    rc, out, err = run(*base, "--pred", "p")
    assert rc == 0, err
    d = json.loads(out)
    for (region,), row in group_rows(d).items():
        m = back["region"].to_numpy() == region
        yy, ss, ww = back["y"].to_numpy()[m], back["s"].to_numpy()[m], back["w"].to_numpy()[m]
        for metric, ref in (
                ("auroc", skm.roc_auc_score(yy == "spam", ss, sample_weight=ww)),
                ("ap", skm.average_precision_score(yy, ss, pos_label="spam",
                                                   sample_weight=ww))):
            lo, hi = row["spam"][metric + " bounds"]
            assert lo <= ref <= hi and hi - lo < 5e-3, (region, metric, lo, ref, hi)
        ref = sk(skm.classification_report, yy, back["p"].to_numpy()[m], sample_weight=ww,
                 output_dict=True)
        assert row["ham"]["recall"] == pytest.approx(ref["ham"]["recall"], rel=1e-12)
    lo, hi = d["overall curves"]["spam"]["auroc bounds"]
    assert lo <= skm.roc_auc_score(back["y"] == "spam", back["s"],
                                   sample_weight=back["w"]) <= hi
    # parts counted on the workers, the curves added up there: the same numbers
    rc, out2, err = run(*base, "--pred", "p", "--scheduler", client.scheduler.address)
    assert rc == 0, err
    assert json.loads(out2) == d
    # scores alone: the curves of each group, no classification report
    rc, out3, err = run(*base, "--scheduler", client.scheduler.address)
    assert rc == 0, err
    d3 = json.loads(out3)
    assert {k: v["spam"] for k, v in group_rows(d3).items()} == {
        k: {m: v["spam"][m] for m in ("auroc", "auroc bounds", "ap", "ap bounds", "support")}
        for k, v in group_rows(d).items()}
    assert "precision" not in out3 and d3["overall curves"] == d["overall curves"]
    assert [x["metric"] for x in d3["gaps"]] == ["auroc", "ap"]
    for fmt, words in (("text", "all groups"), ("markdown", "### all groups"),
                       ("csv", "class,auroc,auroc_lo")):
        rc, out, err = run(*base[:-2], "--format", fmt)
        assert rc == 0 and words in out and "eu" in out, (fmt, err)


def test_multiclass_score_matrix_per_group(tmp_path):
    rng = np.random.default_rng(5)
    n, c = 3000, 3
    y = rng.integers(0, c, n)
    z = rng.normal(size=(n, c))
    z[np.arange(n), y] += 1.2
    s = (np.exp(z) / np.exp(z).sum(1, keepdims=True)).astype(np.float16)
    g = rng.integers(0, 4, n)
    path = tmp_path / "m.npz"
    np.savez(path, y=y, s=s, g=g, p=s.argmax(1))
    rc, out, err = run("report", path, "--true", "y", "--pred", "p", "--score", "s", "--by",
                       "g", "--format", "json", "--chunksize", 701)
    assert rc == 0, err
    d = json.loads(out)
    s64 = s.astype(np.float64)
    for (key,), row in group_rows(d).items():
        m = g == key
        for k in range(c):
            assert row[str(k)]["auroc"] == skm.roc_auc_score(y[m] == k, s64[m, k])
            assert row[str(k)]["ap"] == skm.average_precision_score(y[m] == k, s64[m, k])
        assert row["macro avg"]["ap"] == pytest.approx(
            skm.average_precision_score(np.eye(c)[y[m]], s64[m]), rel=1e-15)
    assert d["overall curves"]["weighted avg"]["auroc"] == pytest.approx(
        skm.roc_auc_score(np.eye(c)[y], s64, average="weighted"), rel=1e-15)


def test_a_group_without_positives_gets_sklearns_nan_and_warning(tmp_path):
    path = tmp_path / "g.csv"
    pd.DataFrame({"y": [0, 1, 0, 1, 0, 0], "s": [0.1, 0.9, 0.4, 0.3, 0.2, 0.6],
                  "g": ["a", "a", "a", "a", "b", "b"]}).to_csv(path, index=False)
    rc, out, err = run("report", path, "--true", "y", "--score", "s", "--by", "g", "--format",
                       "json")
    assert rc == 0, err
    rows = group_rows(json.loads(out))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ref_auc = skm.roc_auc_score([0, 0], [0.2, 0.6])
        ref_ap = skm.average_precision_score([0, 0], [0.2, 0.6])
    assert math.isnan(ref_auc) and math.isnan(rows[("b",)]["1"]["auroc"])
    assert rows[("b",)]["1"]["ap"] == ref_ap
    assert caught and all(str(w.message) in err for w in caught), err
    assert rows[("a",)]["1"]["auroc"] == skm.roc_auc_score([0, 1, 0, 1], [0.1, 0.9, 0.4, 0.3])


def test_bad_score_in_a_part_names_part_and_row(tmp_path, client):
    df = frame(n=600)
    df.loc[457, "s"] = np.inf
    root = tmp_path / "parts"
    root.mkdir()
    for i in range(3):
        part = df.iloc[200 * i:200 * (i + 1)]
        part.reset_index(drop=True).to_parquet(root / f"{i}.parquet")
    for extra in ([], ["--scheduler", client.scheduler.address]):
        rc, out, err = run("report", root, "--true", "y", "--score", "s", "--by", "region",
                           *extra)
        assert rc == 2 and out == "", err
        assert "2.parquet" in err and "row 57" in err and "inf" in err, err
    rc, out, err = run("report", root, "--true", "y", "--by", "region")
    assert rc == 2 and "--score COL" in err
    rc, out, err = run("report", root, "--true", "y", "--score", "s", "--by", "region",
                       "--ci", "0.9")
    assert rc == 2 and "--ci" in err


def test_adaptive_resolution_per_group_equals_adaptive_curves_by_hand(tmp_path):
    from confstream import ScoreCurves

    df = frame(n=2500, seed=7)
    path = tmp_path / "f.csv"
    df.to_csv(path, index=False)
    back = pd.read_csv(path)
    rc, out, err = run("report", path, "--true", "y", "--pred", "p", "--score", "s", "--by",
                       "region", "--weight", "w", "--pos-label", "ham", "--score-resolution",
                       "adaptive", "--score-intervals", 64, "--format", "json",
                       "--chunksize", 400)
    assert rc == 0, err
    d = json.loads(out)
    y, s, w, region = (back[c].to_numpy() for c in ("y", "s", "w", "region"))
    for (key,), row in group_rows(d).items():
        m = region == key
        sc = ScoreCurves(labels=["spam", "ham"], resolution="adaptive", intervals=64)
        sc.update(y[m], s[m], sample_weight=w[m])
        want = sc.per_class(warn=False)["ham"]
        for metric, ref in (
                ("auroc", skm.roc_auc_score(y[m] == "ham", s[m], sample_weight=w[m])),
                ("ap", skm.average_precision_score(y[m], s[m], pos_label="ham",
                                                   sample_weight=w[m]))):
            got = row["ham"]
            assert got[metric] == want[metric]
            assert got[metric + " bounds"] == list(want[metric + " bounds"])
            lo, hi = got[metric + " bounds"]
            assert lo <= ref <= hi and hi > lo, (key, metric, lo, ref, hi)


def test_adaptive_parts_met_in_other_label_orders_add_up_on_dask(tmp_path, client):
    df = frame(n=3000, seed=8)
    root = tmp_path / "parts"
    root.mkdir()
    # each part holds one class: the parts' curves meet the labels in opposite orders
    for i, label in enumerate(["spam", "ham"]):
        df[df["y"] == label].to_csv(root / f"{i}.csv", index=False)
    base = ["report", root, "--true", "y", "--score", "s", "--by", "region",
            "--score-resolution", "adaptive", "--format", "json"]
    rc, out, err = run(*base)
    assert rc == 0, err
    d = json.loads(out)
    rc, out2, err = run(*base, "--scheduler", client.scheduler.address)
    assert rc == 0, err
    assert json.loads(out2) == d
    back = pd.concat([pd.read_csv(root / f"{i}.csv") for i in range(2)])
    for (key,), row in group_rows(d).items():
        m = back["region"].to_numpy() == key
        yy, ss = back["y"].to_numpy()[m], back["s"].to_numpy()[m]
        assert row["spam"]["auroc"] == pytest.approx(skm.roc_auc_score(yy == "spam", ss),
                                                     rel=1e-12)
        assert row["spam"]["ap"] == pytest.approx(
            skm.average_precision_score(yy, ss, pos_label="spam"), rel=1e-12)
        assert row["spam"]["auroc bounds"] == [row["spam"]["auroc"]] * 2  # points: exact
