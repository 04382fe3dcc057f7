"""Start and stop KServe's model server (:mod:`.main`, in the KServe venv) serving an MNIST model.

:class:`KServeProcess` runs ``.venv-kserve/bin/python main.py ...`` in its own process group
(stopped as a group: SIGTERM, then SIGKILL), waits until ``GET /v2/models/{m}/ready`` answers 200
and the gRPC port accepts connections, and on failure raises one :class:`ServerError` that names
the cause with the server's own last log lines.  The server also exits by itself when this
process dies (``--parent_pid``).
"""
from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from ...errors import ServerError
from ...runfolder import SERVER_LOG

MAIN = Path(__file__).with_name("main.py")
#: the KServe venv, made by scripts/setup.sh (KServe pins an older protobuf than TensorFlow)
VENV = Path(__file__).resolve().parents[4] / ".venv-kserve"
PYTHON_ENV = "INFERWIRE_KSERVE_PYTHON"


def kserve_python() -> Path:
    """The KServe venv's python (``$INFERWIRE_KSERVE_PYTHON``, else ``.venv-kserve`` at the
    repository root); ServerError saying how to make it when missing."""
    path = Path(os.environ.get(PYTHON_ENV) or VENV / "bin" / "python")
    if not os.access(path, os.X_OK):
        raise ServerError(f"KServe runs in its own venv and {path} does not exist: run "
                          "scripts/setup.sh (it creates .venv-kserve with requirements-kserve.txt)"
                          f", or point {PYTHON_ENV} at a python with kserve installed")
    return path


def kserve_version(python: Path) -> str | None:
    """The installed kserve version of that venv (from its dist-info), or None."""
    for site in python.parent.parent.glob("lib/python*/site-packages"):
        for info in site.glob("kserve-*.dist-info"):
            return info.name[len("kserve-"):-len(".dist-info")]
    return None


class KServeProcess:
    """KServe's model server for one MNIST model on 127.0.0.1:``http_port`` / ``grpc_port``."""

    def __init__(self, weights: str | os.PathLike, *, model_name: str, http_port: int,
                 grpc_port: int, log_path: str | os.PathLike,
                 request_log: str | os.PathLike | None = None, ready_timeout: float = 60.0):
        self.weights, self.model_name = str(weights), model_name
        self.http_port, self.grpc_port = http_port, grpc_port
        self.log_path, self.request_log = Path(log_path), request_log
        self.ready_timeout = ready_timeout
        self.python = kserve_python()
        self.proc: subprocess.Popen | None = None

    def argv(self) -> list[str]:
        argv = [str(self.python), str(MAIN), "--weights", self.weights,
                "--model_name", self.model_name, "--host", "127.0.0.1",
                "--http_port", str(self.http_port), "--grpc_port", str(self.grpc_port),
                "--parent_pid", str(os.getpid())]
        return argv + (["--request_log", str(self.request_log)] if self.request_log else [])

    def start(self) -> "KServeProcess":
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:        # a Ctrl-C landing in the close after the Popen must not orphan it either
            try:
                self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=fd,
                                             stderr=subprocess.STDOUT, start_new_session=True)
            finally:
                os.close(fd)
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"KServe exited with code {self.proc.returncode} before it was "
                                  f"ready; its log ({self.log_path}) ends with:\n{self.tail()}")
            if self._model_ready() and _accepts(self.grpc_port):
                return
            time.sleep(0.2)
        raise ServerError(f"KServe was not ready after {self.ready_timeout:.0f} s (GET "
                          f"/v2/models/{self.model_name}/ready on 127.0.0.1:{self.http_port}); "
                          f"its log ends with:\n{self.tail()}")

    def _model_ready(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=2.0)
        try:
            conn.request("GET", f"/v2/models/{self.model_name}/ready")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM to the server's process group, SIGKILL after ``timeout``; the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        _signal_group(self.proc.pid, signal.SIGKILL)     # anything it left in its group
        return self.proc.returncode

    def __enter__(self) -> "KServeProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def start_for_run(config, run_dir: Path, ports: tuple[int, int], say) -> tuple:
    """A capture run's KServe (``--server kserve``): (process, targets) as the embedded
    server's start gives them.  ``ports``: (gRPC, REST)."""
    from ..numpy_weights import cached_weights  # deferred: serving.numpy_weights imports numpy
    say(f"server: exporting the {config.model} model's weights for KServe (first run only)")
    weights = cached_weights(config.model)
    server = KServeProcess(weights, model_name=config.model_name, http_port=ports[1],
                           grpc_port=ports[0], log_path=run_dir / "kserve.log",
                           request_log=run_dir / SERVER_LOG)
    say(f"server: starting KServe {kserve_version(server.python) or ''} ({config.model} model)")
    server.start()
    try:        # kserve_version globs the venv: a Ctrl-C there must not orphan the server
        return server, {"kind": "kserve", "host": "127.0.0.1", "grpc_port": ports[0],
                        "rest_port": ports[1], "model_name": config.model_name,
                        "kserve_version": kserve_version(server.python),
                        "weights": str(weights), "pid": server.proc.pid, "argv": server.argv()}
    except BaseException:
        server.stop()
        raise
