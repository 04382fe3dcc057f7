"""The saved tables of a run folder (requests, connections, joined; resources.csv), read back
with the dtypes of :mod:`inferwire.columns` (:func:`read_table`) or as stored."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..columns import LATER_COLUMNS, UTC_DTYPE, Column, utc_source
from ..errors import InferwireError
from .names import MANIFEST, manifest_path, table_path

RESOURCE_COLUMNS = ("time_ns", "role", "cpu_percent", "rss_bytes")


def read_raw_table(run_dir, name: str) -> pd.DataFrame | None:
    """``run_dir/name.parquet`` (else ``.csv``) as stored, without the contract's dtypes; None
    when neither exists."""
    path = table_path(run_dir, name)
    if path is None:
        return None
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def read_table(d: Path, name: str, columns: tuple[Column, ...]) -> pd.DataFrame | None:
    """``d/name.parquet`` (else ``d/name.csv``) with the contract's dtypes; None if neither.

    Columns of :data:`~inferwire.columns.LATER_COLUMNS` that a table written by an earlier
    version lacks are read empty (not known); any other missing column raises InferwireError
    naming the file and the first missing column.
    """
    path = table_path(d, name)
    if path is None:
        return None
    try:
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, low_memory=False)
    except Exception as exc:  # pyarrow and the CSV parser raise many types for a bad file
        raise InferwireError(f"{path}: cannot read the table: {exc}") from exc
    df = _older_utc(df, columns)
    missing = [c.name for c in columns if c.name not in df.columns]
    if missing and set(missing) <= LATER_COLUMNS:    # written before those columns existed
        df = df.assign(**{name: pd.NA for name in missing})
        missing = []
    if missing:
        raise InferwireError(f"{path}: column {missing[0]!r} missing ({len(missing)} missing); "
                             "was it written by this version of inferwire?")
    return cast_columns(df, columns, path)


def _older_utc(df: pd.DataFrame, columns: tuple[Column, ...]) -> pd.DataFrame:
    """A table written before the ``*_utc`` columns existed: each made from its float seconds,
    rounded to the µs (the float holds about 0.24 µs at today's epoch: exact for µs captures)."""
    todo = [c.name for c in columns if c.dtype == UTC_DTYPE and c.name not in df
            and utc_source(c) in df]
    if not todo:
        return df
    df = df.copy()
    for name in todo:
        seconds = pd.to_numeric(df[utc_source(name)], errors="coerce")
        us = (seconds * 1e6).round().astype("Int64")
        df[name] = pd.to_datetime(us, unit="us", utc=True).astype(UTC_DTYPE)
    return df


def cast_columns(df: pd.DataFrame, columns: tuple[Column, ...], path=None) -> pd.DataFrame:
    """``df`` with each contract column in its dtype (CSV gives strings and floats)."""
    out = df.copy()
    for col in columns:
        try:
            out[col.name] = _cast(out[col.name], col.dtype)
        except (TypeError, ValueError) as exc:
            raise InferwireError(f"{path or 'table'}: column {col.name!r} does not hold "
                                 f"{col.dtype} values: {exc}") from exc
    return out


def _cast(s: pd.Series, dtype: str) -> pd.Series:
    if dtype == "boolean":
        mapped = s.map({True: True, False: False, "True": True, "False": False,
                        "true": True, "false": False})
        return mapped.astype("boolean")
    if dtype in ("Int64", "int64"):   # joined rows without a capture have no connection
        num = pd.to_numeric(s, errors="raise")
        return num.astype("Int64") if num.isna().any() or dtype == "Int64" else num.astype(dtype)
    if dtype == "float64":
        return pd.to_numeric(s, errors="raise").astype("float64")
    if dtype == UTC_DTYPE:      # ISO 8601 text in the CSV, exact to the ns
        return pd.to_datetime(s, utc=True, format="ISO8601").astype(dtype)
    return s.astype(dtype)


def read_resources(path: Path) -> pd.DataFrame | None:
    """resources.csv (see :mod:`inferwire.experiment.resources`) plus ``time`` (s since epoch); None if
    absent."""
    if not path.is_file():
        return None
    try:
        df = pd.read_csv(path)
    except Exception as exc:
        raise InferwireError(f"{path}: cannot read the resource samples: {exc}") from exc
    missing = [c for c in RESOURCE_COLUMNS if c not in df.columns]
    if missing:
        raise InferwireError(f"{path}: column {missing[0]!r} missing: not inferwire's "
                             "resources.csv")
    df["time"] = pd.to_numeric(df["time_ns"], errors="coerce") / 1e9
    return df


@dataclass
class RunTables:
    """A run folder's manifest and its requests and joined tables as stored (no dtype contract;
    :func:`inferwire.report.load_run` gives the typed :class:`~inferwire.report.run.Run`)."""
    run_dir: Path
    manifest: dict
    requests: pd.DataFrame
    joined: pd.DataFrame | None


def read_run_tables(run_dir) -> RunTables:
    """The manifest, requests and joined tables of ``run_dir`` as stored; InferwireError naming
    what lacks (no manifest, no requests table)."""
    run_dir = Path(run_dir)
    try:
        manifest = json.loads(manifest_path(run_dir).read_text())
    except (OSError, ValueError) as exc:
        raise InferwireError(f"{run_dir}: no readable {MANIFEST} ({exc})") from None
    requests = read_raw_table(run_dir, "requests")
    if requests is None:
        raise InferwireError(f"{run_dir}: no requests table (the capture was not analyzed)")
    return RunTables(run_dir, manifest, requests, read_raw_table(run_dir, "joined"))
