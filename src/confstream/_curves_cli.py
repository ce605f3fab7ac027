"""``confstream report FILE --true COL --score COL`` without ``--pred``: the curves report.

Scores alone give each class's AUROC and average precision (and, for several classes, their
macro and weighted averages), not a classification report: precision, recall and F1 need hard
predictions, and the threshold (or argmax rule) that makes them is a modelling choice the file
does not record. scikit-learn's ``classification_report`` refuses continuous ``y_pred`` for
the same reason; so this report shows what the scores define and nothing invented. A
classification report of thresholded scores is asked for explicitly: ``--threshold T`` with
``--labels NEG POS`` (one score column: ``score > T`` predicts POS, as
``ConfusionMatrix(threshold=T)`` counts binary scores), or a ``--pred`` column.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
import warnings
from typing import Any

import numpy as np

from ._files import InputError, open_table

__all__ = ["CurvesReport", "run", "render"]

_METRICS = ("auroc", "ap")


class CurvesReport:
    """Each class's AUROC / AP with bounds, as ``Report.curves`` gives them, without the
    classification report. ``labels`` / ``target_names`` are the rows' labels and names."""

    def __init__(self, curves: Any, target_names: list[str] | None = None, digits: int = 2,
                 warn: bool = True) -> None:
        from .report import curves_averages

        values = curves.per_class(warn=warn)
        binary = bool(getattr(curves, "_binary", False))
        named = list(curves.labels)
        if target_names is not None:
            if binary:   # named in sorted label order, as classification_report names them
                try:
                    named = sorted(named)
                except TypeError:
                    pass
            if len(target_names) != len(named):
                raise InputError(f"--target-names gives {len(target_names)} names for "
                                 f"{len(named)} classes")
        names = {_key(lab): (str(target_names[i]) if target_names is not None
                             else "%s" % (lab,)) for i, lab in enumerate(named)}
        self.labels = np.array(list(values), dtype=object)
        self.target_names = [names[_key(lab)] for lab in values]
        rows = {names[_key(lab)]: dict(v) for lab, v in values.items()}
        if not binary:
            rows.update(curves_averages(curves, values, warn))
        self.curves = rows
        self.curves_exact = bool(curves.exact)
        self.digits = digits

    def to_dict(self) -> dict:
        return {name: {"auroc": v["auroc"], "auroc bounds": list(v["auroc bounds"]),
                       "ap": v["ap"], "ap bounds": list(v["ap bounds"]),
                       "support": v["support"]}
                for name, v in self.curves.items()}

    def widest(self) -> float:
        spans = [hi - lo for v in self.curves.values() for m in _METRICS
                 for lo, hi in [v[m + " bounds"]] if not (math.isnan(lo) or math.isnan(hi))]
        return max(spans, default=0.0)

    def __str__(self) -> str:
        d = self.digits
        width = max([len(n) for n in self.curves] + [len("weighted avg"), d])
        head = "{:>{width}s} " + " {:>9}" * 3
        fmt = "{:>{width}s} " + " {:>9.{digits}f}" * 2 + " {:>9}\n"
        out = head.format("", "auroc", "ap", "support", width=width) + "\n\n"
        first = next((n for n in self.curves if n in ("micro avg", "macro avg")), None)
        for name, v in self.curves.items():
            if name == first:
                out += "\n"
            out += fmt.format(name, v["auroc"], v["ap"], v["support"], width=width, digits=d)
        if not self.curves_exact:
            out += (f"\nauroc, ap: certified from binned scores; scikit-learn's values lie "
                    f"within their bounds (--format json or csv), at most "
                    f"{self.widest():.1e} away\n")
        return out


