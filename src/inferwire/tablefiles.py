"""Writing the tables to CSV: the ``*_utc`` Timestamp columns as ISO 8601 text, fast.

pandas formats tz-aware Timestamps one by one (writing a 100,000-row requests table took 2.5x as
long with its four ``*_utc`` columns); numpy's ``datetime_as_string`` does the same column in
one call: ``2026-12-04T22:48:13.940495740Z``, empty where unknown.  Readers parse it back exact
to the ns (``pd.to_datetime(..., utc=True, format="ISO8601")``).
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd


def csv_ready(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every datetime64[ns, UTC] column as ISO 8601 strings ("" for NaT)."""
    stamps = [c for c in df.columns if isinstance(df[c].dtype, pd.DatetimeTZDtype)]
    if not stamps:
        return df
    out = df.copy()
    for c in stamps:
        v = out[c].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
        out[c] = np.where(np.isnat(v), "", np.datetime_as_string(v, unit="ns", timezone="UTC"))
    return out


def write_csv(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """``df`` to ``path`` as CSV without the index, Timestamps as by :func:`csv_ready`."""
    csv_ready(df).to_csv(path, index=False)
