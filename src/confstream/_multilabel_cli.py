"""``confstream report FILE --multilabel --true A,B,C --pred A_hat,B_hat,C_hat``: multi-label input.

With ``--multilabel``, ``--true`` and ``--pred`` each name L columns separated by commas (one
0/1 column per label; predictions may be scores, ``> --threshold``), or one column that holds
the whole (N, L) matrix: an (N, L) array of a ``.npz``, or a Parquet list column. The rows
of the report are named after the ``--true`` columns when there are several (scikit-learn's
``classification_report(..., target_names=those columns)``), else numbered 0..L-1 as
scikit-learn numbers them; ``--target-names`` names them otherwise. ``--by`` gives one report
per group (``_grouped_cli``), on a dataset of parts and on Dask as for single-label input.
``--score`` names L score columns (or one (N, L) column) in the same way: they stream into a
``MultilabelScoreCurves`` (``Scores``), and the report gets each label's AUROC and average
precision with their micro / macro / weighted averages (``Report.with_curves``).
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from typing import Any

import numpy as np

from ._errors import BatchValueError
from ._files import Chunk, InputError, open_table

__all__ = ["add_arguments", "Columns", "Scores", "run"]


def add_arguments(rep: argparse.ArgumentParser) -> None:
    rep.add_argument("--multilabel", action="store_true",
                     help="multi-label input: --true and --pred each name L columns "
                          "separated by commas (0/1 per label; --pred may be scores), or one "
                          "(N, L) column (a .npz array, a Parquet list column)")
    rep.add_argument("--threshold", metavar="T[,T...]", default=None,
                     help="with --multilabel: scores > T predict the label (one value, or "
                          "one per label; default 0.5)")


class Columns:
    """The multi-label columns to read and how to make (N, L) matrices of them (pickled to
    Dask workers with the rest of the grouped report's spec)."""

    def __init__(self, true: str, pred: str, threshold: str | None) -> None:
        self.true = _names(true, "--true")
        self.pred = _names(pred, "--pred")
        if len(self.true) > 1 and len(self.pred) > 1 and len(self.true) != len(self.pred):
            raise InputError(f"--true names {len(self.true)} columns and --pred "
                             f"{len(self.pred)}: give one per label in both, in the same "
                             f"order")
        self.threshold = _threshold(threshold)
        self.width = len(self.true) if len(self.true) > 1 else (
            len(self.pred) if len(self.pred) > 1 else None)

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(self.true + self.pred))

    def label_names(self, target_names: list[str] | None) -> list[str] | None:
        """The report's row names: ``--target-names``, else the ``--true`` columns (when
        there are several), else None (scikit-learn's 0..L-1)."""
        if target_names is not None:
            return list(target_names)
        return list(self.true) if len(self.true) > 1 else None

    def labels(self, texts: list[str] | None) -> list[int] | None:
        """``--labels``: label indices, or names of the ``--true`` columns."""
        if texts is None:
            return None
        out = []
        for text in texts:
            if len(self.true) > 1 and text in self.true:
                out.append(self.true.index(text))
                continue
            try:
                out.append(int(text))
            except ValueError:
                shown = ", ".join(map(repr, self.true)) if len(self.true) > 1 else ""
                raise InputError(f"--labels: {text!r} is neither a label index nor one of "
                                 f"the --true columns{' (' + shown + ')' if shown else ''}") \
                    from None
        return out

    def matrices(self, chunk: Chunk) -> tuple[np.ndarray, np.ndarray]:
        return self._matrix(chunk, self.true, "--true"), self._matrix(chunk, self.pred, "--pred")

    def _matrix(self, chunk: Chunk, cols: list[str], option: str) -> np.ndarray:
        arrs = [chunk.columns[c] for c in cols]
        for c, a in zip(cols, arrs):
            if a.dtype.kind not in "biuf":
                what = "strings" if a.dtype.kind in "US" else f"{a.dtype} values"
                raise InputError(f"{chunk.where(0)}: column {c!r} holds {what}; --multilabel "
                                 f"needs 0/1 indicators{' or scores' if option != '--true' else ''}")
        if len(arrs) == 1:
            a = arrs[0]
            return a if a.ndim == 2 else a.reshape(-1, 1)
        for c, a in zip(cols, arrs):
            if a.ndim != 1:
                raise InputError(f"{option}: column {c!r} holds {a.shape[1]} values per row; "
                                 f"give one (N, L) column, or several columns of one value "
                                 f"each")
        return np.column_stack(arrs)

    def check_width(self, t: np.ndarray, p: np.ndarray | None, num_labels: int | None,
                    chunk: Chunk, score: tuple | None = None) -> None:
        """The same number of labels in both matrices (and in ``score`` = (its columns, its
        matrix) when given), and as in the rows before."""
        sides = [(self.true, t, "--true")] + ([(self.pred, p, "--pred")] if p is not None
                                              else [])
        for cols, a, option in sides + ([(*score, "--score")] if score is not None else []):
            want = num_labels if num_labels is not None else (
                self.width if self.width is not None else t.shape[1])
            if a.shape[1] != want:
                what = f"column {cols[0]!r} holds" if len(cols) == 1 else f"{option} names"
                before = ("the rows before" if num_labels is not None else
                          "--true" if option != "--true" else "--pred")
                raise InputError(f"{chunk.where(0)}: {what} {a.shape[1]} labels but {before} "
                                 f"{'have' if num_labels is not None else 'has'} {want}")

    def located(self, error: Exception, chunk: Chunk, weight: str | None) -> str | None:
        """A bad value's message with the file's row and column in place of positions (None
        when the error does not name a place in y_true / y_pred / sample_weight)."""
        from .cli import _one_line

        if not isinstance(error, BatchValueError):
            return None
        message = _one_line(error)
        if error.argument == "sample_weight":
            where = f"column {weight!r}"
        else:
            cols = self.true if error.argument == "y_true" else self.pred
            where = _column(cols, error.index[1] if len(error.index) > 1 else 0)
        text = re.sub(r"\b(y_true|y_pred|sample_weight)(\[\d+(, \d+)*\])?", where, message,
                      count=1)
        return f"{chunk.where(error.sample)}: {text}"


