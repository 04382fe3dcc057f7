"""What an external load engine (locust, ab, h2load) reports to the capture run.

It has the fields the run's manifest and summary read from inferwire's own LoadSummary
(``requests``, ``ok``, ``errors``, ``throughput_per_s``, ``latency_ms``, ``interrupted``) plus
what the comparison needs: the measured window (``started_ns``..``finished_ns``, wall clock, the
capture's clock on this host), the tool's own files and how its requests join the capture.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class ToolSummary:
    """One tool run.  ``latency_ms``: the tool's own latency figures in ms, under the tool's
    own names (p50, p90, p99, mean, max; whichever it reports), ``latency_source`` says where
    they come from.  ``join``: "id" (per-request ids in the capture), "time" (per-request
    times, matched by time), or "count" (only counts and distributions compare).
    ``outputs``: the tool's files in the run folder (role -> file name)."""
    tool: str
    protocol: str
    argv: list = field(default_factory=list)
    exit_code: int | None = None
    started_ns: int | None = None
    finished_ns: int | None = None
    requests: int = 0
    ok: int = 0
    errors: int = 0
    unfinished: int = 0
    warmup_requests: int = 0
    duration_s: float | None = None
    throughput_per_s: float | None = None
    latency_ms: dict | None = None
    latency_source: str = ""
    join: str = "count"
    outputs: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    interrupted: bool = False
    stopped_early: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """A short human summary."""
        lat = self.latency_ms or {}
        p50 = f"{lat['p50']:.2f}" if lat.get("p50") is not None else "-"
        rate = f"{self.throughput_per_s:.1f}" if self.throughput_per_s is not None else "-"
        text = (f"{self.tool}: {self.requests} requests ({self.ok} ok, {self.errors} errors), "
                f"{rate} req/s, p50 {p50} ms ({self.latency_source or 'tool'})")
        return text + (" [interrupted]" if self.interrupted else "")
