"""analyze_many on Dask: local processes, threads and a dask.distributed scheduler give the
same tables as the serial path; a bad capture maps to its error without losing the others."""
from __future__ import annotations

import json
import os
import stat
import tempfile
import threading
import warnings

import pandas as pd
import pytest

from needs import skip_or_fail, small_tmpfs

import inferwire
from craft import Conversation, http_request, http_response, write_pcap
from inferwire.errors import CaptureFormatError, InferwireError
from inferwire.analysis.many import (Spooled, analyze_many, analyze_one, inner_workers,
                                     out_folders, start_method, unspool)
from inferwire.runfolder import with_run_probe

MS = 1_000_000


def capture(path, n: int, port: int) -> str:
    conv = Conversation(client=("10.0.0.1", port))
    conv.handshake(0, 100_000, 200_000)
    for i in range(n):
        t = (i + 1) * 10 * MS
        conv.client(t, http_request(request_id=f"{port}-{i}"))
        conv.server(t + (i + 1) * MS, http_response(body=b"r" * (100 * i)))
    conv.fin_from_client((n + 1) * 10 * MS)
    return write_pcap(path, conv.packets)


@pytest.fixture
def captures(tmp_path):
    paths = [capture(tmp_path / f"c{k}.pcap", n=k + 2, port=40000 + k) for k in range(3)]
    (tmp_path / "split").mkdir()
    whole = Conversation(client=("10.0.0.1", 41000))
    whole.handshake(0, 1000, 2000)
    whole.client(MS, http_request(request_id="split"))
    whole.server(4 * MS, http_response())
    split = [write_pcap(tmp_path / "split" / "a.pcap", whole.packets[:4]),
             write_pcap(tmp_path / "split" / "b.pcap", whole.packets[4:])]
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"\x1f\x8b compressed, not a capture")
    return paths, split, str(bad)


def serial(item):
    """The item analysed as the CLI does one capture (a run's probe port left out)."""
    path = list(item) if isinstance(item, tuple) else item
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", inferwire.InferwireWarning)
        return inferwire.analyze(path, **with_run_probe(path, {}))


def assert_same_as_serial(results: dict, items):
    assert list(results) == [tuple(i) if isinstance(i, list) else i for i in items]
    for key, got in results.items():
        want = serial(key)
        pd.testing.assert_frame_equal(got.requests, want.requests)
        pd.testing.assert_frame_equal(got.connections, want.connections)
        assert got.warnings == want.warnings and got.path == want.path


@pytest.mark.parametrize("processes", [True, False], ids=["processes", "threads"])
def test_local_results_equal_the_serial_path(captures, processes):
    paths, split, bad = captures
    items = [*paths, split]
    results = analyze_many(items + [bad], processes=processes, workers=2)
    error = results.pop(bad)
    assert isinstance(error, CaptureFormatError)
    assert error.path == bad and error.offset == 0 and error.field == "magic"
    assert "gzip" in str(error)
    assert_same_as_serial(results, items)
    assert results[tuple(split)].requests["request_id"].tolist() == ["split"]


def _distributed():
    try:
        import distributed
    except ImportError:
        skip_or_fail("dask.distributed is not installed (pip install 'dask[distributed]')")
    return distributed


def test_distributed_scheduler_address(captures):
    distributed = _distributed()
    paths, split, _ = captures
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        results = analyze_many([*paths, split], scheduler=address)
    assert_same_as_serial(results, [*paths, split])


def test_unreachable_scheduler_is_a_clear_error(captures):
    _distributed()
    with pytest.raises(InferwireError, match="cannot reach the Dask scheduler"):
        analyze_many(captures[0], scheduler="tcp://127.0.0.1:9", connect_timeout_s=1)


def test_the_same_capture_twice_is_refused(captures):
    paths = captures[0]
    with pytest.raises(InferwireError, match="twice"):
        analyze_many([paths[0], paths[0]])


def test_a_run_folder_leaves_out_its_capture_probe(tmp_path):
    """A run folder's manifest names the capture's probe port: its connections are not
    analyzed, as in the run's own analysis."""
    run = tmp_path / "run-1"
    run.mkdir()
    probe = Conversation(client=("127.0.0.1", 45000), server=("127.0.0.1", 33317))
    probe.handshake(0, 1000, 2000)
    probe.client(5000, b"inferwire-probe")
    traffic = Conversation(client=("10.0.0.1", 46000))
    traffic.handshake(10_000, 11_000, 12_000)
    traffic.client(MS, http_request(request_id="run"))
    traffic.server(2 * MS, http_response())
    write_pcap(run / "capture.pcapng", probe.packets + traffic.packets)
    (run / "manifest.json").write_text(json.dumps({"capture": {"probe_port": 33317}}))
    (run / "requests.csv").write_text("not,a,capture\n")
    got = analyze_many([run], processes=False)[run]
    assert got.connections["server"].tolist() == ["10.0.0.2:8501"]
    assert got.requests["request_id"].tolist() == ["run"]
    want = serial(run)      # the CLI's analysis of a run folder leaves the probe out too
    assert want.connections["server"].tolist() == ["10.0.0.2:8501"]


