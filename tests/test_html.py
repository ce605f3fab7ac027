"""Notebook HTML of the accumulators: the tables parse, hold the exact counts, escape labels.

``ConfusionMatrix`` and ``MultilabelConfusionMatrix`` render as heatmap tables, ``Report``
as its table, the grouped accumulators as one row per group. Parsed back with the standard
library's ``html.parser``, every cell must show what the accumulator holds (counts, weighted
sums in full) and every label exactly as the text report prints it: a label ``"<b>"`` shows
as those three characters, never as markup.
"""

from __future__ import annotations

from html.parser import HTMLParser

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import confstream as cs

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NASTY = ["<b>", "a&b", '"q"', "it's", "</td>", "x<y>z", "plain"]


class Table(HTMLParser):
    """Rows of cells' text, and the tags seen (markup a label must never add)."""

    def __init__(self, html):
        super().__init__()
        self.rows, self.cell, self.tags, self.caption = [], None, [], None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th", "caption"):
            self.cell = ""

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.rows[-1].append(self.cell)
            self.cell = None
        elif tag == "caption":
            self.caption, self.cell = self.cell, None


def number(text):
    v = float(text)
    assert text == (str(int(v)) if v.is_integer() else repr(v))  # printed in full
    return v


@st.composite
def labelled(draw):
    kind = draw(st.sampled_from(["int", "str", "float", "bool"]))
    n = draw(st.integers(1, 60))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "str":
        pool = np.array(draw(st.lists(st.sampled_from(NASTY), min_size=1, max_size=5,
                                      unique=True)))
    elif kind == "float":
        pool = np.array([0.0, 1.0, 2.0, -3.0])
    elif kind == "bool":
        pool = np.array([False, True])
    else:
        pool = np.array([-2, 0, 5, 7, 11])
    t, p = pool[rng.integers(0, len(pool), n)], pool[rng.integers(0, len(pool), n)]
    w = draw(st.sampled_from([None, "int", "float"]))
    if w == "int":
        w = rng.integers(0, 5, n)
    elif w == "float":
        w = rng.random(n) * 3
    return t, p, w, draw(st.booleans()) and kind != "bool"


@SETTINGS
@given(labelled())
def test_matrix_html_parses_and_holds_the_exact_counts(data):
    from sklearn.metrics import confusion_matrix
    from sklearn.utils.multiclass import unique_labels

    t, p, w, fixed = data
    present = unique_labels(t, p)

    def reference(labels):
        if len(labels) < 2:
            return None
        if w is not None and not np.any(w):  # scikit-learn refuses all-zero weights; every
            with pytest.raises(ValueError, match="at least one non-zero"):  # cell is 0
                confusion_matrix(t, p, labels=labels, sample_weight=w)
            return np.zeros((len(labels), len(labels)))
        return confusion_matrix(t, p, labels=labels, sample_weight=w)

    if fixed:  # a fixed space shows its own order, every label of it
        space = present[::-1].tolist() + ([99] if present.dtype.kind == "i" else [])
        acc = cs.ConfusionMatrix(labels=space).update(t, p, sample_weight=w)
        ref = reference(space)
        shown = ["%s" % v for v in space]
    else:
        acc = cs.ConfusionMatrix().update(t, p, sample_weight=w)
        ref = reference(present)
        shown = ["%s" % v for v in present]  # as scikit-learn's report prints them
    html = acc._repr_html_()
    table = Table(html)
    head, *rows = table.rows
    assert head == ["true \\ predicted"] + shown
    assert [r[0] for r in rows] == shown
    got = np.array([[number(c) for c in r[1:]] for r in rows])
    if ref is not None:  # (one label: scikit-learn warns that the matrix is 1 x 1)
        assert np.array_equal(got, ref)
    assert set(table.tags) == {"table", "caption", "thead", "tbody", "tr", "th", "td"}
    assert table.caption.startswith(f"{len(t)} sample")
    assert "<b>" not in html and "<y>" not in html


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(2, 5), st.booleans())
def test_multilabel_html_holds_tn_fp_fn_tp_per_label(seed, L, weighted):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 50))
    t, s = rng.integers(0, 2, (n, L)), rng.random((n, L))
    w = rng.random(n) if weighted else None
    acc = cs.MultilabelConfusionMatrix(L).update(t, s, sample_weight=w)
    head, *rows = Table(acc._repr_html_()).rows
    assert head == ["label", "tn", "fp", "fn", "tp"]
    assert [r[0] for r in rows] == [str(j) for j in range(L)]
    got = np.array([[number(c) for c in r[1:]] for r in rows])
    assert np.array_equal(got, acc.counts.reshape(L, 4))


