"""CPU and memory of a run's processes by role, sampled with psutil.

A role is one or more root processes and, with ``include_children``, their descendants, except
the subtrees of another role's roots: a capture run samples the "load generator" (the run's own
process, where inferwire's load threads run, and the load tools it starts: locust's master and
workers, ab, h2load), the "server" (the embedded server), the "capture" (dumpcap or tshark and
its watchdog) and, from the host's totals, the "rest of host" (everything else).  A background
thread samples every ``interval_s`` (default 0.1 s, 10 Hz) and appends CSV rows, flushed about
every second, so an interrupted run keeps its samples:

    time_ns, role, pid, cpu_user_s, cpu_system_s, cpu_percent, rss_bytes, vms_bytes,
    num_threads, processes, names

``time_ns`` is wall-clock ns (time.time_ns()); ``pid`` the first root's.  ``cpu_user_s`` /
``cpu_system_s`` are the CPU seconds the role's processes used since the sampler started (a
process that ends between two samples loses at most its last interval); ``cpu_percent`` is the
CPU the role used since its previous sample over the wall time between them (100 = one core
busy; empty on a role's first sample).  ``rss_bytes``/``vms_bytes`` are summed over the role's
processes; ``processes`` counts them; ``names`` lists them ("name:pid;name:pid...").  With
``system=True`` two more roles: "system", host-wide (CPU seconds of all cores, ``cpu_percent``
of the whole host: 100 = all cores busy, ``rss_bytes`` = memory in use, ``vms_bytes`` = total
memory), and "rest of host": the host's CPU (in % of one core, like the roles) and memory in use
less the roles' own.
"""
from __future__ import annotations

import csv
import os
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import InferwireError, InferwireWarning
from ..extras import require

require("psutil", what="sampling CPU and memory (inferwire.experiment.resources)")
import psutil  # noqa: E402 - after the check that names the extra it comes with

COLUMNS = ("time_ns", "role", "pid", "cpu_user_s", "cpu_system_s", "cpu_percent", "rss_bytes",
           "vms_bytes", "num_threads", "processes", "names")
#: Roles the sampler computes itself (not processes).
HOST, REST = "system", "rest of host"


@dataclass(frozen=True)
class ResourceOptions:
    """Sampling period (s), whether descendants count, whether to add host-wide rows."""
    interval_s: float = 0.1
    include_children: bool = True
    system: bool = True
    flush_interval_s: float = 1.0


@dataclass
class RoleSummary:
    """Per role: samples taken, mean/max CPU percent, peak RSS bytes, when it vanished (ns),
    and the processes it was made of ("name:pid", at most 20)."""
    samples: int = 0
    cpu_percent_mean: float | None = None
    cpu_percent_max: float | None = None
    rss_max_bytes: int | None = None
    gone_ns: int | None = None
    processes: list = field(default_factory=list)
    _cpu_sum: float = field(default=0.0, repr=False)    # running: a soak's hours of samples
    _cpu_n: int = field(default=0, repr=False)          # must not be kept one by one


def _subtree(root: psutil.Process, include_children: bool) -> list[psutil.Process]:
    if not include_children:
        return [root]
    try:
        return [root] + root.children(recursive=True)
    except psutil.NoSuchProcess:
        return [root]


def _label(p: psutil.Process) -> str:
    """A process's name for people: a Python process by what it runs (``-m locust --worker``
    -> "locust worker", ``watchdog.py`` -> "watchdog.py", ``-m inferwire.cli serve`` ->
    "inferwire serve")."""
    name = p.name()
    if not name.startswith("python"):
        return name
    try:
        args = p.cmdline()[1:]
    except (psutil.AccessDenied, psutil.ZombieProcess):
        return name
    for i, a in enumerate(args):
        if a == "-m" and i + 1 < len(args):
            module, rest = args[i + 1], args[i + 2:]
            if module.startswith("inferwire"):      # inferwire.cli serve -> "inferwire serve"
                return f"inferwire {rest[0]}" if rest else module
            role = next((r for r in ("worker", "master") if f"--{r}" in rest), "")
            return f"{module} {role}".strip()
        if a == "-c":
            return name
        if not a.startswith("-"):
            return os.path.basename(a)
    return name


