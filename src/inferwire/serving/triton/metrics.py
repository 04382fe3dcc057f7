"""Sampling Triton's Prometheus endpoint (``GET /metrics``) during a run.

:class:`MetricsSampler` (a thread) appends every ``nv_*`` sample to a CSV: ``ts_ns`` (wall clock,
ns), ``metric``, ``type`` (counter | gauge ...), ``labels`` (``model="mnist",version="1"``),
``value``.  :func:`parse_prometheus` and :func:`counter_deltas` are pure.  Triton's counters are
cumulative: the run's share is the last sample minus the first (durations in microseconds, as
Triton names them ``..._us``).
"""
from __future__ import annotations

import csv
import http.client
import re
import threading
import time
from pathlib import Path

import pandas as pd

from ...netns import NetworkError
from ...netns.enter import entered

SAMPLE = re.compile(r"^(nv_[A-Za-z0-9_:]+)(?:\{([^}]*)\})?\s+(\S+)")


TYPE = re.compile(r"^# TYPE (\S+) (\S+)")


def parse_prometheus(text: str) -> list[tuple[str, str, str, float]]:
    """(metric, type, labels, value) for each ``nv_*`` sample line of Prometheus text format
    (type from the ``# TYPE`` line: counter, gauge, histogram, summary; "" if none)."""
    out, types = [], {}
    for line in text.splitlines():
        t = TYPE.match(line)
        if t:
            types[t.group(1)] = t.group(2)
            continue
        m = SAMPLE.match(line)
        if m:
            try:
                out.append((m.group(1), types.get(m.group(1), ""), m.group(2) or "",
                            float(m.group(3))))
            except ValueError:
                continue
    return out


def counter_deltas(samples: pd.DataFrame) -> dict[str, float]:
    """``{"metric{labels}": last - first}`` for every counter series sampled twice or more
    (gauges are left out: their difference means nothing)."""
    out = {}
    counters = samples[samples["type"] == "counter"].sort_values("ts_ns", kind="stable")
    for (metric, labels), g in counters.groupby(["metric", "labels"], dropna=False):
        if len(g) >= 2:
            key = f"{metric}{{{labels}}}" if labels else metric
            out[key] = float(g["value"].iloc[-1] - g["value"].iloc[0])
    return out


class MetricsSampler:
    """Every ``interval_s``, ``GET http://host:port/metrics`` into ``path`` (CSV)."""

    def __init__(self, host: str, port: int, path: Path, interval_s: float = 0.5,
                 namespace: str | None = None):
        self.host, self.port, self.path, self.interval_s = host, port, Path(path), interval_s
        self.namespace = namespace          # the server's network namespace (None: this one)
        self.samples = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "MetricsSampler":
        with open(self.path, "w", newline="") as f:
            csv.writer(f).writerow(["ts_ns", "metric", "type", "labels", "value"])
        self.sample()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def sample(self) -> None:
        """One scrape appended to the CSV (a failed scrape is counted in ``errors``)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=2.0)
        try:
            with entered(self.namespace):
                conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode("utf-8", "replace")
        except (OSError, NetworkError) as exc:        # NetworkError: its namespace is gone
            if len(self.errors) < 20:
                self.errors.append(str(exc))
            return
        finally:
            conn.close()
        ts = time.time_ns()
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerows((ts, *sample) for sample in parse_prometheus(text))
        self.samples += 1

    def stop(self) -> dict:
        """Stop (after one last scrape) and return what was sampled: counts and the run's
        counter deltas."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.sample()
        try:
            dtype = {"labels": "string", "type": "string"}
            deltas = counter_deltas(pd.read_csv(self.path, dtype=dtype,
                                                keep_default_na=False))
        except (OSError, ValueError, pd.errors.EmptyDataError):
            deltas = {}
        return {"file": self.path.name, "samples": self.samples, "errors": self.errors[:5],
                "deltas": deltas}
