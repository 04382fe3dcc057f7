"""CaptureSession: a local packet capture (dumpcap, tshark or tcpdump) that is provably live.

    with CaptureSession(CaptureOptions(output="run/capture.pcapng")) as cap:
        run_load(...)               # start() returned only once the capture was seen writing
    result = cap.result             # packets, drops (never hidden), files, command, times

start() checks the tool, the permission and the interface, starts the tool, and returns only once
a probe connection to the session's probe port has been read back from the output file (see
``probe.py``).  stop() runs the same barrier (so the last requests are in the file), sends SIGINT,
waits, and reads the packet and drop counters.  Output files are created 0600.  The tool runs in
its own process session, is stopped by the context manager on any exception (Ctrl-C included), at
interpreter exit, and by a watchdog process if this process is killed.
"""
from __future__ import annotations

import atexit
import glob
import os
import shutil
import time
import warnings
import weakref
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import CaptureError, InferwireWarning
from . import tooloutput
from .bpf import build_filter
from .ifstats import interface_statistics
from .probe import FileTail, Probe, await_probe
from .process import ToolProcess
from .tools import ToolInfo, check_interface, check_privileges, find_tool

DEFAULT_BUFFER_MB = 256     # dumpcap -B 256 dropped nothing at full loopback speed; 2 MB lost 1.6%
MIN_SNAPLEN = 96            # the probe check needs link + IP + TCP port bytes
LOW_DISK_BYTES = 200_000_000


@dataclass(frozen=True)
class RingBuffer:
    """Rotate output files: keep the last ``files`` files of ``megabytes`` (10^6 bytes) or
    ``seconds`` each.  tcpdump rotates by size only."""
    files: int
    megabytes: int | None = None
    seconds: int | None = None

    def __post_init__(self):
        if self.files < 1 or (self.megabytes is None) == (self.seconds is None):
            raise CaptureError("RingBuffer needs files >= 1 and exactly one of megabytes, seconds")


@dataclass(frozen=True)
class CaptureOptions:
    """What to capture and how.  ``output`` is required; everything else has a default.

    ``snaplen`` 0 keeps whole packets.  ``buffer_mb`` is the kernel capture buffer in MiB.
    ``probe_host``/``probe_port``: where liveness probes go (default 127.0.0.1 and a free port
    chosen and held by the session); on an interface other than lo/any, set ``probe_host`` to an
    address whose traffic crosses that interface.  Timeouts are in seconds.
    """
    output: str | os.PathLike
    interface: str = "lo"
    ports: tuple[int, ...] = (8500, 8501)
    tool: str = "dumpcap"
    tool_path: str | None = None
    snaplen: int = 0
    buffer_mb: int = DEFAULT_BUFFER_MB
    ring: RingBuffer | None = None
    extra_filter: str | None = None
    probe_host: str = "127.0.0.1"
    probe_port: int | None = None
    start_timeout_s: float = 10.0
    stop_timeout_s: float = 10.0
    drain_timeout_s: float = 5.0
    overwrite: bool = False
    watchdog: bool = True

    def __post_init__(self):
        if isinstance(self.ring, tuple):
            object.__setattr__(self, "ring", RingBuffer(*self.ring))
        if self.snaplen and self.snaplen < MIN_SNAPLEN:
            raise CaptureError(f"snaplen {self.snaplen} is too small: use 0 (whole packets) "
                               f"or at least {MIN_SNAPLEN}")
        if self.buffer_mb < 1:
            raise CaptureError("buffer_mb must be at least 1 (MiB)")


@dataclass
class CaptureResult:
    """What a finished capture holds.  Times are wall-clock ns (time.time_ns()).

    ``path`` is the first (oldest kept) file, ``files`` all of them.  ``packets`` is the tool's
    own count and ``dropped`` the largest drop count any source reported (the tool's report or the
    pcapng interface statistics); both are None when no source reported them, never guessed.
    ``dropped_by`` holds every source's count (e.g. ``pcap``, ``isb_ifdrop``, ``kernel``).
    ``live_ns`` is when the first probe was read back; ``drained`` whether the stop barrier
    saw its probe (False: the last moments may be missing).  Probe traffic is every packet to or
    from ``probe_port``.
    """
    path: str
    files: list[str]
    packets: int | None
    dropped: int | None
    dropped_by: dict[str, int]
    tool: str
    tool_version: str
    command: list[str]
    started_ns: int
    stopped_ns: int
    stderr: str
    live_ns: int | None = None
    probe_port: int | None = None
    capture_filter: str = ""
    interface: str = ""
    exit_code: int | None = None
    drained: bool | None = None
    remote_host: str | None = None
    clock_offset: dict | None = field(default=None)

    def to_dict(self) -> dict:
        """A JSON-ready dict (for the run manifest)."""
        return asdict(self)


