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
import socket
from pathlib import Path

import pandas as pd

from ...ports import free_ports
from .install import backend_directory, find_install
from .metrics import MetricsSampler
from .process import TritonOptions, TritonProcess
from .repository import TritonModelOptions, export_weights, write_repository
from .trace import parse_entries, read_trace_files, sample_clock_offset, server_log

TRACE_FILE = "triton_trace/trace.json"   # + .0, .1 ...: one file per traced request


def model_options(config) -> TritonModelOptions:
    """The served model from a RunConfig (``max_batch_size`` at least the run's batch)."""
    extra = config.extra or {}
    return TritonModelOptions(
        name=config.model_name, kind=config.model,
        max_batch_size=max(config.max_batch_size or 256, config.batch_size),
        instances=config.instances, dynamic_batching=bool(config.enable_batching),
        max_queue_delay_us=config.max_queue_delay_us or 0,
        response_cache=bool(extra.get("triton_response_cache")))


def _port(wanted: int) -> int:
    """``wanted`` if free on 127.0.0.1, else a free one."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", wanted))
            return wanted
        except OSError:
            return free_ports(1)[0]


class TritonTarget:
    """A running Triton for one run (``proc``: the server's Popen, as run.py watches it)."""

    def __init__(self, process: TritonProcess, run_dir: Path, model: TritonModelOptions):
        self.process, self.run_dir, self.model = process, run_dir, model
        self.proc = process.proc
        self.metrics: MetricsSampler | None = None
        self.clock_offsets_ns = [sample_clock_offset()]
        self.facts: dict = {}

    def targets(self) -> dict:
        opts = self.process.opts
        return {"kind": "triton", "host": opts.host, "grpc_port": opts.grpc_port,
                "rest_port": opts.http_port, "metrics_port": opts.metrics_port,
                "model_name": self.model.name, "pid": self.proc.pid,
                "triton_version": self.process.metadata.get("version"),
                "triton_extensions": self.process.metadata.get("extensions"),
                "model_options": self.model.to_dict(),
                "model_config": self.process.model_config(self.model.name),
                "argv": self.process.argv, "ready_line": f"triton {self.process.metadata.get('version')}"
                f" ready: http={opts.host}:{opts.http_port} grpc={opts.host}:{opts.grpc_port}"}

    def stop(self) -> int | None:
        self.clock_offsets_ns.append(sample_clock_offset())
        self.facts["trace_flushed"] = self.process.flush_trace()
        if self.metrics is not None:
            self.facts["metrics"] = self.metrics.stop() if self.process.alive() else \
                {"file": self.metrics.path.name, "samples": self.metrics.samples}
        code = self.process.stop()
        self.facts["log"] = self.process.log_path.name
        if code not in (0, None):
            self.facts["cause"] = self.process.cause()
        self.facts["trace"] = write_server_log(self.run_dir, self.clock_offsets_ns)
        return code


def write_server_log(run_dir: Path, offsets_ns: list[int]) -> dict:
    """Triton's trace files in ``run_dir`` -> ``triton_trace.csv`` and ``server_log.jsonl``;
    returns facts for the manifest (traces, warnings, the clock offset and its drift)."""
    entries, warnings = read_trace_files(run_dir / TRACE_FILE)
    traces = parse_entries(entries)
    offset = offsets_ns[0]
    facts = {"traces": len(traces), "warnings": warnings, "clock_offset_ns": offset,
             "clock_drift_ns": offsets_ns[-1] - offset}
    if traces.empty:
        return facts
    traces.to_csv(run_dir / "triton_trace.csv", index=False)
    log = server_log(traces, offset)
    log["triton_protocol"] = traces["protocol"]
    with open(run_dir / "server_log.jsonl", "w", encoding="utf-8") as f:
        for row in log.to_dict("records"):
            f.write(json.dumps({k: _plain(v) for k, v in row.items()}) + "\n")
    return facts


def _plain(v):
    """A JSON-safe scalar: missing values (NA, NaN) as null."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if hasattr(v, "item") else v


def start_triton(config, run_dir: Path, say) -> TritonTarget:
    """Start Triton for ``config`` (a RunConfig); ServerError naming Triton's cause otherwise."""
    from ..model import cached_models
    extra = config.extra or {}
    install = find_install(extra.get("triton_venv"))
    model = model_options(config)
    repository = Path(extra["triton_model_repository"]) if extra.get("triton_model_repository") \
        else None
    if repository is None:
        say("model: exporting the MNIST SavedModels (first run only) and their weights for Triton")
        folder = cached_models() / ("mnist" if config.model == "softmax" else "mnist_cnn") / "1"
        repository = run_dir / "triton_repository"
        write_repository(repository, model, export_weights(folder))
    (run_dir / TRACE_FILE).parent.mkdir(exist_ok=True)
    backends = backend_directory(install, run_dir / "triton_backends")
    ports = [_port(config.rest_port), _port(config.grpc_port),
             extra.get("triton_metrics_port") or free_ports(1)[0]]
    if len(set(ports)) < 3:
        ports = free_ports(3)
    cache = (f"local,size={int(extra['triton_cache_bytes'])}",) if extra.get(
        "triton_cache_bytes") else ()
    opts = TritonOptions(http_port=ports[0], grpc_port=ports[1], metrics_port=ports[2],
                         models=(model.name,), trace_file=str(run_dir / TRACE_FILE),
                         cache_config=cache,
                         ready_timeout_s=float(extra.get("triton_ready_timeout_s", 120)))
    say(f"server: starting tritonserver ({config.model} model, {model.instances} instance(s), "
        f"dynamic batching {'on' if model.dynamic_batching else 'off'})")
    process = TritonProcess(install, repository, backends, opts, run_dir / "triton.log")
    process.start()
    try:
        target = TritonTarget(process, run_dir, model)
        target.metrics = MetricsSampler(opts.host, opts.metrics_port,
                                        run_dir / "triton_metrics.csv").start()
    except BaseException:
        process.stop()
        raise
    return target

