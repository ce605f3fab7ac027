"""Group keys -> indices for ``GroupedConfusionMatrix``: the group axis of its cells.

One ``LabelSpace`` per key column (ints, bools or strings, fixed or growing); crossed columns
are numbered through a table of their combinations. ``encode`` turns one batch's keys into
what the kernels read: raw integer keys with a look-up table (the fast path), or indices.
"""

from __future__ import annotations

import math

import numpy as np

from . import _group_kernels as GK
from . import _inputs as I
from . import _kernels as K
from .confusion import LabelTypeError, _flat

_NOLUT = np.zeros(0, dtype=np.int64)
_MAX_SPAN = 1 << 22


# --------------------------------------------------------------------------------------------
# the group space


class _GroupSpace:
    """Group keys <-> indices 0..G-1.

    One ``LabelSpace`` per key column (ints or strings); with several columns (crossed
    slices) a group is a combination of column indices, numbered in order of appearance.
    Treated as immutable once committed: growing works on a copy.
    """

    def __init__(self, ncols=None, fixed=False):
        self.ncols = ncols
        self.fixed = fixed
        self.cols: list = [I.LabelSpace() for _ in range(ncols or 0)]
        self.kinds: list = [set() for _ in range(ncols or 0)]
        self.combos: dict = {}
        self.combo_list: list = []

    @classmethod
    def from_keys(cls, keys) -> "_GroupSpace":
        keys = list(keys.tolist() if isinstance(keys, np.ndarray) else keys)
        if not keys:
            raise ValueError("groups must not be empty")
        crossed = isinstance(keys[0], tuple)
        if any(isinstance(k, tuple) != crossed for k in keys):
            raise ValueError("groups: give all keys as tuples (crossed slices) or none")
        ncols = len(keys[0]) if crossed else 1
        sp = cls(ncols, fixed=True)
        rows = keys if crossed else [(k,) for k in keys]
        for i, row in enumerate(rows):
            if len(row) != ncols:
                raise ValueError(f"groups[{i}] = {row!r} has {len(row)} parts, "
                                 f"groups[0] has {ncols}")
            for j, v in enumerate(row):
                _check_key(v, f"groups[{i}]")
                try:
                    key = sp.cols[j]._key(v, f"groups[{i}]")
                except TypeError as exc:
                    raise TypeError(str(exc).replace("label space", "group space")) from None
                sp.cols[j]._add(key)
                sp.kinds[j].add(_scalar_kind(v))
        for c in sp.cols:
            c.fixed = True
            c._rebuild()
        if crossed:
            for i, row in enumerate(rows):
                combo = tuple(sp.cols[j].index[sp.cols[j]._key(v, "groups")]
                              for j, v in enumerate(row))
                if combo in sp.combos:
                    raise ValueError(f"groups has repeated keys: {row!r}")
                sp.combos[combo] = len(sp.combo_list)
                sp.combo_list.append(combo)
        elif len(sp.cols[0]) != len(keys):
            raise ValueError(f"groups has repeated keys: {I.show_labels(keys)}")
        return sp

    @property
    def crossed(self) -> bool:
        return (self.ncols or 0) > 1

    def __len__(self):
        if not self.ncols:
            return 0
        return len(self.combo_list) if self.crossed else len(self.cols[0])

    def copy(self) -> "_GroupSpace":
        new = _GroupSpace.__new__(_GroupSpace)
        new.ncols, new.fixed = self.ncols, self.fixed
        new.cols = [c.copy() for c in self.cols]
        new.kinds = [set(k) for k in self.kinds]
        new.combos = dict(self.combos)
        new.combo_list = list(self.combo_list)
        return new

    # -- keys as users see them ----------------------------------------------------------
    def _show(self, j, key):
        kinds = self.kinds[j]
        if isinstance(key, str):
            return key
        if kinds == {"bool"}:
            return bool(key)
        if "float" in kinds:
            return float(key)
        return key

    def internal(self, j):
        """The internal (column-space) keys of column j, in index order."""
        return self.cols[j].values

    def keys(self) -> list:
        """Keys in index order, as users give them (tuples for crossed slices)."""
        if not self.ncols:
            return []
        if not self.crossed:
            return [self._show(0, k) for k in self.cols[0].values]
        return [tuple(self._show(j, self.cols[j].values[c]) for j, c in enumerate(combo))
                for combo in self.combo_list]

    def index_of(self, key):
        """Index of a user's key, or None."""
        if not self.ncols:
            return None
        parts = key if self.crossed else (key,)
        if not isinstance(parts, tuple) or len(parts) != self.ncols:
            return None
        idx = []
        for j, v in enumerate(parts):
            k = _lookup_key(v)
            if k is None or k not in self.cols[j].index:
                return None
            idx.append(self.cols[j].index[k])
        if not self.crossed:
            return idx[0]
        return self.combos.get(tuple(idx))

    def describe(self) -> str:
        return I.show_labels(self.keys())


