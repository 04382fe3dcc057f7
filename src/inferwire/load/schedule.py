"""When each request is sent: the arrival process and the plan that hands out request slots.

Pure: no clock is read and nothing sleeps here.  Times are integer ns offsets from the run's
start; the runner turns them into deadlines.

Closed loop: each of N users sends, waits for the answer, thinks, sends again, so the offered load
follows the server.  Open loop: arrivals follow a fixed schedule at ``rate`` per second, constant or
Poisson (exponential inter-arrival times, as MLPerf LoadGen's Server scenario), whatever the
server does; a request that cannot be sent on time is sent late and its lateness is recorded,
never silently shifted (no coordinated omission).
"""
from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import LoadError

ARRIVALS = ("constant", "poisson")
NS_PER_S = 1_000_000_000


def arrival_offsets_ns(rate: float, arrival: str = "constant",
                       seed: int | None = None) -> Iterator[int]:
    """Endless send offsets (ns from the start, the first at 0) for ``rate`` requests/second.

    "constant": offset i is round(i / rate) exactly (no accumulated rounding).  "poisson": the
    gaps are independent exponential draws of mean 1/rate from ``random.Random(seed)``.
    """
    if not rate or rate <= 0:
        raise LoadError(f"open loop needs a rate > 0 requests/s, got {rate!r}")
    if arrival == "constant":
        i = 0
        while True:
            yield round(i * NS_PER_S / rate)
            i += 1
    elif arrival == "poisson":
        rng, t = random.Random(seed), 0.0
        while True:
            yield round(t * NS_PER_S)
            t += rng.expovariate(rate)
    else:
        raise LoadError(f"arrival must be one of {', '.join(ARRIVALS)}, got {arrival!r}")


@dataclass(frozen=True)
class Slot:
    """One request to send: ``seq`` (0-based, in claim order), ``phase`` ("warmup" or
    "measure"), ``offset_ns`` (its planned send time, ns from the run's start)."""
    seq: int
    phase: str
    offset_ns: int


class Plan:
    """Hands request slots to worker threads (thread-safe) and decides phases and the end.

    Warm-up is by count (the first ``warmup_requests`` slots) or by time (slots planned before
    ``warmup_ns``).  The measured part ends after ``requests`` measured slots or when a slot would
    be planned ``duration_ns`` or more after the measurement began (time-based warm-up: at
    ``warmup_ns``; count-based: at the first measured slot), whichever comes first.
    """

    def __init__(self, *, rate: float | None = None, arrival: str = "constant",
                 seed: int | None = None, warmup_requests: int = 0, warmup_ns: int = 0,
                 requests: int | None = None, duration_ns: int | None = None):
        if requests is None and duration_ns is None:
            raise LoadError("a load needs an end: give a request count or a duration")
        self._arrivals = arrival_offsets_ns(rate, arrival, seed) if rate is not None else None
        self.warmup_requests, self.warmup_ns = warmup_requests, warmup_ns
        self.requests, self.duration_ns = requests, duration_ns
        self.measure_start_ns: int | None = warmup_ns if warmup_ns else None
        self.claimed = self.measured = 0
        self._done = False
        self._lock = threading.Lock()

    @property
    def open_loop(self) -> bool:
        return self._arrivals is not None

    def claim(self, ready_ns: int = 0) -> Slot | None:
        """The next slot, or None when the plan is over.

        Open loop: the slot's time comes from the arrival process.  Closed loop: it is
        ``ready_ns``, when the calling user is ready to send (after its think time).
        """
        with self._lock:
            if self._done:
                return None
            offset = next(self._arrivals) if self._arrivals is not None else ready_ns
            seq = self.claimed
            if seq < self.warmup_requests or offset < self.warmup_ns:
                self.claimed += 1
                return Slot(seq, "warmup", offset)
            if self.measure_start_ns is None:
                self.measure_start_ns = offset
            if self._over(offset):
                # Open-loop offsets only grow, so nothing later fits; in a closed loop another
                # user may still be inside the window, and each finds out for itself.
                self._done = self._done or self.open_loop or self._count_reached()
                return None
            self.claimed += 1
            self.measured += 1
            return Slot(seq, "measure", offset)

    def _count_reached(self) -> bool:
        return self.requests is not None and self.measured >= self.requests

    def _over(self, offset: int) -> bool:
        late = (self.duration_ns is not None
                and offset >= self.measure_start_ns + self.duration_ns)
        return self._count_reached() or late

    def stop(self) -> None:
        """Hand out no more slots."""
        with self._lock:
            self._done = True
