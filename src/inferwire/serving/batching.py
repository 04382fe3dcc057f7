"""Server-side batching, as TF Serving's ``--enable_batching`` does it (BasicBatchScheduler).

Requests for the same servable, signature and outputs join an open batch until it holds
``max_batch_size`` rows or ``batch_timeout_micros`` have passed since its first request; one of
``num_batch_threads`` threads then concatenates the inputs, runs the model once, and splits the
outputs back.  With a timeout of 0 a batch closes as soon as a batch thread is free, so batches only
form under load.  Each request learns the batch's TF time (``model_ns``), how long it queued
(``queue_ns``) and the batch's size: batching moves time from "server compute" into "queueing".

Parameters file: TF Serving's text format, e.g. ``max_batch_size { value: 32 }``.
"""
from __future__ import annotations

import os
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, fields

import numpy as np

from ..errors import ServerError
from .status import UNAVAILABLE, ApiError, invalid


@dataclass(frozen=True)
class BatchingOptions:
    """TF Serving's BatchingParameters (defaults are BasicBatchScheduler's)."""
    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    num_batch_threads: int = os.cpu_count() or 1
    max_enqueued_batches: int = 10
    allowed_batch_sizes: tuple[int, ...] = ()   # pad each batch up to the next of these
    pad_variable_length_inputs: bool = False    # accepted for compatibility; inputs are fixed-size

    def __post_init__(self):
        if self.max_batch_size < 1 or self.num_batch_threads < 1 or self.max_enqueued_batches < 1:
            raise ServerError(f"batching parameters must be >= 1: {self}")
        if self.batch_timeout_micros < 0:
            raise ServerError("batch_timeout_micros must be >= 0")
        if self.allowed_batch_sizes and (list(self.allowed_batch_sizes) != sorted(self.allowed_batch_sizes)
                                         or self.allowed_batch_sizes[-1] != self.max_batch_size):
            raise ServerError("allowed_batch_sizes must increase and end with max_batch_size")


_FIELD = re.compile(r"(\w+)\s*(?:\{\s*value\s*:\s*([^}\s]+)\s*\}|:\s*([^\s{}]+))")


def parse_batching_parameters(text: str, path: str = "<text>") -> BatchingOptions:
    """Parse TF Serving's batching parameters file (protobuf text format of BatchingParameters)."""
    known = {f.name for f in fields(BatchingOptions)}
    values: dict = {}
    sizes: list[int] = []
    stripped = re.sub(r"#[^\n]*", "", text)
    for match in _FIELD.finditer(stripped):
        name, raw = match.group(1), match.group(2) or match.group(3)
        if name == "thread_pool_name":
            continue
        if name not in known:
            raise ServerError(f"{path}: unknown batching parameter {name!r}")
        try:
            value = raw.lower() == "true" if name == "pad_variable_length_inputs" else int(raw)
        except ValueError:
            raise ServerError(f"{path}: {name}: not an integer: {raw!r}") from None
        if name == "allowed_batch_sizes":
            sizes.append(value)
        else:
            values[name] = value
    if sizes:
        values["allowed_batch_sizes"] = tuple(sizes)
    return BatchingOptions(**values)


@dataclass
class Task:
    """One request in the batch queue; the batch thread fills ``outputs`` or ``error``."""
    inputs: list[np.ndarray]
    rows: int
    enqueued_ns: int
    done: threading.Event
    outputs: list[np.ndarray] | None = None
    error: Exception | None = None
    model_ns: int = 0
    queue_ns: int = 0
    batch_rows: int = 0


class _Batch:
    __slots__ = ("key", "runner", "tasks", "rows", "opened_ns")

    def __init__(self, key, runner, opened_ns: int):
        self.key, self.runner, self.tasks, self.rows, self.opened_ns = key, runner, [], 0, opened_ns


