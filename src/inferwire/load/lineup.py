"""Which open-loop workers wait for the next planned sends: a few at a time, the last idle first.

A worker holding a *turn* claims the next slot, sleeps until its planned time and sends it itself
(no hand-over from a timer thread to a sender when a send is due).  Just before sending it passes
its turn on.  At most ``turns`` workers wait at once, so with ``turns`` > 1 the next sender is
already asleep on its own slot when a send goes out, and a worker woken by a passed turn has
``turns - 1`` inter-arrival gaps to claim its slot.  Turns go to the worker that became idle
last (a stack): at low concurrency the same few threads, with their warm clients, do the work,
instead of all ``max_in_flight`` workers in turn.  If every worker is busy, a passed turn is kept
for the first worker to finish (that send is then late, and counted so).
"""
from __future__ import annotations

import threading


class Lineup:
    """The turns of ``workers`` worker threads (indices 0..workers-1), ``turns`` at most at once."""

    def __init__(self, workers: int, turns: int):
        self._lock = threading.Lock()
        self._wakes = [threading.Event() for _ in range(workers)]
        self._idle: list[int] = []
        self._free = turns
        self._over = False

    def wait_turn(self, index: int) -> bool:
        """Block until worker ``index`` holds a turn; False once the run is over."""
        with self._lock:
            if self._over:
                return False
            if self._free:
                self._free -= 1
                return True
            wake = self._wakes[index]
            wake.clear()
            self._idle.append(index)
        wake.wait()
        if self._over:
            with self._lock:
                self._release_next()
            return False
        return True

    @property
    def idle(self) -> int:
        """How many workers wait for a turn now."""
        with self._lock:
            return len(self._idle)

    def pass_on(self) -> None:
        """The caller is about to send: its turn goes to the worker that became idle last."""
        with self._lock:
            if self._over:
                return
            if self._idle:
                self._wakes[self._idle.pop()].set()
            else:
                self._free += 1

    def end(self) -> None:
        """No more sends: every waiting worker's :meth:`wait_turn` returns False.

        They are released one after the other, each by the previous one, not all at once: a
        herd of hundreds of (real-time) threads waking together held the GIL away from the
        senders of the last slots for 0.5 s (measured with 256 workers).
        """
        with self._lock:
            if not self._over:
                self._over = True
                self._release_next()

    def _release_next(self) -> None:
        """Wake the next idle worker (the lock is held)."""
        if self._idle:
            self._wakes[self._idle.pop()].set()
