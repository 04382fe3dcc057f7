"""What keeps a capture run's promises when it is cut short: no process outlives the run, every
teardown step runs, and a signal during teardown does not cut it.

* :class:`Supervisor`: a small process (:mod:`.supervisor`) that ends every process the run
  started if the run's own process dies without doing so (SIGKILL included).
* :func:`terminate_as_interrupt`: SIGTERM and SIGHUP raise :class:`Terminated` (a
  KeyboardInterrupt), so they take the same orderly path as Ctrl-C: load stopped, capture
  flushed, server stopped, what was measured analyzed.
* :func:`deferred_signals`: SIGINT/SIGTERM/SIGHUP noted, not raised, while a teardown runs
  (a second Ctrl-C during the stop used to leave the manifest at ``running`` for ever).
* :class:`Steps`: teardown steps run one after the other; a failing one (a full disk) is noted
  and the next one still runs; the errors are reported together.

Reuse: anything that starts processes for a run (other servers, network namespaces) needs no
hook: the supervisor finds the run's descendants by itself, and the ones handed on to init by
the mark in their environment (keep ``os.environ`` in the environment you give a process).  Its own teardown steps go through
:class:`Steps` inside :func:`deferred_signals`.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import threading
from dataclasses import dataclass, field

from ..guardian import release_guardian, start_guardian
from . import supervisor as _supervisor_module

SUPERVISOR_GRACE_S = 5.0     # SIGTERM -> SIGKILL: dumpcap flushes a 256 MiB buffer well within


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP reached the run: handled like Ctrl-C (``signal_name`` says which)."""

    def __init__(self, signal_name: str):
        super().__init__(signal_name)
        self.signal_name = signal_name


class Supervisor:
    """The run's supervising process: ``start()`` at the run's beginning, ``done()`` at its
    normal end (then it exits without touching anything)."""

    def __init__(self, grace_s: float = SUPERVISOR_GRACE_S):
        self.grace_s = grace_s
        self.proc: subprocess.Popen | None = None
        self.error: str | None = None     # why it could not start (the run goes on without)
        self._mark: str | None = None
        self._before: str | None = None   # the mark variable's value before (a run inside one)

    def start(self) -> "Supervisor":
        """Start it, and mark what this process starts from now on (the environment variable
        :data:`~.supervisor.RUN_MARK` holds a token only the supervisor knows, until
        :meth:`done`): what the run started just before it was killed is found by it."""
        mark = secrets.token_hex(16)
        try:
            self.proc = start_guardian(_supervisor_module.__file__, os.getpid(), self.grace_s,
                                       mark)
        except OSError as exc:
            self.error = (f"no supervising process ({exc.strerror or exc}): if this run is "
                          "killed, what it started may outlive it")
            return self
        self._mark, self._before = mark, os.environ.get(_supervisor_module.RUN_MARK)
        os.environ[_supervisor_module.RUN_MARK] = mark
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def done(self) -> None:
        """Tell it the run ended normally and wait for it; the mark goes (idempotent)."""
        proc, self.proc = self.proc, None
        if self._mark is not None and os.environ.get(_supervisor_module.RUN_MARK) == self._mark:
            if self._before is None:
                del os.environ[_supervisor_module.RUN_MARK]
            else:
                os.environ[_supervisor_module.RUN_MARK] = self._before
        self._mark = None
        if proc is not None:
            release_guardian(proc)


@dataclass
class Received:
    """The SIGTERM/SIGHUP :func:`terminate_as_interrupt` turned into :class:`Terminated`."""
    names: list = field(default_factory=list)

    def exception(self) -> KeyboardInterrupt:
        """What to raise again after a load engine swallowed the interrupt: Terminated if a
        termination signal came, else KeyboardInterrupt (Ctrl-C)."""
        return Terminated(self.names[-1]) if self.names else KeyboardInterrupt()


@contextlib.contextmanager
def terminate_as_interrupt():
    """Inside: SIGTERM and SIGHUP raise :class:`Terminated` in the main thread (the yielded
    :class:`Received` lists them).  Outside the main thread it does nothing."""
    received = Received()
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def raise_terminated(signum, frame):
        received.names.append(signal.Signals(signum).name)
        raise Terminated(signal.Signals(signum).name)

    previous = {s: signal.signal(s, raise_terminated) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield received
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@dataclass
class Deferred:
    """Signals that arrived while deferred, by name, in order."""
    names: list = field(default_factory=list)

    @property
    def interrupted(self) -> bool:
        return bool(self.names)


@contextlib.contextmanager
def deferred_signals(say=None):
    """Inside: SIGINT, SIGTERM and SIGHUP are noted in the yielded :class:`Deferred` (and said
    through ``say``), not raised, so the steps inside all run.  Main thread only (elsewhere
    nothing is deferred)."""
    deferred = Deferred()
    if threading.current_thread() is not threading.main_thread():
        yield deferred
        return

    def note(signum, frame):
        deferred.names.append(signal.Signals(signum).name)
        if say is not None:
            say(f"{signal.Signals(signum).name}: finishing the teardown first (capture, "
                "server, manifest), then stopping")

    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, note) for s in signals}
    try:
        yield deferred
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class Steps:
    """Teardown steps that all run: ``run(name, fn, *args)`` returns ``fn``'s value, or None
    when it raised (an Exception: noted in :attr:`errors` as ``"name: error"``)."""

    def __init__(self):
        self.errors: list[str] = []

    def run(self, name: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:     # noqa: BLE001 - every step must run whatever one raised
            self.errors.append(f"{name}: {_describe(exc)}")
            return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return f"{type(exc).__name__}: {exc}" if not str(exc).startswith(type(exc).__name__) \
        else str(exc)
