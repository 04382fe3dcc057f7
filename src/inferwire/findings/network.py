"""docs/findings-network.md: where REST's and gRPC's time goes as the network worsens.

From a sweep over network profiles (``inferwire sweep --network-findings``): each point a
capture run with the server behind an emulated link (inferwire.netns) of one bandwidth and loss.
The client's mean latency is cut into the parts of :data:`PARTS` (means add up; ms), next to
the retransmitted segments per request and the p99.  Pure tables in :func:`network_table`; the
figure and the page from it.  Regenerate with ``inferwire findings SWEEP_DIR --network``.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .data import load_sweep
from .markdown import cell, table

#: the client's mean latency in parts: name -> mean_*_ms columns of points.csv summed
PARTS = {
    "transfer": ("request", "response"),
    "network_and_stack": ("network",),
    "server": ("model", "server_other"),
    "client": ("serialize", "handshake", "client_before_other", "client_after"),
}
COLUMNS = ["workload", "batch_size", "bandwidth_mbit", "loss_pct", "found_in_capture",
           "mean_client_ms", *[f"{p}_ms" for p in PARTS], *[f"{p}_pct" for p in PARTS],
           "retrans_ms", "retrans_pct", "stall_ms", "client_p99_ms",
           "retransmissions_per_request", "throughput_per_s", "host_cpu_cores", "run"]


def network_table(points: pd.DataFrame) -> pd.DataFrame:
    """One row per network point and workload, worst network last within each workload and
    batch size: the client's mean latency, its parts (ms and % of it), p99, retransmissions."""
    p = points[points.get("network", pd.Series(dtype=object)).notna()].copy() \
        if "network" in points else points.iloc[:0].copy()
    if p.empty:
        return pd.DataFrame(columns=COLUMNS)
    p["bandwidth_mbit"] = p["bandwidth_bps"].astype(float) / 1e6
    p["loss_pct"] = p["loss_pct"].astype(float)
    for name, parts in PARTS.items():
        p[f"{name}_ms"] = sum(p[f"mean_{x}_ms"].astype(float) for x in parts)
        p[f"{name}_pct"] = (100 * p[f"{name}_ms"] / p["mean_client_ms"]).round(1)
    if "host_cpu_cores" not in p:
        p["host_cpu_cores"] = np.nan
    for name in ("retrans", "stall"):
        col = f"mean_{name}_ms"
        p[f"{name}_ms"] = p[col].astype(float) if col in p else np.nan
    p["retrans_pct"] = (100 * p["retrans_ms"] / p["mean_client_ms"]).round(1)
    p = p.sort_values(["workload", "batch_size", "bandwidth_mbit", "loss_pct"],
                      ascending=[True, True, False, True])
    return p[COLUMNS].reset_index(drop=True)


def _label(row) -> str:
    return f"{row.bandwidth_mbit:g} Mbit/s, {row.loss_pct:g} %"


