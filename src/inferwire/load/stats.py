"""The summary of a load run: counts, rates and latency percentiles of the measured requests."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from .events import RequestRecord

PERCENTILES = (50, 90, 99, 99.9)
NS_PER_MS = 1_000_000


def distribution_ms(values_ns: Sequence[int]) -> dict[str, float] | None:
    """{"p50","p90","p99","p99.9","max","mean"} in ms (linear interpolation), None if empty."""
    if len(values_ns) == 0:
        return None
    arr = np.asarray(values_ns, dtype=np.float64) / NS_PER_MS
    out = {f"p{p:g}": float(v) for p, v in zip(PERCENTILES, np.percentile(arr, PERCENTILES))}
    out.update(max=float(arr.max()), mean=float(arr.mean()))
    return out


@dataclass
class LoadSummary:
    """What a run achieved.  Only ``measure``-phase requests count; warm-up ones are only counted.

    ``requests`` = ``ok`` + ``errors`` + ``unfinished``.  ``duration_s``: first measured send to
    last measured answer.  ``throughput_per_s``: finished measured requests / ``duration_s``.
    ``send_rate_per_s``: (sends - 1) / (last send - first send), the achieved arrival rate.
    Latency distributions (ms) are over successful requests: ``latency_ms`` from the send,
    ``latency_from_scheduled_ms`` from the planned send (includes lateness: what a user arriving
    on schedule saw).  ``lateness_ms``: send - planned send, over all measured sends.
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


def summarize(records: Sequence[RequestRecord], *, mode: str, target_rate_per_s: float | None,
              interrupted: bool = False, stopped_early: bool = False) -> LoadSummary:
    """Summarize a run's records (pure)."""
    measured = [r for r in records if r.phase == "measure"]
    done = [r for r in measured if r.finished_ns is not None]
    good = [r for r in done if r.ok]
    summary = LoadSummary(mode=mode, target_rate_per_s=target_rate_per_s,
                          requests=len(measured), ok=len(good), errors=len(done) - len(good),
                          unfinished=len(measured) - len(done),
                          warmup_requests=len(records) - len(measured),
                          interrupted=interrupted, stopped_early=stopped_early)
    if records:
        summary.started_ns = min(r.started_ns for r in records)
        summary.finished_ns = max((r.finished_ns or r.started_ns) for r in records)
    if not measured:
        return summary
    starts = sorted(r.started_ns for r in measured)
    if done:
        span_ns = max(r.finished_ns for r in done) - starts[0]
        summary.duration_s = span_ns / 1e9
        summary.throughput_per_s = len(done) / summary.duration_s if span_ns > 0 else None
    if len(starts) > 1 and starts[-1] > starts[0]:
        summary.send_rate_per_s = (len(starts) - 1) / ((starts[-1] - starts[0]) / 1e9)
    summary.latency_ms = distribution_ms([r.finished_ns - r.started_ns for r in good])
    summary.latency_from_scheduled_ms = distribution_ms(
        [r.finished_ns - r.scheduled_ns for r in good])
    summary.lateness_ms = distribution_ms([r.started_ns - r.scheduled_ns for r in measured])
    failures = Counter(r.error or f"status {r.status}" for r in measured if not r.ok)
    summary.top_errors = dict(failures.most_common(5))
    return summary