def _alive(pid: int, created: float) -> bool:
    """Whether the process ``pid`` started at ``created`` (psutil's create_time) still runs."""
    try:
        return psutil.Process(pid).create_time() == created
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True


def role_members(roots: Mapping[str, list], include_children: bool) -> dict[str, list]:
    """{role: its processes}: each root with its descendants, less the subtrees of other
    roles' roots found among them (the server and the capture tool are children of the run's
    process, which is the load generator)."""
    trees = {p.pid: _subtree(p, include_children) for ps in roots.values() for p in ps}
    out = {}
    for role, ps in roots.items():
        own = {p.pid for p in ps}
        members: dict[int, psutil.Process] = {}
        for p in ps:
            tree = trees[p.pid]
            inside = {q.pid for q in tree[1:]} & (trees.keys() - own)
            excluded = {q.pid for pid in inside for q in trees[pid]}
            members.update((q.pid, q) for q in tree if q.pid not in excluded)
        out[role] = list(members.values())
    return out


def _note_processes(seen: list, labels: list, most: int = 20) -> None:
    """Add "name:pid" ``labels`` to ``seen`` once per pid (a more telling name than a bare
    "python", read before the process set its command line, replaces it)."""
    where = {label.rsplit(":", 1)[1]: i for i, label in enumerate(seen)}
    for label in labels:
        pid = label.rsplit(":", 1)[1]
        if pid not in where:
            if len(seen) < most:
                where[pid] = len(seen)
                seen.append(label)
        elif seen[where[pid]].startswith("python") and not label.startswith("python"):
            seen[where[pid]] = label


