"""``inferwire run`` (and ``scripts/capture_run.py``): one capture run, end to end."""
from __future__ import annotations

import argparse
import sys
import os
from pathlib import Path
from ..cli import main as cli_main
from ..errors import InferwireError
from ..netns import PRESETS, build_profile
from ..runfolder import read_manifest
from ..sweep.plan import response_cache_extra
from . import RunConfig


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("server")
    g.add_argument("--server", metavar="embedded|triton|kserve|HOST",
                   help="'embedded' (default: start inferwire's TF Serving-compatible server), "
                        "'triton' (start NVIDIA Triton Inference Server), 'kserve' (start "
                        "KServe's model server on the same model) or the host of a running "
                        "TF Serving, Triton or KServe; env SERVER")
    g.add_argument("--grpc-port", type=int, help="gRPC port (default 8500)")
    g.add_argument("--rest-port", type=int, help="REST port (default 8501)")
    g.add_argument("--model", choices=("softmax", "cnn"), help="embedded model (default softmax)")
    g.add_argument("--model-name", help="served model name (default mnist)")
    g.add_argument("--api", choices=("tfserving", "v2"),
                   help="tfserving (default: TF Serving's predict API) or v2 (the Open Inference "
                        "Protocol, KServe V2: /v2/models/M/infer, gRPC ModelInfer)")
    g.add_argument("--input-name", help="V2: the input tensor's name (default images)")
    g.add_argument("--output-name", help="V2: the output tensor's name (default scores)")
    g.add_argument("--enable-batching", action="store_true", default=None,
                   help="embedded server: server-side batching; Triton: dynamic batching")
    g.add_argument("--max-queue-delay-us", type=int, metavar="US",
                   help="Triton dynamic batching: max_queue_delay_microseconds (default 0)")
    g.add_argument("--instances", type=int, metavar="N",
                   help="Triton: model instances (default 1)")
    g.add_argument("--response-cache", type=byte_size, metavar="SIZE",
                   help="Triton: a response cache of SIZE bytes (e.g. 16M): tritonserver "
                        "--cache-config local,size=SIZE and the model's response_cache enabled "
                        "(see --inputs)")
    l = p.add_argument_group("load")
    l.add_argument("--protocol", choices=("rest", "grpc", "both"), default="both")
    l.add_argument("--engine", help="load generator: inferwire (default), locust, ab (REST), "
                                    "h2load (gRPC), aiperf (with --stream-tokens)")
    l.add_argument("--batch-size", type=int, help="images per request (default 1); env BATCHSIZE")
    l.add_argument("--users", type=int, help="closed loop: concurrent users (default 2)")
    l.add_argument("--rate", type=float, help="open loop: requests per second (Poisson with "
                                               "--arrival poisson)")
    l.add_argument("--arrival", choices=("constant", "poisson"))
    l.add_argument("--duration", type=float, help="seconds per protocol (default 3)")
    l.add_argument("--requests", type=int, help="requests per protocol instead of a duration")
    l.add_argument("--warmup", type=int, help="unmeasured warm-up requests (default 10)")
    l.add_argument("--encoding", action="append", default=[],
                   help="json_row|json_columnar|json_b64|grpc_float_val|grpc_tensor_content|"
                        "grpc_string_val; with --api v2: v2_json|v2_binary|v2_fp32_contents|"
                        "v2_raw (repeatable: one per protocol)")
    l.add_argument("--stream-tokens", type=int, metavar="N",
                   help="stream completions instead of Predict: each request an OpenAI-style "
                        "/v1/completions of N tokens over SSE (embedded server, --protocol "
                        "rest; engine inferwire, aiperf or locust)"
                        "; with --server triton: Triton's decoupled model over REST "
                        "generate_stream (SSE) and gRPC ModelStreamInfer (engine inferwire or "
                        "locust)")
    l.add_argument("--token-time-ms", type=float, metavar="MS",
                   help="with --stream-tokens: the server's time per token (Triton: per decode "
                        "step shared by the running streams; default 10)")
    l.add_argument("--connection", choices=("reuse", "new"),
                   help="reuse connections (default) or open one per request")
    l.add_argument("--inputs", choices=("repeated", "unique"),
                   help="send the same images every request (default) or a new batch each time")
    e = p.add_argument_group("locust engine")
    e.add_argument("--locustfile", help="your own locustfile (default: the shipped one for the "
                                        "protocol and batch size)")
    e.add_argument("--locust-processes", type=int, metavar="N",
                   help="fork N locust worker processes on this machine (locust --processes)")
    e.add_argument("--locust-workers", type=int, metavar="N",
                   help="a locust master and N worker processes on 127.0.0.1")
    add_network_arguments(p)
    c = p.add_argument_group("capture and output")
    c.add_argument("--tool", choices=("dumpcap", "tshark", "tcpdump"))
    c.add_argument("--interface", help="capture interface (default lo)")
    c.add_argument("--buffer-mb", type=int, help="kernel capture buffer, MiB (default 256)")
    c.add_argument("--ring", metavar="FILES:MB", type=_ring,
                   help="ring-buffer capture: keep the last FILES files of MB megabytes each "
                        "(dumpcap -b; long runs)")
    c.add_argument("--out", help="parent folder of run folders (default results)")
    c.add_argument("--name", help="run folder name suffix")
    c.add_argument("--quiet", action="store_true", help="no progress output")


