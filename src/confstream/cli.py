"""The ``confstream`` command.

``confstream report FILE --true COL --pred COL`` streams two label columns of a CSV, Parquet,
``.npy`` or ``.npz`` file through a :class:`~confstream.ConfusionMatrix`, chunk by chunk, and
prints the classification report; its text is byte-identical to scikit-learn's
``classification_report`` on the same columns. Memory does not grow with the file.

Errors in the input (a missing file or column, an unreadable file, a bad label) end the command
with status 2 and one line on stderr: ``confstream: error: ...``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import re
import sys
import warnings
from typing import Any, Sequence

import numpy as np

from ._errors import BatchValueError
from ._files import Chunk, InputError, TableReader, first_bad_row, open_table

__all__ = ["main", "build_parser", "normalized", "plot_confusion", "plot_curves"]

PROG = "confstream"
EXIT_USAGE = 2

_ZERO_DIVISION = {"warn": "warn", "0": 0.0, "1": 1.0, "nan": np.nan}


# --------------------------------------------------------------------------------------------
# arguments

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Incremental confusion matrices; reports identical to scikit-learn's.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    rep = sub.add_parser(
        "report", help="classification report of two label columns of a file",
        description="Print the classification report of the label columns of FILE (CSV, "
                    "TSV, Parquet, .npy or .npz), read in chunks. The text output is "
                    "byte-identical to sklearn.metrics.classification_report.")
    rep.add_argument("file", metavar="FILE",
                     help="a .csv/.tsv (optionally .gz/.bz2/.zst), .parquet, .npy or .npz file")
    rep.add_argument("--true", required=True, metavar="COL",
                     help="column of true labels (.npz: array name; 2-D .npy: column number)")
    rep.add_argument("--pred", metavar="COL",
                     help="column of predicted labels (or, in a .npz, an (N, C) score array); "
                          "without it, --score gives AUROC and average precision alone")
    rep.add_argument("--weight", metavar="COL", help="column of sample weights")
    rep.add_argument("--labels", nargs="+", metavar="LABEL",
                     help="labels to report, in order (read as the true column's type)")
    rep.add_argument("--target-names", nargs="+", metavar="NAME",
                     help="names printed for the labels")
    rep.add_argument("--digits", type=_non_negative_int, default=2, metavar="N",
                     help="digits after the decimal point (default 2)")
    rep.add_argument("--zero-division", choices=list(_ZERO_DIVISION), default="warn",
                     help="value for 0/0 metrics; 'warn' means 0 with a warning (default)")
    rep.add_argument("--format", choices=["text", "json", "csv", "markdown"], default="text",
                     help="text (scikit-learn's), json (its output_dict), csv or markdown")
    rep.add_argument("--ci", type=_ci_level, metavar="LEVEL",
                     help="confidence intervals at this level, e.g. 0.95 (text and json)")
    rep.add_argument("--ci-method", choices=["bootstrap", "bca", "wilson", "clopper-pearson"],
                     default="bootstrap", help="interval method (default bootstrap)")
    rep.add_argument("--n-resamples", type=_positive_int, default=1000, metavar="N",
                     help="bootstrap resamples (default 1000); with --weight, streamed Poisson "
                          "bootstrap replicates kept while the file is read")
    rep.add_argument("--seed", type=int, default=None, metavar="N",
                     help="seed of the bootstrap (default: fresh entropy)")
    rep.add_argument("--score", nargs="+", metavar="COL",
                     help="score column(s): one column of the positive class's score "
                          "(binary), or one per class in class order (a .npz may name one "
                          "(N, C) array); adds each class's AUROC and average precision")
    rep.add_argument("--pos-label", metavar="LABEL",
                     help="the class a single --score column scores (default: the greater "
                          "of the two labels, as scikit-learn's roc_auc_score takes it)")
    rep.add_argument("--score-bits", type=_positive_int, default=None, metavar="N",
                     help="bins per binade of float scores are 2**N (default 10): a larger N "
                          "narrows the certified bounds and takes more memory")
    rep.add_argument("--score-resolution", choices=["fixed", "adaptive"], default=None,
                     help="how float scores are kept: fixed bins (default; --score-bits) or "
                          "adaptive intervals placed where the classes overlap (narrower "
                          "bounds, slower updates; ScoreCurves(resolution='adaptive'))")
    rep.add_argument("--score-intervals", type=_int, default=None, metavar="N",
                     help="with --score-resolution adaptive: intervals per class, "
                          "64..67108864 (default 98303)")
    rep.add_argument("--plot", metavar="PNG",
                     help="also write a confusion-matrix heatmap (with --score, beside the "
                          "ROC and precision-recall curves)")
    rep.add_argument("--normalize", choices=["true", "pred", "all"],
                     help="normalise the heatmap over true rows, predicted columns or all")
    rep.add_argument("--chunksize", type=_positive_int, default=250_000, metavar="N",
                     help="rows per chunk (default 250000; about that many for CSV)")
    rep.add_argument("--no-progress", action="store_true",
                     help="no progress bar (it is only shown when stderr is a terminal)")
    _add_grouped_arguments(rep)

    demo = sub.add_parser("demo", help="train a toy model and plot per-class recall by epoch",
                          description="A demonstration: a per-epoch report on a stream.")
    demo.add_argument("--epochs", type=_positive_int, default=10, metavar="N")
    demo.add_argument("--samples", type=_positive_int, default=1_000_000, metavar="N",
                      help="samples per epoch (default 1000000)")
    demo.add_argument("--seed", type=int, default=None, metavar="N")
    demo.add_argument("--plot", default="recall.png", metavar="PATH",
                      help="where to write the recall plot (default recall.png)")
    demo.add_argument("--no-plot", action="store_true", help="write no plot")
    return parser


def _add_grouped_arguments(rep: argparse.ArgumentParser) -> None:
    from ._grouped_cli import add_arguments
    from ._multilabel_cli import add_arguments as add_multilabel_arguments
    add_multilabel_arguments(rep)
    add_arguments(rep)


def _positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _ci_level(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not 0.0 < v < 1.0:
        raise argparse.ArgumentTypeError(f"must be a level in (0, 1), e.g. 0.95, got {text!r}")
    return v


def _non_negative_int(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _int(text: str) -> int:
    try:
        return int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


# --------------------------------------------------------------------------------------------
# entry point

def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from confstream import demo
        return demo.main(args)
    try:
        return _report(args)
    except InputError as e:
        return _fail(str(e))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:                                 # `confstream report ... | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _report(args: argparse.Namespace) -> int:
    import confstream

    _check_score_options(args)
    if args.pred is None and not (_grouped(args) or args.multilabel):
        from ._curves_cli import run as run_curves
        return run_curves(args)
    if args.pred is None and not _grouped(args):
        raise InputError("--multilabel reports need --pred COL")
    if _grouped(args):
        if args.pred is None and not args.score:
            raise InputError("give --pred COL (the classification report) or --score COL "
                             "(AUROC and average precision), or both")
        from ._grouped_cli import run
        return run(args)
    if args.multilabel:
        from ._multilabel_cli import run as run_multilabel
        return run_multilabel(args)
    if args.threshold is not None:
        raise InputError("--threshold applies to --multilabel scores")

    if args.normalize and not args.plot:
        raise InputError("--normalize applies to the heatmap: give --plot PNG too")
    if args.plot:
        _need_matplotlib()                                  # fail before reading a big file
    if args.ci is not None and args.format not in ("text", "json"):
        raise InputError("--ci works with --format text or json")
    if args.score is None and (args.pos_label is not None or args.score_bits is not None):
        raise InputError("--pos-label / --score-bits describe the --score column(s): give "
                         "--score COL too")
    names = {"y_true": args.true, "y_pred": args.pred}
    if args.weight is not None:
        names["sample_weight"] = args.weight
    scores = None if args.score is None else _Scores(args, names)

    streamed = args.ci is not None and args.weight is not None and args.ci_method == "bootstrap"
    if streamed and args.seed is not None and args.seed < 0:
        raise InputError(f"--seed must be >= 0 with --weight and --ci, got {args.seed}")
    # weighted rows: the streamed Poisson bootstrap (--n-resamples replicates, kept while reading)
    acc = (confstream.ConfusionMatrix(bootstrap=args.n_resamples, seed=args.seed or 0)
           if streamed else confstream.ConfusionMatrix())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = 0
        columns = list(names.values()) + (scores.columns if scores is not None else [])
        with open_table(args.file, columns, args.chunksize) as reader, \
                _progress(reader, args) as bar:
            for chunk in reader:
                _update(acc, chunk, names)
                if scores is not None:
                    scores.update(chunk, reader.kinds)
                rows += len(chunk)
                bar(reader.done())
        if rows == 0:
            raise InputError(f"{args.file!r} has no rows")
        labels = _parse_labels(args.labels, reader.kinds, names) if args.labels else None
        try:
            ci = {} if args.ci is None else {"ci": args.ci, "ci_method": args.ci_method,
                                              "n_resamples": args.n_resamples,
                                              "seed": args.seed}
            report = acc.report(labels=labels, target_names=args.target_names,
                                digits=args.digits,
                                zero_division=_ZERO_DIVISION[args.zero_division], **ci)
        except (ValueError, TypeError) as e:
            raise InputError(_one_line(e)) from None
        curves = None
        if scores is not None:
            curves = scores.result()
            try:
                report = report.with_curves(curves)
            except ValueError as e:
                raise InputError(f"--score: {_one_line(e)}") from None
        out = _render(report, args.format)
        if args.plot:
            plot_labels = labels if labels is not None else list(report.labels)
            plot_names = _axis_names(plot_labels, args.target_names)
            cm = _counts_for(acc, plot_labels)
            try:
                more = {} if curves is None else {"curves": (curves, report)}
                plot_confusion(cm, plot_names, args.plot, normalize=args.normalize,
                               title=os.path.basename(args.file), **more)
            except OSError as e:
                raise InputError(f"cannot write {args.plot!r}: {e.strerror or e}") from None
    _print_warnings(caught)
    sys.stdout.write(out)
    sys.stdout.flush()
    return 0


def curve_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``ScoreCurves`` keywords of the ``--score-*`` flags."""
    return {"bits": args.score_bits,
            "resolution": getattr(args, "score_resolution", None) or "fixed",
            "intervals": getattr(args, "score_intervals", None)}


