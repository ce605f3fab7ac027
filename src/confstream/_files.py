"""Chunked readers for the ``confstream`` command: CSV, Parquet, ``.npy`` and ``.npz``.

Each reader yields :class:`Chunk` objects (the file offset of the chunk's first row and one
numpy array per requested column) and never holds more than one chunk, so memory does not grow
with the file. Problems with the file are raised as :class:`InputError`, whose message is one
line meant for the command line.

Rows are numbered from 0, like a pandas index or a numpy array, not counting a CSV header.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np

__all__ = ["Chunk", "InputError", "TableReader", "open_table", "first_bad_row", "FORMATS",
           "Part", "list_parts"]

# Extension -> reader kind. Compressed CSV is decompressed on the fly by pyarrow.
FORMATS = {
    ".csv": "csv", ".tsv": "csv", ".txt": "csv",
    ".parquet": "parquet", ".pq": "parquet",
    ".npy": "npy", ".npz": "npz",
}
_CSV_COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".lz4": "lz4"}


class InputError(Exception):
    """A problem with the input file, worded as one line for the command line."""


@dataclass
class Chunk:
    start: int                       # row number of the chunk's first row in the file
    columns: dict[str, np.ndarray]
    line_offset: int | None = None   # CSV: a row's line number in the file is row + this

    def where(self, i: int) -> str:
        """``row N`` (and ``(line L)`` for CSV) of the chunk's ``i``-th row."""
        row = self.start + i
        return f"row {row}{_line(row, self.line_offset)}"

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0


@dataclass
class TableReader:
    """An open file: iterate for chunks; ``kinds`` says each column's label type.

    ``kinds[col]`` is one of ``"int"``, ``"float"``, ``"bool"``, ``"str"`` or ``"other"``; it is
    known after the first chunk (before it for Parquet and numpy files).
    ``total`` / ``done()`` / ``unit`` drive a progress bar (rows, or bytes for CSV).
    """

    chunks: Iterator[Chunk]
    kinds: dict[str, str]
    total: int | None
    unit: str
    done: Callable[[], int]
    close: Callable[[], None] = lambda: None

    def __iter__(self) -> Iterator[Chunk]:
        return self.chunks

    def __enter__(self) -> "TableReader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def format_of(path: str) -> str:
    """The reader kind for ``path`` from its extension (``.csv.gz`` counts as CSV)."""
    base, ext = os.path.splitext(path.lower())
    if ext in _CSV_COMPRESSION:
        inner = os.path.splitext(base)[1]
        if FORMATS.get(inner) == "csv":
            return "csv"
    if ext not in FORMATS:
        known = ", ".join(sorted(set(FORMATS) | {".csv.gz"}))
        raise InputError(f"cannot read {path!r}: unknown file type {ext or '(none)'!r}; "
                         f"expected one of {known}")
    return FORMATS[ext]


def open_table(path: str, columns: Sequence[str], chunksize: int) -> TableReader:
    """Open ``path`` and read ``columns`` from it, ``chunksize`` rows at a time (about, for CSV)."""
    if chunksize < 1:
        raise InputError(f"chunksize must be at least 1, got {chunksize}")
    kind = format_of(path)
    if not os.path.exists(path):
        raise InputError(f"no such file: {path!r}")
    if os.path.isdir(path):
        raise InputError(f"{path!r} is a directory, not a file")
    columns = list(dict.fromkeys(columns))           # --true y --pred y is allowed
    opener = {"csv": _open_csv, "parquet": _open_parquet, "npy": _open_npy, "npz": _open_npz}[kind]
    try:
        return opener(path, columns, chunksize)
    except InputError:
        raise
    except OSError as e:
        raise InputError(f"cannot read {path!r}: {e.strerror or e}") from None


def first_bad_row(n: int, ok: Callable[[int], bool]) -> int:
    """The smallest ``k`` in ``[0, n)`` such that ``ok(k + 1)`` is false (prefix ``[:k+1]`` fails).

    ``ok(k)`` tells whether the first ``k`` rows pass; it must be monotone (a failing prefix
    keeps failing when it grows) and ``ok(n)`` must be false. Costs about log2(n) calls.
    """
    lo, hi = 0, n                     # ok(lo) is true (empty prefix), ok(hi) is false
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return hi - 1


