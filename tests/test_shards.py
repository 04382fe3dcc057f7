"""Sharded analysis: forked workers give the same tables as one process (real fork, real captures)."""
from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path

import pandas as pd
import pytest

from inferwire import analyze
from inferwire.errors import InferwireError
from inferwire.shards import AUTO_MIN_PACKETS, balance, resolve_workers, run_sharded

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


def test_balance_covers_every_item_once_and_evens_the_load():
    weights = [100, 1, 1, 1, 50, 50, 3, 90]
    shards = balance(weights, 3)
    assert sorted(i for s in shards for i in s) == list(range(len(weights)))
    loads = sorted(sum(weights[i] for i in s) for s in shards)
    assert loads[-1] <= 100 and loads[0] >= 90       # 296 split into 100 / 100 / 96
    assert all(s == sorted(s) for s in shards)
    assert balance([5, 5], 4) == [[0], [1]]          # no empty shards


def test_results_come_back_in_item_order_from_several_processes():
    parent = os.getpid()
    seen = []
    out = run_sharded(lambda i: (i * i, os.getpid()), [1] * 9, 3, progress=seen.append)
    assert [v for v, _ in out] == [i * i for i in range(9)]
    pids = {pid for _, pid in out}
    assert len(pids) == 3 and parent not in pids
    assert seen and seen[-1] == 9


def test_a_worker_error_surfaces_as_the_real_exception():
    def fn(i):
        if i == 4:
            raise ValueError("item four is bad")
        return i
    with pytest.raises(ValueError, match="item four is bad"):
        run_sharded(fn, [1] * 6, 2)


def test_a_dead_worker_is_a_clear_error():
    parent = os.getpid()

    def fn(i):
        if i == 2 and os.getpid() != parent:
            os._exit(9)
        return i
    with pytest.raises(InferwireError, match=r"worker \d died \(exit code 9\)"):
        run_sharded(fn, [1] * 4, 2)


def test_auto_uses_one_process_for_small_captures_and_threaded_callers():
    assert resolve_workers("auto", AUTO_MIN_PACKETS - 1, 100) == 1
    assert resolve_workers(3, 10, 2) == 2                  # never more than the items
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert resolve_workers("auto", 10 * AUTO_MIN_PACKETS, 100) == 1   # fork unsafe
    finally:
        stop.set()
        t.join()
    with pytest.raises(InferwireError, match="positive integer"):
        resolve_workers(0, 10, 10)


@pytest.mark.parametrize("capture, options", [
    ("run-b1/capture.pcapng", {}),                     # REST and gRPC, reused connections
    ("run-new-conn/capture.pcapng", {}),               # a connection per request
    ("tls-rest.pcapng", {"tls_keylog": CAPTURES / "tls-rest.keylog"}),
    ("tls-rest.pcapng", {}),                           # TLS without keys: inferred rows
])
def test_two_workers_give_the_same_tables_and_warnings_as_one(capture, options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = analyze(CAPTURES / capture, workers=1, **options)
        two = analyze(CAPTURES / capture, workers=2, **options)
    assert len(one.requests) > 0
    pd.testing.assert_frame_equal(one.requests, two.requests)
    pd.testing.assert_frame_equal(one.connections, two.connections)
    assert one.warnings == two.warnings
