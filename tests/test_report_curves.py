"""Report.with_curves and History: AUROC / AP per class beside the classification report,
against scikit-learn on the same data; the report's own text stays scikit-learn's."""

from __future__ import annotations

import numpy as np
import pytest

import confstream as cs

skm = pytest.importorskip("sklearn.metrics")


def epoch(seed, n=600, c=3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    z = rng.normal(size=(n, c))
    z[np.arange(n), y] += 1.0 + seed / 4
    s = (np.exp(z) / np.exp(z).sum(1, keepdims=True)).astype(np.float16)
    return y, s


def test_with_curves_equals_sklearn_and_keeps_the_report():
    y, s = epoch(0)
    acc = cs.ConfusionMatrix(3).update(y, s.astype(np.float32))
    sc = cs.ScoreCurves(num_classes=3).update(y, s)
    plain = acc.report(target_names=["a", "b", "c"])
    rep = plain.with_curves(sc)
    assert str(rep).startswith(str(plain)) and plain.curves is None
    s64 = s.astype(np.float64)
    for k, name in enumerate("abc"):
        assert rep.get("auroc", name) == skm.roc_auc_score(y == k, s64[:, k])
        assert rep.get("ap", k) == skm.average_precision_score(y == k, s64[:, k])
        assert rep.to_dict()[name]["ap"] == rep.get("ap", name)
        assert rep.curve_bounds("auroc", name) == (rep.get("auroc", name),) * 2
    assert rep.get("roc_auc", "macro avg") == pytest.approx(
        skm.roc_auc_score(np.eye(3)[y], s64, average="macro"), rel=1e-15)
    assert rep.get("ap", "weighted avg") == pytest.approx(
        skm.average_precision_score(np.eye(3)[y], s64, average="weighted"), rel=1e-15)
    assert rep.curves_exact is True
    html = rep._repr_html_()
    assert html.startswith(plain._repr_html_()) and "<th>auroc</th>" in html
    assert f"<td>{rep.get('auroc', 'b'):.2f}</td>" in html
    with pytest.raises(KeyError, match="with_curves"):
        plain.get("auroc", "a")
    ci = acc.report(ci=0.9, n_resamples=50, seed=1).with_curves(sc)
    assert "confidence intervals" in str(ci) and "auroc" in str(ci)


def test_binary_curves_fill_the_positive_row_only():
    y, s = epoch(1, c=2)
    p1 = s[:, 1]
    rep = cs.ConfusionMatrix().update(y, (p1 > 0.5).astype(int)).report().with_curves(
        cs.ScoreCurves().update(y, p1))
    assert rep.get("auroc", 1) == skm.roc_auc_score(y, p1.astype(np.float64))
    with pytest.raises(KeyError, match="positive class only"):
        rep.get("auroc", 0)
    assert "macro avg" not in rep.curves


def test_history_tracks_auroc_and_ap(tmp_path):
    h = cs.History()
    data = [epoch(e) for e in range(3)]
    for y, s in data:
        h.append(cs.ConfusionMatrix(3).update(y, s.astype(np.float32)).report().with_curves(
            cs.ScoreCurves(num_classes=3).update(y, s)))
    want = [skm.roc_auc_score(y == 2, s[:, 2].astype(np.float64)) for y, s in data]
    assert h.get("auroc", 2) == want
    assert h.get("average_precision", 0) == [
        skm.average_precision_score(y == 0, s[:, 0].astype(np.float64)) for y, s in data]
    pytest.importorskip("pandas")
    df = h.to_pandas()
    assert df[(df["epoch"] == 1) & (df["class"] == "2")]["auroc"].item() == want[1]
    assert {"ap_lo", "ap_hi"} <= set(df.columns)
    pytest.importorskip("matplotlib")
    ax = h.plot("auroc", path=tmp_path / "auroc.png")
    assert len(ax.get_lines()) == 3  # one line per class