def test_a_pool_with_a_worker_per_cpu_analyzes_each_capture_in_one_process():
    """Each capture's own forks would contend with the other captures' for the same cores: a
    local pool leaves each capture the CPUs left to it, and a one-worker pool ``"auto"``."""
    assert inner_workers(2, 2) == 1
    assert inner_workers(4, 2) == 1
    assert inner_workers(2, 8) == 4
    assert inner_workers(1, 2) == "auto"


def test_local_processes_send_results_through_files_that_are_removed(captures, tmp_path,
                                                                      monkeypatch):
    """A worker process leaves its Analysis in a spool folder (under the temporary folder) and
    the parent reads it back: same tables as the serial path, and nothing left behind."""
    paths, split, _ = captures
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    results = analyze_many([*paths, split], processes=True, workers=2)
    assert_same_as_serial(results, [*paths, split])
    assert list(scratch.iterdir()) == []


def test_a_spooled_result_is_private_and_read_back_once(captures, tmp_path):
    paths = captures[0]
    spooled = analyze_one(paths[0], {}, str(tmp_path))
    assert isinstance(spooled, Spooled)
    assert stat.S_IMODE(os.stat(spooled.path).st_mode) == 0o600     # tables hold request ids
    got = unspool(spooled)
    assert not os.path.exists(spooled.path)
    pd.testing.assert_frame_equal(got.requests, serial(paths[0]).requests)
    assert unspool(got) is got                     # an unspooled result passes through


def test_a_spool_on_a_full_disk_sends_the_result_itself(captures, tmp_path):
    """A real 4 KiB tmpfs as the spool folder: the pickle does not fit, so the Analysis comes
    back whole (through the pool's pipe) and no partial file is left."""
    paths = captures[0]
    small = tmp_path / "small"
    small.mkdir()
    with small_tmpfs(small, "4k"):
        got = analyze_one(paths[2], {}, str(small))
        assert not isinstance(got, Spooled)
        assert list(small.iterdir()) == []
    pd.testing.assert_frame_equal(got.requests, serial(paths[2]).requests)


def test_a_bad_capture_is_returned_as_its_error_not_spooled(captures, tmp_path):
    _, _, bad = captures
    spool = tmp_path / "spool"
    spool.mkdir()
    assert isinstance(analyze_one(bad, {}, str(spool)), CaptureFormatError)
    assert list(spool.iterdir()) == []


def test_the_pool_forks_only_from_a_process_of_one_thread():
    """Forked workers start without importing inferwire again; a process running other
    threads (one may hold a lock at the fork) spawns them instead."""
    if threading.active_count() == 1:            # (the test runner may run a thread of its own)
        assert start_method() == "fork"
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert start_method() == "spawn"
    finally:
        stop.set()
        other.join()


@pytest.mark.parametrize("processes", [True, False], ids=["processes", "threads"])
def test_each_worker_writes_its_captures_tables(captures, tmp_path, processes):
    """With ``out``, each capture's tables are written into its own folder by the worker that
    analyzed it: the same files as the serial path's ``save``; a capture whose folder cannot be
    made maps to an error naming it, and the others are still written."""
    paths, split, bad = captures
    out = tmp_path / "out"
    out.mkdir()
    (out / "c1").write_text("a file where c1's folder would go")
    results = analyze_many([*paths, split, bad], processes=processes, workers=2, out=out)
    folders = out_folders([*paths, tuple(split), bad], out)
    assert [os.path.basename(folders[p]) for p in paths] == ["c0", "c1", "c2"]
    assert os.path.basename(folders[tuple(split)]) == "a"
    blocked = results.pop(paths[1])
    assert isinstance(blocked, InferwireError) and str(out / "c1") in str(blocked)
    assert isinstance(results.pop(bad), CaptureFormatError)
    assert not os.path.exists(folders[bad])
    for item, got in results.items():
        want = serial(item)
        expected = want.save(tmp_path / "serial" / os.path.basename(folders[item]))
        written = got.output_paths(folders[item])
        assert [p.name for p in written.values()] == [p.name for p in expected.values()]
        for name, path in written.items():
            assert path.read_bytes() == expected[name].read_bytes(), (item, name)


def test_output_folders_are_distinct():
    got = out_folders(["x/a.pcap", "y/a.pcapng", "z/b", ("w/c.pcap", "w/d.pcap"), "v/.pcap",
                       "u/a-2.pcap", "t/a.cap"], "OUT")
    assert list(got.values()) == [os.path.join("OUT", n) for n in (
        "a", "a-2", "b", "c", ".pcap", "a-2-2", "a-3")]       # never one folder for two


def test_no_temporary_folder_sends_the_results_through_the_pipe(captures, monkeypatch,
                                                                tmp_path):
    """A temporary folder that cannot be made (gone, full) costs no result."""
    paths, split, _ = captures
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "gone"))
    results = analyze_many([*paths, split], processes=True, workers=2)
    assert_same_as_serial(results, [*paths, split])