class Batcher:
    """Batch queues per key and the batch threads that run them."""

    def __init__(self, opts: BatchingOptions):
        self.opts = opts
        self._queues: dict[tuple, deque[_Batch]] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self._threads = [threading.Thread(target=self._loop, name=f"inferwire-batch-{i}", daemon=True)
                         for i in range(opts.num_batch_threads)]
        for t in self._threads:
            t.start()

    def run(self, key, runner, inputs: list[np.ndarray], rows: int) -> Task:
        """Queue one request and wait for its batch.  ``runner(inputs) -> (outputs, model_ns)``
        runs concatenated inputs; requests with the same ``key`` may share a run."""
        if rows > self.opts.max_batch_size:
            raise invalid(f"Task size {rows} is larger than maximum input batch size "
                          f"{self.opts.max_batch_size}")
        task = Task(inputs, rows, time.perf_counter_ns(), threading.Event())
        with self._cond:
            if self._stopping:
                raise ApiError(UNAVAILABLE, "server is shutting down")
            queue = self._queues.setdefault(key, deque())
            if not queue or queue[-1].rows + rows > self.opts.max_batch_size:
                if len(queue) >= self.opts.max_enqueued_batches:
                    raise ApiError(UNAVAILABLE, "The batch scheduling queue to which this task was "
                                                "submitted is full")
                queue.append(_Batch(key, runner, task.enqueued_ns))
            batch = queue[-1]
            batch.tasks.append(task)
            batch.rows += rows
            self._cond.notify()
        task.done.wait()
        return task

    def _ready(self, now: int) -> tuple[_Batch | None, float | None]:
        """The oldest batch that may run now, else the seconds until one may."""
        timeout_ns = self.opts.batch_timeout_micros * 1000
        best, wait = None, None
        for queue in self._queues.values():
            if not queue:
                continue
            head = queue[0]
            if (len(queue) > 1 or head.rows >= self.opts.max_batch_size
                    or now - head.opened_ns >= timeout_ns):
                if best is None or head.opened_ns < best.opened_ns:
                    best = head
            else:
                left = (head.opened_ns + timeout_ns - now) / 1e9
                wait = left if wait is None else min(wait, left)
        return best, wait

    def _loop(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopping:
                        return
                    batch, wait = self._ready(time.perf_counter_ns())
                    if batch is not None:
                        self._queues[batch.key].popleft()
                        break
                    self._cond.wait(wait)
            self._execute(batch)

    def _execute(self, batch: _Batch) -> None:
        start = time.perf_counter_ns()
        tasks = batch.tasks
        try:
            if len(tasks) == 1 and not self.opts.allowed_batch_sizes:
                inputs = tasks[0].inputs
            else:
                inputs = [np.concatenate([t.inputs[i] for t in tasks]) for i in range(len(tasks[0].inputs))]
            padded = _pad(inputs, batch.rows, self.opts.allowed_batch_sizes)
            outputs, model_ns = batch.runner(padded)
            offset = 0
            for t in tasks:
                t.outputs = [o[offset:offset + t.rows] for o in outputs]
                offset += t.rows
        except Exception as exc:  # the error belongs to every request of the batch
            model_ns = 0
            for t in tasks:
                t.error = exc
        rows = _padded_rows(batch.rows, self.opts.allowed_batch_sizes)
        for t in tasks:
            t.model_ns, t.queue_ns, t.batch_rows = model_ns, start - t.enqueued_ns, rows
            t.done.set()

    def stop(self) -> None:
        """Fail queued requests with UNAVAILABLE and end the batch threads."""
        with self._cond:
            self._stopping = True
            pending = [t for q in self._queues.values() for b in q for t in b.tasks]
            self._queues.clear()
            self._cond.notify_all()
        for t in pending:
            t.error = ApiError(UNAVAILABLE, "server is shutting down")
            t.done.set()
        for thread in self._threads:
            thread.join(timeout=5)


def _padded_rows(rows: int, allowed: tuple[int, ...]) -> int:
    return next((size for size in allowed if size >= rows), rows)


def _pad(inputs: list[np.ndarray], rows: int, allowed: tuple[int, ...]) -> list[np.ndarray]:
    """Pad every input to the next allowed batch size by repeating its first row (as TF does)."""
    target = _padded_rows(rows, allowed)
    if target == rows:
        return inputs
    return [np.concatenate([a, np.repeat(a[:1], target - rows, axis=0)]) for a in inputs]