class ResourceSampler:
    """Samples ``processes`` ({role: pid or psutil.Process}) into the CSV file at ``path``;
    :meth:`add` more roots to a role (or new roles) while it runs."""

    def __init__(self, path: str | os.PathLike, processes: Mapping[str, int] | None = None,
                 options: ResourceOptions = ResourceOptions(), *, overwrite: bool = False):
        if options.interval_s <= 0:
            raise InferwireError("interval_s must be > 0")
        self.path, self.options = os.fspath(path), options
        self._roots: dict[str, list[psutil.Process]] = {}
        self._seen: dict[tuple, tuple[float, float]] = {}    # (pid, created) -> (user, system)
        self._read: set[tuple] = set()                       # the keys read in this sample
        self._totals: dict[str, list[float]] = {}             # role -> [user s, system s]
        self._last: dict[str, tuple[int, float]] = {}
        self._last_percent: dict[str, float | None] = {}
        self._quiet: set[str] = set()
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

    def add(self, role: str, process: int | psutil.Process, *, warn_on_end: bool = True) -> None:
        """Sample one more root process as (part of) ``role`` (e.g. a capture tool started
        after the sampler).  ``warn_on_end``: warn when the role's processes have all ended
        (False for a role expected to end before the sampler, like the capture)."""
        try:
            proc = process if isinstance(process, psutil.Process) else psutil.Process(process)
        except psutil.NoSuchProcess as exc:
            raise InferwireError(f"no process {process} to sample as {role!r}") from exc
        with self._lock:
            self._roots.setdefault(role, []).append(proc)
            self.summary.setdefault(role, RoleSummary())
            if not warn_on_end:
                self._quiet.add(role)

    def start(self) -> "ResourceSampler":
        self._thread = threading.Thread(target=self._run, daemon=True, name="inferwire-resources")
        try:        # Thread.start() waits too: a Ctrl-C there must not leave it sampling on
            self._thread.start()
        except BaseException:
            self._stop.set()
            raise
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
            roots = {r: [p for p in ps if p.is_running()] for r, ps in self._roots.items()}
        for role in [r for r, ps in roots.items() if not ps]:
            self._gone(role, time.time_ns())
            del roots[role]
        now = time.time_ns()
        rows = {role: self._figures(role, procs)
                for role, procs in role_members(roots, self.options.include_children).items()}
        for role, figures in rows.items():
            self._row(now, role, roots[role][0].pid, figures)
        if self.options.system:
            self._host_rows(now, rows)
        self._forget_ended()

    def _forget_ended(self) -> None:
        """Drop the CPU times kept for processes that have ended: a role whose tool starts a
        process per request would otherwise grow ``_seen`` by one entry per request."""
        for key in [k for k in self._seen if k not in self._read and not _alive(*k)]:
            del self._seen[key]
        self._read.clear()

    def _figures(self, role: str, procs: list) -> tuple:
        """(user s, system s, rss, vms, threads, processes, names) of ``procs``; CPU seconds
        accumulated per process, so that one that ends or starts between samples counts."""
        totals = self._totals.setdefault(role, [0.0, 0.0])
        rss = vms = threads = counted = 0
        names = []
        for p in procs:
            try:
                with p.oneshot():
                    t, m, n = p.cpu_times(), p.memory_info(), p.num_threads()
                    key, name = (p.pid, p.create_time()), _label(p)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue                 # ended between listing and reading
            before = self._seen.get(key, (0.0, 0.0))
            totals[0] += max(t.user - before[0], 0.0)
            totals[1] += max(t.system - before[1], 0.0)
            self._seen[key] = (t.user, t.system)
            self._read.add(key)
            rss, vms, threads, counted = rss + m.rss, vms + m.vms, threads + n, counted + 1
            names.append(f"{name}:{p.pid}")
        return totals[0], totals[1], rss, vms, threads, counted, ";".join(names)

    def _host_rows(self, now: int, rows: dict) -> None:
        """The "system" row (host-wide) and "rest of host" (the host less the roles)."""
        t, mem = psutil.cpu_times(), psutil.virtual_memory()
        host_percent = psutil.cpu_percent(None)
        self._row(now, HOST, "", (t.user, t.system, mem.used, mem.total, "", "", ""),
                  cpu_percent=host_percent)
        roles = [self._last_percent.get(r) for r in rows]
        rest = None
        if None not in roles:
            rest = max(host_percent * (psutil.cpu_count() or 1) - sum(roles), 0.0)
        used = max(mem.used - sum(f[2] for f in rows.values()), 0)
        self._row(now, REST, "", ("", "", used, "", "", "", ""), cpu_percent=rest,
                  first=REST not in self._last)

    def _row(self, now: int, role: str, pid, figures: tuple, cpu_percent=None,
             first: bool = False) -> None:
        user, system = figures[0], figures[1]
        if cpu_percent is None and role in self._last and user != "":
            then, used = self._last[role]
            cpu_percent = 100.0 * (user + system - used) / max((now - then) / 1e9, 1e-9)
        if first:
            cpu_percent = None
        self._last[role] = (now, (user + system) if user != "" else 0.0)
        self._last_percent[role] = cpu_percent
        cells = [f"{v:.3f}" if isinstance(v, float) else v for v in (user, system)]
        self._writer.writerow([now, role, pid, *cells,
                               "" if cpu_percent is None else f"{cpu_percent:.1f}", *figures[2:]])
        s = self.summary.setdefault(role, RoleSummary())
        s.samples += 1
        if cpu_percent is not None:
            s._cpu_sum += cpu_percent
            s._cpu_n += 1
            s.cpu_percent_max = max(s.cpu_percent_max or 0.0, cpu_percent)
        if isinstance(figures[2], int) and role != HOST:
            s.rss_max_bytes = max(s.rss_max_bytes or 0, figures[2])
        if len(figures) > 6 and figures[6]:
            _note_processes(s.processes, figures[6].split(";"))

    def _gone(self, role: str, now: int) -> None:
        with self._lock:
            self._roots.pop(role, None)
        self.summary[role].gone_ns = now
        if role not in self._quiet:
            warnings.warn(f"stopped sampling {role!r}: its processes ended", InferwireWarning)

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
            if s._cpu_n:
                s.cpu_percent_mean = s._cpu_sum / s._cpu_n
        if self.error is not None:
            raise InferwireError(f"resource sampling failed: {self.error}") from self.error
        return self.summary

    def __enter__(self) -> "ResourceSampler":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
