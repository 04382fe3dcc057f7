"""A sweep folder read for the findings: combined points table, the caching probe, the host."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import InferwireError
from ..runfolder import CACHE_PROBE_TABLE, read_manifest
from ..sweep.combine import combine
from ..sweep.plan import Plan
from ..sweep.runs import CACHE_PROBE_ID, finished_runs


@dataclass
class SweepData:
    sweep_dir: Path
    points: pd.DataFrame
    probe: pd.DataFrame | None      # probe.csv rows, with "run"
    probe_run: str | None
    environment: dict
    manifest: dict                  # one capture run's manifest (for the host facts)
    plan: object = None             # the sweep's Plan


def load_sweep(sweep_dir) -> SweepData:
    """Combine the sweep (rewriting points.csv / requests.parquet) and read its probe."""
    sweep_dir = Path(sweep_dir).resolve()
    if not (sweep_dir / "plan.json").exists():
        raise InferwireError(f"{sweep_dir}: not a sweep folder (no plan.json)")
    done = finished_runs(sweep_dir)
    probe = probe_run = None
    if CACHE_PROBE_ID in done:
        probe_run = done[CACHE_PROBE_ID].name
        probe = pd.read_csv(done[CACHE_PROBE_ID] / CACHE_PROBE_TABLE).assign(run=probe_run)
    captures = [d for pid, d in done.items() if pid != CACHE_PROBE_ID]
    points = combine(sweep_dir).points if captures else pd.DataFrame()
    manifest = (read_manifest(captures[0]) if captures else None) or {}
    return SweepData(sweep_dir, points, probe, probe_run, manifest.get("environment") or {},
                     manifest, Plan.load(sweep_dir / "plan.json"))
