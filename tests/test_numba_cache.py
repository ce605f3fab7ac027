"""numba's on-disk cache filled by several processes at once (src/confstream/_kernels/_jit.py).

numba numbers a function's cached signatures as it saves them, without a lock; two processes
saving at once take the same number and one later loads the other's machine code. confstream's
kernels save under a file lock, data before index. Every process here is a child, so a crash
fails the test."""

from __future__ import annotations

import inspect
import os
import pathlib
import subprocess
import sys
import textwrap

import numba
import pytest
from numba.core.registry import CPUDispatcher

import confstream
from confstream._kernels._jit import _LockedCacheFile

REPO = pathlib.Path(__file__).resolve().parent.parent

_SAVES = textwrap.dedent("""
    import sys
    from confstream._kernels._jit import _LockedCacheFile
    path, worker, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    f = _LockedCacheFile(path, "f", ("stamp", 1))
    for j in range(n):
        f.save((worker, j), ("data", worker, j))
""")


def test_processes_saving_at_once_keep_every_entry_with_its_own_data(tmp_path):
    # numba's own IndexDataCacheFile loses or mixes most of these entries (measured: 467 of
    # 600 wrong with 4 processes × 150 saves); the locked one keeps every one.
    workers, n = 4, 150
    procs = [subprocess.Popen([sys.executable, "-c", _SAVES, str(tmp_path), str(w), str(n)])
             for w in range(workers)]
    assert [p.wait(timeout=300) for p in procs] == [0] * workers
    f = _LockedCacheFile(str(tmp_path), "f", ("stamp", 1))
    wrong = [(w, j, f.load((w, j))) for w in range(workers) for j in range(n)
             if f.load((w, j)) != ("data", w, j)]
    assert wrong == []
    assert len(list(tmp_path.glob("f.*.nbc"))) == workers * n  # one data file per entry


def test_a_stale_index_is_renumbered_from_one_and_the_data_comes_first(tmp_path):
    old = _LockedCacheFile(str(tmp_path), "f", ("stamp", 1))
    old.save("a", "old a")
    old.save("b", "old b")
    new = _LockedCacheFile(str(tmp_path), "f", ("stamp", 2))  # the source changed
    assert new.load("a") is None
    new.save("b", "new b")
    assert new.load("b") == "new b" and new.load("a") is None
    assert old.load("b") is None  # the old stamp's index is gone, not mixed


_COMPILE = textwrap.dedent("""
    import sys
    import numpy as np
    from confstream._kernels import _values
    dtype = sys.argv[1]
    x = np.arange(-5, 1000, dtype=dtype)
    lo, hi = _values.min_max(x)
    assert (lo, hi) == (x.min(), x.max()), (dtype, lo, hi)
    print(sum(_values.min_max.stats.cache_hits.values()),
          sum(_values.min_max.stats.cache_misses.values()))
""")

_DTYPES = ("int64", "int32", "float64", "float32")


def test_processes_compiling_one_kernel_at_once_share_the_cache(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))

    def run_all():
        procs = [subprocess.Popen([sys.executable, "-c", _COMPILE, d], env=env, cwd=REPO,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for d in _DTYPES]
        outs = [p.communicate(timeout=600) for p in procs]
        assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
        return [tuple(map(int, o[0].split())) for o in outs]

    first = run_all()  # each compiles its signature into the one (empty) cache, at once
    assert all(miss == 1 for _, miss in first), first
    again = run_all()  # and then finds it there, with its own machine code
    assert again == [(1, 0)] * len(_DTYPES), again


def _dispatchers():
    import confstream._boot_kernels
    import confstream._poisson_kernels
    import confstream._curve_kernels
    import confstream._group_kernels
    import confstream._kernels as K

    mods = [confstream._boot_kernels, confstream._curve_kernels, confstream._group_kernels,
            confstream._poisson_kernels]
    mods += [getattr(K, name) for name in ("_rules", "_single", "_multilabel", "_values")]
    for mod in mods:
        for name, obj in vars(mod).items():
            if isinstance(obj, CPUDispatcher) and inspect.getmodule(obj.py_func) is mod:
                yield f"{mod.__name__}.{name}", obj


def test_every_kernel_follows_the_jit_policy():
    found = dict(_dispatchers())
    assert len(found) > 40
    unlocked = [name for name, d in found.items()
                if type(d._cache._cache_file) is not _LockedCacheFile]
    assert unlocked == []
    assert [name for name, d in found.items() if d.targetoptions.get("nogil") is not True] == []


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="no compiled kernels")
def test_the_library_imports_no_unlocked_jit():
    src = pathlib.Path(confstream.__file__).parent
    hits = [str(p.relative_to(src)) for p in src.rglob("*.py")
            if "njit(" in p.read_text() and p.name != "_jit.py"]
    assert hits == []
