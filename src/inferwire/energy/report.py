"""energy.json: joules (or, without a meter, CPU-seconds) per request over each load's window.

The window of a load is its measured requests' span in the client log (first measured send to last
measured answer), so server start-up, warm-up and analysis are not charged to the requests.  Energy
and CPU time are cumulative counters sampled over time; a window gets the interpolated difference
(:mod:`.counters`).  Nothing is extrapolated: a window the samples do not cover gets None.

energy.json fields: ``meter`` ("rapl", "nvml", "rapl+nvml", "none"), ``reason`` (why there are no
joules), ``interval_s`` (meter polling period), ``samples``, ``wraps`` (counter wrap-arounds seen),
``total_zones`` (zones summed into ``joules``), and per workload (``workloads.rest`` ...) and for
all together (``all``): ``start_ns``, ``end_ns``, ``duration_s``, ``requests`` (measured requests
answered), ``joules``, ``watts``, ``joules_per_request``, ``zones_joules``, ``cpu_seconds``
(``server``, ``client`` = the load generator without the server and the capture tool when those are
its children, ``host`` = all processes on all cores), ``cpu_seconds_per_request`` (``server``,
``client``, ``total`` = server + client).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..runfolder import MANIFEST, RESOURCES, read_manifest
from ..runfolder.logs import client_logs
from ..runfolder.names import client_log_workload
from .counters import unwrap, window_delta
from .meter import NullMeter


def load_windows(run_dir: Path) -> dict[str, dict]:
    """{workload: {start_ns, end_ns, requests}} from ``client_log_<workload>.csv`` measured rows;
    falls back to the manifest's load summaries (then warm-up requests are inside the window)."""
    windows = {}
    for path, log in client_logs(run_dir):
        done = log[(log["phase"] == "measure") & log["finished_ns"].notna()]
        if len(done):
            windows[client_log_workload(path)] = {
                "start_ns": int(done["started_ns"].min()), "end_ns": int(done["finished_ns"].max()),
                "requests": int(len(done)), "source": path.name}
    if windows:
        return windows
    return _manifest_windows(run_dir)


def _manifest_windows(run_dir: Path) -> dict[str, dict]:
    loads = (read_manifest(run_dir) or {}).get("loads") or {}
    out = {}
    for name, s in loads.items():
        if s.get("started_ns") and s.get("finished_ns"):
            n = (s.get("ok") or 0) + (s.get("errors") or 0) + (s.get("warmup_requests") or 0)
            out[name] = {"start_ns": int(s["started_ns"]), "end_ns": int(s["finished_ns"]),
                         "requests": n, "source": f"{MANIFEST} (warm-up included)"}
    return out


def cpu_series(resources_csv: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{role: (time_ns, cumulative CPU seconds user+system)} from a resources.csv."""
    if not resources_csv.exists():
        return {}
    df = pd.read_csv(resources_csv, usecols=["time_ns", "role", "cpu_user_s", "cpu_system_s"])
    out = {}
    for role, rows in df.groupby("role", sort=False):
        rows = rows.dropna().sort_values("time_ns")
        out[str(role)] = (rows["time_ns"].to_numpy(np.int64),
                          (rows["cpu_user_s"] + rows["cpu_system_s"]).to_numpy(np.float64))
    return out


def window_cpu(series: dict, start_ns: int, end_ns: int) -> dict[str, float | None]:
    """CPU seconds of server, client (the load generator's own) and host in the window.  Runs
    sample the "load generator" apart from the server and the capture; in older runs the
    "client" role held its descendants, the embedded server among them: its own share is its
    figure minus the server's."""
    got = {role: window_delta(t, v, start_ns, end_ns) for role, (t, v) in series.items()}
    server, client = got.get("server"), got.get("load generator")
    if client is None:
        client = got.get("client")
        if client is not None and server is not None:
            client = max(client - server, 0.0)
    return {"server": server, "client": client, "host": got.get("system")}


def energy_series(meter, samples: list) -> tuple[np.ndarray, dict[str, np.ndarray], int]:
    """(time_ns, {zone: cumulative microjoules since the first reading}, wraps seen)."""
    if not samples:
        return np.zeros(0, np.int64), {}, 0
    times = np.array([t for t, _ in samples], dtype=np.int64)
    ranges = meter.max_ranges()
    zones, wraps = {}, 0
    for zone in samples[0][1]:
        cumulative, w = unwrap([values[zone] for _, values in samples], ranges.get(zone))
        zones[zone], wraps = cumulative, wraps + w
    return times, zones, wraps


def _per_request(value, n):
    return None if value is None or not n else value / n


def _window(window: dict, times, zones: dict, totals: list, cpu: dict) -> dict:
    start, end, n = window["start_ns"], window["end_ns"], window["requests"]
    out = {"start_ns": start, "end_ns": end, "duration_s": (end - start) / 1e9, "requests": n,
           "source": window.get("source")}
    zone_j = {z: window_delta(times, c, start, end) for z, c in zones.items()}
    zone_j = {z: None if v is None else v / 1e6 for z, v in zone_j.items()}
    chosen = [zone_j.get(z) for z in totals]
    joules = None if not chosen or any(v is None for v in chosen) else sum(chosen)
    out.update(joules=joules, zones_joules=zone_j or None,
               watts=None if joules is None or end <= start else joules / ((end - start) / 1e9),
               joules_per_request=_per_request(joules, n))
    c = window_cpu(cpu, start, end) if cpu else {"server": None, "client": None, "host": None}
    total = None if c["client"] is None else c["client"] + (c["server"] or 0.0)
    out["cpu_seconds"] = c
    out["cpu_seconds_per_request"] = {"server": _per_request(c["server"], n),
                                      "client": _per_request(c["client"], n),
                                      "total": _per_request(total, n)}
    return out


def _all_window(windows: dict) -> dict | None:
    """One window over every load, for a run-wide figure (loads run one after the other)."""
    if not windows:
        return None
    return {"start_ns": min(w["start_ns"] for w in windows.values()),
            "end_ns": max(w["end_ns"] for w in windows.values()),
            "requests": sum(w["requests"] for w in windows.values()), "source": "all loads"}


def energy_report(run_dir: Path, meter, samples: list, error: str | None,
                  interval_s: float) -> dict:
    """The energy.json dict for ``run_dir`` from the meter's readings (see the module docstring)."""
    times, zones, wraps = energy_series(meter, samples)
    totals = meter.total_zones() if not isinstance(meter, NullMeter) else []
    reason = getattr(meter, "reason", None)
    if error:
        reason = f"meter read failed during the run: {error}"
    cpu = cpu_series(run_dir / RESOURCES)
    windows = load_windows(run_dir)
    report = {"meter": meter.name, "reason": reason, "interval_s": interval_s,
              "samples": len(samples), "wraps": wraps, "total_zones": totals,
              "workloads": {name: _window(w, times, zones, totals, cpu)
                            for name, w in windows.items()}}
    every = _all_window(windows)
    report["all"] = _window(every, times, zones, totals, cpu) if every else None
    if not windows:
        report["reason"] = (reason + "; " if reason else "") + "no measured requests in the run"
    return report
