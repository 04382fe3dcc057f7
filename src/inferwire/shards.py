"""One capture's connections analyzed by several processes: the shell around the pure per-connection
analysis that lets a big capture use every core.

The capture is read and its connections built once, in this process.  Each worker is then
*forked*, so it shares the mapped file and the connection objects as they are (nothing is copied
or pickled on the way in), analyzes its shard of connections and sends back only the table rows.
Connections are independent (no parser state crosses from one to another), so the rows are the
same, in the same order, whatever the number of workers; shards are balanced by payload bytes.

Forking is only safe in a process with a single thread (a thread holding a lock at the fork would
leave that lock held forever in the child), so ``workers="auto"`` falls back to one process when
other threads run (Jupyter kernels with background threads, Dask workers) or on a platform
without ``fork``.  A worker that raises is re-run here so that the real error surfaces with its
traceback; a worker that dies (killed, out of memory) is an :class:`InferwireError` naming it.
"""
from __future__ import annotations

import heapq
import multiprocessing
import os
import threading
from multiprocessing.connection import wait
from typing import Callable, Sequence

from .errors import InferwireError

#: Below this many TCP packets a capture is analyzed in one process under ``workers="auto"``:
#: forking and sending rows back cost more than they save.
AUTO_MIN_PACKETS = 50_000
#: The most worker processes ``workers="auto"`` starts.
AUTO_MAX_WORKERS = 8


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


def balance(weights: Sequence[int], n: int) -> list[list[int]]:
    """Split item indices into ``n`` shards of near-equal total weight (greedy, heaviest first);
    each shard lists its indices in ascending order."""
    shards: list[list[int]] = [[] for _ in range(n)]
    heap = [(0, k) for k in range(n)]
    for i in sorted(range(len(weights)), key=lambda i: -weights[i]):
        load, k = heapq.heappop(heap)
        shards[k].append(i)
        heapq.heappush(heap, (load + max(1, weights[i]), k))
    return [sorted(s) for s in shards if s]


def map_shards(fn: Callable[[list[int], Callable[[int], None]], object], weights: Sequence[int],
               workers: int, progress: Callable[[int], None] | None = None) -> list[tuple]:
    """Run ``fn(indices, tick)`` once per shard of the items, in ``workers`` forked processes.

    Items are ``range(len(weights))``, shared out by :func:`balance`; ``fn`` calls ``tick(n)`` as
    it goes (``n`` units of work done, e.g. packets; for ``progress``, called here with the total
    done so far, a few times per second) and returns one picklable result for its shard.  Returns ``[(indices, result), ...]``,
    one pair per shard; with one worker (or one item) a single shard of every item, run here.
    """
    n = len(weights)
    if workers <= 1 or n <= 1:
        done = 0

        def tick(units=1):
            nonlocal done
            done += units
            if progress is not None:
                progress(done)
        indices = list(range(n))
        return [(indices, fn(indices, tick))]
    ctx = multiprocessing.get_context("fork")
    shards = balance(weights, workers)
    done = ctx.Array("q", len(shards), lock=False)     # units of work done, per worker
    procs, readers = [], {}
    try:
        for k, shard in enumerate(shards):
            reader, writer = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_work, args=(fn, shard, writer, done, k), daemon=True,
                            name=f"inferwire-analyze-{k}")
            p.start()
            writer.close()
            procs.append(p)
            readers[reader] = k
        results: dict[int, object] = {}
        while readers:
            for reader in wait(list(readers), timeout=0.25):
                k = readers.pop(reader)
                results[k] = _receive(reader, procs[k], k, fn, shards[k])
            if progress is not None:
                progress(sum(done[k] for k in range(len(shards))))
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()
    return [(shard, results[k]) for k, shard in enumerate(shards)]


def run_sharded(fn: Callable[[int], object], weights: Sequence[int], workers: int,
                progress: Callable[[int], None] | None = None) -> list:
    """``[fn(i) for i in range(len(weights))]``, computed by ``workers`` forked processes
    (:func:`map_shards` with one result per item)."""
    def per_item(indices, tick):
        out = []
        for i in indices:
            out.append(fn(i))
            tick()
        return out
    out: list = [None] * len(weights)
    for indices, values in map_shards(per_item, weights, workers, progress):
        for i, value in zip(indices, values):
            out[i] = value
    return out


def _work(fn, shard, writer, done, k) -> None:
    """In a worker: the shard's result, or the name of the failure, sent through ``writer``."""
    def tick(units=1):
        done[k] += units
    try:
        writer.send(("ok", fn(shard, tick)))
    except KeyboardInterrupt:
        os._exit(130)
    except BaseException as exc:  # noqa: BLE001 -- reported to the parent, which re-raises
        writer.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        writer.close()


def _receive(reader, proc, k, fn, shard) -> list:
    try:
        status, payload = reader.recv()
    except (EOFError, OSError):
        proc.join()
        raise InferwireError(f"analysis worker {k} died (exit code {proc.exitcode}) before "
                             "sending its rows; run with workers=1 to analyze in one process")
    finally:
        reader.close()
    if status == "ok":
        return payload
    # The worker raised: do its shard here, so the same error surfaces with its real traceback.
    return fn(shard, lambda units=1: None)   # only returns if the error does not repeat here
