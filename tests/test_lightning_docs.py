"""The examples of docs/lightning.md run, and print scikit-learn's figures."""

from __future__ import annotations

import pathlib
import re
import warnings

import pytest

pl = pytest.importorskip("lightning.pytorch")
torch = pytest.importorskip("torch")

from sklearn.metrics import classification_report  # noqa: E402

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "lightning.md"


def test_docs_examples_run_and_match_sklearn(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # ModelCheckpoint writes under the working directory
    code = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(code) == 2
    ns: dict = {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*litlogger.*")
        exec(compile(code[0], "docs/lightning.md (fit)", "exec"), ns)
        net = ns["trainer"].lightning_module.net
        x, y = ns["x"][400:], ns["y"][400:]
        with torch.no_grad():
            pred = net(x).argmax(1).numpy()
        names = ["common", "rare", "very_rare"]
        ref = classification_report(y.numpy(), pred, labels=[0, 1, 2], target_names=names,
                                    zero_division=0)
        assert str(ns["metrics"].history[-1]) == ref
        assert len(ns["metrics"].history) == 3
        recalls = ns["metrics"].history.get("recall", "very_rare")
        assert float(ns["best"].best_model_score) == max(recalls)
        exec(compile(code[1], "docs/lightning.md (test)", "exec"), ns)
    out = capsys.readouterr().out
    assert ref in out
    assert "very_rare" in out
