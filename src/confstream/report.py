"""Report: scikit-learn's ``classification_report``, text and dict, from one table.

The table is computed once from the accumulator's sums (per-class rows, then each average
with the warnings scikit-learn raises in the same order); ``str()`` and ``to_dict()`` only
render it.
"""

from __future__ import annotations

import warnings

import numpy as np

from . import metrics as M

__all__ = ["Report", "build_report", "report_with_intervals", "accumulator_interval"]

_HEADERS = ("precision", "recall", "f1-score", "support")
_CURVE_METRICS = ("auroc", "ap")
_CURVE_ALIASES = {"roc_auc": "auroc", "average_precision": "ap", "AP": "ap"}


def curve_averages(values: dict) -> dict:
    """``macro avg`` / ``weighted avg`` (by positives) of ``per_class()`` rows: scikit-learn's
    ``average="macro"`` / ``"weighted"`` of the one-vs-rest problems (bounds averaged alike)."""
    averages = {}
    if len(values) == 0:
        return averages
    vs = list(values.values())
    support = np.array([v["support"] for v in vs], dtype=np.float64)
    for heading, wts in (("macro avg", None), ("weighted avg", support)):
        avg = {"support": sum(v["support"] for v in vs)}
        for m in _CURVE_METRICS:
            point = np.array([v[m] for v in vs])
            b = np.array([v[m + " bounds"] for v in vs]).reshape(-1, 2)
            if wts is not None and np.isclose(np.sum(wts), 0):
                avg[m], avg[m + " bounds"] = 0.0, (0.0, 0.0)
                continue
            if wts is not None:  # scikit-learn zeroes the classes of weight 0
                point = np.where(wts == 0, 0, point)
                b = np.where((wts == 0)[:, None], 0, b)
            avg[m] = float(np.average(point, weights=wts))
            avg[m + " bounds"] = (float(np.average(b[:, 0], weights=wts)),
                                  float(np.average(b[:, 1], weights=wts)))
        averages[heading] = avg
    return averages


def curves_averages(curves, values: dict, warn: bool = True) -> dict:
    """The average rows of multi-class / multi-label curves whose ``per_class()`` is
    ``values``: ``curve_averages``, after multi-label curves' (of two labels or more)
    ``micro avg`` (scikit-learn's ``average="micro"``: every (sample, label) cell one
    problem)."""
    averages = curve_averages(values)
    if getattr(curves, "_kind", None) != "MultilabelScoreCurves" or len(values) < 2:
        return averages
    with warnings.catch_warnings():
        if not warn:
            warnings.simplefilter("ignore")
        return {"micro avg": _micro_average(curves, values), **averages}


def _micro_average(curves, values: dict) -> dict:
    out = {"support": sum(v["support"] for v in values.values())}
    for m, value, bounds in (("auroc", curves.roc_auc, curves.roc_auc_bounds),
                             ("ap", curves.average_precision,
                              curves.average_precision_bounds)):
        out[m], out[m + " bounds"] = float(value("micro")), tuple(map(float, bounds("micro")))
    return out