def render(report: CurvesReport, fmt: str) -> str:
    from .cli import _json_scalar, _support_text

    if fmt == "text":
        return str(report)
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2, default=_json_scalar) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["class", "auroc", "auroc_lo", "auroc_hi", "ap", "ap_lo", "ap_hi",
                    "support"])
        for name, v in report.curves.items():
            w.writerow([name] + [repr(float(x)) for m in _METRICS
                                 for x in (v[m], *v[m + " bounds"])]
                       + [_support_text(v["support"])])
        return buf.getvalue()
    d = report.digits
    lines = ["| class | auroc | ap | support |", "|:--|--:|--:|--:|"]
    for name, v in report.curves.items():
        lines.append(f"| {str(name).replace('|', chr(92) + '|')} | {v['auroc']:.{d}f} | "
                     f"{v['ap']:.{d}f} | {_support_text(v['support'])} |")
    text = "\n".join(lines) + "\n"
    if not report.curves_exact:
        text += (f"\nauroc, ap: certified from binned scores; scikit-learn's values are at "
                 f"most {report.widest():.1e} away (--format csv or json give the bounds)\n")
    return text


def check_arguments(args: argparse.Namespace) -> None:
    """What a report without ``--pred`` cannot do, said before the file is read."""
    if not args.score:
        raise InputError("give --pred COL (the classification report) or --score COL "
                         "(AUROC and average precision), or both")
    one = len(dict.fromkeys(args.score)) == 1
    if getattr(args, "threshold", None) is not None:
        if not one or not args.labels or len(args.labels) != 2:
            raise InputError("--threshold T with --score alone makes a classification report "
                             "of one score column: give --labels NEG POS (score > T predicts "
                             "POS), or --pred COL")
        if getattr(args, "by", None):
            raise InputError("--threshold with --score alone does not work with --by yet; "
                             "give --pred COL")
        return
    for given, what in ((args.ci is not None, "--ci"),
                        (args.normalize is not None, "--normalize"),
                        (args.zero_division != "warn", "--zero-division")):
        if given:
            raise InputError(f"{what} applies to the classification report of predicted "
                             f"labels: give --pred COL too (with --score alone the report "
                             f"is AUROC and average precision)")
    if args.labels and one:
        raise InputError("--labels names the classes of several --score columns; one "
                         "column scores the positive class: give --pos-label LABEL (or "
                         "--labels NEG POS with --threshold T for a classification report)")


def check_weights(chunk: Any, names: dict) -> None:
    """A weight column must hold numbers (the curves say which are negative or not finite)."""
    from .cli import _is_number

    col = names.get("sample_weight")
    if col is None:
        return
    w = chunk.columns[col]
    if w.dtype.kind not in "biuf":
        k = next((i for i, v in enumerate(w.tolist()) if not _is_number(v)), 0)
        raise InputError(f"{chunk.where(k)}: weight {w[k]!r} in column {col!r} is not a "
                         f"number")


def run(args: argparse.Namespace) -> int:
    from . import cli

    check_arguments(args)
    if args.threshold is not None:
        return _thresholded(args)
    if args.plot:
        cli._need_matplotlib()                          # fail before reading a big file
    names = {"y_true": args.true}
    if args.weight is not None:
        names["sample_weight"] = args.weight
    scores = cli._Scores(args, names)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = 0
        columns = list(names.values()) + scores.columns
        with open_table(args.file, columns, args.chunksize) as reader, \
                cli._progress(reader, args) as bar:
            for chunk in reader:
                check_weights(chunk, names)
                scores.update(chunk, reader.kinds)
                rows += len(chunk)
                bar(reader.done())
        if rows == 0:
            raise InputError(f"{args.file!r} has no rows")
        curves = scores.result()
        try:
            report = CurvesReport(curves, args.target_names, args.digits)
        except ValueError as e:
            raise InputError(f"--score: {cli._one_line(e)}") from None
        out = render(report, args.format)
        if args.plot:
            _plot_to(args, lambda: plot(curves, report, args.plot,
                                        title=os.path.basename(args.file)))
    return _finish(out, caught)


