"""``confstream report FILE --score COL``: each class's AUROC and average precision in every
``--format``, against scikit-learn's ``roc_auc_score`` / ``average_precision_score`` on the
same columns (read back as pandas / numpy would), and ``--plot`` with the curves.

float16 scores (a .npz) are exact: equal to scikit-learn's. float64 scores (CSV, Parquet) are
certified: scikit-learn's value lies inside the printed bounds and the point value is within
the bound's width of it."""

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


def binary_csv(tmp_path, n=3000, seed=0, late_positive=False):
    rng = np.random.default_rng(seed)
    y = rng.choice(["cat", "dog"], n, p=[0.8, 0.2])
    if late_positive:  # the positive class first appears after several chunks
        y[:500] = "cat"
    s = np.round(rng.random(n) * 0.6 + (y == "dog") * 0.3, 4)  # ties
    w = rng.integers(1, 4, n).astype(float) + 0.25
    pred = np.where(s > 0.5, "dog", "cat")
    path = tmp_path / "bin.csv"
    pd.DataFrame({"y": y, "p": pred, "s": s, "w": w}).to_csv(path, index=False)
    return str(path)


def refs(path, pos):
    df = pd.read_csv(path)
    y, s, w = df["y"].to_numpy(), df["s"].to_numpy(), df["w"].to_numpy()
    out = {}
    for weights in (None, w):
        key = "weighted" if weights is not None else "plain"
        out[key] = (skm.roc_auc_score(y == pos, s, sample_weight=weights),
                    skm.average_precision_score(y, s, pos_label=pos, sample_weight=weights))
    return out


def assert_certified(row, ref_auroc, ref_ap):
    for m, ref in (("auroc", ref_auroc), ("ap", ref_ap)):
        lo, hi = row[m + " bounds"]
        assert lo <= ref <= hi, (m, lo, ref, hi)
        assert abs(row[m] - ref) <= hi - lo
        assert hi - lo < 1e-3


@pytest.mark.parametrize("chunk", [64, 250_000])
def test_binary_csv_json_is_certified_and_chunking_does_not_matter(tmp_path, capsys, chunk):
    path = binary_csv(tmp_path, late_positive=True)
    ref = refs(path, "dog")
    rc, out, err = run(capsys, "report", path, "--true", "y", "--pred", "p", "--score", "s",
                       "--format", "json", "--chunksize", chunk)
    assert rc == 0, err
    d = json.loads(out)
    assert "auroc" not in d["cat"]  # one score column: the positive class's
    assert_certified(d["dog"], *ref["plain"])
    rc, out2, _ = run(capsys, "report", path, "--true", "y", "--pred", "p", "--score", "s",
                      "--weight", "w", "--format", "json", "--chunksize", chunk)
    assert_certified(json.loads(out2)["dog"], *ref["weighted"])
    if chunk == 64:  # the same state whatever the chunks
        rc, big, _ = run(capsys, "report", path, "--true", "y", "--pred", "p", "--score", "s",
                         "--format", "json")
        assert json.loads(big)["dog"] == d["dog"]


def test_binary_text_csv_markdown(tmp_path, capsys):
    path = binary_csv(tmp_path)
    df = pd.read_csv(path)
    auroc, ap = refs(path, "dog")["plain"]
    base = skm.classification_report(df["y"], df["p"])
    rc, text, _ = run(capsys, "report", path, "--true", "y", "--pred", "p", "--score", "s",
                      "--digits", "3")
    assert rc == 0
    assert text.startswith(skm.classification_report(df["y"], df["p"], digits=3))
    line = next(x for x in text.splitlines()[len(base.splitlines()):] if "dog" in x)
    assert line.split() == ["dog", f"{auroc:.3f}", f"{ap:.3f}", str((df["y"] == "dog").sum())]
    assert "certified" in text
    rc, out, _ = run(capsys, "report", path, "--true", "y", "--pred", "p", "--score", "s",
                     "--format", "csv")
    rows = {r["class"]: r for r in csv.DictReader(io.StringIO(out))}
    dog = rows["dog"]
    assert float(dog["auroc_lo"]) <= auroc <= float(dog["auroc_hi"])
    assert float(dog["ap_lo"]) <= ap <= float(dog["ap_hi"])
    assert rows["cat"]["auroc"] == "" and rows["accuracy"]["ap"] == ""
    rc, out, _ = run(capsys, "report", path, "--true", "y", "--pred", "p", "--score", "s",
                     "--format", "markdown")
    assert out.splitlines()[0].endswith("| support | auroc | ap |")
    assert f"| {auroc:.2f} | {ap:.2f} |" in out and "certified" in out


