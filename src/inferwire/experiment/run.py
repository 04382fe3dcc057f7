"""One capture run end to end: server, capture proven live, load, stop, analyze, results folder.

The shell around the pure core: it starts and stops processes and writes files; the numbers come
from :func:`inferwire.analyze` and :func:`inferwire.join.join_requests`.  Whatever happens (Ctrl-C,
a server crash, a capture that dies), the capture is stopped and flushed, what was measured is
analyzed and kept, and the returned status says what went wrong.
"""
from __future__ import annotations

import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CaptureError, InferwireError, ServerError
from .config import RunConfig
from .folder import new_run_dir
from .manifest import environment_facts, write_json

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


@dataclass
class RunResult:
    """Where the run's files are and how it ended (``status``: ok | interrupted | server_died |
    capture_died | failed)."""

    run_dir: Path
    status: str = "ok"
    problems: list = field(default_factory=list)
    analysis: object = None
    joined: object = None
    summary_text: str = ""

    @property
    def exit_code(self) -> int:
        return {"ok": EXIT_OK, "interrupted": EXIT_INTERRUPTED}.get(self.status, EXIT_FAILED)


class _Say:
    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __call__(self, text: str) -> None:
        if self.enabled:
            print(f"[inferwire] {text}", file=sys.stderr, flush=True)


def run_experiment(config: RunConfig) -> RunResult:
    """Do the run described by ``config``; never raises for what happens during the run."""
    say = _Say(config.progress)
    _require_extras(config)
    run_dir = new_run_dir(config.out, config.name or _slug(config))
    result = RunResult(run_dir)
    manifest = {"config": config.to_dict(), "started_ns": time.time_ns(),
                "environment": environment_facts(), "loads": {}, "status": "running"}
    write_json(run_dir / "manifest.json", manifest)
    say(f"results folder: {run_dir}")
    server = capture = sampler = None
    capture_result = None
    try:
        server, targets = _start_server(config, run_dir, say)
        manifest["server"] = targets
        capture = _start_capture(config, run_dir, targets, say)
        sampler = _start_sampler(run_dir, server, capture)
        manifest["capture_live_ns"] = time.time_ns()
        for protocol in config.protocols:
            say(f"load: {protocol} with {config.engine}, batch {config.batch_size}, "
                f"{_load_words(config)}")
            summary = _run_load(config, protocol, targets, run_dir, server)
            manifest["loads"][protocol] = summary.to_dict()
            if summary.interrupted:
                raise KeyboardInterrupt
            if server is not None and server.proc.poll() is not None:
                raise ServerError(f"the server exited with code {server.proc.returncode} "
                                  "during the run")
    except KeyboardInterrupt:
        result.status = "interrupted"
        result.problems.append("interrupted (Ctrl-C): kept and analyzed what was measured")
    except ServerError as exc:
        result.status = "server_died" if server is not None else "failed"
        result.problems.append(str(exc))
    except CaptureError as exc:
        result.status = "capture_died" if capture is not None else "failed"
        result.problems.append(str(exc))
    except InferwireError as exc:
        result.status = "failed"
        result.problems.append(str(exc))
    finally:
        capture_result = _stop_all(capture, sampler, server, manifest, result, say)
    manifest["stopped_ns"] = time.time_ns()
    if capture_result is not None:
        _analyze_run(config, run_dir, capture_result, result, manifest, say)
    manifest["status"], manifest["problems"] = result.status, result.problems
    write_json(run_dir / "manifest.json", manifest)
    from .summary import write_summary
    result.summary_text = write_summary(run_dir, manifest, result.analysis, result.joined)
    from ..files import make_private
    make_private([run_dir])        # the tools' own outputs too: the folder holds payloads
    return result


def _require_extras(config: RunConfig) -> None:
    """A clear error naming the extra before anything starts, when a package is missing."""
    from ..extras import require
    require("psutil", what="a capture run")
    if config.embedded:
        require("tensorflow", "grpc", "tensorflow_serving", what="the embedded model server")
    if "grpc" in config.protocols:
        require("grpc", "tensorflow_serving", what="gRPC load")
    if config.engine == "locust":
        require("locust", what="the locust engine")


def _slug(config: RunConfig) -> str:
    return f"{'-'.join(config.protocols)}-b{config.batch_size}-{config.connection}"


def _load_words(config: RunConfig) -> str:
    how = (f"{config.users} users" if config.mode == "closed"
           else f"{config.rate:g} req/s {config.arrival}")
    much = f"{config.duration_s:g} s" if config.duration_s else f"{config.requests} requests"
    return f"{how}, {much}, {config.connection} connections"


# -- server ------------------------------------------------------------------------------------
def _usable_port(port: int) -> int:
    """``port`` if it is free on 127.0.0.1, else a free one (not 0: for TF Serving's
    ``--rest_api_port`` 0 means "no REST")."""
    from ..ports import free_ports
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            pass
    return free_ports(1)[0]


