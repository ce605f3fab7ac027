"""`confstream report` against scikit-learn on the same columns of generated files.

The reference always reads the file back with pandas / pyarrow / numpy and runs
`sklearn.metrics.classification_report` on it: the command's text must be byte-identical,
its JSON equal to `output_dict=True`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pd = pytest.importorskip("pandas")
skm = pytest.importorskip("sklearn.metrics")
from sklearn.exceptions import UndefinedMetricWarning  # noqa: E402

from confstream import cli  # noqa: E402

CHUNK = 97          # small, so every file is read in many chunks


# --------------------------------------------------------------------------------------------
# data, files and references

def make_data(n: int, kind: str, seed: int = 0):
    """Imbalanced labels, ~70% right; one label only ever predicted, never true."""
    rng = np.random.default_rng(seed)
    classes = {"int": np.array([0, 1, 2, 3, 7]),
               "str": np.array(["cat", "dog", "eel", "fox", "gnu"])}[kind]
    t = classes[:4][rng.choice(4, size=n, p=[0.55, 0.25, 0.15, 0.05])]
    wrong = rng.random(n) < 0.3
    p = np.where(wrong, classes[rng.integers(0, 5, size=n)], t)
    w = np.round(rng.random(n) * 3, 6) + 0.001          # non-round sums: full-repr support
    return t, p, w


def write(tmp_path, fmt: str, t, p, w, name: str = "data"):
    """Write the columns in ``fmt``; return (path, column names for --true/--pred/--weight)."""
    df = pd.DataFrame({"y_true": t, "y_pred": p, "w": w, "other": np.arange(len(t))})
    if fmt == "csv":
        path = tmp_path / f"{name}.csv"
        df.to_csv(path, index=False)
    elif fmt == "csv.gz":
        path = tmp_path / f"{name}.csv.gz"
        df.to_csv(path, index=False)
    elif fmt == "parquet":
        path = tmp_path / f"{name}.parquet"
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=250)
    elif fmt == "npz":
        path = tmp_path / f"{name}.npz"
        np.savez(path, y_true=t, y_pred=p, w=w)
    elif fmt == "npz-compressed":
        path = tmp_path / f"{name}.npz"
        np.savez_compressed(path, y_true=t, y_pred=p, w=w)
    elif fmt == "npy":
        path = tmp_path / f"{name}.npy"
        np.save(path, np.stack([t, p, w.astype(t.dtype) if t.dtype.kind != "U" else w], 1)
                if t.dtype.kind != "U" else np.stack([t, p], 1))
        return str(path), ("0", "1", "2" if t.dtype.kind != "U" else None)
    else:
        raise AssertionError(fmt)
    return str(path), ("y_true", "y_pred", "w")


def read_back(path: str, cols):
    """The columns as a user of pandas / numpy would load them."""
    if path.endswith((".csv", ".csv.gz")):
        df = pd.read_csv(path)
        return [None if c is None else df[c].to_numpy() for c in cols]
    if path.endswith(".parquet"):
        df = pd.read_parquet(path)
        return [None if c is None else df[c].to_numpy() for c in cols]
    if path.endswith(".npz"):
        with np.load(path) as z:
            return [None if c is None else z[c] for c in cols]
    arr = np.load(path)
    return [None if c is None else arr[:, int(c)] for c in cols]


def sklearn_report(y_true, y_pred, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return skm.classification_report(y_true, y_pred, **kw)


def run(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def only_warnings(err: str) -> bool:
    """stderr holds nothing but ``confstream: warning:`` lines (sklearn warns there too)."""
    return all(line.startswith("confstream: warning: ") for line in err.splitlines())


def same(a, b) -> bool:
    """Equal dicts / floats, NaN equal to NaN."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float) or isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return a == b


# --------------------------------------------------------------------------------------------
# sklearn parity

FORMATS = ["csv", "csv.gz", "parquet", "npz", "npz-compressed", "npy"]


