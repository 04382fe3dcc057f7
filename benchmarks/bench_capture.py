#!/usr/bin/env python3
"""What capturing costs, and how exact the open-loop schedule is.

1. Throughput with and without a capture, at full speed: the embedded server, gRPC Predict
   (batch 1, ``tensor_content``), closed loop with ``--users`` users.  ``--pairs`` pairs of
   short ``--seconds`` rounds, one without and one with a capture, the order alternating from
   pair to pair (without-with, with-without, ...), so that drift in the shared machine's load
   hits both sides.  Each pair gives a ratio (with / without); the result is the median ratio
   (goal >= 0.95) with its middle half and range, so one noisy round cannot decide it.  Beside
   it: the same ratio of throughput per core that other jobs left free, and CPU per request
   (server + load generator + dumpcap).  The capture is inferwire's CaptureSession (dumpcap,
   256 MiB buffer, proven live) and must drop 0 packets.
2. Open-loop accuracy: ``--open-rounds`` rounds of ``--open-seconds`` at ``--rate`` requests/s
   (constant arrivals, up to 64 in flight) for each ``LoadOptions.sender_priority`` in
   ``--priorities`` (normal and auto = real-time where permitted), alternating: achieved send
   rate vs target (goal within 1 %) and p99 lateness of sends (goal <= 1 ms) in each round.
   Sends held back because 64 requests planned earlier were unfinished at their planned time
   (the server fell behind) are counted apart, with the p99 lateness of the other sends: that
   one is the load generator's own.  The server's latency shows whether it kept up.

Other jobs' CPU use (the host's process CPU time minus this benchmark's processes) is printed
with the table.  About 3 minutes with the defaults.

    .venv/bin/python benchmarks/bench_capture.py            # writes benchmarks/results/capture.md
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

from inferwire.capture import CaptureOptions, CaptureSession
from inferwire.load import LoadListener, LoadOptions, PredictWorkload, run_load
from inferwire.load.priority import realtime_permitted
from inferwire.serving.launch import ServerProcess
from inferwire.serving.model import cached_models

RESULTS = Path(__file__).resolve().parent / "results" / "capture.md"
MAX_IN_FLIGHT = 64


class Keep(LoadListener):
    """Keeps every record (the per-request table the analysis below needs)."""

    def __init__(self):
        self.records = []

    def on_request(self, record):
        self.records.append(record)


class CpuMeter:
    """CPU seconds of this process, the server and dumpcap; and of everything else on the host."""

    def __init__(self, server_pid: int):
        self.server = psutil.Process(server_pid)

    def ours(self) -> float:
        """CPU s of this process and its descendants, living or reaped (dumpcap comes and goes)."""
        me = psutil.Process()
        total = 0.0
        for proc in {p.pid: p for p in (me, self.server, *me.children(recursive=True))}.values():
            try:
                t = proc.cpu_times()
            except psutil.Error:       # a child that just exited: its parent's children_* next
                continue
            total += t.user + t.system + t.children_user + t.children_system
        return total

    def snapshot(self) -> tuple[float, float, float]:
        """(monotonic s, host CPU s in processes, our CPU s).  Interrupt time is left out of
        both: the kernel charges it to no process, and capturing adds some."""
        host = psutil.cpu_times()
        return time.monotonic(), host.user + host.nice + host.system, self.ours()


def others_cores(before, after) -> float:
    """Mean number of cores other jobs kept busy between two snapshots."""
    wall = after[0] - before[0]
    return max(0.0, (after[1] - before[1]) - (after[2] - before[2])) / wall


def closed_round(port, users, seconds, meter, capture_path=None) -> dict:
    """One closed-loop round: throughput/s, per core left by other jobs, CPU ms per request,
    packets and drops (None without capture)."""
    workload = PredictWorkload("grpc", "127.0.0.1", port, batch_size=1,
                               encoding="grpc_tensor_content")
    session = None
    if capture_path is not None:
        session = CaptureSession(CaptureOptions(output=capture_path, ports=(port,)))
        session.start()
    try:
        before = meter.snapshot()
        summary = run_load(workload, LoadOptions(mode="closed", users=users, duration_s=seconds,
                                                 warmup_requests=20))
        after = meter.snapshot()
    finally:
        workload.close()
        result = session.stop() if session is not None else None
    if capture_path is not None:
        os.unlink(capture_path)         # keep the temporary folder small
    left = max(0.1, psutil.cpu_count() - others_cores(before, after))
    return dict(throughput=summary.throughput_per_s, per_core=summary.throughput_per_s / left,
                cpu_ms=1000 * (after[2] - before[2]) / (summary.requests
                                                        + summary.warmup_requests),
                packets=result.packets if result else None,
                dropped=result.dropped if result else None)


def held_back(records, max_in_flight: int) -> np.ndarray:
    """Per measured send: True if no worker could be free at its planned time.

    That is when the requests planned earlier and not finished by then (in flight, or queued
    late behind a full window) were ``max_in_flight`` or more: the server had fallen behind.
    """
    planned_all = np.sort([r.scheduled_ns for r in records])
    ends = np.sort([r.finished_ns if r.finished_ns is not None else np.iinfo(np.int64).max
                    for r in records])
    planned = np.array([r.scheduled_ns for r in records if r.phase == "measure"])
    busy = (np.searchsorted(planned_all, planned, side="left")
            - np.searchsorted(ends, planned, side="right"))
    return busy >= max_in_flight


def open_round(port, rate, seconds, priority):
    """One open-loop round with ``sender_priority=priority``: a dict of what the table shows."""
    workload = PredictWorkload("grpc", "127.0.0.1", port, batch_size=1,
                               encoding="grpc_tensor_content")
    keep = Keep()
    try:
        summary = run_load(workload, LoadOptions(mode="open", rate=rate, arrival="constant",
                                                 duration_s=seconds, warmup_requests=20,
                                                 max_in_flight=MAX_IN_FLIGHT,
                                                 sender_priority=priority), [keep])
    finally:
        workload.close()
    measured = [r for r in keep.records if r.phase == "measure"]
    late_ms = np.array([r.started_ns - r.scheduled_ns for r in measured]) / 1e6
    held = held_back(keep.records, MAX_IN_FLIGHT)
    own = late_ms[~held]
    return dict(rate=summary.send_rate_per_s, p99=summary.lateness_ms["p99"],
                p50=summary.lateness_ms["p50"], held=int(held.sum()), sends=len(measured),
                own_p99=float(np.percentile(own, 99)) if len(own) else float("nan"),
                latency_p50=summary.latency_ms["p50"] if summary.latency_ms else float("nan"))


def spread(values) -> str:
    """The middle half and the whole range of ``values``."""
    q1, _, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else (values[0],) * 3
    return f"middle half {q1:.3f} to {q3:.3f}, all {min(values):.3f} to {max(values):.3f}"


def measure(args) -> tuple[list, list, dict]:
    """Run both parts against one embedded server; returns (pairs, open rounds, context)."""
    models = cached_models()
    pairs, rounds, context = [], [], {}
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(
            ["--model_base_path", str(models / "mnist"), "--model_name", "mnist",
             "--port", "auto", "--rest_api_port", "auto"]) as server:
        port, meter = server.grpc_port, CpuMeter(server.proc.pid)
        closed_round(port, args.users, 2.0, meter)                     # warm the server up
        before = meter.snapshot()
        for i in range(args.pairs):
            order = ("without", "with") if i % 2 == 0 else ("with", "without")
            pair = {}
            for side in order:
                path = Path(tmp) / f"c{i}.pcapng" if side == "with" else None
                pair[side] = closed_round(port, args.users, args.seconds, meter, path)
            plain, captured = pair["without"], pair["with"]
            pairs.append((plain, captured))
            print(f"pair {i + 1} ({'-'.join(order)}): {plain['throughput']:.1f} req/s without, "
                  f"{captured['throughput']:.1f} with (ratio "
                  f"{captured['throughput'] / plain['throughput']:.3f}; per free core "
                  f"{captured['per_core'] / plain['per_core']:.3f}); {captured['packets']} "
                  f"packets, dropped {captured['dropped']}", flush=True)
        middle = meter.snapshot()
        for i in range(args.open_rounds):
            for priority in (args.priorities if i % 2 == 0 else args.priorities[::-1]):
                r = open_round(port, args.rate, args.open_seconds, priority)
                rounds.append((priority, r))
                print(f"open round {i + 1}, {priority} senders: {r['rate']:.2f} sends/s, p99 "
                      f"lateness {r['p99']:.3f} ms, {r['held']} held back, p99 of the rest "
                      f"{r['own_p99']:.3f} ms", flush=True)
        after = meter.snapshot()
    context.update(others_closed=others_cores(before, middle),
                   others_open=others_cores(middle, after))
    return pairs, rounds, context


def table(args, pairs, rounds, context) -> str:
    def median(side, key):
        return statistics.median(pair[side][key] for pair in pairs)
    ratios = [c["throughput"] / p["throughput"] for p, c in pairs]
    ratio = statistics.median(ratios)
    core_ratios = [c["per_core"] / p["per_core"] for p, c in pairs]
    drops = [c["dropped"] for _, c in pairs]
    rows = [
        "| measure | value | goal | met |", "|---|---|---|---|",
        f"| throughput without capture (median of {len(pairs)}), req/s | "
        f"{median(0, 'throughput'):.1f} | | |",
        f"| throughput with capture (median of {len(pairs)}), req/s | "
        f"{median(1, 'throughput'):.1f} | | |",
        f"| ratio with / without (median of {len(pairs)} pairs) | {ratio:.3f} "
        f"({spread(ratios)}) | >= 0.95 | {'yes' if ratio >= 0.95 else 'no'} |",
        f"| same, throughput per core left by other jobs (median) | "
        f"{statistics.median(core_ratios):.3f} ({spread(core_ratios)}) | | |",
        f"| CPU per request without / with capture, ms (median) | "
        f"{median(0, 'cpu_ms'):.3f} / {median(1, 'cpu_ms'):.3f} | | |",
        f"| packets dropped (each round with capture) | {', '.join(str(d) for d in drops)} | 0 | "
        f"{'yes' if all(d == 0 for d in drops) else 'no'} |",
    ]
    for priority in args.priorities:
        rows += open_rows(args, priority, [r for p, r in rounds if p == priority])
    realtime = "permitted" if realtime_permitted() else "not permitted (auto = normal)"
    return (f"gRPC Predict batch 1 on the embedded server; {len(pairs)} pairs of "
            f"{args.seconds:g} s closed-loop rounds ({args.users} users); "
            f"{args.open_rounds} open-loop rounds of {args.open_seconds:g} s for each "
            f"sender_priority ({', '.join(args.priorities)}; real-time {realtime}), "
            f"alternating; other jobs kept {context['others_closed']:.2f} (closed part) and "
            f"{context['others_open']:.2f} (open part) of {psutil.cpu_count()} cores busy; "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n" + "\n".join(rows) + "\n")


def open_rows(args, priority: str, rounds: list[dict]) -> list[str]:
    """The open-loop rows of one sender priority."""
    def each(key, fmt):
        return ", ".join(fmt.format(r[key]) for r in rounds)
    worst = max(abs(r["rate"] - args.rate) / args.rate for r in rounds)
    n_ok = sum(r["p99"] <= 1.0 for r in rounds)
    held = ", ".join(f"{r['held']} of {r['sends']}" for r in rounds)
    name = f"open loop, {priority} senders:"
    return [
        f"| {name} achieved send rate at {args.rate:g}/s (each round) | {each('rate', '{:.2f}')} "
        f"(at most {100 * worst:.2f} % off) | within 1 % | {'yes' if worst <= 0.01 else 'no'} |",
        f"| {name} p99 send lateness, ms (each round) | {each('p99', '{:.3f}')} | <= 1 ms | "
        f"{'yes' if n_ok == len(rounds) else 'no'} ({n_ok} of {len(rounds)}) |",
        f"| {name} p50 send lateness, ms | {each('p50', '{:.3f}')} | | |",
        f"| {name} sends held back by {MAX_IN_FLIGHT} in flight | {held} | | |",
        f"| {name} p99 lateness of the other sends, ms | {each('own_p99', '{:.3f}')} | | |",
        f"| {name} server latency p50, ms | {each('latency_p50', '{:.2f}')} | | |",
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=4)
    ap.add_argument("--pairs", type=int, default=12)
    ap.add_argument("--seconds", type=float, default=3.0, help="per closed-loop round")
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--open-rounds", type=int, default=3, help="per sender priority")
    ap.add_argument("--open-seconds", type=float, default=8.0)
    ap.add_argument("--priorities", default="normal,auto",
                    help="sender_priority values to compare in the open loop")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    args.priorities = args.priorities.split(",")
    pairs, rounds, context = measure(args)
    text = table(args, pairs, rounds, context)
    print("\n" + text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