def _check_score_options(args: argparse.Namespace) -> None:
    """``--score-resolution`` / ``--score-intervals``, refused before the file is read with the
    words of ``ScoreCurves``' own refusal."""
    from confstream import ScoreCurves

    if getattr(args, "score_resolution", None) is None and \
            getattr(args, "score_intervals", None) is None:
        return
    if args.score is None:
        raise InputError("--score-resolution / --score-intervals describe the --score "
                         "column(s): give --score COL too")
    try:
        ScoreCurves(**curve_options(args))
    except ValueError as e:
        flag = ("--score-intervals" if "intervals (" in str(e) else
                "--score-bits with --score-resolution adaptive")
        raise InputError(f"{flag}: {_one_line(e)}") from None


def _grouped(args: argparse.Namespace) -> bool:
    """A report per group (``--by``); ``--scheduler`` / ``--workers`` need it."""
    if getattr(args, "by", None):
        return True
    if getattr(args, "scheduler", None) or getattr(args, "workers", None):
        raise InputError("--scheduler / --workers run the parts of a grouped report: give "
                         "--by COL too")
    if os.path.isdir(args.file):
        raise InputError(f"{args.file!r} is a directory: give --by COL for a report per "
                         f"group over its parts")
    return False


def _update(acc: Any, chunk: Chunk, names: dict[str, str]) -> None:
    cols = {key: chunk.columns[col] for key, col in names.items()}
    w = cols.get("sample_weight")
    if w is not None and w.dtype.kind not in "biuf":
        k = next((i for i, v in enumerate(w.tolist()) if not _is_number(v)), 0)
        raise InputError(f"{chunk.where(k)}: weight {w[k]!r} in column "
                         f"{names['sample_weight']!r} is not a number")
    try:
        acc.update(cols["y_true"], cols["y_pred"], sample_weight=cols.get("sample_weight"))
    except (ValueError, TypeError) as e:
        raise InputError(_locate(acc, chunk, cols, names, e)) from None


