"""The summary of a load run: counts, rates and latency percentiles of the measured requests.

:class:`LoadTally` takes the records one at a time and keeps only counts, extremes and three
:class:`~.histogram.LatencyHistogram` s, so its size does not grow with the number of requests
(the load generator keeps no per-request list; every record is in the client log on disk).
Percentiles are nearest-rank from the histograms, within 0.049 % of the exact value (see
:mod:`.histogram`).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from .events import RequestRecord
from .histogram import LatencyHistogram, histogram_of

PERCENTILES = (50, 90, 99, 99.9)
NS_PER_MS = 1_000_000
ERROR_KINDS = 100               # distinct error messages counted; the rest as OTHER_ERRORS
OTHER_ERRORS = "(other errors)"


def histogram_ms(hist: LatencyHistogram) -> dict[str, float] | None:
    """{"p50","p90","p99","p99.9","max","mean"} in ms from a histogram, None if empty.

    Percentiles are nearest rank (the k-th smallest value, k = ceil(p/100 * n)) within 0.049 %
    of the exact value; max and mean are exact.
    """
    values = hist.percentiles(PERCENTILES)
    if values is None:
        return None
    out = {f"p{p:g}": float(v) / NS_PER_MS for p, v in zip(PERCENTILES, values)}
    out.update(max=hist.max / NS_PER_MS, mean=hist.mean() / NS_PER_MS)
    return out


def distribution_ms(values_ns: Iterable[int]) -> dict[str, float] | None:
    """{"p50","p90","p99","p99.9","max","mean"} in ms of int ns values, None if empty
    (through a histogram: the same percentile definition as :func:`histogram_ms`)."""
    return histogram_ms(histogram_of(values_ns))


@dataclass
class LoadSummary:
    """What a run achieved.  Only ``measure``-phase requests count; warm-up ones are only counted.

    ``requests`` = ``ok`` + ``errors`` + ``unfinished``.  ``duration_s``: first measured send to
    last measured answer.  ``throughput_per_s``: finished measured requests / ``duration_s``.
    ``send_rate_per_s``: (sends - 1) / (last send - first send), the achieved arrival rate.
    Latency distributions (ms) are over successful requests: ``latency_ms`` from the send,
    ``latency_from_scheduled_ms`` from the planned send (includes lateness: what a user arriving
    on schedule saw).  ``lateness_ms``: send - planned send, over all measured sends.
    Percentiles there are nearest rank, from a histogram, within 0.049 % of the exact value;
    ``max`` and ``mean`` are exact (:mod:`.histogram`).
    """
    mode: str
    target_rate_per_s: float | None
    requests: int = 0
    ok: int = 0
    errors: int = 0
    unfinished: int = 0
    warmup_requests: int = 0
    duration_s: float | None = None
    throughput_per_s: float | None = None
    send_rate_per_s: float | None = None
    latency_ms: dict | None = None
    latency_from_scheduled_ms: dict | None = None
    lateness_ms: dict | None = None
    top_errors: dict = field(default_factory=dict)
    started_ns: int | None = None
    finished_ns: int | None = None
    interrupted: bool = False
    stopped_early: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """A short human summary."""
        def pct(d, key):
            return f"{d[key]:.2f}" if d else "-"
        rate = f"{self.throughput_per_s:.1f}" if self.throughput_per_s is not None else "-"
        line = (f"{self.requests} measured requests ({self.ok} ok, {self.errors} errors, "
                f"{self.unfinished} unfinished), {rate} req/s; latency p50 "
                f"{pct(self.latency_ms, 'p50')} ms, p99 {pct(self.latency_ms, 'p99')} ms; "
                f"send lateness p99 {pct(self.lateness_ms, 'p99')} ms")
        if self.interrupted:
            line += " [interrupted]"
        return line


class LoadTally:
    """A run's figures, fed one record at a time; its size is fixed (three histograms of
    528 KiB, at most ``ERROR_KINDS`` error messages).

    ``add`` each :class:`RequestRecord` (any order), then :meth:`summary`.  Not thread-safe:
    one thread feeds it (the runner's delivery thread).
    """

    def __init__(self):
        self.records = self.measured = self.done = self.good = 0
        self.started_ns = self.finished_ns = None                  # over all records
        self.first_send_ns = self.last_send_ns = self.last_done_ns = None   # measured ones
        self.latency = LatencyHistogram()                 # finished - started, successful
        self.from_scheduled = LatencyHistogram()          # finished - scheduled, successful
        self.lateness = LatencyHistogram()                # started - scheduled, measured
        self.failures: Counter = Counter()

    def add(self, r: RequestRecord) -> None:
        """Count one record."""
        self.records += 1
        end = r.finished_ns if r.finished_ns is not None else r.started_ns
        self.started_ns = _low(self.started_ns, r.started_ns)
        self.finished_ns = _high(self.finished_ns, end)
        if r.phase != "measure":
            return
        self.measured += 1
        self.first_send_ns = _low(self.first_send_ns, r.started_ns)
        self.last_send_ns = _high(self.last_send_ns, r.started_ns)
        self.lateness.add(r.started_ns - r.scheduled_ns)
        if r.finished_ns is not None:
            self.done += 1
            self.last_done_ns = _high(self.last_done_ns, r.finished_ns)
            if r.ok:
                self.good += 1
                self.latency.add(r.finished_ns - r.started_ns)
                self.from_scheduled.add(r.finished_ns - r.scheduled_ns)
        if not r.ok:
            self.count_failure(r)

    def count_failure(self, r: RequestRecord) -> None:
        """Count a failed request under its message (bounded: see ``ERROR_KINDS``)."""
        key = r.error or f"status {r.status}"
        if key not in self.failures and len(self.failures) >= ERROR_KINDS:
            key = OTHER_ERRORS
        self.failures[key] += 1

    def summary(self, *, mode: str, target_rate_per_s: float | None, interrupted: bool = False,
                stopped_early: bool = False) -> LoadSummary:
        """The :class:`LoadSummary` of what was added."""
        s = LoadSummary(mode=mode, target_rate_per_s=target_rate_per_s, requests=self.measured,
                        ok=self.good, errors=self.done - self.good,
                        unfinished=self.measured - self.done,
                        warmup_requests=self.records - self.measured,
                        interrupted=interrupted, stopped_early=stopped_early,
                        started_ns=self.started_ns, finished_ns=self.finished_ns)
        if not self.measured:
            return s
        if self.done:
            span_ns = self.last_done_ns - self.first_send_ns
            s.duration_s = span_ns / 1e9
            s.throughput_per_s = self.done / s.duration_s if span_ns > 0 else None
        if self.measured > 1 and self.last_send_ns > self.first_send_ns:
            s.send_rate_per_s = (self.measured - 1) / ((self.last_send_ns - self.first_send_ns)
                                                       / 1e9)
        s.latency_ms = histogram_ms(self.latency)
        s.latency_from_scheduled_ms = histogram_ms(self.from_scheduled)
        s.lateness_ms = histogram_ms(self.lateness)
        s.top_errors = dict(self.failures.most_common(5))
        return s


def _low(a: int | None, b: int) -> int:
    return b if a is None else min(a, b)


def _high(a: int | None, b: int) -> int:
    return b if a is None else max(a, b)


def summarize(records: Iterable[RequestRecord], *, mode: str, target_rate_per_s: float | None,
              interrupted: bool = False, stopped_early: bool = False) -> LoadSummary:
    """Summarize a run's records (pure; through a :class:`LoadTally`)."""
    tally = LoadTally()
    for record in records:
        tally.add(record)
    return tally.summary(mode=mode, target_rate_per_s=target_rate_per_s,
                         interrupted=interrupted, stopped_early=stopped_early)