def add_network_arguments(p: argparse.ArgumentParser) -> None:
    n = p.add_argument_group("network profile (the server the run starts, embedded or Triton, "
                             "in its own network namespace behind an emulated link; root; "
                             "docs/network.md)")
    n.add_argument("--network", choices=sorted(PRESETS), metavar="PRESET",
                   help=f"one of {', '.join(sorted(PRESETS))}; knobs below override its values")
    n.add_argument("--bandwidth", help="bottleneck rate each way, e.g. 50mbit, 1gbit (tc tbf)")
    n.add_argument("--loss", help="random loss each way, percent, e.g. 1 or 0.5%% (iptables)")
    n.add_argument("--delay", help="round-trip time added, e.g. 40ms (tc netem: needs sch_netem)")
    n.add_argument("--jitter", help="variation of the delay, e.g. 5ms (tc netem)")
    n.add_argument("--mtu", type=int, help="MTU of every link, bytes (default 1500)")
    n.add_argument("--network-capture", choices=("client", "both"),
                   help="capture on the client's veth (default) or also on the server's")
    n.add_argument("--network-allow-missing", action="append", choices=("delay",), default=[],
                   help="go on without delay/jitter if this kernel has no netem")


def network_from_args(args: argparse.Namespace):
    """The NetworkProfile asked for on the command line, or None."""
    knobs = {k: getattr(args, k, None) for k in ("bandwidth", "loss", "delay", "jitter", "mtu")}
    wanted = (getattr(args, "network", None) or any(v is not None for v in knobs.values())
              or getattr(args, "network_capture", None) or getattr(args, "network_allow_missing",
                                                                    None))
    if not wanted:
        return None
    return build_profile(args.network, capture_server=args.network_capture == "both",
                         allow_missing=args.network_allow_missing, **knobs)


def byte_size(text: str) -> int:
    """An argparse type: "1048576", "64K", "16M", "1G" (powers of 1024) -> bytes."""
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    body = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = body[-1:] if body[-1:] in "KMG" else ""
    number = body[:-1] if unit else body
    if not number.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: give a size in bytes, e.g. 1048576 or 16M")
    return int(number) * units[unit]


def _ring(text: str) -> tuple[int, int]:
    files, sep, mb = text.partition(":")
    if not (sep and files.isdigit() and mb.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r}: give FILES:MB, e.g. 20:100")
    return int(files), int(mb)


def _default_api(server: str | None) -> str | None:
    """Triton speaks only the Open Inference Protocol: ``--server triton`` means ``--api v2``."""
    return "v2" if (server or os.environ.get("SERVER")) == "triton" else None