class _Scores:
    """The ``--score`` column(s), streamed into score curves beside the confusion matrix.

    One 1-D column scores one class (binary): since the file's labels are known only at its
    end, truth is counted as the order the labels were first met in (``order``), and the
    curves are relabelled at the end, their two truth cells swapped when the positive class
    was met first (``ScoreCurves._relabelled``; fixed bins and adaptive intervals alike). Several
    columns (or one (N, C) array) score one class each, in the order of ``--labels`` or, for
    integer labels, of the classes 0 .. C-1."""

    def __init__(self, args: argparse.Namespace, names: dict[str, str]) -> None:
        self.columns = list(dict.fromkeys(args.score))
        self.args = args
        self.names = names
        self.order: list[Any] = []        # binary: the true labels as first met (at most 2)
        self.curves: Any = None           # binary: truth i is order[i]; multi-class
        self.binary: bool | None = None

    def _matrix(self, chunk: Chunk) -> np.ndarray:
        cols = [chunk.columns[c] for c in self.columns]
        for c, a in zip(self.columns, cols):
            if a.dtype.kind not in "biuf":
                raise InputError(f"--score column {c!r} holds {a.dtype.name} values, not "
                                 f"numbers")
        if len(cols) == 1:
            return cols[0]
        if any(a.ndim != 1 for a in cols):
            raise InputError("--score: give one (N, C) array or several 1-D columns")
        return np.column_stack(cols)

    def update(self, chunk: Chunk, kinds: dict[str, str]) -> None:
        from confstream import ScoreCurves

        s = self._matrix(chunk)
        y = chunk.columns[self.names["y_true"]]
        w = chunk.columns.get(self.names.get("sample_weight", ""), None)
        if self.binary is None:
            self.binary = s.ndim == 1 or s.shape[1] == 1
            if not self.binary:
                c = s.shape[1]
                if self.args.labels:
                    labels = _parse_labels(self.args.labels, kinds, self.names)
                    if len(labels) != c:
                        raise InputError(f"--score has {c} columns but --labels names "
                                         f"{len(labels)} classes (one per column, in order)")
                    self.curves = ScoreCurves(labels=labels, **curve_options(self.args))
                elif kinds.get(self.names["y_true"]) == "int":
                    self.curves = ScoreCurves(num_classes=c, **curve_options(self.args))
                else:
                    raise InputError(f"--score has {c} columns: give --labels, the classes "
                                     f"of the columns in order (column "
                                     f"{self.names['y_true']!r} does not hold integers "
                                     f"0..{c - 1})")
            else:
                self.curves = ScoreCurves(**curve_options(self.args))
        if s.ndim == 2 and s.shape[1] == 1:
            s = s[:, 0]
        if self.binary != (s.ndim == 1):
            raise InputError("--score changed shape between chunks")
        try:
            if not self.binary:
                self.curves.update(y, s, sample_weight=w)
                return
            values = np.unique(y) if len(y) else []
            order = list(self.order)
            for v in (values.tolist() if len(y) else []):
                if v not in order:
                    if len(order) == 2:
                        k = int(np.nonzero(y == v)[0][0])
                        raise InputError(
                            f"{chunk.where(k)}: a third class {v!r} in column "
                            f"{self.names['y_true']!r}: one --score column scores binary "
                            f"data; give one score column per class for more")
                    order.append(v)
            t = np.zeros(len(y), np.int64)
            if len(order) == 2:
                t[y == order[1]] = 1
            self.curves.update(t, s, sample_weight=w)
            self.order = order
        except ValueError as e:
            raise InputError(self._locate(chunk, e, y, s)) from None

    def _locate(self, chunk: Chunk, error: Exception, y: np.ndarray, s: np.ndarray) -> str:
        """The curves' message with the file's row and column names."""
        text = _one_line(error)
        if self.binary:  # the parts see the rows of one class: find the bad row in the file
            bad = ~np.isfinite(np.asarray(s, dtype=np.float64))
            if bad.any():
                k = int(np.nonzero(bad)[0][0])
                return (f"{chunk.where(k)}: score {s[k]!r} in column {self.columns[0]!r} is "
                        f"not finite")
            w = chunk.columns.get(self.names.get("sample_weight", ""), None)
            if w is not None and "sample_weight" in text:
                wf = np.asarray(w, dtype=np.float64)
                bad = ~(np.isfinite(wf) & (wf >= 0))
                if bad.any():
                    k = int(np.nonzero(bad)[0][0])
                    return (f"{chunk.where(k)}: weight {w[k]!r} in column "
                            f"{self.names['sample_weight']!r} must be finite and "
                            f"non-negative")
            return text
        m = re.search(r"\b(y_true|y_score|sample_weight)\[(\d+)(?:, (\d+))?\]", text)
        if m is None:
            return text
        k = int(m.group(2))
        if m.group(1) == "y_score":
            j = int(m.group(3) or 0)
            col = self.columns[j] if len(self.columns) > 1 else self.columns[0]
            what = f"column {col!r}" + ("" if len(self.columns) > 1 else f"[{j}]")
        else:
            what = f"column {self.names[m.group(1)]!r}"
        hint = ""
        if m.group(1) == "y_true" and not self.args.labels:
            hint = "; give --labels, the classes of the score columns in order"
        return f"{chunk.where(k)}: {text[:m.start()]}{what}{text[m.end():]}{hint}"

    def result(self) -> Any:
        if not self.binary:
            return self.curves
        seen = list(self.order)
        fixed = getattr(self, "pos", None)      # --labels NEG POS: POS, seen or not
        if fixed is not None and len(seen) == 2 and any(_key(fixed) == _key(v) for v in seen):
            pos = next(v for v in seen if _key(v) == _key(fixed))
        elif self.args.pos_label is not None:
            pos = _parse_labels([self.args.pos_label], {self.names["y_true"]: _kind(seen)},
                                self.names)[0]
            if not any(_key(pos) == _key(v) for v in seen):
                raise InputError(f"--pos-label {self.args.pos_label!r} is not a label of "
                                 f"column {self.names['y_true']!r} ({seen[:4]!r})")
            pos = next(v for v in seen if _key(v) == _key(pos))
        elif len(seen) == 2:
            try:
                pos = sorted(seen)[1]
            except TypeError:
                raise InputError("--score: the labels cannot be ordered to find the positive "
                                 "class; give --pos-label") from None
        else:
            pos = None
        if len(seen) != 2:
            raise InputError(f"--score: AUROC and AP need both classes in column "
                             f"{self.names['y_true']!r}; it holds {len(seen)}: {seen!r}")
        i = next(i for i, v in enumerate(seen) if _key(v) == _key(pos))
        return self.curves._relabelled([seen[1 - i], pos], swap=i == 0)