def test_pos_label_picks_the_scored_class(tmp_path, capsys):
    path = binary_csv(tmp_path)
    df = pd.read_csv(path)
    rc, out, _ = run(capsys, "report", path, "--true", "y", "--pred", "p", "--score", "s",
                     "--pos-label", "cat", "--format", "json")
    d = json.loads(out)
    assert "auroc" not in d["dog"]
    assert_certified(d["cat"], skm.roc_auc_score(df["y"] == "cat", df["s"]),
                     skm.average_precision_score(df["y"], df["s"], pos_label="cat"))


def test_npz_float16_score_matrix_is_exact(tmp_path, capsys):
    rng = np.random.default_rng(1)
    n, c = 2500, 4
    y = rng.integers(0, c, n)
    z = rng.normal(size=(n, c))
    z[np.arange(n), y] += 1.0
    s = (np.exp(z) / np.exp(z).sum(1, keepdims=True)).astype(np.float16)
    w = rng.integers(1, 5, n)
    path = tmp_path / "m.npz"
    np.savez(path, y=y, p=s.argmax(1), s=s, w=w)
    rc, out, err = run(capsys, "report", path, "--true", "y", "--pred", "p", "--score", "s",
                       "--weight", "w", "--format", "json", "--chunksize", 333)
    assert rc == 0, err
    d = json.loads(out)
    s64 = s.astype(np.float64)
    for k in range(c):
        row = d[str(k)]
        assert row["auroc"] == pytest.approx(
            skm.roc_auc_score(y == k, s64[:, k], sample_weight=w), rel=1e-12, abs=0)
        assert row["ap"] == pytest.approx(
            skm.average_precision_score(y == k, s64[:, k], sample_weight=w), rel=1e-12, abs=0)
        assert row["auroc bounds"] == [row["auroc"]] * 2
    macro = skm.average_precision_score(np.eye(c)[y], s64, average="macro", sample_weight=w)
    weighted = skm.roc_auc_score(np.eye(c)[y], s64, average="weighted", sample_weight=w)
    assert d["macro avg"]["ap"] == pytest.approx(macro, rel=1e-12)
    assert d["weighted avg"]["auroc"] == pytest.approx(weighted, rel=1e-12)
    rc, text, _ = run(capsys, "report", path, "--true", "y", "--pred", "p", "--score", "s")
    assert "auroc" in text and "certified" not in text


def test_score_columns_with_string_labels(tmp_path, capsys):
    rng = np.random.default_rng(2)
    n = 1200
    classes = ["ant", "bee", "cat"]
    y = rng.choice(classes, n)
    sc = rng.dirichlet(np.ones(3), n)
    df = pd.DataFrame({"y": y, "p": np.array(classes)[sc.argmax(1)],
                       **{f"s_{c}": sc[:, i] for i, c in enumerate(classes)}})
    path = tmp_path / "m.parquet"
    df.to_parquet(path)
    rc, out, err = run(capsys, "report", path, "--true", "y", "--pred", "p", "--score",
                       "s_ant", "s_bee", "s_cat", "--labels", *classes, "--format", "json")
    assert rc == 0, err
    d = json.loads(out)
    for i, c in enumerate(classes):
        assert_certified(d[c], skm.roc_auc_score(y == c, sc[:, i]),
                         skm.average_precision_score(y == c, sc[:, i]))
    rc, _, err = run(capsys, "report", path, "--true", "y", "--pred", "p", "--score",
                     "s_ant", "s_bee", "s_cat")
    assert rc == 2 and "give --labels" in err


