"""The README's Python examples run as written (in order, in one namespace)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_quick_start_has_exactly_two_commands():
    text = README.read_text(encoding="utf-8")
    quick = text.split("## Quick start", 1)[1].split("##", 1)[0]
    cmds = re.findall(r"```bash\n(.*?)```", quick, re.S)[0].strip().splitlines()
    assert cmds == ['pip install -e . && confstream demo', 'pip install -e ".[test]" && pytest']
    ci = (README.parent / ".ci" / "run").read_text()
    assert cmds[1] in ci


def test_python_examples_run(capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("pandas")
    ns: dict = {}
    for code in blocks():
        if "# not run in tests" in code:
            continue
        exec(compile(code, str(README), "exec"), ns)
    assert "report" in ns and "history" in ns
