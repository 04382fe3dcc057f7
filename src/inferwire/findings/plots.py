"""The findings' figures (PNG, matplotlib's Agg backend): each from one answer table; the
figure set-up shared with :mod:`.servers_plots` (stacked shares, users panels, saving)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .answers import SHARE_GROUPS


def _figure(rows: int = 1, cols: int = 1, size=(9, 4.5)):
    import matplotlib  # deferred: matplotlib is heavy to import
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: matplotlib is heavy to import
    return plt, *plt.subplots(rows, cols, figsize=size, squeeze=False)


def stacked_shares(labels: list[str], segments: list, path: Path, bar_inches: float,
                   margin_inches: float) -> Path:
    """Stacked horizontal bars of % of the client's mean latency, a bar per label (top down);
    ``segments``: (legend label, % per bar as a Series, colour or None), drawn left to right.
    The figure is ``bar_inches`` per bar plus ``margin_inches`` tall."""
    plt, fig, axes = _figure(size=(9, bar_inches * len(labels) + margin_inches))
    ax = axes[0][0]
    left = 0.0
    for label, values, color in segments:
        ax.barh(labels, values, left=left, label=label, color=color)
        left = left + values
    ax.set_xlabel("% of the client's mean latency")
    ax.invert_yaxis()
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8)
    return _save(plt, fig, path)


def users_panels(cpu_ylabel: str, cpu_title: str):
    """(plt, fig, throughput axes, CPU axes): two panels against concurrent users."""
    plt, fig, axes = _figure(1, 2, size=(11, 4))
    throughput, cpu = axes[0]
    throughput.set(xlabel="concurrent users", ylabel="requests/s", title="throughput")
    cpu.set(xlabel="concurrent users", ylabel=cpu_ylabel, title=cpu_title)
    return plt, fig, throughput, cpu


def phase_shares(table: pd.DataFrame, path: Path) -> Path | None:
    """Stacked bars: the share of the client's mean latency per part, one bar per point."""
    if table.empty:
        return None
    labels = [f"{r.workload} {r.model} b{r.batch_size} {r.connection}"
              for r in table.itertuples()]
    segments = [(name.replace("_", " "), table[f"{name}_pct"].fillna(0), None)
                for name in SHARE_GROUPS]
    return stacked_shares(labels, segments, path, 0.35, 1.5)


def concurrency(table: pd.DataFrame, path: Path) -> Path | None:
    """Throughput (left) and CPU cores busy (right) against users, per workload."""
    if table.empty:
        return None
    plt, fig, throughput, cpu = users_panels("CPU cores busy", "CPU")
    for workload, rows in table.groupby("workload"):
        throughput.plot(rows["users"], rows["throughput_per_s"], marker="o", label=workload)
        cpu.plot(rows["users"], rows["server_cpu_cores"], marker="o", label=f"{workload} server")
        cpu.plot(rows["users"], rows["host_cpu_cores"], marker="x", linestyle="--",
                 label=f"{workload} whole host")
    for ax in (throughput, cpu):
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
