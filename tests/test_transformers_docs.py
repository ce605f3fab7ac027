"""The example of docs/transformers.md runs, and prints scikit-learn's figures."""

from __future__ import annotations

import pathlib
import re
import warnings

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from sklearn.metrics import classification_report  # noqa: E402

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "transformers.md"


def test_docs_example_runs_and_matches_sklearn(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the example's output_dir is relative
    code = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(code) == 1
    ns: dict = {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        exec(compile(code[0], "docs/transformers.md", "exec"), ns)
        trainer, metrics = ns["trainer"], ns["metrics"]
        trainer.compute_metrics = None
        out = trainer.predict(ns["eval_rows"])
    y = out.label_ids.reshape(-1)
    p = out.predictions.argmax(-1).reshape(-1)
    keep = y != -100
    names = ns["names"]
    ref = classification_report(y[keep], p[keep], labels=list(range(5)), target_names=names,
                                zero_division=0)
    assert str(metrics.history[-1]) == ref
    d = classification_report(y[keep], p[keep], labels=list(range(5)), target_names=names,
                              zero_division=0, output_dict=True)
    assert ns["result"]["eval_recall_B-PER"] == d["B-PER"]["recall"]
    assert ns["result"]["eval_f1_macro"] == d["macro avg"]["f1-score"]
    assert ref in capsys.readouterr().out