def _need_pyarrow(what: str) -> Any:
    try:
        import pyarrow  # noqa: F401
        import pyarrow.compute
    except ImportError:
        raise InputError(f"reading {what} files needs pyarrow: pip install 'confstream[files]'") \
            from None
    return pyarrow


def _missing_column(path: str, col: str, names: Sequence[str]) -> InputError:
    shown = ", ".join(repr(n) for n in list(names)[:20]) + (", ..." if len(names) > 20 else "")
    return InputError(f"column {col!r} not found in {path!r}; it has {shown or 'no columns'}")


# --------------------------------------------------------------------------------------------
# Arrow columns (CSV and Parquet) -> numpy

def _arrow_kind(t: Any) -> str:
    import pyarrow as pa
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "str"
    return "other"


def _arrow_to_numpy(arr: Any, col: str, start: int, line_offset: int | None) -> np.ndarray:
    import pyarrow as pa
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count:
        row = start + int(np.argmax(arr.is_null().to_numpy(zero_copy_only=False)))
        raise InputError(f"row {row}{_line(row, line_offset)}: missing value in column {col!r}")
    if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type) or \
            pa.types.is_fixed_size_list(arr.type):
        return _list_to_matrix(arr, col, start, line_offset)
    if _arrow_kind(arr.type) == "str":
        # Fixed-width unicode through a dictionary: vectorised, where to_numpy() would build
        # one Python str per row.
        import pyarrow.compute as pc
        enc = arr if pa.types.is_dictionary(arr.type) else pc.dictionary_encode(arr)
        values = np.asarray(enc.dictionary.to_pylist(), dtype=str)
        return values[enc.indices.to_numpy(zero_copy_only=False)]
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr.to_numpy(zero_copy_only=False)


def _list_to_matrix(arr: Any, col: str, start: int, line_offset: int | None) -> np.ndarray:
    """A list column (one multi-label row per list) as an (N, L) array; every row must hold
    the same number of values, none missing."""
    import pyarrow as pa
    import pyarrow.compute as pc
    n = len(arr)
    if pa.types.is_fixed_size_list(arr.type):
        width = arr.type.list_size
    else:
        lengths = pc.list_value_length(arr).to_numpy(zero_copy_only=False)
        width = int(lengths[0]) if n else 0
        bad = np.flatnonzero(lengths != width)
        if bad.size:
            row = start + int(bad[0])
            raise InputError(f"row {row}{_line(row, line_offset)}: column {col!r} holds "
                             f"{int(lengths[bad[0]])} values where row {start} holds {width} "
                             f"(every row needs one value per label)")
    values = arr.flatten()
    if values.null_count:
        k = int(np.argmax(values.is_null().to_numpy(zero_copy_only=False)))
        row = start + k // max(width, 1)
        raise InputError(f"row {row}{_line(row, line_offset)}: missing value in column "
                         f"{col!r} (label {k % max(width, 1)})")
    flat = _arrow_to_numpy(values, col, start, line_offset)
    return flat.reshape(n, width)


def _release_unused() -> None:
    """Hand the chunk just counted back to the OS: Arrow's allocator keeps freed pages for
    reuse, and the keeping, not the data, would otherwise grow with the row groups read."""
    import pyarrow as pa
    pa.default_memory_pool().release_unused()


def _line(row: int, line_offset: int | None) -> str:
    return "" if line_offset is None else f" (line {row + line_offset})"


# --------------------------------------------------------------------------------------------
# CSV: pyarrow's streaming reader. Every requested column is read as text and typed here, from
# the first chunk, like pandas would type the whole column (int, else float, else bool, else
# str). A later value that does not fit the type (an ``x`` after integers) is reported with its
# row instead of silently changing every earlier label's type.

_BOOL_TEXT = {"true": True, "false": False}


def _type_text(arr: Any) -> str:
    """The label kind of a text column, from its values."""
    import pyarrow as pa
    import pyarrow.compute as pc
    if len(arr) == 0:
        return "str"
    trimmed = pc.utf8_trim_whitespace(arr)          # pandas reads " 1" as 1
    for kind, typ in (("int", pa.int64()), ("float", pa.float64())):
        try:
            pc.cast(trimmed, typ)
            return kind
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    lowered = pc.utf8_lower(trimmed)
    if pc.all(pc.is_in(lowered, value_set=pa.array(list(_BOOL_TEXT)))).as_py():
        return "bool"
    return "str"


