"""locust as a capture-run engine: the shipped locustfiles, or your own, under the same capture.

The locustfile: ``config.extra["locustfile"]`` (your own; the ``eventlog_hook`` locustfile is
added so each locust process logs its request events) or the shipped one for the protocol and
batch size (``rest_single``, ``grpc_batch``, ...); with ``--stream-tokens N``,
``stream_completions`` (the embedded server's ``/v1/completions``, REST), or with ``--server
triton`` ``triton_generate_stream`` (REST) or ``triton_model_stream`` (gRPC), whose request
log carries each stream's client-side token times (the client log's ``ttft_ms``,
``itl_p50_ms``, ...).  Its outputs keep the seed's names under the
CSV prefix (the locustfile's name; ``<name>_<protocol>`` for your own, plus ``-2``, ``-3`` if
taken): ``<prefix>_stats.csv``, ``_stats_history.csv``, ``_failures.csv``, ``_exceptions.csv``,
``_final.json`` (locust's end-of-run statistics), ``_output.txt`` (its console) and
``_requests.csv`` (every request event of every process).  Requests carrying an id go to the
run's client log, so the capture joins them by id.

Distributed: ``config.extra["locust_processes"]`` = N forks N workers on this machine (locust's
``--processes``); ``config.extra["locust_workers"]`` = N starts a master and N worker processes
on 127.0.0.1, as separate machines would.  Users spawn all at once (``-r`` = users); the run lasts
``duration_s`` (rounded to whole seconds); users finish the request in hand at the end.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import LoadError
from ..locustfiles import EVENTLOG_HOOK, STREAMING, TRITON_STREAMING, for_workload, path
from ..reference.summary import ToolSummary
from ..reference.warmup import warm_up
from ..runfolder import client_log_path

LOG_SUBDIR = "_locust_request_logs"


def _check(config) -> None:
    if config.mode != "closed":
        raise LoadError("the locust engine runs closed-loop users; open-loop rates need a "
                        "locust LoadTestShape or constant_throughput in your own locustfile")
    if config.duration_s is None:
        raise LoadError("locust runs for a time: give a duration (--duration), not only a "
                        "request count")


def _locustfiles(config, protocol: str, targets: dict) -> tuple[list[Path], str]:
    own = (config.extra or {}).get("locustfile")
    if own:
        own = Path(own).resolve()
        if not own.is_file():
            raise LoadError(f"locustfile {own} does not exist")
        return [own, path(EVENTLOG_HOOK)], f"{own.stem}_{protocol}"
    if config.stream_tokens is not None:
        name = TRITON_STREAMING[protocol] if targets.get("stream_model") else STREAMING
    else:
        name = for_workload(protocol, config.batch_size, config.api)
    return [path(name)], name


def free_prefix(run_dir: Path, base: str) -> str:
    """``base``, or ``base-2``, ``base-3``... : the first CSV prefix no file in ``run_dir``
    starts with (locust's outputs are never overwritten)."""
    name, k = base, 1
    while list(run_dir.glob(f"{name}_*")):
        k += 1
        name = f"{base}-{k}"
    return name


def _environment(ctx, log_dir: Path) -> dict:
    config, targets = ctx.config, ctx.targets
    env = dict(os.environ)
    env.update(SERVER=targets["host"], BATCHSIZE=str(config.batch_size),
               MODEL_NAME=targets.get("model_name", config.model_name),
               INFERWIRE_THINK_TIME_S=str(config.think_time_s or 0),
               INFERWIRE_ID_PREFIX=f"{ctx.protocol}-locust-",
               INFERWIRE_LOCUST_LOG_DIR=str(log_dir), INFERWIRE_API=config.api,
               INFERWIRE_INPUT_NAME=config.input_name, INFERWIRE_OUTPUT_NAME=config.output_name)
    if config.stream_tokens is not None:
        # one request event per stream: locust's counts and rates are streams
        env.update(INFERWIRE_STREAM_TOKENS=str(config.stream_tokens),
                   INFERWIRE_LOCUST_TOKEN_STATS="0")
        if targets.get("stream_model"):
            env.update(MODEL_NAME=targets["stream_model"])
    for protocol in ("rest", "grpc"):
        port = targets.get(f"{protocol}_port")      # None: the server has that API off
        env.pop(f"{protocol.upper()}_PORT", None)
        if port is not None:
            env[f"{protocol.upper()}_PORT"] = str(port)
        if config.encoding_for(protocol):
            env[f"INFERWIRE_{protocol.upper()}_ENCODING"] = config.encoding_for(protocol)
    return env


def _host(ctx) -> str:
    t = ctx.targets
    scheme = "http" if ctx.protocol == "rest" else "grpc"
    return f"{scheme}://{t['host']}:{t[f'{ctx.protocol}_port']}"


def run(ctx) -> ToolSummary:
    """Warm up, run locust under the capture, merge its request logs; a ToolSummary."""
    from ..load import ClientLogWriter  # deferred: load imports numpy
    from ..reference.locust import run_locust  # deferred: reference.locust imports numpy, pandas
    config, protocol = ctx.config, ctx.protocol
    _check(config)
    files, base = _locustfiles(config, protocol, ctx.targets)
    name = free_prefix(ctx.run_dir, base)
    log_dir = ctx.run_dir / f"{name}{LOG_SUBDIR}"
    extra = config.extra or {}
    writer = ClientLogWriter(client_log_path(ctx.run_dir, protocol))
    try:
        warmed = warm_up(ctx, writer)
        ctx.say(f"locust: {', '.join(f.name for f in files)} as {name}, {config.users} users, "
                f"{config.duration_s:g} s")
        result = run_locust(files, ctx.run_dir, name, stop=ctx.stop,
                            env=_environment(ctx, log_dir), host=_host(ctx),
                            users=config.users, run_time_s=config.duration_s,
                            workers=int(extra.get("locust_workers") or 0),
                            processes=extra.get("locust_processes"))
        requests = _merge_logs(log_dir, ctx.run_dir / f"{name}_requests.csv", writer)
    finally:
        writer.close()
    summary = _summary(ctx, name, result, requests, warmed)
    ctx.say(summary.describe())
    return summary


def _merge_logs(log_dir: Path, merged_path: Path, writer):
    """All processes' request logs -> ``merged_path``; rows with an id -> the client log."""
    from ..load import RequestRecord  # deferred: load imports numpy
    from ..reference.locust import read_request_logs  # deferred: reference.locust imports numpy, pandas
    frame = read_request_logs(log_dir if log_dir.is_dir() else [])
    frame.to_csv(merged_path, index=False)
    joinable = frame[frame["request_id"].notna() & frame["started_ns"].notna()]
    for row in joinable.itertuples(index=False):
        writer.on_request(RequestRecord(
            row.request_id, int(row.pid), "measure", int(row.started_ns), int(row.started_ns),
            _int(row.finished_ns), bool(row.ok), row.status, _int(row.request_bytes),
            _int(row.response_bytes), None, None, row.error, _int(row.first_token_ns),
            _int(row.last_token_ns), _int(row.tokens), _float(row.itl_p50_ms),
            _float(row.itl_max_ms)))
    if log_dir.is_dir():
        shutil.rmtree(log_dir)      # merged into <prefix>_requests.csv
    return frame


def _int(value):
    import pandas as pd  # deferred: pandas is heavy to import
    return None if pd.isna(value) else int(value)


def _float(value):
    import pandas as pd  # deferred: pandas is heavy to import
    return None if pd.isna(value) else float(value)


def _final_figures(final: Path, summary: ToolSummary) -> dict | None:
    """locust's end-of-run figures, or None (with a note) when it wrote none usable."""
    from ..reference.locust import locust_figures, read_locust_json  # deferred: reference.locust imports numpy, pandas
    if not final.exists():
        return None
    try:
        figures = locust_figures(read_locust_json(final))
    except LoadError as exc:
        if not (summary.interrupted or summary.stopped_early):
            raise
        summary.notes.append(str(exc))
        return None
    return figures if figures["requests"] else None


def _summary(ctx, name: str, result, requests, warmed: int) -> ToolSummary:
    from ..load.stats import distribution_ms  # deferred: load.stats imports numpy
    run = result.run
    summary = ToolSummary("locust", ctx.protocol, argv=result.argv[0], exit_code=run.exit_code,
                          started_ns=run.started_ns, finished_ns=run.finished_ns,
                          warmup_requests=warmed, outputs={**result.outputs,
                                                            "requests": f"{name}_requests.csv"},
                          interrupted=run.interrupted, stopped_early=run.stopped or run.timed_out,
                          join="id" if requests["request_id"].notna().any() else "time")
    summary.requests = len(requests)
    summary.ok = int(requests["ok"].sum()) if len(requests) else 0
    summary.errors = summary.requests - summary.ok
    final = ctx.run_dir / result.outputs["final_json"]
    figures = _final_figures(final, summary)
    if figures is not None:
        summary.throughput_per_s = figures["requests_per_s"]
        summary.latency_ms = {k: figures[k] for k in ("p50", "p90", "p99", "p100", "mean_ms")}
        summary.latency_ms["max"] = summary.latency_ms.pop("p100")
        summary.latency_ms["mean"] = summary.latency_ms.pop("mean_ms")
        summary.latency_source = "locust final statistics (ms, locust's rounding)"
        summary.notes.append(f"locust counted {figures['requests']} requests, its event log "
                             f"{summary.requests}")
    else:
        summary.latency_ms = distribution_ms(
            (requests["finished_ns"] - requests["started_ns"]).dropna().astype("int64"))
        summary.latency_source = "locust request events (no final statistics file)"
        summary.notes.append(f"{final.name} missing or empty: locust did not finish normally")
    if run.exit_code not in (0, None) and not run.interrupted:
        summary.notes.append(f"locust exited with code {run.exit_code} (1: some requests "
                             f"failed); see {result.outputs['output']}")
    return summary
