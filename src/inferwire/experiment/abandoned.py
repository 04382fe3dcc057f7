"""Run folders left at "running" by a process that is gone: how they are recognised.

A run whose process was killed outright (SIGKILL, a power cut, the OOM killer) cannot write its
final manifest; its supervisor (:mod:`.teardown`) ended the processes it had started and the
capture tool flushed its file.  A later run in the same ``--out`` folder, or ``inferwire runs
--clean``, finds such folders (status "running", and the pid in the manifest is not alive with
the same start time on this host); :func:`inferwire.experiment.run.finish_abandoned` marks them
"abandoned" and analyzes what they hold: the capture (a last record cut mid-write costs a
warning, not the file), the client and server logs, into requests.csv, joined.csv and summary.md.
"""
from __future__ import annotations

import platform
from pathlib import Path

from ..extras import require
from ..runfolder import read_manifest

require("psutil", what="a capture run")
import psutil  # noqa: E402 - after the check that names the extra it comes with


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
