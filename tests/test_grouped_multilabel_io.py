"""The multi-label twin on Dask and on the command line, against scikit-learn per group.

Dask: ``grouped_multilabel_confusion_matrix`` on arrays (unaligned chunks) and DataFrame
columns (weights, crossed keys), on the suite's small cluster. CLI: ``--multilabel --by`` on a
generated hive-partitioned Parquet dataset (indicator columns, score columns, list columns),
sequentially and on the cluster, every ``--format`` and the gap table (fairlearn's
MetricFrame); bad input named, nothing printed.
"""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest
from sklearn.metrics import classification_report

import confstream as cs
from _reference import cli_output, dask_client, same

LABELS = ["toxic", "spam", "promo"]


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of 2 workers in this process (threads)."""
    yield from dask_client(processes=False)


def ml_data(rng, n, L=3):
    t = (rng.random((n, L)) < [0.5, 0.3, 0.15][:L]).astype(np.int64)
    s = np.clip(0.45 * t + 0.7 * rng.random((n, L)), 0, 1)
    return t, s


def sk(t, p, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return classification_report(t, p, **kw)


# --------------------------------------------------------------------------------------------
# Dask

def test_dask_grouped_multilabel_equals_sklearn_per_group(client):
    da = pytest.importorskip("dask.array")
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    from confstream.adapters import dask as cs_dask

    rng = np.random.default_rng(3)
    n = 3000
    t, s = ml_data(rng, n)
    region = rng.choice(["eu", "us", "apac"], n)
    device = rng.integers(0, 2, n)
    w = rng.integers(1, 9, n) / 4
    thr = [0.5, 0.4, 0.6]
    acc = cs_dask.grouped_multilabel_confusion_matrix(
        da.from_array(t, chunks=(700, 3)), da.from_array(s, chunks=(1100, 2)),
        da.from_array(region, chunks=900), threshold=thr)
    assert isinstance(acc, cs.GroupedMultilabelConfusionMatrix) and acc.groups == [
        "apac", "eu", "us"]
    pred = (s > np.array(thr)).astype(int)
    for g, rep in acc.report(digits=4, zero_division=0).items():
        m = region == g
        assert str(rep) == sk(t[m], pred[m], digits=4, zero_division=0)
    # DataFrame columns: weights, crossed keys from a DataFrame of key columns
    frame = pd.DataFrame({**{f"t{j}": t[:, j] for j in range(3)},
                          **{f"s{j}": s[:, j] for j in range(3)},
                          "r": region, "d": device, "w": w})
    df = dd.from_pandas(frame, npartitions=6)
    acc = cs_dask.grouped_multilabel_confusion_matrix(
        df[["t0", "t1", "t2"]], df[["s0", "s1", "s2"]], df[["r", "d"]], sample_weight=df.w)
    pred = (s > 0.5).astype(int)
    assert acc.groups == sorted(set(zip(region.tolist(), device.tolist())))
    for (r, d), rep in acc.report(digits=5, zero_division=0).items():
        m = (region == r) & (device == d)
        ref = sk(t[m], pred[m], sample_weight=w[m], digits=5, zero_division=0,
                 output_dict=True)
        # weighted samples avg: a sum over per-sample values, in another order than
        # scikit-learn's np.average (README: within a few ulp)
        assert same(rep.to_dict(), ref, approx_keys=("samples avg",)), (r, d)
    # a fixed group space, delayed; the tree with split_every=2 gives the same counts
    keys = [(r, d) for r in ["us", "eu", "apac"] for d in (0, 1)]
    delayed = cs_dask.grouped_multilabel_confusion_matrix(
        df[["t0", "t1", "t2"]], df[["s0", "s1", "s2"]], (df.r, df.d), group_keys=keys,
        split_every=2, compute=False)
    fixed = delayed.compute()
    assert fixed.groups == keys
    one = cs.GroupedMultilabelConfusionMatrix(3, groups=keys).update(
        t, s, (region, device))
    assert np.array_equal(fixed.counts, one.counts)
    assert np.array_equal(fixed.sample_counts, one.sample_counts)


def test_dask_grouped_multilabel_refuses_bad_input_by_name(client):
    da = pytest.importorskip("dask.array")
    from confstream.adapters import dask as cs_dask

    rng = np.random.default_rng(4)
    t, s = ml_data(rng, 100)
    g = rng.integers(0, 3, 100).astype(float)
    with pytest.raises(ValueError, match=r"groups has 99 rows but y_true has 100"):
        cs_dask.grouped_multilabel_confusion_matrix(da.from_array(t, chunks=(30, 3)),
                                                    da.from_array(s, chunks=(30, 3)),
                                                    da.from_array(g[:99], chunks=30))
    g[57] = np.nan
    with pytest.raises(ValueError, match=r"groups\[27\] = nan is not a group key"):
        cs_dask.grouped_multilabel_confusion_matrix(da.from_array(t, chunks=(30, 3)),
                                                    da.from_array(s, chunks=(30, 3)),
                                                    da.from_array(g, chunks=30))
    with pytest.raises(ValueError, match=r"y_pred must have shape \(N, 3\)"):
        cs_dask.grouped_multilabel_confusion_matrix(da.from_array(t, chunks=(30, 3)),
                                                    da.from_array(s[:, :2], chunks=(30, 2)),
                                                    da.from_array(g[:1].repeat(100),
                                                                  chunks=30))
    with pytest.raises(ValueError, match="threshold"):
        cs_dask.grouped_multilabel_confusion_matrix(t, s, g, threshold=[0.5, 0.5])


# --------------------------------------------------------------------------------------------
# the command line

def ml_hive(root, seed=0, n_parts=(2, 1, 3)):
    """Parquet parts under region=<r>/ folders: indicator columns, score columns, list
    columns of both, a 'device' column and weights."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(seed)
    for region, k in zip(["eu", "us", "apac"], n_parts):
        os.makedirs(root / f"region={region}", exist_ok=True)
        for j in range(k):
            n = int(rng.integers(120, 300))
            t, s = ml_data(rng, n)
            f = pd.DataFrame({**dict(zip(LABELS, t.T)),
                              **{f"p_{c}": s[:, i] for i, c in enumerate(LABELS)},
                              "device": rng.choice(["web", "app"], n),
                              "w": rng.integers(1, 8, n) / 4})
            f["y"] = list(t)
            f["score"] = list(s)
            f.to_parquet(root / f"region={region}" / f"part-{j}.parquet")
    return root


