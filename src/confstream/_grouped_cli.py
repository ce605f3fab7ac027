"""``confstream report PATH --by COL[,COL]``: a report per group, and the gaps between groups.

PATH is a file, a directory of parts (hive folders ``key=value/`` become columns) or a glob.
Without a scheduler the parts are read one after another, chunk by chunk, into one
``GroupedConfusionMatrix`` (constant memory, and weighted sums in input order, so each group's
report is byte-identical to scikit-learn's on that group's rows). With ``--scheduler ADDRESS``
(an existing Dask cluster) or ``--workers N`` (a local one) the parts are counted on the
workers, in batches of consecutive parts, and the accumulators are tree-reduced.
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
from typing import Any

import numpy as np

from ._files import InputError, Part, list_parts, open_table

__all__ = ["add_arguments", "run"]


def add_arguments(rep: argparse.ArgumentParser) -> None:
    rep.add_argument("--by", metavar="COL[,COL]",
                     help="report per group of these columns (crossed when several); FILE "
                          "may then be a directory of parts (hive folders key=value/ are "
                          "columns) or a glob")
    rep.add_argument("--scheduler", metavar="ADDRESS",
                     help="with --by: count the parts on this Dask cluster")
    rep.add_argument("--workers", type=int, metavar="N",
                     help="with --by: count the parts on a local Dask cluster of N processes")


def run(args: argparse.Namespace) -> int:
    """The grouped report; InputError for anything wrong with the input."""
    from . import cli

    by = [c.strip() for c in args.by.split(",")]
    if not all(by):
        raise InputError(f"--by {args.by!r}: give column names separated by commas")
    if args.plot or args.normalize:
        raise InputError("--plot applies to the plain report, not with --by")
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}")
    if args.scheduler and args.workers:
        raise InputError("give --scheduler or --workers, not both")
    ml = None
    if getattr(args, "multilabel", False):
        from ._multilabel_cli import Columns
        if args.pred is None:
            raise InputError("--multilabel reports need --pred COL")
        ml = Columns(args.true, args.pred, args.threshold)
    elif getattr(args, "threshold", None) is not None:
        raise InputError("--threshold applies to --multilabel scores")
    if args.score is not None:
        if ml is not None and args.pos_label is not None:
            raise InputError("--pos-label applies to one score column of binary data; with "
                             "--multilabel each --score column scores its label")
        if args.pred is None:
            from ._curves_cli import check_arguments
            check_arguments(args)
        from ._grouped_curves import score_arguments
        score_args = score_arguments(args)
    else:
        if args.pos_label is not None or args.score_bits is not None:
            raise InputError("--pos-label / --score-bits describe the --score column(s): give "
                             "--score COL too")
        score_args = None
    parts = list_parts(args.file)
    spec = _Spec(args.true, args.pred, args.weight, by, args.chunksize, multilabel=ml,
                 scores=score_args)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if args.scheduler or args.workers:
            acc = _on_dask(parts, spec, args)
        else:
            acc = None
            with _bar(len(parts), args) as bar:
                for i, part in enumerate(parts):
                    acc = _count_part(part, spec, acc)
                    bar(i + 1)
        scores = None
        if spec.scores is not None and acc is not None:
            acc, scores = acc.acc, acc.scores
            if scores.overall.binary is None:
                raise InputError(f"{args.file!r} has no rows")
        if spec.pred is None:
            return _scores_only(args, scores, by, caught)
        if acc is None or not acc.groups or acc.sample_counts.sum() == 0:
            raise InputError(f"{args.file!r} has no rows")
        labels = target_names = None
        if ml is not None:
            labels, target_names = ml.labels(args.labels), ml.label_names(args.target_names)
        else:
            target_names = args.target_names
            if args.labels:
                kinds = {args.true: _kind_of_labels(acc)}
                labels = cli._parse_labels(args.labels, kinds, {"y_true": args.true})
        zd = cli._ZERO_DIVISION[args.zero_division]
        try:
            reports = acc.report(labels=labels, target_names=target_names,
                                 digits=args.digits, zero_division=zd)
            gaps = acc.gaps(zero_division=0 if zd == "warn" else zd)
        except (ValueError, TypeError) as e:
            raise InputError(cli._one_line(e)) from None
        total = None
        if scores is not None:
            from ._grouped_curves import attach
            reports, total, gaps = attach(reports, gaps, scores, target_names, args.digits)
        if ml is not None:                       # the labels' gap rows named as the reports'
            from ._multilabel_cli import class_names
            gaps = class_names(gaps, target_names)
        out = _render(reports, gaps, by, args.format, args.digits, total)
    cli._print_warnings(caught)
    sys.stdout.write(out)
    sys.stdout.flush()
    return 0


def _scores_only(args: argparse.Namespace, scores: Any, by: list, caught: list) -> int:
    """``--by --score`` without ``--pred``: each group's AUROC / AP, the overall ones, gaps."""
    from . import cli
    from ._curves_cli import CurvesReport
    from ._grouped_curves import attach

    if scores is None:
        raise InputError(f"{args.file!r} has no rows")
    overall, by_group = scores.results()
    reports = {}
    from .grouped import _sort_key
    order = sorted(by_group, key=_sort_key)   # as GroupedConfusionMatrix orders its groups
    for g in order:
        try:
            reports[g] = CurvesReport(by_group[g], args.target_names, args.digits)
        except ValueError as e:
            raise InputError(f"--score: group {g!r}: {cli._one_line(e)}") from None
    reports, total, gaps = attach(reports, {}, scores, args.target_names, args.digits)
    out = _render(reports, gaps, by, args.format, args.digits, total)
    cli._print_warnings(caught)
    sys.stdout.write(out)
    sys.stdout.flush()
    return 0


