"""``confstream report FILE --multilabel --true A,B,C --pred ... --score sA,sB,sC`` (with and
without ``--by``): each label's AUROC and average precision and their micro / macro / weighted
averages, against scikit-learn's ``roc_auc_score`` / ``average_precision_score`` on the whole
file (``average=None`` / ``"micro"`` / ``"macro"`` / ``"weighted"``), or on each group's rows.
float16 scores are counted exactly (scikit-learn's values); float32 scores are binned and the
bounds contain scikit-learn's values."""

from __future__ import annotations

import csv
import io
import json
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")
skm = pytest.importorskip("sklearn.metrics")

from _reference import cli_output, dask_client  # noqa: E402

LABELS = ["toxic", "spam", "promo"]
SCORES = [f"s_{c}" for c in LABELS]
PREDS = [f"p_{c}" for c in LABELS]
AVERAGES = {"micro avg": "micro", "macro avg": "macro", "weighted avg": "weighted"}


@pytest.fixture(scope="module")
def client():
    yield from dask_client(processes=False)


def run(*argv):
    return cli_output("report", *argv)


def data(seed, n, dtype=np.float16, L=3):
    """Indicators with both classes in every label, scores that carry some signal, ties."""
    rng = np.random.default_rng(seed)
    t = (rng.random((n, L)) < rng.uniform(0.2, 0.6, L)).astype(np.int64)
    t[0], t[1] = 0, 1
    s = (0.35 * t + 0.65 * rng.random((n, L))).astype(dtype)
    s[rng.random((n, L)) < 0.1] = dtype(0.5)                      # tied scores
    return t, s


def reference(t, s, w=None):
    """scikit-learn's per-label values and averages, as the report names its rows."""
    s = s.astype(np.float64)
    out = {}
    for what, fn in (("auroc", skm.roc_auc_score), ("ap", skm.average_precision_score)):
        for j, v in enumerate(fn(t, s, average=None, sample_weight=w)):
            out.setdefault(j, {})[what] = float(v)
        for row, avg in AVERAGES.items():
            out.setdefault(row, {})[what] = float(fn(t, s, average=avg, sample_weight=w))
    return out


def check(rows, ref, names, *, exact, weighted=False):
    """``rows``: a report's dict (json) by row name; every label and average against ``ref``."""
    for key, want in ref.items():
        row = rows[names[key] if isinstance(key, int) else key]
        for m in ("auroc", "ap"):
            lo, hi = row[m + " bounds"]
            if exact and not weighted:
                assert row[m] == want[m] and lo == hi == want[m], (key, m, row, want)
            elif exact:
                assert math.isclose(row[m], want[m], rel_tol=1e-12), (key, m, row, want)
            else:
                assert lo - 1e-12 <= want[m] <= hi + 1e-12, (key, m, row, want)


def write(tmp_path, source, t, s, **extra):
    """The file in one of the multi-label layouts; returns (path, --true / --pred / --score
    arguments, the row names)."""
    p = (s > 0.5).astype(np.int64)
    if source == "npz":
        path = tmp_path / "ml.npz"
        np.savez(path, y=t, p=p, s=s, **extra)
        return path, ["--true", "y", "--pred", "p", "--score", "s"], ["0", "1", "2"]
    frame = pd.DataFrame({**dict(zip(LABELS, t.T)), **dict(zip(PREDS, p.T)),
                          **dict(zip(SCORES, s.T)), **extra})
    path = tmp_path / f"ml.{source}"
    if source == "csv":
        frame.to_csv(path, index=False)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq
        pq.write_table(pa.Table.from_pandas(frame), path)       # float16: halffloat columns
    return path, ["--true", ",".join(LABELS), "--pred", ",".join(PREDS),
                  "--score", ",".join(SCORES)], LABELS


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(8, 400), st.integers(1, 120), st.booleans())
def test_float16_npz_scores_are_scikit_learns_values(seed, n, chunk, weighted):
    import tempfile
    from pathlib import Path

    t, s = data(seed, n)
    w = np.random.default_rng(seed + 1).integers(1, 9, n) / 4 if weighted else None
    with tempfile.TemporaryDirectory() as d:
        path, cols, names = write(Path(d), "npz", t, s, **({"w": w} if weighted else {}))
        rc, out, err = run(path, "--multilabel", *cols, "--format", "json", "--chunksize",
                           chunk, "--zero-division", "0", *(["--weight", "w"] * weighted))
    assert rc == 0, err
    check(json.loads(out), reference(t, s, w), names, exact=True, weighted=weighted)