def config_from_args(args: argparse.Namespace):
    """A RunConfig from the command line: only options given override the defaults."""
    given = {
        "server": args.server, "grpc_port": args.grpc_port, "rest_port": args.rest_port,
        "model": args.model, "model_name": args.model_name, "engine": args.engine,
        "api": args.api or _default_api(args.server), "input_name": args.input_name,
        "output_name": args.output_name,
        "enable_batching": args.enable_batching, "batch_size": args.batch_size,
        "instances": args.instances, "max_queue_delay_us": args.max_queue_delay_us,
        "users": args.users, "rate": args.rate, "arrival": args.arrival,
        "duration_s": args.duration, "requests": args.requests, "warmup_requests": args.warmup,
        "encoding": tuple(args.encoding) or None, "connection": args.connection, "inputs": args.inputs,
        "tool": args.tool, "interface": args.interface, "buffer_mb": args.buffer_mb,
        "out": args.out, "name": args.name,
        "ring_files": args.ring[0] if args.ring else None,
        "ring_megabytes": args.ring[1] if args.ring else None,
        "protocols": ("rest", "grpc") if args.protocol == "both" else (args.protocol,),
        "mode": "open" if args.rate else None, "progress": False if args.quiet else None,
        "network": network_from_args(args),
        "stream_tokens": args.stream_tokens, "token_time_ms": args.token_time_ms,
    }
    extra = {k: getattr(args, k, None) for k in ("locustfile", "locust_processes",
                                                  "locust_workers")}
    given["extra"] = {k: v for k, v in extra.items() if v is not None} or None
    if getattr(args, "response_cache", None):
        if (args.server or "embedded") != "triton":
            raise InferwireError("--response-cache is Triton's response cache: add --server "
                                 "triton")
        given["extra"] = {**(given["extra"] or {}), **response_cache_extra(args.response_cache)}
    given = {k: v for k, v in given.items() if v is not None}
    if args.requests is not None and args.duration is None:
        given["duration_s"] = None  # a request count instead of the default duration
    return RunConfig.from_env(**given)


def run(args: argparse.Namespace) -> int:
    from . import run_experiment  # deferred: experiment.run imports psutil (optional)
    result = run_experiment(config_from_args(args))
    print(result.summary_text)
    print(f"results: {result.run_dir}")
    if result.status != "ok":
        print(f"inferwire run: {result.status}: " + "; ".join(result.problems), file=sys.stderr)
    return result.exit_code


def register(sub) -> None:
    p = sub.add_parser("run", help="capture run: server, capture, load, analysis, results folder",
                       description="Start (or attach to) the model server, capture proven live, "
                                   "run the load, stop, analyze; results go to a new folder.")
    add_run_arguments(p)
    p.set_defaults(func=run)
    r = sub.add_parser("runs", help="list run folders and their status; --clean finishes "
                                    "abandoned ones",
                       description="List the run folders under DIR (default results) with "
                                   "their status.  --clean: runs left at 'running' whose "
                                   "process is gone are marked 'abandoned' and what they hold "
                                   "is analyzed (requests.csv, joined.csv, summary.md).")
    r.add_argument("dir", nargs="?", default="results", metavar="DIR")
    r.add_argument("--clean", action="store_true")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    r.set_defaults(func=runs)


def runs(args: argparse.Namespace) -> int:
    """List the run folders under DIR with their status; --clean finishes abandoned ones."""

    from .abandoned import is_abandoned  # deferred: experiment.abandoned imports psutil (optional)
    from .run import finish_abandoned  # deferred: experiment.run imports psutil (optional)
    root = Path(args.dir)
    if not root.is_dir():
        raise InferwireError(f"{root}: no such folder of runs")
    for run_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        manifest = read_manifest(run_dir)
        if manifest is None:
            continue
        status = manifest.get("status", "?")
        if is_abandoned(manifest):
            status += " (abandoned: its process is gone; --clean finishes it)"
        print(f"{run_dir.name}  {status}")
    if args.clean:
        notes = finish_abandoned(root, progress=not args.quiet)
        for note in notes:
            print(note)
        if not notes:
            print("no abandoned run")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``scripts/capture_run.py``: the same as ``inferwire run``."""
    return cli_main(["run", *(sys.argv[1:] if argv is None else argv)])
