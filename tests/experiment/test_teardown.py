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
    time.sleep(float(sys.argv[1]))                    # the supervisor is looking (or not yet)
    kids = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]),
            subprocess.Popen(["sleep", "120"], start_new_session=True),   # a session of its own
            subprocess.Popen(["sh", "-c", "sleep 120 & echo $!"], stdout=subprocess.PIPE)]
    grandchild = int(kids[2].stdout.readline())       # sh exits at once: handed on already
    print(" ".join(str(p) for p in (kids[0].pid, kids[1].pid, grandchild)), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)              # at once: no look has seen them
""")


@pytest.mark.parametrize("settle_s", [0.5, 0.0], ids=["supervisor looking", "just started"])
def test_processes_started_just_before_the_parent_is_killed_are_ended_too(settle_s):
    """Started a few ms before a SIGKILL, they were never seen as the run's: the kernel hands
    them to init (one made its own session, one was handed on before the kill).  The supervisor
    finds them by the mark in their environment (before, they outlived the run: 3 of 3 by hand
    with the kill 10-100 ms after the start), also when the run dies before its supervisor has
    looked once."""
    for _ in range(2):
        proc = subprocess.Popen([sys.executable, "-c", KILLED_AT_ONCE, str(settle_s)],
                                stdout=subprocess.PIPE, text=True)
        family = []
        for pid in map(int, proc.stdout.readline().split()):
            with contextlib.suppress(psutil.NoSuchProcess):
                family.append(psutil.Process(pid))
        proc.wait()
        assert proc.returncode == -signal.SIGKILL and len(family) == 3
        gone, alive = psutil.wait_procs(family, timeout=30)
        for p in alive:
            p.kill()
        assert not alive, [p.cmdline() for p in alive]


def test_only_marked_processes_begun_since_the_supervisor_are_found():
    """Real processes: with the run's mark, begun before the supervisor's start (``ticks``) or
    after; already noted; with another run's mark; without one.  Only the marked one begun
    since and not yet noted is found."""
    from inferwire.experiment import supervisor
    env = {k: v for k, v in os.environ.items() if k != supervisor.RUN_MARK}
    sleep = ["sleep", "120"]
    procs = {"before": subprocess.Popen(sleep, env={**env, supervisor.RUN_MARK: "m1"})}
    try:
        time.sleep(0.05)                      # clock ticks (10 ms) between it and `ticks`
        ticks = _ticks_now()
        procs.update({
            "ours": subprocess.Popen(sleep, env={**env, supervisor.RUN_MARK: "m1"}),
            "noted": subprocess.Popen(sleep, env={**env, supervisor.RUN_MARK: "m1"}),
            "other run": subprocess.Popen(sleep, env={**env, supervisor.RUN_MARK: "m12"}),
            "unmarked": subprocess.Popen(sleep, env=env)})
        noted = procs["noted"].pid
        found = supervisor.marked("m1", ticks, {noted: supervisor.stat(noted)[1]})
        assert set(found) == {procs["ours"].pid}, (found, {k: p.pid for k, p in procs.items()})
        assert supervisor.marked("m1", 0, {})[procs["before"].pid] < ticks
    finally:
        for p in procs.values():
            p.kill()
            p.wait()


def _ticks_now() -> int:
    with open("/proc/uptime") as f:
        return int(float(f.read().split()[0]) * os.sysconf("SC_CLK_TCK"))


def test_the_mark_is_gone_after_done():
    from inferwire.experiment import supervisor
    from inferwire.experiment.teardown import Supervisor
    assert supervisor.RUN_MARK not in os.environ
    sup = Supervisor(grace_s=1.0).start()
    mark = os.environ[supervisor.RUN_MARK]
    child = subprocess.run([sys.executable, "-c",
                            f"import os; print(os.environ['{supervisor.RUN_MARK}'])"],
                           capture_output=True, text=True, check=True)
    assert child.stdout.strip() == mark and len(mark) == 32
    sup.done()
    assert supervisor.RUN_MARK not in os.environ


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