@pytest.mark.parametrize("source", ["npz", "parquet", "csv"])
def test_every_format_shows_the_labels_and_averages(tmp_path, source):
    t, s = data(3, 500)
    path, cols, names = write(tmp_path, source, t, s)
    exact = source != "csv"           # csv: the float16 values come back as float64: binned
    ref = reference(t, s)
    base = [path, "--multilabel", *cols, "--chunksize", 77, "--zero-division", "0"]
    rc, out, err = run(*base, "--format", "json")
    assert rc == 0, err
    d = json.loads(out)
    check(d, ref, names, exact=exact)
    assert d["samples avg"].get("auroc") is None          # no curve row for samples avg
    # csv: the same numbers with their bounds in auroc_lo ... ap_hi
    rc, out, err = run(*base, "--format", "csv")
    assert rc == 0, err
    rows = {r["class"]: r for r in csv.DictReader(io.StringIO(out))}
    for name in names + list(AVERAGES):
        for m in ("auroc", "ap"):
            assert float(rows[name][m]) == d[name][m]
            assert [float(rows[name][f"{m}_lo"]), float(rows[name][f"{m}_hi"])] == \
                d[name][m + " bounds"]
    assert rows["samples avg"]["auroc"] == ""
    # text: the classification report, then the curves table (its rows as the json's)
    rc, text, err = run(*base, "--digits", 4)
    assert rc == 0, err
    report = skm.classification_report(t, (s > 0.5).astype(int), digits=4, zero_division=0,
                                       target_names=None if source == "npz" else LABELS)
    assert text.startswith(report)
    curves_lines = text[len(report):].splitlines()
    assert curves_lines[1].split() == ["auroc", "ap", "support"]
    for name in names + list(AVERAGES):
        line = next(x for x in curves_lines if x.strip().startswith(name + " "))
        assert line.split()[-3:-1] == [f"{d[name]['auroc']:.4f}", f"{d[name]['ap']:.4f}"]
    assert ("certified from binned scores" in text) == (not exact)
    # markdown: auroc and ap columns
    rc, md, err = run(*base, "--format", "markdown")
    assert rc == 0, err
    assert md.splitlines()[0].endswith("| auroc | ap |")
    micro = next(x for x in md.splitlines() if x.startswith("| micro avg |"))
    assert micro.split("|")[-3:-1] == [f" {d['micro avg']['auroc']:.2f} ",
                                       f" {d['micro avg']['ap']:.2f} "]
    assert ("certified from binned scores" in md) == (not exact)


@pytest.mark.parametrize("bits", [None, 6])
def test_float32_scores_are_bounded(tmp_path, bits):
    t, s = data(5, 900, dtype=np.float32)
    path, cols, names = write(tmp_path, "npz", t, s)
    more = [] if bits is None else ["--score-bits", bits]
    rc, out, err = run(path, "--multilabel", *cols, "--format", "json", "--chunksize", 128,
                       *more)
    assert rc == 0, err
    d = json.loads(out)
    check(d, reference(t, s), names, exact=False)
    spans = [d[n]["auroc bounds"][1] - d[n]["auroc bounds"][0] for n in names]
    assert max(spans) > 0                         # binned: bounds, not one value
    rc, out, err = run(path, "--multilabel", *cols, "--score-resolution", "adaptive",
                       "--score-intervals", 64, "--format", "json", "--chunksize", 128)
    assert rc == 0, err
    check(json.loads(out), reference(t, s), names, exact=False)


