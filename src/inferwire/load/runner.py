"""run_load: drive a workload with worker threads on a closed- or open-loop plan.

Each worker claims a slot from the :class:`~.schedule.Plan`, sleeps until the slot's planned time
(CLOCK_MONOTONIC, so wall-clock steps cannot bend the schedule), calls the workload with a fresh
request id, and queues a :class:`~.events.RequestRecord`; a delivery thread counts each record in
the summary's :class:`~.stats.LoadTally` (fixed size: the runner keeps no per-request list) and
hands it to the listeners (the client log keeps it on disk).  In an open loop a worker that is
busy does not delay the schedule: a few idle workers wait on the next slots (:mod:`.lineup`), each
sending its own, late if need be, and the lateness is recorded (latency is also reported from the
planned time).  ``max_in_flight`` workers bound the concurrency; if all are busy, sends queue
up late rather than being dropped.  During an open-loop run with ``sender_priority="auto"`` the
senders (and every other Python thread of the process, which could hold the GIL they need) run
real-time where the OS allows it (:mod:`.priority`), so that a busy machine does not make them
late.

Ctrl-C: sends stop, requests in flight get ``stop_grace_s`` seconds to finish, the rest are logged
as unfinished, listeners get every record and ``on_stop``, and :class:`LoadInterrupted` (a
KeyboardInterrupt carrying the summary) is raised.
"""
from __future__ import annotations

import gc
import os
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..errors import InferwireWarning, LoadError
from .events import LoadListener, RequestRecord, RunInfo
from .lineup import Lineup
from .priority import PRIORITIES, OtherThreads, SendPriority
from .schedule import ARRIVALS, Plan, Slot
from .stats import LoadSummary, LoadTally

NS_PER_S = 1_000_000_000
START_DELAY_NS = 20_000_000     # lets every worker thread start before the first planned send
DELIVERY_INTERVAL_S = 0.1
LONG_WAIT_NS = 20_000_000       # waits longer than this watch the stop event
THREAD_PREFIX = "inferwire-load-"  # the run's own threads (they raise themselves)
WAITING_SENDERS = 4             # open loop: workers asleep on a claimed slot at once (Lineup)


@dataclass(frozen=True)
class LoadOptions:
    """How to load the server.  Defaults in one place; durations in seconds, rate per second.

    mode "closed": ``users`` workers, each sending as soon as its previous answer arrived plus
    ``think_time_s``.  mode "open": arrivals at ``rate`` per second, ``arrival`` "constant" or
    "poisson" (seeded by ``seed``), with up to ``max_in_flight`` requests at once.  The run ends
    after ``requests`` measured requests or ``duration_s`` seconds of measurement, whichever is
    first; ``warmup_s`` or ``warmup_requests`` come before and are excluded from the summary.
    ``switch_interval_s`` sets sys.setswitchinterval for the run (restored after): a thread woken
    for its send waits at most about that long for the GIL (Python's default is 5 ms; measured
    at 300 req/s with real-time senders, p99 of the senders' wake-up 0.35-0.39 ms at 0.2 ms,
    0.49-0.58 ms at 0.5 ms).  ``spin_s``: the last part of each wait for a planned send is a
    loop yielding the GIL (0 disables it; real-time senders do not spin).  ``sender_priority``
    (open loop): "normal" leaves scheduling alone; "auto" runs the workers and the process's
    other Python threads real-time (SCHED_FIFO) during the run where the OS permits;
    "realtime" requires that (LoadError if not permitted).  See :mod:`.priority` for what it
    buys the senders and what it costs a server on the same cores.
    """
    mode: str = "closed"
    users: int = 4
    think_time_s: float = 0.0
    rate: float | None = None
    arrival: str = "constant"
    duration_s: float | None = None
    requests: int | None = None
    warmup_s: float = 0.0
    warmup_requests: int = 0
    seed: int | None = None
    max_in_flight: int = 32
    id_prefix: str | None = None
    stop_grace_s: float = 10.0
    switch_interval_s: float | None = 0.0002
    spin_s: float = 0.00025
    sender_priority: str = "normal"

    def __post_init__(self):
        problems = []
        if self.mode not in ("closed", "open"):
            problems.append(f"mode must be 'closed' or 'open', not {self.mode!r}")
        if self.mode == "closed" and self.users < 1:
            problems.append("closed loop needs users >= 1")
        if self.mode == "open" and (self.rate is None or self.rate <= 0):
            problems.append("open loop needs rate > 0 (requests per second)")
        if self.mode == "open" and self.max_in_flight < 1:
            problems.append("max_in_flight must be >= 1")
        if self.arrival not in ARRIVALS:
            problems.append(f"arrival must be one of {ARRIVALS}, not {self.arrival!r}")
        if self.duration_s is None and self.requests is None:
            problems.append("give duration_s or requests (or both)")
        if (self.duration_s is not None and self.duration_s <= 0) or (
                self.requests is not None and self.requests < 1):
            problems.append("duration_s and requests must be positive")
        if min(self.warmup_s, self.warmup_requests, self.think_time_s, self.spin_s) < 0:
            problems.append("warmup_s, warmup_requests, think_time_s and spin_s must be >= 0")
        if self.warmup_s and self.warmup_requests:
            problems.append("give warmup_s or warmup_requests, not both")
        if self.sender_priority not in PRIORITIES:
            problems.append(f"sender_priority must be one of {PRIORITIES}, "
                            f"not {self.sender_priority!r}")
        if problems:
            raise LoadError("invalid load options: " + "; ".join(problems))

    @property
    def workers(self) -> int:
        return self.users if self.mode == "closed" else self.max_in_flight

    def plan(self) -> Plan:
        """The slot plan these options describe."""
        return Plan(rate=self.rate if self.mode == "open" else None, arrival=self.arrival,
                    seed=self.seed, warmup_requests=self.warmup_requests,
                    warmup_ns=round(self.warmup_s * NS_PER_S), requests=self.requests,
                    duration_ns=None if self.duration_s is None else round(self.duration_s * NS_PER_S))


class LoadInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the run; ``summary`` covers what was measured (all of it was delivered)."""

    def __init__(self, summary: LoadSummary):
        super().__init__("load interrupted")
        self.summary = summary


def result_fields(result) -> dict:
    """The record fields a workload's result carries (PredictResult-like; missing -> None)."""
    get = lambda name, default=None: getattr(result, name, default)  # noqa: E731
    return dict(ok=bool(get("ok", True)), status=get("status"),
                request_bytes=get("request_bytes"), response_bytes=get("response_bytes"),
                serialize_ns=get("serialize_ns"), model_time_ns=get("model_time_ns"),
                error=get("error"), first_token_ns=get("first_token_ns"),
                last_token_ns=get("last_token_ns"), tokens=get("tokens"),
                itl_p50_ms=get("itl_p50_ms"), itl_max_ms=get("itl_max_ms"))


def run_load(workload: Callable[[str], object], options: LoadOptions,
             listeners: Iterable[LoadListener] = (), *,
             stop: threading.Event | None = None) -> LoadSummary:
    """Run ``workload(request_id)`` as ``options`` say; returns the :class:`LoadSummary`.

    ``stop``: set it from elsewhere (e.g. when the server died) to end the run early; the
    summary then says ``stopped_early``.  Raises LoadInterrupted on Ctrl-C and LoadError if a
    listener failed (the run is stopped at once then).
    """
    if not callable(workload):
        raise LoadError(f"workload {workload!r} is not callable")
    return _Run(workload, options, list(listeners), stop).execute()


