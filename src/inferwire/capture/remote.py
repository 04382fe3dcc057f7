"""Remote capture: ``tcpdump -w -`` on the server's host over ssh, streamed to a local file.

For servers on another host (as in the seed: TF Serving in docker elsewhere), the packets must be
captured where the server is.  RemoteCapture runs tcpdump there through ssh and writes its pcap
stream to a local file (0600) as it arrives; liveness is proven the same way as locally (probe
SYNs to ``probe_port`` on the remote host, read back from the local file).  The remote clock's
offset to the local clock is estimated before start and after stop (NTP-style exchanges of
``date +%s%N`` over one ssh session) and recorded in the result: a remote capture's timestamps
are on the remote clock.

The remote side is a small POSIX sh script (it must be a string: ssh hands the command to the
remote shell), every argument quoted with shlex.quote: it starts tcpdump in the background and
stops it with SIGTERM (tcpdump flushes and reports its counts) when our end of the ssh stdin
closes, which also happens if this process dies.
"""
from __future__ import annotations

import os
import select
import shlex
import shutil
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from ..errors import CaptureError
from .bpf import build_filter
from .probe import Probe
from .process import ToolProcess
from .session import MIN_SNAPLEN, CaptureSession, check_output_path
from .tools import DEBIAN_PACKAGES, ToolInfo

# "$@" is the tcpdump argv.  A watcher stops it with SIGTERM when stdin (our pipe through ssh)
# closes; the script ends when tcpdump does (so an early failure ends the stream at once).  The
# watcher's stdout/stderr go to /dev/null so it never holds the ssh channel open.
REMOTE_SCRIPT = ('exec 3<&0; "$@" <&- & pid=$!; '
                 '(read _ <&3; kill -TERM "$pid") >/dev/null 2>&1 & watcher=$!; '
                 'wait "$pid"; status=$?; kill "$watcher" 2>/dev/null; exit "$status"')
CLOCK_SCRIPT = 'while read _; do date +%s%N; done'


@dataclass(frozen=True)
class ClockOffset:
    """Remote clock minus local clock, in ns: remote_ns = local_ns + offset_ns.

    ``uncertainty_ns`` is half the round trip of the exchange used (the offset is exact within
    it if the remote read its clock somewhere during the round trip), ``rtt_ns`` that round trip,
    ``samples`` how many exchanges were made, ``measured_at_ns`` the local time of the best one.
    """
    offset_ns: int
    uncertainty_ns: int
    rtt_ns: int
    samples: int
    measured_at_ns: int

    def to_local_ns(self, remote_ns: int) -> int:
        """A remote timestamp on the local clock."""
        return remote_ns - self.offset_ns