def _kind(values: list) -> str:
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, int) for v in values):
        return "int"
    if all(isinstance(v, (int, float)) for v in values):
        return "float"
    return "str"


def _is_number(v: Any) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def _locate(acc: Any, chunk: Chunk, cols: dict[str, np.ndarray], names: dict[str, str],
            error: Exception) -> str:
    """The core's message with the file's row number in place of the position in the chunk."""
    message = _columns_named(_one_line(error), names)
    if isinstance(error, BatchValueError):
        return f"{chunk.where(error.sample)}: {message}"
    # No position in the message (a label of another type than the earlier ones, say):
    # find the first row whose prefix the accumulator refuses. State is all-or-nothing, so
    # trying on copies leaves ``acc`` untouched.
    n = len(chunk)
    failures: dict[int, str] = {}

    def ok(k: int) -> bool:
        try:
            acc.copy().update(*(c[:k] for c in (cols["y_true"], cols["y_pred"])),
                              sample_weight=None if "sample_weight" not in cols
                              else cols["sample_weight"][:k])
            return True
        except (ValueError, TypeError) as e:
            failures[k] = _columns_named(_one_line(e), names)
            return False

    if n == 0 or ok(n):
        return message
    k = first_bad_row(n, ok)
    return f"{chunk.where(k)}: {failures.get(k + 1, message)}"


