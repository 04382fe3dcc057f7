"""KServe's model server against the embedded one: throughput and p50/p99 per server, API,
protocol and batch size, with the same client.

    .venv/bin/python benchmarks/bench_kserve.py          # ~3 min; writes results/kserve.md
    .venv/bin/python benchmarks/bench_kserve.py --seconds 1 --rounds 1 --no-write

Servers: inferwire's embedded server (TensorFlow) and KServe 0.21 (``--server kserve``: uvicorn
/ grpc.aio, the same weights in numpy), both serving the MNIST softmax model on 127.0.0.1.  The
client: inferwire's own, closed loop, ``--concurrency`` threads, batch 1 and 32, for the Open
Inference Protocol (REST ``v2_json``, gRPC ``v2_raw``) and TF Serving's REST predict API
(``json_row``; KServe's "V1").  Cells are interleaved: each round runs every server x cell once,
so a busy moment of the shared machine touches all of them; throughput is the median over
rounds, p50/p99 over all the requests of a cell.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from bench_serving import percentile_us, run_cell
from inferwire.serving.ports import free_ports
from inferwire.serving.clients import make_client, sample_images
from inferwire.serving.kserve.launch import KServeProcess, kserve_version
from inferwire.serving.numpy_weights import cached_weights
from inferwire.serving.launch import ServerProcess
from inferwire.serving.model import cached_models

CELLS = (("v2", "rest", "v2_json"), ("v2", "grpc", "v2_raw"), ("v1", "rest", "json_row"))
RESULTS = Path(__file__).resolve().parent / "results" / "kserve.md"


def start_servers(work: Path) -> dict:
    embedded = ServerProcess(["--model_base_path", str(cached_models() / "mnist"),
                              "--model_name", "mnist", "--port", "0",
                              "--rest_api_port", "auto"]).start()
    grpc_port, rest_port = free_ports(2)
    kserve = KServeProcess(cached_weights("softmax"), model_name="mnist", http_port=rest_port,
                           grpc_port=grpc_port, log_path=work / "kserve.log").start()
    return {"embedded": (embedded, {"rest": embedded.rest_port, "grpc": embedded.grpc_port}),
            "kserve": (kserve, {"rest": rest_port, "grpc": grpc_port})}


def measure(servers: dict, args) -> list[dict]:
    cells: dict = {}
    for r in range(args.rounds):
        for api, protocol, encoding in CELLS:
            for batch in (1, 32):
                images = sample_images(batch, seed=batch)
                for name, (_, ports) in servers.items():
                    (lat, _, _, _), errors, wall = run_cell(
                        lambda: make_client(protocol, port=ports[protocol], encoding=encoding,
                                            timeout_s=60), images, args.seconds, args.concurrency)
                    c = cells.setdefault((name, api, protocol, batch),
                                         {"rps": [], "lat": [], "errors": 0})
                    c["rps"].append(len(lat) / wall)
                    c["lat"] += lat
                    c["errors"] += errors
                    print(f"  round {r + 1} {name} {api} {protocol} b{batch}: "
                          f"{len(lat) / wall:.0f} req/s", file=sys.stderr, flush=True)
    return [{"server": k[0], "api": k[1], "protocol": k[2], "batch": k[3],
             "rps": statistics.median(v["rps"]), "rounds": ", ".join(f"{x:.0f}" for x in v["rps"]),
             "n": len(v["lat"]), "p50": percentile_us(v["lat"], 50) / 1e3,
             "p99": percentile_us(v["lat"], 99) / 1e3, "errors": v["errors"]}
            for k, v in cells.items()]


def report(rows: list[dict], args, version: str | None) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# KServe {version} vs the embedded server ({when})", "",
             f"{args.rounds} interleaved rounds of {args.seconds:g} s per cell, "
             f"{args.concurrency} closed-loop client threads, softmax MNIST, 127.0.0.1; "
             "throughput = median of rounds, p50/p99 over all requests of the cell.", "",
             "| API | protocol | batch | server | req/s (median) | rounds | p50 ms | p99 ms | "
             "requests | errors |", "|---|---|---:|---|---:|---|---:|---:|---:|---:|"]
    for row in sorted(rows, key=lambda r: (r["api"], r["protocol"], r["batch"], r["server"])):
        lines.append(f"| {row['api']} | {row['protocol']} | {row['batch']} | {row['server']} | "
                     f"{row['rps']:.0f} | {row['rounds']} | {row['p50']:.2f} | {row['p99']:.2f} | "
                     f"{row['n']} | {row['errors']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        servers = start_servers(Path(work))
        try:
            rows = measure(servers, args)
        finally:
            for proc, _ in servers.values():
                proc.stop()
        version = kserve_version(servers["kserve"][0].python)
    text = report(rows, args, version)
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