def _scalar_kind(v) -> str:
    if isinstance(v, str):
        return "str"
    if isinstance(v, (bool, np.bool_)):
        return "bool"
    if isinstance(v, (int, np.integer)):
        return "int"
    return "float"


def _check_key(v, where):
    if isinstance(v, (float, np.floating)) and not math.isfinite(v):
        raise ValueError(f"{where} = {v!r} is not a group key: keys are integers or strings "
                         f"(NaN marks a missing key: drop or fill those rows)")


def _lookup_key(v):
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, str):
        return v
    if isinstance(v, (bool, int)):
        return int(v)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return None


def _not_key_message(name, i, v) -> str:
    v = v.item() if isinstance(v, np.generic) else v
    if isinstance(v, float) and math.isnan(v):
        why = "NaN marks a missing key: drop or fill those rows"
    else:
        why = "group keys are integers or strings"
    return f"{name}[{i}] = {v!r} is not a group key ({why})"


class _Keys:
    """One batch's group keys: flat columns, their names and kinds (no values read yet)."""

    def __init__(self, cols, names, kinds):
        self.cols, self.names, self.kinds = cols, names, kinds


def _is_crossed_input(groups) -> bool:
    if isinstance(groups, tuple):
        return True
    if type(groups).__module__.split(".")[0] in ("pandas", "polars") and hasattr(
            groups, "columns"):
        return True  # a DataFrame: one key column per column
    if isinstance(groups, list) and groups and all(
            not isinstance(g, (str, np.generic)) and (isinstance(g, (list, np.ndarray))
                                                     or hasattr(g, "__array__"))
            for g in groups):
        return True  # a list of key columns (a list of numpy scalars is one column)
    return False


