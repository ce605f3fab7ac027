"""History: per-epoch reports, per-class trends, pandas and plots."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import precision_recall_fscore_support

import confstream as cs


def epochs(n=4, seed=0):
    rng = np.random.default_rng(seed)
    data = []
    for _ in range(n):
        t = rng.integers(0, 3, 400)
        p = np.where(rng.random(400) < 0.6, t, rng.integers(0, 3, 400))
        data.append((t, p))
    return data


def test_get_matches_sklearn_per_epoch():
    h = cs.History()
    data = epochs()
    for t, p in data:
        h.append(cs.ConfusionMatrix().update(t, p).report(target_names=["a", "b", "c"]))
    assert len(h) == 4 and "precision" in str(h[-1])
    for k, name in enumerate(["a", "b", "c"]):
        ref = [precision_recall_fscore_support(t, p)[1][k] for t, p in data]
        assert h.get("recall", name) == ref
        assert h.get("recall", k) == ref
    ref_f1 = [precision_recall_fscore_support(t, p, average="macro")[2] for t, p in data]
    assert h.get("f1", "macro avg") == ref_f1
    assert h.get("accuracy") == [float((t == p).mean()) for t, p in data]
    assert isinstance(h[1:], cs.History) and len(h[1:]) == 3
    with pytest.raises(KeyError):
        h.get("recall", "zebra")
    with pytest.raises(KeyError):
        h.get("loss", 0)
    with pytest.raises(TypeError):
        h.append("not a report")


def test_to_pandas_and_plot(tmp_path):
    pytest.importorskip("pandas")
    pytest.importorskip("matplotlib")
    h = cs.History([cs.ConfusionMatrix().update(t, p).report() for t, p in epochs(3)])
    df = h.to_pandas()
    assert set(df["epoch"]) == {0, 1, 2}
    row = df[(df["epoch"] == 2) & (df["class"] == "1")]
    assert row["recall"].item() == h.get("recall", 1)[2]
    out = tmp_path / "recall.png"
    ax = h.plot("recall", path=out)
    assert out.stat().st_size > 5000
    assert len(ax.get_lines()) == 3
