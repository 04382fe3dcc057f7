"""CPU and memory of the server and client processes during a run, sampled with psutil.

A background thread samples every ``interval_s`` (default 0.1 s, 10 Hz) and appends CSV rows,
flushed about every second, so an interrupted run keeps its samples:

    time_ns, role, pid, cpu_user_s, cpu_system_s, cpu_percent, rss_bytes, vms_bytes,
    num_threads, processes

``time_ns`` is wall-clock ns (time.time_ns()).  ``cpu_user_s``/``cpu_system_s`` are cumulative CPU
seconds (with ``include_children``: of the process, its live descendants and its reaped children);
``cpu_percent`` is the CPU used since the previous sample of that role over the wall time between
them (100 = one core busy; empty on a role's first sample).  ``rss_bytes``/``vms_bytes`` are summed
over the same processes; ``processes`` counts them.  With ``system=True`` a row of role "system"
gives host-wide figures: CPU seconds of all cores, ``cpu_percent`` of the whole host (100 = all
cores busy), ``rss_bytes`` = memory in use, ``vms_bytes`` = total memory.
"""
from __future__ import annotations

import csv
import os
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import psutil

from .errors import InferwireError, InferwireWarning

COLUMNS = ("time_ns", "role", "pid", "cpu_user_s", "cpu_system_s", "cpu_percent", "rss_bytes",
           "vms_bytes", "num_threads", "processes")


@dataclass(frozen=True)
class ResourceOptions:
    """Sampling period (s), whether descendants count, whether to add host-wide rows."""
    interval_s: float = 0.1
    include_children: bool = True
    system: bool = True
    flush_interval_s: float = 1.0


@dataclass
class RoleSummary:
    """Per role: samples taken, mean/max CPU percent, peak RSS bytes, when it vanished (ns)."""
    samples: int = 0
    cpu_percent_mean: float | None = None
    cpu_percent_max: float | None = None
    rss_max_bytes: int | None = None
    gone_ns: int | None = None
    _cpu: list = field(default_factory=list, repr=False)


def _process_figures(proc: psutil.Process, include_children: bool) -> tuple:
    """(user s, system s, rss, vms, threads, processes) of ``proc`` [and its descendants]."""
    procs = [proc] + (proc.children(recursive=True) if include_children else [])
    user = system = 0.0
    rss = vms = threads = counted = 0
    for i, p in enumerate(procs):
        try:
            with p.oneshot():
                t, m, n = p.cpu_times(), p.memory_info(), p.num_threads()
        except psutil.NoSuchProcess:
            if i == 0:
                raise
            continue                     # a descendant ended between listing and reading
        user += t.user + (t.children_user if include_children and i == 0 else 0.0)
        system += t.system + (t.children_system if include_children and i == 0 else 0.0)
        rss, vms, threads, counted = rss + m.rss, vms + m.vms, threads + n, counted + 1
    return user, system, rss, vms, threads, counted


class ResourceSampler:
    """Samples ``processes`` ({role: pid or psutil.Process}) into the CSV file at ``path``."""

    def __init__(self, path: str | os.PathLike, processes: Mapping[str, int] | None = None,
                 options: ResourceOptions = ResourceOptions(), *, overwrite: bool = False):
        if options.interval_s <= 0:
            raise InferwireError("interval_s must be > 0")
        self.path, self.options = os.fspath(path), options
        self._procs: dict[str, psutil.Process] = {}
        self._last: dict[str, tuple[int, float]] = {}
        self.summary: dict[str, RoleSummary] = {}
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        try:
            self._file = open(self.path, "w" if overwrite else "x", newline="", encoding="utf-8")
        except OSError as exc:
            raise InferwireError(f"cannot create resource log {self.path}: {exc}") from exc
        self._writer = csv.writer(self._file)
        self._writer.writerow(COLUMNS)
        for role, pid in (processes or {}).items():
            self.add(role, pid)
        if options.system:
            psutil.cpu_percent(None)       # starts psutil's host-wide CPU interval

    def add(self, role: str, process: int | psutil.Process) -> None:
        """Sample one more process (e.g. a server started after the sampler)."""
        try:
            proc = process if isinstance(process, psutil.Process) else psutil.Process(process)
        except psutil.NoSuchProcess as exc:
            raise InferwireError(f"no process {process} to sample as {role!r}") from exc
        with self._lock:
            self._procs[role] = proc
            self.summary.setdefault(role, RoleSummary())

    def start(self) -> "ResourceSampler":
        self._thread = threading.Thread(target=self._run, daemon=True, name="inferwire-resources")
        self._thread.start()
        return self

    def _run(self) -> None:
        interval_ns = int(self.options.interval_s * 1e9)
        flush_ns = int(self.options.flush_interval_s * 1e9)
        next_ns = last_flush = time.monotonic_ns()
        try:
            while not self._stop.is_set():
                self._sample()
                now = time.monotonic_ns()
                if now - last_flush >= flush_ns:
                    self._file.flush()
                    last_flush = now
                next_ns += interval_ns             # a fixed grid: no drift from sampling time
                if next_ns < now:
                    next_ns = now + interval_ns     # fell behind (busy host): skip, never burst
                self._stop.wait((next_ns - now) / 1e9)
        except Exception as exc:                    # e.g. disk full: reported by stop()
            self.error = exc

    def _sample(self) -> None:
        with self._lock:
            procs = list(self._procs.items())
        now = time.time_ns()
        for role, proc in procs:
            try:
                figures = _process_figures(proc, self.options.include_children)
            except (psutil.NoSuchProcess, psutil.AccessDenied) as exc:
                self._gone(role, now, exc)
                continue
            self._row(now, role, proc.pid, figures)
        if self.options.system:
            t, mem = psutil.cpu_times(), psutil.virtual_memory()
            self._row(now, "system", "", (t.user, t.system, mem.used, mem.total, "", ""),
                      cpu_percent=psutil.cpu_percent(None))

    def _row(self, now: int, role: str, pid, figures: tuple, cpu_percent=None) -> None:
        user, system = figures[0], figures[1]
        if cpu_percent is None and role in self._last:
            then, used = self._last[role]
            cpu_percent = 100.0 * (user + system - used) / max((now - then) / 1e9, 1e-9)
        self._last[role] = (now, user + system)
        self._writer.writerow([now, role, pid, f"{user:.3f}", f"{system:.3f}",
                               "" if cpu_percent is None else f"{cpu_percent:.1f}", *figures[2:]])
        s = self.summary.setdefault(role, RoleSummary())
        s.samples += 1
        if cpu_percent is not None:
            s._cpu.append(cpu_percent)
        if isinstance(figures[2], int) and role != "system":
            s.rss_max_bytes = max(s.rss_max_bytes or 0, figures[2])

    def _gone(self, role: str, now: int, exc: Exception) -> None:
        with self._lock:
            self._procs.pop(role, None)
        self.summary[role].gone_ns = now
        warnings.warn(f"stopped sampling {role!r}: {type(exc).__name__}", InferwireWarning)

    def stop(self) -> dict[str, RoleSummary]:
        """Stop sampling, close the file; returns the per-role summary.  Raises InferwireError if
        writing failed."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if not self._file.closed:
            self._file.flush()
            self._file.close()
        for s in self.summary.values():
            if s._cpu:
                s.cpu_percent_mean = sum(s._cpu) / len(s._cpu)
                s.cpu_percent_max = max(s._cpu)
        if self.error is not None:
            raise InferwireError(f"resource sampling failed: {self.error}") from self.error
        return self.summary

    def __enter__(self) -> "ResourceSampler":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
