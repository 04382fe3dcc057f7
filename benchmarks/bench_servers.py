"""Real servers against the embedded one: throughput and p50/p99 per server, protocol and batch,
and what a capture (and Triton's own trace) costs Triton's throughput.

    .venv/bin/python benchmarks/bench_servers.py                 # ~4 min; writes results/servers.md
    .venv/bin/python benchmarks/bench_servers.py --seconds 1 --rounds 1 --pairs 2 --no-write

Servers: inferwire's embedded server (TensorFlow), NVIDIA Triton Inference Server 2.51
(``tritonserver`` of the nvidia-pytriton wheel, Python backend running the same weights in
numpy, trace on as in a capture run) and, when ``.venv-kserve`` exists, KServe's Python model
server (numpy too), all serving the MNIST softmax model on 127.0.0.1.  The same
client for all: inferwire's Open Inference Protocol (KServe V2) clients, REST ``v2_json`` and gRPC
``v2_raw`` (``raw_input_contents``), closed loop, ``--concurrency`` threads, batch 1 and 32.  Cells
are interleaved: each round runs every server x protocol x batch once, so a busy moment of the
shared machine touches all of them; throughput is the median over rounds, p50/p99 over all the
requests of a cell.

Capture cost: Triton under gRPC batch 1 at full speed, ``--pairs`` pairs of rounds with and
without a dumpcap capture on lo (order alternating from pair to pair); the ratio with/without
per pair (median reported, goal >= 0.95) and the drops of each captured round (goal 0).  Trace
cost: the same with two Triton servers, trace on (a file per request, as runs use) vs off.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from bench_serving import percentile_us, run_cell
from inferwire.serving.ports import free_ports
from inferwire.serving.clients import make_client, sample_images
from inferwire.serving.launch import ServerProcess
from inferwire.serving.model import cached_models
from inferwire.serving.triton.install import backend_directory, find_install
from inferwire.serving.triton.process import TritonOptions, TritonProcess
from inferwire.serving.triton.repository import TritonModelOptions, export_weights, write_repository
from inferwire.serving.triton.target import remove_staging, trace_staging

ENCODING = {"rest": "v2_json", "grpc": "v2_raw"}
RESULTS = Path(__file__).resolve().parent / "results" / "servers.md"


def start_embedded(models: Path):
    proc = ServerProcess(["--model_base_path", str(models / "mnist"), "--model_name", "mnist",
                          "--port", "0", "--rest_api_port", "auto"]).start()
    return proc, {"rest": proc.rest_port, "grpc": proc.grpc_port}


def start_kserve(work: Path):
    """KServe's model server (``.venv-kserve``), or (None, reason) when it is not installed."""
    from inferwire.errors import ServerError
    from inferwire.serving.kserve.launch import KServeProcess, kserve_version
    from inferwire.serving.numpy_weights import cached_weights
    http, grpc = free_ports(2)
    try:
        proc = KServeProcess(cached_weights("softmax"), model_name="mnist", http_port=http,
                             grpc_port=grpc, log_path=work / "kserve.log")
    except ServerError as exc:
        return None, str(exc)
    proc.version = kserve_version(proc.python)
    return proc.start(), {"rest": http, "grpc": grpc}


def start_triton(models: Path, work: Path, trace: bool, name: str):
    install = find_install()
    repo = work / f"{name}-repo"
    weights = export_weights(models / "mnist" / "1")
    write_repository(repo, TritonModelOptions(max_batch_size=64), weights)
    http, grpc, metrics = free_ports(3)
    staging = trace_staging(work / name) if trace else None   # /dev/shm: quick to remove
    opts = TritonOptions(http, grpc, metrics,
                         trace_file=str(staging / "trace.json") if trace else None)
    (work / name).mkdir(exist_ok=True)
    proc = TritonProcess(install, repo, backend_directory(install, work / f"{name}-backends"),
                         opts, work / f"{name}.log")
    proc.staging = staging
    return proc.start(), {"rest": http, "grpc": grpc}


