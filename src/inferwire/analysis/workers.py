"""One capture's connections analyzed by several processes: the shell around the pure per-connection
analysis that lets a big capture use every core.

The capture is read once, in this process, and cut into items (buckets of whole connections).
Then ``workers - 1`` processes are *forked*, so they share the mapped file and the packet columns
as they are (nothing is copied or pickled on the way in), and every process, this one included,
takes the next item not yet taken (heaviest first) until none is left; the forked ones send back
only their table rows, item by item through an unlinked temporary file (a *spool*: results leave a
worker as soon as they are made, so its memory does not grow with its share of the capture, and
it never waits for this process to read them).  Connections are independent (no parser state crosses from one to
another), so the rows are the same, in the same order once sorted, whatever the number of
workers, and a process that gets light items simply takes more of them.

Forking is only safe in a process with a single thread (a thread holding a lock at the fork would
leave that lock held forever in the child), so ``workers="auto"`` falls back to one process when
other threads run (Jupyter kernels with background threads, Dask workers) or on a platform
without ``fork``.  A worker that raises is re-run here so that the real error surfaces with its
traceback; a worker that dies (killed, out of memory) is an :class:`InferwireError` naming it.
"""
from __future__ import annotations

import multiprocessing
import os
import pickle
import tempfile
import threading
import time
from multiprocessing.connection import wait
from typing import Callable, Iterable, Sequence

from ..errors import InferwireError

#: Below this many TCP packets a capture is analyzed in one process under ``workers="auto"``:
#: forking and sending rows back cost more than they save.
AUTO_MIN_PACKETS = 50_000
#: The most worker processes ``workers="auto"`` starts.
AUTO_MAX_WORKERS = 8
#: Seconds between two progress reports while the processes work.
PROGRESS_EVERY_S = 0.25


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def fork_is_safe() -> bool:
    """True when this process can fork workers: ``fork`` exists and no other thread runs."""
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def resolve_workers(workers, tcp_packets: int, items: int) -> int:
    """The number of processes to use.

    ``workers``: ``"auto"`` or None (one per CPU, at most :data:`AUTO_MAX_WORKERS`, when the capture
    has at least :data:`AUTO_MIN_PACKETS` TCP packets and forking is safe; else 1), or a positive
    int (used as given, but never more than there are items, and 1 where fork is unavailable).
    """
    if workers in (None, "auto"):
        if tcp_packets < AUTO_MIN_PACKETS or not fork_is_safe():
            return 1
        n = min(cpu_count(), AUTO_MAX_WORKERS)
    elif isinstance(workers, int) and not isinstance(workers, bool) and workers >= 1:
        n = workers
        if "fork" not in multiprocessing.get_all_start_methods():
            n = 1
    else:
        raise InferwireError(f"workers must be 'auto' or a positive integer, not {workers!r}")
    return max(1, min(n, items))


class _Claims:
    """The items a process takes from the shared queue, heaviest first, one at a time.

    ``order``: item indices, heaviest first; ``counter``: the shared position in it (a
    ``multiprocessing.Value``).  Iterating yields the items this process claimed, and
    ``taken`` lists them in that order.  Claiming one by one balances the processes however
    unevenly the weights predict the work (longest-processing-time first)."""

    def __init__(self, order: list[int], counter):
        self.order, self.counter, self.taken = order, counter, []

    def __iter__(self):
        while True:
            with self.counter.get_lock():
                at = self.counter.value
                self.counter.value = at + 1
            if at >= len(self.order):
                return
            self.taken.append(self.order[at])
            yield self.order[at]


def map_shards(fn: Callable[[Iterable[int], Callable[[int], None]], Iterable],
               weights: Sequence[int], workers: int,
               progress: Callable[[int], None] | None = None,
               spool_dir: str | os.PathLike | None = None,
               finished: list | None = None) -> list[tuple]:
    """Run ``fn(items, tick)`` in ``workers`` processes (this one and ``workers - 1`` forked
    ones) that share out the items ``range(len(weights))`` between them as they go.

    ``items`` is an iterable to walk once: each step claims the next item not yet taken by any
    process, heaviest first, so a process that finishes early takes more.  ``fn`` calls
    ``tick(n)`` as it goes (``n`` units of work done, e.g. packets; ``progress`` is called with
    the total done by all processes, a few times per second) and yields picklable results as it
    goes (a generator: a forked process writes each one to its spool file, in ``spool_dir`` or
    the system's temporary folder, as soon as it comes).  Returns ``[(items walked, [results]),
    ...]``, one pair per process that ran; with one worker (or one item) a single pair of every
    item in ascending order.  This process works too, so only the forked processes' results
    are pickled.  A worker whose spool cannot be written (a full disk) has its items done here.

    ``finished``: when given, the forked processes that sent every result are added to it
    rather than waited for here (:func:`reap`: the caller's, once it has used the results; a
    process that held a few hundred MiB takes 10-15 ms to exit); on an error every process is
    ended and waited for before this returns, as without it."""
    n = len(weights)
    if workers > 1 and n > 1:
        try:
            spools = [tempfile.TemporaryFile(dir=spool_dir) for _ in range(min(workers, n) - 1)]
        except OSError:                  # no temporary file: one process does it all
            spools = []
        if spools:
            try:
                return _map_forked(fn, weights, spools, progress, finished)
            finally:
                for spool in spools:
                    spool.close()
    done = 0

    def tick(units=1):
        nonlocal done
        done += units
        if progress is not None:
            progress(done)
    indices = list(range(n))
    return [(indices, list(fn(indices, tick)))]