def _kind_of_labels(acc: Any) -> str:
    tk, _ = acc._label_kinds()
    return "str" if "str" in tk else "float" if "float" in tk else (
        "bool" if tk == {"bool"} else "int")


# --------------------------------------------------------------------------------------------
# counting a part (here, or on a worker)

class _Spec:
    """What to read from each part (small, pickled to the workers)."""

    def __init__(self, true: str, pred: str | None, weight: str | None, by: list,
                 chunksize: int, *, multilabel: Any = None, scores: Any = None):
        self.true, self.pred, self.weight, self.by, self.chunksize = true, pred, weight, by, chunksize
        self.multilabel = multilabel      # None, or the _multilabel_cli.Columns to read
        self.scores = scores              # None, or the --score arguments (a Namespace)


def _count_part(part: Part, spec: _Spec, acc: Any = None) -> Any:
    """Count one part's chunks into ``acc`` (a new accumulator when None); returns it (None
    for an empty part of multi-label input whose width only its rows tell)."""
    import confstream
    names = {"y_true": spec.true}
    if spec.pred is not None:
        names["y_pred"] = spec.pred
    if spec.weight is not None:
        names["sample_weight"] = spec.weight
    ml = spec.multilabel
    scores = None
    if spec.scores is not None:
        from ._grouped_curves import GroupScores
        if acc is not None:
            acc, scores = acc.acc, acc.scores
        if scores is None:
            scores = GroupScores(spec.scores, {k: v for k, v in names.items()
                                               if k != "y_pred"}, ml)
    if acc is None and ml is None and spec.pred is not None:
        acc = confstream.GroupedConfusionMatrix()
    elif acc is None and ml is not None and ml.width is not None:
        from ._multilabel_cli import _new
        acc = _new(confstream.GroupedMultilabelConfusionMatrix, ml.width, ml)
    from_path = {c: part.partition[c] for c in spec.by if c in part.partition}
    data = ml.columns if ml is not None else [spec.true] + (
        [spec.pred] if spec.pred is not None else [])
    if scores is not None:
        data = data + [c for c in scores.columns if c not in data]
    wanted = data + ([spec.weight] if spec.weight is not None else []) + [
        c for c in spec.by if c not in from_path]
    try:
        reader = open_table(part.path, wanted, spec.chunksize)
    except InputError as e:
        missing = re.match(r"column '(.*)' not found in", str(e))
        if missing and missing.group(1) in spec.by:
            raise InputError(f"--by column {missing.group(1)!r} is missing in part "
                             f"{part.path!r} (neither a column of the file nor a "
                             f"key=value folder above it)") from None
        raise
    with reader:
        try:
            acc = _count_chunks(reader, part, spec, names, from_path, acc, scores=scores)
        except InputError as e:
            if part.path in str(e):
                raise
            raise InputError(f"{part.path}: {e}") from None
    if scores is not None:
        from ._grouped_curves import WithScores
        return WithScores(acc, scores)
    return acc


