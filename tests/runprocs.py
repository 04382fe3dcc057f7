"""Capture runs as processes, for the tests that start ``scripts/capture_run.py`` or a server
and then check what is left: start the script, read its output up to a line, find its run
folder, and list the processes still naming a folder (what must not outlive a run)."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def start_capture_run(out: Path, *args: str) -> subprocess.Popen:
    """``scripts/capture_run.py --out OUT ARGS...`` with its output (stderr too) on a pipe."""
    return subprocess.Popen([sys.executable, str(ROOT / "scripts" / "capture_run.py"),
                             "--out", str(out), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(proc: subprocess.Popen, text: str, timeout: float = 180) -> list[str]:
    """The output lines of ``proc`` up to the first holding ``text``; fails with the output
    read so far when the output ends or ``timeout`` seconds pass first."""
    deadline, seen = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"never saw {text!r}; output:\n{''.join(seen)}")


def run_dir_of(out: Path) -> Path:
    """The one run folder under ``out``."""
    dirs = [p for p in Path(out).iterdir() if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def processes_naming(folder) -> list[str]:
    """Command lines of the live processes (zombies left out) whose command line names
    ``folder``: a run's server, capture tool, load tool, Triton's stubs."""
    left = []
    for p in psutil.process_iter(["cmdline", "status"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if str(folder) in cmd and p.info["status"] != psutil.STATUS_ZOMBIE:
            left.append(cmd)
    return left


def gone_within(folder, seconds: float) -> list[str]:
    """:func:`processes_naming` once none is left or ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while processes_naming(folder) and time.monotonic() < deadline:
        time.sleep(0.1)
    return processes_naming(folder)
