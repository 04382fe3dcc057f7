"""One capture run end to end: server, capture proven live, load, stop, analyze, results folder.

The shell around the pure core: it starts and stops processes and writes files; the numbers come
from :func:`inferwire.analyze` and :func:`inferwire.analysis.join.join_requests`.  Whatever happens (Ctrl-C,
a server crash, a capture that dies), the capture is stopped and flushed, what was measured is
analyzed and kept, and the returned status says what went wrong.
"""
from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
import warnings
import types

from ..errors import CaptureError, InferwireError, InferwireWarning, ServerError
from ..runfolder import (MANIFEST, RESOURCES, SERVER_LOG, SUMMARY, manifest_path, probe_port,
                         read_client_logs, read_manifest, read_server_log, write_manifest)
from .abandoned import abandoned_runs
from .config import RunConfig
from .folder import new_run_dir
from .loadcheck import load_failure
from .manifest import environment_facts, run_process_facts
from .teardown import (Steps, Supervisor, Terminated, deferred_signals,
                       terminate_as_interrupt)
from ..analysis.join import join_requests, workload_ports
from ..capture import CaptureOptions, CaptureSession
from ..capture.session import RingBuffer
from ..engines import EngineContext, get_engine
from ..extras import require
from ..files import make_private
from ..netns.session import NetworkRun
from ..serving.kserve.launch import start_for_run
from ..serving.ports import free_socket
from ..serving.launch import ServerProcess, wait_ready
from ..serving.model import cached_models
from ..serving.triton.target import start_triton
from ..serving.triton.tracejoin import add_triton_columns
from .resources import ResourceSampler
from .summary import write_summary

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 130, 143


@dataclass
class RunResult:
    """Where the run's files are and how it ended (``status``: ok | interrupted | terminated |
    server_died | capture_died | load_failed | failed)."""

    run_dir: Path
    status: str = "ok"
    problems: list = field(default_factory=list)
    analysis: object = None
    joined: object = None
    summary_text: str = ""

    @property
    def exit_code(self) -> int:
        return {"ok": EXIT_OK, "interrupted": EXIT_INTERRUPTED,
                "terminated": EXIT_TERMINATED}.get(self.status, EXIT_FAILED)


