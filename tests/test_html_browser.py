"""The notebook HTML as a browser shows it: a page of ``_repr_html_`` outputs in headless
Chromium, read back from the rendered DOM.

The page holds a ``ConfusionMatrix`` heatmap (labels that look like markup), a
``MultilabelConfusionMatrix`` heatmap, a ``Report`` and the per-group tables of both grouped
accumulators. A script in the page walks every rendered table and writes, for each cell, the
text the browser lays out (``innerText``), its computed background colour
(``getComputedStyle``) and its box on the page; Chromium's ``--dump-dom`` hands that back, and
a screenshot of the same page shows each heatmap cell painted in that colour. The cells must show scikit-learn's numbers (confusion_matrix,
multilabel_confusion_matrix, classification_report, per-group recall / F1), and the shading
must follow the counts: a larger count is never lighter, the largest cell is full colour, an
empty cell transparent, and dark cells carry white text.

Chromium comes from the system (``apt-get install chromium``; ``.ci/run`` installs it). Where
it is missing the test fails under CI (``CI`` set) and is skipped elsewhere.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import warnings

import numpy as np
import pytest
from sklearn.metrics import (
    classification_report,
    confusion_matrix,
    f1_score,
    multilabel_confusion_matrix,
    recall_score,
)

import confstream as cs

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")

SCRIPT = """
<script>
const out = [];
for (const div of document.querySelectorAll('div.case')) {
  const tables = [];
  for (const table of div.querySelectorAll('table')) {
    const rows = [];
    for (const tr of table.querySelectorAll('tr')) {
      rows.push([...tr.children].map(c => {
        const s = getComputedStyle(c), r = c.getBoundingClientRect();
        return {tag: c.tagName.toLowerCase(), text: c.innerText, bg: s.backgroundColor,
                color: s.color, shown: r.width > 0 && r.height > 0,
                box: [r.left, r.top, r.width, r.height]};
      }));
    }
    tables.push({cls: table.className, rows: rows});
  }
  out.push({id: div.id, tables: tables});
}
const bytes = new TextEncoder().encode(JSON.stringify(out));
let bin = '';
for (const b of bytes) bin += String.fromCharCode(b);
document.getElementById('result').textContent = btoa(bin);
</script>
"""


def chromium():
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail("no headless browser: CI must have chromium (.ci/run installs it with "
                    "apt-get install chromium)")
    pytest.skip("no chromium on this machine (apt-get install -y --no-install-recommends "
                "chromium, as .ci/run does)")


WINDOW = (900, 700)


def browse(tmp_path, page, *what: str) -> subprocess.CompletedProcess:
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", "--disable-extensions", "--hide-scrollbars",
           "--force-device-scale-factor=1", f"--window-size={WINDOW[0]},{WINDOW[1]}",
           f"--user-data-dir={tmp_path / 'profile'}", *what, page.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)


def render(tmp_path, cases: dict) -> dict:
    """Load a page of ``{id: html}`` in headless Chromium; ``{id: [table, ...]}`` as shown."""
    chromium()
    body = "".join(f"<div class='case' id='{k}'>{html}</div>" for k, html in cases.items())
    page = tmp_path / "page.html"
    # room around the numbers (the cells' padding, painted with their background)
    page.write_text(f"<!doctype html><html><head><meta charset='utf-8'>"
                    f"<style>td {{ padding: 6px 14px; }}</style></head>"
                    f"<body style='margin: 8px; background: white'>{body}"
                    f"<pre id='result'></pre>{SCRIPT}</body></html>", encoding="utf-8")
    proc = browse(tmp_path, page, "--dump-dom")
    m = re.search(r"<pre id=\"result\">([A-Za-z0-9+/=]+)</pre>", proc.stdout)
    assert m, f"the page's script left no result (rc {proc.returncode}): {proc.stderr[-2000:]}"
    shown = json.loads(base64.b64decode(m.group(1)).decode("utf-8"))
    return {case["id"]: case["tables"] for case in shown}


def rgba(css: str) -> tuple:
    """A computed colour, ``rgb(r, g, b)`` or ``rgba(r, g, b, a)``, as (r, g, b, a)."""
    m = re.fullmatch(r"rgba?\(([\d.]+), ([\d.]+), ([\d.]+)(?:, ([\d.]+))?\)", css)
    assert m, css
    r, g, b, a = m.groups()
    return float(r), float(g), float(b), 1.0 if a is None else float(a)


def check_heatmap(rows, counts, row_names, col_names):
    """The rendered heatmap shows ``counts`` under these names, shaded in the counts' order."""
    head, *body = rows
    assert [c["text"] for c in head[1:]] == col_names
    assert [r[0]["text"] for r in body] == row_names
    shown = np.array([[float(c["text"]) for c in r[1:]] for r in body])
    assert np.array_equal(shown, counts)
    cells = [c for r in body for c in r[1:]]
    assert all(c["shown"] and c["tag"] == "td" for c in cells)
    colour = [rgba(c["bg"]) for c in cells]
    assert {c[:3] for c in colour} == {(31.0, 119.0, 180.0)}   # one hue, shaded by alpha
    alpha = np.array([c[3] for c in colour])
    flat = counts.ravel().astype(float)
    order = np.argsort(flat, kind="stable")
    assert np.all(np.diff(alpha[order]) >= 0), "a larger count is shaded lighter"
    assert alpha[flat.argmax()] == 1.0
    assert np.all(alpha[flat == 0] == 0.0)
    top = flat.max()
    for c, v in zip(cells, flat):
        white = rgba(c["color"])[:3] == (255.0, 255.0, 255.0)
        assert white == (v / top > 0.6), (v, c["color"])     # readable on dark cells


