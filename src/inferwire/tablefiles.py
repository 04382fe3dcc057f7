"""Writing the tables to CSV, column-wise, byte for byte as pandas' ``to_csv`` wrote them.

Each column becomes one Arrow string array in a few vectorized calls, the columns are joined
into lines with Arrow's compute kernels, and the lines' bytes go to the file in blocks of
:data:`BLOCK_ROWS` rows; pandas formatted every cell in Python.

The text is the one pandas wrote (tests/test_tablefiles.py checks it on crafted tables and
sample captures):

* floats as Python's ``repr`` (``0.25``, ``3.0``, ``1e-05``, ``1e+16``), empty for NaN: Arrow's
  own float-to-text gives the same shortest digits but other layouts (``3``, ``0.00001``), so
  its text is kept only where the two agree (non-integral, 1e-4 <= |x| < 1e10), ``.0`` is added
  to integral values in that range, and numpy (as pandas) formats the rest;
* integers as digits, booleans ``True``/``False``, missing values (NA, None, NaT) empty;
* ``*_utc`` Timestamps as ISO 8601 text: ``2026-12-04T22:48:13.940495740Z``, empty where
  unknown; readers parse it back exact to the ns (``pd.to_datetime(..., utc=True,
  format="ISO8601")``);
* text quoted only where it holds a comma, a double quote or a newline (quotes doubled), as
  Python's csv module does for pandas; pyarrow's CSV writer quotes every string (and refuses
  unquoted ones that need it), so its bytes could not match and it is not used.

A column of any other dtype (an object column of mixed values), or a one-column table, sends
the whole table through pandas' ``to_csv``, as before.

A table may be a DataFrame or an :class:`inferwire.arrays.Table` (the analysis' columns before
any DataFrame is made: ``inferwire analyze --out`` writes them without importing pandas); the
bytes written are the same.  :func:`write_parquet` writes either as ``DataFrame.to_parquet``
did, the pandas metadata included.
"""
from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa

from . import arrowcalls as ac
from .arrays import ARROW, Instants, Masked, Table, arrow_of, dtype_of, text_scalar, texts_of

try:              # the rows joined in C (_csvrows.c); Arrow's joins are the reading without it
    from ._csvrows import join as _c_join
except ImportError:
    _c_join = None

#: Rows formatted and written at a time: bounds the text held in memory (~60 MB at 600 B/row,
#: times the blocks in flight: two per thread).
BLOCK_ROWS = 100_000
#: Threads formatting blocks at once (at most one per CPU), and the fewest rows of a block when
#: a table is cut into smaller ones to give each thread one.
CSV_THREADS = 2
MIN_BLOCK_ROWS = 10_000
#: Where Arrow's float text equals ``repr``'s apart from a missing ``.0``: Arrow writes fixed
#: notation for 1e-6 <= |x| < 1e10 (then exponents), ``repr`` for 1e-4 <= |x| < 1e16.
_ARROW_FIXED = (1e-4, 1e10)
_NEEDS_QUOTES = '[,"\n]'
#: A boolean column's cells: missing, True, False.
_BOOL_TEXT = texts_of(["", "True", "False"], large=False)
#: A zero's text, by its sign bit.
_ZERO_TEXT = texts_of(["0.0", "-0.0"], large=False)
#: The bytes of :data:`_NEEDS_QUOTES`: ``,`` ``"`` LF.
_QUOTE_BYTES = np.frombuffer(b',"\n', dtype=np.uint8)


def csv_ready(df):
    """``df`` (a DataFrame) with every datetime64[ns, UTC] column as ISO 8601 strings ("" for
    NaT)."""
    import pandas as pd  # deferred: only DataFrames come here (see inferwire.arrays)
    stamps = [c for c in df.columns if isinstance(df[c].dtype, pd.DatetimeTZDtype)]
    if not stamps:
        return df
    out = df.copy()
    for c in stamps:
        out[c] = _iso_text(out[c])
    return out