def reference(root):
    import pyarrow.dataset as pads

    df = pads.dataset(str(root), format="parquet", partitioning="hive").to_table().to_pandas()
    t = df[LABELS].to_numpy()
    s = df[[f"p_{c}" for c in LABELS]].to_numpy()
    return df, t, s


def run_cli(capsys, *argv):
    # stdout and stderr taken around the call itself (``cli_output``), not from capsys: in CI
    # (2 xdist workers, worksteal) capsys once read '' while the report had gone to pytest's
    # own capture of this test, i.e. sys.stdout was not capsys' stream during the call
    return cli_output("report", *argv)


def group_mask(df, by, key):
    m = np.ones(len(df), bool)
    for c, v in zip(by, key):
        m &= df[c].astype(str).values == str(v)
    return m


def test_cli_multilabel_by_on_a_hive_dataset_equals_sklearn_per_group(tmp_path, capsys, client):
    pytest.importorskip("pyarrow")
    root = ml_hive(tmp_path / "ds")
    df, t, s = reference(root)
    cols = ["--multilabel", "--true", ",".join(LABELS),
            "--pred", ",".join(f"p_{c}" for c in LABELS)]
    base = [root, *cols, "--chunksize", 97, "--zero-division", "0"]
    # text: each group's section is scikit-learn's report on its rows, rows named by column
    code, text, err = run_cli(capsys, *base, "--by", "region", "--digits", "3",
                              "--threshold", "0.5,0.45,0.6")
    assert code == 0, err
    pred = (s > np.array([0.5, 0.45, 0.6])).astype(int)
    for region in ["apac", "eu", "us"]:
        m = df.region.astype(str).values == region
        ref = sk(t[m], pred[m], digits=3, zero_division=0, target_names=LABELS)
        assert f"region={region}\n{ref}" in text
    assert "gaps between 3 groups" in text and "samples avg" in text.split("gaps")[-1]
    # json, crossed with a file column, weighted: every group's dict and the gaps
    pred = (s > 0.5).astype(int)
    code, out, err = run_cli(capsys, *base, "--by", "region,device", "--format", "json",
                             "--weight", "w")
    assert code == 0, err
    d = json.loads(out)
    by = ["region", "device"]
    keys = sorted(set(map(tuple, df[by].astype(str).values.tolist())))
    assert sorted(tuple(e["group"][c] for c in by) for e in d["groups"]) == keys
    for e in d["groups"]:
        m = group_mask(df, by, [e["group"][c] for c in by])
        ref = sk(t[m], pred[m], output_dict=True, zero_division=0, target_names=LABELS,
                 sample_weight=df.w.values[m])
        assert same(e["report"], ref, approx_keys=("samples avg",)), e["group"]
    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import accuracy_score, f1_score, recall_score

    gaps = {(g["metric"], g["class"]): g for g in d["gaps"]}
    sf = {"region": df.region.astype(str), "device": df.device}
    w = {"sample_weight": df.w.values}
    mf = MetricFrame(metrics=accuracy_score, y_true=t, y_pred=pred, sensitive_features=sf,
                     sample_params=w)
    assert np.isclose(gaps["accuracy", None]["difference"], mf.difference(), rtol=1e-12)
    assert np.isclose(gaps["accuracy", None]["ratio_to_overall"],
                      mf.ratio(method="to_overall"), rtol=1e-12)
    for avg, cls in (("samples", "samples avg"), ("micro", "micro avg")):
        mf = MetricFrame(metrics=lambda a, b, sample_weight: f1_score(
            a, b, average=avg, zero_division=0, sample_weight=sample_weight), y_true=t,
            y_pred=pred, sensitive_features=sf, sample_params=w)
        assert np.isclose(gaps["f1-score", cls]["difference"], mf.difference(), rtol=1e-12)
        assert np.isclose(gaps["f1-score", cls]["ratio"], mf.ratio(), rtol=1e-12)
    mf = MetricFrame(metrics=lambda a, b, sample_weight: recall_score(
        a[:, 1], b[:, 1], zero_division=0, sample_weight=sample_weight), y_true=t, y_pred=pred,
        sensitive_features=sf, sample_params=w)
    assert np.isclose(gaps["recall", "spam"]["difference_to_overall"],
                      mf.difference(method="to_overall"), rtol=1e-12)
    # on the Dask cluster: the same json (weights are multiples of 1/4: exact sums)
    code, out2, err = run_cli(capsys, *base, "--by", "region,device", "--format", "json",
                              "--weight", "w", "--scheduler", client.scheduler.address)
    assert code == 0, err
    assert json.loads(out2) == d
    # one list column per side (Parquet lists): the same numbers, rows numbered 0..L-1
    code, out3, err = run_cli(capsys, root, "--multilabel", "--true", "y", "--pred", "score",
                              "--by", "region,device", "--format", "json", "--weight", "w",
                              "--zero-division", "0", "--target-names", *LABELS)
    assert code == 0, err
    assert json.loads(out3) == d
    # csv and markdown: every group's rows and the gap table
    code, out, err = run_cli(capsys, *base, "--by", "region", "--format", "csv")
    assert code == 0, err
    head, *rows = out.split("\n\n")[0].splitlines()
    assert head == "region,class,precision,recall,f1-score,support"
    got = {(r.split(",")[0], r.split(",")[1]): r.split(",")[2:] for r in rows}
    m = df.region.astype(str).values == "us"
    ref = sk(t[m], pred[m], output_dict=True, zero_division=0, target_names=LABELS)
    assert [float(v) for v in got["us", "samples avg"]] == list(ref["samples avg"].values())
    gap_lines = out.split("\n\n")[1].splitlines()
    assert gap_lines[0].startswith("metric,class,min,max,difference,ratio")
    assert any(line.startswith("recall,promo,") for line in gap_lines)
    code, out, err = run_cli(capsys, *base, "--by", "region", "--format", "markdown")
    assert code == 0, err
    assert "### region=eu" in out and "| samples avg |" in out and "### gaps between 3" in out