def _convert_text(arr: Any, kind: str) -> Any:
    """Raises ValueError when a value does not fit ``kind``."""
    import pyarrow as pa
    import pyarrow.compute as pc
    if kind == "str":
        return arr
    arr = pc.utf8_trim_whitespace(arr)
    try:
        if kind == "int":
            return pc.cast(arr, pa.int64())
        if kind == "float":
            return pc.cast(arr, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise ValueError(str(e)) from None
    if kind == "bool":
        lowered = pc.utf8_lower(arr)
        if not pc.all(pc.is_in(lowered, value_set=pa.array(list(_BOOL_TEXT)))).as_py():
            raise ValueError("not a boolean")
        return pc.equal(lowered, "true")
    return arr                                      # pragma: no cover (kinds are exhaustive)


_KIND_WORDS = {"int": "an integer", "float": "a number", "bool": "True or False"}


def _open_csv(path: str, columns: list[str], chunksize: int) -> TableReader:
    pa = _need_pyarrow("CSV")
    import pyarrow.csv as pcsv

    lower = path.lower()
    delimiter = "\t" if lower.endswith((".tsv",) + tuple(".tsv" + e for e in _CSV_COMPRESSION)) \
        else ","
    compression = _CSV_COMPRESSION.get(os.path.splitext(lower)[1])
    size = os.path.getsize(path)
    raw = pa.OSFile(path, "rb")
    stream = pa.CompressedInputStream(raw, compression) if compression else raw

    block_size = _csv_block_size(path, compression, chunksize)
    read_opts = pcsv.ReadOptions(block_size=block_size, use_threads=True)
    parse_opts = pcsv.ParseOptions(delimiter=delimiter)
    conv_opts = pcsv.ConvertOptions(
        include_columns=columns,
        column_types={c: pa.string() for c in columns},
        strings_can_be_null=True,
    )
    try:
        reader = pcsv.open_csv(stream, read_options=read_opts, parse_options=parse_opts,
                               convert_options=conv_opts)
    except KeyError:
        names = _csv_header(path, compression, delimiter)
        stream.close()
        missing = next((c for c in columns if c not in names), columns[0])
        raise _missing_column(path, missing, names) from None
    except (pa.ArrowInvalid, OSError) as e:
        stream.close()
        raise InputError(f"cannot read {path!r} as CSV: {_first_line(e)}") from None

    kinds: dict[str, str] = {}

    def chunks() -> Iterator[Chunk]:
        # pyarrow reads ahead several blocks, so blocks stay small (memory) and batches are
        # joined here into chunks of about ``chunksize`` rows (fewer calls into the core).
        pending: list[dict[str, np.ndarray]] = []
        rows = first = 0
        for start, out in batches():
            if not pending:
                first = start
            pending.append(out)
            rows += len(next(iter(out.values())))
            if rows >= chunksize:
                yield _joined(pending, first)
                pending, rows = [], 0
                _release_unused()
        if pending:
            yield _joined(pending, first)

    def batches() -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        start = 0
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except (pa.ArrowInvalid, OSError) as e:
                raise InputError(f"cannot read {path!r} as CSV after row {start - 1}: "
                                 f"{_first_line(e)}") from None
            n = batch.num_rows
            if n == 0:
                continue
            out = {}
            for col in columns:
                text = batch.column(col)
                if text.null_count:
                    _arrow_to_numpy(text, col, start, 2)          # raises, naming the row
                if col not in kinds:
                    kinds[col] = _type_text(text)
                try:
                    typed = _convert_text(text, kinds[col])
                except ValueError:
                    k = first_bad_row(n, lambda m: _fits(text.slice(0, m), kinds[col]))
                    row = start + k
                    raise InputError(
                        f"row {row} (line {row + 2}): {text[k].as_py()!r} in column {col!r} is "
                        f"not {_KIND_WORDS[kinds[col]]} like the rows before it") from None
                out[col] = _arrow_to_numpy(typed, col, start, 2)
            yield start, out
            start += n

    return TableReader(chunks(), kinds, total=size, unit="B", done=raw.tell, close=stream.close)


def _joined(parts: list[dict[str, np.ndarray]], start: int) -> Chunk:
    if len(parts) == 1:
        return Chunk(start, parts[0], line_offset=2)
    return Chunk(start, {c: np.concatenate([p[c] for p in parts]) for c in parts[0]},
                 line_offset=2)


def _fits(arr: Any, kind: str) -> bool:
    try:
        _convert_text(arr, kind)
        return True
    except ValueError:
        return False


def _first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0]