@pytest.mark.parametrize("fmt, kind, weighted", [
    (fmt, kind, weighted) for fmt in FORMATS for kind in ("int", "str") for weighted in (0, 1)
    if not (fmt == "npy" and kind == "str" and weighted)      # one dtype: no float weights
])
def test_text_is_sklearns(tmp_path, capsys, fmt, kind, weighted):
    t, p, w = make_data(1000, kind, seed=len(fmt))
    path, (ct, cp, cw) = write(tmp_path, fmt, t, p, w)
    argv = ["report", path, "--true", ct, "--pred", cp, "--chunksize", CHUNK]
    if weighted:
        argv += ["--weight", cw]
    rc, out, err = run(capsys, *argv)
    yt, yp, yw = read_back(path, (ct, cp, cw if weighted else None))
    assert rc == 0 and only_warnings(err), err
    assert out == sklearn_report(yt, yp, sample_weight=yw)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "npz", "npy"])
def test_any_chunk_size_gives_the_same_report(tmp_path, capsys, fmt):
    t, p, w = make_data(300, "int", seed=17)
    path, (ct, cp, cw) = write(tmp_path, fmt, t, p, w)
    yt, yp, yw = read_back(path, (ct, cp, cw))
    expected = sklearn_report(yt, yp, sample_weight=yw, digits=5)
    for chunksize in (1, 7, 64, 299, 300, 10**6):
        rc, out, _ = run(capsys, "report", path, "--true", ct, "--pred", cp, "--weight", cw,
                         "--digits", 5, "--chunksize", chunksize)
        assert (rc, out) == (0, expected), chunksize


@pytest.mark.parametrize("fmt", ["csv", "parquet", "npz"])
@pytest.mark.parametrize("weighted", [False, True])
def test_json_is_output_dict(tmp_path, capsys, fmt, weighted):
    t, p, w = make_data(700, "str", seed=3)
    path, (ct, cp, cw) = write(tmp_path, fmt, t, p, w)
    extra = ["--weight", cw] if weighted else []
    rc, out, err = run(capsys, "report", path, "--true", ct, "--pred", cp, "--format", "json",
                       "--chunksize", CHUNK, *extra)
    yt, yp, yw = read_back(path, (ct, cp, cw if weighted else None))
    assert rc == 0
    assert same(json.loads(out), sklearn_report(yt, yp, sample_weight=yw, output_dict=True))


@pytest.mark.parametrize("options", [
    dict(labels=["1", "0", "9"]),                                   # subset + absent: micro avg
    dict(labels=["0", "1", "2", "3", "7"], target_names=["a", "b", "c", "d", "e"]),
    dict(target_names=["zero", "one", "two", "three", "seven"]),
    dict(digits=4),
    dict(digits=0),
    dict(labels=["3", "9"], zero_division="0"),
    dict(labels=["3", "9"], zero_division="1"),
    dict(labels=["3", "9", "0"], zero_division="nan"),
])
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_report_options(tmp_path, capsys, options, fmt):
    t, p, w = make_data(600, "int", seed=5)
    path, (ct, cp, _) = write(tmp_path, "csv", t, p, w)
    argv = ["report", path, "--true", ct, "--pred", cp, "--chunksize", CHUNK, "--format", fmt]
    kw: dict = {}
    if "labels" in options:
        argv += ["--labels", *options["labels"]]
        kw["labels"] = [int(x) for x in options["labels"]]
    if "target_names" in options:
        argv += ["--target-names", *options["target_names"]]
        kw["target_names"] = options["target_names"]
    if "digits" in options:
        argv += ["--digits", options["digits"]]
        kw["digits"] = options["digits"]
    if "zero_division" in options:
        argv += ["--zero-division", options["zero_division"]]
        kw["zero_division"] = {"0": 0.0, "1": 1.0, "nan": np.nan}[options["zero_division"]]
    rc, out, err = run(capsys, *argv)
    yt, yp = read_back(path, (ct, cp))
    assert rc == 0 and only_warnings(err), err
    if fmt == "text":
        assert out == sklearn_report(yt, yp, **kw)
    else:
        assert same(json.loads(out), sklearn_report(yt, yp, output_dict=True, **kw))