def test_plot_draws_the_curves(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    image = pytest.importorskip("matplotlib.image")
    path = binary_csv(tmp_path, n=800)
    png = tmp_path / "out.png"
    rc, _, err = run(capsys, "report", path, "--true", "y", "--pred", "p", "--score", "s",
                     "--plot", png)
    assert rc == 0, err
    img = image.imread(str(png))
    assert img.shape[1] > 2.5 * img.shape[0]  # heatmap, ROC and PR side by side
    plain = tmp_path / "plain.png"
    run(capsys, "report", path, "--true", "y", "--pred", "p", "--plot", plain)
    assert image.imread(str(plain)).shape[1] < 1.6 * image.imread(str(plain)).shape[0]


def test_bad_scores_name_their_row(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    rows = ["y,p,s"] + [f"{i % 2},{i % 2},0.{i % 10}" for i in range(300)]
    rows[1 + 217] = "1,1,inf"
    path.write_text("\n".join(rows) + "\n")
    rc, _, err = run(capsys, "report", path, "--true", "y", "--pred", "p", "--score", "s",
                     "--chunksize", 50)
    assert rc == 2 and "row 217" in err and "'s'" in err and "not finite" in err, err
    three = tmp_path / "three.csv"
    three.write_text("y,p,s\n0,0,0.1\n1,1,0.9\n2,1,0.5\n")
    rc, _, err = run(capsys, "report", three, "--true", "y", "--pred", "p", "--score", "s")
    assert rc == 2 and "row 2" in err and "third class" in err
    rc, _, err = run(capsys, "report", three, "--true", "y", "--pred", "p", "--pos-label", "1")
    assert rc == 2 and "--score" in err
    one = tmp_path / "one.csv"
    one.write_text("y,p,s\n1,1,0.1\n1,1,0.9\n")
    rc, _, err = run(capsys, "report", one, "--true", "y", "--pred", "p", "--score", "s")
    assert rc == 2 and "both classes" in err
    shifted = tmp_path / "shift.npz"
    np.savez(shifted, y=np.array([1, 2, 3, 1]), p=np.array([1, 2, 3, 3]),
             s=np.full((4, 3), 1 / 3))
    rc, _, err = run(capsys, "report", shifted, "--true", "y", "--pred", "p", "--score", "s")
    assert rc == 2 and "row 2: column 'y' = 3 is not in the label space" in err
    assert "give --labels" in err
    rc, out, err = run(capsys, "report", shifted, "--true", "y", "--pred", "p", "--score", "s",
                       "--labels", "1", "2", "3", "--format", "json")
    assert rc == 0 and json.loads(out)["3"]["auroc"] == skm.roc_auc_score(
        [0, 0, 1, 0], [1 / 3] * 4)
    npz = tmp_path / "m.npz"                  # --by with --score: tests/test_grouped_curves_cli
    np.savez(npz, y=np.eye(3, dtype=int), s=np.full((3, 2), 1 / 3), p=np.array([0, 1, 5]))
    rc, _, err = run(capsys, "report", npz, "--true", "y", "--pred", "y", "--score", "s",
                     "--by", "p", "--multilabel")   # tests/test_cli_multilabel_scores.py
    assert rc == 2 and "column 's' holds 2 labels but --true has 3" in err


def by_hand(y, s, labels, chunk, w=None, **options):
    """ScoreCurves(resolution=..., intervals=...) fed the file's rows in the CLI's chunks."""
    from confstream import ScoreCurves

    sc = ScoreCurves(labels=labels, **options)
    for i in range(0, len(y), chunk):
        sc.update(y[i:i + chunk], s[i:i + chunk],
                  sample_weight=None if w is None else w[i:i + chunk])
    return sc.per_class(warn=False)


def same_row(got, want):
    for m in ("auroc", "ap"):
        assert got[m] == want[m], m
        assert list(got[m + " bounds"]) == list(want[m + " bounds"]), m


@pytest.mark.parametrize("pos", ["dog", "cat"])  # cat: the label met first is the positive
@pytest.mark.parametrize("weighted", [False, True])
def test_adaptive_resolution_equals_adaptive_curves_by_hand(tmp_path, capsys, pos, weighted):
    path = binary_csv(tmp_path, n=2000, seed=5)
    df = pd.read_csv(path)
    y, s, w = df["y"].to_numpy(), df["s"].to_numpy(), df["w"].to_numpy()
    neg = "cat" if pos == "dog" else "dog"
    more = ["--weight", "w"] if weighted else []
    for pred in (["--pred", "p"], []):           # beside the report, and the curves alone
        rc, out, err = run(capsys, "report", path, "--true", "y", *pred, "--score", "s",
                           "--pos-label", pos, "--score-resolution", "adaptive",
                           "--score-intervals", 64, "--format", "json", "--chunksize", 300,
                           *more)
        assert rc == 0, err
        got = json.loads(out)[pos]
        want = by_hand(y, s, [neg, pos], 300, w if weighted else None,
                       resolution="adaptive", intervals=64)[pos]
        same_row(got, want)
        ref = refs(path, pos)["weighted" if weighted else "plain"]
        for m, r in zip(("auroc", "ap"), ref):
            lo, hi = got[m + " bounds"]
            assert lo <= r <= hi and hi > lo, (m, lo, r, hi)  # 64 intervals: really coarse
    fixed = by_hand(y, s, [neg, pos], 300, w if weighted else None, bits=4)[pos]
    rc, out, _ = run(capsys, "report", path, "--true", "y", "--score", "s", "--pos-label", pos,
                     "--score-bits", 4, "--score-resolution", "fixed", "--format", "json",
                     *more)
    same_row(json.loads(out)[pos], fixed)


def test_adaptive_resolution_of_score_columns(tmp_path, capsys):
    rng = np.random.default_rng(3)
    n, classes = 1500, ["ant", "bee", "cat"]
    y = rng.choice(classes, n)
    sc = rng.dirichlet(np.ones(3), n)
    cols = {f"s_{c}": sc[:, i] for i, c in enumerate(classes)}
    path = tmp_path / "m.parquet"
    pd.DataFrame({"y": y, "p": np.array(classes)[sc.argmax(1)], **cols}).to_parquet(path)
    rc, out, err = run(capsys, "report", path, "--true", "y", "--pred", "p", "--score", *cols,
                       "--labels", *classes, "--score-resolution", "adaptive",
                       "--score-intervals", 100, "--format", "json", "--chunksize", 512)
    assert rc == 0, err
    d = json.loads(out)
    want = by_hand(y, sc, classes, 512, resolution="adaptive", intervals=100)
    for i, c in enumerate(classes):
        same_row(d[c], want[c])
        for m, r in (("auroc", skm.roc_auc_score(y == c, sc[:, i])),
                     ("ap", skm.average_precision_score(y == c, sc[:, i]))):
            lo, hi = d[c][m + " bounds"]
            assert lo <= r <= hi


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 400), st.integers(1, 120),
       st.sampled_from(["no", "yes"]), st.sampled_from(["no", "yes"]), st.booleans(),
       st.integers(64, 90))
