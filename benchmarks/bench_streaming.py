"""Speed of ``inferwire analyze`` on a streaming capture against tshark (issue 20: >= 30x).

    .venv/bin/python benchmarks/bench_streaming.py                 # 4000 x 256: 1,028,000 messages
    .venv/bin/python benchmarks/bench_streaming.py --before /tmp/base/src --repeat 3

The capture is made once (``benchmarks/data/stream_<requests>x<tokens>.pcapng``, real traffic):
the embedded server's ``/v1/completions`` streamed as SSE (one HTTP/1.1 chunk per token) with no
time per token, loaded by :class:`inferwire.load.streaming.CompletionsWorkload` (``--users``
concurrent keep-alive streams, closed loop) and captured with dumpcap on loopback.  Contenders,
in interleaved rounds, each in its own process (wall seconds): ``inferwire analyze --out`` (the
CLI end to end: start-up, analysis, every table written), ``inferwire.analyze()`` in-process
(with its per-message table; imports not timed), the same call from ``--before`` (another
source tree: the change's A/B) and ``tshark -T fields`` dissecting HTTP with every chunk's size
(``http.chunk_size``: the messages of the stream).  Writes ``benchmarks/results/streaming.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
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


def timed(argv: list[str], env: dict | None = None) -> tuple[float, bytes]:
    t = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, check=True, env=env)
    return time.perf_counter() - t, done.stdout


def _runs(values: list) -> str:
    return ", ".join(f"{x:.2f}" for x in values)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--requests", type=int, default=4000)
    p.add_argument("--tokens", type=int, default=256)
    p.add_argument("--users", type=int, default=16)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--before", default=None, metavar="SRC",
                   help="another source tree's src/ to time in-process too (A/B)")
    p.add_argument("--small", action="store_true", help="500 requests x 32 tokens (quick look)")
    args = p.parse_args()
    if args.small:
        args.requests, args.tokens = 500, 32
    path = HERE / "data" / f"stream_{args.requests}x{args.tokens}.pcapng"
    meta_path = Path(str(path) + ".json")
    meta = (json.loads(meta_path.read_text()) if path.exists() and meta_path.exists()
            else make(path, args.requests, args.tokens, args.users))
    tshark = ["tshark", "-n", "-r", str(path), "-d", f"tcp.port=={meta['port']},http",
              "-T", "fields", "-e", "frame.number", "-e", "frame.time_epoch",
              "-e", "http.chunk_size"]
    child = [sys.executable, "-c", CHILD, str(path), str(meta["probe_port"])]
    out_dir = Path(tempfile.mkdtemp(prefix="bench_streaming_"))
    cli = [sys.executable, "-m", "inferwire", "analyze", str(path), "--ignore-port",
           str(meta["probe_port"]), "--out", str(out_dir), "--quiet"]
    before_env = None if args.before is None else {**os.environ, "PYTHONPATH": args.before}
    times = {"cli": [], "proc": [], "inproc": [], "before": [], "tshark": []}
    found, chunks = {}, 0
    for _ in range(args.repeat):
        s, out = timed(child)
        found = json.loads(out.decode().strip().splitlines()[-1])
        times["proc"].append(s)
        times["inproc"].append(found["s"])
        if before_env is not None:
            _, out = timed(child, before_env)
            times["before"].append(json.loads(out.decode().strip().splitlines()[-1])["s"])
        times["cli"].append(timed(cli)[0])
        s, out = timed(tshark)
        times["tshark"].append(s)
        chunks = sum(len([c for c in line.split(b"\t")[2].split(b",") if c not in (b"", b"0")])
                     for line in out.splitlines() if line.count(b"\t") >= 2)
    shutil.rmtree(out_dir, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items() if v}
    rows = [("inferwire analyze --out (the CLI end to end, tables written)", "cli"),
            ("inferwire: the analyze() call (with the messages table)", "inproc"),
            ("inferwire: that call's whole process (start-up and imports included)", "proc")]
    if times["before"]:
        rows.append((f"the analyze() call from {args.before} (before)", "before"))
    rows.append(("tshark -T fields, HTTP with http.chunk_size", "tshark"))
    text = "\n".join([
        "# inferwire analyze on a streaming capture "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "", f"Capture: {path.name}, {meta['packets']:,} packets, {meta['bytes'] / 1e6:.0f} MB, "
        f"{meta['requests']} streamed requests x {meta['tokens']} tokens "
        f"({meta.get('users', 4)} concurrent streams); inferwire found "
        f"{found['requests']} requests and {found['messages']:,} messages, tshark "
        f"{chunks:,} non-empty chunks.", "",
        "| contender | wall s (median) | runs | tshark / it |", "|---|---:|---|---:|",
        *(f"| {label} | {med[key]:.2f} | {_runs(times[key])} | {med['tshark'] / med[key]:.1f}x |"
          for label, key in rows), "",
        f"inferwire is {med['tshark'] / med['inproc']:.1f}x tshark in-process, "
        f"{med['tshark'] / med['cli']:.1f}x as the CLI end to end (target >= 30x)"
        + (f"; the change made the call {med['before'] / med['inproc']:.1f}x faster"
           if times["before"] else "") + ". Rounds interleaved; the machine's 2 cores shared "
        f"with other jobs (load average at the end: {os.getloadavg()[0]:.1f}).", ""])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
