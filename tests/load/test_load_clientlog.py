"""The client log CSV: columns, values, flushing, never overwriting."""
import csv

import pytest

from inferwire.errors import LoadError
from inferwire.load import (CLIENT_LOG_COLUMNS, ClientLogWriter, HttpWorkload, LoadOptions,
                            RequestRecord, read_client_log, run_load)
from load.load_helpers import TinyServer

EXPECTED = ["request_id", "worker", "phase", "scheduled_ns", "started_ns", "finished_ns",
            "latency_ms", "latency_from_scheduled_ms", "ok", "status", "request_bytes",
            "response_bytes", "serialize_ns", "model_time_ns", "error", "first_token_ns",
            "last_token_ns", "tokens", "ttft_ms", "itl_p50_ms", "itl_max_ms"]


def record(i=0, finished=2_500_000, ok=True):
    return RequestRecord(f"id-{i}", 1, "measure", 1_000_000, 1_500_000, finished, ok, 200, 10,
                         20, None, 7, None if ok else "boom")


def rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_columns_and_cells(tmp_path):
    path = tmp_path / "log.csv"
    log = ClientLogWriter(path)
    log.on_request(record())
    log.on_request(RequestRecord("id-9", 0, "warmup", 5, 6, None, False,
                                 error="unfinished: the run was stopped"))
    log.close()
    header, done, unfinished = rows(path)
    assert header == EXPECTED == list(CLIENT_LOG_COLUMNS)
    assert done == ["id-0", "1", "measure", "1000000", "1500000", "2500000", "1.000000",
                    "1.500000", "true", "200", "10", "20", "", "7", "", "", "", "", "", "", ""]
    assert unfinished[5:9] == ["", "", "", "false"]          # unknown stays empty, never 0


def test_rows_reach_the_disk_before_close(tmp_path):
    path = tmp_path / "log.csv"
    log = ClientLogWriter(path, flush_rows=2, flush_interval_s=3600)
    log.on_request(record(0))
    assert len(rows(path)) == 1                              # header only: still buffered
    log.on_request(record(1))
    assert len(rows(path)) == 3                              # flushed at 2 rows
    log.on_request(record(2))
    timed = ClientLogWriter(tmp_path / "t.csv", flush_rows=1000, flush_interval_s=0)
    timed.on_request(record(3))
    timed.on_tick(0)
    assert len(rows(tmp_path / "t.csv")) == 2                # flushed by time
    log.close()
    timed.close()
    assert len(rows(path)) == 4


def test_existing_log_is_never_overwritten(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("previous run\n")
    with pytest.raises(LoadError, match="already exists"):
        ClientLogWriter(path)
    assert path.read_text() == "previous run\n"
    ClientLogWriter(path, overwrite=True).close()
    assert rows(path) == [EXPECTED]


def test_a_real_run_logs_every_request_and_reads_back_typed(tmp_path):
    server = TinyServer()
    try:
        path = tmp_path / "log.csv"
        summary = run_load(HttpWorkload(server.url),
                           LoadOptions(users=2, warmup_requests=3, requests=30),
                           [ClientLogWriter(path)])
    finally:
        server.close()
    frame = read_client_log(path)
    assert len(frame) == 33 and frame["request_id"].is_unique
    assert (frame["phase"] == "measure").sum() == summary.requests == 30
    assert str(frame["started_ns"].dtype) == "Int64" and frame["ok"].all()
    assert frame["serialize_ns"].isna().all()                # HttpWorkload does not report it
    assert frame["error"].isna().all() and (frame["status"] == "200").all()
    lat = (frame["finished_ns"] - frame["started_ns"]) / 1e6
    assert (abs(lat - frame["latency_ms"]) < 1e-6).all()
    assert (frame["started_ns"] >= frame["scheduled_ns"]).all()


def test_a_log_written_before_the_stream_columns_is_read_with_them_empty(tmp_path):
    path = tmp_path / "old.csv"
    old = EXPECTED[:15]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(old)
        w.writerow(["id-0", "1", "measure", "1", "2", "3", "0.1", "0.2", "true", "200", "1",
                    "2", "", "", ""])
    frame = read_client_log(path)
    assert frame["tokens"].isna().all() and frame["ttft_ms"].isna().all()
    assert frame["started_ns"].iloc[0] == 2