@pytest.mark.parametrize("source", ["columns", "npz"])
def test_cli_plain_multilabel_report_equals_sklearn(tmp_path, capsys, source):
    pytest.importorskip("pyarrow")
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(9)
    t, s = ml_data(rng, 700)
    if source == "npz":
        path = tmp_path / "ml.npz"
        np.savez(path, y=t, s=s.astype(np.float32))
        argv = [path, "--multilabel", "--true", "y", "--pred", "s"]
        names = None
        pred = (s.astype(np.float32) > np.float32(0.5)).astype(int)
    else:
        path = tmp_path / "ml.csv"
        pd.DataFrame({**dict(zip(LABELS, t.T)),
                      **{f"p_{c}": (s[:, i] > 0.5).astype(int) for i, c in enumerate(LABELS)}
                      }).to_csv(path, index=False)
        argv = [path, "--multilabel", "--true", ",".join(LABELS), "--pred",
                ",".join(f"p_{c}" for c in LABELS)]
        names = LABELS
        pred = (s > 0.5).astype(int)
    code, out, err = run_cli(capsys, *argv, "--chunksize", 150, "--digits", 4)
    assert code == 0, err
    assert out == sk(t, pred, digits=4, target_names=names)
    code, out, err = run_cli(capsys, *argv, "--format", "json", "--zero-division", "0")
    assert code == 0, err
    assert same(json.loads(out), sk(t, pred, output_dict=True, zero_division=0,
                                    target_names=names))