def _column(cols: list[str], j: int) -> str:
    """Label ``j`` of the columns ``cols`` (several columns, or one (N, L) column)."""
    return f"column {cols[j]!r}" if len(cols) > 1 else f"column {cols[0]!r} (label {j})"


class Scores:
    """The ``--score`` columns of multi-label input streamed into ``MultilabelScoreCurves``:
    ``cli._Scores``' interface (``columns``, ``update``, ``result``, ``binary``, ``curves``),
    so that ``_grouped_curves.GroupScores`` keeps one per group as it does for single-label
    scores. ``columns`` holds the ``--true`` columns too: a group's rows carry their truth."""

    def __init__(self, args: argparse.Namespace, names: dict, ml: Columns) -> None:
        self.args, self.names, self.ml = args, dict(names), ml
        self.score = _names(",".join(args.score), "--score")
        if ml.width is not None and len(self.score) > 1 and len(self.score) != ml.width:
            raise InputError(f"--score names {len(self.score)} columns and --true "
                             f"{ml.width} labels: give one score column per label, in the "
                             f"same order")
        self.columns = list(dict.fromkeys(self.score + ml.true))
        self.order: list = []             # what _grouped_curves._add reads of binary scores
        self.curves: Any = None
        self.binary: bool | None = None   # None until the first chunk, then False

    def update(self, chunk: Chunk, kinds: dict | None = None) -> None:
        import confstream
        from .cli import _one_line, curve_options

        t = self.ml._matrix(chunk, self.ml.true, "--true")
        s = self.ml._matrix(chunk, self.score, "--score")
        self.ml.check_width(t, None, None if self.curves is None else self.curves.num_classes,
                            chunk, score=(self.score, s))
        if self.curves is None:
            try:
                self.curves = confstream.MultilabelScoreCurves(t.shape[1],
                                                               **curve_options(self.args))
            except (ValueError, TypeError) as e:
                raise InputError(f"--score: {_one_line(e)}") from None
        col = self.names.get("sample_weight")
        w = chunk.columns[col] if col is not None else None
        if w is not None and w.dtype.kind not in "biuf":
            raise InputError(f"{chunk.where(0)}: column {col!r} holds {w.dtype} values, not "
                             f"weights")
        try:
            self.curves.update(t, s, sample_weight=w)
        except (ValueError, TypeError) as e:
            raise InputError(self._locate(chunk, _one_line(e))) from None
        self.binary = False

    def _locate(self, chunk: Chunk, text: str) -> str:
        """The curves' message with the file's row and column in place of positions."""
        m = re.search(r"\b(y_true|y_score|sample_weight)\[(\d+)(?:, (\d+))?\]", text)
        if m is None:
            return text
        if m.group(1) == "sample_weight":
            where = f"column {self.names['sample_weight']!r}"
        else:
            cols = self.ml.true if m.group(1) == "y_true" else self.score
            where = _column(cols, int(m.group(3) or 0))
        return f"{chunk.where(int(m.group(2)))}: {text[:m.start()]}{where}{text[m.end():]}"

    def result(self) -> Any:
        return self.curves


