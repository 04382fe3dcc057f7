"""locust against inferwire's own load generator on Triton's streaming (issue 20, docs/streaming.md):
the same closed-loop streams from Triton's decoupled model (REST generate_stream and gRPC
ModelStreamInfer), driven by ``--engine inferwire`` (a thread per user) and ``--engine locust``
(the shipped ``triton_generate_stream`` / ``triton_model_stream`` locustfiles: greenlets in one
process), interleaved in rounds; ``--server embedded``: the embedded server's streamed
``/v1/completions`` instead (REST, the ``stream_completions`` locustfile).  Per run and protocol, over the measured requests: the figures
of :func:`stream_findings.measure` plus how far the client's TTFT exceeds the wire's, per request
joined by id (p50, p90, max, and how many were below the wire's: never, so far), and the share
of requests that found the decode loop idle (:func:`idle_arrivals`).

    .venv/bin/python benchmarks/stream_engines.py --users 4 --rounds 2
    .venv/bin/python benchmarks/stream_engines.py --server embedded --users 4 --rounds 2
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stream_findings import WIRE_PROTOCOL, _plain, markdown, measure  # noqa: E402

from inferwire.experiment import RunConfig, run_experiment  # noqa: E402
from inferwire.serving.ports import free_ports  # noqa: E402


def client_over_wire(run_dir: Path, protocol: str) -> dict:
    """The client's TTFT minus the wire's, per measured request joined by id (ms)."""
    requests = pd.read_parquet(run_dir / "requests.parquet")
    client = pd.read_csv(run_dir / f"client_log_{protocol}.csv")
    merged = client[client["phase"] == "measure"].merge(
        requests[requests["protocol"] == WIRE_PROTOCOL[protocol]], on="request_id",
        suffixes=("_client", ""))
    over = merged["ttft_ms_client"] - merged["ttft_ms"]
    return {"joined": len(merged), "logged": int((client["phase"] == "measure").sum()),
            "client_over_wire_p50_ms": over.median(), "client_over_wire_p90_ms": over.quantile(0.9),
            "client_over_wire_max_ms": over.max(), "client_below_wire": int((over < -1e-3).sum())}


def idle_arrivals(run_dir: Path, protocol: str) -> dict:
    """The share of measured requests that reached the server when no other stream of the run
    was between its first and last token on the wire (the decode loop idle: the request waits a
    whole step), the median time from the last token on the wire before a request to the
    request's last byte, and the wire's TTFT p50 of the idle arrivals and of the others (ms)."""
    requests = pd.read_parquet(run_dir / "requests.parquet").set_index("request_id")
    messages = pd.read_parquet(run_dir / "messages.parquet")
    client = pd.read_csv(run_dir / f"client_log_{protocol}.csv")
    tokens = messages[(messages["direction"] == "response") & (messages["kind"] == "data")]
    span = tokens.groupby("request_id")["start"].agg(["min", "max"])
    ids = [i for i in client[client["phase"] == "measure"]["request_id"] if i in span.index]
    first, last = span["min"].to_numpy(), span["max"].to_numpy()
    starts = tokens.sort_values("start")
    times, owners = starts["start"].to_numpy(), starts["request_id"].to_numpy()
    idle, since = [], []
    for rid in ids:
        t = requests.loc[rid, "request_end"]
        running = (first < t) & (last > t)
        idle.append(not running.any())
        k = int(np.searchsorted(times, t)) - 1
        while k >= 0 and owners[k] == rid:
            k -= 1
        since.append((t - times[k]) * 1e3 if k >= 0 else np.nan)
    idle = pd.Series(idle, index=ids)
    ttft = requests.loc[ids, "ttft_ms"]
    return {"idle_arrivals": float(idle.mean()) if len(idle) else float("nan"),
            # the request's last byte after the last token on the wire before it (ms)
            "after_last_token_p50_ms": float(np.nanmedian(since)) if since else float("nan"),
            "ttft_p50_idle_ms": ttft[idle.to_numpy()].median(),
            "ttft_p50_running_ms": ttft[~idle.to_numpy()].median()}


def _server(name: str) -> dict:
    """RunConfig's server fields: Triton over both protocols, or the embedded server's
    completions (REST) on free ports."""
    if name == "triton":
        return {"server": "triton", "api": "v2", "protocols": ("rest", "grpc")}
    grpc, rest = free_ports(2)
    return {"server": "embedded", "protocols": ("rest",), "grpc_port": grpc, "rest_port": rest}


def one_run(engine: str, args, out: Path) -> list[dict]:
    config = RunConfig(out=str(out), name=f"{engine}-u{args.users}", engine=engine,
                       stream_tokens=args.tokens, token_time_ms=args.token_ms,
                       users=args.users, duration_s=args.duration,
                       warmup_requests=max(2, args.users), progress=False,
                       **_server(args.server))
    result = run_experiment(config)
    if result.status != "ok":
        print(f"{engine}: {result.status}: {result.problems}", flush=True)
        return []
    rows = [{"engine": engine, "protocol": p, **_plain(measure(result.run_dir, p)),
             **_plain(client_over_wire(result.run_dir, p)),
             **_plain(idle_arrivals(result.run_dir, p))} for p in config.protocols]
    if not args.keep:
        shutil.rmtree(result.run_dir, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=("triton", "embedded"), default="triton",
                        help="Triton's decoupled model over both protocols, or the embedded "
                             "server's /v1/completions (REST; results in "
                             "stream_engines_embedded.csv)")
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--token-ms", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    parser.add_argument("--keep", action="store_true", help="keep the run folders")
    parser.add_argument("--measure", nargs="+", metavar="RUN_DIR",
                        help="only print the idle-arrival figures of these run folders")
    args = parser.parse_args()
    if args.measure:
        for folder in map(Path, args.measure):
            for p in ("rest", "grpc"):
                if (folder / f"client_log_{p}.csv").exists():
                    print(folder.name, p, _plain(idle_arrivals(folder, p)))
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="stream-engines-") as runs:
        for r in range(args.rounds):
            engines = ["inferwire", "locust"] if r % 2 == 0 else ["locust", "inferwire"]
            for engine in engines:
                for row in one_run(engine, args, Path(out if args.keep else runs)):
                    rows.append({"round": r, **row})
                    print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    suffix = "" if args.server == "triton" else f"_{args.server}"
    table.to_csv(out / f"stream_engines{suffix}.csv", index=False)
    medians = table.groupby(["engine", "protocol"]).median(numeric_only=True)
    print(markdown(medians.drop(columns="round").reset_index()))


if __name__ == "__main__":
    main()
