"""Tables as Markdown, numbers rounded for reading (the CSVs keep full precision)."""
from __future__ import annotations

import math

import pandas as pd


def cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, float):
        if abs(value) >= 1000 or value == int(value):
            return f"{value:.0f}"
        return f"{value:.3g}"         # three significant digits: what the noise allows
    return str(value).replace("|", "\\|")


def table(df: pd.DataFrame, columns: list[str] | None = None) -> str:
    """A GitHub Markdown table of ``df`` (``run`` values shown as code)."""
    columns = [c for c in (columns or list(df.columns)) if c in df.columns]
    if df.empty:
        return "_(no rows: the sweep has no points for this)_"
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for _, row in df.iterrows():
        cells = [f"`{row[c]}`" if c == "run" else cell(row[c]) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