def test_by_groups_against_scikit_learn_on_their_rows_and_on_dask(tmp_path, client):
    t, s = data(11, 700)
    rng = np.random.default_rng(12)
    g = rng.choice(["eu", "us", "apac"], len(t))
    w = rng.integers(1, 9, len(t)) / 4
    path, cols, names = write(tmp_path, "parquet", t, s, region=g, w=w)
    base = [path, "--multilabel", *cols, "--by", "region", "--chunksize", 90,
            "--zero-division", "0", "--format", "json"]
    for weighted in (False, True):
        more = ["--weight", "w"] if weighted else []
        rc, out, err = run(*base, *more)
        assert rc == 0, err
        d = json.loads(out)
        assert sorted(e["group"]["region"] for e in d["groups"]) == ["apac", "eu", "us"]
        for e in d["groups"]:
            m = g == e["group"]["region"]
            check(e["report"], reference(t[m], s[m], w[m] if weighted else None), names,
                  exact=True, weighted=weighted)
        check(d["overall curves"], reference(t, s, w if weighted else None), names,
              exact=True, weighted=weighted)
        gaps = {(x["metric"], x["class"]): x for x in d["gaps"]}
        per_group = [reference(t[g == r], s[g == r], w[g == r] if weighted else None)[1]
                     ["auroc"] for r in ("apac", "eu", "us")]
        assert math.isclose(gaps["auroc", "spam"]["difference"],
                            max(per_group) - min(per_group), rel_tol=1e-9, abs_tol=1e-15)
        # the parts counted on a Dask cluster: the same report
        rc, out2, err = run(*base, *more, "--scheduler", client.scheduler.address)
        assert rc == 0, err
        assert json.loads(out2) == d
    rc, text, err = run(*base[:-2], "--format", "text")
    assert rc == 0, err
    assert "all groups" in text and text.count("micro avg") >= 7
    assert "auroc     spam" in text


def test_bad_input_is_named_and_nothing_is_printed(tmp_path):
    t, s = data(7, 60, dtype=np.float32)

    def fails(path, *argv):
        rc, out, err = run(path, "--multilabel", *argv)
        assert rc == 2 and out == "" and err.count("\n") == 1, (rc, out, err)
        return err

    path, cols, _ = write(tmp_path, "csv", t, s)
    named = ["--true", ",".join(LABELS), "--pred", ",".join(PREDS)]
    err = fails(path, *named, "--score", "s_toxic,s_spam")
    assert "--score names 2 columns and --true 3 labels" in err
    bad = s.copy()
    bad[41, 1] = np.nan
    for source, by in (("parquet", []), ("parquet", ["--by", "toxic"]), ("csv", []),
                       ("npz", []), ("npz", ["--by", "g"])):
        path, cols, _ = write(tmp_path, source, t, bad, g=np.arange(60) % 3)
        err = fails(path, *cols, "--chunksize", 16, *by)
        if source == "npz":           # a NaN value (pandas writes NaN as a missing value)
            assert "row 41: column 's' (label 1) = nan is not finite" in err, err
        else:
            assert "row 41" in err and "missing value in column 's_spam'" in err, err
    # one (N, L) score array of the wrong width
    path = tmp_path / "w.npz"
    np.savez(path, y=t, p=t, s=s[:, :2])
    err = fails(path, "--true", "y", "--pred", "p", "--score", "s")
    assert "column 's' holds 2 labels but --true has 3" in err
    np.savez(path, y=t, p=t, s=np.where(np.arange(60)[:, None] == 9, np.inf, s))
    err = fails(path, "--true", "y", "--pred", "p", "--score", "s", "--chunksize", 8)
    assert "row 9: column 's' (label 0) = inf is not finite" in err
    err = fails(path, "--true", "y", "--pred", "p", "--score", "s", "--pos-label", "1")
    assert "--pos-label" in err


def test_report_with_multilabel_curves_has_the_micro_average():
    import confstream as cs

    t, s = data(21, 300)
    rep = cs.MultilabelConfusionMatrix(3).update(t, s).report(zero_division=0)
    got = rep.with_curves(cs.MultilabelScoreCurves(3).update(t[:100], s[:100])
                          .update(t[100:], s[100:]))
    ref = reference(t, s)
    for row, avg in AVERAGES.items():
        assert got.get("auroc", row) == ref[row]["auroc"], row
        assert got.get("ap", row) == ref[row]["ap"], row
    assert list(got.curves)[-3:] == list(AVERAGES)
    assert got.to_dict()["micro avg"]["auroc bounds"] == [ref["micro avg"]["auroc"]] * 2
