"""The rules every counting kernel shares, written once: the jit policy, the prediction
forms, a label value's index in the space (``_idx`` / ``_index``), a prediction's index
(``_pred_index``), the cell of a sample (``_sample_cell`` for the sample-at-a-time paths,
``_cell`` for the branch-free block kernels) and the column map of score columns."""

from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload

from .._errors import ERR_PRED, ERR_SCORE, ERR_TRUE, OK

from ._jit import _ijit, _jit  # the jit policy of every kernel (a locked on-disk cache)


# The argument bundles of every counting kernel: plain tuples (numba passes and unpacks them at
# no cost once inlined; a namedtuple costs about 1 us more per call from Python), built once
# per update by ``space_of`` / ``pred_of``:
#   space = (lut, lo, n, ign, has_ign): the label space (values -> indices: a look-up table
#           ``lut`` from value ``lo``, or 0..n-1 when it is empty) and ``ignore_index``;
#   pred  = (form, p1, p2, thr, colmap): the predictions in their form (labels ``p1``,
#           binary scores ``p1 > thr``, argmax rows of ``p2``) and the index of each score
#           column (``colmap``);
#   keys  = (g, glut, glo, ng, on): the key axis of a composite cell (``_single``).
# The kernels take the bundles; the helpers they inline per sample take the arrays themselves
# and the bundles' scalars as ``rule`` (``rule_of``).


def space_of(lut, lo, n, ign, has_ign):
    """The label-space bundle of the kernels (see above)."""
    return (lut, int(lo), int(n), ign, bool(has_ign))


def pred_of(form, p1, p2, thr, colmap):
    """The prediction bundle of the kernels (see above)."""
    return (int(form), p1, p2, float(thr), colmap)


# Prediction forms.
PRED_LABELS = 0  # p1[i] is a label
PRED_ARGMAX = 1  # argmax of p2[i, :]
PRED_BINARY = 2  # p1[i] > threshold


_I64_MAX_U = np.uint64(2**63 - 1)


_F_LO = -9.2e18  # floats strictly inside (_F_LO, _F_HI) convert to int64 without overflow
_F_HI = 9.2e18


def _int_of(v):  # pragma: no cover - only its jitted overload below runs
    """(v as int64, whether v is an integer that int64 holds): one body per input dtype."""
    raise NotImplementedError


@overload(_int_of, jit_options={"nogil": True})
def _int_of_impl(v):
    if isinstance(v, types.Boolean):
        return lambda v: (np.int64(v), True)
    if isinstance(v, types.Integer):
        if v.signed or v.bitwidth < 64:
            return lambda v: (np.int64(v), True)
        return lambda v: (np.int64(v), v <= _I64_MAX_U)

    def from_float(v):
        inside = (v > _F_LO) & (v < _F_HI)  # False for NaN and infinities
        iv = np.int64(v if inside else 0.0)
        return iv, inside & (np.float64(iv) == v)

    if isinstance(v, types.Float):
        return from_float
    return None


@_ijit
def _idx(v, lut, lo, n):
    """(index of label value ``v`` in the space, whether it is in it), without branches.

    The index is meaningless when the flag is False; callers select a dump cell instead.
    """
    iv, ok = _int_of(v)
    if lut.shape[0] == 0:  # identity space 0..n-1 (or indices already mapped)
        return iv, ok & (np.uint64(iv) < np.uint64(n))
    k = iv - lo
    ok = ok & (np.uint64(k) < np.uint64(lut.shape[0]))
    r = lut[k if ok else 0]
    return r, ok & (r >= 0)


@_ijit
def _index(v, lut, lo, n):
    """Index of label value ``v`` in the space, -1 if not in it (or not an integer)."""
    r, ok = _idx(v, lut, lo, n)
    return r if ok else -1


@_ijit
def _column(c, cols_idx, lut, lo, n):
    """Index of class column c: the column itself in a fixed space, else the label value c."""
    if cols_idx:
        return c if c < n else -1
    return _index(c, lut, lo, n)


@_ijit
def rule_of(pred, space):
    """The scalars of the two bundles as one tuple, ``rule`` = (form, thr, lo, n, ign,
    has_ign): what the per-sample helpers take beside the arrays. A tuple of arrays handed to
    an inlined helper costs a reference count per array and sample (measured: +20% per
    sample on the weighted path); a tuple of scalars costs nothing."""
    return (pred[0], pred[3], space[1], space[2], space[3], space[4])


@_ijit
def _pred_index(p1, p2, i, colmap, lut, rule):
    """Index of the prediction of sample i; -1 for a bad label, -2 for a bad score.
    ``colmap``: the index of each score column (``column_map``; -1 where none); ``rule``:
    see ``rule_of``."""
    form, thr, lo, n = rule[0], rule[1], rule[2], rule[3]
    if form == PRED_LABELS:
        return _index(p1[i], lut, lo, n)
    if form == PRED_BINARY:
        s = p1[i]
        if not np.isfinite(s):
            return -2
        return colmap[1 if s > thr else 0]
    best = p2[i, 0]
    if not np.isfinite(best):
        return -2
    arg = 0
    for c in range(1, p2.shape[1]):
        s = p2[i, c]
        if not np.isfinite(s):
            return -2
        if s > best:
            best = s
            arg = c
    return colmap[arg]


@_ijit
def _sample_cell(tv, b, lut, rule):
    """The rule of one sample, written once for every path that takes samples one at a time
    (and for finding the first bad sample of a block): truth ``tv``, its prediction's index
    ``b`` (``_pred_index``, read for every sample: an ignored one's bad prediction is no
    error). (cell, OK) with cell = true * n + pred; (-1, OK) for an ignored sample;
    (-1, code) for a bad one."""
    lo, n, ign, has_ign = rule[2], rule[3], rule[4], rule[5]
    if has_ign and tv == ign:
        return -1, OK
    a = _index(tv, lut, lo, n)
    if a < 0:
        return -1, ERR_TRUE
    if b < 0:
        return -1, ERR_PRED if b == -1 else ERR_SCORE
    return a * n + b, OK


@_ijit
def _cell(tv, ta, pb, nig, dump):
    """The same rule for the branch-free block kernels, which find the indices their own
    way: ``ta`` = (truth index, whether it is good), ``pb`` the same for the prediction (as
    ``_idx`` returns them), ``nig`` = (n, ign, has_ign); (the sample's cell, or ``dump`` for
    an ignored or bad one; whether it is bad). The cell is computed in the type of n (int32
    lanes where the caller gives an int32 n)."""
    a, oka = ta
    b, okb = pb
    n, ign, has_ign = nig
    skip = has_ign & (tv == ign)  # bitwise: a short-circuit would stop if-conversion
    good = oka & okb
    return (a * n + b if (good & (not skip)) else dump), not (skip | good)


NO_COLS = np.zeros(0, dtype=np.int64)  # the column map of a batch of labels: none


@_jit
def column_map(width, cols_idx, lut, lo, n):
    """Index in the space of each class column of a score matrix, -1 where there is none."""
    out = np.empty(width, dtype=np.int64)
    for c in range(width):
        out[c] = _column(c, cols_idx, lut, lo, n)
    return out