def _names(text: str, option: str) -> list[str]:
    names = [c.strip() for c in text.split(",")]
    if not all(names):
        raise InputError(f"{option} {text!r}: give column names separated by commas")
    return names


def _threshold(text: str | None) -> float | list[float]:
    if text is None:
        return 0.5
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise InputError(f"--threshold {text!r}: give a number, or one per label separated "
                         f"by commas") from None
    return values[0] if len(values) == 1 else values


def class_names(gaps: dict, names: list[str] | None) -> dict:
    """The gap table's classes as the report prints them: label names, ``micro avg``..."""
    out = {}
    for (m, c), v in gaps.items():
        if isinstance(c, str):
            c = f"{c} avg"
        elif c is not None and names is not None and 0 <= c < len(names):
            c = names[c]
        out[(m, c)] = v
    return out


# --------------------------------------------------------------------------------------------
# the plain (ungrouped) multi-label report

def run(args: argparse.Namespace) -> int:
    import confstream
    from . import cli

    for flag, given in (("--ci", args.ci is not None),
                        ("--plot", bool(args.plot or args.normalize))):
        if given:
            raise InputError(f"{flag} does not work with --multilabel yet")
    if not args.score and (args.pos_label is not None or args.score_bits is not None):
        raise InputError("--score-bits describes the --score columns: give --score too")
    if args.pos_label is not None:
        raise InputError("--pos-label applies to one score column of binary data; with "
                         "--multilabel each --score column scores its label")
    spec = Columns(args.true, args.pred, args.threshold)
    scores = None
    if args.score:
        scores = Scores(args, {} if args.weight is None else {"sample_weight": args.weight},
                        spec)
    wanted = list(dict.fromkeys(spec.columns + (scores.columns if scores else []) + (
        [args.weight] if args.weight is not None else [])))
    acc = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with open_table(args.file, wanted, args.chunksize) as reader, \
                cli._progress(reader, args) as bar:
            for chunk in reader:
                t, p = spec.matrices(chunk)
                spec.check_width(t, p, None if acc is None else acc.num_labels, chunk)
                if acc is None:
                    acc = _new(confstream.MultilabelConfusionMatrix, t.shape[1], spec)
                w = chunk.columns[args.weight] if args.weight is not None else None
                _update(acc, chunk, spec, args.weight, (t, p, w))
                if scores is not None:
                    scores.update(chunk)
                bar(reader.done())
        if acc is None or acc._nsamples == 0:
            raise InputError(f"{args.file!r} has no rows")
        try:
            report = acc.report(labels=spec.labels(args.labels),
                                target_names=spec.label_names(args.target_names),
                                digits=args.digits,
                                zero_division=cli._ZERO_DIVISION[args.zero_division])
        except (ValueError, TypeError) as e:
            raise InputError(cli._one_line(e)) from None
        if scores is not None:
            try:
                report = report.with_curves(scores.result())
            except ValueError as e:
                raise InputError(f"--score: {cli._one_line(e)}") from None
        out = cli._render(report, args.format)
    cli._print_warnings(caught)
    sys.stdout.write(out)
    sys.stdout.flush()
    return 0


def _new(cls: Any, width: int, spec: Columns, **kw: Any) -> Any:
    try:
        return cls(width, threshold=spec.threshold, **kw)
    except (ValueError, TypeError) as e:
        from .cli import _one_line
        raise InputError(f"--threshold: {_one_line(e)}") from None


def _update(acc: Any, chunk: Chunk, spec: Columns, weight: str | None, batch: tuple,
            *keys: Any) -> None:
    """``acc.update`` on ``batch`` = (y_true, y_pred, weights or None) of the chunk (and the
    group keys), its errors located in the file."""
    from .cli import _one_line

    t, p, w = batch
    if w is not None and w.dtype.kind not in "biuf":
        raise InputError(f"{chunk.where(0)}: column {weight!r} holds {w.dtype} values, not "
                         f"weights")
    try:
        acc.update(t, p, *keys, sample_weight=w)
    except (ValueError, TypeError) as e:
        raise InputError(spec.located(e, chunk, weight) or _one_line(e)) from None
