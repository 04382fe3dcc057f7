"""A capture tool's process: started from an argv list, stderr kept, watched, stopped gracefully."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

from ..errors import CaptureError
from ..guardian import release_guardian, start_guardian
from . import watchdog as _watchdog_module

STDERR_HEAD, STDERR_TAIL = 16_384, 65_536


class StderrBuffer:
    """Keeps the first and the last bytes of a stream read in a thread (bounded memory)."""

    def __init__(self, stream):
        self._head, self._tail, self._lock = bytearray(), bytearray(), threading.Lock()
        self._skipped = 0
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True,
                                        name="inferwire-capture-stderr")
        self._thread.start()

    def _read(self, stream) -> None:
        for chunk in iter(lambda: os.read(stream.fileno(), 65536), b""):
            with self._lock:
                room = STDERR_HEAD - len(self._head)
                self._head += chunk[:max(room, 0)]
                self._tail += chunk[max(room, 0):]
                if len(self._tail) > STDERR_TAIL:
                    self._skipped += len(self._tail) - STDERR_TAIL
                    del self._tail[:-STDERR_TAIL]
        stream.close()

    def text(self) -> str:
        with self._lock:
            gap = f"\n[... {self._skipped} bytes of stderr not kept ...]\n" if self._skipped else ""
            return (bytes(self._head).decode(errors="replace") + gap
                    + bytes(self._tail).decode(errors="replace"))

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout_s)


class ToolProcess:
    """A running capture tool.

    Started in its own session, so a Ctrl-C on the terminal reaches only inferwire, which then
    stops the tool in order (stop barrier first).  Files it creates get mode 0600 (umask 077).
    With ``watchdog=True`` a small process stops the tool if this one dies without doing so.
    """

    def __init__(self, argv: list[str], *, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                 watchdog: bool = True):
        if not all(isinstance(a, str) for a in argv):
            raise TypeError("argv must be a list of str")
        self.argv = list(argv)
        try:
            self.proc = subprocess.Popen(self.argv, stdin=stdin, stdout=stdout,
                                         stderr=subprocess.PIPE, umask=0o077,
                                         start_new_session=True)
        except OSError as exc:
            raise CaptureError(f"cannot start {argv[0]}: {exc}") from exc
        try:        # a Ctrl-C here (a thread start, the watchdog's start) must not orphan it
            self.stderr = StderrBuffer(self.proc.stderr)
            self._watchdog = self._start_watchdog() if watchdog else None
        except BaseException:
            self.proc.kill()
            self.proc.wait()
            raise

    def _start_watchdog(self) -> subprocess.Popen:
        return start_guardian(_watchdog_module.__file__, self.proc.pid)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def pids(self) -> tuple[int, ...]:
        """The tool's process id and its watchdog's (while it has one)."""
        dog = self._watchdog
        return (self.proc.pid,) + ((dog.pid,) if dog is not None else ())

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout_s: float, first_signal: int | None = signal.SIGINT) -> tuple[int, str]:
        """Stop the tool: ``first_signal`` (None: the caller already asked it to stop), then
        SIGTERM, then SIGKILL.  Returns (exit code, how): how is "exited" (before this call),
        "stopped", "terminated" or "killed"."""
        if not self.alive():
            return self._finish(self.proc.returncode, "exited")
        steps = [(first_signal, timeout_s), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)]
        for how, (sig, wait_s) in zip(("stopped", "terminated", "killed"), steps):
            if sig is not None:
                try:
                    self.proc.send_signal(sig)
                except ProcessLookupError:
                    pass
            try:
                return self._finish(self.proc.wait(wait_s), how)
            except subprocess.TimeoutExpired:
                continue
        raise CaptureError(f"{self.argv[0]} (pid {self.pid}) did not exit even after SIGKILL")

    def _finish(self, code: int, how: str) -> tuple[int, str]:
        self.stderr.join(5.0)
        self.release_watchdog()
        return code, how

    def release_watchdog(self) -> None:
        """Tell the watchdog the tool was stopped on purpose and let it exit."""
        dog, self._watchdog = self._watchdog, None
        if dog is not None:
            release_guardian(dog)


def wait_until(predicate, timeout_s: float, interval_s: float = 0.02) -> bool:
    """Poll ``predicate`` until true or ``timeout_s`` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)
    return True