class _Say:
    """The run's progress lines on stderr.  Best effort: a stderr that fails (a closed pipe, a
    full disk under a redirect) silences them for the rest of the run and is kept in
    ``failure``, never raised into the run (it would cut a start or a teardown step)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.failure: str | None = None

    def __call__(self, text: str) -> None:
        if not self.enabled:
            return
        try:
            print(f"[inferwire] {text}", file=sys.stderr, flush=True)
        except (OSError, ValueError) as exc:    # ValueError: stderr was closed
            self.enabled = False
            self.failure = f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def _stopped_if_raised(stop):
    """Around the steps between a process's start and its caller holding it: whatever raises
    there (a Ctrl-C, SIGTERM) stops it first (signals deferred; a failing stop does not hide
    the first error), so nothing started outlives the run."""
    try:
        yield
    except BaseException:
        with deferred_signals(), contextlib.suppress(Exception):
            stop()
        raise


def run_experiment(config: RunConfig) -> RunResult:
    """Do the run described by ``config``; never raises for what happens during the run.

    Raises InferwireError (one line) only when the run folder cannot be made or written.
    SIGTERM and SIGHUP are handled as Ctrl-C; a supervising process ends whatever the run
    started if this process is killed (:mod:`.teardown`)."""
    say = _Say(config.progress)
    _require_extras(config)
    run_dir, manifest = _open_run(config)
    result = RunResult(run_dir)
    say(f"results folder: {run_dir}")
    supervisor = Supervisor().start()
    if supervisor.error:
        result.problems.append(supervisor.error)
        say(supervisor.error)
    try:
        with terminate_as_interrupt() as received:
            _measure_and_analyze(config, run_dir, manifest, result, say, received)
    finally:
        _finish(run_dir, manifest, result, say)
        supervisor.done()
    for note in finish_abandoned(config.out, progress=config.progress):
        say(note)
    return result


def _open_run(config: RunConfig) -> tuple[Path, dict]:
    """A new run folder with its first manifest (status "running", this process's pid and
    start time, so that a later look can tell a run whose process is gone)."""
    try:
        run_dir = new_run_dir(config.out, config.name or _slug(config))
    except OSError as exc:
        raise InferwireError(f"cannot make a run folder in {config.out}: "
                             f"{exc.strerror or exc}") from None
    manifest = {"config": config.to_dict(), "started_ns": time.time_ns(),
                "environment": environment_facts(), "loads": {}, "status": "running",
                "process": run_process_facts()}
    try:
        write_manifest(run_dir, manifest)
    except OSError as exc:
        raise InferwireError(f"cannot write {manifest_path(run_dir)}: "
                             f"{exc.strerror or exc}") from None
    return run_dir, manifest


def _measure_and_analyze(config: RunConfig, run_dir: Path, manifest: dict, result: RunResult,
                         say, received) -> None:
    server = capture = sampler = network = None
    capture_result = None
    try:
        network = _network(config, run_dir, say)
        if network is not None:
            network.up()
        server, targets = _start_server(config, run_dir, say, network)
        manifest["server"] = targets
        manifest["capture_started_ns"] = time.time_ns()    # its process is starting
        capture = _start_capture(config, run_dir, targets, say, network)
        sampler = _start_sampler(run_dir, server, capture)
        manifest["capture_live_ns"] = time.time_ns()
        manifest["capture"] = {"probe_port": capture.probe_port, "files": capture.files()}
        write_manifest(run_dir, manifest)    # what a later look needs if we die
        for protocol in config.protocols:
            say(f"load: {protocol} with {config.engine}, batch {config.batch_size}, "
                f"{_load_words(config)}")
            summary = _run_load(config, protocol, targets, run_dir, server, say, network)
            manifest["loads"][protocol] = summary.to_dict()
            if summary.interrupted:         # the engine stopped on Ctrl-C or SIGTERM
                raise received.exception()
            if server is not None and server.proc.poll() is not None:
                raise ServerError(f"the server exited with code {server.proc.returncode} "
                                  "during the run")
            _check_load(protocol, manifest["loads"][protocol], run_dir, result, say)
    except Terminated as exc:
        result.status = "terminated"
        result.problems.append(f"terminated ({exc.signal_name}): kept and analyzed what was "
                               "measured")
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
    except Exception as exc:     # noqa: BLE001 - e.g. a full disk: the teardown still runs
        result.status = "failed"
        result.problems.append(f"{type(exc).__name__}: {exc}")
    finally:
        with deferred_signals(say) as late:
            try:
                capture_result = _stop_all(capture, sampler, server, manifest, result, say)
            finally:
                _stop_network(network, manifest, result)
        if late.interrupted:
            result.problems.append(f"{', '.join(late.names)} during the stop: the stop was "
                                   "finished first")
    manifest["stopped_ns"] = time.time_ns()
    _analyze_captured(config, run_dir, capture_result, manifest, result, say)


def _analyze_captured(config, run_dir: Path, capture_result, manifest: dict, result: RunResult,
                      say) -> None:
    """The analysis of what was captured; when there is none, or Ctrl-C/SIGTERM cuts it, the
    manifest's ``analysis.skipped`` says why."""
    if capture_result is None:
        starting = ("capture_started_ns" in manifest and "capture_live_ns" not in manifest
                    and result.status in ("interrupted", "terminated"))
        manifest["analysis"] = {"skipped": (
            "no capture was made: the run was stopped while its capture was starting (a "
            "capture process begun was stopped before any load ran)" if starting
            else "no capture was made")}
        return
    try:
        _analyze_run(config, run_dir, capture_result, result, manifest, say)
    except Exception as exc:     # noqa: BLE001 - the run still ends with a final manifest
        if isinstance(exc.__context__, KeyboardInterrupt):   # raised while one unwound
            _interrupted_analysis(run_dir, exc.__context__, manifest, result)
            return
        manifest["analysis"] = {"skipped": f"the analysis failed: {type(exc).__name__}: {exc} "
                                "(a bug: please report it)"}
        result.problems.append(manifest["analysis"]["skipped"])
        if result.status == "ok":
            result.status = "failed"
    except KeyboardInterrupt as exc:
        _interrupted_analysis(run_dir, exc, manifest, result)


