"""inferwire.reference.locust's readers and argv builder, and the locustfiles' locust-free helpers.

locust itself is never imported in the test process (it monkey-patches everything with gevent);
where its own code is the reference, it runs in a subprocess."""
import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from inferwire.errors import LoadError
from inferwire.reference.locust import (locust_command, locust_figures, locust_percentile,
                              read_locust_csvs, read_locust_json, read_request_logs)
from inferwire.locustfiles import SHIPPED, for_workload, path
from inferwire.locustfiles.eventlog import COLUMNS, EventLogWriter, event_row
from inferwire.locustfiles.settings import Settings, grpc_target, settings_from_env

# headers and rows as locust 2.47 writes them (recorded from a run on this machine)
STATS = """Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,\
Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,\
90%,95%,98%,99%,99.9%,99.99%,100%
grpc,grpc predict b1,892,0,3,3.52,1.35,23.49,95.0,445.86,0.0,3,3,4,4,6,6,13,16,23,23,23
,Aggregated,892,0,3,3.52,1.35,23.49,95.0,445.86,0.0,3,3,4,4,6,6,13,16,23,23,23
"""
HISTORY = """Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,\
99.9%,99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,Total Average \
Response Time,Total Min Response Time,Total Max Response Time,Total Average Content Size
1795621067,0,,Aggregated,0.000000,0.000000,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,0,0,0,0.0,\
0,0,0
1795621068,2,,Aggregated,0.000000,0.000000,2,3,3,3,3,4,5,6,21,21,21,462,0,2,2.65,1.35,20.84,95.0
"""
FAILURES = "Method,Name,Error,Occurrences,First Seen,Last Seen\n" \
           "POST,/p,HTTPError('400'),3,2026-11-25T15:42:51Z,2026-11-25T15:42:53Z\n"
EXCEPTIONS = "Count,Message,Traceback,Nodes\n"


def test_csvs_read_with_units_in_the_names(tmp_path):
    for kind, text in (("stats", STATS), ("stats_history", HISTORY), ("failures", FAILURES),
                       ("exceptions", EXCEPTIONS)):
        (tmp_path / f"grpc_single_{kind}.csv").write_text(text)
    r = read_locust_csvs(tmp_path / "grpc_single")
    agg = r.aggregated()
    assert agg["requests"] == 892 and agg["p50_ms"] == 3 and agg["p99.9_ms"] == 23
    assert agg["requests_per_s"] == pytest.approx(445.86) and pd.isna(agg["type"])
    h = r.stats_history
    # the stats history through the one reader of it (inferwire.runfolder.read_stats_history)
    assert h["time"].tolist() == [1795621067, 1795621068] and h["users"].tolist() == [0, 2]
    assert pd.isna(h["p50_ms"].iloc[0]) and h["total_requests"].iloc[1] == 462
    assert h["p99_9_ms"].iloc[1] == 21 and h["aggregated"].all()
    assert r.failures["occurrences"].tolist() == [3] and r.exceptions.empty


def test_missing_or_foreign_csv_is_a_clear_error(tmp_path):
    with pytest.raises(LoadError, match="x_stats.csv: cannot read"):
        read_locust_csvs(tmp_path / "x")
    (tmp_path / "y_stats.csv").write_text("a,b\n1,2\n")
    from inferwire.reference.locust import read_locust_csv
    with pytest.raises(LoadError, match="field 'Type' missing"):
        read_locust_csv(tmp_path / "y_stats.csv", "stats")


def _locust_percentiles_in_subprocess(hist, n, percents):
    code = ("import json,sys;from locust.stats import calculate_response_time_percentile as f;"
            "h,n,ps=json.loads(sys.argv[1]);"
            "print(json.dumps([f({int(k):v for k,v in h.items()},n,p) for p in ps]))")
    out = subprocess.run([sys.executable, "-c", code, json.dumps([hist, n, percents])],
                         capture_output=True, text=True, check=True)
    return [float(v) for v in json.loads(out.stdout)]


def test_percentile_rule_is_locusts_own():
    hist = {"2": 40, "3": 35, "4": 10, "6": 9, "20": 5, "160": 1}
    n, percents = sum(hist.values()), [0.5, 0.66, 0.9, 0.95, 0.99, 1.0]
    ours = [locust_percentile({int(k): v for k, v in hist.items()}, n, p) for p in percents]
    assert ours == _locust_percentiles_in_subprocess(hist, n, percents)
    assert ours == [3.0, 3.0, 6.0, 20.0, 160.0, 160.0]


def test_final_json_figures(tmp_path):
    entry = {"name": "a", "method": "grpc", "start_time": 100.0, "last_request_timestamp": 102.0,
             "num_requests": 4, "num_none_requests": 0, "num_failures": 1,
             "total_response_time": 20.0, "max_response_time": 9.4, "min_response_time": 2.0,
             "response_times": {"2": 2, "4": 1, "9": 1}}
    other = dict(entry, name="b", start_time=99.0, num_requests=1, num_failures=0,
                 total_response_time=5.0, max_response_time=5.0, response_times={"5": 1})
    path_ = tmp_path / "f.json"
    path_.write_text(json.dumps([entry, other]))
    figures = locust_figures(read_locust_json(path_))
    assert figures["requests"] == 5 and figures["failures"] == 1
    assert figures["requests_per_s"] == pytest.approx(5 / 3)
    assert figures["mean_ms"] == 5.0 and figures["max_ms"] == 9.4
    assert figures["p50"] == 4.0 and figures["p100"] == 9.0
    path_.write_text(json.dumps([{"name": "a"}]))
    with pytest.raises(LoadError, match="entry 0, field num_requests missing"):
        read_locust_json(path_)