def _columns_named(message: str, names: dict[str, str]) -> str:
    """The core's argument names (``y_pred[17]``, ``sample_weight``) as the file's columns."""
    return re.sub(r"\b(y_true|y_pred|sample_weight)\b(\[\d+(, \d+)*\])?",
                  lambda g: f"column {names[g.group(1)]!r}" if g.group(1) in names
                  else g.group(0), message)


def _one_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    if isinstance(error, KeyError) and text.startswith(("'", '"')):
        text = text[1:-1]
    return " ".join(text.split())


def _parse_labels(texts: list[str], kinds: dict[str, str], names: dict[str, str]) -> list:
    """``--labels`` values as the true column's label type."""
    col = names["y_true"]
    kind = kinds.get(col, "str")
    out: list = []
    for text in texts:
        try:
            if kind == "int":
                out.append(int(text))
            elif kind == "float":
                out.append(float(text))
            elif kind == "bool":
                out.append({"true": True, "false": False}[text.strip().lower()])
            else:
                out.append(text)
        except (ValueError, KeyError):
            word = {"int": "an integer", "float": "a number", "bool": "True or False"}[kind]
            raise InputError(f"--labels: {text!r} is not {word}, like the labels in column "
                             f"{col!r}") from None
    return out


def _print_warnings(caught: list[warnings.WarningMessage]) -> None:
    seen = set()
    for w in caught:
        if not issubclass(w.category, UserWarning):     # library internals: not the user's
            continue
        text = _one_line(w.message) if isinstance(w.message, Warning) else str(w.message)
        if text not in seen:
            seen.add(text)
            print(f"{PROG}: warning: {text}", file=sys.stderr)