def _same_label(a, b) -> bool:
    """Label equality across numpy / Python scalars (1 == 1.0 == np.int64(1)), never raising."""
    a = a.item() if isinstance(a, np.generic) else a
    b = b.item() if isinstance(b, np.generic) else b
    if isinstance(a, str) != isinstance(b, str):
        return False
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - incomparable labels are different labels
        return False


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

    _curves = None  # reports pickled before with_curves existed read as without curves

    def __init__(self, labels, target_names, rows, averages, accuracy_row, digits):
        self.labels = labels
        self.target_names = list(target_names)
        self._rows = rows  # (name, p, r, f1, s) as scikit-learn zips them
        self._avg = averages  # [(heading, [p, r, f1, s])]
        self._accuracy_row = accuracy_row
        self.digits = digits
        self._ci = None  # {"level", "method", "n_resamples", "seed", "values"} with intervals
        self._curves = None  # {"rows": {row: values}, "averages": {...}, "exact": bool}

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
        ``get("precision", "macro avg")``. ``of_class`` is a label or a row name.

        With curves (``with_curves``): ``get("auroc", 1)``, ``get("ap", "macro avg")``."""
        metric = {"f1": "f1-score", "f1_score": "f1-score"}.get(metric, metric)
        metric = _CURVE_ALIASES.get(metric, metric)
        if metric in _CURVE_METRICS:
            return self._curve_value(metric, of_class)[0]
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

    # -- AUROC / average precision (with_curves) -----------------------------------------
    def with_curves(self, curves, warn: bool = True) -> "Report":
        """A copy of this report with each class's AUROC and average precision from
        ``curves`` (a ``ScoreCurves`` / ``MultilabelScoreCurves`` over the same data).

        Rows are matched by label value; binary curves give the positive class's row only.
        Multi-class and multi-label curves add ``macro avg`` and ``weighted avg`` (by the
        classes' positives), scikit-learn's ``average="macro"`` / ``"weighted"`` of the
        one-vs-rest problems; multi-label curves (of two labels or more) ``micro avg`` too,
        scikit-learn's ``average="micro"`` (every (sample, label) cell one problem). ``str()`` prints them as a second table below the
        classification report (which stays byte-identical to scikit-learn's); ``to_dict()``
        adds ``"auroc"``, ``"ap"`` and their ``"... bounds"`` to the rows; ``get("auroc",
        label)`` reads one. Certified (binned) values say so, with their widest bound.
        ``warn``: scikit-learn's warnings for classes without positives or negatives."""
        values = curves.per_class(warn=warn)
        exact = bool(curves.exact)
        rows = {}
        for i, label in enumerate(self.labels.tolist()):
            for key, v in values.items():
                if _same_label(key, label):
                    rows[i] = v
        averages = curves_averages(curves, values, warn) \
            if not getattr(curves, "_binary", True) else {}
        import copy as _copy

        out = _copy.copy(self)
        out._curves = {"rows": rows, "averages": averages, "exact": exact}
        return out

    @property
    def curves(self):
        """``{row name: {"auroc", "auroc bounds", "ap", "ap bounds", "support"}}`` (rows
        and averages that have them), or None for a report without curves."""
        if self._curves is None:
            return None
        out = {self._rows[i][0]: dict(v) for i, v in self._curves["rows"].items()}
        out.update({h: dict(v) for h, v in self._curves["averages"].items()})
        return out

    @property
    def curves_exact(self):
        """True when the curves' values are scikit-learn's exactly; None without curves."""
        return None if self._curves is None else self._curves["exact"]

    def _curve_value(self, metric, of_class):
        if self._curves is None:
            raise KeyError(f"this report has no {metric}: make it with "
                           "report.with_curves(score_curves)")
        c = self._curves
        if of_class in c["averages"]:
            v = c["averages"][of_class]
            return v[metric], v[metric + " bounds"]
        for i, (label, row) in enumerate(zip(self.labels.tolist(), self._rows)):
            if of_class == row[0] or _same_label(of_class, label):
                if i not in c["rows"]:
                    raise KeyError(f"class {of_class!r} has no {metric} (binary curves give "
                                   "the positive class only)")
                return c["rows"][i][metric], c["rows"][i][metric + " bounds"]
        raise KeyError(f"no row for class {of_class!r}; rows: {[r[0] for r in self._rows]}")

    def curve_bounds(self, metric: str, of_class=None):
        """``(lo, hi)`` of ``auroc`` / ``ap`` of one row: they contain scikit-learn's value."""
        metric = _CURVE_ALIASES.get(metric, metric)
        if metric not in _CURVE_METRICS:
            raise KeyError(f"unknown metric {metric!r}; one of {list(_CURVE_METRICS)}")
        return self._curve_value(metric, of_class)[1]

    def _curves_text(self) -> str:
        c = self._curves
        d = self.digits
        named = [(self._rows[i][0], v) for i, v in sorted(c["rows"].items())]
        if not named and not c["averages"]:
            return ""
        width = max([len(n) for n, _ in named] + [len("weighted avg"), d])
        head = "{:>{width}s} " + " {:>9}" * 3
        out = "\n" + head.format("", "auroc", "ap", "support", width=width) + "\n\n"
        fmt = "{:>{width}s} " + " {:>9.{digits}f}" * 2 + " {:>9}\n"
        for name, v in named:
            out += fmt.format(name, v["auroc"], v["ap"], v["support"], width=width, digits=d)
        if c["averages"]:
            out += "\n"
            for heading, v in c["averages"].items():
                out += fmt.format(heading, v["auroc"], v["ap"], v["support"], width=width,
                                  digits=d)
        if not c["exact"]:
            spans = [hi - lo for _, v in named + list(c["averages"].items())
                     for m in _CURVE_METRICS for lo, hi in [v[m + " bounds"]]
                     if not (np.isnan(lo) or np.isnan(hi))]
            widest = max(spans, default=0.0)
            out += (f"\nauroc, ap: certified from binned scores; scikit-learn's values lie "
                    f"within their bounds (to_dict(), --format json), at most {widest:.1e} "
                    f"away\n")
        return out

    @property
    def ci(self):
        """The confidence level of the intervals (e.g. 0.95), None without intervals."""
        return None if self._ci is None else self._ci["level"]

    @property
    def ci_method(self):
        return None if self._ci is None else self._ci["method"]

    def _key(self, metric, of_class):
        """The interval key of (metric, row); KeyError as ``get`` for unknown ones."""
        metric = {"f1": "f1-score", "f1_score": "f1-score"}.get(metric, metric)
        if metric == "accuracy":
            if self.accuracy is None:
                raise KeyError("this report has no accuracy row (it has 'micro avg')")
            return ("accuracy", "f1-score"), "accuracy"
        if metric not in _HEADERS[:3]:
            raise KeyError(f"unknown metric {metric!r}; one of {list(_HEADERS[:3])} or "
                           "'accuracy'")
        for heading, _ in self._avg:
            if of_class == heading and heading != "accuracy":
                return (heading, metric), f"{metric} of {heading!r}"
        for i, (label, row) in enumerate(zip(self.labels.tolist(), self._rows)):
            if of_class == row[0] or of_class == label:
                return (i, metric), f"{metric} of {row[0]!r}"
        raise KeyError(f"no row for class {of_class!r}; rows: {[r[0] for r in self._rows]}")

    def interval(self, metric: str, of_class=None):
        """``(low, high)`` of one value: ``interval("recall", "minority")``,
        ``interval("f1-score", "macro avg")``, ``interval("accuracy")``.

        Needs a report made with ``ci=``. Bounds are nan where the value is undefined (a
        zero denominator). With ``ci_method="wilson"`` or ``"clopper-pearson"`` only
        precision, recall (per class and micro avg) and accuracy have intervals.
        """
        if self._ci is None:
            raise ValueError("this report has no intervals: make it with "
                             "acc.report(ci=0.95, ...)")
        key, what = self._key(metric, of_class)
        got = self._ci["values"].get(key)
        if got is None:
            raise ValueError(
                f"{what} has no {self._ci['method']} interval: it is not a binomial "
                "proportion; use ci_method='bootstrap' or 'bca'")
        from .intervals import Interval

        return Interval(*got)

    # -- rendering ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The ``output_dict=True`` form of ``classification_report``.

        With intervals, each row also has ``"<metric> ci": [low, high]`` entries (where the
        method gives one) and the dict an ``"accuracy ci"`` entry.
        """
        report_dict = {row[0]: row[1:] for row in self._rows}
        for label, scores in report_dict.items():
            report_dict[label] = dict(zip(_HEADERS, [float(i) for i in scores]))
        for heading, avg in self._avg:
            report_dict[heading] = dict(zip(_HEADERS, [float(i) for i in avg]))
        if "accuracy" in report_dict:
            report_dict["accuracy"] = report_dict["accuracy"]["precision"]
        if self._ci is not None:
            values = self._ci["values"]
            for (row, metric), (lo, hi) in values.items():
                if row == "accuracy":
                    report_dict["accuracy ci"] = [lo, hi]
                    continue
                if isinstance(row, int) and row >= len(self._rows):
                    continue  # target_names shorter than labels: rows cut as sklearn cuts
                name = self._rows[row][0] if isinstance(row, int) else row
                report_dict[name][metric + " ci"] = [lo, hi]
        if self._curves is not None:
            named = [(self._rows[i][0], v) for i, v in self._curves["rows"].items()
                     if i < len(self._rows)]
            for name, v in named + list(self._curves["averages"].items()):
                row = report_dict.get(name)
                if isinstance(row, dict):
                    for m in _CURVE_METRICS:
                        row[m] = v[m]
                        row[m + " bounds"] = list(v[m + " bounds"])
        return report_dict

    def __str__(self) -> str:
        text = self._str_with_intervals() if self._ci is not None else self._str_plain()
        return text if self._curves is None else text + self._curves_text()

    def _str_plain(self) -> str:
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

    def _str_with_intervals(self) -> str:
        """Each value followed by its interval: ``0.52 [0.47, 0.57]``; then a line naming
        the method. Values without an interval leave the bracket's place blank."""
        d = self.digits
        values = self._ci["values"]
        vw = d + 2
        iw = 2 * vw + 4
        cw = max(9, vw + 1 + iw)
        name_width = max(len(cn) for cn in self.target_names)
        width = max(name_width, len("weighted avg"), d)

        def cell(v, key):
            text = f"{v:.{d}f}".rjust(vw)
            iv = values.get(key)
            if iv is None:
                return f" {text + ' ' * (iw + 1):>{cw}}"
            lo, hi = iv
            return f" {text + ' ' + f'[{lo:.{d}f}, {hi:.{d}f}]'.rjust(iw):>{cw}}"

        out = f"{'':>{width}s} " + "".join(f" {h:>{cw}}" for h in _HEADERS[:3]) + \
            f" {_HEADERS[3]:>9}" + "\n\n"
        for i, row in enumerate(self._rows):
            out += f"{row[0]:>{width}s} " + "".join(
                cell(row[1 + j], (i, m)) for j, m in enumerate(_HEADERS[:3])) + \
                f" {row[4]!s:>9}\n"
        out += "\n"
        for heading, avg in self._avg:
            if heading == "accuracy":
                out += (f"{heading:>{width}s} " + f" {'':>{cw}}" * 2
                        + cell(avg[2], ("accuracy", "f1-score")) + f" {avg[3]!s:>9}\n")
            else:
                out += f"{heading:>{width}s} " + "".join(
                    cell(avg[j], (heading, m)) for j, m in enumerate(_HEADERS[:3])) + \
                    f" {avg[3]!s:>9}\n"
        c = self._ci
        if c["method"] in ("bootstrap", "bca"):
            kind = "percentile" if c["method"] == "bootstrap" else "BCa"
            source = ("streamed Poisson replicates" if c.get("streamed")
                      else "resamples drawn from the counts")
            how = (f"{kind} bootstrap, {c['n_resamples']} {source}"
                   + ("" if c["seed"] is None else f", seed {c['seed']}"))
        else:
            name = {"wilson": "Wilson score", "clopper-pearson": "Clopper-Pearson"}[c["method"]]
            how = f"{name} (precision, recall, accuracy)"
        out += f"\n{c['level'] * 100:g}% confidence intervals: {how}\n"
        return out

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        """The report as an HTML table for notebooks: the same rows and values as the text
        (``digits`` decimals; support as the text prints it)."""
        from html import escape

        d = self.digits

        def cells(values, support):
            out = "".join("<td></td>" if v is None else f"<td>{float(v):.{d}f}</td>"
                          for v in values)
            return out + f"<td>{escape(str(support))}</td>"

        rows = [f"<tr><th>{escape(str(r[0]))}</th>{cells(r[1:4], r[4])}</tr>"
                for r in self._rows]
        for heading, avg in self._avg:
            vals = [None, None, avg[2]] if heading == "accuracy" else avg[:3]
            rows.append(f"<tr class='average'><th>{escape(heading)}</th>"
                        f"{cells(vals, avg[3])}</tr>")
        head = "".join(f"<th>{h}</th>" for h in _HEADERS)
        html = (f"<table class='confstream-report'><thead><tr><th></th>{head}</tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table>")
        curves = self.curves
        if curves:
            body = "".join(
                f"<tr><th>{escape(str(name))}</th><td>{v['auroc']:.{d}f}</td>"
                f"<td>{v['ap']:.{d}f}</td><td>{escape(str(v['support']))}</td></tr>"
                for name, v in curves.items())
            note = "" if self.curves_exact else (
                "<caption>certified from binned scores (bounds in to_dict())</caption>")
            html += (f"<table class='confstream-curves'>{note}<thead><tr><th></th>"
                     f"<th>auroc</th><th>ap</th><th>support</th></tr></thead>"
                     f"<tbody>{body}</tbody></table>")
        return html

    def __eq__(self, other):
        if not isinstance(other, Report):
            return NotImplemented
        return str(self) == str(other)

    __hash__ = None


def build_report(sums: M.Sums, labels, target_names, *, labels_given: bool,
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


# ---------------------------------------------------------------------------------------------
# intervals (the maths is in intervals.py; this is where a ConfusionMatrix meets it)


def _unweighted_snapshot(acc, what, snap=None):
    snap = acc.copy() if snap is None else snap  # one consistent state for values and intervals
    if snap.weighted:
        streamed = getattr(snap, "_rep", None) is not None
        raise ValueError(
            f"{what} of weighted data: the bootstrap drawn from the counts (and BCa, Wilson, "
            "Clopper-Pearson) assume every sample counts once; "
            + ("the streamed replicates of this accumulator give method 'bootstrap'"
               if streamed else "keep streamed Poisson bootstrap replicates: "
               "ConfusionMatrix(bootstrap=200), then method 'bootstrap'"))
    return snap


def _streamed_margins(rep):
    """(C, B) diagonal, row sums, column sums of (C, C, B) replicate tables."""
    return (np.ascontiguousarray(np.einsum("iib->ib", rep)), rep.sum(axis=1), rep.sum(axis=0))


def _canonical_table(snap):
    """Counts over the space's labels in sorted order, and label -> position.

    Sorting makes the table (and so the draws) independent of the order in which a dynamic
    space met its labels: merged shards give the interval of one stream."""
    values = snap.labels
    order = sorted(range(len(values)), key=lambda i: values[i])
    n = snap.sample_counts
    table = n[np.ix_(order, order)]
    pos = {values[i]: k for k, i in enumerate(order)}
    return table, pos


def _index_of(pos, values):
    out = []
    for v in values:
        v = v.item() if hasattr(v, "item") else v
        try:
            out.append(pos.get(v, -1))
        except TypeError:
            out.append(-1)
    return np.array(out, dtype=np.int64)


def report_with_intervals(acc, labels, target_names, digits, zero_division, *, ci, ci_method,
                          n_resamples, seed) -> Report:
    """``acc.report(...)`` with ``ci``: the plain report plus an interval per value."""
    from . import intervals as CI

    ci, method = CI.check_ci(ci, ci_method, n_resamples)
    snap = acc.copy()
    if method == "bootstrap" and snap._rep is not None:  # the streamed replicates
        report = snap.report(labels, target_names, digits, zero_division)
        pos = {v: i for i, v in enumerate(snap.labels)}
        sel_idx = _index_of(pos, report.labels.tolist())
        tp, true, pred = _streamed_margins(snap._rep)
        values = CI.margin_intervals(tp, true, pred, sel_idx, ci=ci,
                                     zero_division=zero_division,
                                     micro_is_accuracy=report.accuracy is not None)
        report._ci = {"level": ci, "method": method, "n_resamples": snap.bootstrap,
                      "seed": snap._boot.seed, "streamed": True, "values": values}
        return report
    _unweighted_snapshot(acc, "confidence intervals", snap)
    report = snap.report(labels, target_names, digits, zero_division)
    table, pos = _canonical_table(snap)
    sel_idx = _index_of(pos, report.labels.tolist())
    values = CI.report_intervals(table, sel_idx, ci=ci, method=method,
                                 n_resamples=n_resamples, seed=seed,
                                 zero_division=zero_division,
                                 micro_is_accuracy=report.accuracy is not None)
    report._ci = {"level": ci, "method": method,
                  "n_resamples": int(n_resamples) if method in CI.BOOTSTRAPS else None,
                  "seed": seed if isinstance(seed, (int, np.integer)) else None,
                  "values": values}
    return report


def accumulator_interval(acc, metric, ci, *, method, n_resamples, seed, kwargs):
    """``acc.interval(metric, ...)``: over the labels seen, sorted, as the metric itself."""
    from . import intervals as CI

    ci, method = CI.check_ci(ci, method, n_resamples)
    if metric not in CI.METRICS:
        raise ValueError(f"unknown metric {metric!r}; one of {list(CI.METRICS)}")
    if "zero_division" in kwargs:
        M.check_zero_division(kwargs["zero_division"])
    snap = acc.copy()
    streamed = method == "bootstrap" and snap._rep is not None
    if not streamed:
        _unweighted_snapshot(acc, f"an interval for {metric}", snap)
    table, _ = _canonical_table(snap)
    present = (table.sum(axis=0) + table.sum(axis=1)) > 0
    if not present.any():
        raise ValueError("Found empty input array (e.g., `y_true` or `y_pred`) while a "
                         "minimum of 1 sample is required.")
    table = table[np.ix_(present, present)]
    if streamed:
        values = snap.labels
        order = np.array(sorted(range(len(values)), key=lambda i: values[i]), dtype=np.int64)
        order = order[present]
        rep = snap._rep[np.ix_(order, order)]
        return CI.streamed_metric_interval(rep, metric, ci=ci, **kwargs)
    return CI.metric_interval(table, metric, ci=ci, method=method, n_resamples=n_resamples,
                              seed=seed, **kwargs)
