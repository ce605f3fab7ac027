"""An accumulator's additive state, declared once.

Each array of the state is a ``Field``: the attribute that holds it, its key among the state
arrays (merging, torch.distributed ``sync``, device counts), where ``to_dict`` keeps it, its
shape for a space of ``c`` classes (or labels), with an optional leading axis (``head``: the
groups of a grouped accumulator) and last axis (``tail``), its dtype, when it exists, and
what it holds when every sample so far weighed 1 (``ones``, from the integer fields: the one
weight promotion). Re-indexing into a bigger space, growing, the arrays a merge adds, the
dense arrays that ``sync`` and the device path add and read back, ``to_dict`` and
``from_dict`` are derived from the declaration, so a new array is one more line, not one
more copy of each.
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
    head: str = ""  # the accumulator's int attribute giving a first axis (the groups; or none)
    # its value when every weight was 1, from {key: value} of the fields that always exist
    # (numpy arrays and scalars, or torch tensors on the device path: written with the
    # array-generic steps below, ``f64`` / ``copy_of`` / ``.sum(axis=...)``)
    ones: Callable | None = None


# Array-generic steps for the ``ones`` functions: each reads numpy arrays (and Python or
# numpy scalars: the host's) or torch tensors (the device path's views of its tensors, see
# ``adapters._torch_device``) alike, and a tensor stays a tensor on its device (nothing
# waits for a GPU). int64 to float64 rounds to nearest either way (exact below 2**53).


def f64(a):
    """``a`` (int64 counts) as float64: a Python float for a scalar, else an array or a
    tensor of the same shape."""
    if isinstance(a, (int, float, np.generic)):
        return float(a)
    if isinstance(a, np.ndarray):
        return a.astype(np.float64)
    return a.double()  # a torch tensor


def copy_of(a):
    """A copy of ``a``, numpy array or torch tensor."""
    return a.copy() if isinstance(a, np.ndarray) else a.clone()


def shape_of(acc, f: Field, c: int, g: int | None = None) -> tuple:
    """``f``'s shape in ``acc`` for ``c`` classes (its head axis, of ``g`` or the head
    attribute's size, the class axes, then its tail)."""
    head = ((int(getattr(acc, f.head)) if g is None else g),) if f.head else ()
    return head + f.shape(c) + ((int(getattr(acc, f.tail)),) if f.tail else ())


def counts_of(acc, fields) -> dict:
    """{key: value} of the fields every state has (its integer counts): what ``ones``
    reads."""
    return {f.key: getattr(acc, f.attr) for f in fields if f.when == ALWAYS}


def ones_of(fields, counts: dict) -> dict:
    """{key: value} of the weighted fields for the counts ``counts`` ({key: value} of the
    fields that always exist) when every sample weighed 1 (how an unweighted state's arrays
    add into a weighted one)."""
    return {f.key: f.ones(counts) for f in fields if f.ones is not None and f.when == WEIGHTED}


def promoted(acc, fields, exact: bool = False) -> dict:
    """{attr: value} of the weighted fields (and the exact ones with ``exact``) as they are
    when every sample so far weighed 1: the one weight promotion of an unweighted state."""
    n = counts_of(acc, fields)
    return {f.attr: f.ones(n) for f in fields
            if f.ones is not None and (f.when == WEIGHTED or (exact and f.when == EXACT))}


def dense(acc, fields, weighted: bool) -> dict:
    """{key: a copy} of the additive state, scalars as 1-element arrays: what
    torch.distributed ``sync`` sums and the device path adds. With ``weighted``, an
    unweighted state's weighted fields are promoted (every sample weighs 1), so that states
    of both kinds add up right."""
    up = promoted(acc, fields) if weighted and not acc._weighted else {}
    out = {}
    for f in fields:
        if f.attr in up:
            a = up[f.attr]
        elif f in present(acc, fields):
            a = getattr(acc, f.attr)
        else:
            continue
        out[f.key] = np.array(a, dtype=np.int64 if f.integer else np.float64).reshape(
            a.shape if isinstance(a, np.ndarray) else (1,)).copy()
    return out


def load_dense(acc, fields, d: dict) -> None:
    """Set ``acc``'s fields from a ``dense`` dict (what is missing stays as it is); the
    state is weighted when a weighted field is there."""
    for f in fields:
        if f.key in d:
            a = np.asarray(d[f.key], dtype=np.int64 if f.integer else np.float64)
            setattr(acc, f.attr, a.reshape(-1)[0].item() if f.shape(0) == () and not f.head
                    else a.copy())
            if f.when == WEIGHTED:
                acc._weighted = True


def read_dense(acc, fields, d: dict, c: int) -> dict:
    """{key: value} of the fields that the ``dense`` dict ``d`` holds (a missing one adds
    zero), each in its field's dtype and checked against its shape in ``acc`` for ``c``
    classes (a scalar from a 1-element array): all is read before anything is added."""
    out = {}
    for f in fields:
        if f.key not in d:
            continue
        a = np.asarray(d[f.key], dtype=np.int64 if f.integer else np.float64)
        shape = shape_of(acc, f, c)
        if shape == () and a.size == 1:
            out[f.key] = a.reshape(-1)[0].item()
        elif a.shape != shape:
            raise ValueError(f"state arrays: {f.key!r} of shape {a.shape} does not fit "
                             f"{shape}")
        else:
            out[f.key] = a
    return out