def _map_forked(fn, weights, spools, progress, finished: list | None) -> list[tuple]:
    """:func:`map_shards` with ``len(spools)`` forked processes (one spool file each)."""
    ctx = multiprocessing.get_context("fork")
    order = sorted(range(len(weights)), key=lambda i: -weights[i])
    counter = ctx.Value("q", 0)
    forks = len(spools)
    done = ctx.Array("q", forks + 1, lock=False)     # units of work done, per process
    procs, readers, claims = [], {}, {}
    try:
        for k in range(1, forks + 1):
            reader, writer = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_work, args=(fn, _Claims(order, counter), writer, done, k,
                                                spools[k - 1]),
                            daemon=True, name=f"inferwire-analyze-{k}")
            p.start()
            writer.close()
            procs.append(p)
            readers[reader] = k
        mine = _Claims(order, counter)
        last = [0.0]

        def tick(units=1):
            done[0] += units
            now = time.monotonic()
            if progress is not None and now - last[0] >= PROGRESS_EVERY_S:
                last[0] = now
                progress(sum(done))
        results = {0: list(fn(mine, tick))}
        claims[0] = mine.taken
        while readers:
            for reader in wait(list(readers), timeout=PROGRESS_EVERY_S):
                k = readers.pop(reader)
                claims[k], results[k] = _receive(reader, procs[k - 1], k, fn, spools[k - 1])
            if progress is not None:
                progress(sum(done))
        if finished is not None:        # every result in: the caller waits for their exits
            finished += procs
            procs = []
    finally:
        for reader in readers:          # those not read (an error came first)
            reader.close()
        reap(procs)
    return [(claims[k], results[k]) for k in sorted(results)]


def reap(procs: list) -> None:
    """End the forked processes ``procs`` that are still running and wait for every one."""
    for p in procs:
        if p.is_alive():
            p.terminate()
        p.join()


def run_sharded(fn: Callable[[int], object], weights: Sequence[int], workers: int,
                progress: Callable[[int], None] | None = None,
                spool_dir: str | os.PathLike | None = None) -> list:
    """``[fn(i) for i in range(len(weights))]``, computed by ``workers`` forked processes
    (:func:`map_shards` with one result per item; ``spool_dir``: where their spools go)."""
    def per_item(indices, tick):
        for i in indices:
            yield fn(i)
            tick()
    out: list = [None] * len(weights)
    for indices, values in map_shards(per_item, weights, workers, progress, spool_dir):
        for i, value in zip(indices, values):
            out[i] = value
    return out


def _work(fn, claims: _Claims, writer, done, k, spool) -> None:
    """In a forked process: each result written to ``spool`` as it comes, then the items it
    walked and the number of results (or the name of the failure and the items it had
    claimed) sent through ``writer``."""
    def tick(units=1):
        done[k] += units
    try:
        count = 0
        for result in fn(claims, tick):
            pickle.dump(result, spool, protocol=pickle.HIGHEST_PROTOCOL)
            count += 1
        spool.flush()
        writer.send(("ok", claims.taken, count))
    except KeyboardInterrupt:
        os._exit(130)
    except BaseException as exc:  # noqa: BLE001 -- reported to the parent, which re-raises
        writer.send(("error", claims.taken, f"{type(exc).__name__}: {exc}"))
    finally:
        writer.close()


def _receive(reader, proc, k, fn, spool) -> tuple[list, list]:
    try:
        status, taken, payload = reader.recv()
    except (EOFError, OSError):
        proc.join()
        raise InferwireError(f"analysis worker {k} died (exit code {proc.exitcode}) before "
                             "sending its rows; run with workers=1 to analyze in one process")
    finally:
        reader.close()
    if status == "ok":
        try:
            spool.seek(0)
            return taken, [pickle.load(spool) for _ in range(payload)]
        except (OSError, EOFError, pickle.UnpicklingError):
            pass                      # an unreadable spool: its items are done again here
    # The worker raised: do its items here, so the same error surfaces with its real traceback
    # (a worker that could not write its spool, e.g. on a full disk, simply has them done here).
    return taken, list(fn(taken, lambda units=1: None))