def _interrupted_analysis(run_dir: Path, exc: KeyboardInterrupt, manifest: dict,
                          result: RunResult) -> None:
    """The manifest and status of a run whose analysis Ctrl-C or SIGTERM cut."""
    why = exc.signal_name if isinstance(exc, Terminated) else "Ctrl-C"
    manifest["analysis"] = {"skipped": f"interrupted ({why}) during the analysis; the capture "
                            f"and logs are complete: `inferwire report {run_dir}` analyzes them"}
    result.problems.append(f"analysis interrupted ({why}): no joined.csv")
    if result.status == "ok":
        result.status = "terminated" if isinstance(exc, Terminated) else "interrupted"


def _finish(run_dir: Path, manifest: dict, result: RunResult, say) -> None:
    """The final manifest and summary.md, signals deferred; a failure to write either (a full
    disk) is reported, not raised."""
    with deferred_signals(say):
        if say.failure:
            result.problems.append(f"progress output failed ({say.failure}): no more "
                                   "progress lines, the teardown went on")
        manifest["status"], manifest["problems"] = result.status, result.problems
        steps = Steps()
        # first the manifest: the summary's tool-against-wire section reads the loads from it
        steps.run(MANIFEST, write_manifest, run_dir, manifest)
        result.summary_text = steps.run(SUMMARY, write_summary, run_dir, manifest,
                                        result.analysis, result.joined) or ""
        for error in steps.errors:
            result.problems.append(f"could not write {error}")
            if result.status == "ok":
                result.status = "failed"
        steps.errors.clear()
        manifest["status"], manifest["problems"] = result.status, result.problems
        steps.run(MANIFEST, write_manifest, run_dir, manifest)
        steps.run("file modes", make_private, [run_dir])   # the tools' outputs hold payloads too
        for error in steps.errors:
            result.problems.append(f"could not write {error}: the run stays at 'running' "
                                   "until `inferwire runs --clean` finishes it")
            if result.status == "ok":
                result.status = "failed"


def _require_extras(config: RunConfig) -> None:
    """A clear error naming the extra before anything starts, when a package is missing."""
    require("psutil", what="a capture run")
    if config.embedded:
        require("tensorflow", "grpc", "tensorflow_serving", what="the embedded model server")
    if "grpc" in config.protocols:
        require("grpc", "tensorflow_serving", what="gRPC load")
    if config.engine == "locust":
        require("locust", what="the locust engine")


def _slug(config: RunConfig) -> str:
    api = "v2-" if config.api == "v2" else ""
    net = f"-net-{config.network.preset or 'custom'}" if config.network is not None else ""
    return f"{api}{'-'.join(config.protocols)}-b{config.batch_size}-{config.connection}{net}"


def _load_words(config: RunConfig) -> str:
    how = (f"{config.users} users" if config.mode == "closed"
           else f"{config.rate:g} req/s {config.arrival}")
    much = f"{config.duration_s:g} s" if config.duration_s else f"{config.requests} requests"
    return f"{how}, {much}, {config.connection} connections"