def test_string_labels_option(tmp_path, capsys):
    t, p, w = make_data(500, "str", seed=8)
    path, (ct, cp, _) = write(tmp_path, "parquet", t, p, w)
    rc, out, _ = run(capsys, "report", path, "--true", ct, "--pred", cp,
                     "--labels", "fox", "cat", "zebra", "--zero-division", "0")
    yt, yp = read_back(path, (ct, cp))
    assert rc == 0
    assert out == sklearn_report(yt, yp, labels=["fox", "cat", "zebra"], zero_division=0.0)


def test_undefined_metric_warns_on_stderr(tmp_path, capsys):
    t, p, w = make_data(400, "int", seed=9)
    path, (ct, cp, _) = write(tmp_path, "npz", t, p, w)
    rc, out, err = run(capsys, "report", path, "--true", ct, "--pred", cp, "--labels", "0", "9")
    yt, yp = read_back(path, (ct, cp))
    assert rc == 0
    assert out == sklearn_report(yt, yp, labels=[0, 9])
    lines = err.splitlines()
    assert lines and all(line.startswith("confstream: warning: ") for line in lines)
    assert any("ill-defined" in line for line in lines)


@pytest.mark.parametrize("csv_text, ref", [
    # floats stay floats (sklearn prints them "1.0"), bools stay bools
    ("t,p\n1.0,2.0\n2.0,2.0\n1.0,1.0\n", None),
    ("t,p\nTrue,False\nFalse,False\nTrue,True\n", None),
    ("t,p\n10,2\n2,10\n10,10\n", None),
    ("t,p\n 1, 2\n-2,007\n 1,-2\n", None),              # spaces, signs, leading zeros
    ("t,p\n cat,dog\ndog, dog\n", None),                  # strings keep their spaces
])
def test_csv_column_types_follow_pandas(tmp_path, capsys, csv_text, ref):
    path = tmp_path / "typed.csv"
    path.write_text(csv_text)
    rc, out, _ = run(capsys, "report", path, "--true", "t", "--pred", "p")
    df = pd.read_csv(path)
    assert rc == 0
    assert out == sklearn_report(df["t"].to_numpy(), df["p"].to_numpy())


def test_same_column_twice_and_tsv(tmp_path, capsys):
    path = tmp_path / "data.tsv"
    path.write_text("a\tb\nx\ty\ny\ty\n")
    rc, out, _ = run(capsys, "report", path, "--true", "a", "--pred", "a")
    assert rc == 0
    assert out == sklearn_report(["x", "y"], ["x", "y"])


def test_npz_score_matrix_as_predictions(tmp_path, capsys):
    rng = np.random.default_rng(4)
    scores = rng.random((800, 4))
    t = rng.integers(0, 4, 800)
    path = tmp_path / "scores.npz"
    np.savez(path, y=t, scores=scores)
    rc, out, _ = run(capsys, "report", path, "--true", "y", "--pred", "scores", "--chunksize", 64)
    assert rc == 0
    assert out == sklearn_report(t, scores.argmax(1))


def test_record_npy_and_fortran_npy(tmp_path, capsys):
    t, p, _ = make_data(300, "int", seed=2)
    rec = np.zeros(300, dtype=[("truth", "i8"), ("guess", "i4")])
    rec["truth"], rec["guess"] = t, p
    np.save(tmp_path / "rec.npy", rec)
    np.save(tmp_path / "f.npy", np.asfortranarray(np.stack([p, t], 1)))
    expected = sklearn_report(t, p)
    assert run(capsys, "report", tmp_path / "rec.npy", "--true", "truth", "--pred", "guess",
               "--chunksize", 50)[:2] == (0, expected)
    assert run(capsys, "report", tmp_path / "f.npy", "--true", "1", "--pred", "0",
               "--chunksize", 50)[:2] == (0, expected)


# --------------------------------------------------------------------------------------------
# csv / markdown tables

