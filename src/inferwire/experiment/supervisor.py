"""Ends every process a capture run started once the run's own process is gone, however it went.

Run as ``python -I supervisor.py RUN_PID [GRACE_S [MARK]]`` with a pipe on stdin whose write end
only the run holds.  While the run lives, the processes it started (its descendants that began
after this supervisor did: the server, load tools and their workers, capture tools, their
children) are noted every :data:`POLL_S`.  When the run writes ``done`` it ended
normally and this exits.  When the pipe reaches end of file without ``done``, or this process
is re-parented (the run died while something else held the pipe), the run was killed
(SIGKILL, a crash, SIGTERM without a handler): every noted process still alive (same pid *and*
start time, so a recycled pid is never signalled) and its descendants get SIGTERM (capture tools
flush and close their files on it), then SIGKILL after ``GRACE_S``.

A process the run started after the last look and just before it died cannot be found as its
descendant any more: the kernel hands it to init (or a subreaper).  So the run also *marks* what
it starts: while the supervisor runs, the run's environment holds :data:`RUN_MARK` set to a
token only this supervisor knows (``MARK``, its third argument), which every process the run
starts inherits, and theirs.  Once the run is gone, the processes begun since this supervisor
started whose environment holds that token are ended too, wherever they now hang in the tree
and whatever session they made.  (A process may empty its environment, and
``/proc/PID/environ`` of a process with raised privileges may not be readable: such a process
is still ended when a look noted it.)  Before, a process started up to 0.2 s before a SIGKILL of
the run outlived it.

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
#: The environment variable that carries the run's mark (see the module's doc).
RUN_MARK = "INFERWIRE_RUN_MARK"


def stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks since boot) of ``pid``, None if it is gone."""
    found = _fields(pid)
    return None if found is None else (int(found[1]), int(found[19]))


def _fields(pid: int) -> list[bytes] | None:
    """The fields of ``/proc/PID/stat`` after the name (state, ppid, pgrp, ...), None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rindex(b")") + 2:].split()     # the name may hold spaces and ")"


def processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, start ticks) of every process now."""
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            found = stat(int(name))
            if found is not None:
                out[int(name)] = found
    return out


def marked(mark: str, since: int, seen: dict[int, int]) -> dict[int, int]:
    """pid -> start ticks of the processes begun at ``since`` ticks or later whose environment
    holds :data:`RUN_MARK` ``=mark`` and that are not in ``seen`` (nor this process): what the
    run started, found even after the kernel handed them on.  Processes whose environment
    cannot be read are left out."""
    needle = b"\0" + f"{RUN_MARK}={mark}".encode() + b"\0"
    out, me = {}, os.getpid()
    for pid, (_, start) in processes().items():
        if start < since or pid == me or pid in seen:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = b"\0" + f.read()
        except OSError:
            continue
        if needle in environ:
            out[pid] = start
    return out


def wait_gone(pid: int, timeout_s: float = 2.0) -> None:
    """Wait until ``pid`` has exited (gone or a zombie: its children handed on), at most
    ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = _fields(pid)
        if found is None or found[0] in (b"Z", b"X"):
            return
        time.sleep(0.005)


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
    mark = argv[3] if len(argv) > 3 else None
    run_start = stat(os.getpid())[1]     # what the run starts from now on is the run's
    signal.signal(signal.SIGINT, signal.SIG_IGN)        # a terminal Ctrl-C is the run's to handle
    seen: dict[int, int] = {}
    stdin = sys.stdin.buffer.raw
    message = b""
    while stat(run_pid) is not None:     # (gone before this started: only its marks are left)
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
    if mark:
        wait_gone(run_pid)       # (what it forked is forked; its children are handed on)
        seen.update(marked(mark, run_start, seen))
    end_all(seen, grace_s)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
