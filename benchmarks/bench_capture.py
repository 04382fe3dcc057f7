#!/usr/bin/env python3
"""What capturing costs, and how exact the open-loop schedule is.

1. Throughput with and without a capture, in one run, at full speed: the embedded server, gRPC
   Predict (batch 1, ``tensor_content``), closed loop with ``--users`` users for ``--seconds`` each,
   alternating no-capture / capture ``--rounds`` times (so drift in the shared machine's load hits
   both); the capture is inferwire's CaptureSession (dumpcap, 256 MiB buffer, proven live).  The
   ratio is capture throughput / no-capture throughput (goal >= 0.95) and the drops must be 0.
2. Open-loop accuracy: ``--rate`` requests/s (default 500, constant arrivals) for ``--seconds``:
   achieved send rate vs target (goal within 1 %) and p99 lateness of sends (goal <= 1 ms).

    .venv/bin/python benchmarks/bench_capture.py            # writes benchmarks/results/capture.md
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from inferwire.capture import CaptureOptions, CaptureSession
from inferwire.load import LoadOptions, PredictWorkload, run_load
from inferwire.serving.launch import ServerProcess
from inferwire.serving.model import cached_models

RESULTS = Path(__file__).resolve().parent / "results" / "capture.md"


def load(port: int, options: LoadOptions):
    workload = PredictWorkload("grpc", "127.0.0.1", port, batch_size=1,
                               encoding="grpc_tensor_content")
    try:
        return run_load(workload, options)
    finally:
        workload.close()


def closed(port, users, seconds):
    return load(port, LoadOptions(mode="closed", users=users, duration_s=seconds,
                                  warmup_requests=20))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    models = cached_models()
    rows, drops = [], []
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(
            ["--model_base_path", str(models / "mnist"), "--model_name", "mnist",
             "--port", "auto", "--rest_api_port", "auto"]) as server:
        port = server.grpc_port
        for i in range(args.rounds):
            plain = closed(port, args.users, args.seconds).throughput_per_s
            session = CaptureSession(CaptureOptions(output=Path(tmp) / f"c{i}.pcapng",
                                                    ports=(port,)))
            session.start()
            try:
                captured = closed(port, args.users, args.seconds).throughput_per_s
            finally:
                result = session.stop()
            drops.append(result.dropped)
            rows.append((plain, captured, result.packets, result.dropped))
            print(f"round {i + 1}: {plain:.1f} req/s without, {captured:.1f} with capture, "
                  f"{result.packets} packets, dropped {result.dropped}", flush=True)
        open_loop = load(port, LoadOptions(mode="open", rate=args.rate, arrival="constant",
                                           duration_s=args.seconds, warmup_requests=20,
                                           max_in_flight=64))
    ratio = statistics.mean(c for _, c, _, _ in rows) / statistics.mean(p for p, _, _, _ in rows)
    rate_error = abs(open_loop.send_rate_per_s - args.rate) / args.rate
    p99_late = open_loop.lateness_ms["p99"]
    table = [
        "| measure | value | goal | met |", "|---|---|---|---|",
        f"| throughput without capture (mean of {args.rounds}), req/s | "
        f"{statistics.mean(p for p, _, _, _ in rows):.1f} | | |",
        f"| throughput with capture (mean of {args.rounds}), req/s | "
        f"{statistics.mean(c for _, c, _, _ in rows):.1f} | | |",
        f"| ratio with / without | {ratio:.3f} | >= 0.95 | {'yes' if ratio >= 0.95 else 'no'} |",
        f"| packets dropped (each round) | {', '.join(str(d) for d in drops)} | 0 | "
        f"{'yes' if all(d == 0 for d in drops) else 'no'} |",
        f"| open loop: achieved send rate at {args.rate:g}/s | {open_loop.send_rate_per_s:.2f} "
        f"({100 * rate_error:.2f} % off) | within 1 % | {'yes' if rate_error <= 0.01 else 'no'} |",
        f"| open loop: p99 send lateness, ms | {p99_late:.3f} | <= 1 ms | "
        f"{'yes' if p99_late <= 1.0 else 'no'} |",
        f"| open loop: p50 send lateness, ms | {open_loop.lateness_ms['p50']:.3f} | | |",
    ]
    text = (f"gRPC Predict batch 1 on the embedded server, {args.users} closed-loop users, "
            f"{args.seconds:g} s per measurement, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
            "\n\n" + "\n".join(table) + "\n")
    print("\n" + text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
