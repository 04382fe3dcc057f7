"""Triton as a capture-run target: everything :mod:`inferwire.experiment.run` needs, in one object.

:func:`start_triton` writes the model repository into the results folder, starts ``tritonserver``
on free 127.0.0.1 ports with the trace on, waits until the model is ready and starts the metrics
sampler.  :meth:`TritonTarget.stop` samples the metrics one last time, stops the server (nothing
left running), reads the trace into ``server_log.jsonl`` (the join's server log) and
``triton_trace.csv``, and keeps the facts for the manifest in ``facts``.
"""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd

from ...files import owned_tempdir
from ...runfolder import SERVER_LOG, TRITON_METRICS, TRITON_TRACE_CSV, TRITON_TRACE_JSON
from ..model import cached_models
from ..ports import free_ports
from .install import backend_directory, find_install
from .metrics import MetricsSampler
from .process import TritonOptions, TritonProcess
from .repository import TritonModelOptions, export_weights, write_repository
from .shm import SHM
from .stream_repository import StreamModelOptions, instance_streams, write_stream_repository
from .trace import parse_entries, read_trace_files, sample_clock_offset, server_log

TRACE_FILE = TRITON_TRACE_JSON      # all entries of the run's trace, one JSON array
STAGING_PREFIX = "inferwire-triton-trace-"   # + pid-: a killed run's folder is removed later


def model_options(config) -> TritonModelOptions:
    """The served model from a RunConfig (``max_batch_size`` at least the run's batch)."""
    extra = config.extra or {}
    return TritonModelOptions(
        name=config.model_name, kind=config.model,
        max_batch_size=max(config.max_batch_size or 256, config.batch_size),
        instances=config.instances, dynamic_batching=bool(config.enable_batching),
        max_queue_delay_us=config.max_queue_delay_us or 0,
        response_cache=bool(extra.get("triton_response_cache")))


def _ports(config, metrics_port: int | None) -> list[int]:
    """[http, grpc, metrics]: the ports the run was given, else free ones on 127.0.0.1.  A
    given port that is taken fails the run with Triton's own "already in use" line, never
    silently another port (as for the embedded server)."""
    fresh = free_ports(3)
    http = fresh[0] if config.rest_port is None else config.rest_port
    grpc = fresh[1] if config.grpc_port is None else config.grpc_port
    ports = [http, grpc, metrics_port or fresh[2]]
    return ports if len(set(ports)) == 3 else free_ports(3)


class TritonTarget:
    """A running Triton for one run (``proc``: the server's Popen, as run.py watches it)."""

    def __init__(self, process: TritonProcess, run_dir: Path, model: TritonModelOptions,
                 staging: Path):
        self.process, self.run_dir, self.model, self.staging = process, run_dir, model, staging
        self.proc = process.proc
        self.metrics: MetricsSampler | None = None
        self.clock_offsets_ns = [sample_clock_offset()]
        self.facts: dict = {}

    def targets(self) -> dict:
        opts = self.process.opts
        streaming = isinstance(self.model, StreamModelOptions)
        return {"kind": "triton", "host": opts.host, "grpc_port": opts.grpc_port,
                "stream_model": self.model.name if streaming else None,
                "rest_port": opts.http_port, "metrics_port": opts.metrics_port,
                "model_name": self.model.name, "pid": self.proc.pid,
                "triton_version": self.process.metadata.get("version"),
                "triton_extensions": self.process.metadata.get("extensions"),
                "triton_venv": str(self.process.install.venv),
                "triton_venv_python": self.process.install.python_release,
                "model_options": self.model.to_dict(),
                "model_config": self.process.model_config(self.model.name),
                "argv": self.process.argv,
                "ready_line": (f"triton {self.process.metadata.get('version')} ready: "
                               f"http={opts.host}:{opts.http_port} "
                               f"grpc={opts.host}:{opts.grpc_port}")}

    def stop(self) -> int | None:
        self.clock_offsets_ns.append(sample_clock_offset())
        self.facts["trace_flushed"] = self.process.flush_trace()
        if self.metrics is not None:
            self.facts["metrics"] = self.metrics.stop() if self.process.alive() else \
                {"file": self.metrics.path.name, "samples": self.metrics.samples}
        code = self.process.stop()
        self.facts["log"] = self.process.log_path.name
        if isinstance(self.model, StreamModelOptions):
            self.facts["stream_instances"] = _instance_streams(self.process.log_path)
        if code not in (0, None):
            self.facts["cause"] = self.process.cause()
        try:
            self.facts["trace"] = write_server_log(self.run_dir, self.staging / "trace.json",
                                                   self.clock_offsets_ns)
        except OSError as exc:   # e.g. a full disk: the run's other files still count
            self.facts["trace"] = {"error": f"Triton's trace not written: {exc}"}
        finally:
            remove_staging(self.staging)
        return code