# -- server ------------------------------------------------------------------------------------
def _usable_ports(config: RunConfig) -> tuple[int, int]:
    """The (gRPC, REST) ports: each the one given (ServerError if it is taken: never silently
    another), else the default if it is free, else a free one (not 0: for TF Serving's
    ``--rest_api_port`` 0 means "no REST").  The sockets that proved each port free are held
    until both are chosen, so the two are never the same port."""
    held: list[socket.socket] = []
    chosen = []
    try:
        for protocol in ("grpc", "rest"):
            port = config.port(protocol)
            s = socket.socket()
            held.append(s)
            try:
                s.bind(("127.0.0.1", port))
                chosen.append(port)
                continue
            except OSError as exc:
                if (config.grpc_port if protocol == "grpc" else config.rest_port) is not None:
                    raise ServerError(f"--{protocol}-port {port} is taken on 127.0.0.1 "
                                      f"({exc.strerror or exc}): free it, give another, or "
                                      "leave the option out for a free one") from None
            held.append(free_socket())
            chosen.append(held[-1].getsockname()[1])
        return chosen[0], chosen[1]
    finally:
        for s in held:
            s.close()


# -- network profile (inferwire.netns) ----------------------------------------------------------
def _network(config: RunConfig, run_dir: Path, say):
    """With a network profile: its NetworkRun (not yet set up); else None."""
    if config.network is None:
        return None
    return NetworkRun(config.network, run_dir, say)


def _stop_network(network, manifest: dict, result: RunResult) -> None:
    """Tear the network down (after the server and the capture stopped) and record it."""
    if network is not None:
        manifest["network"] = network.close()
        result.problems.extend(network.problems)


def _start_server(config: RunConfig, run_dir: Path, say, network=None):
    """Start the embedded server, Triton or KServe (or check an external one); return
    (process|None, targets)."""
    if config.server == "triton":
        server = start_triton(config, run_dir, say, network)
        with _stopped_if_raised(server.stop):
            targets = server.targets()
            say(f"server: {targets['ready_line']}")
            return server, targets
    if config.server == "kserve":
        ports = _usable_ports(config)
        return start_for_run(config, run_dir, ports, say)
    if not config.embedded:
        for protocol in ("grpc", "rest"):
            wait_ready(config.server, config.port(protocol), timeout=10)
        return None, {"kind": "external", "host": config.server,
                      "grpc_port": config.port("grpc"), "rest_port": config.port("rest"),
                      "model_name": config.model_name}
    models = cached_models(on_export=lambda: say("model: exporting the MNIST SavedModels "
                                                 "(first run only)"))
    base = models / ("mnist" if config.model == "softmax" else "mnist_cnn")
    ports = list(_usable_ports(config))
    args = ["--model_base_path", str(base), "--model_name", config.model_name,
            "--port", str(ports[0]), "--rest_api_port", str(ports[1]),
            "--request_log", str(run_dir / SERVER_LOG),
            "--token-time-ms", str(config.token_time_ms)]
    if config.enable_batching:
        args.append("--enable_batching")
        if config.max_batch_size:
            args += ["--max_batch_size", str(config.max_batch_size)]
        if config.batch_timeout_micros is not None:
            args += ["--batch_timeout_micros", str(config.batch_timeout_micros)]
    say(f"server: starting inferwire serve ({config.model} model)")
    server = (ServerProcess(args) if network is None else network.server(args)).start()
    with _stopped_if_raised(server.stop):
        say(f"server: {server.ready_line}")
        host = "127.0.0.1" if network is None else server.grpc[0]
        return server, {"kind": "embedded", "host": host, "grpc_port": server.grpc_port,
                        "rest_port": server.rest_port, "model_name": config.model_name,
                        "model_base_path": str(base), "pid": server.proc.pid,
                        "ready_line": server.ready_line}


def _start_sampler(run_dir: Path, server, capture):
    """CPU and memory by role: this process and the load tools it starts, the server, the
    capture tool (and, from the host's totals, the rest of the host)."""
    roles = {"load generator": os.getpid()}
    if server is not None:
        roles["server"] = server.proc.pid
    sampler = ResourceSampler(run_dir / RESOURCES, roles)
    for pid in capture.pids:
        sampler.add("capture", pid, warn_on_end=False)
    sampler.start()
    return sampler