def _count_chunks(reader: Any, part: Part, spec: _Spec, names: dict, from_path: dict,
                  acc: Any, *, scores: Any = None) -> Any:
    for chunk in reader:
        n = len(chunk)
        keys = [chunk.columns[c] if c not in from_path else np.full(n, from_path[c])
                for c in spec.by]
        w = chunk.columns.get(spec.weight) if spec.weight is not None else None
        if spec.multilabel is not None:
            acc = _count_multilabel(chunk, spec, keys, w, acc)
            if scores is not None:
                scores.update(chunk, keys, reader.kinds)
            continue
        if acc is not None:
            try:
                acc.update(chunk.columns[spec.true], chunk.columns[spec.pred],
                           keys[0] if len(keys) == 1 else tuple(keys), sample_weight=w)
            except (ValueError, TypeError) as e:
                raise InputError(f"{part.path}: {_locate(e, chunk, names, spec.by)}") from None
        if scores is not None:
            if acc is None:
                from ._curves_cli import check_weights
                check_weights(chunk, names)
            scores.update(chunk, keys, reader.kinds)
    return acc


def _count_multilabel(chunk: Any, spec: _Spec, keys: list, w: Any, acc: Any) -> Any:
    import confstream
    from ._multilabel_cli import _new, _update

    ml = spec.multilabel
    t, p = ml.matrices(chunk)
    ml.check_width(t, p, None if acc is None else acc.num_labels, chunk)
    if acc is None:
        acc = _new(confstream.GroupedMultilabelConfusionMatrix, t.shape[1], ml)
    try:
        _update(acc, chunk, ml, spec.weight, (t, p, w),
                keys[0] if len(keys) == 1 else tuple(keys))
    except InputError as e:
        if re.search(r"\bgroups(\[\d+\])?\[\d+\]", str(e)):   # a bad key: name its column
            raise InputError(_locate(ValueError(str(e)), chunk, {}, spec.by)) from None
        raise
    return acc


def _count_parts(parts: list, spec: _Spec) -> Any:
    """Count several parts into one accumulator (one Dask task): a fresh accumulator per
    part would find its label and group spaces again on every part (measured: a third more
    CPU per part), and many small tasks cost the scheduler more."""
    acc = None
    for part in parts:
        acc = _count_part(part, spec, acc)
    return acc


def _threads(client: Any) -> int:
    try:
        return max(1, sum(w.get("nthreads", 1)
                          for w in client.scheduler_info()["workers"].values()))
    except Exception:                    # an unusual scheduler: plan for one thread
        return 1


