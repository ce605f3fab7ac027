"""The flat metric names that Keras, Lightning and the Hugging Face Trainer log.

One rule for every adapter, so that a monitor key such as ``"val_recall_pos"`` means the same
thing in ``keras.callbacks.EarlyStopping``, Lightning's ``ModelCheckpoint`` and a
``transformers`` log:

- per class: ``f"{prefix}{metric}_{name}"``, ``metric`` one of ``precision``, ``recall``,
  ``f1``, ``support``; ``name`` the class's target name, else ``"%s" % label`` (the report's
  row name, as scikit-learn prints it);
- averages: ``f"{prefix}{metric}_{average}"``, ``average`` one of ``micro``, ``macro``,
  ``weighted``, ``samples`` (the report's ``"macro avg"`` row gives ``f1_macro``, ...);
- ``f"{prefix}accuracy"`` where the report has an accuracy row.

Values are read from a :class:`confstream.Report`; nothing is computed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["METRICS", "AVERAGES", "class_key", "check_metrics", "check_prefix", "report_keys"]

METRICS = ("precision", "recall", "f1", "support")
AVERAGES = ("micro", "macro", "weighted", "samples")
# The report's column for each metric name used in keys.
_COLUMN = {"precision": "precision", "recall": "recall", "f1": "f1-score", "support": "support"}


def class_key(prefix: str, metric: str, name: Any) -> str:
    """The key of one per-class value: ``class_key("val_", "recall", "pos") == "val_recall_pos"``."""
    return f"{prefix}{metric}_{name}"


def check_metrics(metrics: Sequence[str] | str) -> tuple[str, ...]:
    """``metrics`` as a tuple without repeats, or ValueError naming the unknown ones."""
    if isinstance(metrics, str):
        metrics = (metrics,)
    metrics = tuple(dict.fromkeys(metrics))
    if not metrics or any(m not in METRICS for m in metrics):
        raise ValueError(f"metrics must be a non-empty subset of {METRICS}, got {metrics!r}")
    return metrics


def check_prefix(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a str, got {value!r}")
    return value


def report_keys(
    report: Any,
    *,
    prefix: str = "",
    metrics: Sequence[str] = ("precision", "recall", "f1"),
    per_class: bool = True,
    averages: bool = True,
) -> dict[str, float]:
    """The report's values as flat ``{key: float}`` (per class, averages, accuracy).

    Raises ValueError when a class's row name would give the same key as an average (a class
    called ``"macro"``): give ``target_names`` to tell them apart.
    """
    metrics = check_metrics(metrics)
    out: dict[str, float] = {}
    if per_class:
        names = report.target_names
        if averages:
            clash = sorted(set(map(str, names)) & set(AVERAGES))
            if clash:
                raise ValueError(
                    f"class names {clash} would be logged under the same keys as the averages "
                    f"(e.g. {class_key(prefix, metrics[0], clash[0])!r}); give target_names"
                )
        columns = {"precision": report.precision, "recall": report.recall,
                   "f1": report.f1, "support": report.support}
        for metric in metrics:
            for name, value in zip(names, columns[metric]):
                out[class_key(prefix, metric, name)] = float(value)
    if averages:
        for heading, row in report.averages.items():
            average = heading[: -len(" avg")]
            for metric in metrics:
                if metric != "support":
                    out[f"{prefix}{metric}_{average}"] = float(row[_COLUMN[metric]])
        if report.accuracy is not None:
            out[f"{prefix}accuracy"] = float(report.accuracy)
    return out


def interval_keys(
    report: Any,
    *,
    prefix: str = "",
    metrics: Sequence[str] = ("precision", "recall", "f1"),
    per_class: bool = True,
    averages: bool = True,
) -> dict[str, float]:
    """The bounds of a report made with ``ci=``: ``f"{key}_lo"`` / ``f"{key}_hi"`` beside each
    key of ``report_keys`` that has an interval (no support; no F1 for Wilson and
    Clopper-Pearson, which give proportions only). NaN where the value is undefined."""
    metrics = tuple(m for m in check_metrics(metrics) if m != "support")
    out: dict[str, float] = {}

    def put(key, metric, of_class):
        try:
            lo, hi = report.interval(metric, of_class)
        except ValueError:  # no interval of this method for this value (e.g. Wilson's F1)
            return
        except KeyError:  # a class absent from the report
            lo = hi = float("nan")
        out[key + "_lo"], out[key + "_hi"] = float(lo), float(hi)

    if per_class:
        for metric in metrics:
            for name, label in zip(report.target_names, report.labels.tolist()):
                put(class_key(prefix, metric, name), _COLUMN[metric], label)
    if averages:
        for heading in report.averages:
            for metric in metrics:
                put(f"{prefix}{metric}_{heading[: -len(' avg')]}", _COLUMN[metric], heading)
        if report.accuracy is not None:
            put(f"{prefix}accuracy", "accuracy", None)
    return out
