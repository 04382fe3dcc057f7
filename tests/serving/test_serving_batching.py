"""The batch scheduler, with a plain numpy function standing in for a model run."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from inferwire.errors import ServerError
from inferwire.serving.batching import Batcher, BatchingOptions, parse_batching_parameters
from inferwire.serving.status import ApiError


class Recorder:
    """Doubles its input; remembers each call's batch size; can be held to let a queue build."""

    def __init__(self):
        self.sizes, self.gate, self.entered = [], threading.Event(), threading.Event()
        self.gate.set()

    def __call__(self, inputs):
        self.entered.set()
        self.gate.wait(5)
        self.sizes.append(len(inputs[0]))
        time.sleep(0.002)
        return [inputs[0] * 2], 1234


def run_concurrently(batcher, runner, rows_list, key="k"):
    results = [None] * len(rows_list)

    def one(i, rows):
        x = np.full((rows, 3), i, np.float32)
        results[i] = batcher.run(key, runner, [x], rows)
    threads = [threading.Thread(target=one, args=(i, r)) for i, r in enumerate(rows_list)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results


def test_requests_arriving_together_share_a_batch_and_get_their_own_rows_back():
    runner = Recorder()
    batcher = Batcher(BatchingOptions(max_batch_size=8, batch_timeout_micros=300_000, num_batch_threads=1))
    try:
        tasks = run_concurrently(batcher, runner, [1, 2, 3])
    finally:
        batcher.stop()
    assert runner.sizes == [6]
    for i, (task, rows) in enumerate(zip(tasks, [1, 2, 3])):
        assert task.error is None and task.outputs[0].shape == (rows, 3)
        assert (task.outputs[0] == 2 * i).all()
        assert task.batch_rows == 6 and task.model_ns == 1234 and task.queue_ns > 0


def queued_rows(batcher) -> int:
    with batcher._cond:
        return sum(b.rows for q in batcher._queues.values() for b in q)


def test_full_batches_close_and_timeout_zero_runs_alone_when_idle():
    runner = Recorder()
    batcher = Batcher(BatchingOptions(max_batch_size=4, batch_timeout_micros=0, num_batch_threads=1))
    try:
        alone = batcher.run("k", runner, [np.ones((2, 3), np.float32)], 2)
        assert alone.batch_rows == 2 and runner.sizes == [2]
        runner.gate.clear()  # hold the batch thread so the next requests queue up
        runner.entered.clear()
        blocker = threading.Thread(target=batcher.run, args=("k", runner, [np.ones((1, 3), np.float32)], 1))
        blocker.start()
        assert runner.entered.wait(5)
        result = []
        t = threading.Thread(target=lambda: result.extend(run_concurrently(batcher, runner, [3, 3, 1])))
        t.start()
        deadline = time.monotonic() + 5
        while queued_rows(batcher) < 7 and time.monotonic() < deadline:
            time.sleep(0.005)
        runner.gate.set()
        t.join(10)
        blocker.join(5)
        tasks = result
    finally:
        batcher.stop()
    assert sorted(runner.sizes[1:]) == [1, 3, 4] and max(runner.sizes) <= 4
    assert all(t.error is None for t in tasks)


def test_limits_and_padding():
    runner = Recorder()
    batcher = Batcher(BatchingOptions(max_batch_size=4, batch_timeout_micros=0, num_batch_threads=1,
                                      allowed_batch_sizes=(2, 4), max_enqueued_batches=1))
    try:
        with pytest.raises(ApiError, match="Task size 5 is larger than maximum input batch size 4") as info:
            batcher.run("k", runner, [np.ones((5, 3))], 5)
        assert info.value.code == "INVALID_ARGUMENT"
        padded = batcher.run("k", runner, [np.ones((3, 3))], 3)
        assert runner.sizes == [4] and padded.outputs[0].shape == (3, 3) and padded.batch_rows == 4
        runner.gate.clear()
        runner.entered.clear()
        held = [threading.Thread(target=batcher.run, args=("k", runner, [np.ones((4, 3))], 4))
                for _ in range(2)]
        held[0].start()
        assert runner.entered.wait(5)  # the batch thread holds the first batch
        held[1].start()
        deadline = time.monotonic() + 5
        while queued_rows(batcher) < 4 and time.monotonic() < deadline:
            time.sleep(0.005)
        with pytest.raises(ApiError, match="queue to which this task was submitted is full") as info:
            batcher.run("k", runner, [np.ones((4, 3))], 4)
        assert info.value.code == "UNAVAILABLE"
    finally:
        runner.gate.set()
        batcher.stop()


def test_model_error_reaches_every_request_of_the_batch():
    def boom(inputs):
        raise ApiError("INVALID_ARGUMENT", "bad input")
    batcher = Batcher(BatchingOptions(max_batch_size=8, batch_timeout_micros=300_000, num_batch_threads=1))
    try:
        tasks = run_concurrently(batcher, boom, [1, 1])
    finally:
        batcher.stop()
    assert [str(t.error) for t in tasks] == ["INVALID_ARGUMENT: bad input"] * 2


def test_stop_fails_queued_requests():
    runner = Recorder()
    runner.gate.clear()
    batcher = Batcher(BatchingOptions(max_batch_size=2, batch_timeout_micros=10_000_000, num_batch_threads=1))
    out = []
    t = threading.Thread(target=lambda: out.append(batcher.run("k", runner, [np.ones((1, 3))], 1)))
    t.start()
    deadline = time.monotonic() + 5
    while queued_rows(batcher) < 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    batcher.stop()
    t.join(5)
    assert not t.is_alive() and out[0].error.code == "UNAVAILABLE"
    with pytest.raises(ApiError, match="shutting down"):
        batcher.run("k", runner, [np.ones((1, 3))], 1)


def test_parse_batching_parameters_file():
    text = """# TF Serving batching parameters
    max_batch_size { value: 32 }
    batch_timeout_micros { value: 2000 }
    num_batch_threads { value: 2 }
    thread_pool_name { value: "x" }
    allowed_batch_sizes: 8
    allowed_batch_sizes: 32
    pad_variable_length_inputs: true
    """
    opts = parse_batching_parameters(text)
    assert (opts.max_batch_size, opts.batch_timeout_micros, opts.num_batch_threads) == (32, 2000, 2)
    assert opts.allowed_batch_sizes == (8, 32) and opts.pad_variable_length_inputs
    with pytest.raises(ServerError, match="unknown batching parameter 'bogus'"):
        parse_batching_parameters("bogus { value: 1 }", "b.txt")
    with pytest.raises(ServerError, match="end with max_batch_size"):
        parse_batching_parameters("max_batch_size { value: 8 } allowed_batch_sizes: 4")