def test_any_chunks_and_label_order_give_the_adaptive_state_by_hand(seed, n, chunk, pos, first,
                                                                      weighted, intervals):
    """Whichever label the file shows first (the CLI counts truth in first-met order and
    relabels at the end) and whichever is positive, the curves equal
    ScoreCurves([neg, pos], resolution="adaptive") on the rows."""
    rng = np.random.default_rng(seed)
    y = rng.choice(["no", "yes"], n)
    y[:n // 3] = first                      # a leading run: small chunks meet `first` first
    y[-2:] = ["no", "yes"]
    s = rng.random(n) * 0.7 + (y == pos) * 0.3
    w = rng.integers(1, 5, n) * 0.5
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "f.csv")
        pd.DataFrame({"y": y, "s": s, "w": w}).to_csv(path, index=False)
        back = pd.read_csv(path)
        rc, out, err = run_quiet("report", path, "--true", "y", "--score", "s",
                                 "--pos-label", pos, "--score-resolution", "adaptive",
                                 "--score-intervals", intervals, "--format", "json",
                                 "--chunksize", chunk, *(["--weight", "w"] if weighted else []))
    assert rc == 0, err
    neg = "yes" if pos == "no" else "no"
    want = by_hand(back["y"].to_numpy(), back["s"].to_numpy(), [neg, pos], chunk,
                   back["w"].to_numpy() if weighted else None, resolution="adaptive",
                   intervals=intervals)[pos]
    got = json.loads(out)[pos]
    same_row(got, want)
    assert got["support"] == want["support"]


def run_quiet(*argv):
    import contextlib

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("flags, words", [
    (["--score-intervals", "100"], "--score-intervals: intervals (resolution='adaptive' only) "
                                   "must be an int in 64..67108864, got 100"),
    (["--score-resolution", "adaptive", "--score-intervals", "63"],
     "--score-intervals: intervals (resolution='adaptive' only) must be an int in "
     "64..67108864, got 63"),
    (["--score-resolution", "adaptive", "--score-intervals", str((1 << 26) + 1)],
     f"got {(1 << 26) + 1}"),
    (["--score-resolution", "adaptive", "--score-bits", "12"],
     "bits sets the fixed bins; resolution='adaptive' takes intervals= instead"),
])
def test_bad_resolution_flags_are_refused_before_reading(tmp_path, capsys, flags, words):
    missing = tmp_path / "not-there.csv"            # never opened: the flags fail first
    for pred in (["--pred", "p"], [], ["--pred", "p", "--by", "g"]):
        rc, out, err = run(capsys, "report", missing, "--true", "y", *pred, "--score", "s",
                           *flags)
        assert rc == 2 and out == "" and words in err and "not-there" not in err, err
    rc, out, err = run(capsys, "report", missing, "--true", "y", "--pred", "p",
                       "--score-resolution", "adaptive")
    assert rc == 2 and out == "" and "give --score COL too" in err
    with pytest.raises(SystemExit) as e:
        cli.main(["report", str(missing), "--true", "y", "--score", "s",
                  "--score-resolution", "fine"])
    assert e.value.code == 2 and "invalid choice: 'fine'" in capsys.readouterr().err