def test_event_rows_and_per_process_files(tmp_path):
    class Resp:
        status_code = 200
    row = event_row(request_type="POST", name="p", response_time=2.5, response_length=10,
                    context={"request_id": "r1", "request_bytes": 7}, start_time=100.0,
                    response=Resp())
    assert row[:8] == ["r1", os.getpid(), "POST", "p", 100_000_000_000, 100_002_500_000, 2.5,
                       "true"]
    assert row[8:] == [200, 7, 10, "", "", "", "", "", ""]   # not streamed: no token cells
    streamed = event_row(request_type="grpc", name="s", response_time=9.0, start_time=100.0,
                         context={"request_id": "r2", "first_token_ns": 100_004_000_000,
                                  "last_token_ns": 100_008_000_000, "tokens": 3,
                                  "itl_p50_ms": 2.0, "itl_max_ms": 2.5})
    assert streamed[12:] == [100_004_000_000, 100_008_000_000, 3, 2.0, 2.5]
    failed = event_row(request_type="grpc", name="g", response_time=1.0, exception=ValueError("x"),
                       context={"status": "INTERNAL"}, now_ns=5_000_000)
    assert failed[4:6] == [4_000_000, 5_000_000] and failed[7] == "false"
    assert failed[8] == "INTERNAL" and failed[11] == "ValueError: x"
    writer = EventLogWriter(str(tmp_path / "logs"))
    writer.write(row)
    writer.write(failed)
    writer.write(streamed)
    writer.close()
    frame = read_request_logs(tmp_path / "logs")
    assert list(frame.columns) == list(COLUMNS) and len(frame) == 3
    assert frame["request_id"].tolist() == [None, "r1", "r2"]          # sorted by start
    assert frame["ok"].tolist() == [False, True, True]
    assert frame["started_ns"].dtype == "Int64" and frame["first_token_ns"].dtype == "Int64"
    assert frame["tokens"].tolist()[2] == 3 and frame["itl_max_ms"].tolist()[2] == 2.5
    assert frame["tokens"].isna().tolist() == [True, True, False]
    # a log written before the token columns existed reads with them empty
    old = tmp_path / "old"
    old.mkdir()
    (old / "requests_7.csv").write_text(",".join(COLUMNS[:-5]) + "\n"
                                        + ",".join(map(str, row[:12])) + "\n")
    frame = read_request_logs(old)
    assert frame["request_id"].tolist() == ["r1"] and frame["tokens"].isna().all()
    (tmp_path / "logs" / "requests_1.csv").write_text("a,b\n")
    with pytest.raises(LoadError, match="requests_1.csv: header"):
        read_request_logs(tmp_path / "logs")


def test_settings_from_the_environment():
    s = settings_from_env({"SERVER": "tfs", "BATCHSIZE": "8", "GRPC_PORT": "9000"})
    assert (s.server, s.batch_size, s.grpc_port, s.rest_port) == ("tfs", 8, 9000, 8501)
    assert settings_from_env({}) == Settings()
    with pytest.raises(LoadError, match="BATCHSIZE='many' is not a int"):
        settings_from_env({"BATCHSIZE": "many"})
    with pytest.raises(LoadError, match="BATCHSIZE='0': must be at least 1"):
        settings_from_env({"BATCHSIZE": "0"})
    assert grpc_target("grpc://h:1", s) == "h:1" and grpc_target(None, s) == "tfs:9000"
    assert grpc_target("[::1]", s) == "[::1]:9000"


def test_shipped_locustfiles_and_argv():
    assert for_workload("grpc", 1) == "grpc_single" and for_workload("rest", 4) == "rest_batch"
    assert all(path(name).is_file() for name in SHIPPED)
    with pytest.raises(LoadError):
        path("nope")
    local = locust_command([path("rest_single")], host="http://h:1", users=3, run_time_s=2.4,
                           csv_prefix="out/rest_single", processes=2)
    joined = " ".join(local)
    for part in ("-m locust", "--headless", "-u 3", "-r 3", "-t 2s", "--csv out/rest_single",
                 "--processes 2", "--host http://h:1"):
        assert part in joined
    master = locust_command("f.py", role="master", master_port=5999, expect_workers=2, users=2)
    assert "--master" in master and "--expect-workers" in master and "--processes" not in master
    worker = locust_command("f.py", role="worker", master_port=5999)
    assert worker[-4:] == ["--master-host", "127.0.0.1", "--master-port", "5999"]
    assert "--headless" not in worker


def test_locust_outputs_are_never_overwritten(tmp_path):
    import threading

    from inferwire.engines.locust import free_prefix
    from inferwire.reference.locust import run_locust
    assert free_prefix(tmp_path, "rest_single") == "rest_single"
    (tmp_path / "rest_single_stats.csv").write_text("x")
    assert free_prefix(tmp_path, "rest_single") == "rest_single-2"
    (tmp_path / "rest_single-2_output.txt").write_text("x")
    assert free_prefix(tmp_path, "rest_single") == "rest_single-3"
    with pytest.raises(LoadError, match="never overwritten"):
        run_locust([path("rest_single")], tmp_path, "rest_single", stop=threading.Event(),
                   users=1, run_time_s=1)
    assert (tmp_path / "rest_single_stats.csv").read_text() == "x"