def cell(port: int, protocol: str, batch: int, seconds: float, concurrency: int):
    images = sample_images(batch, seed=batch)
    (lat, _, _, _), errors, wall = run_cell(
        lambda: make_client(protocol, port=port, encoding=ENCODING[protocol], timeout_s=60),
        images, seconds, concurrency)
    return {"n": len(lat), "rps": len(lat) / wall, "lat": lat, "errors": errors}


def compare_servers(servers: dict, args) -> list[dict]:
    cells: dict = {}
    for r in range(args.rounds):
        for protocol in ("rest", "grpc"):
            for batch in (1, 32):
                for name, ports in servers.items():
                    got = cell(ports[protocol], protocol, batch, args.seconds, args.concurrency)
                    c = cells.setdefault((name, protocol, batch),
                                         {"rps": [], "lat": [], "errors": 0})
                    c["rps"].append(got["rps"])
                    c["lat"] += got["lat"]
                    c["errors"] += got["errors"]
                    print(f"  round {r + 1} {name} {protocol} b{batch}: {got['rps']:.0f} req/s",
                          file=sys.stderr, flush=True)
    return [{"server": k[0], "protocol": k[1], "batch": k[2], "rps": statistics.median(v["rps"]),
             "rounds": ", ".join(f"{x:.0f}" for x in v["rps"]), "n": len(v["lat"]),
             "p50": percentile_us(v["lat"], 50) / 1e3, "p99": percentile_us(v["lat"], 99) / 1e3,
             "errors": v["errors"]} for k, v in cells.items()]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its live descendants (Triton's stubs)."""
    import psutil
    total = 0.0
    proc = psutil.Process(pid)
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            continue
    return total


def capture_pairs(port: int, work: Path, args, server_pid: int) -> list[dict]:
    import os
    from inferwire.capture import CaptureOptions, CaptureSession
    pairs = []
    for i in range(args.pairs):
        got, cpu = {}, {}
        for captured in ((True, False) if i % 2 == 0 else (False, True)):
            session = None
            if captured:
                session = CaptureSession(CaptureOptions(output=work / f"cap{i}.pcapng",
                                                        ports=(port,))).start()
            try:
                before = cpu_seconds(server_pid) + cpu_seconds(os.getpid())
                one = cell(port, "grpc", 1, args.pair_seconds, args.concurrency)
                got[captured] = one["rps"]
                cpu[captured] = (cpu_seconds(server_pid) + cpu_seconds(os.getpid()) - before) \
                    / max(one["n"], 1) * 1e3
            finally:
                if session is not None:
                    result = session.stop()
                    got["dropped"] = result.dropped
                    (work / f"cap{i}.pcapng").unlink(missing_ok=True)
        pairs.append({"with": got[True], "without": got[False], "dropped": got["dropped"],
                      "ratio": got[True] / got[False], "cpu_with": cpu[True],
                      "cpu_without": cpu[False]})
        print(f"  capture pair {i + 1}: {pairs[-1]['ratio']:.3f}", file=sys.stderr, flush=True)
    return pairs


def trace_pairs(on: tuple, off: tuple, args) -> list[dict]:
    """``on``/``off``: (gRPC port, server pid) of Triton with and without its trace."""
    import os
    out = []
    for i in range(args.pairs):
        got = {}
        for port, pid in ((on, off) if i % 2 == 0 else (off, on)):
            before = cpu_seconds(pid) + cpu_seconds(os.getpid())
            one = cell(port, "grpc", 1, args.pair_seconds, args.concurrency)
            got[port] = (one["rps"], (cpu_seconds(pid) + cpu_seconds(os.getpid()) - before)
                         / max(one["n"], 1) * 1e3)
        out.append({"ratio": got[on[0]][0] / got[off[0]][0], "cpu_on": got[on[0]][1],
                    "cpu_off": got[off[0]][1]})
        print(f"  trace pair {i + 1}: {out[-1]['ratio']:.3f}", file=sys.stderr, flush=True)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=2.0, help="per cell and round (default 2)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--pairs", type=int, default=6, help="capture / trace pairs (default 6)")
    p.add_argument("--pair-seconds", type=float, default=3.0)
    p.add_argument("--concurrency", type=int, default=1, help="client threads (default 1)")
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--no-kserve", action="store_true", help="leave KServe out")
    args = p.parse_args(argv)
    models = cached_models()
    started, kserve, kports = [], None, "not started"
    with tempfile.TemporaryDirectory(prefix="bench-servers-") as tmp:
        work = Path(tmp)
        try:
            emb, emb_ports = start_embedded(models)
            started.append(emb)
            tri, tri_ports = start_triton(models, work, trace=True, name="triton")
            started.append(tri)
            version = tri.metadata.get("version")
            servers = {"embedded": emb_ports, f"triton {version}": tri_ports}
            kserve, kports = start_kserve(work) if not args.no_kserve else (None, "--no-kserve")
            if kserve is not None:
                started.append(kserve)
                servers[f"kserve {kserve.version}"] = kports
            rows = compare_servers(servers, args)
            if kserve is not None:
                kserve.stop()
            emb.stop()
            cap = capture_pairs(tri_ports["grpc"], work, args, tri.proc.pid)
            off, off_ports = start_triton(models, work, trace=False, name="triton-notrace")
            started.append(off)
            traces = trace_pairs((tri_ports["grpc"], tri.proc.pid),
                                 (off_ports["grpc"], off.proc.pid), args)
        finally:
            for proc in started:
                proc.stop()
                if getattr(proc, "staging", None):
                    remove_staging(proc.staging)
    text = report(rows, cap, traces, args)
    if kserve is None:
        text += f"\n\nKServe left out: {kports}"
    print(text)
    if not args.no_write:
        RESULTS.write_text(text + "\n")
    return 0


