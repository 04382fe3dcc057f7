"""The tables' columns without pandas, and the DataFrame made of them when one is asked for.

:func:`inferwire.analyze` builds its tables column by column in worker processes and joins them;
``inferwire analyze --out`` then only writes them (CSV and Parquet) and prints a summary.  None of
that needs pandas, whose import was a fifth of the command's time (0.25 s of 1.1 s on a
280,000-packet capture), so the columns are kept as plain arrays until a DataFrame is asked for:

* ``float64`` and ``int64``: numpy arrays (NaN where a float is unknown);
* ``Int64`` and ``boolean``: :class:`Masked` (values and a mask of the missing ones: what pandas'
  ``IntegerArray`` and ``BooleanArray`` hold, handed over without a copy);
* ``datetime64[ns, UTC]``: :class:`Instants` (datetime64[ns] values, NaT where unknown);
* ``string``: an Arrow ``large_string`` array, or a chunked one once joined (what pandas'
  ``ArrowStringArray`` holds).

A column may also be a pandas array already (the rare values only pandas converts, or names the
fault of: :func:`inferwire.analysis.tables.typed`'s fallback); every function here takes those
too.  :class:`Table` is a table of such columns; :meth:`Table.frame` its DataFrame.

``pyarrow.array()`` and ``pyarrow.scalar()`` import pandas whenever it is installed (to check
whether they were given pandas objects), so the Arrow arrays of this pandas-free path are made
from numpy buffers (:func:`arrow_of`), with Arrow's ``StringBuilder`` (:func:`texts_of`) and
scalars taken from such arrays (:func:`text_scalar`).
"""
from __future__ import annotations

import sys

import numpy as np
import pyarrow as pa

from .arrowcalls import cast
from .arrowcalls import take as arrow_take
from .columns import UTC_DTYPE as UTC    # dtype of the instants (the ``*_utc`` columns)

#: The Arrow kinds of a string column: one array, or chunks (pieces joined without a copy).
ARROW = (pa.Array, pa.ChunkedArray)


class Masked:
    """An ``Int64`` or ``boolean`` column: ``values`` (int64 or bool; any value under a missing
    one, as pandas keeps 1 or False there) and ``mask`` (True where missing)."""

    __slots__ = ("values", "mask", "dtype")

    def __init__(self, values: np.ndarray, mask: np.ndarray, dtype: str):
        self.values, self.mask, self.dtype = values, mask, dtype

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, rows: slice) -> "Masked":
        return Masked(self.values[rows], self.mask[rows], self.dtype)

    def take(self, rows: np.ndarray) -> "Masked":
        return Masked(self.values.take(rows), self.mask.take(rows), self.dtype)

    def __reduce__(self):
        return Masked, (self.values, self.mask, self.dtype)


class Instants:
    """A ``datetime64[ns, UTC]`` column: datetime64[ns] ``values``, NaT where unknown."""

    __slots__ = ("values",)
    dtype = UTC

    def __init__(self, values: np.ndarray):
        self.values = values

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, rows: slice) -> "Instants":
        return Instants(self.values[rows])

    def take(self, rows: np.ndarray) -> "Instants":
        return Instants(self.values.take(rows))

    def __reduce__(self):
        return Instants, (self.values,)


