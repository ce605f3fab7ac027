"""`confstream demo`: each printed epoch report equals scikit-learn's on the same data."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import classification_report

from confstream import cli, demo


def test_demo_reports_equal_sklearn(capsys, tmp_path):
    epochs, n, seed = 3, 70_000, 7
    png = tmp_path / "recall.png"
    assert cli.main(["demo", "--epochs", str(epochs), "--samples", str(n), "--seed", str(seed),
                     "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        batches = list(demo.simulate_epoch(rng, n, epoch, epochs))
        t = np.concatenate([b[0] for b in batches])
        p = np.concatenate([b[1].argmax(axis=1) for b in batches])
        ref = classification_report(t, p, target_names=demo.CLASSES, digits=3, zero_division=0)
        assert f"epoch {epoch + 1}/{epochs}: {n:,} predictions\n{ref}" in out
    assert "per-class recall by epoch" in out and "minority" in out
    pytest.importorskip("matplotlib")
    assert png.stat().st_size > 5000


def test_demo_recall_of_the_minority_rises_then_falls(capsys):
    cli.main(["demo", "--epochs", "10", "--samples", "30000", "--no-plot"])
    trend = capsys.readouterr().out.split("per-class recall by epoch\n")[1]
    line = next(x for x in trend.splitlines() if x.strip().startswith("minority "))
    recall = [float(v) for v in line.split()[2:]]
    assert len(recall) == 10
    peak = int(np.argmax(recall))
    assert 0 < peak < 9 and recall[-1] < recall[peak] - 0.2


def test_console_script_runs():
    r = subprocess.run([sys.executable, "-m", "confstream.cli", "demo", "--epochs", "1",
                        "--samples", "1000", "--no-plot"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "accuracy" in r.stdout
