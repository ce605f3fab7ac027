"""An accumulator's additive state, declared once.

Each array of the state is a ``Field``: the attribute that holds it, its key among the state
arrays (merging, torch.distributed ``sync``, device counts), where ``to_dict`` keeps it, its
shape for a space of ``c`` classes (or labels), its dtype and when it exists. Re-indexing
into a bigger space, growing, the arrays a merge adds, ``to_dict`` and ``from_dict`` are
derived from the declaration, so a new array is one more line, not one more copy of each.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

ALWAYS = "always"  # every state has it
WEIGHTED = "weighted"  # once a weighted batch was counted (``acc._weighted``)
EXACT = "exact"  # while every weight so far was an integer (the field is not None)
OPTIONAL = "optional"  # while the accumulator keeps it (not None); a dict may lack it


class Field(NamedTuple):
    attr: str  # the accumulator's attribute
    key: str  # its key in the state arrays
    path: str  # where to_dict keeps it: "counts", "weights.cells"
    shape: Callable[[int], tuple]  # its shape for c classes
    integer: bool  # int64 (else float64)
    when: str = ALWAYS
    tail: str = ""  # the accumulator's int attribute giving one more, last, axis (or none)


def shape_of(acc, f: Field, c: int) -> tuple:
    """``f``'s shape in ``acc`` for ``c`` classes (the class axes, then its tail)."""
    return f.shape(c) + ((int(getattr(acc, f.tail)),) if f.tail else ())


def cells(c):
    return (c, c)


def per_class(c):
    return (c,)


def scalar(c):
    return ()


def present(acc, fields) -> list:
    """The fields that ``acc`` holds now."""
    out = []
    for f in fields:
        if f.when == ALWAYS or (f.when == WEIGHTED and acc._weighted) or (
                f.when in (EXACT, OPTIONAL) and getattr(acc, f.attr) is not None):
            out.append(f)
    return out


def arrays(acc, fields) -> dict:
    """{key: the array itself} of what ``acc`` holds (no copies)."""
    return {f.key: getattr(acc, f.attr) for f in present(acc, fields)}


def reindexed(acc, fields, idx: np.ndarray, c: int) -> dict:
    """{key: array} of ``acc``'s state moved into a space of ``c`` classes, where its
    class i is class ``idx[i]`` (the other classes count zero)."""
    out = {}
    for f in present(acc, fields):
        a = getattr(acc, f.attr)
        if f.shape(c) == ():
            out[f.key] = a
            continue
        new = np.zeros(shape_of(acc, f, c), np.int64 if f.integer else np.float64)
        axes = [idx] * len(f.shape(c)) + [np.arange(n) for n in new.shape[len(f.shape(c)):]]
        new[np.ix_(*axes)] = a
        out[f.key] = new
    return out


def grown(acc, fields, c: int) -> dict:
    """{attr: array} of ``acc``'s state padded with zeros to ``c`` classes, every array made
    before the caller replaces any (so that running out of memory changes nothing)."""
    out = {}
    for f in present(acc, fields):
        a = getattr(acc, f.attr)
        if f.shape(c) != ():
            out[f.attr] = np.pad(a, [(0, new - old) for new, old in zip(shape_of(acc, f, c),
                                                                        a.shape)])
    return out


def to_dict(acc, fields, d: dict) -> dict:
    """Write ``acc``'s fields into the JSON-safe dict ``d`` at their paths."""
    for f in present(acc, fields):
        a = getattr(acc, f.attr)
        head, _, leaf = f.path.rpartition(".")
        if head and d.get(head) is None:
            d[head] = {}
        where = d[head] if head else d
        where[leaf] = a.tolist() if isinstance(a, np.ndarray) else (
            int(a) if f.integer else float(a))
    return d


def from_dict(acc, fields, d: dict, c: int, read: Callable) -> None:
    """Set ``acc``'s fields from a ``to_dict`` dict for ``c`` classes; ``read(value, shape,
    name, integer)`` validates each one. The fields of the weights are read when the dict
    has weights; an exact or optional field only when it is there (older states lack it)."""
    for f in fields:
        head, _, leaf = f.path.rpartition(".")
        where = d.get(head) if head else d
        if where is None:  # no weights: the weighted fields stay as _reset_state left them
            continue
        if f.when in (EXACT, OPTIONAL) and where.get(leaf) is None:
            continue
        v = read(where.get(leaf), shape_of(acc, f, c), f.path, integer=f.integer)
        if f.shape(c) == ():
            v = int(v) if f.integer else float(v)
        setattr(acc, f.attr, v)
