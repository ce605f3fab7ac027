"""The benchmark command in quick mode: every result it times is asserted equal to its reference.

Timings are printed by the command and ignored here (they are not tests).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("sklearn")

RUN = os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks", "run.py")


def test_benchmarks_quick_mode_checks_every_answer():
    r = subprocess.run([sys.executable, RUN, "--quick"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "goals met" in r.stdout
