"""Running a load tool's processes under a capture run: the shell part of the external engines.

A tool runs as child processes whose output goes to new files in the run folder.  The run ends
when the processes exit; or at once (the tool's gentle signal, then SIGKILL after a grace period)
when the run's stop event is set (the server died) or the time limit passes; or on Ctrl-C, after
which the tool is stopped the same way and the result says ``interrupted``.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LoadError
from ..runfolder import client_log_path
from .summary import ToolSummary
from .warmup import warm_up

POLL_S = 0.05


@dataclass
class ToolRun:
    """How the processes ended.  ``started_ns``/``finished_ns``: wall clock just before the
    first process started and just after the first (main) one exited."""
    exit_codes: list = field(default_factory=list)
    started_ns: int = 0
    finished_ns: int = 0
    interrupted: bool = False
    stopped: bool = False
    timed_out: bool = False

    @property
    def exit_code(self) -> int | None:
        return self.exit_codes[0] if self.exit_codes else None


def _open_new(path: Path):
    try:
        return open(path, "x", encoding="utf-8")
    except FileExistsError:
        raise LoadError(f"{path} already exists: tool outputs are never overwritten") from None


def _start(argv, out, env):
    try:
        with _sigint_not_inherited_ignored():
            return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                                    stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise LoadError(f"cannot start {argv[0]}: {exc}") from exc


def _ignore(signum, frame) -> None:
    """SIGINT ignored, as a handler: this process still ignores it, a child starts with it at
    its default."""


@contextlib.contextmanager
def _sigint_not_inherited_ignored():
    """A run started with SIGINT ignored (a background job of a script) would hand that to its
    tools, and the SIGINT that stops them early (ab, h2load, aiperf) would do nothing to a tool
    that keeps the default (aiperf, Python): the grace period would end in SIGKILL, its final
    export lost.  Inside, this process ignores SIGINT
    through a handler instead (exec resets a handled signal, not an ignored one)."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.SIG_IGN):
        yield
        return
    signal.signal(signal.SIGINT, _ignore)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _end(procs, sig, grace_s: float) -> None:
    """``sig`` to every live process, SIGKILL to those still alive after ``grace_s``."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(sig)
    deadline = time.monotonic() + grace_s
    for p in procs:
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def _stop(procs, sig, grace_s: float) -> None:
    """The main process first (a locust master then tells its workers to quit and collects
    their last statistics), then whatever helper outlives the grace period."""
    _end(procs[:1], sig, grace_s)
    if _alive_after(procs[1:], grace_s):
        _end(procs[1:], signal.SIGTERM, grace_s)


def run_processes(commands: list[tuple[list[str], Path]], *, stop, timeout_s: float,
                  env: dict | None = None, stop_signal=signal.SIGINT, grace_s: float = 10.0,
                  start_gap_s: float = 0.0) -> ToolRun:
    """Run ``commands`` ([(argv, output file)], the first is the main process) to their end.
    The others (e.g. locust workers) start ``start_gap_s`` after the main one."""
    files = [_open_new(Path(path)) for _, path in commands]
    procs: list[subprocess.Popen] = []
    run = ToolRun(started_ns=time.time_ns())
    env = dict(os.environ if env is None else env)
    try:
        for k, ((argv, _), out) in enumerate(zip(commands, files)):
            if k == 1 and start_gap_s:
                time.sleep(start_gap_s)
            procs.append(_start(argv, out, env))
        _wait(procs, stop, timeout_s, run, stop_signal, grace_s)
    except KeyboardInterrupt:
        run.interrupted = True
        _stop(procs, stop_signal, grace_s)
    finally:
        if any(p.poll() is None for p in procs):
            _end(procs, signal.SIGKILL, 5)
        run.finished_ns = run.finished_ns or time.time_ns()
        run.exit_codes = [p.returncode for p in procs]
        for f in files:
            f.close()
    return run


def _wait(procs, stop, timeout_s, run: ToolRun, stop_signal, grace_s) -> None:
    deadline = time.monotonic() + timeout_s
    main = procs[0]
    while main.poll() is None:
        if stop.is_set() or time.monotonic() > deadline:
            run.stopped, run.timed_out = stop.is_set(), not stop.is_set()
            _stop(procs, stop_signal, grace_s)
            break
        stop.wait(POLL_S)
    run.finished_ns = time.time_ns()
    # helpers (workers) end when the main process does; give them the grace period to say so
    if _alive_after(procs[1:], grace_s):
        _end(procs[1:], signal.SIGTERM, grace_s)


def _alive_after(procs, grace_s: float) -> bool:
    deadline = time.monotonic() + grace_s
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    return any(p.poll() is None for p in procs)


def run_tool(argv: list[str], output_path: Path, *, stop, timeout_s: float,
             env: dict | None = None, stop_signal=signal.SIGINT, grace_s: float = 10.0) -> ToolRun:
    """One tool process (see :func:`run_processes`)."""
    return run_processes([(argv, output_path)], stop=stop, timeout_s=timeout_s, env=env,
                         stop_signal=stop_signal, grace_s=grace_s)


def time_limit_s(duration_s: float | None, requests: int | None) -> float:
    """How long a tool may run before it is stopped: the duration plus a minute, or a generous
    bound for a request count (a stalled server must not hang the run)."""
    if duration_s is not None:
        return duration_s + 60.0
    return min(3600.0, 60.0 + 0.5 * (requests or 0))


def run_under_capture(ctx, tool: str, argv: list[str], names: dict, *, join: str, fill,
                      requests: int | None):
    """The part every reference-tool engine shares: warm up through inferwire's own client (logged
    as phase ``warmup``), run ``argv`` with its output in ``names["output"]``, build the
    :class:`~inferwire.reference.summary.ToolSummary` (``join``: how its requests join the
    capture), let ``fill(summary, run_dir, names)`` add the tool's own figures, and say it."""
    from ..load import ClientLogWriter  # deferred: load imports numpy
    d = ctx.run_dir
    writer = ClientLogWriter(client_log_path(d, ctx.protocol))
    try:
        warmed = warm_up(ctx, writer)
    finally:
        writer.close()
    ctx.say(f"{tool}: {' '.join(argv[1:])}")
    run = run_tool(argv, d / names["output"], stop=ctx.stop,
                   timeout_s=time_limit_s(ctx.config.duration_s, requests))
    summary = ToolSummary(tool, ctx.protocol, argv=argv, exit_code=run.exit_code,
                          started_ns=run.started_ns, finished_ns=run.finished_ns,
                          warmup_requests=warmed, outputs=names, interrupted=run.interrupted,
                          stopped_early=run.stopped or run.timed_out, join=join)
    fill(summary, d, names)
    ctx.say(summary.describe())
    return summary
