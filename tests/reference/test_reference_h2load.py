"""h2load's argv, report (recorded from h2load 1.52 on this machine) and --log-file."""
import pytest

from inferwire.errors import LoadError
from inferwire.reference.h2load import h2load_command, parse_h2load_output, read_h2load_log

REPORT = """starting benchmark...
spawning thread #0: 2 total client(s). 200 total requests
Application protocol: h2c
progress: 100% done

finished in 355.43ms, 562.69 req/s, 127.25KB/s
requests: 200 total, 200 started, 200 done, 198 succeeded, 2 failed, 0 errored, 0 timeout
status codes: 198 2xx, 0 3xx, 2 4xx, 0 5xx
traffic: 45.23KB (46313) total, 750B (750) headers (space savings 95.37%), 19.53KB (20000) data
                     min         max         mean         sd        +/- sd
time for request:      146us     17.35ms      3.45ms      1.53ms    88.00%
time for connect:      237us       508us       372us       191us   100.00%
"""
REFUSED = """starting benchmark...
spawning thread #0: 1 total client(s). 1 total requests

finished in 3.59ms, 0.00 req/s, 0B/s
requests: 1 total, 0 started, 0 done, 0 succeeded, 1 failed, 1 errored, 0 timeout
"""


def test_report():
    r = parse_h2load_output(REPORT)
    assert (r.total, r.started, r.done, r.succeeded, r.failed, r.errored, r.timeout) == \
        (200, 200, 200, 198, 2, 0, 0)
    assert r.finished_s == pytest.approx(0.35543) and r.requests_per_s == 562.69
    assert r.status_2xx == 198
    assert r.request_time_ns == {"min": 146_000, "max": 17_350_000, "mean": 3_450_000,
                                 "sd": 1_530_000}


def test_refused_run_still_parses_and_garbage_does_not():
    assert parse_h2load_output(REFUSED).succeeded == 0
    with pytest.raises(LoadError, match="out.txt: not an h2load report.*No such file"):
        parse_h2load_output("h2load: No such file or directory\n", source="out.txt")


def test_log_file(tmp_path):
    path = tmp_path / "log.tsv"
    path.write_text("1795620843586756\t200\t11182\n1795620843586818\t-1\t17353\n")
    log = read_h2load_log(path)
    assert log["started_ns"].tolist() == [1795620843586756000, 1795620843586818000]
    assert log["duration_ns"].tolist() == [11182000, 17353000]
    assert (log["finished_ns"] == log["started_ns"] + log["duration_ns"]).all()
    assert log["ok"].tolist() == [True, False]
    path.write_text("1795620843586756\t200\n")
    with pytest.raises(LoadError, match="line 1: 2 fields"):
        read_h2load_log(path)
    path.write_text("1\t200\t3\nx\t200\t3\n")
    with pytest.raises(LoadError, match="line 2, field start: 'x'"):
        read_h2load_log(path)
    path.write_text("")
    assert read_h2load_log(path).empty


def test_command():
    argv = h2load_command("http://h:1/p", body_path="b.bin", clients=2, requests=10,
                          headers=("te: trailers",), log_path="l.tsv")
    assert argv[-1] == "http://h:1/p"
    joined = " ".join(argv)
    for part in ("-c 2", "-m 1", "-n 10", "-d b.bin", "-H te: trailers", "--log-file l.tsv"):
        assert part in joined
    timed = h2load_command("http://h/", duration_s=2.5, http1=True)
    assert "-D 2.5" in " ".join(timed) and "--h1" in timed and "-n" not in timed
    with pytest.raises(LoadError):
        h2load_command("http://h/")
    with pytest.raises(LoadError, match="spread 1 requests over 2 clients"):
        h2load_command("http://h/", requests=1, clients=2)
