"""Run folders left at "running" by a process that is gone: found, marked, analyzed.

A run whose process was killed outright (SIGKILL, a power cut, the OOM killer) cannot write its
final manifest; its supervisor (:mod:`.teardown`) ended the processes it had started and the
capture tool flushed its file.  A later run in the same ``--out`` folder, or ``inferwire runs
--clean``, finds such folders (status "running", and the pid in the manifest is not alive with
the same start time on this host), marks them "abandoned" and analyzes what they hold: the
capture (a last record cut mid-write costs a warning, not the file), the client and server
logs, into requests.csv, joined.csv and summary.md.
"""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import psutil

from .manifest import write_json


def read_manifest(run_dir: Path) -> dict | None:
    try:
        return json.loads((run_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return None


def is_abandoned(manifest: dict) -> bool:
    """True for a manifest at "running" whose process (pid + start time, this host) is gone.
    A manifest without process facts (written before they were recorded) is not judged."""
    facts = manifest.get("process") or {}
    if manifest.get("status") != "running" or "pid" not in facts:
        return False
    if facts.get("host") not in (None, platform.node()):
        return False              # another machine's run (a shared folder): not ours to judge
    try:
        proc = psutil.Process(facts["pid"])
        return abs(proc.create_time() - facts["create_time"]) > 0.01
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


def abandoned_runs(parent) -> list[Path]:
    """Run folders directly under ``parent`` that were abandoned, oldest first."""
    root = Path(parent)
    if not root.is_dir():
        return []
    found = []
    for run_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        manifest = read_manifest(run_dir)
        if manifest is not None and is_abandoned(manifest):
            found.append(run_dir)
    return found


def finish_run(run_dir: Path, progress: bool = False) -> str:
    """Mark ``run_dir`` abandoned and analyze what it holds; returns a one-line account."""
    from .run import RunResult, analyze_folder
    manifest = read_manifest(run_dir) or {}
    pid = (manifest.get("process") or {}).get("pid")
    result = RunResult(run_dir, status="abandoned",
                       problems=list(manifest.get("problems") or [])
                       + [f"abandoned: the run's process (pid {pid}) ended without finishing "
                          "(killed?); found and analyzed later"])
    manifest["abandoned_found_ns"] = time.time_ns()
    manifest["status"] = "abandoned"          # first: a crash in the analysis leaves it marked
    write_json(run_dir / "manifest.json", manifest)
    analyze_folder(run_dir, manifest, result, progress)
    manifest["problems"] = result.problems
    write_json(run_dir / "manifest.json", manifest)
    from .summary import write_summary
    write_summary(run_dir, manifest, result.analysis, result.joined)
    count = len(result.analysis.requests) if result.analysis is not None else 0
    return (f"abandoned run {run_dir.name}: marked 'abandoned', {count} requests analyzed"
            if result.analysis is not None else
            f"abandoned run {run_dir.name}: marked 'abandoned'; "
            + (result.problems[-1] if result.problems else "nothing to analyze"))


def finish_abandoned(parent, progress: bool = False) -> list[str]:
    """:func:`finish_run` for every abandoned run under ``parent``; one line per run."""
    notes = []
    for run_dir in abandoned_runs(parent):
        try:
            notes.append(finish_run(run_dir, progress))
        except OSError as exc:
            notes.append(f"abandoned run {run_dir.name}: could not be finished: "
                         f"{exc.strerror or exc}")
    return notes
