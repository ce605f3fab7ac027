"""HTML for notebooks: confusion matrices as heatmap tables (no JavaScript, no images).

``ConfusionMatrix._repr_html_`` and ``MultilabelConfusionMatrix._repr_html_`` call
``matrix_html`` / ``multilabel_html``; ``Report`` and the grouped accumulators render their
own tables. Every label and title is escaped: a label ``"<b>"`` shows as those three
characters. Cells show the exact counts (weighted sums in full, as ``repr`` prints them).
"""

from __future__ import annotations

from html import escape

import numpy as np

__all__ = ["heatmap", "matrix_html", "multilabel_html"]


def _number(v) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() else repr(v)


def heatmap(counts, labels, *, title: str = "", columns=None,
            corner: str = "true \\ predicted") -> str:
    """A table whose cells are shaded by their share of the largest cell, each showing its
    count (or weighted sum). Rows are ``labels``; columns are ``columns`` (default: the
    labels again, as in a confusion matrix: rows true, columns predicted)."""
    counts = np.asarray(counts)
    names = [escape("%s" % (lab,)) for lab in labels]
    cols = names if columns is None else [escape("%s" % (c,)) for c in columns]
    top = float(counts.max()) if counts.size else 0.0
    head = "".join(f"<th>{n}</th>" for n in cols)
    rows = []
    for i, name in enumerate(names):
        cells = []
        for v in counts[i].tolist():
            share = v / top if top > 0 else 0.0
            fg = "white" if share > 0.6 else "black"
            cells.append(f"<td style='background: rgba(31, 119, 180, {share:.3f}); "
                         f"color: {fg}; text-align: right'>{_number(v)}</td>")
        rows.append(f"<tr><th>{name}</th>{''.join(cells)}</tr>")
    caption = f"<caption>{escape(title)}</caption>" if title else ""
    return (f"<table class='confstream-matrix'>{caption}<thead><tr><th>{escape(corner)}</th>"
            f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _shown(v, kinds):
    """A label as scikit-learn's report prints it (float labels ``1.0``, bools ``True``)."""
    if isinstance(v, str):
        return v
    if "float" in kinds:
        return float(v)
    if kinds == {"bool"}:
        return bool(v)
    return v


def _title(samples, weighted, total) -> str:
    s = f"{samples} sample{'' if samples == 1 else 's'}"
    return s + (f", total weight {_number(total)}" if weighted else "")


def _plain(acc) -> str:
    return f"<pre>{escape(repr(acc))}</pre>"


def matrix_html(acc) -> str:
    """A ``ConfusionMatrix`` as a heatmap: rows true labels, columns predicted labels (the
    matrix scikit-learn's ``confusion_matrix`` gives on the same data)."""
    try:
        counts, labels, weighted = acc.counts, acc.labels, acc.weighted
        samples = int(acc.sample_counts.sum())
    except ValueError:  # a pending device error: the repr names it
        return _plain(acc)
    if not samples:
        return _plain(acc)
    tk, pk = acc._label_kinds()
    kinds = tk | pk
    # a fixed space in its given order; a growing one sorted, as scikit-learn's
    # confusion_matrix orders the labels it finds (the state keeps order of appearance)
    order = list(range(len(labels)))
    if not acc.fixed:
        order.sort(key=lambda i: labels[i])
    counts = counts[np.ix_(order, order)]
    names = [_shown(labels[i], kinds) for i in order]
    return heatmap(counts, names, title=_title(samples, weighted, acc._wsum))


def multilabel_html(acc) -> str:
    """A ``MultilabelConfusionMatrix`` as a heatmap: one row per label, its tn, fp, fn, tp."""
    try:
        counts, weighted, samples = acc.counts, acc.weighted, acc._nsamples
    except ValueError:
        return _plain(acc)
    if not samples:
        return _plain(acc)
    return heatmap(counts.reshape(len(acc.labels), 4), acc.labels,
                   title=_title(samples, weighted, acc._wsum),
                   columns=["tn", "fp", "fn", "tp"], corner="label")
