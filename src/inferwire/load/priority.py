"""Real-time scheduling (Linux SCHED_FIFO) for open-loop runs, when the OS allows it.

Why, measured at 300-500 req/s of gRPC Predict with the server on the same 2 shared cores:

* A late send was late because its woken sender sat runnable but not running: its run-queue
  delay (``/proc/thread-self/schedstat``) covered about 90 % of the lateness.  A real-time
  thread runs as soon as its timer fires, ahead of every normal task.
* Lowering a sender right after its send's timestamp let the OS preempt it before the request
  went out (lateness moved into latency, not removed): senders stay real-time for the request.
* What was left was the GIL: a real-time sender waits for it while a normal thread of the same
  process, preempted by the OS, holds it (the run's delivery thread, the caller, a resource
  sampler).  With every Python thread of the process real-time during the run, the senders'
  late wake-ups fell from p99 0.6-1.2 ms to 0.3-0.5 ms; what remains is the switch interval.

What it costs: a real-time client preempts a server on the same cores at once, each time one
of its threads wakes (a send, an answer).  With the embedded gRPC server on the same 2 shared
cores, the server's threads were preempted about twice as often per request (10-13 instead of
5-6 involuntary switches), and at 500 req/s the server fell behind (64 requests in flight, the
later sends held back) in 18 of 20 rounds with real-time senders, 9 of 20 with normal ones.
A real-time client thus disturbs what inferwire measures on a server that shares its cores;
it is for loads sent to a server elsewhere, or with cores to spare.  Hence opt-in
(``LoadOptions.sender_priority="auto"``), not the default.

With it, during an open-loop run the workers, the delivery thread, the calling thread and the
other Python threads of the process (:class:`OtherThreads`) run real-time, and all are put back
after.  The priority is the lowest real-time one, with SCHED_RESET_ON_FORK: threads started
from them (gRPC's event-engine threads, say) begin normal, and threads started by C code are
never raised, so nothing that may spin runs real-time; Python threads cannot take more than one
core between them (the GIL).  Only where the process may (root, CAP_SYS_NICE or an
RLIMIT_RTPRIO above 0); elsewhere :class:`SendPriority` is off and nothing changes.
"""
from __future__ import annotations

import os
import threading

from ..errors import LoadError

PRIORITIES = ("auto", "realtime", "normal")
RT_PRIORITY = 1      # the lowest real-time priority: above every normal task, below the kernel's


def realtime_permitted() -> bool:
    """True if this thread may switch itself to SCHED_FIFO (tried and undone at once)."""
    if not hasattr(os, "sched_setscheduler"):
        return False
    try:
        previous = os.sched_getscheduler(0), os.sched_getparam(0)
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(RT_PRIORITY))
    except OSError:
        return False
    os.sched_setscheduler(0, previous[0], previous[1])
    return True


class SendPriority:
    """Raises the calling thread to SCHED_FIFO and lowers it back, if ``mode`` and the OS allow.

    ``mode`` "auto": real-time when permitted, else normal; "realtime": LoadError if not
    permitted; "normal": never.  ``enabled`` says whether raising will happen; a process that
    already runs real-time is left as it is.  Each call is one system call (about 1 µs) acting
    on the calling thread only (``sched_setscheduler(0, ...)``).
    """

    def __init__(self, mode: str):
        if mode not in PRIORITIES:
            raise LoadError(f"sender_priority must be one of {PRIORITIES}, not {mode!r}")
        self.enabled = False
        if not hasattr(os, "sched_setscheduler"):
            already_realtime = False
        else:
            # New threads get the policy of the thread that started them: "back" means this.
            self._normal = os.sched_getscheduler(0), os.sched_getparam(0)
            policy = self._normal[0] & ~os.SCHED_RESET_ON_FORK
            already_realtime = policy in (os.SCHED_FIFO, os.SCHED_RR)
            self.enabled = mode != "normal" and not already_realtime and realtime_permitted()
        if mode == "realtime" and not (self.enabled or already_realtime):
            raise LoadError("sender_priority='realtime' needs permission to use SCHED_FIFO "
                            "(root, CAP_SYS_NICE or `ulimit -r` above 0); use 'auto' or 'normal'")

    def raise_thread(self) -> bool:
        """Make the calling thread real-time (threads it starts will not be); True if it is."""
        if not self.enabled:
            return False
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK,
                                  os.sched_param(RT_PRIORITY))
        except OSError:      # permission withdrawn meanwhile: carry on at normal priority
            return False
        return True

    def lower_thread(self) -> None:
        """Put the calling thread back to the policy it had before :meth:`raise_thread`."""
        if self.enabled:
            try:
                os.sched_setscheduler(0, *self._normal)
            except OSError:
                pass         # lowering needs no permission; nothing sensible to do otherwise


class OtherThreads:
    """The process's other Python threads, raised to real-time for a run and put back after.

    A normal thread of the same process that the OS preempts while it holds the GIL holds up
    every real-time sender until it runs again: measured in a capture run, where the resource
    sampler's thread alone doubled the senders' late wake-ups (p99 0.6-1.2 ms instead of
    0.4-0.5 ms).  :meth:`raise_new` (call it now and then: threads come and go) raises each
    Python thread not yet seen for which ``skip(thread)`` is false; threads started by C code
    (``threading._DummyThread``, e.g. a client library's pollers) are left alone, so nothing
    that may spin runs real-time.  :meth:`restore` gives each its old policy back.
    """

    def __init__(self, priority: SendPriority, skip=lambda thread: False):
        self._priority, self._skip = priority, skip
        self._saved: dict[int, tuple] = {}

    def raise_new(self) -> None:
        """Raise the threads that appeared since the last call (if the priority is enabled)."""
        if not self._priority.enabled:
            return
        foreign = getattr(threading, "_DummyThread", ())
        for thread in threading.enumerate():
            tid = thread.native_id
            if tid is None or tid in self._saved or isinstance(thread, foreign) or self._skip(
                    thread):
                continue
            try:
                previous = os.sched_getscheduler(tid), os.sched_getparam(tid)
                if previous[0] & ~os.SCHED_RESET_ON_FORK not in (os.SCHED_FIFO, os.SCHED_RR):
                    os.sched_setscheduler(tid, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK,
                                          os.sched_param(RT_PRIORITY))
                    self._saved[tid] = previous
                else:
                    self._saved[tid] = None          # already real-time: not ours to undo
            except OSError:                          # it ended meanwhile
                self._saved[tid] = None

    def restore(self) -> None:
        """Put every raised thread back to the policy it had."""
        saved, self._saved = self._saved, {}
        for tid, previous in saved.items():
            if previous is not None:
                try:
                    os.sched_setscheduler(tid, *previous)
                except OSError:                      # it ended meanwhile
                    pass