def test_csv_format_rows_are_the_dict(tmp_path, capsys):
    t, p, w = make_data(500, "str", seed=11)
    path, (ct, cp, cw) = write(tmp_path, "parquet", t, p, w)
    rc, out, _ = run(capsys, "report", path, "--true", ct, "--pred", cp, "--weight", cw,
                     "--format", "csv")
    yt, yp, yw = read_back(path, (ct, cp, cw))
    d = sklearn_report(yt, yp, sample_weight=yw, output_dict=True)
    rows = list(csv.reader(io.StringIO(out)))
    assert rc == 0
    assert rows[0] == ["class", "precision", "recall", "f1-score", "support"]
    assert [r[0] for r in rows[1:]] == list(d)
    for name, *values in rows[1:]:
        if name == "accuracy":
            assert values[:2] == ["", ""]
            assert float(values[2]) == d["accuracy"]
            assert float(values[3]) == d["weighted avg"]["support"]
        else:
            assert [float(v) for v in values] == [d[name][k] for k in
                                                  ("precision", "recall", "f1-score", "support")]


def test_markdown_format(tmp_path, capsys):
    t, p, w = make_data(300, "int", seed=12)
    path, (ct, cp, _) = write(tmp_path, "csv", t, p, w)
    rc, out, _ = run(capsys, "report", path, "--true", ct, "--pred", cp, "--format", "markdown",
                     "--digits", "3", "--labels", "0", "1")
    yt, yp = read_back(path, (ct, cp))
    d = sklearn_report(yt, yp, labels=[0, 1], output_dict=True)
    lines = out.splitlines()
    assert rc == 0
    assert lines[0] == "| class | precision | recall | f1-score | support |"
    assert len(lines) == 2 + len(d)
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    assert cells == ["0"] + [f"{d['0'][k]:.3f}" for k in ("precision", "recall", "f1-score")] \
        + [str(int(d["0"]["support"]))]
    assert lines[4].startswith("| micro avg |")


# --------------------------------------------------------------------------------------------
# heatmap

@pytest.mark.parametrize("normalize", [None, "true", "pred", "all"])
def test_plot_shows_sklearns_matrix(tmp_path, capsys, monkeypatch, normalize):
    t, p, w = make_data(500, "str", seed=13)
    path, (ct, cp, cw) = write(tmp_path, "csv", t, p, w)
    seen = {}
    real = cli.plot_confusion

    def spy(cm, names, png, *, normalize=None, title=None):
        seen.update(cm=cm, names=list(names), normalize=normalize)
        real(cm, names, png, normalize=normalize, title=title)

    monkeypatch.setattr(cli, "plot_confusion", spy)
    png = tmp_path / "cm.png"
    argv = ["report", path, "--true", ct, "--pred", cp, "--weight", cw, "--plot", png]
    if normalize:
        argv += ["--normalize", normalize]
    rc, out, _ = run(capsys, *argv)
    yt, yp, yw = read_back(path, (ct, cp, cw))
    labels = sorted(set(yt) | set(yp))
    assert rc == 0 and out == sklearn_report(yt, yp, sample_weight=yw)
    assert seen["names"] == labels
    np.testing.assert_array_equal(
        cli.normalized(seen["cm"], seen["normalize"]),
        skm.confusion_matrix(yt, yp, labels=labels, sample_weight=yw, normalize=normalize))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_with_labels_and_target_names(tmp_path, capsys, monkeypatch):
    t, p, w = make_data(300, "int", seed=14)
    path, (ct, cp, _) = write(tmp_path, "npz", t, p, w)
    seen = {}
    monkeypatch.setattr(cli, "plot_confusion",
                        lambda cm, names, png, **kw: seen.update(cm=cm, names=names))
    rc, _, _ = run(capsys, "report", path, "--true", ct, "--pred", cp, "--plot",
                   tmp_path / "x.png", "--labels", "7", "0", "5", "--target-names", "s", "z", "f",
                   "--zero-division", "0")
    yt, yp = read_back(path, (ct, cp))
    assert rc == 0 and seen["names"] == ["s", "z", "f"]
    np.testing.assert_array_equal(seen["cm"], skm.confusion_matrix(yt, yp, labels=[7, 0, 5]))


@pytest.mark.parametrize("classes", [2, 50])
def test_plot_is_a_readable_png(tmp_path, classes):
    image = pytest.importorskip("matplotlib.image")
    rng = np.random.default_rng(classes)
    cm = rng.integers(0, 100, (classes, classes))
    png = tmp_path / "cm.png"
    cli.plot_confusion(cm, [f"class {i}" for i in range(classes)], str(png), normalize="true")
    pixels = image.imread(png)
    assert pixels.ndim == 3 and min(pixels.shape[:2]) >= 400
    if classes == 50:                       # the figure grows with the classes
        assert min(pixels.shape[:2]) >= 1500