def test_cli_multilabel_bad_input_is_named_and_nothing_printed(tmp_path, capsys):
    pytest.importorskip("pyarrow")
    pd = pytest.importorskip("pandas")
    root = ml_hive(tmp_path / "ds", seed=2, n_parts=(1, 1, 1))
    cols = ["--multilabel", "--true", ",".join(LABELS),
            "--pred", ",".join(f"p_{c}" for c in LABELS)]

    def fails(*argv):
        code, out, err = run_cli(capsys, *argv)
        assert code == 2 and out == "" and err.count("\n") == 1, (code, out, err)
        return err

    good = pd.read_parquet(root / "region=us" / "part-0.parquet")
    # a part without the --by column
    good.drop(columns=["device"]).to_parquet(root / "region=us" / "part-1.parquet")
    err = fails(root, *cols, "--by", "device")
    assert "--by column 'device' is missing in part" in err and "part-1.parquet" in err
    # a NaN group key: the part, its row and the column
    bad = good.copy()
    bad["device"] = bad["device"].where(np.arange(len(bad)) != 5, None)
    bad.to_parquet(root / "region=us" / "part-1.parquet")
    err = fails(root, *cols, "--by", "device")
    assert "part-1.parquet: row 5: missing value in column 'device'" in err, err
    bad = good.copy()
    bad["k"] = np.where(np.arange(len(bad)) == 7, np.nan, 1.0)
    good.assign(k=1.0).to_parquet(root / "region=us" / "part-0.parquet")
    for name in ("eu", "apac"):
        f = pd.read_parquet(root / f"region={name}" / "part-0.parquet")
        f.assign(k=2.0).to_parquet(root / f"region={name}" / "part-0.parquet")
    import pyarrow as pa
    import pyarrow.parquet as pq

    flat = bad.drop(columns=["y", "score"])         # NaN itself, not a null: numpy -> arrow
    pq.write_table(pa.table({c: pa.array(flat[c].to_numpy()) for c in flat.columns}),
                   root / "region=us" / "part-1.parquet")
    err = fails(root, *cols, "--by", "k")
    assert "part-1.parquet: row 7: column 'k' = nan is not a group key" in err, err
    # an indicator that is not 0/1, a weight below zero, a score that is not finite
    bad = good.assign(k=1.0)
    bad.loc[11, "spam"] = 2
    bad.to_parquet(root / "region=us" / "part-1.parquet")
    err = fails(root, *cols, "--by", "region", "--chunksize", 4)
    assert "part-1.parquet: row 11: column 'spam' = 2: multi-label indicators must be 0 or 1" \
        in err, err
    bad = good.assign(k=1.0)
    bad.loc[3, "p_promo"] = np.inf
    bad.to_parquet(root / "region=us" / "part-1.parquet")
    err = fails(root, *cols, "--by", "region")
    assert "part-1.parquet: row 3: column 'p_promo' = inf is not a finite score" in err, err
    bad = good.assign(k=1.0)
    bad.loc[4, "w"] = -1.0
    bad.to_parquet(root / "region=us" / "part-1.parquet")
    err = fails(root, *cols, "--by", "region", "--weight", "w")
    assert "row 4: column 'w' = -1.0: weights must be non-negative and finite" in err, err
    # a list column whose rows differ in length; a part whose lists are shorter
    bad = good.assign(k=1.0)
    bad["y"] = [list(v) if i != 9 else list(v)[:2] for i, v in enumerate(bad["y"])]
    bad.to_parquet(root / "region=us" / "part-1.parquet")
    err = fails(root, "--multilabel", "--true", "y", "--pred", "score", "--by", "region")
    assert "part-1.parquet: row 9: column 'y' holds 2 values where row 0 holds 3" in err, err
    bad["y"] = [list(v)[:2] for v in bad["y"]]
    bad["score"] = [list(v)[:2] for v in bad["score"]]
    bad.to_parquet(root / "region=us" / "part-1.parquet")
    err = fails(root, "--multilabel", "--true", "y", "--pred", "score", "--by", "region")
    assert "column 'y' holds 2 labels but the rows before have 3" in err, err
    # strings where indicators belong; mismatched column lists; --threshold alone
    bad = good.assign(k=1.0, spam=good["spam"].map({0: "no", 1: "yes"}))
    bad.to_parquet(root / "region=us" / "part-1.parquet")
    err = fails(root, *cols, "--by", "region")
    assert "column 'spam' holds strings; --multilabel needs 0/1 indicators" in err, err
    err = fails(root, "--multilabel", "--true", "toxic,spam", "--pred", "p_toxic,p_spam,p_promo",
                "--by", "region")
    assert "--true names 2 columns and --pred 3" in err
    err = fails(root / "region=us" / "part-0.parquet", "--true", "toxic", "--pred", "spam",
                "--threshold", "0.3")
    assert "--threshold applies to --multilabel" in err
    err = fails(root / "region=us" / "part-0.parquet", *cols, "--threshold", "0.3,0.5")
    assert "--threshold" in err


