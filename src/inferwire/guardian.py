"""The parent's side of a guardian process: a small standard-library script (the run's
supervisor, :mod:`inferwire.experiment.supervisor`; a capture tool's watchdog,
:mod:`inferwire.capture.watchdog`) that ends processes if its parent dies without ending them.

The guardian's stdin is a pipe whose write end only the parent holds.  The parent writes
``done`` and closes it before its normal end; end of file without ``done`` tells the guardian
that the parent was killed (SIGKILL, a crash).
"""
from __future__ import annotations

import subprocess
import sys

RELEASE_WAIT_S = 5.0    # a guardian told "done" exits at once; still alive after this, it is stuck


def start_guardian(script: str, *args: object) -> subprocess.Popen:
    """``python -I SCRIPT ARGS...`` with its stdin a pipe, in its own session (a Ctrl-C meant
    for the parent's process group must not reach it).  OSError if it cannot start."""
    return subprocess.Popen([sys.executable, "-I", script, *map(str, args)],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def release_guardian(proc: subprocess.Popen, wait_s: float = RELEASE_WAIT_S) -> None:
    """Tell the guardian its parent ends normally (``done``, then end of file) and wait up to
    ``wait_s`` seconds for it to exit; kill it if it has not."""
    try:
        proc.stdin.write(b"done")
        proc.stdin.close()
    except OSError:           # it is gone already (its pipe is broken)
        pass
    try:
        proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