# --------------------------------------------------------------------------------------------
# progress

class _NoBar:
    def __enter__(self) -> "_NoBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def __call__(self, done: int) -> None:
        pass


class _Bar(_NoBar):
    def __init__(self, bar: Any) -> None:
        self.bar = bar

    def __exit__(self, *exc: Any) -> None:
        self.bar.close()

    def __call__(self, done: int) -> None:
        if done > self.bar.n:
            self.bar.update(done - self.bar.n)


def _progress(reader: TableReader, args: argparse.Namespace) -> _NoBar:
    """A tqdm bar on stderr, only when stderr is a terminal (and tqdm is installed)."""
    if args.no_progress or not _isatty(sys.stderr):
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    # delay: short files finish before the bar would appear.
    return _Bar(tqdm(total=reader.total, unit=reader.unit, unit_scale=True, unit_divisor=1000,
                     desc=os.path.basename(args.file), file=sys.stderr, delay=0.5,
                     leave=False, dynamic_ncols=True))


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


# --------------------------------------------------------------------------------------------
# output formats

_COLUMNS = ["precision", "recall", "f1-score", "support"]


def _render(report: Any, fmt: str) -> str:
    if fmt == "text":
        return str(report)
    d = report.to_dict()
    if fmt == "json":
        return json.dumps(d, indent=2, default=_json_scalar) + "\n"
    total = _total_support(d)
    curves = report.curves or {}
    extra = ([] if not curves else ["auroc", "ap"] if fmt == "markdown" else
             ["auroc", "auroc_lo", "auroc_hi", "ap", "ap_lo", "ap_hi"])
    rows = []
    for name, row in d.items():
        if isinstance(row, dict):
            values = [row[c] for c in _COLUMNS]
        else:                                  # "accuracy": a bare float, as in sklearn
            values = [None, None, row, total]
        got = curves.get(name)
        for c in extra:
            if got is None:
                values.append(None)
            elif c.endswith(("_lo", "_hi")):
                values.append(got[c[:-3] + " bounds"][0 if c.endswith("_lo") else 1])
            else:
                values.append(got[c])
        rows.append((name, values))
    columns = _COLUMNS + extra
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["class"] + columns)
        for name, values in rows:
            w.writerow([name] + [_csv_value(v, c) for v, c in zip(values, columns)])
        return buf.getvalue()
    digits = report.digits
    lines = ["| class | " + " | ".join(columns) + " |",
             "|:--|" + "--:|" * len(columns)]
    for name, values in rows:
        cells = [_md_value(v, c, digits) for v, c in zip(values, columns)]
        lines.append(f"| {_md_escape(name)} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    if curves and not report.curves_exact:
        widest = max((hi - lo for v in curves.values() for m in ("auroc", "ap")
                      for lo, hi in [v[m + " bounds"]] if not math.isnan(hi - lo)),
                     default=0.0)
        text += (f"\nauroc, ap: certified from binned scores; scikit-learn's values are at "
                 f"most {widest:.1e} away (--format csv or json give the bounds)\n")
    return text


def _json_scalar(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"{type(v).__name__} is not JSON serializable")


def _total_support(d: dict) -> Any:
    for key in ("weighted avg", "macro avg"):
        if isinstance(d.get(key), dict):
            return d[key]["support"]
    return None


def _support_text(v: Any) -> str:
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    return str(int(v)) if v.is_integer() else repr(v)


def _csv_value(v: Any, column: str) -> str:
    if v is None:
        return ""
    if column == "support":
        return _support_text(v)
    return repr(float(v))


def _md_value(v: Any, column: str, digits: int) -> str:
    if v is None:
        return ""
    if column == "support":
        return _support_text(v)
    return f"{float(v):.{digits}f}"


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|")


# --------------------------------------------------------------------------------------------
# heatmap

def _need_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InputError("--plot needs matplotlib: pip install 'confstream[plot]'") from None


def _axis_names(labels: list, target_names: list[str] | None) -> list[str]:
    if target_names is not None and len(target_names) == len(labels):
        return list(target_names)
    return ["%s" % (lab,) for lab in labels]


def _counts_for(acc: Any, labels: list) -> np.ndarray:
    """``acc.counts`` with rows and columns in the order of ``labels`` (zeros for unseen ones),
    like ``sklearn.metrics.confusion_matrix(..., labels=labels)``."""
    counts = np.asarray(acc.counts)
    index = {_key(lab): i for i, lab in enumerate(acc.labels)}
    pos = np.array([index.get(_key(lab), -1) for lab in labels], dtype=np.int64)
    out = np.zeros((len(labels), len(labels)), dtype=counts.dtype)
    have = pos >= 0
    out[np.ix_(have, have)] = counts[np.ix_(pos[have], pos[have])]
    return out


def _key(label: Any) -> Any:
    if isinstance(label, np.generic):
        label = label.item()
    if isinstance(label, float) and label.is_integer():
        return int(label)
    return label


def normalized(cm: np.ndarray, normalize: str | None) -> np.ndarray:
    """``cm`` normalised as ``sklearn.metrics.confusion_matrix(..., normalize=...)`` does:
    over true rows, predicted columns or the whole matrix; 0/0 gives 0."""
    if normalize is None:
        return cm
    cm = np.asarray(cm, dtype=np.float64)
    with np.errstate(all="ignore"):
        if normalize == "true":
            out = cm / cm.sum(axis=1, keepdims=True)
        elif normalize == "pred":
            out = cm / cm.sum(axis=0, keepdims=True)
        elif normalize == "all":
            out = cm / cm.sum()
        else:
            raise ValueError(f"normalize must be 'true', 'pred', 'all' or None, got {normalize!r}")
    return np.nan_to_num(out)


def plot_confusion(cm: np.ndarray, names: Sequence[str], path: str, *,
                   normalize: str | None = None, title: str | None = None,
                   curves: Any = None) -> None:
    """Write a heatmap of the confusion matrix ``cm`` (rows true, columns predicted) to ``path``.

    Readable from 2 to about 50 classes: the figure grows with the class count, cells carry
    their values up to 20 classes, and tick labels shrink and turn as classes multiply.
    ``curves``: ``(score_curves, report)``; the ROC and precision-recall curves of each class
    that has them are drawn beside the heatmap (see ``plot_curves``).
    """
    from matplotlib.figure import Figure               # no pyplot: no global state, no GUI

    values = normalized(cm, normalize)
    c = len(names)
    side = min(max(4.5, 0.32 * c + 2.5), 22.0)
    extra = 0.0 if curves is None else 2 * max(4.5, min(side, 7.0))
    fig = Figure(figsize=(side + 1.2 + extra, side), layout="constrained")
    if curves is None:
        ax = fig.add_subplot()
    else:
        grid = fig.add_gridspec(1, 3, width_ratios=[side + 1.2, extra / 2, extra / 2])
        ax = fig.add_subplot(grid[0, 0])
        plot_curves(curves[0], curves[1], fig.add_subplot(grid[0, 1]),
                    fig.add_subplot(grid[0, 2]))
    im = ax.imshow(values, cmap="Blues", interpolation="nearest",
                   vmin=0.0, vmax=1.0 if normalize else None)
    fig.colorbar(im, ax=ax, shrink=0.8, label="fraction" if normalize else "count")
    tick_size = 10 if c <= 12 else 8 if c <= 25 else 7
    longest = max((len(str(n)) for n in names), default=0)
    rotation = 90 if c > 25 else 45 if c > 6 or longest > 6 else 0
    ax.set_xticks(range(c), labels=[str(n) for n in names], fontsize=tick_size,
                  rotation=rotation, ha="right" if rotation else "center",
                  va="center" if rotation == 90 else "top", rotation_mode="anchor")
    ax.set_yticks(range(c), labels=[str(n) for n in names], fontsize=tick_size)
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    title_text = "Confusion matrix" + (f" (normalised over {normalize})" if normalize else "")
    ax.set_title(f"{title_text}\n{title}" if title else title_text)
    if c <= 20:
        top = float(np.max(values)) if values.size else 0.0
        size = 9 if c <= 10 else 7
        for i in range(c):
            for j in range(c):
                v = values[i, j]
                text = _cell_text(v, normalize)
                ax.text(j, i, text, ha="center", va="center", fontsize=size,
                        color="white" if top > 0 and v > 0.6 * top else "black")
    fig.savefig(path, dpi=100)


def plot_curves(curves: Any, report: Any, roc_ax: Any, pr_ax: Any, *,
                max_classes: int = 20) -> None:
    """Draw each class's ROC curve on ``roc_ax`` and precision-recall curve on ``pr_ax``
    (from ``curves``, a ``ScoreCurves``; labelled with the report's row names and the
    class's AUROC / AP). Binary curves: the positive class. At most ``max_classes`` classes
    are drawn (the first ones), and the legend says so."""
    import warnings as _w

    labels = [curves.labels[1]] if getattr(curves, "_binary", False) else list(curves.labels)
    per = report.curves or {}
    rows = {}
    for label, row in zip(report.labels.tolist(), report.target_names):
        rows.setdefault(_key(label), row)
    drawn = 0
    for label in labels:
        if drawn == max_classes:
            break
        of = None if getattr(curves, "_binary", False) else label
        with _w.catch_warnings():
            _w.simplefilter("ignore")      # a class without positives: nothing to draw
            fpr, tpr, _ = curves.roc_curve(of_class=of)
            prec, rec, _ = curves.precision_recall_curve(of_class=of)
        if np.isnan(fpr).any() or np.isnan(tpr).any():
            continue
        name = rows.get(_key(label), "%s" % (label,))
        vals = per.get(name, {})
        auroc, ap = vals.get("auroc", float("nan")), vals.get("ap", float("nan"))
        roc_ax.plot(fpr, tpr, label=f"{name} (AUROC {auroc:.3f})", lw=1.4)
        pr_ax.step(rec, prec, where="post", label=f"{name} (AP {ap:.3f})", lw=1.4)
        drawn += 1
    roc_ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=1)
    for ax, (xl, yl, what) in ((roc_ax, ("False positive rate", "True positive rate", "ROC")),
                               (pr_ax, ("Recall", "Precision", "Precision-recall"))):
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.01)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        shown = "" if drawn == len(labels) else f" ({drawn} of {len(labels)} classes)"
        ax.set_title(what + shown + ("" if curves.exact else "\n(binned scores: certified)"))
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(fontsize=8, loc="lower right" if ax is roc_ax else "lower left")


def _cell_text(v: float, normalize: str | None) -> str:
    if normalize:
        return f"{v:.2f}"
    if float(v).is_integer():
        return str(int(v))
    return f"{v:.4g}" if not math.isnan(v) else "nan"


if __name__ == "__main__":
    sys.exit(main())
