"""The examples of docs/torch.md run, and print what they say they print."""

from __future__ import annotations

import pathlib
import re

import pytest

torch = pytest.importorskip("torch")

from sklearn.metrics import classification_report  # noqa: E402

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "torch.md"


def blocks():
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_docs_examples_run_and_match_sklearn(capsys):
    code = blocks()
    assert len(code) == 4
    ns: dict = {}
    loop, evaluate_block, ddp, generators = code
    exec(compile(loop, "docs/torch.md (loop)", "exec"), ns)
    model, val = ns["model"], ns["val"]
    x_val, y_val = val.dataset.tensors
    with torch.no_grad():
        pred = model(x_val).argmax(dim=1).numpy()
    ref = classification_report(y_val.numpy(), pred, zero_division=0)
    assert str(ns["history"][-1]) == ref
    assert len(ns["history"].get("recall", of_class=2)) == 3

    model.train()
    exec(compile(evaluate_block, "docs/torch.md (evaluate)", "exec"), ns)
    assert str(ns["acc"].report(zero_division=0)) == ref
    assert model.training  # restored

    compile(ddp, "docs/torch.md (ddp)", "exec")  # needs torchrun; see test_torch_sync.py

    exec(compile(generators, "docs/torch.md (generators)", "exec"), ns)
    X, y, clf = ns["X"], ns["y"], ns["clf"]
    assert str(ns["acc"].report()) == classification_report(y[500:], clf.predict(X[500:]))
    assert ref in capsys.readouterr().out
