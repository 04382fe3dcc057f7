"""Sharded analysis: forked workers give the same tables as one process (real fork, real captures)."""
from __future__ import annotations

import os
import threading
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest

from inferwire import analyze
from inferwire.errors import InferwireError
from inferwire.analysis.workers import (AUTO_MIN_PACKETS, map_shards, reap, resolve_workers,
                                        run_sharded)

from needs import small_tmpfs

CAPTURES = Path(__file__).resolve().parents[2] / "captures"


def _working(folder: Path, processes: int, timeout_s: float = 30.0) -> None:
    """Note this process in ``folder`` and wait until ``processes`` have (a fixed sleep let
    the first process do every item when a loaded host started the forked ones late)."""
    (folder / str(os.getpid())).touch()
    _wait_until(lambda: len(list(folder.iterdir())) >= processes, timeout_s)


def _wait_until(condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)


def test_results_come_back_in_item_order_from_several_processes(tmp_path):
    parent = os.getpid()
    seen = []

    def fn(i):
        _working(tmp_path, 3)   # every process claims some items
        return i * i, os.getpid()
    out = run_sharded(fn, [1] * 12, 3, progress=seen.append)
    assert [v for v, _ in out] == [i * i for i in range(12)]
    pids = {pid for _, pid in out}
    assert len(pids) == 3 and parent in pids      # this process works too, beside two forks
    assert seen and seen[-1] == 12


def test_items_are_claimed_heaviest_first_and_shared_by_who_is_free(tmp_path):
    """One slow heavy item: the other process does every light one meanwhile (the heavy one
    lasts until they are all done, however late the other process started)."""
    def fn(i):
        if i == 3:
            _wait_until(lambda: len(list(tmp_path.iterdir())) == 7, 30.0)
        else:
            time.sleep(0.01)
            (tmp_path / str(i)).touch()
        return os.getpid()
    out = run_sharded(fn, [1, 1, 1, 50, 1, 1, 1, 1], 2)
    heavy = out[3]
    assert all(pid != heavy for i, pid in enumerate(out) if i != 3)


def _children() -> set[int]:
    """This process's child processes, exited ones not yet waited for included (Linux)."""
    return {int(pid) for task in Path(f"/proc/{os.getpid()}/task").iterdir()
            for pid in (task / "children").read_text().split()}


def test_finished_workers_are_left_to_the_caller_who_reaps_them(tmp_path):
    """With ``finished``, the forked processes that sent every result are handed over, not
    waited for (their exit overlaps the caller's work); :func:`reap` leaves none, not even
    an exited one unwaited; an analysis with two workers leaves none either."""
    before = _children()

    def fn(items, tick):
        for i in items:
            _working(tmp_path, 2)
            yield i, os.getpid()
    finished: list = []
    out = map_shards(fn, [1] * 6, 2, finished=finished)
    assert sorted(i for _, got in out for i, _ in got) == list(range(6))
    assert len(finished) == 1 and finished[0].pid in {pid for _, got in out for _, pid in got}
    reap(finished)
    assert finished[0].exitcode is not None and _children() == before     # ended, waited for
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = analyze(CAPTURES / "run-b1" / "capture.pcapng", workers=2)
    assert len(a.requests) > 0 and _children() == before


def test_a_worker_error_surfaces_as_the_real_exception():
    def fn(i):
        if i == 4:
            raise ValueError("item four is bad")
        return i
    with pytest.raises(ValueError, match="item four is bad"):
        run_sharded(fn, [1] * 6, 2)


def test_big_results_come_back_through_a_spool_that_leaves_no_file(tmp_path):
    """Each result leaves its worker through an unlinked temporary file in ``spool_dir``:
    results far bigger than a pipe's buffer arrive whole, and nothing is left in the folder."""
    parent = os.getpid()
    (tmp_path / "spool").mkdir()
    (tmp_path / "who").mkdir()

    def fn(i):
        _working(tmp_path / "who", 2)
        return bytes([i]) * (3 << 20), os.getpid()      # 3 MiB each
    out = run_sharded(fn, [1] * 6, 2, spool_dir=tmp_path / "spool")
    assert [(len(v), v[:1], v[-1:]) for v, _ in out] == [(3 << 20, bytes([i]), bytes([i]))
                                                          for i in range(6)]
    assert {pid for _, pid in out} - {parent}             # some came from the forked worker
    assert list((tmp_path / "spool").iterdir()) == []


def test_a_worker_that_cannot_write_its_spool_has_its_items_done_here(tmp_path):
    """A real 64 KiB tmpfs as the spool folder, results of 1 MiB: the forked worker's spool
    fills up, so its items are done again in this process, and every result is right."""
    small = tmp_path / "small"
    small.mkdir()
    parent = os.getpid()

    def fn(i):
        time.sleep(0.05)
        return bytes([i]) * (1 << 20), os.getpid()
    with small_tmpfs(small, "64k"):
        out = run_sharded(fn, [1] * 6, 2, spool_dir=small)
        assert [v[:1] + v[-1:] for v, _ in out] == [bytes([i, i]) for i in range(6)]
        assert {pid for _, pid in out} == {parent}
        assert list(small.iterdir()) == []


def test_a_dead_worker_is_a_clear_error(tmp_path):
    parent = os.getpid()

    def fn(i):
        if os.getpid() != parent:
            (tmp_path / "claimed").touch()
            os._exit(9)
        _wait_until((tmp_path / "claimed").exists, 30.0)    # the forked process claims one
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


def test_tables_joined_with_the_heap_trimmed_are_the_same(monkeypatch):
    """Big tables give the C heap's free pages back after each joined column (glibc's
    malloc_trim); the tables do not change when every join does it."""
    from inferwire.analysis import pages
    path = CAPTURES / "run-b1/capture.pcapng"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = analyze(path, workers=2)
        monkeypatch.setattr(pages, "TRIM_ROWS", 1)
        pages.malloc_trim.cache_clear()
        trimmed = analyze(path, workers=2)
    assert pages.malloc_trim.cache_info().currsize == 1     # the trim was looked up: it ran
    assert pages.malloc_trim() is not None                  # glibc here
    pd.testing.assert_frame_equal(plain.requests, trimmed.requests)
    pd.testing.assert_frame_equal(plain.connections, trimmed.connections)