def estimate_clock_offset(samples: Iterable[tuple[int, int, int]]) -> ClockOffset:
    """Offset from (local send ns, remote clock ns, local receive ns) exchanges.

    The exchange with the shortest round trip is used; the remote reading is assumed to be taken
    half-way through it (NTP's symmetric-delay assumption), so the error is at most rtt/2.
    """
    samples = list(samples)
    if not samples:
        raise CaptureError("no clock samples to estimate the remote clock offset from")
    for sent, _, received in samples:
        if received < sent:
            raise CaptureError(f"clock sample received ({received}) before sent ({sent})")
    sent, remote, received = min(samples, key=lambda s: s[2] - s[0])
    rtt = received - sent
    return ClockOffset(offset_ns=remote - (sent + received) // 2, uncertainty_ns=(rtt + 1) // 2,
                       rtt_ns=rtt, samples=len(samples), measured_at_ns=(sent + received) // 2)


@dataclass(frozen=True)
class RemoteOptions:
    """A remote capture.  ``ssh`` is the local ssh argv prefix (add ``-i KEY``, ``-p PORT``...);
    ``sudo`` runs tcpdump with ``sudo -n``.  The probe goes to ``probe_host`` (default: ``host``)
    port ``probe_port``, which needs no listener; pick one no server of interest uses."""
    host: str
    output: str | os.PathLike
    interface: str = "any"
    ports: tuple[int, ...] = (8500, 8501)
    ssh: tuple[str, ...] = ("ssh", "-o", "BatchMode=yes")
    sudo: bool = False
    tcpdump: str = "tcpdump"
    snaplen: int = 0
    buffer_mb: int = 256
    extra_filter: str | None = None
    probe_host: str | None = None
    probe_port: int = 9
    clock_samples: int = 8
    start_timeout_s: float = 15.0
    stop_timeout_s: float = 10.0
    drain_timeout_s: float = 5.0
    overwrite: bool = False
    watchdog: bool = True

    def __post_init__(self):
        if self.snaplen and self.snaplen < MIN_SNAPLEN:
            raise CaptureError(f"snaplen {self.snaplen} is too small: use 0 or >= {MIN_SNAPLEN}")
        if self.clock_samples < 1:
            raise CaptureError("clock_samples must be at least 1")


def tcpdump_argv(options: RemoteOptions, capture_filter: str) -> list[str]:
    """The remote tcpdump argv: pcap with ns timestamps on stdout, flushed per packet."""
    argv = (["sudo", "-n"] if options.sudo else []) + [
        options.tcpdump, "-i", options.interface, "-U", "-n", "-s", str(options.snaplen),
        "-B", str(options.buffer_mb * 1024), "--time-stamp-precision=nano", "-w", "-"]
    return argv + ([capture_filter] if capture_filter else [])


def ssh_argv(options: RemoteOptions, remote_argv: list[str], script: str = REMOTE_SCRIPT
             ) -> list[str]:
    """Local argv: ssh, then one remote command string in which every word is shell-quoted."""
    command = shlex.join(["sh", "-c", script, "inferwire-capture", *remote_argv])
    return [*options.ssh, options.host, command]


def measure_clock_offset(options: RemoteOptions, timeout_s: float = 10.0) -> ClockOffset:
    """Estimate the remote clock offset with ``clock_samples`` exchanges over one ssh session."""
    argv = [*options.ssh, options.host, shlex.join(["sh", "-c", CLOCK_SCRIPT])]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        _exchange(proc, timeout_s)             # the first one also pays for the shell's start
        samples = [_exchange(proc, timeout_s) for _ in range(options.clock_samples)]
    finally:
        proc.stdin.close()
        try:
            proc.wait(5.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    return estimate_clock_offset(samples)


def _exchange(proc: subprocess.Popen, timeout_s: float) -> tuple[int, int, int]:
    sent = time.time_ns()
    proc.stdin.write(b"\n")
    proc.stdin.flush()
    line = b""
    while not line.endswith(b"\n"):
        if not select.select([proc.stdout], [], [], timeout_s)[0]:
            raise CaptureError(f"no answer from the remote clock within {timeout_s} s")
        chunk = os.read(proc.stdout.fileno(), 64)
        if not chunk:
            err = proc.stderr.read().decode(errors="replace").strip()
            raise CaptureError(f"ssh ended while reading the remote clock: {err[-500:]}")
        line += chunk
    received = time.time_ns()
    text = line.strip().decode(errors="replace")
    if not text.isdigit():
        raise CaptureError(f"remote `date +%s%N` printed {text!r}: it needs GNU date (%N)")
    return sent, int(text), received


class RemoteCapture(CaptureSession):
    """A capture on ``options.host`` over ssh; same API and result as CaptureSession.

    The result's ``clock_offset`` holds the estimates before start and after stop (``before``,
    ``after``: :class:`ClockOffset` fields); its packet times are on the remote clock.
    """

    def __init__(self, options: RemoteOptions):
        super().__init__(options)
        self._stream_thread: threading.Thread | None = None
        self._stream_done = threading.Event()
        self._stream_error: BaseException | None = None
        self._clock_before: ClockOffset | None = None

    def _prepare(self) -> list[str]:
        opts = self.options
        if shutil.which(opts.ssh[0]) is None:
            raise CaptureError(f"{opts.ssh[0]} not found; install it (Debian/Ubuntu: sudo apt-get "
                               f"install {DEBIAN_PACKAGES['ssh']})")
        self._output = check_output_path(opts, "tcpdump")
        self._clock_before = measure_clock_offset(opts)
        self.tool = ToolInfo("tcpdump", f"{opts.host}:{opts.tcpdump}", self._remote_version())
        self._probe = Probe(opts.probe_host or opts.host, opts.probe_port, listen=False)
        self.capture_filter = build_filter(opts.ports, self._probe.port, opts.extra_filter)
        return ssh_argv(opts, tcpdump_argv(opts, self.capture_filter))

    def _remote_version(self) -> str:
        argv = [*self.options.ssh, self.options.host, shlex.join([self.options.tcpdump,
                                                                  "--version"])]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired as exc:
            raise CaptureError(f"ssh {self.options.host} timed out") from exc
        lines = [ln for ln in (done.stdout + done.stderr).splitlines() if "tcpdump" in ln]
        if done.returncode != 0 or not lines:
            raise CaptureError(f"cannot run {self.options.tcpdump} on {self.options.host} "
                               f"(exit {done.returncode}): {(done.stderr or done.stdout)[-500:]}")
        return lines[0].strip()

    def _spawn(self, argv: list[str]) -> ToolProcess:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (0 if self.options.overwrite else os.O_EXCL)
        out_fd = os.open(self._output, flags, 0o600)
        try:
            process = ToolProcess(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  watchdog=self.options.watchdog)
        except BaseException:
            os.close(out_fd)
            raise
        thread = None
        try:        # Thread.start() waits too: a Ctrl-C there must not orphan ssh and its tool
            thread = threading.Thread(target=self._stream, args=(process, out_fd), daemon=True,
                                      name="inferwire-remote-capture")
            thread.start()
        except BaseException:
            process.stop(2.0)                   # its stdout ends: a started thread ends too
            if thread is not None and thread.ident is not None:    # it was really started
                thread.join(5.0)
            alive = thread is not None and thread.is_alive()
            if not alive and not self._stream_done.is_set():    # no thread closed out_fd
                os.close(out_fd)
            raise
        self._stream_thread = thread
        return process

    def _stream(self, process: ToolProcess, out_fd: int) -> None:
        """Copy the pcap stream to the local file as it arrives (unbuffered: probes see it)."""
        source = process.proc.stdout.fileno()
        try:
            for chunk in iter(lambda: os.read(source, 1 << 20), b""):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(out_fd, view):]
        except BaseException as exc:            # e.g. the local disk is full
            self._stream_error = exc
        finally:
            os.close(out_fd)
            self._stream_done.set()

    def _alive(self) -> bool:
        return not self._stream_done.is_set() and self._process.alive()

    def _terminate(self) -> tuple[int, str]:
        try:                                     # closing stdin makes the remote script stop
            self._process.proc.stdin.close()     # tcpdump with SIGTERM, and so flush
        except OSError:
            pass
        self._stream_done.wait(self.options.stop_timeout_s)
        code, how = self._process.stop(self.options.stop_timeout_s, first_signal=None)
        self._stream_done.wait(5.0)
        return code, how

    def stop(self, drain: bool = True):
        try:
            return super().stop(drain)
        finally:
            if self._stream_error is not None and self.result is not None:
                self.result.stderr += f"\n[local write failed: {self._stream_error}]"

    def _result_extras(self) -> dict:
        after = None
        try:
            after = measure_clock_offset(self.options)
        except CaptureError:
            pass                                   # the estimate before start still stands
        return {"remote_host": self.options.host,
                "clock_offset": {"before": asdict(self._clock_before),
                                 "after": asdict(after) if after else None}}
