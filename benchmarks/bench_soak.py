#!/usr/bin/env python3
"""Soak: one long capture run at a steady open-loop rate; is anything growing?

Runs ``scripts/capture_run.py`` as a real user would (the embedded server, gRPC Predict,
``--rate`` requests/s constant arrivals for ``--minutes``, a dumpcap ring-buffer capture of
``--ring FILES:MB``), and every ``--interval`` seconds samples every process of the run (the
run itself = client and load generator, the server, dumpcap, the capture watchdog, the run's
supervisor): RSS and PSS (``/proc/PID/smaps_rollup`` through psutil) and open file descriptors.

Reported per process kind, over the load phase after the first ``--settle`` seconds: the first,
middle and last minute's median RSS/PSS/fds, the least-squares slope (MB per hour), and the
largest value; then from the run's own files: packets dropped (the capture's counters), requests
sent (client log) and how many of them the analysis found in the capture.

    .venv/bin/python benchmarks/bench_soak.py                       # 30 min at 100 req/s
    .venv/bin/python benchmarks/bench_soak.py --minutes 2 --rate 50  # a quick look
    .venv/bin/python benchmarks/bench_soak.py --report-only RUN_DIR SAMPLES_CSV  # report again

Writes ``benchmarks/results/soak.md`` (and the samples as ``soak_samples.csv`` beside it).
The run folder stays in ``--out`` (default ``benchmarks/data/soak``).
"""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def kind_of(proc: psutil.Process, run_pid: int) -> str:
    """What a process of the run is, from its command line."""
    if proc.pid == run_pid:
        return "run (client, load generator)"
    try:
        cmd = " ".join(proc.cmdline())
    except psutil.Error:
        return "gone"
    for needle, kind in (("inferwire.cli serve", "server"), ("supervisor.py", "supervisor"),
                         ("watchdog.py", "capture watchdog"), ("dumpcap", "dumpcap"),
                         ("tshark", "tshark"), ("tcpdump", "tcpdump")):
        if needle in cmd:
            return kind
    return proc.name()


def sample(run: psutil.Process) -> list[dict]:
    """One row per live process of the run: time, kind, pid, rss, pss, fds."""
    now = time.time_ns()
    rows = []
    try:
        procs = [run] + run.children(recursive=True)
    except psutil.Error:
        return rows
    for p in procs:
        try:
            mem = p.memory_full_info()
            rows.append({"time_ns": now, "kind": kind_of(p, run.pid), "pid": p.pid,
                         "rss_bytes": mem.rss, "pss_bytes": getattr(mem, "pss", None),
                         "fds": p.num_fds()})
        except psutil.Error:
            continue
    return rows


def run_and_sample(args) -> tuple[Path, list[dict], int]:
    """Start the capture run, sample it until it exits; (run folder, samples, exit code)."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    before = {p.name for p in out.iterdir()}
    cmd = [sys.executable, str(ROOT / "scripts" / "capture_run.py"), "--out", str(out),
           "--name", "soak", "--protocol", args.protocol, "--rate", str(args.rate),
           "--duration", str(args.minutes * 60), "--ring", args.ring]
    if args.encoding:
        cmd += ["--encoding", args.encoding]
    log = open(out / f"soak-{time.strftime('%Y%m%d-%H%M%S')}.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    run = psutil.Process(proc.pid)
    rows = []
    path = RESULTS / "soak_samples.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, ["time_ns", "kind", "pid", "rss_bytes", "pss_bytes", "fds"])
        writer.writeheader()
        while proc.poll() is None:
            got = sample(run)
            writer.writerows(got)
            f.flush()
            rows += got
            time.sleep(args.interval)
    log.close()
    new = [p for p in out.iterdir() if p.name not in before and p.is_dir()]
    return (new[0] if new else out), rows, proc.returncode


def flatness(samples: pd.DataFrame, start_ns: int, end_ns: int) -> list[dict]:
    """Per kind: first/middle/last minute medians, max and slope (per hour) of RSS, PSS (MB) and
    fds over [start_ns, end_ns] (summed over the processes of a kind at each sample time)."""
    window = samples[(samples.time_ns >= start_ns) & (samples.time_ns <= end_ns)]
    out = []
    for kind, g in window.groupby("kind"):
        per_t = g.groupby("time_ns")[["rss_bytes", "pss_bytes", "fds"]].sum().sort_index()
        t_h = (per_t.index.to_numpy() - per_t.index[0]) / 3.6e12
        first = per_t[per_t.index <= per_t.index[0] + 60e9]
        last = per_t[per_t.index >= per_t.index[-1] - 60e9]
        centre = (per_t.index[0] + per_t.index[-1]) / 2
        middle = per_t[abs(per_t.index - centre) <= 30e9]
        row = {"kind": kind, "samples": len(per_t), "hours": float(t_h[-1]) if len(t_h) else 0}
        for col, unit in (("rss_bytes", 2**20), ("pss_bytes", 2**20), ("fds", 1)):
            v = per_t[col].to_numpy(dtype=float) / unit
            slope = float(np.polyfit(t_h, v, 1)[0]) if len(v) > 2 and t_h[-1] > 0 else float("nan")
            row[col] = (float(np.median(first[col])) / unit, float(np.median(middle[col])) / unit,
                        float(np.median(last[col])) / unit, float(v.max()), slope)
        out.append(row)
    return out


def run_facts(run_dir: Path) -> dict:
    """Status, drops, requests sent and found, from the run's manifest and joined.csv."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    capture = manifest.get("capture") or {}
    facts = {"status": manifest.get("status"), "problems": manifest.get("problems"),
             "dropped": capture.get("dropped"), "dropped_by": capture.get("dropped_by"),
             "files": len(capture.get("files") or []), "packets": capture.get("packets"),
             "live_ns": manifest.get("capture_live_ns"), "stopped_ns": manifest.get("stopped_ns"),
             "loads": manifest.get("loads"), "analysis": manifest.get("analysis"),
             "resources": manifest.get("resources") or {}}
    joined_path = run_dir / "joined.csv"
    if joined_path.exists():
        j = pd.read_csv(joined_path, usecols=["in_client_log", "in_capture", "client_phase",
                                               "status", "grpc_status"], low_memory=False)
        sent = j[j["in_client_log"] & (j["client_phase"] == "measure")]
        facts.update(sent=len(sent), found=int(sent["in_capture"].sum()),
                     ok=int((sent["grpc_status"] == 0).sum()))
    return facts


