"""The kernels' plain numba paths: the kernel, parity and engine tests again with
CONFSTREAM_SIMD=0 (no LLVM-IR vector bodies), in a child process since the switch is read at
import."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).parent


def test_plain_kernels_pass_the_kernel_tests():
    env = dict(os.environ, CONFSTREAM_SIMD="0")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-n", "0", "-p", "no:cacheprovider",
         str(HERE / "test_kernel_paths.py"), str(HERE / "test_engine.py"), "-k", "not threads",
         "-W", "error"],
        env=env, capture_output=True, text=True, timeout=900, cwd=HERE.parent)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout


def test_the_switch_turns_the_vector_bodies_off():
    code = "import confstream._kernels as K; print(K.SIMD)"
    for value, want in (("0", "False"), ("1", "True")):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=dict(os.environ, CONFSTREAM_SIMD=value), timeout=120)
        assert out.stdout.strip() == want, out.stderr
    if os.environ.get("CONFSTREAM_SIMD") == "0":
        pytest.skip("this run is the plain one")