def test_parts_travel_to_workers_in_batches_that_cover_each_part_once(tmp_path):
    """What ``--workers`` / ``--scheduler`` send: the spec pickled (worker processes), parts in
    consecutive batches; a batch's accumulator equals the parts counted one by one."""
    import pickle

    pytest.importorskip("pyarrow")
    from confstream._files import list_parts
    from confstream._grouped_cli import _batches, _count_part, _count_parts, _merge_parts, _Spec
    from confstream._multilabel_cli import Columns

    for n in (1, 2, 5, 9, 100):
        for threads in (1, 2, 3, 16):
            batches = _batches(list(range(n)), threads)
            assert [i for b in batches for i in b] == list(range(n))
            assert all(b for b in batches) and len(batches) == min(n, 4 * threads)
    root = ml_hive(tmp_path / "ds", seed=6, n_parts=(2, 2, 1))
    parts = list_parts(str(root))
    spec = _Spec("y", "score", "w", ["region", "device"], 64,
                 multilabel=Columns("y", "score", "0.4,0.5,0.6"))
    spec = pickle.loads(pickle.dumps(spec))
    one = None
    for part in parts:
        one = _count_part(part, spec, one)
    got = _merge_parts(*[_count_parts(b, spec) for b in _batches(parts, 1)], None)
    assert got.groups == one.groups and np.array_equal(got.sample_counts, one.sample_counts)
    assert np.array_equal(got.counts, one.counts)
    assert got.threshold.tolist() == [0.4, 0.5, 0.6]
