"""Chunks of a batch counted by free threads (``run_chunks``), each into tables of its own
(``slot_zeros``); the caller merges them."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# Threads. Chunks of a batch are claimed by whichever thread is free: this one and up to
# nthreads - 1 pool threads, each counting into tables of its own (its "slot"). numba's own
# parallel loops give each thread a fixed share instead, and wait for the slowest: on a busy
# machine (data loaders, other jobs) a thread that the OS schedules late then costs a whole
# time slice, ~10 ms, on every batch. Here the calling thread just does the chunks itself.

_pool = None
_pool_size = 0
_pool_lock = threading.Lock()


def _forget_pool():  # a forked child has the pool object but none of its threads
    global _pool, _pool_size
    _pool, _pool_size = None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _workers(n):
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < n:
            old = _pool
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="confstream")
            _pool_size = n
            if old is not None:  # its threads finish what they hold, then end
                old.shutdown(wait=False)
        return _pool


CHUNK_BYTES = 1 << 21  # input bytes per chunk claimed by a thread (benchmarks/run.py)


def run_chunks(run, size, nthreads, grain):
    """Call ``run(i0, i1, slot)`` over [0, size) in chunks of about ``grain`` items.

    Returns the results that were not None (errors), in no particular order. After an error
    no new chunk is handed out: every chunk before it has been claimed already, so the
    earliest error is among the results.
    """
    nchunks = min(size // max(grain, 1), 16 * nthreads)
    if nthreads <= 1 or nchunks <= 1:
        r = run(0, size, 0)
        return [] if r is None else [r]
    step = -(-size // nchunks)
    nchunks = -(-size // step)
    lock = threading.Lock()
    settled = threading.Condition(lock)
    state = [0, 0]  # next chunk to hand out, chunks being counted
    found = []
    failed = []

    def work(slot):
        while True:
            with lock:
                k = state[0]
                if k >= nchunks:
                    return
                state[0] = k + 1
                state[1] += 1
            r = None
            try:
                r = run(k * step, min(size, (k + 1) * step), slot)
            except BaseException as exc:  # re-raised by the calling thread
                failed.append(exc)
            with lock:
                if r is not None or failed:
                    if r is not None:
                        found.append(r)
                    state[0] = nchunks
                state[1] -= 1
                if state[1] == 0:
                    settled.notify_all()

    pool = _workers(nthreads - 1)
    for slot in range(1, nthreads):
        pool.submit(work, slot)
    work(0)
    with lock:
        while state[1] > 0:
            settled.wait()
    if failed:
        raise failed[0]
    return found


def slot_zeros(nslots, shape, dtype=np.int64):
    """(nslots, *shape) zeros whose slots are at least a cache line apart: threads writing
    to neighbouring slots must not share a line (false sharing costs more than the work)."""
    size = int(np.prod(shape))
    pad = 128 // np.dtype(dtype).itemsize
    buf = np.zeros((nslots, size + pad), dtype=dtype)
    return buf[:, :size].reshape((nslots,) + tuple(shape))


def _grain(nbytes_per_item):
    return max(4096, CHUNK_BYTES // max(1, nbytes_per_item))