def trace_staging(run_dir: Path) -> Path:
    """Where Triton writes its trace files (one per request): a new folder in /dev/shm (tmpfs:
    creating and removing thousands of small files there is quick, where an ext4 mounted with
    ``discard`` removes about a hundred a second), else ``run_dir/triton_trace``."""
    if SHM.is_dir():
        try:
            return owned_tempdir(STAGING_PREFIX, SHM)
        except OSError:
            pass
    folder = run_dir / "triton_trace"
    folder.mkdir(exist_ok=True)
    return folder


def remove_staging(staging: Path) -> None:
    """Remove the trace files once merged (only a /dev/shm staging folder)."""
    if staging.parent == SHM:
        shutil.rmtree(staging, ignore_errors=True)


def write_server_log(run_dir: Path, trace_base: Path, offsets_ns: list[int]) -> dict:
    """Triton's trace files ``trace_base.N`` -> ``triton_trace.json`` (every entry, merged),
    ``triton_trace.csv`` (a row per request) and ``server_log.jsonl`` in ``run_dir``; returns
    facts for the manifest (traces, warnings, the clock offset and its drift)."""
    entries, warnings = read_trace_files(trace_base)
    with open(run_dir / TRACE_FILE, "w", encoding="utf-8") as f:
        json.dump(entries, f, separators=(",", ":"))
    traces = parse_entries(entries)
    offset = offsets_ns[0]
    facts = {"traces": len(traces), "warnings": warnings, "clock_offset_ns": offset,
             "clock_drift_ns": offsets_ns[-1] - offset}
    if traces.empty:
        return facts
    traces.to_csv(run_dir / TRITON_TRACE_CSV, index=False)
    log = server_log(traces, offset)
    log["triton_protocol"] = traces["protocol"]
    with open(run_dir / SERVER_LOG, "w", encoding="utf-8") as f:
        for row in log.to_dict("records"):
            f.write(json.dumps({k: _plain(v) for k, v in row.items()}) + "\n")
    return facts


def _plain(v):
    """A JSON-safe scalar: missing values (NA, NaN) as null."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if hasattr(v, "item") else v


def _instance_streams(log_path: Path) -> dict:
    """How the streaming model's instances shared the requests (their lines in Triton's log)."""
    try:
        return instance_streams(log_path.read_text(errors="replace"))
    except OSError:
        return {}


def _describe(model) -> str:
    """The served model in a few words, for the run's progress line."""
    if isinstance(model, StreamModelOptions):
        return (f"decoupled streaming model {model.name}, {model.token_time_ms:g} ms per token, "
                f"{model.instances} instance(s)")
    return (f"{model.kind} model, {model.instances} instance(s), dynamic batching "
            f"{'on' if model.dynamic_batching else 'off'}")


def start_triton(config, run_dir: Path, say, network=None) -> TritonTarget:
    """Start Triton for ``config`` (a RunConfig); ServerError naming Triton's cause otherwise.
    With ``network`` (a :class:`~inferwire.netns.session.NetworkRun` that is up): in the
    server's namespace, on the server's address."""
    extra = config.extra or {}
    install = find_install(extra.get("triton_venv"))
    model = model_options(config)
    repository = Path(extra["triton_model_repository"]) if extra.get("triton_model_repository") \
        else None
    if config.stream_tokens is not None:
        model = StreamModelOptions(token_time_ms=config.token_time_ms,
                                   instances=config.instances,   # the run's N is never refused
                                   max_tokens_limit=max(4096, config.stream_tokens))
        repository = run_dir / "triton_repository"
        write_stream_repository(repository, model)
    elif repository is None:
        say("model: exporting the MNIST SavedModels (first run only) and their weights for Triton")
        folder = cached_models() / ("mnist" if config.model == "softmax" else "mnist_cnn") / "1"
        repository = run_dir / "triton_repository"
        write_repository(repository, model, export_weights(folder))
    backends = backend_directory(install, run_dir / "triton_backends")
    ports = _ports(config, extra.get("triton_metrics_port"))
    cache = (f"local,size={int(extra['triton_cache_bytes'])}",) if extra.get(
        "triton_cache_bytes") else ()
    staging = trace_staging(run_dir)
    opts = TritonOptions(http_port=ports[0], grpc_port=ports[1], metrics_port=ports[2],
                         models=(model.name,), trace_file=str(staging / "trace.json"),
                         cache_config=cache,
                         ready_timeout_s=float(extra.get("triton_ready_timeout_s", 120)),
                         **({} if network is None else network.server_place()))
    say(f"server: starting tritonserver ({_describe(model)})")
    process = TritonProcess(install, repository, backends, opts, run_dir / "triton.log")
    try:
        process.start()
    except BaseException:
        remove_staging(staging)
        raise
    try:
        target = TritonTarget(process, run_dir, model, staging)
        target.metrics = MetricsSampler(opts.host, opts.metrics_port, run_dir / TRITON_METRICS,
                                        namespace=opts.namespace).start()
    except BaseException:
        process.stop()
        remove_staging(staging)
        raise
    return target

