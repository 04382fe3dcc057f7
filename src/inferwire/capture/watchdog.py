"""Stops a capture tool if the inferwire process that started it dies without stopping it.

Run as ``python -I watchdog.py PID [GRACE_S]`` with a pipe on stdin whose other end only the
parent holds.  The parent writes ``done`` before a normal stop; end-of-file without it means the
parent was killed (SIGKILL, SIGTERM without handler, crash), and the tool is stopped: SIGINT
(the tools flush and close their file on it), then SIGTERM, then SIGKILL.  A pidfd is used so that
a recycled PID is never signalled.  Standard library only: it must start fast and import nothing
from inferwire.
"""
from __future__ import annotations

import os
import select
import signal
import sys


def main(argv: list[str]) -> int:
    pid = int(argv[1])
    grace_s = float(argv[2]) if len(argv) > 2 else 5.0
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return 0
    message = sys.stdin.buffer.read()       # returns at end-of-file: parent finished or died
    if message.startswith(b"done"):
        return 0
    for sig, wait_s in ((signal.SIGINT, grace_s), (signal.SIGTERM, 2.0), (signal.SIGKILL, 2.0)):
        try:
            signal.pidfd_send_signal(pidfd, sig)
        except ProcessLookupError:
            return 0
        if select.select([pidfd], [], [], wait_s)[0]:    # a pidfd is readable once it exited
            return 0
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
