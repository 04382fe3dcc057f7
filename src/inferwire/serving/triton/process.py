"""Start ``tritonserver``, wait until it and its models are ready, stop it leaving nothing behind.

The server runs in its own session (process group: its Python-backend stubs are in it too), with
``PR_SET_PDEATHSIG`` so that it gets SIGTERM if inferwire itself is killed (even by SIGKILL).
:meth:`TritonProcess.stop` sends SIGTERM, then SIGKILL after a grace period, then SIGKILL to the
whole group, and removes the shared memory its Python backend left (:mod:`.shm`).  Every line
Triton prints goes to ``log_path``; errors quote Triton's own lines.
"""
from __future__ import annotations

import ctypes
import http.client
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import ServerError
from ...netns import NetworkError
from ...netns.enter import entered
from . import shm
from .install import TritonInstall

# Triton's error lines look like: E1204 23:01:02.123456 12 file.cc:1] "message"
GLOG_ERROR = re.compile(r"^E\d{4} ")
# Error lines Triton prints on every CPU-only start: not a cause.
NOISE = ("CudaDriverHelper has not been initialized",)
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class TritonOptions:
    """How to run the server.  Ports on 127.0.0.1 (``host``); ``trace_file`` None = no trace
    (else level TIMESTAMPS, every request, written every ``trace_flush`` traces into
    ``trace_file.0``, ``.1``...; :meth:`TritonProcess.flush_trace` writes the rest.  Default 1,
    a file per request: a killed server loses none, and a request Triton rejects (e.g. a wrong
    shape) never completes its trace, after which Triton 2.51 never writes a partial group);
    ``cache_config`` e.g. ("local,size=1048576",) for the response
    cache; ``ready_timeout_s``: how long the server and ``models`` may take to become ready;
    ``namespace``: the network namespace the server is started in and reached in (``host`` an
    address there; None: this process's)."""

    http_port: int
    grpc_port: int
    metrics_port: int
    models: tuple = ("mnist",)
    host: str = "127.0.0.1"
    trace_file: str | None = None
    trace_flush: int = 1
    cache_config: tuple = ()
    ready_timeout_s: float = 60.0
    exit_timeout_s: int = 5
    extra_args: tuple = field(default_factory=tuple)
    namespace: str | None = None


