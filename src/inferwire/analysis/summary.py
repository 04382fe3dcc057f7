"""Summaries of an analysis: phase percentiles per protocol, and the short texts."""
from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

from .. import arrowcalls as ac
from ..arrays import Table, arrow_of, numpy_of, texts_of
from ..columns import PHASE_COLUMNS


def describe_tables(source) -> str:
    """"N requests (grpc n, http/1.1 m) on K connections, W warnings": the short repr of an
    Analysis or a Run."""
    counts = source.requests["protocol"].value_counts(sort=False).sort_index()
    per = ", ".join(f"{p} {n}" for p, n in counts.items())
    return (f"{len(source.requests)} requests{f' ({per})' if per else ''} on "
            f"{len(source.connections)} connections, {len(source.warnings)} warnings")


def phase_summary(requests):
    """Per protocol: count, and p50/p90/p99 (ms) of each phase column that has values (a
    DataFrame, one row per protocol, of :func:`phase_rows`)."""
    import pandas as pd  # deferred: the CLI summarises without pandas (inferwire.arrays)
    return pd.DataFrame(phase_rows(requests))


def phase_rows(requests) -> list[dict]:
    """:func:`phase_summary`'s rows, protocols in sorted order, of a requests DataFrame or
    :class:`~inferwire.arrays.Table` (then without pandas)."""
    if isinstance(requests, Table) and requests.plain():
        return _table_phase_rows(requests)
    rows = []
    for proto, g in requests.groupby("protocol", sort=True):
        rows.append(_phase_row(proto, len(g), int(g["complete"].sum()),
                               {col: g[col].dropna().to_numpy(dtype=float)
                                for col in PHASE_COLUMNS}))
    return rows


_FALSE = arrow_of(np.zeros(1, dtype=bool))[0]


def _table_phase_rows(requests: Table) -> list[dict]:
    """:func:`phase_rows` of a plain Table: the rows of each protocol picked with numpy."""
    protocol = requests["protocol"]
    complete = requests["complete"]
    done = complete.values & ~complete.mask
    rows = []
    for proto in sorted(set(ac.drop_null(ac.unique(protocol)).to_pylist())):
        same = ac.equal(protocol, texts_of([proto], large=pa.types.is_large_string(
            protocol.type))[0])
        pick = numpy_of(ac.fill_null(same, _FALSE))
        values = {}
        for col in PHASE_COLUMNS:
            v = requests[col][pick]
            values[col] = v[~np.isnan(v)]
        rows.append(_phase_row(proto, int(pick.sum()), int(done[pick].sum()), values))
    return rows


def _phase_row(proto: str, count: int, complete: int, values: dict) -> dict:
    row = {"protocol": proto, "requests": count, "complete": complete}
    for col in PHASE_COLUMNS:
        v = values[col]
        for q in (50, 90, 99):
            row[f"{col}_p{q}"] = percentile(v, q) if len(v) else np.nan
    return row


def percentile(values: np.ndarray, q: float) -> float:
    """``float(np.percentile(values, q))`` of a non-empty 1-D float64 array without NaN, to
    the bit (numpy's default, linear method: the same partition, the same interpolation),
    without importing ``numpy.ma``: ``np.percentile`` calls ``np.unique``, whose first call
    imports it (10 ms of a command that prints its summary)."""
    n = len(values)
    virtual = (n - 1) * float(np.true_divide(q, 100))
    below = math.floor(virtual)
    after = below + 1
    if virtual >= n - 1:                      # at or past the last: the largest value
        below = after = -1
    arr = np.array(values, dtype=np.float64)          # a copy, partitioned as numpy does
    arr.partition(np.array(sorted({0, -1, below, after}), dtype=np.intp))
    a, b = arr[below], arr[after]
    gamma = virtual - below
    diff = b - a
    return float(b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma)


def format_summary(a) -> str:
    """Plain text of an :class:`~inferwire.analysis.Analysis`: capture facts, then per protocol
    a table of phase percentiles (ms)."""
    st = a.capture
    requests = a.table("requests") if hasattr(a, "table") else a.requests
    connections = a.table("connections") if hasattr(a, "table") else a.connections
    lines = [f"{a.path}: {st.packets} packets ({st.tcp_packets} TCP), "
             f"{len(connections)} connections, {len(requests)} requests"]
    drops = {k: v for k, v in (st.drops or {}).items() if v}
    if drops:
        lines.append(f"capture drop counters: {drops}")
    for row in phase_rows(requests):
        lines.append("")
        lines.append(f"{row['protocol']}: {row['requests']} requests "
                     f"({row['complete']} complete)")
        lines.append(f"  {'phase':<18}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}")
        for col in PHASE_COLUMNS:
            vals = [row[f"{col}_p{q}"] for q in (50, 90, 99)]
            if all(np.isnan(v) for v in vals):
                continue
            lines.append(f"  {col:<18}" + "".join(f"{v:>10.3f}" for v in vals))
    if a.warnings:
        lines.append("")
        lines.append(f"{len(a.warnings)} warnings; first ones:")
        lines += [f"  - {w}" for w in a.warnings[:5]]
    return "\n".join(lines)
