"""The figures of docs/findings-servers.md (PNG, matplotlib's Agg backend), one per table."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .answers import SHARE_GROUPS
from .plots import _figure, _save, stacked_shares, users_panels


def shares(table: pd.DataFrame, path: Path) -> Path | None:
    """Stacked bars: each part's share of the client's mean latency, a bar per server and point."""
    if table.empty:
        return None
    labels = [f"{r.server_kind} {r.workload} {r.model} b{r.batch_size}"
              for r in table.itertuples()]
    segments = [(name.replace("_", " "), table[f"{name}_pct"], None) for name in SHARE_GROUPS]
    # where the server logs no time of its own (KServe), its part and the network's are one
    unsplit = table["wait_not_model_pct"].where(table["server_other_pct"].isna())
    segments.insert(1, ("server outside model + network (not split)", unsplit, "lightgray"))
    return stacked_shares(labels, [(label, values.fillna(0).clip(lower=0), color)
                                   for label, values, color in segments], path, 0.32, 1.6)


def concurrency(table: pd.DataFrame, path: Path) -> Path | None:
    """Throughput (left) and the server's CPU cores (right) against users, per server/protocol."""
    if table.empty:
        return None
    plt, fig, throughput, cpu = users_panels("server CPU cores", "server CPU")
    for (server, workload), rows in table.groupby(["server_kind", "workload"], sort=False):
        rows = rows.sort_values("users")
        style = "-" if workload == "rest" else "--"
        throughput.plot(rows["users"], rows["throughput_per_s"], style, marker="o",
                        label=f"{server} {workload}")
        cpu.plot(rows["users"], rows["server_cpu_cores"], style, marker="o",
                 label=f"{server} {workload}")
    for ax in (throughput, cpu):
        ax.legend(fontsize=7)
    return _save(plt, fig, path)


def cache_waits(measured: pd.DataFrame, path: Path) -> Path | None:
    """ECDFs of the wire's wait (log ms), repeated vs unique inputs: a panel per server and
    response cache setup, REST solid and gRPC dashed (one user, batch 1, softmax)."""
    m = measured[(measured["users"] == 1) & (measured["batch_size"] == 1)
                 & (measured["model"] == "softmax")]
    panels = list(m.groupby(["server_kind", "response_cache"], sort=False))
    if not panels:
        return None
    plt, fig, axes = _figure(1, len(panels), size=(3.6 * len(panels), 3.4))
    for ax, ((server, cache), g) in zip(axes[0], panels):
        for (workload, inputs), rows in g.groupby(["workload", "inputs"]):
            w = np.sort(rows["wait_ms"].astype(float).dropna().to_numpy())
            if len(w):
                ax.plot(w, np.arange(1, len(w) + 1) / len(w),
                        "-" if workload == "rest" else "--",
                        color="tab:orange" if inputs == "unique" else "tab:blue",
                        label=f"{workload} {inputs}")
        ax.set_xscale("log")
        ax.set(title=f"{server}, cache {'on' if cache else 'off'}", xlabel="wait_ms (log)",
               ylabel="share of requests")
        ax.legend(fontsize=7)
    lows, highs = zip(*(ax.get_xlim() for ax in axes[0]))
    for ax in axes[0]:                      # one scale: the panels compare at a glance
        ax.set_xlim(min(lows), max(highs))
    return _save(plt, fig, path)