def report(rows, cap, traces, args) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"## Real servers vs the embedded one ({when}; shared 2-core machine, other jobs "
           f"running: read ratios, not absolutes)", "",
           f"Same V2 client (REST v2_json, gRPC v2_raw), {args.concurrency} client thread(s), "
           f"closed loop, {args.rounds} interleaved rounds of {args.seconds:g} s per cell; MNIST "
           "softmax. req/s: median of rounds (each round's in brackets).", "",
           "| server | protocol | batch | req/s | rounds | requests | p50 ms | p99 ms | errors |",
           "|---|---|---:|---:|---|---:|---:|---:|---:|"]
    for r in sorted(rows, key=lambda r: (r["protocol"], r["batch"], r["server"])):
        out.append(f"| {r['server']} | {r['protocol']} | {r['batch']} | {r['rps']:.0f} | "
                   f"[{r['rounds']}] | {r['n']} | {r['p50']:.2f} | {r['p99']:.2f} | "
                   f"{r['errors']} |")
    ratios = [c["ratio"] for c in cap]
    trace_ratios = [t["ratio"] for t in traces]
    med = float(np.median(ratios))
    drops = [c["dropped"] for c in cap]
    out += ["", f"Capture cost on Triton (gRPC v2_raw batch 1, {len(cap)} pairs of "
                f"{args.pair_seconds:g} s, order alternating):", "",
            "| measure | value | goal | met |", "|---|---|---|---|",
            f"| throughput with / without capture, median of pairs | {med:.3f} "
            f"(all {', '.join(f'{r:.3f}' for r in ratios)}) | >= 0.95 | "
            f"{'yes' if med >= 0.95 else 'no'} |",
            f"| req/s without / with (medians) | {np.median([c['without'] for c in cap]):.0f} / "
            f"{np.median([c['with'] for c in cap]):.0f} | | |",
            f"| CPU per request, Triton + client, without / with capture, ms (medians) | "
            f"{np.median([c['cpu_without'] for c in cap]):.3f} / "
            f"{np.median([c['cpu_with'] for c in cap]):.3f} | | |",
            f"| packets dropped, each captured round | {', '.join(str(d) for d in drops)} | 0 | "
            f"{'yes' if all(d == 0 for d in drops) else 'no'} |",
            f"| Triton trace on / off (a trace file per request): throughput, median of pairs | "
            f"{np.median(trace_ratios):.3f} (all {', '.join(f'{r:.3f}' for r in trace_ratios)}) "
            "| | |",
            f"| CPU per request, Triton + client, trace off / on, ms (medians) | "
            f"{np.median([t['cpu_off'] for t in traces]):.3f} / "
            f"{np.median([t['cpu_on'] for t in traces]):.3f} | | |"]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
