"""Real-time senders: SCHED_FIFO for open-loop sends where permitted, never elsewhere."""
import os
import shutil
import subprocess
import sys
import threading

import pytest

from needs import skip_or_fail

from inferwire.errors import LoadError
from inferwire.load import LoadListener, LoadOptions, WorkResult, run_load
from inferwire.load.priority import OtherThreads, SendPriority, realtime_permitted

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_setscheduler"), reason="Linux only")


def need_realtime():
    if not realtime_permitted():
        skip_or_fail("SCHED_FIFO is not permitted here (needs root, CAP_SYS_NICE or ulimit -r > 0)")


def policy():
    """The calling thread's scheduling policy, without the reset-on-fork flag."""
    return os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK


class Policies:
    """A workload reporting the scheduling policy of the thread that makes the request."""
    name = "policy probe"

    def __init__(self):
        self.seen = []

    def __call__(self, request_id):
        self.seen.append(policy())
        return WorkResult(request_id, ok=True, status=self.seen[-1])


class ListenerPolicies(LoadListener):
    def __init__(self):
        self.seen = set()

    def on_request(self, record):
        self.seen.add(policy())


def test_raise_and_lower_act_on_the_calling_thread_only():
    need_realtime()
    priority = SendPriority("auto")
    assert priority.enabled
    seen = {}

    def sender():
        seen["raised"] = priority.raise_thread()
        seen["during"] = policy()
        seen["reset_on_fork"] = bool(os.sched_getscheduler(0) & os.SCHED_RESET_ON_FORK)
        seen["child"] = []
        child = threading.Thread(target=lambda: seen["child"].append(policy()))
        child.start()
        child.join()
        seen["main_during"] = os.sched_getscheduler(main_tid)
        priority.lower_thread()
        seen["after"] = policy()

    main_tid = threading.get_native_id()
    t = threading.Thread(target=sender)
    t.start()
    t.join()
    assert seen == {"raised": True, "during": os.SCHED_FIFO, "reset_on_fork": True,
                    "child": [os.SCHED_OTHER],          # threads it starts are normal
                    "main_during": os.SCHED_OTHER, "after": os.SCHED_OTHER}


def test_normal_never_changes_the_policy():
    priority = SendPriority("normal")
    assert not priority.enabled and priority.raise_thread() is False
    assert policy() == os.SCHED_OTHER


def test_realtime_without_permission_is_a_clear_error():
    """In a child that may not use SCHED_FIFO (no privilege, RLIMIT_RTPRIO 0)."""
    code = ("import resource, sys\n"
            "resource.setrlimit(resource.RLIMIT_RTPRIO, (0, 0))\n"
            "from inferwire.errors import LoadError\n"
            "from inferwire.load.priority import OtherThreads, SendPriority, realtime_permitted\n"
            "assert not realtime_permitted()\n"
            "assert not SendPriority('auto').enabled\n"
            "try:\n"
            "    SendPriority('realtime')\n"
            "except LoadError as exc:\n"
            "    print(exc)\n")
    argv = [sys.executable, "-c", code]
    if os.geteuid() == 0:                     # root: without CAP_SYS_NICE (util-linux setpriv)
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            skip_or_fail("setpriv (util-linux) is needed to drop root's CAP_SYS_NICE")
        argv = [setpriv, "--bounding-set", "-sys_nice", "--inh-caps", "-sys_nice", *argv]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "needs permission to use SCHED_FIFO" in out.stdout


class Bystander:
    """A thread of the caller's that lives through the run, sampling its own policy."""

    def __init__(self):
        self.seen, self.stop = set(), threading.Event()
        self.thread = threading.Thread(target=self.run, name="bystander")
        self.thread.start()

    def run(self):
        while not self.stop.wait(0.01):
            self.seen.add(policy())

    def policy_now(self):
        return os.sched_getscheduler(self.thread.native_id) & ~os.SCHED_RESET_ON_FORK

    def end(self):
        self.stop.set()
        self.thread.join()


def test_open_loop_runs_real_time_and_puts_every_thread_back():
    need_realtime()
    caller = threading.get_native_id()
    work, listener, bystander = Policies(), ListenerPolicies(), Bystander()
    caller_during = set()

    def workload(request_id):
        caller_during.add(os.sched_getscheduler(caller) & ~os.SCHED_RESET_ON_FORK)
        return work(request_id)

    try:
        summary = run_load(workload, LoadOptions(mode="open", rate=200, requests=100,
                                                 sender_priority="auto"), [listener])
        bystander_after = bystander.policy_now()
    finally:
        bystander.end()
    assert summary.ok == 100
    assert set(work.seen) == {os.SCHED_FIFO}                # every request, while it ran
    assert os.SCHED_FIFO in listener.seen                   # the delivery thread (the last
                                                            # records come after the run)
    assert caller_during == {os.SCHED_FIFO}                 # the caller, during the run
    assert os.SCHED_FIFO in bystander.seen                  # other threads, during the run
    assert policy() == os.SCHED_OTHER and bystander_after == os.SCHED_OTHER   # all back


def test_other_threads_are_raised_and_restored_but_skipped_ones_are_not():
    need_realtime()
    stop = threading.Event()

    def realtime_already():
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(2))
        stop.wait()

    threads = [threading.Thread(target=stop.wait, name="plain"),
               threading.Thread(target=stop.wait, name="skipped"),
               threading.Thread(target=realtime_already, name="already")]
    for t in threads:
        t.start()
    me = threading.current_thread()
    try:
        others = OtherThreads(SendPriority("auto"),
                              skip=lambda t: t.name == "skipped" or t is me)
        others.raise_new()
        raised = {t.name: os.sched_getscheduler(t.native_id) & ~os.SCHED_RESET_ON_FORK
                  for t in threads}
        others.restore()
        after = {t.name: os.sched_getscheduler(t.native_id) for t in threads}
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert raised == {"plain": os.SCHED_FIFO, "skipped": os.SCHED_OTHER, "already": os.SCHED_RR}
    assert after == {"plain": os.SCHED_OTHER, "skipped": os.SCHED_OTHER,
                     "already": os.SCHED_RR}                  # not ours to undo
    assert policy() == os.SCHED_OTHER


@pytest.mark.parametrize("options", [
    dict(mode="open", rate=500, requests=50),                       # the default: normal
    dict(mode="open", rate=500, requests=50, sender_priority="normal"),
    dict(mode="closed", users=2, requests=50, sender_priority="auto")])
def test_normal_priority_and_closed_loops_stay_normal(options):
    work = Policies()
    run_load(work, LoadOptions(**options))
    assert set(work.seen) == {os.SCHED_OTHER}


def test_invalid_priority_is_rejected():
    with pytest.raises(LoadError, match="sender_priority must be one of"):
        LoadOptions(requests=1, sender_priority="high")