def test_labels_and_target_names_are_escaped_everywhere():
    t = ["<b>", "a&b", "<b>", "x"]
    p = ["<b>", "x", "a&b", "x"]
    acc = cs.ConfusionMatrix().update(t, p)
    html = acc._repr_html_()
    assert "<b>" not in html and "&lt;b&gt;" in html and "a&amp;b" in html
    head, *rows = Table(html).rows
    assert head[1:] == ["<b>", "a&b", "x"] and [r[0] for r in rows] == ["<b>", "a&b", "x"]
    rep = cs.ConfusionMatrix().update([0, 1, 1], [0, 1, 0]).report(target_names=["<i>", "&"])
    table = Table(rep._repr_html_())
    assert "i" not in table.tags and [r[0] for r in table.rows[1:3]] == ["<i>", "&"]
    g = cs.GroupedConfusionMatrix().update([0, 1], [0, 1], ["<script>", "ok"])
    gt = Table(g._repr_html_())
    assert "script" not in gt.tags and [r[0] for r in gt.rows[1:]] == ["<script>", "ok", "all"]


def test_empty_and_failing_accumulators_render_their_repr():
    for acc in (cs.ConfusionMatrix(), cs.ConfusionMatrix(3), cs.MultilabelConfusionMatrix(2),
                cs.GroupedMultilabelConfusionMatrix(2)):
        html = acc._repr_html_()
        assert html.startswith("<pre>") and "samples=0" in html


def test_grouped_multilabel_html_lists_every_group_with_its_values():
    from sklearn.metrics import accuracy_score, f1_score

    rng = np.random.default_rng(2)
    t, p = rng.integers(0, 2, (40, 3)), rng.integers(0, 2, (40, 3))
    g = np.array(["<a>", "b"])[rng.integers(0, 2, 40)]
    acc = cs.GroupedMultilabelConfusionMatrix(3).update(t, p, g)
    head, *rows = Table(acc._repr_html_()).rows
    assert head == ["group", "accuracy", "f1 micro", "f1 macro", "f1 samples", "samples"]
    assert [r[0] for r in rows] == ["<a>", "b", "all"]
    for r, m in zip(rows, [g == "<a>", g == "b", np.ones(40, bool)]):
        ref = [accuracy_score(t[m], p[m])] + [f1_score(t[m], p[m], average=a, zero_division=0)
                                               for a in ("micro", "macro", "samples")]
        assert [float(x) for x in r[1:5]] == [round(v, 3) for v in ref]
        assert r[5] == str(m.sum())


def test_heatmap_columns_and_weighted_cells_in_full():
    from confstream._html import heatmap

    html = heatmap(np.array([[0.1 + 0.2, 2.0]]), ["<r>"], columns=["c1", "<c2>"], corner="&")
    head, row = Table(html).rows
    assert head == ["&", "c1", "<c2>"] and row == ["<r>", "0.30000000000000004", "2"]
    with pytest.raises(AssertionError):
        number("0.3000")  # the check itself: a rounded value is refused


def test_grouped_tables_with_a_group_of_zero_weight_render():
    g = cs.GroupedConfusionMatrix().update([0, 1, 1], [0, 1, 0], ["a", "b", "b"],
                                           sample_weight=[0.0, 1.0, 1.0])
    rows = Table(g._repr_html_()).rows
    assert [r[0] for r in rows[1:]] == ["a", "b", "all"] and rows[1][1] == "nan"
    m = cs.GroupedMultilabelConfusionMatrix(2).update([[0, 1], [1, 1]], [[0, 1], [1, 0]],
                                                      ["a", "b"], sample_weight=[0.0, 1.0])
    rows = Table(m._repr_html_()).rows
    assert [r[0] for r in rows[1:]] == ["a", "b", "all"] and rows[1][1:5] == ["nan"] * 4
