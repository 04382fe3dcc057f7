"""locust against inferwire's own load generator on Triton's streaming (issue 20, docs/streaming.md):
the same closed-loop streams from Triton's decoupled model (REST generate_stream and gRPC
ModelStreamInfer), driven by ``--engine inferwire`` (a thread per user) and ``--engine locust``
(the shipped ``triton_generate_stream`` / ``triton_model_stream`` locustfiles: greenlets in one
process), interleaved in rounds.  Per run and protocol, over the measured requests: the figures
of :func:`stream_findings.measure` plus how far the client's TTFT exceeds the wire's, per request
joined by id (p50, p90, max, and how many were below the wire's: never, so far).

    .venv/bin/python benchmarks/stream_engines.py --users 4 --rounds 2
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stream_findings import WIRE_PROTOCOL, _plain, markdown, measure  # noqa: E402

from inferwire.experiment import RunConfig, run_experiment  # noqa: E402


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


def one_run(engine: str, args, out: Path) -> list[dict]:
    config = RunConfig(out=str(out), name=f"{engine}-u{args.users}", server="triton", api="v2",
                       protocols=("rest", "grpc"), engine=engine, stream_tokens=args.tokens,
                       token_time_ms=args.token_ms, users=args.users, duration_s=args.duration,
                       warmup_requests=max(2, args.users), progress=False)
    result = run_experiment(config)
    if result.status != "ok":
        print(f"{engine}: {result.status}: {result.problems}", flush=True)
        return []
    rows = [{"engine": engine, "protocol": p, **_plain(measure(result.run_dir, p)),
             **_plain(client_over_wire(result.run_dir, p))} for p in config.protocols]
    if not args.keep:
        shutil.rmtree(result.run_dir, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--token-ms", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    parser.add_argument("--keep", action="store_true", help="keep the run folders")
    args = parser.parse_args()
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
    table.to_csv(out / "stream_engines.csv", index=False)
    medians = table.groupby(["engine", "protocol"]).median(numeric_only=True)
    print(markdown(medians.drop(columns="round").reset_index()))


if __name__ == "__main__":
    main()
