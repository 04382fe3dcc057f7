"""``inferwire sweep`` (grid of capture runs, resumable) and ``inferwire findings SWEEP_DIR``."""
from __future__ import annotations

import argparse
import sys

from ..errors import InferwireError
from ..experiment.cli import byte_size
from ..findings import generate
from .plan import NETWORK_GRID, Grid, findings_plan, grid_plan, network_specs, server_findings_plan



def _list(cast):
    """An argparse type: "a,b,c" -> tuple of cast values."""
    def parse(text: str):
        try:
            return tuple(cast(v.strip()) for v in text.split(",") if v.strip())
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    return parse


def _protocols(value: str) -> tuple[str, ...]:
    return ("rest", "grpc") if value in ("both", "rest+grpc") else tuple(value.split("+"))


def add_sweep_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("grid (comma-separated values per axis; no grid option: the findings "
                             "sweep)")
    g.add_argument("--protocol", type=_list(_protocols), metavar="rest,grpc,both",
                   help="protocol sets; 'both' = REST then gRPC in one run (default both)")
    g.add_argument("--batch-size", type=_list(int), metavar="1,32,256",
                   help="images per request (default 1)")
    g.add_argument("--encoding", type=_list(lambda v: tuple(v.split("+"))),
                   metavar="json_row+grpc_float_val,json_b64,...",
                   help="encoding sets, '+' joining one REST and one gRPC encoding (default "
                        "json_row+grpc_tensor_content)")
    g.add_argument("--users", type=_list(int), metavar="1,2,4,8",
                   help="closed loop: concurrent users (default 2)")
    g.add_argument("--rate", type=_list(float), metavar="50,100",
                   help="open loop instead: requests per second")
    g.add_argument("--connection", type=_list(str), metavar="reuse,new",
                   help="connection policies (default reuse)")
    g.add_argument("--model", type=_list(str), metavar="softmax,cnn", help="models (default softmax)")
    g.add_argument("--bandwidth", type=_list(str), metavar="1gbit,100mbit,10mbit",
                   help="network profiles (root): the server behind a link of each rate "
                        "(docs/network.md)")
    g.add_argument("--loss", type=_list(float), metavar="0,1,3",
                   help="network profiles: random loss each way, percent")
    g.add_argument("--network-findings", action="store_true",
                   help="the network findings' grid: REST and gRPC at batch 1 and 32 behind "
                        "1 Gbit/100 Mbit/10 Mbit links with 0/1/3 %% loss")
    g.add_argument("--server-findings", action="store_true",
                   help="the grid of the findings on real servers (docs/findings-servers.md) for "
                        "--server embedded|triton|kserve: V2 at batch 1 and 32, CNN, 1/2/4 users, "
                        "V2 encodings; Triton also its response cache off/on x repeated/unique")
    g.add_argument("--api", type=_list(str), metavar="tfserving,v2",
                   help="APIs: tfserving (default) and/or v2 (the Open Inference Protocol; its "
                        "encodings v2_json, v2_binary, v2_raw, v2_fp32_contents)")
    g.add_argument("--inputs", type=_list(str), metavar="repeated,unique",
                   help="request inputs: the same batch every request (repeated, default) or a "
                        "different one each (unique)")
    g.add_argument("--response-cache", type=_list(byte_size), metavar="0,16M",
                   help="Triton's response cache sizes (0: off); needs --server triton; the "
                        "caching probe then runs without and with the largest")
    r = p.add_argument_group("every run")
    r.add_argument("--duration", type=float, default=None,
                   help="seconds of load per protocol and point (default 2)")
    r.add_argument("--requests", type=int, help="measured requests per protocol instead")
    r.add_argument("--warmup", type=int, default=None, help="warm-up requests (default 10)")
    r.add_argument("--engine", default=None, help="load generator (default inferwire)")
    r.add_argument("--server", default=None,
                   help="'embedded' (default), 'triton', 'kserve' (started for each run and the "
                        "probe, stopped after), or a running server's host")
    r.add_argument("--grpc-port", type=int, default=None)
    r.add_argument("--rest-port", type=int, default=None)
    r.add_argument("--cache-probe", type=int, default=None, metavar="N",
                   help="caching probe: N repeated + N unique requests per protocol (findings "
                        "sweep default 40; grid default 0 = no probe)")
    s = p.add_argument_group("sweep")
    s.add_argument("--out", required=True, help="the sweep folder")
    s.add_argument("--resume", action="store_true",
                   help="continue the sweep in --out, skipping points already done")
    s.add_argument("--max-points", type=int, help="run at most this many points now")
    s.add_argument("--quiet", action="store_true")


GRID_OPTIONS = ("protocol", "batch_size", "encoding", "users", "rate", "connection", "model",
                "bandwidth", "loss", "api", "inputs", "response_cache")


