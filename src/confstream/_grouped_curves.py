"""``confstream report PATH --by COL --score COL``: score curves per group, beside the grouped
confusion matrix, on one process or on the workers of a Dask cluster.

The whole chunk first goes through one ``cli._Scores`` (the overall curves): it checks every
score and names the file's row of a bad one, so the groups' own accumulators (one
``cli._Scores`` per group, fed the group's rows) never see a bad row. Accumulators of parts
counted apart add up (``+=``): histograms add, so the result is that of one stream (adaptive
intervals merge by their union; a part that met the two labels in the other order is
relabelled first).
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np

from ._files import Chunk, InputError

__all__ = ["GroupScores", "WithScores", "attach", "score_arguments"]


def _key(v: Any) -> Any:
    from .cli import _key as key
    return tuple(key(x) for x in v) if isinstance(v, tuple) else key(v)


def score_arguments(args: argparse.Namespace) -> argparse.Namespace:
    """The arguments the curves read (what travels to the Dask workers)."""
    return argparse.Namespace(
        score=args.score, labels=args.labels, score_bits=args.score_bits,
        score_resolution=getattr(args, "score_resolution", None),
        score_intervals=getattr(args, "score_intervals", None), pos_label=args.pos_label)


class GroupScores:
    """Overall and per-group score curves of ``--score`` columns (picklable: it travels to and
    from Dask workers)."""

    def __init__(self, args: argparse.Namespace, names: dict, multilabel: Any = None) -> None:
        self.args = score_arguments(args)
        self.names = dict(names)
        self.multilabel = multilabel       # None, or the _multilabel_cli.Columns read
        self.overall = self._new()
        self.columns = list(self.overall.columns)
        self.groups: dict[Any, Any] = {}   # normalised group key -> cli._Scores

    def _new(self) -> Any:
        """A ``cli._Scores`` (``_multilabel_cli.Scores`` of multi-label input)."""
        if self.multilabel is not None:
            from ._multilabel_cli import Scores
            return Scores(self.args, self.names, self.multilabel)
        from .cli import _Scores
        return _Scores(self.args, self.names)

    def update(self, chunk: Chunk, keys: list, kinds: dict) -> None:
        self.overall.update(chunk, kinds)          # checks every row, names a bad one
        n = len(chunk)
        if n == 0:
            return
        codes = np.zeros(n, np.int64)
        uniques = []
        for col in keys:                            # crossed groups: mixed-radix codes
            u, inv = np.unique(np.asarray(col), return_inverse=True)
            codes = codes * len(u) + inv.reshape(-1)
            uniques.append(u)
        present, first = np.unique(codes, return_index=True)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], present)
        bounds = np.append(bounds, n)
        cols = {c: chunk.columns[c] for c in self.columns + list(self.names.values())
                if c in chunk.columns}
        for i, row in enumerate(first.tolist()):
            rows = order[bounds[i]:bounds[i + 1]]
            vals = tuple(_key(np.asarray(col)[row]) for col in keys)
            g = vals[0] if len(vals) == 1 else vals
            sub = Chunk(start=chunk.start, columns={c: a[rows] for c, a in cols.items()})
            acc = self.groups.get(g)
            if acc is None:
                acc = self.groups[g] = self._new()
            acc.update(sub, kinds)

    # -- adding parts up ----------------------------------------------------------------------
    def copy(self) -> "GroupScores":
        import copy
        return copy.deepcopy(self)

    def __iadd__(self, other: "GroupScores") -> "GroupScores":
        _add(self.overall, other.overall)
        for g, acc in other.groups.items():
            if g in self.groups:
                _add(self.groups[g], acc)
            else:
                self.groups[g] = _copy_scores(acc)
        return self

    # -- results ------------------------------------------------------------------------------
    def results(self) -> tuple[Any, dict]:
        """(overall curves, {group key: curves}); binary: every group's curves of the overall
        positive class (a group that lacks a class gets scikit-learn's nan / 0.0)."""
        overall = self.overall.result()
        if not self.overall.binary:
            return overall, {g: s.curves for g, s in self.groups.items()}
        neg, pos = overall.labels
        return overall, {g: _binary(s, neg, pos) for g, s in self.groups.items()}


def _copy_scores(s: Any) -> Any:
    import copy
    return copy.deepcopy(s)


def _add(a: Any, b: Any) -> None:
    """``a += b`` for two ``cli._Scores`` of the same columns."""
    if b.binary is None:
        return
    if a.binary is None:
        a.binary, a.order, a.curves = b.binary, list(b.order), \
            None if b.curves is None else b.curves.copy()
        return
    if a.binary != b.binary:
        raise InputError("--score: the parts' score columns have different shapes")
    try:
        if not a.binary:
            a.curves += b.curves
            return
        order = a.order + [v for v in b.order if all(_key(u) != _key(v) for u in a.order)]
        if len(order) > 2:
            raise InputError(f"a third class {order[2]!r} in column {a.names['y_true']!r}: "
                             f"one --score column scores binary data")
        swap = bool(b.order) and _key(b.order[0]) != _key(order[0])
        a.curves += b.curves._relabelled(swap=True) if swap else b.curves
        a.order = order
    except ValueError as e:
        from .cli import _one_line
        raise InputError(f"--score: the parts cannot be added up: {_one_line(e)}") from None


def _binary(s: Any, neg: Any, pos: Any) -> Any:
    """Binary curves [neg, pos] of one group's curves (truth i: its ``order[i]``; a group that
    met one class has the other's empty)."""
    return s.curves._relabelled([neg, pos], swap=bool(s.order) and _key(s.order[0]) == _key(pos))


class WithScores:
    """A grouped accumulator and its ``GroupScores``: what a part's count returns, added up
    with ``+=`` as the accumulators are (the Dask tree-reduce's ``_merge``)."""

    def __init__(self, acc: Any, scores: GroupScores) -> None:
        self.acc, self.scores = acc, scores

    def copy(self) -> "WithScores":
        return WithScores(None if self.acc is None else self.acc.copy(), self.scores.copy())

    def __iadd__(self, other: "WithScores") -> "WithScores":
        if other.acc is not None:       # None: no --pred, or an empty multi-label part
            if self.acc is None:
                self.acc = other.acc.copy()
            else:
                self.acc += other.acc
        self.scores += other.scores
        return self


def attach(reports: dict, gaps: dict, scores: GroupScores, target_names: Any,
           digits: int) -> tuple:
    """Each group's report with its curves, the overall curves report, and the gap rows of
    AUROC / AP per class (fairlearn's MetricFrame over the groups' values)."""
    from ._curves_cli import CurvesReport
    from .cli import _one_line

    overall, by_group = scores.results()
    norm = {_key(g): c for g, c in by_group.items()}
    out = {}
    try:
        for g, r in reports.items():
            c = norm.get(_key(g))
            out[g] = r if c is None or isinstance(r, CurvesReport) else r.with_curves(c)
        n_named = 2 if overall._binary else len(overall.labels)
        total = CurvesReport(overall, list(target_names) if target_names and
                             len(target_names) == n_named else None, digits)
    except ValueError as e:
        raise InputError(f"--score: {_one_line(e)}") from None
    gaps = dict(gaps)
    named = dict(zip((_key(x) for x in total.labels.tolist()), total.target_names))
    for m in ("auroc", "ap"):
        for lab in total.labels.tolist():
            vals = []
            for r in out.values():
                got = r.curves or {}
                row = next((got[name] for name, label in zip(r.target_names, r.labels.tolist())
                            if _key(label) == _key(lab) and name in got), None)
                vals.append(math.nan if row is None else row[m])
            gaps[(m, lab)] = _gap(np.array(vals, np.float64),
                                  total.curves[named[_key(lab)]][m])
    return out, total, gaps


def _gap(vals: np.ndarray, overall: float) -> dict:
    from .grouped import _nanmax, _nanmin

    with np.errstate(divide="ignore", invalid="ignore"):
        r = vals / np.float64(overall)
        r = np.where(r > 1, 1 / r, r)
        return {"min": _nanmin(vals), "max": _nanmax(vals),
                "difference": _nanmax(vals) - _nanmin(vals),
                "ratio": float(np.float64(_nanmin(vals)) / np.float64(_nanmax(vals))),
                "difference_to_overall": _nanmax(np.abs(vals - overall)),
                "ratio_to_overall": _nanmin(r)}
