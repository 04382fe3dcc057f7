"""Speed of ``inferwire analyze`` on a streaming capture against tshark (issue 20: >= 30x).

    .venv/bin/python benchmarks/bench_streaming.py --requests 2000 --tokens 64 --repeat 3

The capture is made once (``benchmarks/data/stream_<requests>x<tokens>.pcapng``): the embedded
server's ``/v1/completions`` streamed as SSE with no time per token, loaded by
:class:`inferwire.load.streaming.CompletionsWorkload` (4 users, keep-alive) and captured with
dumpcap on loopback.  Contenders, in interleaved rounds, each in its own process (wall seconds):
``inferwire.analyze()`` (with its per-message table) and ``tshark -T fields`` dissecting HTTP with
every chunk's size (``http.chunk_size``: the messages of the stream).  Writes
``benchmarks/results/streaming.md``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "streaming.md"
CHILD = ("import json, sys, time, warnings, inferwire; warnings.simplefilter('ignore');"
         "t = time.perf_counter();"
         "a = inferwire.analyze(sys.argv[1], ignore_ports=(int(sys.argv[2]),));"
         "print(json.dumps({'s': time.perf_counter() - t, 'requests': len(a.requests),"
         " 'messages': len(a.messages)}))")


def make(path: Path, requests: int, tokens: int, users: int = 4) -> dict:
    from inferwire.capture import CaptureOptions, CaptureSession
    from inferwire.load import LoadOptions, run_load
    from inferwire.load.streaming import CompletionsWorkload
    from inferwire.serving import ModelConfig, ModelServer, ServerConfig, cached_models
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = ServerConfig(models=(ModelConfig("mnist", str(cached_models() / "mnist")),),
                       grpc_port=None, rest_port=0, token_time_ms=0.0)
    with ModelServer(cfg) as server:
        port = server.rest_port
        opts = CaptureOptions(output=str(path), ports=(port,), buffer_mb=256, overwrite=True)
        with CaptureSession(opts) as cap:
            workload = CompletionsWorkload("127.0.0.1", port, max_tokens=tokens)
            try:
                summary = run_load(workload, LoadOptions(mode="closed", users=users,
                                                         requests=requests))
            finally:
                workload.close()
        result = cap.result
    meta = {"port": port, "probe_port": result.probe_port, "packets": result.packets,
            "dropped": result.dropped, "requests": requests, "tokens": tokens,
            "ok": summary.ok, "users": users, "bytes": path.stat().st_size}
    Path(str(path) + ".json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def timed(argv: list[str]) -> tuple[float, bytes]:
    t = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, check=True)
    return time.perf_counter() - t, done.stdout


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--small", action="store_true", help="500 requests x 32 tokens (quick look)")
    args = p.parse_args()
    if args.small:
        args.requests, args.tokens = 500, 32
    path = HERE / "data" / f"stream_{args.requests}x{args.tokens}.pcapng"
    meta_path = Path(str(path) + ".json")
    meta = (json.loads(meta_path.read_text()) if path.exists() and meta_path.exists()
            else make(path, args.requests, args.tokens))
    ours, inproc, theirs, found = [], [], [], {}
    tshark = ["tshark", "-n", "-r", str(path), "-d", f"tcp.port=={meta['port']},http",
              "-T", "fields", "-e", "frame.number", "-e", "frame.time_epoch",
              "-e", "http.chunk_size"]
    for _ in range(args.repeat):
        s, out = timed([sys.executable, "-c", CHILD, str(path), str(meta["probe_port"])])
        found = json.loads(out.decode().strip().splitlines()[-1])
        ours.append(s)
        inproc.append(found["s"])
        s, out = timed(tshark)
        theirs.append(s)
        chunks = sum(len([c for c in line.split(b"\t")[2].split(b",") if c not in (b"", b"0")])
                     for line in out.splitlines() if line.count(b"\t") >= 2)
    a, b, c = statistics.median(ours), statistics.median(theirs), statistics.median(inproc)
    text = "\n".join([
        "# inferwire analyze on a streaming capture "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "", f"Capture: {path.name}, {meta['packets']:,} packets, {meta['bytes'] / 1e6:.0f} MB, "
        f"{meta['requests']} streamed requests x {meta['tokens']} tokens; inferwire found "
        f"{found['requests']} requests and {found['messages']:,} messages, tshark "
        f"{chunks:,} non-empty chunks.", "",
        "| contender | wall s (median) | runs |", "|---|---:|---|",
        f"| inferwire: the analyze() call (with the messages table) | {c:.2f} | "
        f"{', '.join(f'{x:.2f}' for x in inproc)} |",
        f"| inferwire: its whole process (start-up and imports included) | {a:.2f} | "
        f"{', '.join(f'{x:.2f}' for x in ours)} |",
        f"| tshark -T fields, HTTP with http.chunk_size | {b:.2f} | "
        f"{', '.join(f'{x:.2f}' for x in theirs)} |", "",
        f"inferwire is {b / c:.1f}x tshark in-process, {b / a:.1f}x as a whole process (target "
        ">= 30x). Machine: 2 cores shared with other jobs; rounds interleaved.", ""])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