def arrow_of(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """A numpy array of numbers or bools as an Arrow array (null where ``mask``), from its
    buffers: what ``pa.array(values, mask=mask)`` makes."""
    values = np.ascontiguousarray(values)
    nulls = int(np.count_nonzero(mask)) if mask is not None else 0
    validity = pa.py_buffer(np.packbits(~mask, bitorder="little")) if nulls else None
    if values.dtype == np.bool_:
        kind, data = pa.bool_(), pa.py_buffer(np.packbits(values, bitorder="little"))
    else:
        kind, data = pa.from_numpy_dtype(values.dtype), pa.py_buffer(values)
    return pa.Array.from_buffers(kind, len(values), [validity, data], null_count=nulls)


def texts_of(values, large: bool = True) -> pa.Array:
    """A list of str and None as an Arrow ``large_string`` (``large``) or ``string`` array:
    by ``pa.array`` where pandas is loaded already, else by Arrow's StringBuilder (a third of
    ``pa.array``'s speed, without its import of pandas).  TypeError, ArrowTypeError or
    ArrowInvalid for values that are not all str or None."""
    kind = pa.large_string() if large else pa.string()
    if pandas_loaded():
        return pa.array(values, type=kind)
    builder = pa.lib.StringBuilder()
    builder.append_values(values if isinstance(values, list) else list(values))
    out = builder.finish()
    return cast(out, kind) if large else out


_SCALARS: dict = {}


def text_scalar(text: str) -> pa.Scalar:
    """``text`` as an Arrow ``string`` scalar (for the compute functions' arguments)."""
    if text not in _SCALARS:
        _SCALARS[text] = texts_of([text], large=False)[0]
    return _SCALARS[text]


def numpy_of(arr) -> np.ndarray:
    """A null-free Arrow array (or chunked array) of numbers or bools as numpy (no copy for
    the numbers of one array)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_boolean(arr.type):
        bits = np.frombuffer(arr.buffers()[1], dtype=np.uint8)
        return np.unpackbits(bits, bitorder="little", count=arr.offset + len(arr))[
            arr.offset:].astype(bool)
    dtype = arr.type.to_pandas_dtype()
    return np.frombuffer(arr.buffers()[1], dtype=dtype)[arr.offset:arr.offset + len(arr)]


def instants(ns: np.ndarray, known: np.ndarray) -> Instants:
    """int64 ns since the epoch (where ``known``) as an :class:`Instants` column."""
    return Instants(np.where(known, ns, np.iinfo(np.int64).min).view("M8[ns]"))


def is_plain(column) -> bool:
    """True for a column of this module's kinds (numpy, Masked, Instants, Arrow), not pandas."""
    return isinstance(column, (np.ndarray, Masked, Instants) + ARROW)


def dtype_of(column) -> str:
    """The table dtype of a column (``"Int64"``, ``"string"``, ...)."""
    if isinstance(column, (Masked, Instants)):
        return column.dtype
    if isinstance(column, ARROW):
        return "string"
    return str(column.dtype)


def take(column, rows: np.ndarray):
    """The rows ``rows`` of ``column``, in that order."""
    if isinstance(column, ARROW):
        return arrow_take(column, arrow_of(np.asarray(rows, dtype=np.int64)))
    return column.take(rows)


def concatenated(pieces: list):
    """Columns of one dtype end to end (pandas arrays among them: all as pandas arrays)."""
    first = pieces[0]
    if isinstance(first, np.ndarray) and all(isinstance(p, np.ndarray) for p in pieces):
        return np.concatenate(pieces)
    if all(isinstance(p, ARROW) for p in pieces):
        return _chunked(pieces)
    if all(type(p) is type(first) for p in pieces):
        if isinstance(first, Masked):
            return Masked(np.concatenate([p.values for p in pieces]),
                          np.concatenate([p.mask for p in pieces]), first.dtype)
        if isinstance(first, Instants):
            return Instants(np.concatenate([p.values for p in pieces]))
        if not is_plain(first):
            return type(first)._concat_same_type(pieces)
    arrays = [pandas_array(p) for p in pieces]
    return type(arrays[0])._concat_same_type(arrays)


def _chunked(pieces: list) -> pa.ChunkedArray:
    """Arrow string columns (arrays or chunked arrays) end to end, as chunks: no copy."""
    chunks = [c for p in pieces for c in (p.chunks if isinstance(p, pa.ChunkedArray) else [p])]
    return pa.chunked_array(chunks, type=pieces[0].type)


def pandas_array(column):
    """``column`` as the array a DataFrame holds: numpy as it is, the others as pandas'
    nullable, datetime and Arrow string arrays (no copy of the values, except a boolean
    column's)."""
    if isinstance(column, np.ndarray) or not is_plain(column):
        return column
    import pandas as pd       # deferred: the CLI writes and summarises without pandas
    if isinstance(column, Masked):
        if column.dtype == "boolean":
            return pd.arrays.BooleanArray(column.values, column.mask)
        return pd.arrays.IntegerArray(column.values, column.mask)
    if isinstance(column, Instants):
        return pd.array(column.values, dtype=pd.DatetimeTZDtype("ns", "UTC"))
    if _arrow_strings(pd):
        return pd.arrays.ArrowStringArray(column)        # pandas 3 (2 by option): in Arrow
    return pd.array(column.to_pylist(), dtype="string")  # pandas 2: Python strings


_STRING_STORAGE: dict = {}


def _arrow_strings(pd) -> bool:
    """Whether pandas keeps "string" columns in Arrow (its default storage, asked once)."""
    if "arrow" not in _STRING_STORAGE:
        _STRING_STORAGE["arrow"] = isinstance(pd.array([], dtype="string"),
                                              pd.arrays.ArrowStringArray)
    return _STRING_STORAGE["arrow"]


class Table:
    """Named columns of one length, in order: a table before (or instead of) its DataFrame."""

    __slots__ = ("columns",)

    def __init__(self, columns: dict):
        self.columns = columns

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    @property
    def names(self) -> list[str]:
        return list(self.columns)

    def __getitem__(self, name: str):
        return self.columns[name]

    def rows(self, start: int, stop: int) -> "Table":
        """Rows ``[start, stop)`` (views: no copy)."""
        return Table({k: c[start:stop] for k, c in self.columns.items()})

    def plain(self) -> bool:
        """True when every column is of this module's kinds (none a pandas array)."""
        return all(is_plain(c) for c in self.columns.values())

    def frame(self):
        """The table as a pandas DataFrame (the arrays handed over, not copied)."""
        import pandas as pd       # deferred: see the module doc
        return pd.DataFrame({k: pandas_array(c) for k, c in self.columns.items()},
                            columns=self.names, copy=False)

    def __reduce__(self):
        return Table, (self.columns,)


def pandas_loaded() -> bool:
    """Whether pandas is imported in this process already (its arrays may then be met)."""
    return "pandas" in sys.modules