# --------------------------------------------------------------------------------------------
# bad input: exit 2, one line on stderr, no traceback

def fails(capsys, *argv) -> str:
    rc, out, err = run(capsys, *argv)
    assert rc == 2, err
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("confstream: error: "), err
    return err


@pytest.fixture
def good_csv(tmp_path):
    t, p, w = make_data(1000, "int", seed=1)
    return write(tmp_path, "csv", t, p, w)[0]


def test_missing_file(tmp_path, capsys):
    err = fails(capsys, "report", tmp_path / "nope.csv", "--true", "a", "--pred", "b")
    assert "no such file" in err and "nope.csv" in err


@pytest.mark.parametrize("flag", ["--true", "--pred", "--weight"])
@pytest.mark.parametrize("fmt", ["csv", "parquet", "npz"])
def test_missing_column(tmp_path, capsys, flag, fmt):
    t, p, w = make_data(100, "int")
    path, (ct, cp, cw) = write(tmp_path, fmt, t, p, w)
    cols = {"--true": ct, "--pred": cp, "--weight": cw}
    cols[flag] = "nosuch"
    err = fails(capsys, "report", path, *[x for k, v in cols.items() for x in (k, v)])
    assert "'nosuch' not found" in err and "y_true" in err      # lists what there is


def test_npy_column_out_of_range(tmp_path, capsys):
    np.save(tmp_path / "a.npy", np.zeros((10, 2), dtype=int))
    np.save(tmp_path / "b.npy", np.zeros(10, dtype=int))
    assert "numbered 0 to 1" in fails(capsys, "report", tmp_path / "a.npy", "--true", "0",
                                      "--pred", "2")
    assert "2-D array" in fails(capsys, "report", tmp_path / "b.npy", "--true", "0",
                                "--pred", "0")