def _start_capture(config: RunConfig, run_dir: Path, targets: dict, say, network=None):
    ports = tuple(targets[f"{p}_port"] for p in config.protocols)
    ring = (RingBuffer(config.ring_files, megabytes=config.ring_megabytes)
            if config.ring_files else None)
    if network is None:
        session = CaptureSession(CaptureOptions(
            output=run_dir / "capture.pcapng", interface=config.interface, ports=ports,
            tool=config.tool, snaplen=config.snaplen, buffer_mb=config.buffer_mb, ring=ring))
    else:
        session = network.client_capture(config, run_dir, ports)
    say(f"capture: {config.tool} on {session.options.interface}, ports {ports}; waiting until "
        "it is live")
    session.start()
    with _stopped_if_raised(session.stop):
        say("capture: live (probe packet seen in the file)")
        if network is not None:
            network.start_server_capture(config, ports)
    return session


def _watch(server, stop: threading.Event, done: threading.Event) -> None:
    """Set ``stop`` as soon as the server process exits: a dead server ends the load at once."""
    while not done.wait(0.2):
        if server.proc.poll() is not None:
            stop.set()
            return


def _run_load(config: RunConfig, protocol: str, targets: dict, run_dir: Path, server, say,
              network=None):
    """Run the configured engine for ``protocol``, stopping it at once if the server dies."""
    if network is not None:     # a child process in the client's network namespace
        return network.run_load(config, protocol, targets, server)
    engine = get_engine(config.engine)
    ctx = EngineContext(config, protocol, targets, run_dir, say=say)
    done = threading.Event()
    if server is not None:
        threading.Thread(target=_watch, args=(server, ctx.stop, done), daemon=True).start()
    try:
        return engine.run(ctx)
    finally:
        done.set()


def _check_load(protocol: str, load: dict, run_dir: Path, result: RunResult, say) -> None:
    """A load tool that failed (:func:`.loadcheck.load_failure`) makes the run ``load_failed``;
    the run goes on (the capture and the other protocols' loads are kept)."""
    failure = load_failure(protocol, load, run_dir)
    if failure is not None:
        say(failure)
        result.problems.append(failure)
        if result.status == "ok":
            result.status = "load_failed"


def _stop_all(capture, sampler, server, manifest, result, say):
    """Stop the capture first (flushing it), then the sampler and the server; keep their facts.
    Every step runs even if one before it failed (a full disk); the failures are reported
    together in ``result.problems``."""
    steps = Steps()
    capture_result = None
    if capture is not None:
        capture_result = steps.run("stopping the capture", _stop_capture, capture, result)
        if capture_result is not None:
            manifest["capture"] = capture_result.to_dict()
            say(f"capture: stopped; {capture_result.packets} packets, "
                f"{capture_result.dropped if capture_result.dropped is not None else 'unknown'}"
                " dropped")
    if sampler is not None:
        summaries = steps.run("stopping the resource sampler", sampler.stop)
        if summaries is not None:
            manifest["resources"] = {role: _summary_dict(s) for role, s in summaries.items()}
    if server is not None:
        code = steps.run("stopping the server", server.stop)
        manifest.setdefault("server", {})["exit_code"] = code
        manifest["server"].update(getattr(server, "facts", {}))
        if code not in (0, None, -15) and result.status == "ok":
            result.status = "server_died"
            result.problems.append(f"the server exited with code {code}")
    if steps.errors:
        result.problems.extend(steps.errors)
        if result.status == "ok":
            result.status = "failed"
    return capture_result


def _stop_capture(capture, result):
    """The capture's result; a capture that died is a problem, with what it wrote kept."""
    try:
        return capture.stop()
    except CaptureError as exc:
        if result.status == "ok":
            result.status = "capture_died"
        result.problems.append(str(exc))
        return getattr(exc, "result", None)


def _summary_dict(s) -> dict:
    return {k: v for k, v in vars(s).items() if not k.startswith("_")}