class CaptureDied(CaptureError):
    """The capture tool exited on its own (full disk, interface gone, killed...).

    ``result`` holds what it wrote before it died; the message says why (from its stderr).
    """

    def __init__(self, message: str, result: CaptureResult):
        super().__init__(message)
        self.result = result


def build_argv(options: CaptureOptions, tool: ToolInfo, capture_filter: str,
               output: str, probe_port: int | None) -> list[str]:
    """The tool's argv (a list: no shell ever parses it)."""
    ring, snap = options.ring, str(options.snaplen)
    if tool.name == "tcpdump":
        argv = [tool.path, "-i", options.interface, "-U", "-n", "-s", snap,
                "-B", str(options.buffer_mb * 1024), "--time-stamp-precision=nano", "-w", output]
        if os.geteuid() == 0:
            argv += ["-Z", "root"]     # else tcpdump drops to user "tcpdump", who cannot write here
        if ring is not None:
            if ring.seconds is not None:
                raise CaptureError("tcpdump ring buffers rotate by size only: use megabytes, "
                                   "or tool='dumpcap' for time-based rotation")
            argv += ["-C", str(ring.megabytes), "-W", str(ring.files)]
        return argv + ([capture_filter] if capture_filter else [])
    argv = [tool.path, "-i", options.interface, "-s", snap, "-B", str(options.buffer_mb),
            "-w", output]
    if tool.name == "tshark":
        argv += ["-q", "-F", "pcapng"]
    if capture_filter:
        argv += ["-f", capture_filter]
    if probe_port is not None and ring is None:     # dumpcap refuses comments on ring files
        argv += ["--capture-comment", f"inferwire probe port {probe_port}"]
    if ring is not None:
        size = f"filesize:{ring.megabytes * 1000}" if ring.megabytes else f"duration:{ring.seconds}"
        argv += ["-b", f"files:{ring.files}", "-b", size]
    return argv


def output_files(tool: str, output: str, ring: RingBuffer | None) -> list[str]:
    """The files a capture wrote, oldest first: ``output`` itself, or the ring's files."""
    if ring is None:
        return [output] if os.path.exists(output) else []
    if tool == "tcpdump":
        pattern = glob.escape(output) + "[0-9]*"
    else:
        stem, suffix = os.path.splitext(output)
        pattern = glob.escape(stem) + "_[0-9][0-9][0-9][0-9][0-9]_*" + glob.escape(suffix)
    found = [p for p in glob.glob(pattern) if os.path.isfile(p)]
    return sorted(found, key=lambda p: (os.path.getmtime(p), p))


def enforce_private(files: list[str]) -> None:
    """Make each regular capture file mode 0600 (the tools may create files themselves)."""
    for path in files:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            continue
        if st.st_mode & 0o077 and Path(path).is_file():
            os.chmod(path, 0o600)


def count_packets_and_drops(tool: str, stderr: str, files: list[str]
                            ) -> tuple[int | None, int | None, dict[str, int]]:
    """(packets, dropped, dropped_by) from the tool's report and the last file's pcapng ISBs."""
    packets, drops = tooloutput.parse_counts(tool, stderr)
    dropped = tooloutput.total_drops(tool, drops)
    isb_total = None
    if files and os.path.exists(files[-1]):
        for i, stats in enumerate(interface_statistics(files[-1])):
            for name in ("ifdrop", "osdrop"):
                if name in stats:
                    key = f"isb_{name}" if i == 0 else f"isb{i}_{name}"
                    drops[key] = stats[name]
                    isb_total = (isb_total or 0) + stats[name]
    if isb_total is not None:
        dropped = max(dropped or 0, isb_total)
    return packets, dropped, drops