def report(args, run_dir: Path, rows: list[dict], code: int) -> str:
    samples = pd.DataFrame(rows)
    facts = run_facts(run_dir)
    start = (facts["live_ns"] or int(samples.time_ns.min())) + int(args.settle * 1e9)
    end = facts["stopped_ns"] or int(samples.time_ns.max())
    lines = [f"# Soak: {args.minutes:g} min of gRPC Predict at {args.rate:g} req/s (open loop), "
             f"ring-buffer capture {args.ring}", "",
             f"- run folder: `{run_dir.name}`, exit code {code}, status **{facts['status']}**"
             + (f" ({'; '.join(facts['problems'])})" if facts["problems"] else ""),
             f"- capture: {facts['packets']} packets in {facts['files']} ring files, dropped: "
             f"**{facts['dropped']}** ({facts['dropped_by']})",
             f"- requests measured (client log): {facts.get('sent')}; found in the capture: "
             f"**{facts.get('found')}**; grpc-status 0: {facts.get('ok')}",
             f"- samples every {args.interval:g} s; figures over the load phase after its "
             f"first {args.settle:g} s", "",
             "| process | samples | RSS MB first min -> middle -> last min (max) "
             "| RSS slope MB/h | PSS MB first -> middle -> last (max) | PSS slope MB/h "
             "| fds first -> middle -> last (max) |",
             "|---|---|---|---|---|---|---|"]
    for r in flatness(samples, start, end):
        rss, pss, fds = r["rss_bytes"], r["pss_bytes"], r["fds"]
        lines.append(f"| {r['kind']} | {r['samples']} | {rss[0]:.1f} -> {rss[1]:.1f} -> "
                     f"{rss[2]:.1f} ({rss[3]:.1f}) | {rss[4]:+.1f} | {pss[0]:.1f} -> "
                     f"{pss[1]:.1f} -> {pss[2]:.1f} ({pss[3]:.1f}) | {pss[4]:+.1f} | "
                     f"{fds[0]:.0f} -> {fds[1]:.0f} -> {fds[2]:.0f} ({fds[3]:.0f}) |")
    host = (facts["resources"].get("system") or {}).get("cpu_percent_mean")
    others = (facts["resources"].get("rest of host") or {}).get("cpu_percent_mean")
    busy = (f": its CPUs were {host:.0f} % busy on average during the run, "
            f"{others / 100:.2f} cores of it by processes outside the run"
            if host is not None and others is not None else "")
    lines += ["", f"Machine shared with other jobs (2 cores){busy}. Memory and descriptors do "
              "not depend on that; CPU figures are not reported here."]
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--rate", type=float, default=100.0, help="requests/s, constant arrivals")
    p.add_argument("--protocol", default="grpc", choices=("grpc", "rest"))
    p.add_argument("--encoding", default="grpc_tensor_content")
    p.add_argument("--ring", default="20:50", help="FILES:MB of the ring buffer")
    p.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    p.add_argument("--settle", type=float, default=60.0,
                   help="seconds of load left out at the start (warm-up, first allocations)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "data" / "soak"))
    p.add_argument("--report-only", nargs=2, metavar=("RUN_DIR", "SAMPLES_CSV"),
                   help="no run: report again on a kept run folder and its samples "
                        "(--minutes, --rate and --ring should be the run's)")
    args = p.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        run_dir, samples = Path(args.report_only[0]), Path(args.report_only[1])
        rows, code = pd.read_csv(samples).to_dict("records"), 0
    else:
        run_dir, rows, code = run_and_sample(args)
    text = report(args, run_dir, rows, code)
    (RESULTS / "soak.md").write_text(text)
    print(text)
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
