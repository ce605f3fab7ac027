"""HTML for notebooks: a confusion matrix as a heatmap table (no JavaScript, no images).

``ConfusionMatrix`` is meant to return ``heatmap(self.counts, self.labels)`` from its
``_repr_html_`` (a hook for confusion.py); ``GroupedConfusionMatrix`` renders its per-group
table itself.
"""

from __future__ import annotations

from html import escape

import numpy as np

__all__ = ["heatmap"]


def heatmap(counts, labels, *, title: str = "") -> str:
    """A table whose cells are shaded by their share of the largest cell (rows: true labels,
    columns: predicted labels), each showing its count (or weighted sum)."""
    counts = np.asarray(counts)
    names = [escape("%s" % (lab,)) for lab in labels]
    top = float(counts.max()) if counts.size else 0.0
    head = "".join(f"<th>{n}</th>" for n in names)
    rows = []
    for i, name in enumerate(names):
        cells = []
        for v in counts[i].tolist():
            share = v / top if top > 0 else 0.0
            fg = "white" if share > 0.6 else "black"
            text = str(int(v)) if float(v).is_integer() else f"{v:.4g}"
            cells.append(f"<td style='background: rgba(31, 119, 180, {share:.3f}); "
                         f"color: {fg}; text-align: right'>{text}</td>")
        rows.append(f"<tr><th>{name}</th>{''.join(cells)}</tr>")
    caption = f"<caption>{escape(title)}</caption>" if title else ""
    return (f"<table class='confstream-matrix'>{caption}<thead><tr><th>true \\ predicted</th>"
            f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
