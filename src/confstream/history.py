"""History: one Report per epoch, and the per-class trends across them."""

from __future__ import annotations

from typing import Iterator, List, Optional

from .report import Report

__all__ = ["History"]

_METRICS = ("precision", "recall", "f1-score", "support")
_CURVES = ("auroc", "ap")  # reports made with Report.with_curves


def _metric_name(metric: str) -> str:
    m = {"f1": "f1-score", "f1_score": "f1-score", "f": "f1-score", "roc_auc": "auroc",
         "average_precision": "ap"}.get(metric, metric)
    if m not in _METRICS and m not in _CURVES and m != "accuracy":
        raise KeyError(f"unknown metric {metric!r}; one of {list(_METRICS + _CURVES)} or "
                       "'accuracy'")
    return m


class History:
    """Per-epoch reports.

    >>> import confstream
    >>> h = confstream.History()
    >>> for epoch in range(3):
    ...     acc = confstream.ConfusionMatrix().update([0, 1, 1, 1], [0, 1, 0 if epoch else 1, 1])
    ...     h.append(acc.report())
    >>> h.get("recall", 1)
    [1.0, 0.6666666666666666, 0.6666666666666666]
    """

    def __init__(self, reports=None):
        self._reports: List[Report] = list(reports or [])

    def append(self, report: Report) -> "History":
        if not isinstance(report, Report):
            raise TypeError(f"History holds Report objects, got {type(report).__name__}")
        self._reports.append(report)
        return self

    def __getitem__(self, i):
        if isinstance(i, slice):
            return History(self._reports[i])
        return self._reports[i]

    def __len__(self) -> int:
        return len(self._reports)

    def __iter__(self) -> Iterator[Report]:
        return iter(self._reports)

    def __repr__(self) -> str:
        return f"History({len(self)} epochs)"

    def get(self, metric: str, of_class=None) -> list:
        """``metric`` of one class (label value or row name) for every epoch.

        ``get("accuracy")`` and ``get("f1-score", "macro avg")`` read the summary rows;
        ``get("auroc", 1)`` and ``get("ap", 1)`` the curves of reports that have them
        (``Report.with_curves``; Keras' ``ConfusionCallback(curves=True)``).
        """
        metric = _metric_name(metric)
        return [r.get(metric, of_class) for r in self._reports]

    def interval(self, metric: str, of_class=None) -> list:
        """The confidence interval ``(low, high)`` of ``metric`` for every epoch (reports made
        with ``report(ci=...)``), e.g. ``interval("recall", "minority")``."""
        metric = _metric_name(metric)
        return [r.interval(metric, of_class) for r in self._reports]

    def classes(self) -> list:
        """Row names seen in any epoch, in first-seen order."""
        seen = {}
        for r in self._reports:
            for name in r.target_names:
                seen.setdefault(name, None)
        return list(seen)

    def to_pandas(self):
        """A long DataFrame: one row per (epoch, class or average) with the four columns."""
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - exercised without pandas only
            raise ImportError(
                'History.to_pandas() needs pandas: pip install "confstream[pandas]"'
            ) from None
        records = []
        columns = ["epoch", "class", "precision", "recall", "f1-score", "support"]
        with_ci = any(r.ci is not None for r in self._reports)
        if with_ci:  # intervals as <metric>_lo / <metric>_hi columns (NaN where none)
            columns += [f"{m}_{end}" for m in _METRICS[:3] for end in ("lo", "hi")]
        with_curves = any(r.curves is not None for r in self._reports)
        if with_curves:  # AUROC / AP and their bounds (NaN where a row has none)
            columns += [f"{m}{end}" for m in _CURVES for end in ("", "_lo", "_hi")]
        for epoch, r in enumerate(self._reports):
            d = r.to_dict()
            for name, values in d.items():
                if name == "accuracy ci":
                    continue
                if name == "accuracy":
                    rec = {"epoch": epoch, "class": name, "precision": None,
                           "recall": None, "f1-score": values, "support": None}
                    if "accuracy ci" in d:
                        rec["f1-score_lo"], rec["f1-score_hi"] = d["accuracy ci"]
                else:
                    rec = {"epoch": epoch, "class": name,
                           **{k: v for k, v in values.items()
                              if not k.endswith((" ci", " bounds")) and k not in _CURVES}}
                    for m in _METRICS[:3]:
                        if m + " ci" in values:
                            rec[m + "_lo"], rec[m + "_hi"] = values[m + " ci"]
                    for m in _CURVES:
                        if m in values:
                            rec[m] = values[m]
                            rec[m + "_lo"], rec[m + "_hi"] = values[m + " bounds"]
                records.append(rec)
        return pd.DataFrame.from_records(records, columns=columns)

    def plot(self, metric: str = "recall", classes: Optional[list] = None, path=None, ax=None):
        """Plot ``metric`` per class across epochs; save to ``path`` if given.

        Returns the matplotlib Axes. Needs matplotlib (``pip install "confstream[plot]"``).
        """
        try:
            import matplotlib

            if path is not None and ax is None:
                matplotlib.use("Agg", force=False)
            import matplotlib.pyplot as plt
        except ImportError:  # pragma: no cover
            raise ImportError(
                'History.plot() needs matplotlib: pip install "confstream[plot]"'
            ) from None
        metric = _metric_name(metric)
        names = classes if classes is not None else self.classes()
        fig = None
        if ax is None:
            fig, ax = plt.subplots(figsize=(7, 4))
        epochs = list(range(1, len(self) + 1))
        for name in names:
            try:
                values = self.get(metric, name)
            except KeyError:
                if classes is not None or metric not in _CURVES:
                    raise
                continue  # binary curves: the positive class only
            ax.plot(epochs, values, marker="o", label=str(name))
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_ylim(-0.02, 1.02) if metric != "support" else None
        ax.set_title(f"per-class {metric}")
        ax.grid(alpha=0.3)
        ax.legend(title="class")
        if path is not None:
            (fig or ax.figure).savefig(path, dpi=110, bbox_inches="tight")
            if fig is not None:
                plt.close(fig)
        return ax