def check_output_path(options: CaptureOptions, tool: str) -> str:
    """The absolute path ``tool`` will write ``options.output`` to, once checked: its folder
    exists and is writable, and no file of the capture (ring files included) is in the way
    unless ``options.overwrite``.  Raises :class:`CaptureError` naming the problem; warns when
    tcpdump is asked for pcapng or the disk is nearly full.  Used by every capture runner
    (local, remote, in a network namespace)."""
    output = os.path.abspath(os.fspath(options.output))
    parent = os.path.dirname(output)
    if not os.path.isdir(parent):
        raise CaptureError(f"output folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise CaptureError(f"output folder {parent} is not writable by this user")
    existing = output_files(tool, output, getattr(options, "ring", None))
    for path in existing:
        if not os.path.isfile(path) or os.path.islink(path):
            raise CaptureError(f"{path} exists and is not a regular file: choose another output")
    if existing and not options.overwrite:
        raise CaptureError(f"{existing[0]} already exists: captures are never overwritten "
                           "unless overwrite=True; choose a new output path")
    if tool == "tcpdump" and output.endswith(".pcapng"):
        warnings.warn(f"tcpdump writes pcap, not pcapng, to {output}", InferwireWarning,
                      stacklevel=4)
    free = shutil.disk_usage(parent).free
    if free < LOW_DISK_BYTES:
        warnings.warn(f"only {free // 1_000_000} MB free in {parent}: the capture may fill it",
                      InferwireWarning, stacklevel=4)
    return output


# The only module-level state: sessions whose tool is running, stopped at interpreter exit so
# that no capture process outlives the program (the watchdog covers deaths atexit cannot see).
_RUNNING: "weakref.WeakSet[CaptureSession]" = weakref.WeakSet()


@atexit.register
def _stop_running_sessions() -> None:
    for session in list(_RUNNING):
        try:
            session.stop()
        except BaseException:      # at exit every session gets its chance to stop; errors are moot
            pass


class CaptureSession:
    """A local capture on ``options.interface``; see the module docstring."""

    def __init__(self, options: CaptureOptions):
        self.options = options
        self.tool: ToolInfo | None = None
        self.result: CaptureResult | None = None
        self.capture_filter = ""
        self._process: ToolProcess | None = None
        self._probe: Probe | None = None
        self._tail: FileTail | None = None
        self._output = ""
        self._started_ns = self._live_ns = 0

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "CaptureSession":
        """Start the tool; returns once the capture is proven live.  Raises CaptureError."""
        if self._process is not None:
            raise CaptureError("this capture session was already started")
        argv = self._prepare()
        self._tail = FileTail(self.files)
        self._started_ns = time.time_ns()
        try:
            self._process = self._spawn(argv)
        except BaseException:
            self._probe.close()
            raise
        try:        # from the spawn on, whatever raises (a Ctrl-C) stops the tool
            _RUNNING.add(self)
            self._await_live()
        except BaseException:
            self._abort()
            raise
        return self

    @property
    def pids(self) -> tuple[int, ...]:
        """Process ids of the capture tool and its watchdog (none before start): what a
        resource sampler counts as the capture."""
        return self._process.pids if self._process is not None else ()

    # Hooks: what differs between a local capture and a remote one (remote.py).
    def _prepare(self) -> list[str]:
        """Check everything that can be checked before starting; returns the tool's argv."""
        opts = self.options
        self.tool = find_tool(opts.tool, opts.tool_path)
        check_privileges(self.tool)
        check_interface(opts.interface)
        self._output = check_output_path(opts, self.tool.name)
        if opts.overwrite:
            for path in output_files(self.tool.name, self._output, opts.ring):
                os.remove(path)
        self._probe = Probe(opts.probe_host, opts.probe_port, listen=True)
        self.capture_filter = build_filter(opts.ports, self._probe.port, opts.extra_filter)
        return build_argv(opts, self.tool, self.capture_filter, self._output, self._probe.port)

    def _spawn(self, argv: list[str]) -> ToolProcess:
        return ToolProcess(argv, watchdog=self.options.watchdog)

    def _alive(self) -> bool:
        return self._process.alive()

    def _terminate(self) -> tuple[int, str]:
        return self._process.stop(self.options.stop_timeout_s)

    def _result_extras(self) -> dict:
        return {}

    def _await_live(self) -> None:
        status = await_probe(self._probe, self._tail, timeout_s=self.options.start_timeout_s,
                             alive=self._alive)
        if status == "seen":
            self._live_ns = time.time_ns()
            enforce_private(self.files())
            return
        stderr = self._process.stderr.text()
        if status == "exited":
            self._terminate()
            raise CaptureError(tooloutput.failure_message(
                self.tool.name, self._process.stderr.text(), self.options.interface,
                self._output))
        raise CaptureError(
            f"{self.tool.name} did not write the probe packets (TCP port {self._probe.port} on "
            f"{self.options.probe_host}) to {self._output} within {self.options.start_timeout_s} s: "
            f"is interface {self.options.interface!r} the one that carries {self.options.probe_host}? "
            f"stderr: {stderr.strip()[-500:]}")

    def _abort(self) -> None:
        """Stop the tool at once after a failed or interrupted start (no barrier)."""
        try:
            if self._process is not None:
                self._process.stop(2.0)
        finally:
            _RUNNING.discard(self)
            if self._probe is not None:
                self._probe.close()
            self.result = None

    def stop(self, drain: bool = True) -> CaptureResult:
        """Stop the capture and return its :class:`CaptureResult` (idempotent).

        With ``drain`` a final probe is first waited for, so everything sent before this call is
        in the file.  Raises :class:`CaptureDied` (with ``.result``) if the tool had exited by
        itself or failed while stopping.
        """
        if self.result is not None:
            return self.result
        if self._process is None:
            raise CaptureError("stop() before start(): nothing is being captured")
        drained, early, interrupted = None, not self._alive(), None
        if not early and drain:
            try:
                drained, early = self._drain()
            except KeyboardInterrupt as exc:     # Ctrl-C again: stop now, keep what is written
                interrupted = exc
        stopped_ns = time.time_ns()
        try:
            code, how = self._terminate()
        finally:
            _RUNNING.discard(self)
            self._probe.close()
        self.result = self._build_result(stopped_ns, code, drained)
        enforce_private(self.result.files)
        if interrupted is not None:
            raise interrupted
        if early or code != 0:
            reason = tooloutput.failure_message(self.tool.name, self.result.stderr,
                                                self.options.interface, self._output)
            raise CaptureDied(f"the capture ended early or failed (exit code {code}, {how}): "
                              f"{reason}", self.result)
        return self.result

    def _drain(self) -> tuple[bool, bool]:
        self._tail.mark()
        status = await_probe(self._probe, self._tail, timeout_s=self.options.drain_timeout_s,
                             alive=self._alive)
        if status == "timeout":
            warnings.warn(f"{self.tool.name} did not write the stop probe within "
                          f"{self.options.drain_timeout_s} s: packets of the last moments "
                          "before stop() may be missing from the capture", InferwireWarning,
                          stacklevel=3)
        return status == "seen", status == "exited"

    def _build_result(self, stopped_ns: int, code: int, drained: bool | None) -> CaptureResult:
        files = self.files()
        stderr = self._process.stderr.text()
        packets, dropped, dropped_by = count_packets_and_drops(self.tool.name, stderr, files)
        return CaptureResult(
            path=files[0] if files else self._output, files=files, packets=packets,
            dropped=dropped, dropped_by=dropped_by, tool=self.tool.name,
            tool_version=self.tool.version, command=list(self._process.argv),
            started_ns=self._started_ns, stopped_ns=stopped_ns, stderr=stderr,
            live_ns=self._live_ns or None, probe_port=self._probe.port,
            capture_filter=self.capture_filter, interface=self.options.interface,
            exit_code=code, drained=drained, **self._result_extras())

    # -- while running -----------------------------------------------------------------------
    def files(self) -> list[str]:
        """The capture files written so far, oldest first."""
        return output_files(self.tool.name if self.tool else self.options.tool, self._output,
                            getattr(self.options, "ring", None))

    @property
    def probe_port(self) -> int | None:
        """The TCP port of this session's probe traffic (to be ignored by analyses)."""
        return self._probe.port if self._probe is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self.result is None and self._alive()

    def check(self) -> None:
        """Raise :class:`CaptureDied` now if the tool has exited by itself (call it during a run)."""
        if self._process is not None and self.result is None and not self._alive():
            self.stop()

    def __enter__(self) -> "CaptureSession":
        return self if self._process is not None else self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._process is None or self.result is not None:
            return
        if exc_type is None:
            self.stop()
            return
        try:                      # do not let a stop problem hide the exception in flight
            self.stop()
        except CaptureError as stop_error:
            warnings.warn(f"while handling {exc_type.__name__}: {stop_error}", InferwireWarning,
                          stacklevel=2)