def _csv_sample(path: str, compression: str | None, nbytes: int = 1 << 16) -> bytes:
    import pyarrow as pa
    with pa.input_stream(path, compression=compression) as f:
        return f.read(nbytes)


def _csv_block_size(path: str, compression: str | None, chunksize: int) -> int:
    """Bytes per pyarrow block for about ``chunksize`` rows, from the lines at the file's start."""
    sample = _csv_sample(path, compression)
    lines = sample.split(b"\n")[1:-1] or [sample]     # skip the header and a cut last line
    mean = sum(len(l) + 1 for l in lines) / len(lines)
    longest = max(len(l) + 1 for l in lines)
    # A block must hold at least one whole row: leave room for longer rows later on. pyarrow
    # keeps several blocks in flight, so more than about 256 KiB costs memory, not speed.
    floor = max(64 * longest, 1 << 10)
    return int(min(max(chunksize * mean, floor), max(1 << 18, floor)))


def _csv_header(path: str, compression: str | None, delimiter: str) -> list[str]:
    import csv
    import io
    first = _csv_sample(path, compression).split(b"\n", 1)[0].decode("utf-8", "replace")
    return next(csv.reader(io.StringIO(first), delimiter=delimiter), [])


# --------------------------------------------------------------------------------------------
# Parquet: one record batch at a time, only the needed columns.

def _open_parquet(path: str, columns: list[str], chunksize: int) -> TableReader:
    pa = _need_pyarrow("Parquet")
    import pyarrow.parquet as pq
    try:
        # pre_buffer would read whole row groups ahead: ~80 MB more for no speed here.
        pf = pq.ParquetFile(path, pre_buffer=False)
    except (pa.ArrowInvalid, OSError) as e:
        raise InputError(f"cannot read {path!r} as Parquet: {_first_line(e)}") from None
    schema = pf.schema_arrow
    for col in columns:
        if col not in schema.names:
            pf.close()
            raise _missing_column(path, col, schema.names)
    kinds = {c: _arrow_kind(schema.field(c).type) for c in columns}
    done = [0]

    def chunks() -> Iterator[Chunk]:
        start = 0
        try:
            for batch in pf.iter_batches(batch_size=chunksize, columns=columns):
                n = batch.num_rows
                out = {c: _arrow_to_numpy(batch.column(c), c, start, None) for c in columns}
                done[0] = start + n
                if n:
                    yield Chunk(start, out)
                    del out
                    _release_unused()
                start += n
        except (pa.ArrowInvalid, OSError) as e:
            raise InputError(f"cannot read {path!r} as Parquet after row {start - 1}: "
                             f"{_first_line(e)}") from None

    return TableReader(chunks(), kinds, total=pf.metadata.num_rows, unit="rows",
                       done=lambda: done[0], close=pf.close)


# --------------------------------------------------------------------------------------------
# .npy / .npz: the array header is parsed and the data read ``chunksize`` rows at a time with
# plain reads (a memory map would keep every page it touched resident, so its RSS grows with
# the file). Members of a .npz are streamed too, compressed or not.

@dataclass
class _Npy:
    """One array in a .npy file or .npz member: its header, and how to reopen its data."""
    name: str
    reopen: Callable[[], Any]      # a binary file positioned at the first data byte
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool
    handles: list = field(default_factory=list)

    def open(self) -> Any:
        f = self.reopen()
        self.handles.append(f)
        return f

    def close(self) -> None:
        for f in self.handles:
            f.close()
        self.handles.clear()


