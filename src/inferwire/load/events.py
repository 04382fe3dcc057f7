"""What the load generator tells the world: one record per request, delivered to listeners.

As in locust's event hooks, the runner does not know who listens: the client log, a progress line,
live statistics, or a caller's own object.  Listeners are called from one delivery thread, about
every 0.1 s, never from the worker threads: a slow listener cannot delay a send, and listeners need
no locks.  Subclass :class:`LoadListener` and override what you need.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO

NS_PER_MS = 1_000_000


@dataclass(slots=True)
class RequestRecord:
    """One request as the client saw it.  Times are wall-clock ns (``time.time_ns()``).

    ``scheduled_ns``: when it was planned to be sent (open loop: the arrival schedule; closed
    loop: when its user became ready); ``started_ns``/``finished_ns``: just before calling the
    workload and just after it returned (``finished_ns`` None if it never did, e.g. abandoned at
    Ctrl-C).  Byte counts and ``serialize_ns``/``model_time_ns`` are what the workload reported
    (None when it did not).
    """
    request_id: str
    worker: int
    phase: str
    scheduled_ns: int
    started_ns: int
    finished_ns: int | None
    ok: bool
    status: object = None
    request_bytes: int | None = None
    response_bytes: int | None = None
    serialize_ns: int | None = None
    model_time_ns: int | None = None
    error: str | None = None
    # streamed responses (inferwire.load.streaming): the client's view of the tokens
    first_token_ns: int | None = None
    last_token_ns: int | None = None
    tokens: int | None = None
    itl_p50_ms: float | None = None
    itl_max_ms: float | None = None

    @property
    def ttft_ms(self) -> float | None:
        """first_token - started, in ms: the client's time to first token (None: not
        streamed, or no token)."""
        if self.first_token_ns is None:
            return None
        return (self.first_token_ns - self.started_ns) / NS_PER_MS

    @property
    def latency_ms(self) -> float | None:
        """finished - started, in ms (None if unfinished)."""
        if self.finished_ns is None:
            return None
        return (self.finished_ns - self.started_ns) / NS_PER_MS

    @property
    def latency_from_scheduled_ms(self) -> float | None:
        """finished - scheduled, in ms: the latency a user arriving on schedule experienced."""
        if self.finished_ns is None:
            return None
        return (self.finished_ns - self.scheduled_ns) / NS_PER_MS

    @property
    def lateness_ms(self) -> float:
        """started - scheduled, in ms: how late the send was."""
        return (self.started_ns - self.scheduled_ns) / NS_PER_MS


@dataclass(frozen=True)
class RunInfo:
    """Handed to ``on_start``: the run's options, request-id prefix and start (wall-clock ns)."""
    options: object
    id_prefix: str
    started_ns: int
    workload: str = ""


class LoadListener:
    """Base listener: every hook does nothing."""

    def on_start(self, run: RunInfo) -> None:
        """The run is about to send its first request."""

    def on_request(self, record: RequestRecord) -> None:
        """A request finished (or was abandoned)."""

    def on_tick(self, now_ns: int) -> None:
        """Called after each delivery round (about every 0.1 s), even with no new records."""

    def on_stop(self, summary) -> None:
        """The run is over; ``summary`` is its :class:`~inferwire.load.stats.LoadSummary`."""


@dataclass
class StatsSnapshot:
    """LiveStats at one moment: cumulative counts, and the rate/latencies of the last window."""
    elapsed_s: float
    phase: str
    completed: int
    ok: int
    errors: int
    window_rate_per_s: float
    window_p50_ms: float | None
    window_p99_ms: float | None


class LiveStats(LoadListener):
    """Running counts and a window of recent latencies, for progress displays."""

    def __init__(self):
        self.started_ns = self._window_start_ns = 0
        self.completed = self.ok = self.errors = 0
        self.phase = "warmup"
        self._window: list[int] = []

    def on_start(self, run: RunInfo) -> None:
        self.started_ns = self._window_start_ns = run.started_ns

    def on_request(self, record: RequestRecord) -> None:
        self.completed += 1
        self.phase = record.phase
        if record.ok:
            self.ok += 1
            self._window.append(record.finished_ns - record.started_ns)
        else:
            self.errors += 1

    def snapshot(self, now_ns: int | None = None, reset_window: bool = True) -> StatsSnapshot:
        """The current counts; the window (rate, percentiles) restarts when ``reset_window``."""
        now_ns = now_ns if now_ns is not None else time.time_ns()
        window = sorted(self._window)
        span_s = max(now_ns - self._window_start_ns, 1) / 1e9

        def pct(q):
            return window[min(len(window) - 1, int(q * len(window)))] / NS_PER_MS if window else None
        snap = StatsSnapshot((now_ns - self.started_ns) / 1e9, self.phase, self.completed, self.ok,
                             self.errors, len(window) / span_s, pct(0.5), pct(0.99))
        if reset_window:
            self._window, self._window_start_ns = [], now_ns
        return snap


class ProgressPrinter(LoadListener):
    """Prints one progress line every ``interval_s`` seconds (to stderr by default)."""

    def __init__(self, stream: TextIO | None = None, interval_s: float = 1.0):
        self.stream = stream if stream is not None else sys.stderr
        self.interval_ns = int(interval_s * 1e9)
        self.stats = LiveStats()
        self._next_ns = 0

    def on_start(self, run: RunInfo) -> None:
        self.stats.on_start(run)
        self._next_ns = run.started_ns + self.interval_ns

    def on_request(self, record: RequestRecord) -> None:
        self.stats.on_request(record)

    def on_tick(self, now_ns: int) -> None:
        if now_ns >= self._next_ns:
            self._next_ns = now_ns + self.interval_ns
            self.stream.write(format_progress(self.stats.snapshot(now_ns)) + "\n")
            self.stream.flush()

    def on_stop(self, summary) -> None:
        self.stream.write(summary.describe() + "\n")
        self.stream.flush()


def format_progress(s: StatsSnapshot) -> str:
    """One progress line, e.g. ``  3.0 s measure  600 done  0 errors  200.1 req/s  p50 1.2 ms``."""
    def ms(v):
        return f"{v:.2f} ms" if v is not None else "-"
    return (f"{s.elapsed_s:6.1f} s {s.phase:7s} {s.completed:7d} done {s.errors:5d} errors "
            f"{s.window_rate_per_s:8.1f} req/s  p50 {ms(s.window_p50_ms)}  p99 {ms(s.window_p99_ms)}")