def _start_server(config: RunConfig, run_dir: Path, say):
    """Start the embedded server (or check an external one); return (process|None, targets)."""
    if not config.embedded:
        from ..serving.launch import wait_ready
        for port in (config.grpc_port, config.rest_port):
            wait_ready(config.server, port, timeout=10)
        return None, {"kind": "external", "host": config.server, "grpc_port": config.grpc_port,
                      "rest_port": config.rest_port, "model_name": config.model_name}
    from ..serving.launch import ServerProcess
    from ..serving.model import cached_models
    models = cached_models(on_export=lambda: say("model: exporting the MNIST SavedModels "
                                                 "(first run only)"))
    base = models / ("mnist" if config.model == "softmax" else "mnist_cnn")
    ports = [_usable_port(p) for p in (config.grpc_port, config.rest_port)]
    args = ["--model_base_path", str(base), "--model_name", config.model_name,
            "--port", str(ports[0]), "--rest_api_port", str(ports[1]),
            "--request_log", str(run_dir / "server_log.jsonl")]
    if config.enable_batching:
        args.append("--enable_batching")
        if config.max_batch_size:
            args += ["--max_batch_size", str(config.max_batch_size)]
        if config.batch_timeout_micros is not None:
            args += ["--batch_timeout_micros", str(config.batch_timeout_micros)]
    say(f"server: starting inferwire serve ({config.model} model)")
    server = ServerProcess(args).start()
    say(f"server: {server.ready_line}")
    return server, {"kind": "embedded", "host": "127.0.0.1", "grpc_port": server.grpc_port,
                    "rest_port": server.rest_port, "model_name": config.model_name,
                    "model_base_path": str(base), "pid": server.proc.pid,
                    "ready_line": server.ready_line}


def _start_sampler(run_dir: Path, server, capture):
    """CPU and memory by role: this process and the load tools it starts, the server, the
    capture tool (and, from the host's totals, the rest of the host)."""
    from ..resources import ResourceSampler
    roles = {"load generator": os.getpid()}
    if server is not None:
        roles["server"] = server.proc.pid
    sampler = ResourceSampler(run_dir / "resources.csv", roles)
    for pid in capture.pids:
        sampler.add("capture", pid, warn_on_end=False)
    sampler.start()
    return sampler


def _start_capture(config: RunConfig, run_dir: Path, targets: dict, say):
    from ..capture import CaptureOptions, CaptureSession
    ports = tuple(targets[f"{p}_port"] for p in config.protocols)
    session = CaptureSession(CaptureOptions(
        output=run_dir / "capture.pcapng", interface=config.interface, ports=ports,
        tool=config.tool, snaplen=config.snaplen, buffer_mb=config.buffer_mb))
    say(f"capture: {config.tool} on {config.interface}, ports {ports}; waiting until it is live")
    session.start()
    say("capture: live (probe packet seen in the file)")
    return session


def _watch(server, stop: threading.Event, done: threading.Event) -> None:
    """Set ``stop`` as soon as the server process exits: a dead server ends the load at once."""
    while not done.wait(0.2):
        if server.proc.poll() is not None:
            stop.set()
            return


def _run_load(config: RunConfig, protocol: str, targets: dict, run_dir: Path, server):
    """Run the configured engine for ``protocol``, stopping it at once if the server dies."""
    from ..engines import EngineContext, get_engine
    engine = get_engine(config.engine)
    ctx = EngineContext(config, protocol, targets, run_dir, say=_Say(config.progress))
    done = threading.Event()
    if server is not None:
        threading.Thread(target=_watch, args=(server, ctx.stop, done), daemon=True).start()
    try:
        return engine.run(ctx)
    finally:
        done.set()


def _stop_all(capture, sampler, server, manifest, result, say):
    """Stop the capture first (flushing it), then the sampler and the server; keep their facts."""
    capture_result = None
    if capture is not None:
        try:
            capture_result = capture.stop()
        except CaptureError as exc:
            capture_result = getattr(exc, "result", None)
            if result.status == "ok":
                result.status = "capture_died"
            result.problems.append(str(exc))
        if capture_result is not None:
            manifest["capture"] = capture_result.to_dict()
            say(f"capture: stopped; {capture_result.packets} packets, "
                f"{capture_result.dropped if capture_result.dropped is not None else 'unknown'}"
                " dropped")
    if sampler is not None:
        manifest["resources"] = {role: _summary_dict(s) for role, s in sampler.stop().items()}
    if server is not None:
        code = server.stop()
        manifest.setdefault("server", {})["exit_code"] = code
        if code not in (0, None, -15) and result.status == "ok":
            result.status = "server_died"
            result.problems.append(f"the server exited with code {code}")
    return capture_result


def _summary_dict(s) -> dict:
    return {k: v for k, v in vars(s).items() if not k.startswith("_")}


# -- analysis ----------------------------------------------------------------------------------
def _analyze_run(config, run_dir: Path, capture_result, result: RunResult, manifest, say):
    import warnings

    from ..analysis import analyze
    from ..errors import InferwireWarning
    from ..join import join_requests, workload_ports
    from ..tablefiles import write_csv
    from .logs import read_client_logs, read_server_log
    say("analysis: reading the capture")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InferwireWarning)
            analysis = analyze(capture_result.path, ignore_ports=(capture_result.probe_port,),
                               progress=config.progress)
    except InferwireError as exc:
        result.problems.append(f"analysis failed: {exc}")
        if result.status == "ok":
            result.status = "failed"
        return
    analysis.save(run_dir)
    client = read_client_logs(run_dir)
    server_log = read_server_log(run_dir / "server_log.jsonl")
    joined = join_requests(analysis.requests, client, server_log,
                           workloads=workload_ports(manifest))
    write_csv(joined, run_dir / "joined.csv")
    joined.to_parquet(run_dir / "joined.parquet", index=False)
    manifest["analysis"] = {"requests": len(analysis.requests),
                            "connections": len(analysis.connections),
                            "warnings": analysis.warnings[:50],
                            "warning_count": len(analysis.warnings)}
    result.analysis, result.joined = analysis, joined