def _thresholded(args: argparse.Namespace) -> int:
    """``--score COL --threshold T --labels NEG POS``: the classification report of
    ``score > T`` (POS) against the true column, with the column's AUROC / AP."""
    import confstream
    from . import cli

    try:
        threshold = float(args.threshold)
    except ValueError:
        threshold = math.nan
    if not math.isfinite(threshold):
        raise InputError(f"--threshold {args.threshold!r}: give one finite number")
    if args.normalize and not args.plot:
        raise InputError("--normalize applies to the heatmap: give --plot PNG too")
    if args.plot:
        cli._need_matplotlib()
    if args.ci is not None and args.format not in ("text", "json"):
        raise InputError("--ci works with --format text or json")
    # weighted rows: the streamed Poisson bootstrap, as the --pred report keeps it
    streamed = args.ci is not None and args.weight is not None and args.ci_method == "bootstrap"
    if streamed and args.seed is not None and args.seed < 0:
        raise InputError(f"--seed must be >= 0 with --weight and --ci, got {args.seed}")
    boot = {"bootstrap": args.n_resamples, "seed": args.seed or 0} if streamed else {}
    col = args.score[0]
    names = {"y_true": args.true, "y_pred": col}
    if args.weight is not None:
        names["sample_weight"] = args.weight
    scores = cli._Scores(args, {k: v for k, v in names.items() if k != "y_pred"})
    acc = labels = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = 0
        with open_table(args.file, list(dict.fromkeys(names.values())), args.chunksize) \
                as reader, cli._progress(reader, args) as bar:
            for chunk in reader:
                if acc is None:             # the labels' type is the true column's
                    labels = cli._parse_labels(args.labels, reader.kinds, names)
                    if labels[0] == labels[1]:
                        raise InputError("--labels NEG POS: give two different labels")
                    acc = confstream.ConfusionMatrix(labels=labels, threshold=threshold, **boot)
                    scores.pos = labels[1] if args.pos_label is None else None
                check_weights(chunk, names)
                cli._update(acc, chunk, names)          # names a bad label's or score's row
                scores.update(chunk, reader.kinds)
                rows += len(chunk)
                bar(reader.done())
        if rows == 0:
            raise InputError(f"{args.file!r} has no rows")
        try:
            ci = {} if args.ci is None else {"ci": args.ci, "ci_method": args.ci_method,
                                              "n_resamples": args.n_resamples,
                                              "seed": args.seed}
            report = acc.report(target_names=args.target_names, digits=args.digits,
                                zero_division=cli._ZERO_DIVISION[args.zero_division], **ci)
        except (ValueError, TypeError) as e:
            raise InputError(cli._one_line(e)) from None
        curves = scores.result()
        try:
            report = report.with_curves(curves)
        except ValueError as e:
            raise InputError(f"--score: {cli._one_line(e)}") from None
        out = cli._render(report, args.format)
        if args.plot:
            plot_labels = list(report.labels)
            cm = cli._counts_for(acc, plot_labels)
            _plot_to(args, lambda: cli.plot_confusion(
                cm, cli._axis_names(plot_labels, args.target_names), args.plot,
                normalize=args.normalize, title=os.path.basename(args.file),
                curves=(curves, report)))
    return _finish(out, caught)


def _plot_to(args, draw):
    """Draw the --plot file; a file that cannot be written is the user's input error."""
    try:
        draw()
    except OSError as e:
        raise InputError(f"cannot write {args.plot!r}: {e.strerror or e}") from None


def _finish(out, caught):
    """The warnings caught on the way, then the report."""
    from . import cli  # the command imports this module

    cli._print_warnings(caught)
    sys.stdout.write(out)
    sys.stdout.flush()
    return 0


def plot(curves: Any, report: Any, path: str, *, title: str | None = None) -> None:
    """ROC and precision-recall curves side by side, written to ``path``."""
    from matplotlib.figure import Figure

    from .cli import plot_curves

    fig = Figure(figsize=(11.0, 5.2), layout="constrained")
    roc_ax, pr_ax = fig.subplots(1, 2)
    plot_curves(curves, report, roc_ax, pr_ax)
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=100)


def _key(label: Any) -> Any:
    from .cli import _key as key
    return key(label)
