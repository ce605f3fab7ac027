"""`confstream report` memory does not grow with the file.

Each measurement runs the command in a fresh child process, under a wrapper process that reads
the peak resident set size of its only child (``RUSAGE_CHILDREN``). A control run reads the
big file in a single chunk, to show that the measurement does see a file held in memory.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pcsv = pytest.importorskip("pyarrow.csv")
pq = pytest.importorskip("pyarrow.parquet")

# SMALL is read in 4 chunks, BIG in 16.
SMALL, BIG = 1_000_000, 4_000_000

_WRAPPER = (
    "import resource, subprocess, sys\n"
    "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
    "assert r.returncode == 0, r.stderr.decode()\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def peak_mb(*argv) -> float:
    """Peak RSS in MB of ``confstream`` run with ``argv`` in a fresh process (Linux: KiB)."""
    r = subprocess.run([sys.executable, "-c", _WRAPPER, sys.executable, "-m", "confstream.cli",
                        *map(str, argv)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return int(r.stdout) / 1024


def columns(n: int):
    rng = np.random.default_rng(n)
    t = rng.integers(0, 5, n)
    p = np.where(rng.random(n) < 0.3, rng.integers(0, 5, n), t)
    return t, p


def write_csv(path, n):
    t, p = columns(n)
    pcsv.write_csv(pa.table({"t": t, "p": p}), path)


def write_parquet(path, n):
    t, p = columns(n)
    pq.write_table(pa.table({"t": t, "p": p}), path)


def write_npz(path, n):
    t, p = columns(n)
    np.savez_compressed(path, t=t.astype(np.int8), p=p.astype(np.int8))   # quick to zip


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """One run first, so that numba's on-disk cache is filled before anything is measured."""
    tiny = tmp_path_factory.mktemp("warm") / "tiny.csv"
    write_csv(tiny, 10)
    peak_mb("report", tiny, "--true", "t", "--pred", "p")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss units differ")
@pytest.mark.parametrize("suffix, writer, control", [
    (".csv", write_csv, True), (".parquet", write_parquet, False), (".npz", write_npz, False)])
def test_memory_does_not_grow_with_the_file(tmp_path, warm, suffix, writer, control):
    small, big = tmp_path / f"small{suffix}", tmp_path / f"big{suffix}"
    writer(small, SMALL)
    writer(big, BIG)
    args = ["--true", "t", "--pred", "p"]              # the default chunk size: 250,000 rows
    m_small = peak_mb("report", small, *args)
    m_big = peak_mb("report", big, *args)
    # 4 times the rows in the same memory (plus a little allocator noise) ...
    assert m_big < 1.1 * m_small + 10, (m_small, m_big)
    if control:
        # ... while holding the big file at once shows (8 bytes a label at least): the
        # measurement does see a file held in memory.
        m_whole = peak_mb("report", big, *args, "--chunksize", BIG)
        assert m_whole > m_small + 2 * BIG * 8 / 2**20 * 0.75, (m_small, m_big, m_whole)
