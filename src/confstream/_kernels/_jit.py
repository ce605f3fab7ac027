"""The jit policy of every confstream kernel: compiled once, cached on disk, GIL released, and
an on-disk cache that several processes may fill at the same time.

numba's cache keeps, per function, an index (signature → data file number) and one data file
per compiled signature. Its ``IndexDataCacheFile.save`` reads the index, takes the first free
number, writes the index, then the data, with no lock: two processes that compile different
signatures of one kernel at the same moment (DDP ranks, data-loader workers, pytest-xdist
workers, two notebooks) can take the same number, and one process later loads the other's
machine code for its signature — wrong numbers or a crash. ``_LockedCacheFile`` does the same
work under an exclusive lock on a file beside the index, and writes the data before the index
names it, so that a reader (which takes no lock) never finds an index entry whose file is
missing or stale. Where the lock cannot be taken (no ``fcntl``, a file system without locks,
a read-only cache) it falls back to numba's own behaviour.
"""

from __future__ import annotations

import contextlib
import itertools
import os

from numba import njit

try:  # the cache file class is numba's internal API: without it, numba's cache as it is
    from numba.core.caching import IndexDataCacheFile
except ImportError:  # pragma: no cover - other numba layouts
    IndexDataCacheFile = None

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


@contextlib.contextmanager
def _locked(path):
    """An exclusive lock on ``path`` (created if missing) for the block; no lock where the
    platform or the file system has none."""
    fd = None
    if fcntl is not None:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            if fd is not None:
                os.close(fd)
            fd = None
    try:
        yield
    finally:
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


if IndexDataCacheFile is not None:

    class _LockedCacheFile(IndexDataCacheFile):
        """numba's index + data files, saved under a lock, data before index."""

        def save(self, key, data):
            with _locked(self._index_path + ".lock"):
                overloads = self._load_index()
                name = overloads.get(key)
                if name is not None:  # the same signature saved again: same number
                    self._save_data(name, data)
                    return
                taken = set(overloads.values())
                name = next(self._data_name(i) for i in itertools.count(1)
                            if self._data_name(i) not in taken)
                self._save_data(name, data)
                overloads[key] = name
                self._save_index(overloads)

        def flush(self):
            with _locked(self._index_path + ".lock"):
                super().flush()
else:  # pragma: no cover
    _LockedCacheFile = None


def _lock_cache(disp):
    """Make a dispatcher's on-disk cache save under a lock (see the module docstring)."""
    cache_file = getattr(getattr(disp, "_cache", None), "_cache_file", None)
    if _LockedCacheFile is not None and type(cache_file) is IndexDataCacheFile:
        cache_file.__class__ = _LockedCacheFile
    return disp


def _policy(**options):
    decorate = njit(nogil=True, cache=True, **options)

    def jit(func):
        return _lock_cache(decorate(func))

    return jit


# One jit policy for every kernel.
_jit = _policy()
# Helpers called inside hot loops are inlined by numba itself: a call that is left to LLVM
# passes arrays by reference count, and the atomic increments cost more than the work.
_ijit = _policy(inline="always")
