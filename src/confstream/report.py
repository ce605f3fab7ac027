"""Report: scikit-learn's ``classification_report``, text and dict, from one table.

The table is computed once from the accumulator's sums (per-class rows, then each average
with the warnings scikit-learn raises in the same order); ``str()`` and ``to_dict()`` only
render it.
"""

from __future__ import annotations

import warnings

import numpy as np

from . import metrics as M

__all__ = ["Report", "build_report"]

_HEADERS = ("precision", "recall", "f1-score", "support")


class Report:
    """One epoch's classification report.

    ``str(report)`` is byte-identical to ``sklearn.metrics.classification_report`` on the
    same data and keywords; ``to_dict()`` equals its ``output_dict=True`` result.

    Attributes
    ----------
    labels : ndarray
        The label of each row, in order.
    target_names : list of str
        The row names as printed.
    precision, recall, f1, support : ndarray
        Per-row values (``zero_division`` applied).
    accuracy : float or None
        The accuracy row's value, when the report has one.
    averages : dict
        ``{"macro avg": {"precision": ..., "recall": ..., "f1-score": ..., "support": ...}, ...}``
        (and ``"micro avg"`` where the report has no accuracy row).
    """

    def __init__(self, labels, target_names, rows, averages, accuracy_row, digits):
        self.labels = labels
        self.target_names = list(target_names)
        self._rows = rows  # (name, p, r, f1, s) as scikit-learn zips them
        self._avg = averages  # [(heading, [p, r, f1, s])]
        self._accuracy_row = accuracy_row
        self.digits = digits

    # -- per-class arrays -----------------------------------------------------------------
    def _column(self, i):
        return np.array([row[i] for row in self._rows])

    @property
    def precision(self) -> np.ndarray:
        return self._column(1)

    @property
    def recall(self) -> np.ndarray:
        return self._column(2)

    @property
    def f1(self) -> np.ndarray:
        return self._column(3)

    @property
    def support(self) -> np.ndarray:
        return self._column(4)

    @property
    def accuracy(self):
        for heading, avg in self._avg:
            if heading == "accuracy":
                return float(avg[2])
        return None

    @property
    def averages(self) -> dict:
        return {h: dict(zip(_HEADERS, (float(v) for v in avg)))
                for h, avg in self._avg if h != "accuracy"}

    def get(self, metric: str, of_class=None) -> float:
        """One value: ``get("recall", 1)``, ``get("f1-score", "cat")``, ``get("accuracy")``,
        ``get("precision", "macro avg")``. ``of_class`` is a label or a row name."""
        metric = {"f1": "f1-score", "f1_score": "f1-score"}.get(metric, metric)
        if metric == "accuracy":
            acc = self.accuracy
            if acc is None:
                raise KeyError("this report has no accuracy row (it has 'micro avg')")
            return acc
        if metric not in _HEADERS:
            raise KeyError(f"unknown metric {metric!r}; one of {list(_HEADERS)} or 'accuracy'")
        col = _HEADERS.index(metric)
        for heading, avg in self._avg:
            if of_class == heading:
                return float(avg[col])
        for label, row in zip(self.labels.tolist(), self._rows):
            if of_class == row[0] or of_class == label:
                return float(row[col + 1])
        raise KeyError(f"no row for class {of_class!r}; rows: {[r[0] for r in self._rows]}")

    # -- rendering ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The ``output_dict=True`` form of ``classification_report``."""
        report_dict = {row[0]: row[1:] for row in self._rows}
        for label, scores in report_dict.items():
            report_dict[label] = dict(zip(_HEADERS, [float(i) for i in scores]))
        for heading, avg in self._avg:
            report_dict[heading] = dict(zip(_HEADERS, [float(i) for i in avg]))
        if "accuracy" in report_dict:
            report_dict["accuracy"] = report_dict["accuracy"]["precision"]
        return report_dict

    def __str__(self) -> str:
        digits = self.digits
        name_width = max(len(cn) for cn in self.target_names)
        width = max(name_width, len("weighted avg"), digits)
        head_fmt = "{:>{width}s} " + " {:>9}" * len(_HEADERS)
        report = head_fmt.format("", *_HEADERS, width=width)
        report += "\n\n"
        row_fmt = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
        for row in self._rows:
            report += row_fmt.format(*row, width=width, digits=digits)
        report += "\n"
        for heading, avg in self._avg:
            if heading == "accuracy":
                fmt = ("{:>{width}s} " + " {:>9.{digits}}" * 2 + " {:>9.{digits}f}"
                       + " {:>9}\n")
                report += fmt.format(heading, "", "", *avg[2:], width=width, digits=digits)
            else:
                report += row_fmt.format(heading, *avg, width=width, digits=digits)
        return report

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        from html import escape

        return f"<pre>{escape(str(self))}</pre>"

    def __eq__(self, other):
        if not isinstance(other, Report):
            return NotImplemented
        return str(self) == str(other)

    __hash__ = None


def build_report(sums: M.Sums, labels, target_names, labels_given: bool,
                 micro_is_accuracy: bool, digits: int, zero_division, samples=None) -> Report:
    """Compute a report's table, warning exactly where scikit-learn warns."""
    if isinstance(digits, bool) or not isinstance(digits, (int, np.integer)) or digits < 0:
        raise ValueError(f"digits must be a non-negative int, got {digits!r}")
    labels = np.asarray(labels)
    if target_names is not None and len(labels) != len(target_names):
        if labels_given:
            warnings.warn(
                "labels size, {0}, does not match size of target_names, {1}".format(
                    len(labels), len(target_names)), stacklevel=3)
        else:
            raise ValueError(
                "Number of classes, {0}, does not match size of "
                "target_names, {1}. Try specifying the labels "
                "parameter".format(len(labels), len(target_names)))
    if target_names is None:
        target_names = ["%s" % label for label in labels]
    p, r, f1, s = M.prfs(sums, average=None, zero_division=zero_division)
    rows = list(zip(target_names, p, r, f1, s))
    options = ("micro", "macro", "weighted") + (("samples",) if samples is not None else ())
    averages = []
    for average in options:
        heading = "accuracy" if average == "micro" and micro_is_accuracy else average + " avg"
        if average == "samples" and callable(samples):  # the drop-ins' exact per-sample way
            ap, ar, af, _ = samples()
        elif average == "samples":
            ap, ar, af, _ = M.samples_prfs(samples, zero_division=zero_division)
        else:
            ap, ar, af, _ = M.prfs(sums, average=average, zero_division=zero_division)
        averages.append((heading, [ap, ar, af, np.sum(s)]))
    return Report(labels, target_names, rows, averages, micro_is_accuracy, digits)
