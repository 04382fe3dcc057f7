"""Streaming findings (issue 20, docs/streaming.md): inter-token latency against concurrency, and
SSE against gRPC per token, from real capture runs.

For each round, each server (the embedded completions server over REST/SSE; Triton's decoupled
model over REST generate_stream and gRPC ModelStreamInfer) and each number of concurrent streams
(closed loop): a capture run of ``--stream-tokens TOKENS --token-time-ms MS``.  Per run and
protocol, over the measured requests (warm-up left out), from the wire: ITL p50/p90 over every
gap between consecutive tokens' first bytes, TTFT p50/p90, and per token: message bytes (the SSE
event / gRPC message as sent), server -> client TCP payload (framing, heads and trailers
included) and packets (both ways); from the client log: its median gap.  Rounds interleave the
servers and concurrencies (the machine is shared).  Prints a markdown table and writes the rows
to ``--out``/stream_findings.csv.  Server ``triton2`` is Triton with two model instances
(``--instances 2``: two decode loops, each in its own stub process); each Triton row says how
the run's streams were spread over the instances (``instance_streams``).

    .venv/bin/python benchmarks/stream_findings.py --users 1 2 4 8 --rounds 2
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from inferwire.experiment import RunConfig, run_experiment

SERVERS = {"embedded": {"server": "embedded", "protocols": ("rest",)},
           "triton": {"server": "triton", "api": "v2", "protocols": ("rest", "grpc")},
           # the same with two model instances (instance_group count 2: two decode loops)
           "triton2": {"server": "triton", "api": "v2", "protocols": ("rest", "grpc"),
                       "instances": 2}}
WIRE_PROTOCOL = {"rest": "http/1.1", "grpc": "grpc"}


def measure(run_dir: Path, protocol: str) -> dict:
    """The figures of one protocol of one run (see the module's docstring)."""
    joined = pd.read_parquet(run_dir / "joined.parquet")
    messages = pd.read_parquet(run_dir / "messages.parquet")
    connections = pd.read_parquet(run_dir / "connections.parquet")
    client = pd.read_csv(run_dir / f"client_log_{protocol}.csv")
    mine = joined[(joined["protocol"] == WIRE_PROTOCOL[protocol]) & joined["in_client_log"]]
    measured = mine[mine["client_phase"] == "measure"]
    ids = set(measured["request_id"])
    tokens = messages[messages["request_id"].isin(ids) & (messages["direction"] == "response")
                      & (messages["kind"] == "data")]
    gaps = np.concatenate([np.diff(np.sort(g["start"].to_numpy()))
                           for _, g in tokens.groupby("request_id")]) * 1e3
    conns = connections[connections["connection"].isin(set(mine["connection"]))]
    every = messages[messages["request_id"].isin(set(mine["request_id"]))
                     & (messages["direction"] == "response") & (messages["kind"] == "data")]
    first = tokens.sort_values("index").groupby("request_id").agg(
        first_end=("end", "first"), last_end=("end", "last"))
    logged = client[client["phase"] == "measure"].set_index("request_id").join(first)
    after_first = (logged["first_token_ns"] / 1e9 - logged["first_end"]) * 1e3
    after_last = (logged["last_token_ns"] / 1e9 - logged["last_end"]) * 1e3
    triton = _triton_split(measured, messages, first)
    return {"requests": len(measured), "tokens": len(tokens),
            "ttft_p50_ms": measured["ttft_ms"].median(),
            "ttft_p90_ms": measured["ttft_ms"].quantile(0.9),
            "itl_p50_ms": float(np.percentile(gaps, 50)),
            "itl_p90_ms": float(np.percentile(gaps, 90)),
            "itl_p99_ms": float(np.percentile(gaps, 99)),
            "client_itl_p50_ms": client[client["phase"] == "measure"]["itl_p50_ms"].median(),
            # the client's time from a token's last byte on the wire to having parsed it
            "client_after_first_ms": after_first.median(),
            "client_after_last_ms": after_last.median(),
            **triton,
            "message_bytes": tokens["bytes"].mean(),
            # every request on these connections (warm-up too) against every token on them
            "tcp_bytes_per_token": conns["bytes_to_client"].sum() / len(every),
            "packets_per_token": conns["packets"].sum() / len(every)}


def _triton_split(measured: pd.DataFrame, messages: pd.DataFrame, first: pd.DataFrame) -> dict:
    """Medians (ms) of the wire's TTFT split by Triton's trace: the request's last byte (gRPC:
    its request message's; the half-close may come later) to Triton's receive-end, receive-end
    to its first send (GRPC_SEND_START; REST's sends are stamped 0 by Triton 2.51), that send
    to the first token's last byte on the wire.  NaN without a trace."""
    if "triton_recv_end" not in measured:
        return {"triton_recv_after_wire_ms": np.nan, "triton_first_send_ms": np.nan,
                "triton_send_to_wire_ms": np.nan}
    sent = messages[messages["direction"] == "request"].groupby("request_id")["end"].min()
    req_end = measured["request_id"].map(sent).fillna(measured["request_end"])
    ms = lambda a, b: ((b - a) * 1e3).median()   # noqa: E731
    return {"triton_recv_after_wire_ms": ms(req_end, measured["triton_recv_end"]),
            "triton_first_send_ms": ms(measured["triton_recv_end"],
                                       measured["triton_send_start"]),
            "triton_send_to_wire_ms": ms(measured["triton_send_start"],
                                         measured["request_id"].map(first["first_end"]))}


def instance_split(run_dir: Path) -> str:
    """Streams per Triton model instance over the whole run, e.g. "61/59" (the instances' lines
    in Triton's log, kept in the manifest); "" for the embedded server."""
    server = json.loads((run_dir / "manifest.json").read_text()).get("server") or {}
    split = server.get("stream_instances") or {}
    return "/".join(str(split[name]["streams"]) for name in sorted(split))


def _plain(figures: dict) -> dict:
    return {k: float(v) if isinstance(v, np.floating) else v for k, v in figures.items()}


def one_run(server: str, users: int, args, out: Path) -> list[dict]:
    config = RunConfig(out=str(out), name=f"{server}-u{users}", **SERVERS[server],
                       stream_tokens=args.tokens, token_time_ms=args.token_ms, users=users,
                       requests=args.requests_per_user * users, duration_s=None,
                       warmup_requests=max(2, users), progress=False)
    result = run_experiment(config)
    if result.status != "ok":   # said, and left out (another round covers the point)
        print(f"{server} users={users}: {result.status}: {result.problems}", flush=True)
        return []
    rows = [{"server": server, "protocol": p, "users": users, **_plain(measure(result.run_dir, p)),
             "instance_streams": instance_split(result.run_dir)} for p in config.protocols]
    if not args.keep:
        shutil.rmtree(result.run_dir, ignore_errors=True)
    return rows


def run_all(args, out: Path) -> list[dict]:
    """Every round of every server and concurrency, interleaved; the rows."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="stream-findings-") as runs:
        for r in range(args.rounds):
            order = [(s, u) for u in args.users for s in args.servers]
            for server, users in (order if r % 2 == 0 else order[::-1]):
                for row in one_run(server, users, args, Path(out if args.keep else runs)):
                    rows.append({"round": r, **row})
                    print(rows[-1], flush=True)
    return rows


def remeasure(folders: list[str]) -> list[dict]:
    """The rows of kept run folders (``...-SERVER-uUSERS``), in the order given; a server's
    runs of one concurrency count as rounds 0, 1, ..."""
    rows, seen = [], {}
    for folder in map(Path, folders):
        server, users = folder.name.split("-")[-2], int(folder.name.split("-u")[-1])
        r = seen[(server, users)] = seen.get((server, users), -1) + 1
        for p in SERVERS[server]["protocols"]:
            rows.append({"round": r, "server": server, "protocol": p, "users": users,
                         **_plain(measure(folder, p)), "instance_streams": instance_split(folder)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--servers", nargs="+", default=list(SERVERS), choices=list(SERVERS))
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--token-ms", type=float, default=5.0)
    parser.add_argument("--requests-per-user", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    parser.add_argument("--keep", action="store_true", help="keep the run folders")
    parser.add_argument("--measure", nargs="+", metavar="RUN_DIR",
                        help="only measure these run folders (named SERVER-uUSERS) again")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = remeasure(args.measure) if args.measure else run_all(args, out)
    table = pd.DataFrame(rows)
    table.to_csv(out / "stream_findings.csv", index=False)
    medians = table.groupby(["server", "protocol", "users"]).median(numeric_only=True)
    print(markdown(medians.drop(columns="round").reset_index()))


def markdown(table: pd.DataFrame) -> str:
    """``table`` as a markdown table (floats to 3 decimals)."""
    cells = [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row]
             for row in table.itertuples(index=False)]
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    return "\n".join(lines + ["| " + " | ".join(c) + " |" for c in cells])


if __name__ == "__main__":
    main()