def write_csv(df, path: str | os.PathLike) -> None:
    """``df`` (a DataFrame or an :class:`~inferwire.arrays.Table`) to ``path`` as CSV without
    the index (text as described in the module doc)."""
    if isinstance(df, Table) and not (len(df.columns) >= 2 and df.plain()):
        df = df.frame()
    if not isinstance(df, Table) and (len(df.columns) < 2
                                      or not all(_formattable(df[c]) for c in df.columns)):
        csv_ready(df).to_csv(path, index=False)      # one column: csv quotes an empty row
        return
    with open(path, "wb") as f:
        f.write(_header(df.names if isinstance(df, Table) else df.columns))
        for buffers in _formatted_blocks(df):
            for buf in buffers:
                f.write(buf)


def _formatted_blocks(df):
    """:func:`_line_buffers` of ``df``'s blocks of rows, in order.  Blocks are formatted by
    :data:`CSV_THREADS` threads at once (Arrow's and numpy's kernels let go of the GIL), at
    most one block ahead of each: a table of a few blocks no longer waits on one core while
    the others idle (the 1 M-row messages table took 0.5 s on one)."""
    threads = min(CSV_THREADS, os.cpu_count() or 1)
    # blocks of BLOCK_ROWS / threads: the text in flight stays about what one block held
    size = min(BLOCK_ROWS, max(MIN_BLOCK_ROWS, -(-min(len(df), BLOCK_ROWS) // threads)))
    starts = range(0, len(df), size)
    if threads < 2 or len(starts) < 2:
        for start in starts:
            yield _line_buffers(_rows(df, start, start + size))
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        pending = deque()
        try:
            for start in starts:
                pending.append(pool.submit(_line_buffers, _rows(df, start, start + size)))
                if len(pending) > threads:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:      # an error or a consumer that stopped: none left running
                future.cancel()


def _rows(df, start: int, stop: int):
    """Rows ``[start, stop)`` of a DataFrame or a Table."""
    return df.rows(start, stop) if isinstance(df, Table) else df.iloc[start:stop]


def csv_lines(df) -> bytes:
    """The CSV rows of ``df`` (no header), each ending in a newline."""
    return b"".join(_line_buffers(df))


def _line_buffers(df) -> list:
    """The CSV rows of ``df`` (a DataFrame or a plain Table) as buffers (bytes, or Arrow
    buffers: no copy) to write one after the other."""
    if not len(df):
        return []
    cells, floats = [], []           # floats: (bits, text) of the float columns done
    if isinstance(df, Table):
        columns = df.columns.values()
    else:
        columns = (df[c] for c in df.columns)
    for s in columns:
        x = _floats(s)
        if x is not None:
            text = _shared_float_text(x, floats)
            floats.append((x.view(np.int64), text))
            cells.append(text)
        else:
            cells.append(column_text(s))
    return _joined_rows(cells)


def _floats(s) -> np.ndarray | None:
    """A float column's values as float64 (NaN where missing), else None."""
    if isinstance(s, np.ndarray):
        return s.astype(np.float64, copy=False) if s.dtype.kind == "f" else None
    if isinstance(s, (Masked, Instants) + ARROW):
        return None
    import pandas as pd  # deferred: only DataFrames come here (see inferwire.arrays)
    if pd.api.types.is_float_dtype(s.dtype):
        return s.to_numpy(dtype="float64", na_value=np.nan)
    return None


def accelerated() -> bool:
    """True when the rows are joined in C (the ``inferwire._csvrows`` extension is built)."""
    return _c_join is not None


def _joined_rows(cells: list, use_c: bool = True) -> list:
    """The rows of the columns' cell texts (null-free Arrow string arrays, one per column)
    joined by commas and ended by newlines, as buffers to write in order: in one C pass
    (``use_c`` and the extension built; Arrow's two element-wise joins were most of a large
    table's writing) or with Arrow's joins."""
    if use_c and _c_join is not None:
        cols = [_plain_string(c) for c in cells]
        if all(c is not None for c in cols):
            n = len(cols[0])
            offsets = [np.frombuffer(c.buffers()[1], np.int32)[c.offset:c.offset + n + 1]
                       for c in cols]
            texts = [c.buffers()[2] if c.buffers()[2] is not None else b"" for c in cols]
            return [_c_join(offsets, texts, n)]
    lines = ac.join(*cells, text_scalar(","))
    lines = ac.join(lines, text_scalar("\n"), text_scalar(""))
    return _text_buffers(lines)


def _plain_string(arr) -> pa.Array | None:
    """``arr`` as one null-free ``string`` (int32 offsets) array, or None when it is not one."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if not pa.types.is_string(arr.type) or arr.null_count:
        return None
    return arr


def column_text(s) -> pa.Array:
    """``s`` (a Series, or a column of :mod:`inferwire.arrays`) as an Arrow string array
    without nulls, each cell's CSV text (quoted if needed)."""
    if isinstance(s, (np.ndarray, Masked, Instants) + ARROW):
        return _plain_text(s)
    import pandas as pd  # deferred: only DataFrames come here (see inferwire.arrays)
    dtype = s.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        return iso_text(_utc_ns(s))
    if pd.api.types.is_bool_dtype(dtype):     # codes into three texts: no text per cell
        codes = np.where(s.to_numpy(dtype=bool, na_value=False), 1, 2).astype(np.int8)
        codes[s.isna().to_numpy()] = 0
        return ac.take(_BOOL_TEXT, arrow_of(codes))
    if pd.api.types.is_float_dtype(dtype):
        return float_text(s.to_numpy(dtype="float64", na_value=np.nan))
    if pd.api.types.is_integer_dtype(dtype):
        arr = pa.array(s, from_pandas=True)
        return ac.fill_null(ac.cast(arr, pa.string()), text_scalar(""))
    arr = ac.fill_null(pa.array(s.astype("string"), pa.string(), from_pandas=True),
                       text_scalar(""))
    return _quoted(arr)


def _plain_text(s) -> pa.Array:
    """:func:`column_text` of a column of :mod:`inferwire.arrays` (the same text as of the
    Series pandas makes of it)."""
    if isinstance(s, Instants):
        return iso_text(s.values)
    if isinstance(s, Masked):
        if s.dtype == "boolean":
            codes = np.where(s.values, 1, 2).astype(np.int8)
            codes[s.mask] = 0
            return ac.take(_BOOL_TEXT, arrow_of(codes))
        return ac.fill_null(ac.cast(_arrow_column(s), pa.string()), text_scalar(""))
    if isinstance(s, ARROW):
        return _quoted(ac.fill_null(ac.cast(s, pa.string()), text_scalar("")))
    if s.dtype.kind == "f":
        return float_text(s.astype(np.float64, copy=False))
    if s.dtype.kind == "b":
        return ac.take(_BOOL_TEXT, arrow_of(np.where(s, 1, 2).astype(np.int8)))
    if s.dtype.kind in "iu":
        return ac.cast(arrow_of(s), pa.string())
    raise TypeError(f"no CSV text for a column of {s.dtype}")


def float_text(x: np.ndarray) -> pa.Array:
    """float64 values as Python's ``repr`` writes them ("" for NaN), as an Arrow string array."""
    nan = np.isnan(x)                   # null until the end: never formatted (unknown columns)
    text = ac.cast(arrow_of(x, nan), pa.string())
    size = np.abs(x)
    with np.errstate(invalid="ignore"):
        arrow_ok = (size >= _ARROW_FIXED[0]) & (size < _ARROW_FIXED[1])
    integral = arrow_ok & (np.floor(x) == x)
    if integral.any():
        text = ac.if_else(arrow_of(integral),
                          ac.join(text, text_scalar(".0"), text_scalar("")),
                          text)
    zero = x == 0                       # common (durations on loopback): no numpy formatting
    if zero.any():
        signed = ac.take(_ZERO_TEXT, arrow_of(np.signbit(x).view(np.int8)))
        text = ac.if_else(arrow_of(zero), signed, text)
    other = ~(arrow_ok | zero | nan)
    if other.any():                     # tiny and huge values: as numpy (and pandas) write
        text = ac.replace_with_mask(text, arrow_of(other),
                                    texts_of(x[other].astype(str).tolist(), large=False))
    return ac.fill_null(text, text_scalar(""))


#: A float column is written from an earlier one's text where their values agree bit for bit
#: when at least this share of its rows do (a message in one packet ends when it starts:
#: ``end`` repeats ``start`` on most rows of a streamed capture's messages table).
SHARED_SHARE = 0.5


def _shared_float_text(x: np.ndarray, done: list) -> pa.Array:
    """:func:`float_text` of ``x``, taking the text of the rows equal (same bits: 0.0 and -0.0
    are written apart) to an earlier column of ``done`` (``(bits, text)`` pairs) from it, and
    formatting the others only."""
    bits = x.view(np.int64)
    for other_bits, other_text in done:
        same = bits == other_bits
        count = int(same.sum())
        if count < SHARED_SHARE * len(x):
            continue
        if count == len(x):
            return other_text
        differ = ~same
        return ac.replace_with_mask(other_text, arrow_of(differ),
                                    float_text(x[differ]))
    return float_text(x)


def _formattable(s) -> bool:
    import pandas as pd  # deferred: only DataFrames come here (see inferwire.arrays)
    dtype = s.dtype
    if isinstance(dtype, (pd.DatetimeTZDtype, pd.StringDtype)):
        return True
    if dtype.kind in "biuf" or pd.api.types.is_bool_dtype(dtype):
        return True
    if dtype == object:          # text (or all missing): anything else goes through pandas
        return pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty")
    return False


def _quoted(arr: pa.Array) -> pa.Array:
    """Cells holding a comma, quote or newline in double quotes, their quotes doubled."""
    if not _has_quote_bytes(arr):       # the usual column: one pass over its characters
        return arr
    needs = ac.matches(arr, _NEEDS_QUOTES)
    if not ac.any_true(needs):
        return arr
    quote = text_scalar('"')
    escaped = ac.join(quote, ac.replace_substring(arr, '"', '""'), quote,
                                          text_scalar(""))
    return ac.if_else(needs, escaped, arr)


def _has_quote_bytes(arr: pa.Array) -> bool:
    """Whether any cell of a string array holds a comma, quote or LF (a scan of its character
    buffer: ten times faster than the regex on every cell, and than ``np.isin``)."""
    if isinstance(arr, pa.ChunkedArray):
        return any(_has_quote_bytes(c) for c in arr.chunks)
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(arr.buffers()[1], dtype=width)[arr.offset:arr.offset + len(arr) + 1]
    if not len(arr) or offsets[-1] == offsets[0]:
        return False
    chars = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    return any((chars == b).any() for b in _QUOTE_BYTES)


def _iso_text(s) -> np.ndarray:
    return _numpy_iso(_utc_ns(s))


def _numpy_iso(v: np.ndarray) -> np.ndarray:
    """datetime64[ns] values as numpy writes them in ISO 8601 UTC ("" for NaT): the reference
    of :func:`iso_text`, and its way for values it does not lay out itself."""
    return np.where(np.isnat(v), "", np.datetime_as_string(v, unit="ns", timezone="UTC"))


def _utc_ns(s) -> np.ndarray:
    """A UTC time column as datetime64[ns] (NaT where unknown)."""
    return s.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")


#: An ISO 8601 time's text with every digit 0, and where each field's digits are in it.
_ISO_ZERO = np.frombuffer(b"0000-00-00T00:00:00.000000000Z", dtype=np.uint8)
_ISO_FIELDS = ((0, 4), (5, 2), (8, 2), (11, 2), (14, 2), (17, 2), (20, 9))   # (at, digits)
_DAY_NS = 86_400 * 10**9


def iso_text(v: np.ndarray) -> pa.Array:
    """datetime64[ns] values as ``np.datetime_as_string(v, unit="ns", timezone="UTC")`` writes
    them (``2026-12-04T22:48:13.940495740Z``; "" for NaT), as an Arrow string array: the
    digits worked out with integer arithmetic over the whole column (the calendar date by
    Howard Hinnant's days-to-civil algorithm) and laid into one buffer, not formatted a value
    at a time (numpy's formatting was most of a CSV's writing time)."""
    ns = v.view(np.int64)
    nat = np.isnat(v)
    known = ns[~nat]
    days, rem = np.divmod(known, _DAY_NS)
    secs, frac = np.divmod(rem, 10**9)
    year, month, day = _civil(days)
    fields = (year, month, day, secs // 3600, secs // 60 % 60, secs % 60, frac)
    if (len(known) and not ((year >= 0) & (year <= 9999)).all()      # not four digits, or
            or len(known) * len(_ISO_ZERO) >= 2**31):     # past a string array's 32-bit offsets
        return texts_of(_numpy_iso(v).tolist(), large=False)
    out = np.tile(_ISO_ZERO, (len(known), 1))
    for (at, width), value in zip(_ISO_FIELDS, fields):
        value = value.copy()
        for k in range(width - 1, -1, -1):
            out[:, at + k] += (value % 10).astype(np.uint8)
            value //= 10
    lengths = np.where(nat, 0, len(_ISO_ZERO)).astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    return pa.StringArray.from_buffers(len(v), pa.py_buffer(offsets.astype(np.int32)),
                                       pa.py_buffer(out.tobytes()))


def _civil(days: np.ndarray) -> tuple:
    """(year, month, day) of each count of days since 1970-01-01 (proleptic Gregorian)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097                                     # [0, 146096]
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365   # [0, 399]
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)             # [0, 365]
    mp = (5 * doy + 2) // 153                                   # [0, 11], March first
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    return yoe + era * 400 + (month <= 2), month, day


def _header(columns) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([str(c) for c in columns])
    return buf.getvalue().encode()


def _text_buffers(arr) -> list:
    """The characters of a null-free Arrow string array, back to back, as buffers."""
    if isinstance(arr, pa.ChunkedArray):
        return [buf for c in arr.chunks for buf in _text_buffers(c)]
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset:arr.offset + len(arr) + 1]
    return [arr.buffers()[2].slice(offsets[0], offsets[-1] - offsets[0])]


def write_parquet(df, path: str | os.PathLike) -> None:
    """``df`` (a DataFrame or an :class:`~inferwire.arrays.Table`) to ``path`` as Parquet, as
    ``DataFrame.to_parquet(path, index=False)`` writes it (Arrow's types, Snappy, and the
    pandas metadata that gives the columns their pandas dtypes back when read)."""
    if isinstance(df, Table) and df.plain() and _pandas_meta_known():
        write_arrow_parquet(arrow_table(df), path)
        return
    if isinstance(df, Table):
        df = df.frame()
    df.to_parquet(path, index=False)


#: The pyarrow major versions whose ``pyarrow.parquet.write_table`` passes its Parquet writer
#: exactly :data:`_WRITER_OPTIONS` (read from its source; tests/test_tablefiles.py compares the
#: bytes the two ways write).
_WRITER_VERSIONS = ("26",)
#: What ``pyarrow.parquet.write_table(table, path, compression="snappy")`` gives the compiled
#: writer ``pyarrow._parquet.ParquetWriter`` (pyarrow 26).
_WRITER_OPTIONS = dict(
    version="2.6", compression="snappy", use_dictionary=True, write_statistics=True,
    use_deprecated_int96_timestamps=False, compression_level=None, use_byte_stream_split=False,
    column_encoding=None, writer_engine_version="V2", data_page_version="1.0",
    use_compliant_nested_type=True, encryption_properties=None, write_batch_size=None,
    dictionary_pagesize_limit=None, store_schema=True, write_page_index=False,
    write_page_checksum=False, sorting_columns=None, store_decimal_as_integer=False,
    write_time_adjusted_to_utc=False, max_rows_per_page=None, bloom_filter_options=None,
    use_content_defined_chunking=False, data_page_size=None, allow_truncated_timestamps=False,
    coerce_timestamps=None)


def write_arrow_parquet(table: pa.Table, path: str | os.PathLike, fast: bool = True) -> None:
    """``table`` to ``path`` as ``pyarrow.parquet.write_table(table, path,
    compression="snappy")`` writes it, byte for byte.  With ``fast`` and a pyarrow of
    :data:`_WRITER_VERSIONS`, by its compiled writer without importing ``pyarrow.parquet``
    (20 ms: it imports Arrow's file systems, S3's and SSL among them); else by
    ``write_table``.  A file left half written by an error is removed, as ``write_table``
    does."""
    writer = _compiled_writer() if fast else None
    if writer is None:
        import pyarrow.parquet as pq  # deferred: only when Parquet is written
        pq.write_table(table, path, compression="snappy")
        return
    path = os.fspath(path)
    try:
        with pa.OSFile(path, "wb") as sink:
            out = writer(sink, table.schema, **_WRITER_OPTIONS)
            out.write_table(table, row_group_size=None)
            out.close()
    except Exception:
        try:
            os.remove(path)
        except OSError:
            pass
        raise


@lru_cache(maxsize=1)
def _compiled_writer():
    """``pyarrow._parquet.ParquetWriter`` where :data:`_WRITER_OPTIONS` is known to be what
    ``write_table`` gives it, else None."""
    if pa.__version__.split(".")[0] not in _WRITER_VERSIONS:
        return None
    try:
        from pyarrow._parquet import ParquetWriter  # deferred: only when Parquet is written
    except ImportError:
        return None
    return ParquetWriter


#: Each table dtype's entry in the pandas metadata: (pandas_type, numpy_type, metadata), as
#: pyarrow writes them for pandas 3's columns (tests/test_arrays.py compares the schemas and files).
_PANDAS_TYPES = {"int64": ("int64", "int64", None), "Int64": ("int64", "Int64", None),
                 "float64": ("float64", "float64", None), "boolean": ("bool", "boolean", None),
                 "string": ("object", "string", None),
                 "datetime64[ns, UTC]": ("datetimetz", "datetime64[ns]", {"timezone": "UTC"})}


@lru_cache(maxsize=1)
def _pandas_version() -> str | None:
    """The installed pandas' version, read from its distribution once (pandas is not
    imported): the ``Version`` field of the ``METADATA`` beside the package, else as
    :mod:`importlib.metadata` finds it (importing that took 25 ms of every command)."""
    found = _version_beside("pandas")
    if found is not None:
        return found
    from importlib import metadata  # deferred: an unusual installation only
    try:
        return metadata.version("pandas")
    except metadata.PackageNotFoundError:
        return None


def _version_beside(package: str) -> str | None:
    """The version of the distribution ``package`` came from, read from the one
    ``<package>-<version>.dist-info/METADATA`` in the folder the package is imported from (a
    wheel's installation), or None when there is not exactly one or it names no version."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))).parent
    try:
        infos = [e for e in os.listdir(folder)
                 if e.startswith(package + "-") and e.endswith(".dist-info")]
        if len(infos) != 1:
            return None
        with open(folder / infos[0] / "METADATA", encoding="utf-8") as f:
            for line in f:
                if line.startswith("Version:"):
                    return line.split(":", 1)[1].strip()
                if not line.strip():
                    return None                       # the headers ended
    except OSError:
        return None
    return None


def _pandas_meta_known() -> bool:
    """Whether :data:`_PANDAS_TYPES` is what pyarrow writes for the installed pandas (3.x)."""
    version = _pandas_version()
    return version is not None and version.split(".")[0] == "3"


def arrow_table(table: Table) -> pa.Table:
    """A plain :class:`~inferwire.arrays.Table` as the Arrow table ``pa.Table.from_pandas``
    makes of its DataFrame (NaN as null, the pandas metadata in the schema)."""
    arrays, meta = [], []
    for name, col in table.columns.items():
        arrays.append(_arrow_column(col))
        pandas_type, numpy_type, extra = _PANDAS_TYPES[dtype_of(col)]
        meta.append({"name": name, "field_name": name, "pandas_type": pandas_type,
                     "numpy_type": numpy_type, "metadata": extra})
    pandas = {"index_columns": [], "column_indexes": [], "columns": meta, "attributes": {},
              "creator": {"library": "pyarrow", "version": pa.__version__},
              "pandas_version": _pandas_version()}
    schema = pa.schema([pa.field(n, a.type) for n, a in zip(table.names, arrays)],
                       metadata={b"pandas": json.dumps(pandas).encode()})
    return pa.Table.from_arrays(arrays, schema=schema)


def _arrow_column(col) -> pa.Array:
    """A plain column as the Arrow array ``from_pandas`` makes of its Series."""
    if isinstance(col, Masked):
        kind = np.bool_ if col.dtype == "boolean" else np.int64
        return arrow_of(col.values.astype(kind, copy=False), col.mask)
    if isinstance(col, Instants):
        ns = col.values.view(np.int64)
        return ac.cast(arrow_of(ns, np.isnat(col.values)), pa.timestamp("ns", tz="UTC"))
    if isinstance(col, ARROW):
        return col
    if col.dtype.kind == "f":
        return arrow_of(col, np.isnan(col))       # NaN as null, as from_pandas does
    return arrow_of(col)
