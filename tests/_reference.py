"""Shared helpers for the differential tests: scikit-learn is the reference."""

from __future__ import annotations

import math
import warnings

import numpy as np
from hypothesis import strategies as st


def split(n: int, cuts) -> list:
    """Batch boundaries from sorted cut points in [0, n] (repeats give empty batches)."""
    bounds = [0] + sorted(min(max(c, 0), n) for c in cuts) + [n]
    return list(zip(bounds[:-1], bounds[1:]))


@st.composite
def cuts(draw, n):
    return draw(st.lists(st.integers(0, max(n, 0)), max_size=6))


def raises_same(ref_fn, got_fn):
    """If the reference raises ValueError, the engine must too (with the same message)."""
    try:
        ref_fn()
    except ValueError as exc:
        import pytest

        with pytest.raises(ValueError) as info:
            got_fn()
        assert str(info.value) == str(exc)
        return True
    return False


def recorded(fn, *args, **kwargs):
    """Run fn, returning (result, [(warning class name, message), ...])."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*args, **kwargs)
    return result, [(w.category.__name__, str(w.message)) for w in caught]


def same(a, b, approx_keys=()) -> bool:
    """Equality of nested dicts / floats where nan == nan; keys in approx_keys within 4 ulp."""
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return False
        return all(
            same(a[k], b[k], approx_keys) if k not in approx_keys else close(a[k], b[k])
            for k in a
        )
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return type(a) is type(b) and a == b


def close(a, b) -> bool:
    if isinstance(a, dict):
        return list(a) == list(b) and all(close(a[k], b[k]) for k in a)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= 4 * np.spacing(max(abs(a), abs(b), 1e-300))


ZERO_DIVISION = st.sampled_from(["warn", 0, 1, 0.0, 1.0, np.nan])


def dask_client(processes: bool):
    """A Dask client on a LocalCluster of 2 single-thread workers (processes, or threads in
    this process: cheap to start, the tasks still go through the scheduler), closed after;
    distributed's start-up chatter silenced. A generator for module fixtures."""
    import pytest

    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, processes=processes,
                                           threads_per_worker=1, dashboard_address=None,
                                           silence_logs=50)
        c = distributed.Client(cluster)
    try:
        yield c
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            c.close()
            cluster.close()


def cli_output(*argv) -> tuple:
    """``confstream ARGV`` in this process: (exit status, stdout, stderr)."""
    import contextlib
    import io

    from confstream import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()