def server_argv(install: TritonInstall, repository: Path, backends: Path,
                opts: TritonOptions) -> list[str]:
    """The ``tritonserver`` command line (pure)."""
    argv = [str(install.binary), "--model-repository", str(repository),
            "--backend-directory", str(backends),
            "--cache-directory", str(install.root / "caches"),
            "--http-address", opts.host, "--http-port", str(opts.http_port),
            "--grpc-address", opts.host, "--grpc-port", str(opts.grpc_port),
            "--metrics-address", opts.host, "--metrics-port", str(opts.metrics_port),
            "--allow-metrics", "true", "--allow-gpu-metrics", "false",
            "--strict-readiness", "true", "--exit-on-error", "true",
            "--exit-timeout-secs", str(opts.exit_timeout_s), "--log-verbose", "0"]
    if opts.trace_file:
        argv += ["--trace-config", f"triton,file={opts.trace_file}",
                 "--trace-config", f"triton,log-frequency={opts.trace_flush}",
                 "--trace-config", "level=TIMESTAMPS", "--trace-config", "rate=1",
                 "--trace-config", "count=-1"]
    for cache in opts.cache_config:
        argv += ["--cache-config", cache]
    return argv + list(opts.extra_args)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies (Linux prctl)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class TritonProcess:
    """One ``tritonserver``.  ``start()`` returns once ready (ServerError quoting Triton's error
    line otherwise, with the process stopped); ``stop()`` returns the exit code."""

    def __init__(self, install: TritonInstall, repository: Path, backends: Path,
                 opts: TritonOptions, log_path: Path):
        self.install, self.repository, self.backends = install, repository, backends
        self.opts, self.log_path = opts, Path(log_path)
        self.proc: subprocess.Popen | None = None
        self.lines: deque[str] = deque(maxlen=400)
        self.errors: list[str] = []
        self.metadata: dict = {}
        self._pump_done = threading.Event()
        self._regions_before: set[str] | None = None

    @property
    def argv(self) -> list[str]:
        return server_argv(self.install, self.repository, self.backends, self.opts)

    def start(self) -> "TritonProcess":
        self._regions_before = shm.regions()
        with entered(self.opts.namespace):     # the server is born in its namespace
            self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=self.install.environment(),
                                         start_new_session=True, preexec_fn=_die_with_parent)
        try:        # Thread.start() waits too: a Ctrl-C may land there
            threading.Thread(target=self._pump, daemon=True).start()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.metadata = self._get_json("/v2") or {}
        return self

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with open(self.log_path, "ab") as log:
            for raw in self.proc.stdout:
                log.write(raw)
                log.flush()
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.lines.append(line)
                if (GLOG_ERROR.match(line) and len(self.errors) < 50
                        and not any(n in line for n in NOISE)):
                    self.errors.append(line)
        self._pump_done.set()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.opts.ready_timeout_s
        paths = ["/v2/health/ready", *(f"/v2/models/{m}/ready" for m in self.opts.models)]
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._pump_done.wait(5)
                raise ServerError(f"tritonserver exited with code {self.proc.returncode} before "
                                  f"it was ready: {self.cause()}")
            if (all(self._status(p) == 200 for p in paths)
                    and self._status("/metrics", self.opts.metrics_port) == 200):
                return
            time.sleep(0.1)
        raise ServerError(f"tritonserver was not ready within {self.opts.ready_timeout_s:g} s "
                          f"(waited for {', '.join(paths)} and :{self.opts.metrics_port}/metrics);"
                          f" Triton's last words: {self.cause()}")

    def cause(self) -> str:
        """Triton's own error line(s), else its last log line."""
        if self.errors:
            return " | ".join(_strip_glog(e) for e in self.errors[-2:])
        tail = [ln for ln in self.lines if ln.strip()]
        return tail[-1].strip() if tail else "(it printed nothing)"

    def _status(self, path: str, port: int | None = None) -> int | None:
        conn = http.client.HTTPConnection(self.opts.host, port or self.opts.http_port, timeout=2.0)
        try:
            with entered(self.opts.namespace):
                conn.request("GET", path)
            return conn.getresponse().status
        except (OSError, NetworkError):     # NetworkError: its namespace is gone
            return None
        finally:
            conn.close()

    def _get_json(self, path: str) -> dict | None:
        conn = http.client.HTTPConnection(self.opts.host, self.opts.http_port, timeout=5.0)
        try:
            with entered(self.opts.namespace):
                conn.request("GET", path)
            resp = conn.getresponse()
            return json.loads(resp.read()) if resp.status == 200 else None
        except (OSError, ValueError, NetworkError):
            return None
        finally:
            conn.close()

    def flush_trace(self, wait_s: float = 2.0) -> bool:
        """Have Triton write the traces it holds (fewer than ``trace_flush``) now: re-posting the
        trace setting flushes them (Triton does not at shutdown), in the background: wait up to
        ``wait_s`` for the new file.  True if a new trace file appeared."""
        if not self.opts.trace_file or not self.alive():
            return False
        base = Path(self.opts.trace_file)
        before = len(list(base.parent.glob(base.name + ".*")))
        body = json.dumps({"log_frequency": str(self.opts.trace_flush)})
        conn = http.client.HTTPConnection(self.opts.host, self.opts.http_port, timeout=5.0)
        try:
            with entered(self.opts.namespace):
                conn.request("POST", "/v2/trace/setting", body,
                             {"Content-Type": "application/json"})
            conn.getresponse().read()
        except (OSError, NetworkError):
            return False
        finally:
            conn.close()
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if len(list(base.parent.glob(base.name + ".*"))) > before:
                time.sleep(0.05)   # let the writer finish the file
                return True
            time.sleep(0.02)
        return False

    def model_config(self, model: str) -> dict | None:
        """The model's configuration as the running server reports it (``GET .../config``)."""
        return self._get_json(f"/v2/models/{model}/config")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace_s: float = 15.0) -> int | None:
        """SIGTERM, SIGKILL after ``grace_s``; then SIGKILL to whatever is left of its group."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)   # stubs that outlived their server
        except (ProcessLookupError, PermissionError):
            pass
        self._pump_done.wait(5)
        if self._regions_before is not None:     # a killed server's Python-backend memory
            shm.remove_left(self._regions_before)
        return self.proc.returncode


def _strip_glog(line: str) -> str:
    """``E1204 23:01:02.123 77 model_lifecycle.cc:654] failed to load`` -> the message after ``] ``,
    keeping the source location: ``model_lifecycle.cc:654: failed to load``."""
    m = re.match(r"^E\d{4} \S+\s+\d+\s+(\S+)\]\s?(.*)$", line)
    if not m:
        return line
    message = m.group(2).strip().strip('"').split("\\n")[0].strip()   # first line of it
    return f"{m.group(1)}: {message}"
