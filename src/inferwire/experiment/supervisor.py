"""Ends every process a capture run started once the run's own process is gone, however it went.

Run as ``python -I supervisor.py RUN_PID [GRACE_S]`` with a pipe on stdin whose write end
only the run holds.  While the run lives, the processes it started (its descendants that began
after this supervisor did: the server, load tools and their workers, capture tools, their
children) are noted every :data:`POLL_S`.  When the run writes ``done`` it ended
normally and this exits.  When the pipe reaches end of file without ``done``, or this process
is re-parented (the run died while something else held the pipe), the run was killed
(SIGKILL, a crash, SIGTERM without a handler): every noted process still alive (same pid *and*
start time, so a recycled pid is never signalled) and its descendants get SIGTERM (capture tools
flush and close their files on it), then SIGKILL after ``GRACE_S``.

Linux ``/proc`` and the standard library only: it must start fast and import nothing from
inferwire (``-I``).
"""
from __future__ import annotations

import os
import select
import signal
import sys
import time

POLL_S = 0.2


def stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks since boot) of ``pid``, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(b")") + 2:].split()     # the name may hold spaces and ")"
    return int(fields[1]), int(fields[19])


def processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, start ticks) of every process now."""
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            found = stat(int(name))
            if found is not None:
                out[int(name)] = found
    return out


def descendants(roots: set[int], table: dict[int, tuple[int, int]]) -> set[int]:
    """Pids in ``table`` below any of ``roots`` (not the roots themselves)."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = set(), list(roots)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def note(run_pid: int, run_start: int, seen: dict[int, int]) -> None:
    """Add the run's descendants that started at ``run_start`` ticks or later to ``seen``
    (pid -> start ticks)."""
    table = processes()
    me = os.getpid()
    for pid in descendants({run_pid}, table):
        if pid != me and table[pid][1] >= run_start:
            seen[pid] = table[pid][1]


def end_all(seen: dict[int, int], grace_s: float) -> None:
    """SIGTERM to every noted process still alive and to its descendants, SIGKILL after
    ``grace_s`` to those still there."""
    table = processes()
    alive = {pid for pid, start in seen.items() if pid in table and table[pid][1] == start}
    targets = alive | descendants(alive, table)
    starts = {pid: table[pid][1] for pid in targets}
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 2.0)):
        for pid in list(starts):
            found = stat(pid)
            if found is None or found[1] != starts[pid]:
                del starts[pid]
                continue
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                del starts[pid]
        deadline = time.monotonic() + wait_s
        while starts and time.monotonic() < deadline:
            time.sleep(0.05)
            starts = {p: s for p, s in starts.items() if (stat(p) or (0, None))[1] == s}


def main(argv: list[str]) -> int:
    run_pid = int(argv[1])
    grace_s = float(argv[2]) if len(argv) > 2 else 5.0
    run_start = stat(os.getpid())[1]     # what the run starts from now on is the run's
    signal.signal(signal.SIGINT, signal.SIG_IGN)        # a terminal Ctrl-C is the run's to handle
    seen: dict[int, int] = {}
    stdin = sys.stdin.buffer.raw
    message = b""
    while True:
        note(run_pid, run_start, seen)
        if select.select([stdin], [], [], POLL_S)[0]:
            chunk = os.read(stdin.fileno(), 64)
            message += chunk
            if message.startswith(b"done"):
                return 0
            if not chunk:
                break                                   # end of file: the run is gone
        if os.getppid() != run_pid:
            break                                       # re-parented: the run is gone
    end_all(seen, grace_s)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