class _Run:
    """The state of one run, shared by the workers, the delivery thread and the caller."""

    def __init__(self, workload, options: LoadOptions, listeners: list, external_stop):
        self.workload, self.options, self.listeners = workload, options, listeners
        self.external_stop = external_stop
        self.plan = options.plan()
        self.prefix = options.id_prefix or f"iw{os.urandom(3).hex()}"
        self.think_ns = round(options.think_time_s * NS_PER_S)
        self.spin_ns = round(options.spin_s * NS_PER_S)
        self.stop_event = threading.Event()
        self.lineup = Lineup(options.workers, WAITING_SENDERS)
        self.priority = SendPriority(options.sender_priority if self.plan.open_loop
                                     else "normal")
        self.others = OtherThreads(self.priority, skip=lambda t: t.name.startswith(THREAD_PREFIX)
                                   or t is threading.current_thread())
        self.lock = threading.Lock()
        self.tally = LoadTally()      # the summary's figures; no per-request list is kept
        self.outbox: deque[RequestRecord] = deque()
        self.in_flight: list[tuple | None] = [None] * options.workers
        self.abandoned = False
        self.listener_error: BaseException | None = None
        self.mono0 = self.wall0 = 0

    # -- workers -----------------------------------------------------------------------------
    def worker(self, index: int) -> None:
        if self.plan.open_loop:
            self.open_worker(index)
        else:
            self.closed_worker(index)

    def closed_worker(self, index: int) -> None:
        ready_ns = 0
        while True:
            slot = self.plan.claim(ready_ns)
            if slot is None or not self.sleep_until(self.mono0 + slot.offset_ns):
                return
            if not self.send(index, slot):
                return
            ready_ns = time.monotonic_ns() - self.mono0 + self.think_ns

    def open_worker(self, index: int) -> None:
        """With a turn (:mod:`.lineup`): claim the next slot, wait for it, pass the turn, send.

        Where :mod:`.priority` allows it the worker runs real-time (SCHED_FIFO) for its whole
        life: its timer and a passed turn wake it at once however busy the cores are, it sleeps
        right to a send instead of spinning, and it cannot be preempted by normal tasks between
        its timestamp and its request, nor while it holds the GIL that the next sender needs.
        """
        realtime = self.priority.raise_thread()
        try:
            while self.lineup.wait_turn(index):
                slot = self.plan.claim()
                if slot is None or not self.sleep_until(self.mono0 + slot.offset_ns,
                                                        spin=not realtime):
                    self.lineup.end()
                    return
                self.lineup.pass_on()
                if not self.send(index, slot):
                    return
        finally:
            if realtime:
                self.priority.lower_thread()

    def sleep_until(self, deadline_ns: int, spin: bool = True) -> bool:
        """Sleep to a CLOCK_MONOTONIC deadline; False if the run was stopped meanwhile.

        Long waits watch the stop event; with ``spin`` the last ``spin_s`` are spent yielding
        the GIL in a loop (time.sleep(0)), because a normal thread's timed sleep wakes 0.1 ms
        late or more (measured here: p50 lateness 0.11 ms with sleeps alone, 0.05 ms with the
        final yield loop).
        """
        spin_ns = self.spin_ns if spin else 0
        while True:
            remaining = deadline_ns - time.monotonic_ns()
            if remaining <= 0:
                return not self.stop_event.is_set()
            if remaining > LONG_WAIT_NS:
                if self.stop_event.wait((remaining - LONG_WAIT_NS // 2) / NS_PER_S):
                    return False
            elif remaining > spin_ns:
                time.sleep((remaining - spin_ns) / NS_PER_S)
            else:
                time.sleep(0)

    def send(self, index: int, slot: Slot) -> bool:
        """One request; False once the run abandoned its in-flight requests."""
        request_id = f"{self.prefix}-{slot.seq:07d}"
        started = time.time_ns()
        self.in_flight[index] = (slot, request_id, started)
        result, error = None, None
        try:
            result = self.workload(request_id)
        except Exception as exc:      # a failed request is a measurement, not a crash
            error = f"{type(exc).__name__}: {exc}"
        finished = time.time_ns()
        fields = result_fields(result)
        if error is not None:
            fields.update(ok=False, error=error)
        record = RequestRecord(request_id, index, slot.phase, self.wall0 + slot.offset_ns,
                               started, finished, **fields)
        with self.lock:
            self.in_flight[index] = None
            if self.abandoned:
                return False
            self.outbox.append(record)
        return True

    # -- delivery to listeners ---------------------------------------------------------------
    def deliver_loop(self, done: threading.Event) -> None:
        # Real-time like the senders (if they are): a normal thread preempted while it holds
        # the GIL would hold up every sender (see :mod:`.priority`).
        realtime = self.priority.raise_thread()
        try:
            while not done.wait(DELIVERY_INTERVAL_S):
                self.deliver()
        finally:
            if realtime:
                self.priority.lower_thread()

    def deliver(self) -> None:
        """Count every queued record in the tally and hand it to the listeners (one thread at a
        time: the delivery thread, then :meth:`finish`).  Records are not kept after this."""
        while self.outbox:
            record = self.outbox.popleft()
            self.tally.add(record)
            if self.listener_error is None:
                self.tell(lambda listener: listener.on_request(record))
        if self.listener_error is None:
            now = time.time_ns()
            self.tell(lambda listener: listener.on_tick(now))

    def tell(self, call) -> None:
        """``call(listener)`` for each listener; the first failure stops the run."""
        try:
            for listener in self.listeners:
                call(listener)
        except Exception as exc:      # e.g. the client log's disk is full: stop the run
            self.listener_error = exc
            self.stop_event.set()
            self.plan.stop()

    # -- the run -----------------------------------------------------------------------------
    def execute(self) -> LoadSummary:
        opts = self.options
        previous_switch = sys.getswitchinterval()
        if opts.switch_interval_s:
            sys.setswitchinterval(opts.switch_interval_s)
        # Everything alive before the run moves out of the collector's sight: a full collection
        # walking it stalled sends by ~20 ms at p99 (measured at 500 req/s after earlier runs in
        # the same process); objects made during the run are still collected as usual.
        gc.collect()
        gc.freeze()
        thresholds = gc.get_threshold()
        gc.set_threshold(thresholds[0], thresholds[1], 1_000_000)  # no full passes mid-run
        self.wall0 = time.time_ns() + START_DELAY_NS
        self.mono0 = time.monotonic_ns() + START_DELAY_NS
        info = RunInfo(opts, self.prefix, self.wall0, getattr(self.workload, "name",
                                                               type(self.workload).__name__))
        done_delivering = threading.Event()
        delivery = threading.Thread(target=self.deliver_loop, args=(done_delivering,),
                                    daemon=True, name=f"{THREAD_PREFIX}delivery")
        interrupted = stopped_early = caller_realtime = False
        workers = [threading.Thread(target=self.worker, args=(i,), daemon=True,
                                    name=f"{THREAD_PREFIX}{i}") for i in range(opts.workers)]
        try:
            caller_realtime = self.priority.raise_thread()   # it holds the GIL now and then
            for listener in self.listeners:
                listener.on_start(info)
            for thread in workers:
                thread.start()
            delivery.start()
            stopped_early = self.wait_for(workers)
        except KeyboardInterrupt:
            interrupted = True
            self.halt([t for t in workers if t.is_alive()])
        finally:
            self.others.restore()
            if caller_realtime:
                self.priority.lower_thread()
            sys.setswitchinterval(previous_switch)
            gc.set_threshold(*thresholds)
            gc.unfreeze()
        return self.finish(delivery, done_delivering, interrupted, stopped_early)

    def wait_for(self, workers: list[threading.Thread]) -> bool:
        """Join the workers; True if the run was stopped early (external stop or listener)."""
        for thread in workers:
            while thread.is_alive():
                self.others.raise_new()
                thread.join(0.1)
                stop_asked = self.external_stop is not None and self.external_stop.is_set()
                if (stop_asked or self.listener_error) and not self.stop_event.is_set():
                    self.stop_event.set()
                    self.plan.stop()
                if self.stop_event.is_set():
                    self.halt(workers)
                    return True
        return self.stop_event.is_set()

    def halt(self, workers: list[threading.Thread]) -> None:
        """Stop sending; give requests in flight ``stop_grace_s``; log the rest as unfinished."""
        self.stop_event.set()
        self.plan.stop()
        self.lineup.end()
        deadline = time.monotonic() + self.options.stop_grace_s
        try:
            for thread in workers:
                thread.join(max(0.0, deadline - time.monotonic()))
        except KeyboardInterrupt:
            pass                      # a second Ctrl-C: do not wait for the stragglers
        with self.lock:
            self.abandoned = True
            for index, entry in enumerate(self.in_flight):
                if entry is not None:
                    slot, request_id, started = entry
                    record = RequestRecord(request_id, index, slot.phase,
                                           self.wall0 + slot.offset_ns, started, None, ok=False,
                                           error="unfinished: the run was stopped")
                    self.outbox.append(record)

    def finish(self, delivery, done_delivering, interrupted, stopped_early) -> LoadSummary:
        done_delivering.set()
        if delivery.is_alive():
            delivery.join()
        self.deliver()                # whatever the delivery thread had not taken yet
        summary = self.tally.summary(mode=self.options.mode,
                                     target_rate_per_s=self.options.rate
                                     if self.options.mode == "open" else None,
                                     interrupted=interrupted, stopped_early=stopped_early)
        for listener in self.listeners:
            try:
                listener.on_stop(summary)
            except Exception as exc:
                self.listener_error = self.listener_error or exc
        close = getattr(self.workload, "close", None)
        if callable(close):
            try:
                close()
            except Exception as exc:  # closing clients must not hide the measurements
                warnings.warn(f"closing the workload failed: {exc}", InferwireWarning)
        if self.listener_error is not None:
            raise LoadError(f"a load listener failed, the run was stopped: "
                            f"{type(self.listener_error).__name__}: {self.listener_error}"
                            ) from self.listener_error
        if interrupted:
            raise LoadInterrupted(summary)
        return summary