def plan_from_args(args: argparse.Namespace):
    """The plan the options describe; None when resuming with no option that shapes a plan."""
    settings = {k: v for k, v in {
        "duration_s": args.duration, "requests": args.requests,
        "warmup_requests": args.warmup, "engine": args.engine, "server": args.server,
        "grpc_port": args.grpc_port, "rest_port": args.rest_port,
        "cache_probe": args.cache_probe}.items() if v is not None}
    if args.requests is not None and args.duration is None:
        settings["duration_s"] = None
    if args.response_cache and max(args.response_cache):
        settings["cache_bytes"] = max(args.response_cache)
    grid_given = {k: getattr(args, k) for k in GRID_OPTIONS if getattr(args, k) is not None}
    network_findings = getattr(args, "network_findings", False)
    if args.resume and not grid_given and not settings and not network_findings \
            and not getattr(args, "server_findings", False):
        return None
    if network_findings:
        return grid_plan(NETWORK_GRID, **settings)
    if getattr(args, "server_findings", False):
        return server_findings_plan(settings.pop("server", "embedded"), **settings)
    triton = settings.get("server") == "triton"
    if not grid_given:
        if triton:
            raise InferwireError("the findings sweep speaks TF Serving's API, which Triton does "
                                 "not: use --server-findings (or grid options) with --server "
                                 "triton")
        return findings_plan(**settings)
    if triton and "api" not in grid_given:
        grid_given["api"] = ("v2",)      # Triton speaks only the Open Inference Protocol
    nets = (grid_given.pop("bandwidth", None), grid_given.pop("loss", None))
    names = {"protocol": "protocols", "batch_size": "batch_sizes", "encoding": "encodings",
             "users": "users", "rate": "rates", "connection": "connections", "model": "models",
             "api": "apis", "inputs": "inputs", "response_cache": "response_caches"}
    grid = {names[k]: v for k, v in grid_given.items()}
    if nets != (None, None):
        grid["networks"] = network_specs(*nets)
    return grid_plan(Grid(**grid), **settings)


def sweep(args: argparse.Namespace) -> int:
    from .runner import run_sweep  # deferred: importlib.metadata and more, 30 ms of every command
    result = run_sweep(args.out, plan_from_args(args), resume=args.resume,
                       progress=not args.quiet, max_points=args.max_points)
    print(f"sweep {result.sweep_dir}: {len(result.ran)} run now, {len(result.skipped)} already "
          f"done, {len(result.failed)} failed, {result.remaining} left for later")
    for pid, run_dir, status, problems in result.failed:
        print(f"  {pid}: {status} ({run_dir}): {'; '.join(problems)}", file=sys.stderr)
    return result.exit_code


def findings(args: argparse.Namespace) -> int:
    dirs = args.sweep_dir
    if args.servers:
        from ..findings.servers_doc import generate_servers  # deferred: findings.servers_doc imports numpy, pandas
        for path in generate_servers(dirs, doc=args.doc or "docs/findings-servers.md"):
            print(path)
        return 0
    if len(dirs) != 1:
        raise InferwireError("give one sweep folder (several only with --servers)")
    args.sweep_dir = dirs[0]
    if args.network:
        from ..findings.network import generate_network  # deferred: findings.network imports numpy, pandas
        out = generate_network(args.sweep_dir, doc=args.network_doc)
    else:
        out = generate(args.sweep_dir, doc=args.doc or "docs/findings.md", notebook=args.notebook)
    for path in out:
        print(path)
    return 0


def register(sub) -> None:
    p = sub.add_parser("sweep", help="many capture runs over a grid, resumable",
                       description="Run capture runs over a grid of settings into one sweep "
                                   "folder (plan.json, runs/, points.csv, requests.parquet). "
                                   "Stopped? Run the same command with --resume.")
    add_sweep_arguments(p)
    p.set_defaults(func=sweep)
    f = sub.add_parser("findings", help="write docs/findings.md and notebooks/findings.ipynb "
                                        "from a sweep",
                       description="Regenerate the findings document, its plots and notebook "
                                   "from a sweep folder; every number names its run folder.")
    f.add_argument("sweep_dir", nargs="+")
    f.add_argument("--doc", help="(default docs/findings.md, with --servers "
                                 "docs/findings-servers.md; plots go to a folder named after it)")
    f.add_argument("--network", action="store_true",
                   help="write the network findings instead (a sweep with --network-findings or "
                        "--bandwidth/--loss): where each protocol's time goes as the network "
                        "worsens")
    f.add_argument("--network-doc", default="docs/findings-network.md",
                   help="with --network (default docs/findings-network.md; its figure and "
                        "points.csv go to docs/findings-network/)")
    f.add_argument("--servers", action="store_true",
                   help="the findings on real servers (docs/findings-servers.md) from one "
                        "--server-findings sweep per server (embedded, triton, kserve), side "
                        "by side")
    f.add_argument("--notebook", default="notebooks/findings.ipynb")
    f.set_defaults(func=findings)