def add_dense(acc, fields, vals: dict) -> None:
    """Add ``read_dense`` values into the fields that ``acc`` holds; a weighted field that
    ``vals`` lacks adds what it holds when every sample weighed 1 (``ones``, from the counts
    in ``vals``: an unweighted state added into a weighted one)."""
    for f in present(acc, fields):
        v = vals.get(f.key)
        if v is None and f.when == WEIGHTED and f.ones is not None:
            try:
                v = f.ones(vals)
            except KeyError:  # its counts are missing too: it adds zero
                continue
        if v is None:
            continue
        a = getattr(acc, f.attr)
        if isinstance(a, np.ndarray):
            a += v
        else:
            setattr(acc, f.attr, a + v)


def zeros(acc, fields, c: int, g: int | None, weighted: bool) -> dict:
    """{attr: zeros} of a state for ``c`` classes (and ``g`` groups) that holds what ``acc``
    holds, weighted with ``weighted``."""
    out = {}
    for f in fields:
        if f.when == WEIGHTED and not weighted:
            continue
        if f.when in (EXACT, OPTIONAL) and getattr(acc, f.attr) is None:
            continue
        shape = shape_of(acc, f, c, g)
        z = np.zeros(shape, np.int64 if f.integer else np.float64)
        out[f.attr] = z if shape else (0 if f.integer else 0.0)
    return out


def add_into(acc, fields, src: dict, idx: np.ndarray | None, gidx: np.ndarray | None = None):
    """Add ``src`` ({key: array}, laid out as another state's fields) into ``acc``'s fields
    that it holds: class i of ``src`` is class ``idx[i]`` of ``acc`` (None: the same
    classes, as multi-label states have), group j is group ``gidx[j]``."""
    for f in present(acc, fields):
        if f.key not in src:
            continue
        a = getattr(acc, f.attr)
        nclass = len(f.shape(0))
        if not isinstance(a, np.ndarray):
            v = np.asarray(src[f.key]).reshape(-1)[0].item()
            setattr(acc, f.attr, a + (int(v) if f.integer else float(v)))
            continue
        axes = ([gidx] if f.head else []) + ([] if idx is None else [idx] * nclass)
        axes += [np.arange(k) for k in a.shape[len(axes):]]
        a[np.ix_(*axes)] += src[f.key]


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


def grown(acc, fields, c: int, g: int | None = None, promote: bool = False) -> dict:
    """{attr: array} of ``acc``'s state padded with zeros to ``c`` classes (and ``g``
    groups), every array made before the caller replaces any (so that running out of memory
    changes nothing). With ``promote``, an unweighted state's weighted fields too, as they
    are when every sample weighed 1 (``promoted``)."""
    up = promoted(acc, fields) if promote and not acc._weighted else {}
    held = present(acc, fields)
    out = {}
    for f in fields:
        if f.attr in up:
            a = up[f.attr]
        elif f in held:
            a = getattr(acc, f.attr)
        else:
            continue
        if isinstance(a, np.ndarray) and a.ndim:
            shape = shape_of(acc, f, c, g)
            out[f.attr] = a if shape == a.shape else np.pad(
                a, [(0, new - old) for new, old in zip(shape, a.shape)])
        elif f.attr in up:
            out[f.attr] = a
    return out


def to_dict(acc, fields, d: dict) -> dict:
    """Write ``acc``'s fields into the JSON-safe dict ``d`` at their paths."""
    for f in present(acc, fields):
        a = getattr(acc, f.attr)
        *heads, leaf = f.path.split(".")
        where = d
        for h in heads:  # nested paths: "weights.overall.cells"
            if where.get(h) is None:
                where[h] = {}
            where = where[h]
        where[leaf] = a.tolist() if isinstance(a, np.ndarray) else (
            int(a) if f.integer else float(a))
    return d


def _at(d: dict, heads: list):
    """The dict at ``heads`` inside ``d``, or None where a level is missing."""
    for h in heads:
        d = d.get(h) if isinstance(d, dict) else None
        if d is None:
            return None
    return d


def from_dict(acc, fields, d: dict, c: int, read: Callable) -> None:
    """Set ``acc``'s fields from a ``to_dict`` dict for ``c`` classes; ``read(value, shape,
    name, integer)`` validates each one. The fields of the weights are read when the dict
    has weights; an exact or optional field only when it is there (older states lack it)."""
    for f in fields:
        *heads, leaf = f.path.split(".")
        where = _at(d, heads)
        if where is None:  # no weights: the weighted fields stay as _reset_state left them
            continue
        if f.when in (EXACT, OPTIONAL) and where.get(leaf) is None:
            continue
        shape = shape_of(acc, f, c)
        v = read(where.get(leaf), shape, f.path, integer=f.integer)
        if shape == ():
            v = int(v) if f.integer else float(v)
        setattr(acc, f.attr, v)
