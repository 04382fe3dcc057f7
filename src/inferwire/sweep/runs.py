"""A sweep folder's run folders: which point each belongs to, and which points are done.

``SWEEP/runs/<run folder>``: one capture run per point (plus the cache probe's run); a point is
done when one of its folders has a manifest with status "ok".
"""
from __future__ import annotations

from pathlib import Path

from ..runfolder import read_manifest

CACHE_PROBE_ID = "cache-probe"


def run_point_id(manifest: dict) -> str | None:
    """The point a run folder belongs to (its RunConfig name, or the probe's id)."""
    if manifest.get("kind") == "cache_probe":
        return CACHE_PROBE_ID
    return (manifest.get("config") or {}).get("name")


def finished_runs(sweep_dir: Path) -> dict[str, Path]:
    """{point id: run folder} of the points done (the newest ok folder of each)."""
    done = {}
    for run_dir in sorted((Path(sweep_dir) / "runs").glob("*")):
        m = read_manifest(run_dir) if run_dir.is_dir() else None
        if m and m.get("status") == "ok" and run_point_id(m):
            done[run_point_id(m)] = run_dir
    return done
