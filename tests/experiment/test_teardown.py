"""The teardown machinery on its own, with real signals and real processes (no server): the
supervisor ends what a killed parent started (forked grandchildren too) and leaves it alone after
a normal end; signals are deferred during a teardown; SIGTERM takes the Ctrl-C path; every step
runs."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from inferwire.experiment.teardown import (Steps, Terminated, deferred_signals,
                                           terminate_as_interrupt)

PARENT = textwrap.dedent("""
    import os, subprocess, sys, time
    from inferwire.experiment.teardown import Supervisor
    sup = Supervisor(grace_s=1.0).start()
    time.sleep(0.3)                                   # started before this: not the run's
    kids = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]),
            subprocess.Popen(["sh", "-c", "sleep 120 & sleep 120 & wait"]),   # grandchildren
            subprocess.Popen([sys.executable, "-c",                           # ignores SIGTERM
                              "import signal, time; signal.signal(signal.SIGTERM, "
                              "signal.SIG_IGN); time.sleep(120)"])]
    time.sleep(1.0)                                   # the supervisor notes them
    print(" ".join(str(k.pid) for k in kids), flush=True)
    if sys.argv[1] == "done":
        sup.done()
        print("done", flush=True)
    time.sleep(120)
""")


def start_parent(mode: str):
    proc = subprocess.Popen([sys.executable, "-c", PARENT, mode], stdout=subprocess.PIPE,
                            text=True)
    pids = [int(p) for p in proc.stdout.readline().split()]
    family = [psutil.Process(p) for p in pids]
    family += [c for p in family for c in p.children(recursive=True)]
    return proc, family


def test_supervisor_ends_everything_a_killed_parent_started():
    proc, family = start_parent("run")
    assert len(family) == 5
    proc.kill()
    proc.wait()
    start = time.monotonic()
    gone, alive = psutil.wait_procs(family, timeout=30)
    assert not alive, [p.cmdline() for p in alive]
    # 0.2 s to notice, 1 s grace, then SIGKILL; a loaded host stretches that, but nowhere near
    # the 120 s the children would otherwise live
    assert time.monotonic() - start < 15


def test_supervisor_leaves_everything_alone_after_done():
    proc, family = start_parent("done")
    assert proc.stdout.readline().strip() == "done"
    proc.kill()
    proc.wait()
    time.sleep(1.5)
    try:
        assert all(p.is_running() for p in family)
    finally:
        for p in family:
            p.kill()
        psutil.wait_procs(family, timeout=5)


KILLED_AT_ONCE = textwrap.dedent("""
    import os, signal, subprocess, sys, time
    from inferwire.experiment.teardown import Supervisor
    sup = Supervisor(grace_s=1.0).start()
    time.sleep(0.5)                                   # the supervisor is looking
    kids = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]),
            subprocess.Popen(["sleep", "120"])]
    print(" ".join(str(k.pid) for k in kids), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)              # at once: no look has seen them
""")


def test_processes_started_just_before_the_parent_is_killed_are_ended_too():
    """Started a few ms before a SIGKILL, they were never seen as the run's: the kernel hands
    them to init.  The supervisor finds them as orphans of the run's process group (before,
    they outlived the run: 3 of 3 by hand with the kill 10-100 ms after the start)."""
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", KILLED_AT_ONCE], stdout=subprocess.PIPE,
                                text=True)
        family = []
        for pid in map(int, proc.stdout.readline().split()):
            with contextlib.suppress(psutil.NoSuchProcess):
                family.append(psutil.Process(pid))
        proc.wait()
        assert proc.returncode == -signal.SIGKILL and len(family) == 2
        gone, alive = psutil.wait_procs(family, timeout=30)
        for p in alive:
            p.kill()
        assert not alive, [p.cmdline() for p in alive]


GROUP = textwrap.dedent("""
    import subprocess, sys, time
    other = subprocess.Popen([sys.executable, "-c",               # a sibling of the run, with
        "import subprocess, time; g = subprocess.Popen(['sleep', '120']); "  # a child of its own
        "print(g.pid, flush=True); time.sleep(120)"], stdout=subprocess.PIPE, text=True)
    grandchild = other.stdout.readline().strip()
    run = subprocess.Popen(["sh", "-c", "sleep 120 & echo $!"], stdout=subprocess.PIPE,
                           text=True)                             # dies, its child orphaned
    orphan = run.stdout.readline().strip()
    run.wait()
    print(other.pid, grandchild, orphan, run.pid, flush=True)
    time.sleep(120)
""")


def test_orphans_are_only_the_dead_runs_children():
    """A real process group: the run (``sh``) died leaving a child to init; beside it, another
    child of the run's parent and that one's own child.  Only the orphan is the run's."""
    from inferwire.experiment import supervisor
    since = supervisor.ticks_now() - 1
    launcher = subprocess.Popen([sys.executable, "-c", GROUP], stdout=subprocess.PIPE,
                                text=True, start_new_session=True)
    try:
        other, grandchild, orphan, _ = map(int, launcher.stdout.readline().split())
        deadline = time.monotonic() + 10
        while psutil.Process(orphan).ppid() == launcher.pid and time.monotonic() < deadline:
            time.sleep(0.01)                         # (handed on when sh exits)
        found = supervisor.orphans(since, os.getpgid(launcher.pid), launcher.pid, {})
        assert set(found) == {orphan}, (found, other, grandchild)
        assert found[orphan] >= since
        assert supervisor.orphans(since, os.getpgid(launcher.pid), launcher.pid,
                                  {orphan: found[orphan]}) == {}
    finally:
        os.killpg(os.getpgid(launcher.pid), signal.SIGKILL)
        launcher.wait()
        with contextlib.suppress(Exception):
            os.kill(orphan, signal.SIGKILL)


def test_signals_are_deferred_during_a_teardown_and_the_steps_all_run():
    ran = []
    with deferred_signals() as late:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        steps = Steps()
        steps.run("first", lambda: (_ for _ in ()).throw(OSError(28, "No space left on device",
                                                                  "/full/resources.csv")))
        steps.run("second", ran.append, "second")
    assert late.names == ["SIGINT", "SIGTERM"]
    assert ran == ["second"]
    assert steps.errors == ["first: No space left on device (/full/resources.csv)"]
    with pytest.raises(KeyboardInterrupt):        # outside, Ctrl-C raises again
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)


def test_sigterm_raises_terminated_inside_and_the_old_handler_comes_back():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated) as info:
        with terminate_as_interrupt() as received:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
    assert info.value.signal_name == "SIGTERM" and received.names == ["SIGTERM"]
    assert isinstance(received.exception(), Terminated)
    assert signal.getsignal(signal.SIGTERM) == before