def _read_npy_header(f: Any, name: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(f)
        elif version == (3, 0):                     # utf-8 field names; no public reader
            impl = getattr(np.lib, "_format_impl", fmt)
            shape, fortran, dtype = impl._read_array_header(f, version)
        else:
            raise ValueError(f"unknown .npy format version {version}")
    except (ValueError, OSError, EOFError, SyntaxError, zipfile.BadZipFile) as e:
        raise InputError(f"cannot read {name} as a numpy array: {_first_line(e)}") from None
    if dtype.hasobject:
        raise InputError(f"{name} holds Python objects, which need pickle to load; confstream "
                         f"does not unpickle files (save labels as numbers or a fixed-width "
                         f"string array, e.g. arr.astype(str))")
    return tuple(shape), bool(fortran), dtype


def _npy_from_file(path: str) -> _Npy:
    with open(path, "rb") as f:
        shape, fortran, dtype = _read_npy_header(f, repr(path))
        offset = f.tell()

    def reopen() -> Any:
        f = open(path, "rb")
        f.seek(offset)
        return f

    return _Npy(repr(path), reopen, shape, dtype, fortran)


def _kind_of_dtype(dtype: np.dtype) -> str:
    if dtype.kind in "iu":
        return "int"
    if dtype.kind == "f":
        return "float"
    if dtype.kind == "b":
        return "bool"
    if dtype.kind in "US":
        return "str"
    return "other"


def _read_rows(f: Any, npy: _Npy, rows: int, rowshape: tuple[int, ...]) -> np.ndarray:
    per_row = int(np.prod(rowshape, dtype=np.int64)) * npy.dtype.itemsize
    want = rows * per_row
    buf = f.read(want)
    if len(buf) != want:
        raise InputError(f"{npy.name} is truncated: its header promises more data than it has")
    return np.frombuffer(buf, dtype=npy.dtype).reshape((rows,) + rowshape)


def _feed_rows(npy: _Npy, fields: dict[str, Any], chunksize: int) -> Iterator[dict[str, np.ndarray]]:
    """C-order array, read ``chunksize`` rows at a time; ``fields`` maps column -> selector
    (None for the whole row, an int for a column of a 2-D array, a str for a record field)."""
    f = npy.open()
    n = npy.shape[0]
    for start in range(0, n, chunksize):
        block = _read_rows(f, npy, min(chunksize, n - start), npy.shape[1:])
        out = {}
        for col, sel in fields.items():
            if sel is None:
                out[col] = block
            elif isinstance(sel, str):
                out[col] = block[sel]
            else:
                out[col] = np.ascontiguousarray(block[:, sel])
        yield out


def _feed_fortran_column(npy: _Npy, col: str, j: int, chunksize: int,
                         ) -> Iterator[dict[str, np.ndarray]]:
    """Column ``j`` of a 2-D Fortran-order array: contiguous, so read it straight."""
    f = npy.open()
    n = npy.shape[0]
    f.seek(f.tell() + j * n * npy.dtype.itemsize)
    for start in range(0, n, chunksize):
        yield {col: _read_rows(f, npy, min(chunksize, n - start), ())}


def _open_npy(path: str, columns: list[str], chunksize: int) -> TableReader:
    npy = _npy_from_file(path)
    fields: dict[str, Any] = {}
    if npy.dtype.names:                                  # a record array: columns are fields
        if len(npy.shape) != 1:
            raise InputError(f"{path!r} holds a {len(npy.shape)}-D record array; expected 1-D")
        for col in columns:
            if col not in npy.dtype.names:
                raise _missing_column(path, col, npy.dtype.names)
            fields[col] = col
        kinds = {c: _kind_of_dtype(npy.dtype[c]) for c in columns}
    elif len(npy.shape) == 2:                            # columns are indices 0..K-1
        k = npy.shape[1]
        for col in columns:
            try:
                j = int(col)
            except ValueError:
                j = -1
            if not 0 <= j < k or str(j) != col.strip():
                raise InputError(f"column {col!r} not found in {path!r}: it holds a 2-D array "
                                 f"of shape {npy.shape}, so columns are numbered 0 to {k - 1}")
            fields[col] = j
        kinds = {c: _kind_of_dtype(npy.dtype) for c in columns}
    else:
        raise InputError(f"{path!r} holds an array of shape {npy.shape}; a .npy file needs a "
                         f"2-D array (columns 0, 1, ...) or a record array (named fields). "
                         f"Put 1-D arrays in a .npz: np.savez(path, y_true=..., y_pred=...)")
    if npy.fortran:
        feeds = [_feed_fortran_column(npy, c, j, chunksize) for c, j in fields.items()]
    else:
        feeds = [_feed_rows(npy, fields, chunksize)]
    return _lockstep(feeds, npy.shape[0], kinds, close=npy.close)


def _open_npz(path: str, columns: list[str], chunksize: int) -> TableReader:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise InputError(f"cannot read {path!r} as .npz: {_first_line(e)}") from None
    arrays = {n[:-4]: n for n in zf.namelist() if n.endswith(".npy")}
    members: list[_Npy] = []
    try:
        for col in columns:
            if col not in arrays:
                raise _missing_column(path, col, list(arrays))
            member = arrays[col]

            def reopen(member: str = member) -> Any:
                f = zf.open(member)
                _read_npy_header(f, member)
                return f

            with zf.open(member) as f:
                shape, fortran, dtype = _read_npy_header(f, f"{path!r}[{col!r}]")
            name = f"array {col!r} in {path!r}"
            if not shape:
                raise InputError(f"{name} is a scalar, not a column")
            if fortran and len(shape) > 1:
                raise InputError(f"{name} is stored in Fortran order; save it with "
                                 f"np.ascontiguousarray(...) to read it in chunks")
            members.append(_Npy(name, reopen, shape, dtype, fortran))
        lengths = {m.name: m.shape[0] for m in members}
        if len(set(lengths.values())) > 1:
            (a, na), (b, nb) = [(k, v) for k, v in lengths.items()][:2]
            if na == nb:
                (b, nb) = next((k, v) for k, v in lengths.items() if v != na)
            raise InputError(f"columns differ in length: {a} has {na} rows, {b} has {nb}")
    except InputError:
        zf.close()
        raise
    feeds = [_feed_rows(m, {c: None}, chunksize) for c, m in zip(columns, members)]
    kinds = {c: _kind_of_dtype(m.dtype) for c, m in zip(columns, members)}

    def close() -> None:
        for m in members:
            m.close()
        zf.close()

    n = members[0].shape[0] if members else 0
    return _lockstep(feeds, n, kinds, close=close)


def _lockstep(feeds: list[Iterator[dict[str, np.ndarray]]], n: int, kinds: dict[str, str],
              close: Callable[[], None]) -> TableReader:
    done = [0]

    def chunks() -> Iterator[Chunk]:
        start = 0
        for parts in zip(*feeds):
            out: dict[str, np.ndarray] = {}
            for p in parts:
                out.update(p)
            n = len(next(iter(out.values())))
            done[0] = start + n
            yield Chunk(start, out)
            start += n

    return TableReader(chunks(), kinds, total=n, unit="rows", done=lambda: done[0], close=close)


# --------------------------------------------------------------------------------------------
# datasets of many parts: a directory (hive partition folders ``key=value/``) or a glob

@dataclass
class Part:
    path: str
    partition: dict[str, Any] = field(default_factory=dict)   # hive columns of its folders


def list_parts(path: str) -> list[Part]:
    """The files of a dataset: ``path`` itself, the readable files under a directory (sorted,
    recursively; hidden and ``_``-prefixed names skipped, as pyarrow does), or a glob's matches.

    Folders named ``key=value`` give each file below them a column ``key`` (values read as
    integers when every part's value is one, else as strings, as pyarrow infers them)."""
    import glob
    from urllib.parse import unquote

    if os.path.isdir(path):
        files = []
        for root, dirs, names in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
            files += [os.path.join(root, n) for n in sorted(names)
                      if not n.startswith((".", "_")) and _known_format(n)]
        base = path
        if not files:
            raise InputError(f"no CSV, Parquet or numpy files under {path!r}")
    elif os.path.exists(path):
        return [Part(path)]
    elif glob.has_magic(path):
        files = sorted(f for f in glob.glob(path, recursive=True) if os.path.isfile(f))
        if not files:
            raise InputError(f"no file matches {path!r}")
        base = None
    else:
        raise InputError(f"no such file or directory: {path!r}")
    parts = []
    for f in files:
        rel = os.path.relpath(os.path.dirname(f), base) if base else os.path.dirname(f)
        hive = {}
        for folder in rel.split(os.sep):
            key, eq, value = folder.partition("=")
            if eq and key:
                hive[unquote(key)] = unquote(value)
        parts.append(Part(f, hive))
    keys = {k for p in parts for k in p.partition}
    for k in keys:
        values = [p.partition[k] for p in parts if k in p.partition]
        if all(_is_int_text(v) for v in values):
            for p in parts:
                if k in p.partition:
                    p.partition[k] = int(p.partition[k])
    return parts


def _known_format(name: str) -> bool:
    try:
        format_of(name)
        return True
    except InputError:
        return False


def _is_int_text(v: str) -> bool:
    try:
        int(v)
        return v.strip() == v and v != ""
    except ValueError:
        return False
