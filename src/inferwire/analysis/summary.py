"""Summaries of an analysis: phase percentiles per protocol, and the short texts."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..columns import PHASE_COLUMNS


def describe_tables(source) -> str:
    """"N requests (grpc n, http/1.1 m) on K connections, W warnings": the short repr of an
    Analysis or a Run."""
    counts = source.requests["protocol"].value_counts(sort=False).sort_index()
    per = ", ".join(f"{p} {n}" for p, n in counts.items())
    return (f"{len(source.requests)} requests{f' ({per})' if per else ''} on "
            f"{len(source.connections)} connections, {len(source.warnings)} warnings")


def phase_summary(requests: pd.DataFrame) -> pd.DataFrame:
    """Per protocol: count, and p50/p90/p99 (ms) of each phase column that has values."""
    rows = []
    for proto, g in requests.groupby("protocol", sort=True):
        row = {"protocol": proto, "requests": len(g), "complete": int(g["complete"].sum())}
        for col in PHASE_COLUMNS:
            v = g[col].dropna().to_numpy(dtype=float)
            for q in (50, 90, 99):
                row[f"{col}_p{q}"] = float(np.percentile(v, q)) if len(v) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def format_summary(a) -> str:
    """Plain text of an :class:`~inferwire.analysis.Analysis`: capture facts, then per protocol
    a table of phase percentiles (ms)."""
    st = a.capture
    lines = [f"{a.path}: {st.packets} packets ({st.tcp_packets} TCP), "
             f"{len(a.connections)} connections, {len(a.requests)} requests"]
    drops = {k: v for k, v in (st.drops or {}).items() if v}
    if drops:
        lines.append(f"capture drop counters: {drops}")
    summary = a.summary()
    for _, row in summary.iterrows():
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