def figure(t: pd.DataFrame, path: Path) -> Path | None:
    """Stacked bars per workload and batch size: the client's mean latency (ms, log scale
    would hide the parts, so each panel has its own scale) cut into PARTS, one bar per network."""
    if t.empty:
        return None
    import matplotlib  # deferred: matplotlib is heavy to import
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: matplotlib is heavy to import
    groups = list(t.groupby(["workload", "batch_size"], sort=True))
    fig, axes = plt.subplots(len(groups), 1, figsize=(10, 2.6 * len(groups)), squeeze=False)
    for ax, ((workload, batch), rows) in zip(axes[:, 0], groups):
        labels = [_label(r) for r in rows.itertuples()]
        bottom = np.zeros(len(rows))
        for name in PARTS:
            values = rows[f"{name}_ms"].fillna(0).to_numpy()
            ax.bar(labels, values, bottom=bottom, label=name.replace("_", " "))
            bottom += values
        ax.set_title(f"{workload}, batch {batch}", fontsize=10)
        ax.set_ylabel("mean ms")
        ax.tick_params(axis="x", labelsize=7, rotation=20)
    axes[0][0].legend(fontsize=8, ncol=4, loc="upper left")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _sentence(workload: str, batch, rows: pd.DataFrame) -> str:
    best, worst = rows.iloc[0], rows.iloc[-1]
    grow = worst["mean_client_ms"] / best["mean_client_ms"]
    biggest = max(PARTS, key=lambda n: worst[f"{n}_ms"] - best[f"{n}_ms"])
    return (f"- **{workload}, batch {batch}:** from {_label(best)} to {_label(worst)} the "
            f"client's mean latency went from {cell(best['mean_client_ms'])} ms to "
            f"{cell(worst['mean_client_ms'])} ms ({cell(grow)}x; p99 "
            f"{cell(best['client_p99_ms'])} -> {cell(worst['client_p99_ms'])} ms); most of the "
            f"growth was {biggest.replace('_', ' ')} ({cell(best[f'{biggest}_ms'])} -> "
            f"{cell(worst[f'{biggest}_ms'])} ms, {cell(best[f'{biggest}_pct'])} % -> "
            f"{cell(worst[f'{biggest}_pct'])} % of the client's time); "
            + (f"{cell(worst['retrans_ms'])} ms per request ({cell(worst['retrans_pct'])} %) "
               "waiting for retransmissions, " if not np.isnan(worst["retrans_ms"]) else "")
            + f"{cell(worst['retransmissions_per_request'])} retransmitted segments per request "
            f"(runs `{best['run']}`, `{worst['run']}`).")


def _loss_sentences(t: pd.DataFrame) -> list[str]:
    """At each bandwidth, what 3 % loss (the worst) did to each workload's mean, vs 0 %."""
    out = []
    for (workload, batch, bw), rows in t.groupby(["workload", "batch_size", "bandwidth_mbit"]):
        clean, lossy = rows[rows["loss_pct"] == rows["loss_pct"].min()], \
            rows[rows["loss_pct"] == rows["loss_pct"].max()]
        if clean.empty or lossy.empty or len(rows) < 2:
            continue
        c, l_ = clean.iloc[0], lossy.iloc[0]
        out.append({"workload": workload, "batch_size": batch, "bandwidth_mbit": bw,
                    "loss_pct": l_["loss_pct"], "clean_mean_ms": c["mean_client_ms"],
                    "lossy_mean_ms": l_["mean_client_ms"],
                    "added_ms": l_["mean_client_ms"] - c["mean_client_ms"],
                    "clean_p99_ms": c["client_p99_ms"], "lossy_p99_ms": l_["client_p99_ms"],
                    "run": l_["run"]})
    return out


def _load_options(plan) -> str:
    """The sweep's load options as given on the command line."""
    if plan is None:
        return ""
    how = (f"--duration {plan.duration_s:g}" if plan.duration_s
           else f"--requests {plan.requests}")
    return f"{how} --warmup {plan.warmup_requests}"