def _batches(parts: list, threads: int) -> list[list]:
    """Parts in consecutive batches, about four per worker thread (so that a slow part or
    worker does not hold up the end for long), each of at least one part."""
    n = max(1, min(len(parts), 4 * threads))
    bounds = [round(i * len(parts) / n) for i in range(n + 1)]
    return [parts[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _merge_parts(*accs: Any) -> Any:
    """``_merge`` of the parts' accumulators, leaving out the None of empty parts."""
    from .adapters.dask import _merge

    have = [a for a in accs if a is not None]
    if not have:
        return None
    try:
        return _merge(*have)
    except ValueError as e:
        raise InputError(f"the parts cannot be added up: {e}") from None


def _locate(error: Exception, chunk: Any, names: dict, by: list) -> str:
    """The core's message with the file's row and column names in place of positions."""
    from .cli import _one_line

    message = _one_line(error)
    m = re.search(r"\b(?:(y_true|y_pred|sample_weight)|groups(?:\[(\d+)\])?)\[(\d+)\]", message)

    def column(g):
        if g.group(1):
            return f"column {names.get(g.group(1), g.group(1))!r}"
        return f"column {by[int(g.group(2) or 0)]!r}"

    key = r"groups\[(\d+)\]" if len(by) > 1 else r"groups()"
    text = re.sub(r"\b(?:(y_true|y_pred|sample_weight)|" + key + r")(\[\d+\])?", column,
                  message)
    if m:
        return f"{chunk.where(int(m.group(3)))}: {text}"
    return text


def _on_dask(parts: list, spec: _Spec, args: argparse.Namespace) -> Any:
    try:
        import distributed
    except ImportError:
        raise InputError("--scheduler / --workers need dask.distributed: "
                         "pip install 'confstream[dask]'") from None
    from .adapters.dask import tree_reduce

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # distributed's start-up chatter
        if args.scheduler:
            try:
                client = distributed.Client(args.scheduler, timeout="10s")
            except (OSError, TimeoutError) as e:
                raise InputError(f"cannot reach the Dask scheduler {args.scheduler!r}: "
                                 f"{e}") from None
            cluster = None
        else:
            cluster = distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                               dashboard_address=None, silence_logs=50)
            client = distributed.Client(cluster)
    try:
        batches = _batches(parts, _threads(client))
        futures = [client.submit(_count_parts, batch, spec, pure=False) for batch in batches]
        sizes = {f.key: len(b) for f, b in zip(futures, batches)}
        with _bar(len(parts), args) as bar:
            done = 0
            for future in distributed.as_completed(futures):
                done += sizes[future.key]
                bar(done)
        total = tree_reduce(futures, lambda *xs: client.submit(_merge_parts, *xs, pure=False))
        return total.result()
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            client.close()
            if cluster is not None:
                cluster.close()


def _bar(total: int, args: argparse.Namespace) -> Any:
    """A tqdm bar over the parts, on stderr, when it is a terminal (and tqdm is installed)."""
    from .cli import _Bar, _isatty, _NoBar

    if args.no_progress or total < 2 or not _isatty(sys.stderr):
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return _Bar(tqdm(total=total, unit="part", desc=os.path.basename(args.file.rstrip("/")),
                     file=sys.stderr, delay=0.5, leave=False, dynamic_ncols=True))


# --------------------------------------------------------------------------------------------
# output

_GAP_COLUMNS = ["min", "max", "difference", "ratio", "difference_to_overall",
                "ratio_to_overall"]


def _title(group: Any, by: list) -> str:
    parts = group if isinstance(group, tuple) else (group,)
    return ", ".join(f"{c}={v}" for c, v in zip(by, parts))


def _render(reports: dict, gaps: dict, by: list, fmt: str, digits: int,
            total: Any = None) -> str:
    from ._curves_cli import CurvesReport, render as render_curves
    from .cli import _json_scalar, _render as render_report

    def render_one(r, f):
        return render_curves(r, f) if isinstance(r, CurvesReport) else render_report(r, f)

    if fmt == "json":
        d = {"by": by,
             "groups": [{"group": dict(zip(by, g if isinstance(g, tuple) else (g,))),
                         "report": r.to_dict()} for g, r in reports.items()],
             "gaps": [{"metric": m, "class": c, **v} for (m, c), v in gaps.items()]}
        if total is not None:
            d["overall curves"] = total.to_dict()
        return json.dumps(d, indent=2, default=_json_scalar, allow_nan=True) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        first = True
        for g, r in reports.items():
            keys = list(g) if isinstance(g, tuple) else [g]
            rows = list(csv.reader(io.StringIO(render_one(r, "csv"))))
            if first:
                w.writerow(by + rows[0])
                first = False
            for row in rows[1:]:
                w.writerow(keys + row)
        if total is not None:           # the overall curves: every group together
            buf.write("\n" + render_curves(total, "csv"))
        buf.write("\n")
        w.writerow(["metric", "class"] + _GAP_COLUMNS)
        for (m, c), v in gaps.items():
            w.writerow([m, "" if c is None else c] + [repr(float(v[k])) for k in _GAP_COLUMNS])
        return buf.getvalue()
    out = []
    for g, r in reports.items():
        if fmt == "markdown":
            out.append(f"### {_title(g, by)}\n\n{render_one(r, 'markdown')}")
        else:
            out.append(f"{_title(g, by)}\n{render_one(r, 'text')}")
    if total is not None:
        out.append(f"### all groups\n\n{render_curves(total, 'markdown')}" if fmt == "markdown"
                   else f"all groups\n{render_curves(total, 'text')}")
    out.append(_gap_table(gaps, len(reports), fmt, digits))
    return "\n".join(out)


def _gap_table(gaps: dict, ngroups: int, fmt: str, digits: int) -> str:
    def num(v):
        return "nan" if math.isnan(v) else f"{v:.{digits}f}"

    rows = [(m, "" if c is None else str(c), [num(v[k]) for k in _GAP_COLUMNS])
            for (m, c), v in gaps.items()]
    heads = ["min", "max", "diff", "ratio", "diff/all", "ratio/all"]
    if fmt == "markdown":
        lines = [f"### gaps between {ngroups} groups", "",
                 "| metric | class | " + " | ".join(heads) + " |",
                 "|:--|:--|" + "--:|" * len(heads)]
        lines += [f"| {m} | {c} | " + " | ".join(vals) + " |" for m, c, vals in rows]
        return "\n".join(lines) + "\n"
    wm = max([len("metric")] + [len(m) for m, _, _ in rows])
    wc = max([len("class")] + [len(c) for _, c, _ in rows])
    wv = max([9] + [len(v) for _, _, vals in rows for v in vals])
    lines = [f"gaps between {ngroups} groups (diff: max - min; ratio: min / max; "
             f"/all: to the overall value)",
             f"{'metric':<{wm}} {'class':<{wc}}" + "".join(f" {h:>{wv}}" for h in heads)]
    lines += [f"{m:<{wm}} {c:<{wc}}" + "".join(f" {v:>{wv}}" for v in vals)
              for m, c, vals in rows]
    return "\n".join(lines) + "\n"
