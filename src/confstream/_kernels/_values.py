"""Kernels over label values before counting: integer checks, ranges, distinct values and
the hash table that codes string labels."""

from __future__ import annotations

import numpy as np

from ._rules import _F_HI, _F_LO, _int_of, _jit

@_jit
def first_not_integer(x):
    """Position of the first value that is not a finite integer, or -1."""
    for i in range(x.shape[0]):
        v = x[i]
        if not (v > _F_LO and v < _F_HI) or np.floor(v) != v:  # NaN, infinities, beyond int64
            return i
    return -1


@_jit
def min_max(x):
    lo = x[0]
    hi = x[0]
    for i in range(1, x.shape[0]):  # selects, not branches: the loop vectorises
        v = x[i]
        lo = v if v < lo else lo
        hi = v if v > hi else hi
    return lo, hi


@_jit
def distinct_ints(x, max_span):
    """Sorted distinct values of an integer array through a table over [min, max], and True;
    or (empty, False) when they span more than ``max_span`` (then ``np.unique`` does better).

    Two reads of the data and no sort: what a dynamic label space needs when it grows.
    """
    out = np.empty(0, dtype=np.int64)
    if x.shape[0] == 0:
        return out, True
    lo, hi = min_max(x)
    ilo, ok_lo = _int_of(lo)
    ihi, ok_hi = _int_of(hi)
    span = ihi - ilo
    if not (ok_lo and ok_hi) or span < 0 or span >= max_span:
        return out, False
    seen = np.zeros(span + 1, dtype=np.bool_)
    for i in range(x.shape[0]):
        seen[np.uint64(np.int64(x[i]) - ilo)] = True
    return np.flatnonzero(seen) + ilo, True


# ---------------------------------------------------------------------------------------------
# String labels: fixed-width code units (numpy 'U' arrays viewed as uint32 rows) looked up in
# an open-addressing hash table of the label space; no sort, one pass.


@_jit
def _row_hash(rows, i):
    h = np.uint64(1469598103934665603)  # FNV-1a over the row's code units
    for j in range(rows.shape[1]):
        h = (h ^ np.uint64(rows[i, j])) * np.uint64(1099511628211)
    return h


@_jit
def str_table(keys, size):
    """Slots (a power of two) holding row indices of ``keys``, -1 where empty."""
    table = np.full(size, -1, dtype=np.int64)
    mask = np.uint64(size - 1)
    for k in range(keys.shape[0]):
        s = _row_hash(keys, k) & mask
        while table[s] >= 0:
            s = (s + np.uint64(1)) & mask
        table[s] = k
    return table


@_jit
def str_codes(rows, keys, table, codes, out):
    """out[i] = codes[k] where rows[i] equals keys[k]; returns the first row not among
    the keys (-1 when every row was found)."""
    mask = np.uint64(table.shape[0] - 1)
    w = rows.shape[1]
    for i in range(rows.shape[0]):
        s = _row_hash(rows, i) & mask
        while True:
            k = table[s]
            if k < 0:
                return i
            same = True
            for j in range(w):
                if rows[i, j] != keys[k, j]:
                    same = False
                    break
            if same:
                out[i] = codes[k]
                break
            s = (s + np.uint64(1)) & mask
    return -1