def _read_keys(groups, n: int, tshape) -> _Keys:
    if groups is None:
        raise TypeError("update() needs groups: one group key per sample")
    if _is_crossed_input(groups):
        if hasattr(groups, "columns"):
            raw = [groups[c] for c in groups.columns]
        else:
            raw = list(groups)
        if not raw:
            raise ValueError("groups: no key columns given")
        names = [f"groups[{j}]" for j in range(len(raw))]
    else:
        raw, names = [groups], ["groups"]
    cols, kinds = [], []
    for x, name in zip(raw, names):
        if I.is_device_tensor(x):
            x = x.cpu()
        try:
            a = I.as_array(x, name)
        except TypeError as exc:
            raise LabelTypeError(str(exc)) from None
        if a.ndim == 2 and a.shape[1] == 1:
            a = a[:, 0]
        if a.ndim != 1:
            raise ValueError(f"{name} must be 1-D, one key per sample, got shape {a.shape}")
        if a.dtype.kind not in "biufU":
            raise TypeError(f"{name} of dtype {a.dtype} cannot be group keys "
                            f"(integers, bools or strings)")
        if a.shape[0] != n:
            # masks: one key per image spreads over its pixels
            if len(tshape) > 1 and a.shape[0] == tshape[0] and tshape[0] and n % tshape[0] == 0:
                a = np.repeat(a, n // tshape[0])
            else:
                raise ValueError(f"{name} has {a.shape[0]} keys but the batch has {n} samples")
        kinds.append(I.label_kind(a))
        cols.append(_flat(a))
    return _Keys(cols, names, kinds)


def _check_numeric_keys(a, name):
    if a.dtype.kind == "f":
        bad = K.first_not_integer(a)
        if bad >= 0:
            raise ValueError(_not_key_message(name, bad, a[bad]))
    elif a.dtype == np.uint64:
        big = np.flatnonzero(a > np.uint64(2**63 - 1))
        if big.size:
            raise ValueError(f"{name}[{int(big[0])}] = {int(a[big[0]])} is outside the range "
                             f"of int64 group keys")


def _unknown_key(space: _GroupSpace, name, i, v) -> ValueError:
    v = v.item() if isinstance(v, np.generic) else v
    return ValueError(f"{name}[{i}] = {v!r} is not in the group space {space.describe()}")


class _NeedGrow(Exception):
    """Internal: a dynamic space must grow before this batch can be counted."""


def _column_indices(space: _GroupSpace, j, a, name, grow):
    """Indices of column j's keys in its LabelSpace (growing it when ``grow``)."""
    col = space.cols[j]
    kind = I.label_kind(a)
    try:
        col._check_kind("str" if kind == "str" else "num", name)
    except TypeError as exc:
        raise LabelTypeError(str(exc).replace("label space", "group space")) from None
    if kind == "str" or col._sparse:
        try:
            return col.codes_for_kernel(a, name, (a.shape[0],), grow)
        except ValueError:
            if grow or space.fixed:
                raise _first_unknown(space, j, a, name) from None
            raise _NeedGrow() from None
    if grow:
        col.grow_numeric(a, name, (a.shape[0],))
    out = np.empty(a.shape[0], dtype=np.int64)
    bad = GK.key_indices(a, col.lut, col.lo, len(col), out)
    if bad >= 0:
        if space.fixed or grow:
            raise _unknown_key(space, name, bad, a[bad])
        raise _NeedGrow()
    return out


def _first_unknown(space, j, a, name):
    col = space.cols[j]
    for i, v in enumerate(a.tolist()):
        if _lookup_key(v) not in col.index:
            return _unknown_key(space, name, i, v)
    return ValueError(f"{name}: a key is not in the group space")  # pragma: no cover


def encode(space: _GroupSpace, keys: _Keys, grow: bool):
    """(g, glut, glo) as the kernels read them for ``space`` (grown in place when ``grow``:
    pass a copy). Raises for bad keys; ``_NeedGrow`` when a dynamic space lacks one."""
    if space.ncols is None:
        if not grow:
            raise _NeedGrow()
        space.ncols = len(keys.cols)
        space.cols = [I.LabelSpace() for _ in keys.cols]
        space.kinds = [set() for _ in keys.cols]
    if len(keys.cols) != space.ncols:
        raise ValueError(f"groups has {len(keys.cols)} key column(s) but this accumulator "
                         f"counts groups of {space.ncols}")
    for a, name in zip(keys.cols, keys.names):
        if a.dtype.kind != "U":
            _check_numeric_keys(a, name)
    if not space.crossed:
        a, name = keys.cols[0], keys.names[0]
        col = space.cols[0]
        if a.dtype.kind != "U":
            try:
                col._check_kind("num", name)
            except TypeError as exc:
                raise LabelTypeError(str(exc).replace("label space", "group space")) from None
            if grow and not col._sparse:
                col.grow_numeric(a, name, (a.shape[0],))
            if not col._sparse:
                return a, col.lut, col.lo  # the kernel looks keys up; a miss is ERR_GROUP
        return _column_indices(space, 0, a, name, grow), _NOLUT, 0
    idx = [_column_indices(space, j, a, name, grow)
           for j, (a, name) in enumerate(zip(keys.cols, keys.names))]
    sizes = np.array([max(1, len(c)) for c in space.cols], dtype=np.int64)
    if float(np.prod(sizes.astype(np.float64))) >= 2.0**62:
        raise ValueError(f"too many combinations of group keys ({' x '.join(map(str, sizes))})")
    code = np.empty(idx[0].shape[0], dtype=np.int64)
    GK.combine(np.stack(idx), sizes, code)
    vals, ok = K.distinct_ints(code, _MAX_SPAN)
    if not ok:
        vals = np.unique(code)
    lo = int(vals[0]) if vals.size else 0
    hi = int(vals[-1]) if vals.size else 0
    dense = hi - lo < _MAX_SPAN
    lut = np.full(hi - lo + 1 if dense else vals.size, -1, dtype=np.int64)
    for pos, v in enumerate(vals.tolist()):
        rest, combo = v, []
        for s in sizes[::-1].tolist():
            combo.append(rest % s)
            rest //= s
        combo = tuple(combo[::-1])
        gi = space.combos.get(combo)
        if gi is None:
            if not (space.fixed or grow):
                raise _NeedGrow()
            if space.fixed:
                i = int(np.flatnonzero(code == v)[0])
                key = tuple(keys.cols[j][i].item() for j in range(space.ncols))
                raise ValueError(f"groups[:, {i}] = {key!r} is not in the group space "
                                 f"{space.describe()}")
            gi = len(space.combo_list)
            space.combos[combo] = gi
            space.combo_list.append(combo)
        lut[(v - lo) if dense else pos] = gi
    if not dense:  # codes too spread for a table: map them here
        return lut[np.searchsorted(vals, code)], _NOLUT, 0
    return code, lut, lo
