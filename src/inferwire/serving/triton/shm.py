"""The shared-memory files Triton's Python backend leaves in /dev/shm when it is killed.

Each Python-backend model instance shares a region (``triton_python_backend_shm_region_<uuid>``,
1 MiB at least) with its stub process.  The backend unlinks it on a clean exit; a server killed
(SIGKILL, a crash) leaves it in tmpfs, i.e. in memory, until the machine restarts.  So
:class:`~.process.TritonProcess` lists the regions before it starts the server and, once the
server and its stubs are gone, removes the new ones that no process still maps or holds open
(another server started meanwhile keeps its own).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

SHM = Path("/dev/shm")
REGION_PREFIX = "triton_python_backend_shm_region_"


def regions(shm: Path = SHM) -> set[str]:
    """The names of the Python backend's regions in ``shm`` now."""
    try:
        return {p.name for p in shm.iterdir() if p.name.startswith(REGION_PREFIX)}
    except OSError:
        return set()


def in_use(shm: Path = SHM) -> set[str]:
    """The names in ``shm`` some process maps or holds open (from /proc; processes that
    cannot be read are skipped: not root, or gone meanwhile)."""
    used: set[str] = set()
    prefix = f"{shm}/"
    for pid in (d for d in os.listdir("/proc") if d.isdigit()):
        try:
            with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as f:
                for line in f:
                    at = line.find(prefix)
                    if at >= 0:
                        used.add(line[at + len(prefix):].split()[0])
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith(prefix):
                    used.add(target[len(prefix):].split()[0])
        except OSError:
            continue
    return used


def remove_left(before: set[str], shm: Path = SHM, settle_s: float = 3.0) -> list[str]:
    """Remove the regions made since ``before`` (:func:`regions` then) that nothing uses;
    return their names.  A region still mapped is looked at again for up to ``settle_s``
    seconds (a stub killed a moment ago may not have released it yet)."""
    removed: list[str] = []
    deadline = time.monotonic() + settle_s
    while True:
        new = regions(shm) - before
        if not new:
            return removed
        used = in_use(shm)
        for name in sorted(new - used):
            try:
                (shm / name).unlink()
                removed.append(name)
            except OSError:
                pass
        if not (new & used) or time.monotonic() >= deadline:
            return removed
        time.sleep(0.1)