@pytest.mark.parametrize("name, content", [
    ("data.xlsx", b"PK\x03\x04whatever"),                # unknown extension
    ("data.parquet", b"this is not parquet at all"),
    ("data.npy", b"\x93NUMPY garbage"),
    ("data.npz", b"not a zip"),
    ("data.csv", b""),                                   # empty: not even a header
])
def test_unreadable_format(tmp_path, capsys, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    err = fails(capsys, "report", path, "--true", "a", "--pred", "b")
    assert name in err


def test_npz_arrays_of_different_lengths(tmp_path, capsys):
    np.savez(tmp_path / "l.npz", a=np.zeros(10, int), b=np.zeros(9, int))
    err = fails(capsys, "report", tmp_path / "l.npz", "--true", "a", "--pred", "b")
    assert "10 rows" in err and "9" in err


def test_object_npz_is_refused(tmp_path, capsys):
    np.savez(tmp_path / "o.npz", a=np.array(["x", 1], dtype=object), b=np.array([1, 2]))
    assert "pickle" in fails(capsys, "report", tmp_path / "o.npz", "--true", "a", "--pred", "b")


def _lines_with(tmp_path, bad_row: int, bad: str, n: int = 1000, col: int = 1) -> str:
    rows = [f"{i % 3},{(i + 1) % 3},1.5" for i in range(n)]
    cells = rows[bad_row].split(",")
    cells[col] = bad
    rows[bad_row] = ",".join(cells)
    path = tmp_path / "bad.csv"
    path.write_text("t,p,w\n" + "\n".join(rows) + "\n")
    return str(path)


@pytest.mark.parametrize("bad, col, words", [
    ("2.5", 1, "is not"),          # a float in an integer column, in a later chunk
    ("x", 1, "not an integer"),    # a string after integers
    ("", 0, "missing value"),      # an empty cell
    ("heavy", 2, "not a number"),  # a weight that is not a number
])
def test_bad_csv_value_names_its_row(tmp_path, capsys, bad, col, words):
    path = _lines_with(tmp_path, 733, bad, col=col)
    err = fails(capsys, "report", path, "--true", "t", "--pred", "p", "--weight", "w",
                "--chunksize", CHUNK)
    assert "row 733 (line 735)" in err and words in err


def test_bad_label_from_the_core_names_its_row(tmp_path, capsys):
    t = np.arange(500) % 4 * 1.0
    p = t.copy()
    p[321] = 0.5                                          # continuous: not a class label
    np.savez(tmp_path / "f.npz", t=t, p=p)
    err = fails(capsys, "report", tmp_path / "f.npz", "--true", "t", "--pred", "p",
                "--chunksize", 100)
    assert "row 321" in err and "'p'" in err and "0.5" in err


def test_label_type_change_names_its_row(tmp_path, capsys):
    # pred is all strings, true all ints: sklearn refuses the mix; so must we, at row 0.
    path = tmp_path / "mix.parquet"
    pq.write_table(pa.table({"t": [1, 2, 3] * 100, "p": ["a", "b", "c"] * 100}), path)
    err = fails(capsys, "report", path, "--true", "t", "--pred", "p", "--chunksize", 50)
    assert "row 0" in err and "Mix" in err


def test_parquet_null_names_its_row(tmp_path, capsys):
    path = tmp_path / "null.parquet"
    values = ["a", "b"] * 300
    values[457] = None
    pq.write_table(pa.table({"t": values, "p": ["a"] * 600}), path, row_group_size=100)
    err = fails(capsys, "report", path, "--true", "t", "--pred", "p", "--chunksize", 64)
    assert "row 457" in err and "missing" in err


@pytest.mark.parametrize("argv, words", [
    (["--labels", "cat"], "not an integer"),
    (["--target-names", "a", "b"], "target_names"),       # sklearn's ValueError, as one line
    (["--normalize", "true"], "--plot"),
])
def test_bad_options(good_csv, capsys, argv, words):
    err = fails(capsys, "report", good_csv, "--true", "y_true", "--pred", "y_pred", *argv)
    assert words in err


def test_empty_csv_has_no_rows(tmp_path, capsys):
    (tmp_path / "e.csv").write_text("t,p\n")
    assert "no rows" in fails(capsys, "report", tmp_path / "e.csv", "--true", "t", "--pred", "p")


def test_usage_errors_exit_2(capsys):
    # neither --pred nor --score: nothing to report (a usage error, before the file is read)
    assert cli.main(["report", "x.csv", "--true", "a"]) == 2
    assert "give --pred COL" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli.main(["report", "x.csv", "--true", "a", "--pred", "b", "--chunksize", "0"])
    assert e.value.code == 2
    capsys.readouterr()


@pytest.mark.parametrize("module, flag", [("pyarrow", None), ("matplotlib", "--plot")])
def test_missing_optional_dependency(good_csv, tmp_path, capsys, monkeypatch, module, flag):
    monkeypatch.setitem(sys.modules, module, None)                # import fails
    extra = [flag, tmp_path / "p.png"] if flag else []
    err = fails(capsys, "report", good_csv, "--true", "y_true", "--pred", "y_pred", *extra)
    assert "pip install" in err and module in err


# --------------------------------------------------------------------------------------------
# as a real process: exit status, streams, no traceback; the demo subcommand's wiring

def _command(*argv):
    return subprocess.run([sys.executable, "-m", "confstream.cli", *map(str, argv)],
                          capture_output=True, text=True, timeout=120)


def test_subprocess_success_and_failure(tmp_path):
    t, p, w = make_data(2000, "str", seed=21)
    path, (ct, cp, cw) = write(tmp_path, "parquet", t, p, w)
    ok = _command("report", path, "--true", ct, "--pred", cp, "--weight", cw)
    yt, yp, yw = read_back(path, (ct, cp, cw))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == sklearn_report(yt, yp, sample_weight=yw)
    assert only_warnings(ok.stderr)                      # no progress bar: stderr is a pipe

    bad = _command("report", tmp_path / "missing.parquet", "--true", ct, "--pred", cp)
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr.startswith("confstream: error: ") and bad.stderr.count("\n") == 1
    assert "Traceback" not in bad.stderr


def test_installed_entry_point(tmp_path):
    import shutil
    exe = shutil.which("confstream", path=os.path.dirname(sys.executable) + os.pathsep
                       + os.environ.get("PATH", ""))
    if exe is None:
        pytest.skip("the confstream console script is not installed")
    t, p, w = make_data(300, "int", seed=22)
    path, (ct, cp, _) = write(tmp_path, "npz", t, p, w)
    r = subprocess.run([exe, "report", path, "--true", ct, "--pred", cp, "--labels", "x"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("confstream: error: --labels")


def test_demo_subcommand_calls_the_leads_demo(monkeypatch):
    import types
    calls = []
    fake = types.ModuleType("confstream.demo")
    fake.main = lambda args: calls.append(args) or 5
    monkeypatch.setitem(sys.modules, "confstream.demo", fake)
    import confstream
    monkeypatch.setattr(confstream, "demo", fake, raising=False)
    assert cli.main(["demo", "--epochs", "3", "--samples", "1_000", "--no-plot"]) == 5
    assert cli.main(["demo", "--seed", "7", "--plot", "r.png"]) == 5
    a, b = calls
    assert (a.epochs, a.samples, a.seed, a.plot, a.no_plot) == (3, 1000, None, "recall.png", True)
    assert (b.epochs, b.samples, b.seed, b.plot, b.no_plot) == (10, 1_000_000, 7, "r.png", False)


# --------------------------------------------------------------------------------------------
# progress bar: only on a terminal; it reaches the file's end

@pytest.mark.parametrize("fmt, unit", [("csv", "B"), ("parquet", "rows"), ("npz", "rows")])
def test_progress_bar_on_a_terminal(tmp_path, capsys, monkeypatch, fmt, unit):
    tqdm = pytest.importorskip("tqdm")
    bars = []

    class Spy:
        def __init__(self, total, unit, file, **kw):
            self.total, self.unit, self.file, self.n = total, unit, file, 0
            bars.append(self)

        def update(self, k):
            assert k > 0
            self.n += k

        def close(self):
            self.closed = True

    monkeypatch.setattr(tqdm, "tqdm", Spy)
    t, p, w = make_data(3000, "int", seed=30)
    path, (ct, cp, _) = write(tmp_path, fmt, t, p, w)
    argv = ["report", path, "--true", ct, "--pred", cp, "--chunksize", 200]

    assert run(capsys, *argv)[0] == 0
    assert bars == []                                   # stderr is not a terminal here

    monkeypatch.setattr(cli, "_isatty", lambda stream: True)
    assert run(capsys, *argv, "--no-progress")[0] == 0
    assert bars == []

    assert run(capsys, *argv)[0] == 0
    (bar,) = bars
    assert bar.unit == unit and bar.file is sys.stderr and bar.closed
    assert bar.n == bar.total == (os.path.getsize(path) if unit == "B" else 3000)


# --------------------------------------------------------------------------------------------
# docs/cli.md: its examples run and print what it shows

DOCS = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "cli.md")


def doc_blocks():
    import re
    with open(DOCS, encoding="utf-8") as f:
        return re.findall(r"```(\w+)\n(.*?)```", f.read(), re.S)


def test_docs_examples(tmp_path, capsys, monkeypatch):
    import shlex
    monkeypatch.chdir(tmp_path)
    blocks = doc_blocks()
    for lang, body in blocks:
        if lang == "python" and "dask" not in body:
            exec(compile(body, DOCS, "exec"), {})
    commands = 0
    for lang, body in blocks:
        if lang != "console":
            continue
        for chunk in body.split("$ ")[1:]:
            command, _, expected = chunk.partition("\n")
            argv = shlex.split(command, comments=True)
            if argv[0] != "confstream":
                continue
            rc, out, err = run(capsys, *argv[1:])
            if expected:                                  # shown output: exactly that
                assert out + err == expected, command
            assert rc == (2 if "error" in expected else 0)
            if "--plot" in argv:
                assert (tmp_path / argv[argv.index("--plot") + 1]).stat().st_size > 10_000
            commands += 1
    assert commands >= 5
