"""Speed of ``inferwire analyze`` on a streaming capture against tshark (issue 20: >= 30x).

    .venv/bin/python benchmarks/bench_streaming.py                 # 4000 x 256: 1,028,000 messages
    .venv/bin/python benchmarks/bench_streaming.py --before /tmp/base/src --repeat 3
    .venv/bin/python benchmarks/bench_streaming.py --grpc        # Triton ModelStreamInfer, 1,028,000

The capture is made once (``benchmarks/data/stream_<requests>x<tokens>.pcapng``, real traffic):
the embedded server's ``/v1/completions`` streamed as SSE (one HTTP/1.1 chunk per token) with no
time per token, loaded by :class:`inferwire.load.streaming.CompletionsWorkload` (``--users``
concurrent keep-alive streams, closed loop) and captured with dumpcap on loopback.  Contenders,
in interleaved rounds, each in its own process (wall seconds): ``inferwire analyze --out`` (the
CLI end to end: start-up, analysis, every table written), ``inferwire.analyze()`` in-process
(with its per-message table; imports not timed), the same call from ``--before`` (another
source tree: the change's A/B) and ``tshark -T fields`` dissecting HTTP with every chunk's size
(``http.chunk_size``: the messages of the stream).  Writes ``benchmarks/results/streaming.md``.

``--grpc``: the same over gRPC server-streamed messages instead
(``benchmarks/data/grpc_stream_<requests>x<tokens>.pcapng``): Triton's decoupled model (the
``.venv-triton`` install, one instance, a decode step of ``--step-ms``) answering
``ModelStreamInfer`` calls from :class:`inferwire.load.triton_stream.ModelStreamWorkload`
(``--users`` keep-alive HTTP/2 connections, closed loop), one gRPC message per token plus each
call's request message; tshark's contender dissects HTTP/2 and gRPC with every message's length
(``grpc.message_length``).  Writes ``benchmarks/results/streaming_grpc.md``.
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
# ``inferwire.analyze`` is looked up, and pandas imported, before the clock starts: the imports
# (numpy, pyarrow, pandas: a third of a second), which the in-process row leaves out.  The
# tables become DataFrames inside the timing (``Analysis`` makes them when first read), as a
# user of the API gets them.
CHILD = ("import json, sys, time, warnings, inferwire, pandas; warnings.simplefilter('ignore');"
         "analyze = inferwire.analyze; t = time.perf_counter();"
         "a = analyze(sys.argv[1], ignore_ports=(int(sys.argv[2]),));"
         "frames = (a.requests, a.connections, a.messages);"
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


def make_grpc(path: Path, requests: int, tokens: int, users: int = 16,
              step_ms: float = 0.01) -> dict:
    """Capture ``requests`` ModelStreamInfer calls of ``tokens`` tokens from Triton's decoupled
    model (started here on free ports, stopped after); the capture's sidecar facts."""
    from inferwire.capture import CaptureOptions, CaptureSession
    from inferwire.load import LoadOptions, run_load
    from inferwire.load.triton_stream import ModelStreamWorkload
    from inferwire.serving.ports import free_ports
    from inferwire.serving.triton.install import backend_directory, find_install
    from inferwire.serving.triton.process import TritonOptions, TritonProcess
    from inferwire.serving.triton.stream_repository import (StreamModelOptions,
                                                            write_stream_repository)
    path.parent.mkdir(parents=True, exist_ok=True)
    install = find_install()
    with tempfile.TemporaryDirectory(prefix="bench_grpc_stream_") as tmp:
        model = StreamModelOptions(token_time_ms=step_ms, max_tokens_limit=max(tokens, 16))
        write_stream_repository(Path(tmp) / "repo", model)
        ports = dict(zip(("http_port", "grpc_port", "metrics_port"), free_ports(3)))
        triton = TritonProcess(install, Path(tmp) / "repo",
                               backend_directory(install, Path(tmp) / "backends"),
                               TritonOptions(models=(model.name,), **ports),
                               Path(tmp) / "triton.log")
        triton.start()
        try:
            port = ports["grpc_port"]
            opts = CaptureOptions(output=str(path), ports=(port,), buffer_mb=256, overwrite=True)
            with CaptureSession(opts) as cap:
                workload = ModelStreamWorkload("127.0.0.1", port, model.name, max_tokens=tokens)
                try:
                    t = time.perf_counter()
                    summary = run_load(workload, LoadOptions(mode="closed", users=users,
                                                             requests=requests))
                    load_s = time.perf_counter() - t
                finally:
                    workload.close()
            result = cap.result
        finally:
            triton.stop()
    meta = {"port": port, "probe_port": result.probe_port, "packets": result.packets,
            "dropped": result.dropped, "requests": requests, "tokens": tokens,
            "ok": summary.ok, "users": users, "bytes": path.stat().st_size,
            "server": f"Triton {triton.metadata.get('version')} ModelStreamInfer",
            "step_ms": step_ms, "load_s": round(load_s, 1)}
    Path(str(path) + ".json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


#: tshark's preferences for both its contender and the check: out-of-order segments reassembled
#: (by default tshark does not pass a segment it took for a retransmission up to HTTP/2: on the
#: 2026-12-06 gRPC capture it then missed 136 of the 1,028,000 messages, 17 at a time, a whole
#: segment of one stream each; with this it finds every one, as inferwire does).
TSHARK_OPTIONS = ("-o", "tcp.reassemble_out_of_order:TRUE")


def check_grpc(path: Path, meta: dict) -> str:
    """inferwire's gRPC messages against tshark's ``grpc.message_length``, per TCP connection
    (client port) and direction: the multiset of message sizes (a TCP segment may carry several
    streams' frames, so tshark's per-packet stream ids do not pair with its lengths).  One
    sentence saying whether they agree."""
    from collections import Counter

    import inferwire
    a = inferwire.analyze(str(path), ignore_ports=(meta["probe_port"],))
    ports = a.requests.groupby("connection")["client"].first().str.rsplit(":", n=1).str[-1]
    ours: dict = {}
    for (conn, direction), part in a.messages.groupby(["connection", "direction"]):
        ours[(int(ports[conn]), direction == "request")] = Counter(part["bytes"].tolist())
    out = subprocess.run(["tshark", "-n", "-r", str(path), *TSHARK_OPTIONS, "-d",
                          f"tcp.port=={meta['port']},http2", "-Y", "grpc", "-T", "fields",
                          "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "grpc.message_length"],
                         capture_output=True, check=True).stdout
    theirs: dict = {}
    for line in out.decode().splitlines():
        src, dst, lengths = line.split("\t")
        to_server = int(dst) == meta["port"]
        key = (int(src) if to_server else int(dst), to_server)
        theirs.setdefault(key, Counter()).update(int(n) for n in lengths.split(",") if n)
    same = ours == theirs
    total = sum(sum(c.values()) for c in theirs.values())
    return (f"Per connection and direction, the sizes of inferwire's {len(a.messages):,} messages "
            f"{'equal' if same else 'DIFFER from'} tshark's {total:,} `grpc.message_length` "
            f"values ({len(theirs)} connection directions).")


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
    p.add_argument("--grpc", action="store_true",
                   help="gRPC server streaming (Triton's ModelStreamInfer) instead of SSE")
    p.add_argument("--step-ms", type=float, default=0.01,
                   help="--grpc: the Triton model's decode step (ms)")
    p.add_argument("--check", action="store_true",
                   help="--grpc: only compare the message sizes with tshark's, per connection")
    args = p.parse_args()
    if args.small:
        args.requests, args.tokens = 500, 32
    kind = "grpc_stream" if args.grpc else "stream"
    path = HERE / "data" / f"{kind}_{args.requests}x{args.tokens}.pcapng"
    meta_path = Path(str(path) + ".json")
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
    elif args.grpc:
        meta = make_grpc(path, args.requests, args.tokens, args.users, args.step_ms)
    else:
        meta = make(path, args.requests, args.tokens, args.users)
    if args.grpc and args.check:
        print(check_grpc(path, meta))
        return 0
    dissector, field = ("http2", "grpc.message_length") if args.grpc else ("http",
                                                                            "http.chunk_size")
    tshark = ["tshark", "-n", "-r", str(path), *TSHARK_OPTIONS,
              "-d", f"tcp.port=={meta['port']},{dissector}",
              "-T", "fields", "-e", "frame.number", "-e", "frame.time_epoch", "-e", field]
    child = [sys.executable, "-c", CHILD, str(path), str(meta["probe_port"])]
    out_dir = Path(tempfile.mkdtemp(prefix="bench_streaming_"))
    cli = [sys.executable, "-m", "inferwire", "analyze", str(path), "--ignore-port",
           str(meta["probe_port"]), "--out", str(out_dir), "--quiet"]
    before_env = None if args.before is None else {**os.environ, "PYTHONPATH": args.before}
    times = {"cli": [], "proc": [], "inproc": [], "before": [], "tshark": []}
    found, chunks = {}, 0
    for round_ in range(args.repeat):
        # this tree and --before's in turn, which goes first alternating: the first after the
        # previous round's tshark (which leaves the page cache and memory otherwise) is slower
        for which in (("now", "before") if round_ % 2 == 0 else ("before", "now")):
            if which == "before" and before_env is not None:
                _, out = timed(child, before_env)
                times["before"].append(json.loads(out.decode().strip().splitlines()[-1])["s"])
            elif which == "now":
                s, out = timed(child)
                found = json.loads(out.decode().strip().splitlines()[-1])
                times["proc"].append(s)
                times["inproc"].append(found["s"])
        times["cli"].append(timed(cli)[0])
        s, out = timed(tshark)
        times["tshark"].append(s)
        chunks = sum(len([c for c in line.split(b"\t")[2].split(b",")
                          if c != b"" and (args.grpc or c != b"0")])
                     for line in out.splitlines() if line.count(b"\t") >= 2)
    shutil.rmtree(out_dir, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items() if v}
    rows = [("inferwire analyze --out (the CLI end to end, tables written)", "cli"),
            ("inferwire: the analyze() call (with the messages table)", "inproc"),
            ("inferwire: that call's whole process (start-up and imports included)", "proc")]
    if times["before"]:
        rows.append((f"the analyze() call from {args.before} (before)", "before"))
    rows.append((f"tshark -T fields, {dissector.upper()} with {field}", "tshark"))
    what = (f"{meta['requests']} ModelStreamInfer calls x {meta['tokens']} tokens from "
            f"{meta.get('server', 'Triton')} ({meta['users']} concurrent streams, decode step "
            f"{meta.get('step_ms')} ms, load {meta.get('load_s')} s)" if args.grpc else
            f"{meta['requests']} streamed requests x {meta['tokens']} tokens "
            f"({meta.get('users', 4)} concurrent streams)")
    theirs = "gRPC messages (grpc.message_length, both ways)" if args.grpc else \
        "non-empty chunks"
    text = "\n".join([
        "# inferwire analyze on a streaming capture "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "", f"Capture: {path.name}, {meta['packets']:,} packets, {meta['bytes'] / 1e6:.0f} MB, "
        f"{what}; dropped {meta['dropped']}; inferwire found "
        f"{found['requests']} requests and {found['messages']:,} messages, tshark "
        f"{chunks:,} {theirs}.", "",
        "| contender | wall s (median) | runs | tshark / it |", "|---|---:|---|---:|",
        *(f"| {label} | {med[key]:.2f} | {_runs(times[key])} | {med['tshark'] / med[key]:.1f}x |"
          for label, key in rows), "",
        f"inferwire is {med['tshark'] / med['inproc']:.1f}x tshark in-process, "
        f"{med['tshark'] / med['cli']:.1f}x as the CLI end to end (target >= 30x)"
        + (f"; the change made the call {med['before'] / med['inproc']:.1f}x faster"
           if times["before"] else "") + ". Rounds interleaved; the machine's 2 cores shared "
        f"with other jobs (load average at the end: {os.getloadavg()[0]:.1f}).", ""])
    results = RESULTS.with_name("streaming_grpc.md") if args.grpc else RESULTS
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
