"""The findings' figures (PNG, matplotlib's Agg backend): each from one answer table."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .answers import SHARE_GROUPS


def _figure(rows: int = 1, cols: int = 1, size=(9, 4.5)):
    import matplotlib  # deferred: matplotlib is heavy to import
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: matplotlib is heavy to import
    return plt, *plt.subplots(rows, cols, figsize=size, squeeze=False)


def phase_shares(table: pd.DataFrame, path: Path) -> Path | None:
    """Stacked bars: the share of the client's mean latency per part, one bar per point."""
    if table.empty:
        return None
    plt, fig, axes = _figure(size=(9, 0.35 * len(table) + 1.5))
    ax = axes[0][0]
    labels = [f"{r.workload} {r.model} b{r.batch_size} {r.connection}"
              for r in table.itertuples()]
    left = pd.Series(0.0, index=table.index)
    for name in SHARE_GROUPS:
        values = table[f"{name}_pct"].fillna(0)
        ax.barh(labels, values, left=left, label=name.replace("_", " "))
        left += values
    ax.set_xlabel("% of the client's mean latency")
    ax.invert_yaxis()
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8)
    return _save(plt, fig, path)


def concurrency(table: pd.DataFrame, path: Path) -> Path | None:
    """Throughput (left) and CPU cores busy (right) against users, per workload."""
    if table.empty:
        return None
    plt, fig, axes = _figure(1, 2, size=(11, 4))
    for workload, rows in table.groupby("workload"):
        axes[0][0].plot(rows["users"], rows["throughput_per_s"], marker="o", label=workload)
        axes[0][1].plot(rows["users"], rows["server_cpu_cores"], marker="o",
                        label=f"{workload} server")
        axes[0][1].plot(rows["users"], rows["host_cpu_cores"], marker="x", linestyle="--",
                        label=f"{workload} whole host")
    axes[0][0].set(xlabel="concurrent users", ylabel="requests/s", title="throughput")
    axes[0][1].set(xlabel="concurrent users", ylabel="CPU cores busy", title="CPU")
    for ax in axes[0]:
        ax.legend(fontsize=8)
    return _save(plt, fig, path)


def encodings(table: pd.DataFrame, path: Path) -> Path | None:
    """Wire bytes per request (left) and median client latency (right) per encoding."""
    if table.empty:
        return None
    plt, fig, axes = _figure(1, 2, size=(11, 4))
    axes[0][0].bar(table["encoding"], table["wire_bytes_per_request"] / 1000)
    axes[0][0].set(ylabel="kB on the wire per request", title="size")
    axes[0][1].bar(table["encoding"], table["median_client_ms"])
    axes[0][1].set(ylabel="ms (median)", title="client latency")
    for ax in axes[0]:
        ax.tick_params(axis="x", rotation=30, labelsize=8)
    return _save(plt, fig, path)


def _save(plt, fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
