"""Run the embedded server as a subprocess, and wait for any TF Serving to be ready.

:class:`ServerProcess` starts ``python -m inferwire.cli serve ...``, waits for its ready line
(``ready grpc=HOST:PORT rest=HOST:PORT ...`` on stdout) and stops it with SIGTERM (SIGKILL after a
grace period).  :func:`wait_ready` polls a port until a server answers there.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
import http.client

from ..errors import ServerError

STOP_TIMEOUT_S = 10.0   # at least this long between SIGTERM and SIGKILL
STOP_PER_START = 3.0    # ... or this many times the server's own start time
READY = re.compile(r"^ready grpc=(\S+) rest=(\S+)")


def wait_ready(host: str, port: int, timeout: float = 60.0, *, rest_model: str | None = None,
               process: subprocess.Popen | None = None) -> None:
    """Return once ``host:port`` accepts TCP connections (and, with ``rest_model``, once
    ``GET /v1/models/<rest_model>`` answers 200); ServerError on timeout or if ``process`` exits."""
    deadline = time.monotonic() + timeout
    last = "nothing tried"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServerError(f"server process exited with code {process.returncode} before ready")
        try:
            with socket.create_connection((host, port), timeout=1.0):
                pass
            if rest_model is None or _rest_status_ok(host, port, rest_model):
                return
            last = "model status not 200"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise ServerError(f"no server ready at {host}:{port} after {timeout:.0f} s ({last})")


def _rest_status_ok(host: str, port: int, model: str) -> bool:
    conn = http.client.HTTPConnection(host, port, timeout=2.0)
    try:
        conn.request("GET", f"/v1/models/{model}")
        return conn.getresponse().status == 200
    finally:
        conn.close()


def _split_hostport(text: str) -> tuple[str, int] | None:
    if text == "off":
        return None
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


WAIT_SLICE_S = 0.05


def _wait_in_slices(event: threading.Event, timeout_s: float) -> bool:
    """``event.wait(timeout_s)`` that a Ctrl-C or SIGTERM interrupts within ``WAIT_SLICE_S``.

    The kernel may deliver a process signal to any thread: delivered to the output pump blocked
    in its read, its Python handler waits until the main thread runs bytecode again, which a
    main thread asleep in one long ``Event.wait`` would not do before the ready line."""
    deadline = time.monotonic() + timeout_s
    while not event.wait(min(WAIT_SLICE_S, max(0.0, deadline - time.monotonic()))):
        if time.monotonic() >= deadline:
            return False
    return True


class ServerProcess:
    """``inferwire serve`` in a child process.  ``args``: serve's flags, e.g.
    ``["--model_base_path", d, "--port", "0", "--rest_api_port", "0"]`` (0 = any free port)."""

    def __init__(self, args: list[str], *, ready_timeout: float = 120.0, env: dict | None = None):
        self.args, self.ready_timeout = list(args), ready_timeout
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.grpc: tuple[str, int] | None = None
        self.rest: tuple[str, int] | None = None
        self.ready_line = ""
        self.start_s: float | None = None       # seconds from launch to the ready line
        self.output: deque[str] = deque(maxlen=200)  # the child's last lines, for error messages

    @property
    def grpc_port(self) -> int | None:
        return self.grpc[1] if self.grpc else None

    @property
    def rest_port(self) -> int | None:
        return self.rest[1] if self.rest else None

    def start(self) -> "ServerProcess":
        cmd = [sys.executable, "-m", "inferwire.cli", "serve", *self.args]
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        launched = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=env, bufsize=1)
        try:        # Thread.start() waits too: a Ctrl-C may land there
            ready = threading.Event()
            threading.Thread(target=self._pump, args=(ready,), daemon=True).start()
            _wait_in_slices(ready, self.ready_timeout)
        except BaseException:       # Ctrl-C while it starts: it dies now, not seconds later
            self.proc.kill()
            self.proc.wait()
            raise
        if not ready.is_set() or not self.ready_line:
            tail = "\n".join(list(self.output)[-20:])
            self.stop()
            raise ServerError(f"inferwire serve did not become ready in {self.ready_timeout:.0f} s; "
                              f"its output ended with:\n{tail}")
        self.start_s = time.monotonic() - launched
        return self

    def _pump(self, ready: threading.Event) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.output.append(line)
            m = READY.match(line)
            if m and not ready.is_set():
                self.ready_line = line
                self.grpc, self.rest = _split_hostport(m.group(1)), _split_hostport(m.group(2))
                ready.set()
        ready.set()  # the process ended (stdout closed): start() reports the failure

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds (default :meth:`stop_timeout`);
        returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(self.stop_timeout() if timeout is None else timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def stop_timeout(self) -> float:
        """Seconds a SIGTERM'd server gets to exit: ``STOP_TIMEOUT_S``, or ``STOP_PER_START``
        times its own start time if longer.  Its exit (1 s of gRPC grace, then TensorFlow
        released) took 1.1-1.2 s here against a 4.0-4.3 s start, measured on this shared 2-core
        host; a loaded host stretches both, so a slow stop is not taken for a hung server."""
        return max(STOP_TIMEOUT_S, STOP_PER_START * (self.start_s or 0.0))

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