def render(sweep_dir: Path, t: pd.DataFrame, env: dict, plan, figure_path: str | None) -> str:
    load = (f"{plan.duration_s:g} s" if plan is not None and plan.duration_s
            else f"{getattr(plan, 'requests', '?')} requests")
    out = ["# Findings: the network's share of an inference request", "",
           f"Generated by `inferwire findings {sweep_dir} --network` on "
           f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; do not edit by hand "
           "(regenerate instead).  Every number comes from a run folder under "
           f"`{sweep_dir}/runs/`, named in the `run` column or after each sentence.", "",
           f"**Where measured:** {env.get('platform', '?')}, {env.get('cpus', '?')} CPUs, "
           f"Python {env.get('python', '?')}, TensorFlow {env.get('tensorflow', '?')}.  "
           "Each point is a capture run (`--network`, docs/network.md): inferwire's embedded "
           "server in its own network namespace, the load generator (2 closed-loop users) in "
           "another, a router namespace between them shaping each direction with tc tbf to the "
           "bandwidth and dropping packets at random with iptables (the loss % each way), MTU "
           "1500, one segment per packet; no added delay (this kernel has no netem), so the "
           "round trip is the veth's (~0.05 ms) plus queueing.  REST (json_row) and gRPC "
           f"(tensor_content) in each run, {load} of load per protocol after "
           f"{getattr(plan, 'warmup_requests', '?')} warm-up requests.  A **shared 2-core "
           "machine**: other work ran at the same time (`host_cpu_cores`: how busy the whole "
           "host was, of 2), which inflates the server's and the client's parts of some "
           "points; differences under ~20 % are noise, and at 1-3 % "
           "loss a few 200 ms retransmission timeouts move a mean.  Even without random loss a "
           "narrow link drops: the bottleneck's queue holds 50 ms of traffic, and a batch-32 "
           "request or response that overflows it is cut (`retrans_ms` at 0 % loss).", "",
           "Parts of the client's mean latency (ms; means add up): **transfer** = request_ms + "
           "response_ms (moving the bytes: the link's rate, and retransmissions inside a "
           "message), **network and stack** = wait_ms - server_ms (round trips, queues, kernels,"
           " and timeouts for a first response segment lost before the client's capture point), "
           "**server** = the "
           "server's own time (model and the rest), **client** = the client's work before and "
           "after the wire (serialization, connection set-up).  **retrans_ms**: the part of "
           "the transfer spent waiting for a retransmitted copy (`retrans_ms_to_server` + "
           "`retrans_ms_to_client`), **stall_ms**: zero window and HTTP/2 flow control.", "",
           "How to read it: the tables come from the client's capture.  Bytes that wait in the "
           "bottleneck's queue (tbf, in the router) have already left the client, so at a low "
           "rate a request smaller than that queue seems sent at once and the link's time shows "
           "in the wait (network and stack); it moves to transfer only when TCP's window holds "
           "the client back (batch 32).  gRPC's two users share one HTTP/2 connection: a "
           "request queued behind the other user's transfer waits in the client (its first "
           "byte leaves late), which the client part shows.", "",
           "## Where the time goes as the network worsens", ""]
    if t.empty:
        return "\n".join(out + ["_No network points in this sweep._", ""])
    for (workload, batch), rows in t.groupby(["workload", "batch_size"], sort=True):
        out.append(_sentence(workload, batch, rows))
    if figure_path:
        out += ["", f"![time per part as the network worsens]({figure_path})"]
    out += ["", table(t), "", "## What loss adds at each bandwidth", "",
            "The mean and p99 at the highest loss of the sweep against no loss, same bandwidth "
            "(a lost segment costs a fast retransmit, about a round trip, when later segments "
            "reveal it, and a retransmission timeout, 200 ms or more on Linux, when it was the "
            "last of a message):", "", table(pd.DataFrame(_loss_sentences(t))), "",
            "## Reproduce", "", "```sh",
            f"inferwire sweep --network-findings {_load_options(plan)} --out {sweep_dir}",
            f"inferwire findings {sweep_dir} --network",
            "```", ""]
    return "\n".join(out)


def generate_network(sweep_dir, doc="docs/findings-network.md") -> list[Path]:
    """Write the network findings page, its figure and a copy of the sweep's points.csv (in a
    folder next to it named after it); returns the paths written."""
    data = load_sweep(sweep_dir)
    doc = Path(doc)
    assets = doc.with_suffix("")
    assets.mkdir(parents=True, exist_ok=True)
    t = network_table(data.points) if not data.points.empty else pd.DataFrame(columns=COLUMNS)
    written = []
    made = figure(t, assets / "time_by_network.png")
    if made:
        written.append(made)
    t.to_csv(assets / "points.csv", index=False)
    written.append(assets / "points.csv")
    rel = os.path.relpath(made, doc.parent) if made else None
    doc.write_text(render(data.sweep_dir, t, data.environment, data.plan, rel))
    return [doc, *written]