def check_pixels(tmp_path, table, counts):
    """The painted page: at each cell of a screenshot (in its padding, beside the number), the
    colour is the cell's blue laid over the white page, darker for every larger count."""
    image = pytest.importorskip("matplotlib.image")
    proc = browse(tmp_path, tmp_path / "page.html", "--screenshot=shot.png")
    assert (tmp_path / "shot.png").exists(), proc.stderr[-2000:]
    png = image.imread(tmp_path / "shot.png")[:, :, :3] * 255     # RGB, 0..255
    assert png.shape[:2] == (WINDOW[1], WINDOW[0])
    seen = []
    for row, want in zip(table["rows"][1:], counts):
        for cell, v in zip(row[1:], want):
            left, top, width, height = cell["box"]
            assert left + width < WINDOW[0] and top + height < WINDOW[1]
            x, y = int(left + 5), int(top + 3)
            got = png[y - 1:y + 2, x - 1:x + 2].reshape(-1, 3).mean(axis=0)
            a = rgba(cell["bg"])[3]
            expect = 255 - a * (255 - np.array([31.0, 119.0, 180.0]))
            assert np.all(np.abs(got - expect) <= 3), (v, got, expect)
            seen.append((v, got.sum()))
    seen.sort()
    brightness = [b for _, b in seen]
    assert all(b1 >= b2 - 3 for b1, b2 in zip(brightness, brightness[1:])), seen
    assert brightness[-1] < 31 + 119 + 180 + 9                  # the largest: full blue
    assert brightness[0] > brightness[-1] + 200                 # the smallest: far lighter


def quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def test_notebook_tables_render_in_a_browser_as_sklearn_computes_them(tmp_path):
    chromium()                                      # skip (or fail in CI) before the work
    rng = np.random.default_rng(21)
    n = 900
    names = np.array(["<b>", "a&b", "cat", "dog"])
    t = names[rng.choice(4, n, p=[0.4, 0.3, 0.2, 0.1])]
    p = np.where(rng.random(n) < 0.6, t, names[rng.integers(0, 4, n)])
    region = rng.choice(["eu", "us", "<apac>"], n)
    tags = (rng.random((n, 3)) < [0.5, 0.3, 0.1]).astype(int)
    scores = np.clip(0.4 * tags + 0.7 * rng.random((n, 3)), 0, 1)

    cm = cs.ConfusionMatrix().update(t, p)
    ml = cs.MultilabelConfusionMatrix(3).update(tags, scores)
    report = cm.report(digits=3)
    grouped = cs.GroupedConfusionMatrix().update(t, p, region)
    grouped_ml = cs.GroupedMultilabelConfusionMatrix(3).update(tags, scores, region)
    shown = render(tmp_path, {"cm": cm._repr_html_(), "ml": ml._repr_html_(),
                              "report": report._repr_html_(), "grouped": grouped._repr_html_(),
                              "grouped_ml": grouped_ml._repr_html_()})

    labels = sorted(set(t) | set(p))
    (table,) = shown["cm"]
    assert table["cls"] == "confstream-matrix"
    check_heatmap(table["rows"], confusion_matrix(t, p, labels=labels), labels, labels)
    check_pixels(tmp_path, table, confusion_matrix(t, p, labels=labels))

    pred = (scores > 0.5).astype(int)
    (table,) = shown["ml"]
    check_heatmap(table["rows"], multilabel_confusion_matrix(tags, pred).reshape(3, 4),
                  ["0", "1", "2"], ["tn", "fp", "fn", "tp"])

    # the report: each row as scikit-learn's classification_report prints it
    (table,) = shown["report"]
    ref = quiet(classification_report, t, p, digits=3).splitlines()
    ref_rows = {}
    for line in ref[2:]:
        parts = line.split()
        if not parts:
            continue
        k = 1 if parts[0] == "accuracy" else len(parts) - 4
        ref_rows[" ".join(parts[:k])] = parts[k:]
    got = {r[0]["text"]: [c["text"] for c in r[1:] if c["text"]] for r in table["rows"][1:]}
    assert got == ref_rows
    assert [c["text"] for c in table["rows"][0][1:]] == ["precision", "recall", "f1-score",
                                                          "support"]

    # per-group tables: every group, then all of them, with scikit-learn's values
    (table,) = shown["grouped"]
    head = [c["text"] for c in table["rows"][0]]
    rows = {r[0]["text"]: [c["text"] for c in r] for r in table["rows"][1:]}
    groups = sorted(set(region))
    assert list(rows) == groups + ["all"]
    for g in groups + ["all"]:
        m = region == g if g != "all" else np.ones(n, bool)
        for label in labels:
            r = quiet(recall_score, t[m], p[m], labels=[label], average=None, zero_division=0)
            assert rows[g][head.index(f"recall {label}")] == f"{r[0]:.3f}", (g, label)
        assert rows[g][-1] == str(int(m.sum()))
    (table,) = shown["grouped_ml"]
    head = [c["text"] for c in table["rows"][0]]
    rows = {r[0]["text"]: [c["text"] for c in r] for r in table["rows"][1:]}
    assert list(rows) == groups + ["all"]
    for g in groups + ["all"]:
        m = region == g if g != "all" else np.ones(n, bool)
        for avg in ("micro", "macro", "samples"):
            f = quiet(f1_score, tags[m], pred[m], average=avg, zero_division=0)
            assert rows[g][head.index(f"f1 {avg}")] == f"{f:.3f}", (g, avg)
        assert rows[g][-1] == str(int(m.sum()))


def test_missing_browser_fails_under_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI must have chromium"):
        chromium()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="no chromium"):
        chromium()
