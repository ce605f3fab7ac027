"""``confstream report FILE --true COL --score COL`` without ``--pred``: each class's AUROC
and average precision alone (no classification report: scores define no hard predictions),
against scikit-learn's ``roc_auc_score`` / ``average_precision_score`` on the same columns read
back as pandas / numpy would, in every format the CLI reads (CSV, Parquet, .npz, .npy).

float16 scores are exact (equal to scikit-learn's); float64 / float32 ones certified (the
bounds contain scikit-learn's value). Bad input ends with status 2, one line naming the value
and its row, and nothing on stdout nor a half-written plot."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")
skm = pytest.importorskip("sklearn.metrics")

from confstream import cli  # noqa: E402


def run(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def binary_frame(n=2500, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.choice(["no", "yes"], n, p=[0.85, 0.15])
    s = np.round(rng.random(n) * 0.6 + (y == "yes") * 0.3, 3)  # ties
    w = rng.integers(1, 5, n) + 0.5
    return pd.DataFrame({"y": y, "s": s, "w": w})


def contains(row, auroc, ap):
    for m, ref in (("auroc", auroc), ("ap", ap)):
        lo, hi = row[m + " bounds"]
        assert lo <= ref <= hi, (m, lo, ref, hi)
        assert abs(row[m] - ref) <= hi - lo


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_file_is_certified_without_pred(tmp_path, capsys, suffix, weighted):
    df = binary_frame()
    path = tmp_path / ("b" + suffix)
    df.to_csv(path, index=False) if suffix == ".csv" else df.to_parquet(path)
    back = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    w = back["w"].to_numpy() if weighted else None
    auroc = skm.roc_auc_score(back["y"] == "yes", back["s"], sample_weight=w)
    ap = skm.average_precision_score(back["y"], back["s"], pos_label="yes", sample_weight=w)
    extra = ["--weight", "w"] if weighted else []
    rc, out, err = run(capsys, "report", path, "--true", "y", "--score", "s", "--format",
                       "json", "--chunksize", 97, *extra)
    assert rc == 0, err
    d = json.loads(out)
    assert list(d) == ["yes"]                 # the positive class only; no precision rows
    contains(d["yes"], auroc, ap)
    assert d["yes"]["support"] == pytest.approx(
        (back["y"] == "yes").sum() if w is None else w[back["y"] == "yes"].sum())
    rc, whole, _ = run(capsys, "report", path, "--true", "y", "--score", "s", "--format",
                       "json", *extra)
    assert json.loads(whole) == d              # chunking does not matter
    rc, text, _ = run(capsys, "report", path, "--true", "y", "--score", "s", "--digits", 4,
                      *extra)
    assert "precision" not in text and "accuracy" not in text
    line = next(x for x in text.splitlines() if x.split()[:1] == ["yes"])
    assert line.split()[1:3] == [f"{d['yes']['auroc']:.4f}", f"{d['yes']['ap']:.4f}"]
    assert "certified" in text
    rc, out, _ = run(capsys, "report", path, "--true", "y", "--score", "s", "--format", "csv",
                     *extra)
    (row,) = list(csv.DictReader(io.StringIO(out)))
    assert float(row["auroc_lo"]) <= auroc <= float(row["auroc_hi"])
    assert float(row["ap_lo"]) <= ap <= float(row["ap_hi"])
    rc, out, _ = run(capsys, "report", path, "--true", "y", "--score", "s", "--format",
                     "markdown", *extra)
    assert out.splitlines()[0] == "| class | auroc | ap | support |"
    assert "| yes |" in out and "certified" in out
    rc, out, _ = run(capsys, "report", path, "--true", "y", "--score", "s", "--pos-label",
                     "no", "--format", "json", *extra)
    contains(json.loads(out)["no"],
             skm.roc_auc_score(back["y"] == "no", back["s"], sample_weight=w),
             skm.average_precision_score(back["y"], back["s"], pos_label="no",
                                         sample_weight=w))


def test_float16_npz_matrix_is_exact_with_averages(tmp_path, capsys):
    rng = np.random.default_rng(3)
    n, c = 3000, 4
    y = rng.integers(0, c, n)
    z = rng.normal(size=(n, c))
    z[np.arange(n), y] += 1.0
    s = (np.exp(z) / np.exp(z).sum(1, keepdims=True)).astype(np.float16)
    path = tmp_path / "m.npz"
    np.savez(path, y=y, s=s)
    rc, out, err = run(capsys, "report", path, "--true", "y", "--score", "s", "--format",
                       "json", "--chunksize", 401)
    assert rc == 0, err
    d = json.loads(out)
    s64 = s.astype(np.float64)
    onehot = np.eye(c)[y]
    for k in range(c):
        assert d[str(k)]["auroc"] == skm.roc_auc_score(y == k, s64[:, k])
        assert d[str(k)]["ap"] == skm.average_precision_score(y == k, s64[:, k])
        assert d[str(k)]["auroc bounds"] == [d[str(k)]["auroc"]] * 2
    for avg in ("macro", "weighted"):
        assert d[f"{avg} avg"]["auroc"] == pytest.approx(
            skm.roc_auc_score(onehot, s64, average=avg), rel=1e-15)
        assert d[f"{avg} avg"]["ap"] == pytest.approx(
            skm.average_precision_score(onehot, s64, average=avg), rel=1e-15)
    rc, text, _ = run(capsys, "report", path, "--true", "y", "--score", "s",
                      "--target-names", "a", "b", "c", "d")
    assert "certified" not in text and "precision" not in text
    assert [x.split()[0] for x in text.splitlines()[2:6]] == ["a", "b", "c", "d"]
    assert text.splitlines()[7].split()[:2] == ["macro", "avg"]


def test_score_columns_with_string_labels(tmp_path, capsys):
    rng = np.random.default_rng(4)
    n = 1500
    classes = ["ant", "bee", "cat"]
    y = rng.choice(classes, n)
    sc = rng.dirichlet(np.ones(3), n).astype(np.float32)
    df = pd.DataFrame({"y": y, **{f"s_{c}": sc[:, i] for i, c in enumerate(classes)}})
    path = tmp_path / "m.parquet"
    df.to_parquet(path)
    rc, out, err = run(capsys, "report", path, "--true", "y", "--score", "s_ant", "s_bee",
                       "s_cat", "--labels", *classes, "--format", "json")
    assert rc == 0, err
    d = json.loads(out)
    for i, c in enumerate(classes):
        contains(d[c], skm.roc_auc_score(y == c, sc[:, i]),
                 skm.average_precision_score(y == c, sc[:, i]))
    contains(d["macro avg"], skm.roc_auc_score(y, sc, multi_class="ovr", labels=classes),
             skm.average_precision_score(np.stack([y == c for c in classes], 1), sc))


def test_npy_columns(tmp_path, capsys):
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 800)
    s = np.round(rng.random(800) + 0.3 * y, 2)
    path = tmp_path / "a.npy"
    np.save(path, np.column_stack([y, s]))
    rc, out, err = run(capsys, "report", path, "--true", 0, "--score", 1, "--format", "json")
    assert rc == 0, err
    contains(json.loads(out)["1.0"], skm.roc_auc_score(y, s), skm.average_precision_score(y, s))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 400), st.integers(1, 120), st.booleans(),
       st.sampled_from([".npz", ".csv"]))
def test_any_chunking_equals_sklearn(seed, n, chunk, weighted, suffix):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[0], y[-1] = 0, 1                          # both classes
    s = rng.integers(0, 12, n).astype(np.float16) / np.float16(8)   # many ties
    w = rng.integers(0, 4, n).astype(np.float64) if weighted else None
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "d" + suffix)
        if suffix == ".npz":
            np.savez(path, y=y, s=s, **({"w": w} if weighted else {}))
        else:
            pd.DataFrame({"y": y, "s": s, **({"w": w} if weighted else {})}).to_csv(
                path, index=False)
        extra = ["--weight", "w"] if weighted else []
        buf_out, buf_err = io.StringIO(), io.StringIO()
        import contextlib
        with contextlib.redirect_stdout(buf_out), contextlib.redirect_stderr(buf_err):
            rc = cli.main(["report", path, "--true", "y", "--score", "s", "--format", "json",
                           "--chunksize", str(chunk), *extra])
    pos_w = (w[y == 1].sum() if weighted else 1) > 0
    neg_w = (w[y == 0].sum() if weighted else 1) > 0
    if not (pos_w and neg_w):
        return                                   # scikit-learn warns / is undefined there
    assert rc == 0, buf_err.getvalue()
    row = json.loads(buf_out.getvalue())["1"]
    ref_auc = skm.roc_auc_score(y, s.astype(np.float64), sample_weight=w)
    ref_ap = skm.average_precision_score(y, s.astype(np.float64), sample_weight=w)
    if suffix == ".npz" and not weighted:      # float16 as it is: bit for bit
        assert row["auroc"] == ref_auc and row["ap"] == ref_ap
    elif suffix == ".npz":
        assert row["auroc"] == pytest.approx(ref_auc, rel=1e-12, abs=1e-15)
        assert row["ap"] == pytest.approx(ref_ap, rel=1e-12, abs=1e-15)
    else:                                        # CSV reads float64: certified
        contains(row, ref_auc, ref_ap)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".npz"])
def test_nan_score_names_value_and_row_and_writes_nothing(tmp_path, capsys, suffix):
    pytest.importorskip("matplotlib")
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    df = binary_frame(n=600)
    df.loc[431, "s"] = np.nan
    path = tmp_path / ("bad" + suffix)
    if suffix == ".csv":
        df.to_csv(path, index=False, na_rep="nan")
    elif suffix == ".npz":
        np.savez(path, y=df["y"].to_numpy().astype(str), s=df["s"].to_numpy())
    else:                                       # a NaN value, not a null
        pq.write_table(pa.table({"y": df["y"].to_numpy(),
                                 "s": pa.array(df["s"].to_numpy(), from_pandas=False)}), path)
    png = tmp_path / "out.png"
    rc, out, err = run(capsys, "report", path, "--true", "y", "--score", "s", "--chunksize",
                       100, "--plot", png)
    assert rc == 2 and out == "" and not png.exists()
    assert err.startswith("confstream: error: ") and err.count("\n") == 1
    if suffix != ".csv":
        assert "row 431" in err and "nan" in err and "'s'" in err and "not finite" in err, err
    else:                   # CSV reads 'nan' (and an empty cell) as a missing value, in words
        assert "row 431" in err and "missing value in column 's'" in err, err
        df.to_csv(path, index=False)
        rc, out, err = run(capsys, "report", path, "--true", "y", "--score", "s", "--plot", png)
        assert rc == 2 and out == "" and not png.exists()
        assert "row 431" in err and "missing value in column 's'" in err, err


def test_bad_input_in_a_score_matrix_and_weights(tmp_path, capsys):
    rng = np.random.default_rng(6)
    s = rng.dirichlet(np.ones(3), 300)
    s[257, 2] = np.inf
    y = rng.integers(0, 3, 300)
    path = tmp_path / "m.npz"
    np.savez(path, y=y, s=s)
    rc, out, err = run(capsys, "report", path, "--true", "y", "--score", "s", "--chunksize", 64)
    assert rc == 2 and out == ""
    assert "row 257" in err and "inf" in err, err
    df = binary_frame(n=400)
    df.loc[333, "w"] = -2.0
    csv_path = tmp_path / "w.csv"
    df.to_csv(csv_path, index=False)
    rc, out, err = run(capsys, "report", csv_path, "--true", "y", "--score", "s", "--weight",
                       "w", "--chunksize", 50)
    assert rc == 2 and out == ""
    assert "row 333" in err and "-2.0" in err and "'w'" in err, err
    df = binary_frame(n=200)
    df["w"] = df["w"].astype(str)
    df.loc[77, "w"] = "heavy"
    df.to_csv(csv_path, index=False)
    rc, out, err = run(capsys, "report", csv_path, "--true", "y", "--score", "s", "--weight",
                       "w")
    assert rc == 2 and "row 77" in err and "'heavy'" in err, err


def test_arguments_a_scores_only_report_refuses(tmp_path, capsys):
    path = tmp_path / "b.csv"
    binary_frame(n=50).to_csv(path, index=False)
    cases = [
        ([], "--score COL"),
        (["--score", "s", "--ci", "0.9"], "--ci applies to the classification report"),
        (["--score", "s", "--zero-division", "0"], "--zero-division"),
        (["--score", "s", "--labels", "no", "yes"], "--pos-label"),
        (["--score", "s", "--threshold", "0.5"], "--threshold"),
        (["--score", "s", "--target-names", "a"], "--target-names gives 1 names"),
    ]
    for extra, words in cases:
        rc, out, err = run(capsys, "report", path, "--true", "y", *extra)
        assert rc == 2 and out == "" and words in err, (extra, err)


def test_plot_draws_roc_and_pr_only(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    image = pytest.importorskip("matplotlib.image")
    path = tmp_path / "b.csv"
    binary_frame(n=500).to_csv(path, index=False)
    png = tmp_path / "curves.png"
    rc, out, err = run(capsys, "report", path, "--true", "y", "--score", "s", "--plot", png)
    assert rc == 0, err
    img = image.imread(str(png))
    assert 1.8 < img.shape[1] / img.shape[0] < 2.5   # two panels, no heatmap


@pytest.mark.parametrize("suffix", [".csv", ".npz"])
@pytest.mark.parametrize("weighted", [False, True])
def test_threshold_and_labels_ask_for_a_classification_report(tmp_path, capsys, suffix,
                                                             weighted):
    """--threshold T --labels NEG POS: scikit-learn's report of score > T (POS), byte for
    byte, with the column's AUROC / AP below it."""
    df = binary_frame(n=1800, seed=9)
    path = tmp_path / ("t" + suffix)
    if suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        np.savez(path, y=df["y"].to_numpy().astype(str),
                 s=df["s"].to_numpy().astype(np.float16), w=df["w"].to_numpy())
    back = pd.read_csv(path) if suffix == ".csv" else pd.DataFrame(
        {k: v.astype(np.float64) if k == "s" else v for k, v in np.load(path).items()})
    y, s = back["y"].to_numpy(), back["s"].to_numpy()
    w = back["w"].to_numpy() if weighted else None
    extra = ["--weight", "w"] if weighted else []
    pred = np.where(s > 0.42, "yes", "no")
    rc, text, err = run(capsys, "report", path, "--true", "y", "--score", "s", "--threshold",
                        0.42, "--labels", "no", "yes", "--digits", 3, "--chunksize", 333,
                        *extra)
    assert rc == 0, err
    ref = skm.classification_report(y, pred, sample_weight=w, digits=3)
    assert text.startswith(ref + "\n")
    line = next(x for x in text[len(ref):].splitlines() if x.split()[:1] == ["yes"])
    auroc = skm.roc_auc_score(y == "yes", s, sample_weight=w)
    ap = skm.average_precision_score(y, s, pos_label="yes", sample_weight=w)
    assert line.split()[1:3] == [f"{auroc:.3f}", f"{ap:.3f}"]
    rc, out, _ = run(capsys, "report", path, "--true", "y", "--score", "s", "--threshold",
                     0.42, "--labels", "no", "yes", "--format", "json", *extra)
    d = json.loads(out)
    ref_d = skm.classification_report(y, pred, sample_weight=w, output_dict=True)
    assert d["no"] == ref_d["no"] and d["accuracy"] == ref_d["accuracy"]
    if suffix == ".npz":
        assert d["yes"]["auroc"] == pytest.approx(auroc, rel=1e-12) and d["yes"]["ap"] == \
            pytest.approx(ap, rel=1e-12)
    else:
        contains(d["yes"], auroc, ap)
    bad = tmp_path / "bad.csv"
    df.assign(y=np.where(np.arange(len(df)) == 1234, "maybe", df["y"])).to_csv(bad,
                                                                                 index=False)
    rc, out, err = run(capsys, "report", bad, "--true", "y", "--score", "s", "--threshold",
                       0.5, "--labels", "no", "yes")
    assert rc == 2 and out == "" and "row 1234" in err and "'maybe'" in err, err
    for extra_args, words in ((["--threshold", "0.5"], "--labels NEG POS"),
                              (["--threshold", "x", "--labels", "no", "yes"], "finite"),
                              (["--threshold", "0.5", "--labels", "no", "no"], "different")):
        rc, out, err = run(capsys, "report", path, "--true", "y", "--score", "s", *extra_args)
        assert rc == 2 and words in err, (extra_args, err)


def test_threshold_report_takes_ci(tmp_path, capsys):
    df = binary_frame(n=900, seed=10)
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    base = ["report", path, "--true", "y", "--score", "s", "--threshold", 0.5, "--labels",
            "no", "yes", "--format", "json"]
    rc, out, err = run(capsys, *base, "--ci", 0.9, "--ci-method", "wilson")
    assert rc == 0, err
    d = json.loads(out)
    from statsmodels.stats.proportion import proportion_confint
    pred = np.where(df["s"].to_numpy() > 0.5, "yes", "no")
    hits = int(((pred == "yes") & (df["y"].to_numpy() == "yes")).sum())
    lo, hi = proportion_confint(hits, int((df["y"] == "yes").sum()), alpha=0.1, method="wilson")
    assert d["yes"]["recall ci"] == pytest.approx([lo, hi], rel=1e-9)
    assert "auroc" in d["yes"]
    rc, out, err = run(capsys, *base, "--ci", 0.9, "--weight", "w", "--n-resamples", 50,
                       "--seed", 1)
    assert rc == 0 and "recall ci" in json.loads(out)["yes"], err
    rc, _, err = run(capsys, *base[:-2], "--format", "csv", "--ci", 0.9)
    assert rc == 2 and "--ci works with" in err