# -- analysis ----------------------------------------------------------------------------------
def _analyze_run(config, run_dir: Path, capture_result, result: RunResult, manifest, say):

    from ..analysis import analyze  # deferred: analysis.pipeline imports hpack, pyarrow
    from ..tablefiles import write_csv  # deferred: tablefiles imports pyarrow
    say("analysis: reading the capture")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InferwireWarning)
            files = getattr(capture_result, "files", None) or []
            source = files if len(files) > 1 else capture_result.path    # a ring: every file
            probe = capture_result.probe_port
            analysis = analyze(source, ignore_ports=(probe,) if probe else (),
                               progress=config.progress)
    except InferwireError as exc:
        result.problems.append(f"analysis failed: {exc}")
        if result.status == "ok":
            result.status = "failed"
        return
    client = read_client_logs(run_dir)
    server_log = read_server_log(run_dir)
    joined = join_requests(analysis.requests, client, server_log,
                           workloads=workload_ports(manifest))
    if server_log is not None and "triton_trace_id" in server_log:
        joined, notes = add_triton_columns(joined, server_log, server_log["triton_protocol"])
        result.problems.extend(notes)
    result.analysis, result.joined = analysis, joined
    steps = Steps()                     # a full disk: each file is tried, the failures said
    steps.run("requests.csv/connections.csv", analysis.save, run_dir)
    steps.run("joined.csv", write_csv, joined, run_dir / "joined.csv")
    steps.run("joined.parquet", joined.to_parquet, run_dir / "joined.parquet", index=False)
    for error in steps.errors:
        result.problems.append(f"could not write {error}")
        if result.status == "ok":
            result.status = "failed"
    manifest["analysis"] = {"requests": len(analysis.requests),
                            "connections": len(analysis.connections),
                            "warnings": analysis.warnings[:50],
                            "warning_count": len(analysis.warnings)}


def analyze_folder(run_dir: Path, manifest: dict, result: RunResult, progress: bool) -> None:
    """Analyze the capture files in ``run_dir`` (a run that did not stop itself: its
    manifest has no capture result), as :func:`_analyze_run` does."""
    files = sorted(str(p) for p in run_dir.glob("capture*.pcap*"))
    if not files:
        manifest["analysis"] = {"skipped": "no capture file in the folder"}
        result.problems.append("no capture file in the folder")
        return
    probe = probe_port(manifest)
    found = types.SimpleNamespace(path=files[0] if len(files) == 1 else files, probe_port=probe)
    config = types.SimpleNamespace(progress=progress)
    _analyze_run(config, run_dir, found, result, manifest, _Say(progress))


# -- runs whose process was killed (found by .abandoned) -----------------------------------
def finish_run(run_dir: Path, progress: bool = False) -> str:
    """Mark ``run_dir`` abandoned and analyze what it holds; returns a one-line account."""
    manifest = read_manifest(run_dir) or {}
    pid = (manifest.get("process") or {}).get("pid")
    result = RunResult(run_dir, status="abandoned",
                       problems=list(manifest.get("problems") or [])
                       + [f"abandoned: the run's process (pid {pid}) ended without finishing "
                          "(killed?); found and analyzed later"])
    manifest["abandoned_found_ns"] = time.time_ns()
    manifest["status"] = "abandoned"          # first: a crash in the analysis leaves it marked
    write_manifest(run_dir, manifest)
    analyze_folder(run_dir, manifest, result, progress)
    manifest["problems"] = result.problems
    write_manifest(run_dir, manifest)
    write_summary(run_dir, manifest, result.analysis, result.joined)
    count = len(result.analysis.requests) if result.analysis is not None else 0
    return (f"abandoned run {run_dir.name}: marked 'abandoned', {count} requests analyzed"
            if result.analysis is not None else
            f"abandoned run {run_dir.name}: marked 'abandoned'; "
            + (result.problems[-1] if result.problems else "nothing to analyze"))


def finish_abandoned(parent, progress: bool = False) -> list[str]:
    """:func:`finish_run` for every abandoned run under ``parent``; one line per run."""
    notes = []
    for run_dir in abandoned_runs(parent):
        try:
            notes.append(finish_run(run_dir, progress))
        except OSError as exc:
            notes.append(f"abandoned run {run_dir.name}: could not be finished: "
                         f"{exc.strerror or exc}")
    return notes
