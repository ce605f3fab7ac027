"""Array-likes to numpy views, and the label spaces that map label values to indices.

No framework is imported here: tensors are recognised by their type's module and read
through their own zero-copy exits (``Tensor.numpy()``, ``__array__``, DLPack).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from . import _errors as E
from . import _kernels as K

_SHOW = 8  # how many labels an error message lists


# --------------------------------------------------------------------------------------------
# array-likes


def _module(x) -> str:
    return type(x).__module__ or ""


def is_device_tensor(x) -> bool:
    """A torch tensor that does not live in host memory (CUDA, MPS, ...)."""
    return _module(x).startswith("torch") and hasattr(x, "device") and x.device.type != "cpu"


def as_array(x, name: str) -> np.ndarray:
    """A numpy view of ``x`` without copying where the memory allows."""
    if isinstance(x, np.ndarray):
        return _object_array(x, name) if x.dtype == object else x
    mod = _module(x)
    if mod.startswith("torch"):
        t = x.detach()
        if t.is_conj():
            t = t.resolve_conj()
        if t.is_neg():
            t = t.resolve_neg()
        if str(t.dtype) == "torch.bfloat16":
            t = t.float()
        return t.numpy()
    if mod.startswith("tensorflow") or mod.startswith("tf"):
        if hasattr(x, "numpy"):
            return np.asarray(x.numpy())
    if mod.startswith("pandas") and _pandas_nullable(x):
        # scikit-learn reads pandas' nullable numbers and booleans (Int64, UInt8, Float32,
        # boolean, int64[pyarrow], ...) as float64, NA as NaN: their labels print as 1.0
        return np.asarray(x.to_numpy(dtype=np.float64, na_value=np.nan))
    if mod.startswith(("pandas", "polars", "pyarrow")) and hasattr(x, "to_numpy"):
        arr = np.asarray(x.to_numpy())
        return _object_array(arr, name) if arr.dtype == object else arr
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} could not be read as an array: {exc}") from None
    if arr.dtype == object:
        arr = _object_array(arr, name)
    return arr


def _pandas_nullable(x) -> bool:
    """A pandas Series / DataFrame with a numeric or boolean extension dtype (not numpy's)."""
    dtypes = [x.dtype] if hasattr(x, "dtype") else list(getattr(x, "dtypes", []))
    return any(not isinstance(d, np.dtype) and getattr(d, "kind", "O") in "biuf"
               for d in dtypes)


def _object_array(arr: np.ndarray, name: str) -> np.ndarray:
    flat = arr.ravel()
    if flat.size == 0:
        return arr.astype(np.int64)
    kinds = {_kind_of_scalar(v) for v in flat}
    if "str" in kinds and len(kinds) > 1:
        first_str = _kind_of_scalar(flat[0]) == "str"
        i = next(i for i, v in enumerate(flat) if (_kind_of_scalar(v) == "str") != first_str)
        where = ", ".join(str(int(k)) for k in np.unravel_index(i, arr.shape))
        raise TypeError(
            f"Mix of label input types (string and number) in {name}: {name}[{where}] = "
            f"{flat[i]!r} is a {'string' if not first_str else 'number'} after "
            f"{'strings' if first_str else 'numbers'}"
        )
    kind = "float" if kinds == {"int", "float"} else ("other" if "other" in kinds else kinds.pop())
    if kind == "str":
        return arr.astype(str)
    if kind == "other":
        bad = next(v for v in flat if _kind_of_scalar(v) == "other")
        raise TypeError(f"{name} holds a value of unsupported type {type(bad).__name__}: {bad!r}")
    try:
        return arr.astype(np.float64 if kind == "float" else np.int64)
    except OverflowError:
        for i, v in enumerate(flat.tolist()):
            if isinstance(v, int) and not -_I64_MAX - 1 <= v <= _I64_MAX:
                raise _range_error(name, arr.shape, i, v) from None
        raise


def _kind_of_scalar(v) -> str:
    if isinstance(v, str):
        return "str"
    if isinstance(v, (bool, np.bool_, numbers.Integral)):
        return "int"
    if isinstance(v, numbers.Real):
        return "float"
    return "other"


WEIGHT_RULE = "weights must be non-negative and finite"  # what the kernels check per sample


def weights_shape(dtype, kind: str, shape: tuple, n: int) -> tuple:
    """The one rule of a batch's ``sample_weight``, on its description (the dtype, its
    numpy kind letter, the shape), for the host (``as_weights``) and the device path alike:
    the shape to read the weights as, ``(n,)``; TypeError / ValueError with the words users
    see. The values themselves (``WEIGHT_RULE``) are checked per sample by the kernels, and
    on the device by its own reductions."""
    if kind not in "biuf":
        raise TypeError(f"sample_weight must be numeric, got dtype {dtype}")
    shape = tuple(shape)
    if len(shape) == 2 and shape[1] == 1:
        shape = shape[:1]
    if len(shape) != 1:
        raise ValueError(f"sample_weight must be 1-D, got shape {shape}")
    if shape[0] != n:
        raise ValueError(f"sample_weight has {shape[0]} values but y_true has {n} samples")
    return shape


def weights_exact(kind: str) -> bool:
    """Integer-typed weights are also summed exactly in int64 (what scikit-learn's
    ``confusion_matrix`` returns for them), host and device alike."""
    return kind in "biu"


def weight_range_error(i: int, v) -> ValueError:
    """An unsigned 64-bit weight past int64: no exact count can hold it."""
    return ValueError(f"sample_weight[{i}] = {int(v)} is outside the int64 range of exact "
                      f"counts")


def as_weights(sample_weight, n: int, *, exact_ints: bool = False):
    """One weight per sample as float64; with ``exact_ints``, the pair (float64, int64 copy
    of integer-typed weights or None), for the exact integer counts scikit-learn's
    ``confusion_matrix`` gives integer weights."""
    w = as_array(sample_weight, "sample_weight")
    w = w.reshape(weights_shape(w.dtype, w.dtype.kind, w.shape, n))
    f = np.ascontiguousarray(w, dtype=np.float64)
    if not exact_ints:
        return f
    if not weights_exact(w.dtype.kind):
        return f, None
    if w.dtype.kind == "u" and w.dtype.itemsize == 8:
        big = np.flatnonzero(w > np.uint64(_I64_MAX))
        if big.size:
            raise weight_range_error(int(big[0]), w[int(big[0])])
    return f, np.ascontiguousarray(w, dtype=np.int64)


def label_kind(arr: np.ndarray) -> str:
    """'str', 'bool', 'int' or 'float' for a label array."""
    k = arr.dtype.kind
    if k == "S":
        raise TypeError("bytes labels are not supported: decode them to str first")
    if k == "U":
        return "str"
    if k == "b":
        return "bool"
    if k in "iu":
        return "int"
    if k == "f":
        return "float"
    raise TypeError(f"labels of dtype {arr.dtype} are not supported")


_I64_MAX = (1 << 63) - 1


def _range_error(name, shape, i, v) -> E.BatchValueError:
    return E.bad_value(name, shape, i, v, describe_value(v), "is outside the label range of int64")


def position(shape, flat_index: int):
    """A flat index written as the index into an array of the given shape."""
    return E.show_index(E.index_in(shape, flat_index))


def show_labels(labels) -> str:
    labels = list(labels)
    head = ", ".join(repr(v) for v in labels[:_SHOW])
    more = f", ... ({len(labels)} labels)" if len(labels) > _SHOW else ""
    return f"[{head}{more}]"


def describe_value(v) -> str:
    if isinstance(v, np.generic):
        v = v.item()
    return repr(v)


# --------------------------------------------------------------------------------------------
# the form of a batch, from shapes alone


@dataclass(frozen=True)
class Form:
    """How to read a (y_true, y_pred) batch; decided from shapes and dtypes, no values."""

    squeeze_true: bool  # y_true is an (N, 1) column
    squeeze_pred: bool  # y_pred is an (N, 1) column
    onehot_truth: bool  # y_true is one-hot / scores (N, C): arg-max it
    pred: int  # K.PRED_LABELS, K.PRED_ARGMAX or K.PRED_BINARY
    move_class_axis: bool  # scores (B, C, ...) beside (B, ...) labels: class axis 1 -> last


def batch_form(tshape, pshape, *, pred_is_float: bool, fixed: bool, num_classes: int,
               binary_space: bool = False) -> Form:
    """The form of a single-label batch (shared by the numpy path and the device path).

    Labels need equal shapes (any rank: masks); scores one (class) axis more, last for
    (N, C), axis 1 or last beside masks; float predictions are binary scores only in a
    ``binary_space`` (``LabelSpace.binary_scores``), where they cannot be class ids.
    """
    tshape, pshape = tuple(tshape), tuple(pshape)
    if not tshape or not pshape:
        raise ValueError(f"y_true and y_pred must be arrays, got shapes {tshape} and {pshape}")
    sq_t = len(tshape) == 2 and tshape[1] == 1 and (
        len(pshape) == 1 or (len(pshape) == 2 and pshape[1] == 1))
    t = tshape[:1] if sq_t else tshape
    sq_p = len(pshape) == 2 and pshape[1] == 1 and len(t) == 1
    p = pshape[:1] if sq_p else pshape
    onehot = len(t) == 2 and t[1] > 1 and (
        (len(p) == 1 and p[0] == t[0])
        or (p == t and (pred_is_float or (fixed and p[1] == num_classes))))
    if onehot:
        t = t[:1]
    if len(p) == len(t) + 1:
        move = len(t) > 1 and p[:1] + p[2:] == t
        if move and p[:-1] == t:  # both axis 1 and the last axis fit: refuse to guess
            raise ValueError(
                f"y_pred of shape {pshape} beside y_true of shape {tshape}: the class axis "
                f"could be axis 1 or the last; pass scores of shape (N, C), class axis last, "
                f"with labels of shape (N,)")
        if not move and p[:-1] != t:
            raise ValueError(
                f"y_pred of shape {pshape} does not fit y_true of shape {tshape}: "
                f"scores need one class axis more than the labels")
        return Form(sq_t, sq_p, onehot, K.PRED_ARGMAX, move)
    if p != t:
        if len(p) == len(t) and p[0] != t[0]:
            raise ValueError(
                f"y_true and y_pred have different numbers of samples: {t[0]} and {p[0]}")
        raise ValueError(
            f"y_true of shape {tshape} and y_pred of shape {pshape} do not fit: "
            f"labels need the same shape, scores one class axis more")
    binary = pred_is_float and binary_space
    return Form(sq_t, sq_p, onehot, K.PRED_BINARY if binary else K.PRED_LABELS, False)


def classes_implied(tshape, pshape) -> int | None:
    """The number of classes that float predictions imply by their shape, read by
    ``batch_form``'s rules: the width of their class axis ((N, C), (N, C, H, W), (N, H, W, C),
    or beside one-hot truth), 2 for binary scores shaped like the labels; None where the
    shapes do not fit (the update then says why)."""
    try:
        form = batch_form(tshape, pshape, pred_is_float=True, fixed=False, num_classes=0,
                          binary_space=True)
    except ValueError:
        return None
    if form.pred == K.PRED_ARGMAX:
        return pshape[1] if form.move_class_axis else pshape[-1]
    return tshape[1] if form.onehot_truth else 2


# --------------------------------------------------------------------------------------------
# label spaces


class LabelSpace:
    """Label values <-> indices 0..n-1.

    Numeric labels (ints, bools, integer-valued floats) share one space keyed by int value;
    strings have their own. A fixed space refuses new labels; a dynamic one appends them.
    The kernels read numeric spaces through a look-up table over [lo, lo + len(lut)), or,
    for the space 0..n-1, through no table at all.
    """

    _MAX_SPAN = 1 << 22  # a look-up table beyond this span falls back to per-batch mapping

    def __init__(self, values=None, *, num_classes=None):
        self.fixed = values is not None or num_classes is not None
        self.kind = None  # "num" or "str"
        self.values: list = []
        self.index: dict = {}
        self._identity = False
        self.lut = np.zeros(0, dtype=np.int64)
        self.lo = 0
        self._sparse = False  # values too spread out for a table
        if num_classes is not None:
            self.kind = "num"
            self._extend(range(num_classes))
            self._identity = True
        elif values is not None:
            for v in values:
                self._add(self._key(v, "labels"))
            if len(self.values) != len(list(values)):
                raise ValueError(f"labels has repeated values: {show_labels(values)}")
            self._rebuild()

    # -- keys --------------------------------------------------------------------------
    def _key(self, v, where):
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, str):
            kind, key = "str", v
        elif isinstance(v, (bool, numbers.Integral)):
            kind, key = "num", int(v)
        elif isinstance(v, numbers.Real) and float(v).is_integer():
            kind, key = "num", int(v)
        else:
            raise ValueError(f"{where}: {v!r} is not a valid class label (integers or strings)")
        if kind == "num" and not -_I64_MAX - 1 <= key <= _I64_MAX:
            raise ValueError(f"{where}: {v!r} is outside the label range of int64")
        self._check_kind(kind, where)
        return key

    def _check_kind(self, kind, where):
        if self.kind is None:
            self.kind = kind
        elif self.kind != kind:
            raise TypeError(
                f"Mix of label input types (string and number): {where} has "
                f"{'strings' if kind == 'str' else 'numbers'} but the label space "
                f"{show_labels(self.values)} has "
                f"{'strings' if self.kind == 'str' else 'numbers'}"
            )

    def _add(self, key):
        if key not in self.index:
            self.index[key] = len(self.values)
            self.values.append(key)

    def _extend(self, keys):
        for k in keys:
            self._add(k)

    def __len__(self):
        return len(self.values)

    @property
    def binary_scores(self) -> bool:
        """Whether float predictions are scores (``> threshold`` -> the second class): a fixed
        space of 0 and 1, or of two strings; there a float cannot be a class id otherwise."""
        return self.fixed and len(self.values) == 2 and (
            self.kind == "str" or self.values == [0, 1])

    def __eq__(self, other):
        return isinstance(other, LabelSpace) and self.values == other.values

    def copy(self) -> "LabelSpace":
        new = LabelSpace.__new__(LabelSpace)
        new.__dict__.update(self.__dict__)
        new.values = list(self.values)
        new.index = dict(self.index)
        return new

    def _rebuild(self):
        """Refresh the kernels' look-up table after the space changed."""
        if self.kind != "num" or not self.values:
            self.lut = np.zeros(0, dtype=np.int64)
            self.lo = 0
            self._sparse = False
            return
        self._identity = self.values == list(range(len(self.values)))
        if self._identity:
            self.lut = np.zeros(0, dtype=np.int64)
            self.lo = 0
            self._sparse = False
            return
        lo, hi = min(self.values), max(self.values)
        if hi - lo + 1 > self._MAX_SPAN:
            self._sparse = True
            return
        self._sparse = False
        lut = np.full(hi - lo + 1, -1, dtype=np.int64)
        for i, v in enumerate(self.values):
            lut[v - lo] = i
        self.lut, self.lo = lut, lo

    def add_keys(self, keys):
        """Append label keys not yet in the space."""
        new = [k for k in keys if k not in self.index]
        if not new:
            return
        self._extend(new)
        self._rebuild()

    # -- mapping a batch ---------------------------------------------------------------
    def codes_for_kernel(self, arr: np.ndarray, name: str, shape, grow: bool):
        """Make ``arr`` readable by the kernels against this space.

        Numeric arrays are returned as they are: the kernel looks them up and reports an
        unknown value, after which a dynamic space calls ``grow_numeric`` and counts again.
        Strings, and numbers too spread out for a table, are mapped to int64 indices here;
        in a dynamic space (``grow``) labels never seen before are added first.
        """
        kind = label_kind(arr)
        if kind == "str":
            self._check_kind("str", name)
            if arr.dtype.kind == "U" and arr.dtype.itemsize and self.values:
                codes, bad = self._hash_codes(arr)
                if bad < 0:
                    return codes
                if not grow:
                    raise self.unknown_error(name, shape, bad, arr[bad])
            uniq, inv = np.unique(arr, return_inverse=True)
            return self._codes(uniq, inv, arr, name, shape, grow)
        self._check_kind("num", name)
        if self._sparse:
            self._check_integers(arr, name, shape)
            uniq, inv = np.unique(arr.astype(np.int64), return_inverse=True)
            return self._codes(uniq, inv, arr, name, shape, grow)
        return arr

    def _hash_codes(self, arr):
        """Indices of a 'U' array's strings through a hash table of the space (no sort).

        Returns (codes, first position not in the space or -1). The table is kept for the
        array's string width until the space changes.
        """
        width = arr.dtype.itemsize // 4
        key = (width, len(self.values))
        cache = getattr(self, "_str_cache", None)
        if cache is None or cache[0] != key:
            names = [v for v in self.values if len(v) <= width]
            keys = np.array(names, dtype=arr.dtype).view(np.uint32).reshape(len(names), width)
            size = 1 << max(2, (2 * len(names)).bit_length())
            cache = (key, keys, K.str_table(keys, size),
                     np.array([self.index[v] for v in names], dtype=np.int64))
            self._str_cache = cache
        _, keys, table, codes = cache
        rows = np.ascontiguousarray(arr).view(np.uint32).reshape(arr.shape[0], width)
        out = np.empty(arr.shape[0], dtype=np.int64)
        return out, K.str_codes(rows, keys, table, codes, out)

    def _codes(self, uniq, inv, arr, name, shape, grow):
        keys = uniq.tolist()
        missing = [u for u in keys if u not in self.index]
        if missing:
            if not grow:
                self._raise_unknown(arr, name, shape, set(missing))
            self.add_keys(missing)
        table = np.fromiter((self.index[u] for u in keys), np.int64, len(keys))
        return table[inv.reshape(-1)]

    def _check_integers(self, arr, name, shape):
        """Label values must be integers that int64 holds (floats: integral, in range)."""
        if arr.dtype.kind == "f":
            bad = K.first_not_integer(arr)
            if bad >= 0:
                raise self.not_integer_error(name, shape, bad, arr[bad])
        elif arr.dtype == np.uint64:
            big = np.flatnonzero(arr > np.uint64(_I64_MAX))
            if big.size:
                raise _range_error(name, shape, int(big[0]), arr[big[0]])

    def grow_numeric(self, arr, name, shape, keep=None):
        """Add the labels of a numeric batch that the space lacks (dynamic spaces); with
        ``keep``, only those of the samples it marks (the others are not checked either, and
        positions in errors are the batch's)."""
        self._check_kind("num", name)
        if keep is not None:
            self._check_integers(np.where(keep, arr, arr.dtype.type(0)), name, shape)
            arr = arr[keep]
        if arr.size == 0:
            return
        if keep is None:
            self._check_integers(arr, name, shape)
        if arr.dtype.kind in "iubf":  # a table over [min, max] beats a sort when it is small
            vals, ok = K.distinct_ints(arr.reshape(-1), self._MAX_SPAN)
            if ok:
                self.add_keys(vals.tolist())
                return
        self.add_keys([int(v) for v in np.unique(arr).tolist()])

    @staticmethod
    def not_integer_error(name, shape, i, v) -> E.BatchValueError:
        return E.bad_value(
            name, shape, i, v, describe_value(v),
            "is not a class label: labels must be integers or strings (continuous values are "
            "not supported; binary scores need a space of two classes, e.g. num_classes=2)")

    @staticmethod
    def not_integer_message(name, shape, i, v) -> str:
        return str(LabelSpace.not_integer_error(name, shape, i, v))

    def _raise_unknown(self, arr, name, shape, missing):
        flat = arr.reshape(-1)
        for i, v in enumerate(flat.tolist()):
            if v in missing:
                raise self.unknown_error(name, shape, i, v)
        raise AssertionError("unreachable")  # pragma: no cover

    def unknown_error(self, name, shape, i, v) -> E.BatchValueError:
        return E.bad_value(name, shape, i, v, describe_value(v),
                           f"is not in the label space {show_labels(self.values)}")

    def unknown_message(self, name, shape, i, v) -> str:
        return str(self.unknown_error(name, shape, i, v))


# --------------------------------------------------------------------------------------------
# scipy.sparse indicator matrices (read in blocks of rows, never densified whole)

SPARSE_BLOCK_CELLS = 1 << 20  # cells of one dense block of rows


def is_sparse(x) -> bool:
    """A scipy.sparse matrix or array (scipy is never imported for this)."""
    mod = _module(x)
    if not mod.startswith("scipy.sparse"):
        return False
    import scipy.sparse as sp

    return sp.issparse(x)


def sparse_rows(x):
    """A sparse matrix in a form whose row slices are cheap (CSR); other inputs as they are."""
    if is_sparse(x):
        return x.tocsr() if x.format != "csr" else x
    return x


def row_block_bounds(n: int, width: int):
    """(start, stop) of blocks of rows holding at most ``SPARSE_BLOCK_CELLS`` cells."""
    step = max(1, SPARSE_BLOCK_CELLS // max(int(width), 1))
    return [(a, min(a + step, n)) for a in range(0, n, step)] or [(0, 0)]


def dense_rows(x, a: int, b: int) -> np.ndarray:
    """Rows a..b of a CSR matrix (see ``sparse_rows``) or of an array, as a dense array."""
    if is_sparse(x):
        return np.asarray(x[a:b].toarray())
    return x[a:b]
