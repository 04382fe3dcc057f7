"""ab's argv and outputs (report text recorded from ab 2.3 on this machine; files as ab writes
them), and ab's percentile rule."""
import numpy as np
import pytest

from inferwire.errors import LoadError
from inferwire.reference.ab import (ab_command, ab_percentile_index, ab_percentiles,
                                    parse_ab_output, read_ab_gnuplot, read_ab_percentiles)

REPORT = """This is ApacheBench, Version 2.3 <$Revision$>

Benchmarking 127.0.0.1 (be patient)
Completed 100 requests
Finished 200 requests


Server Software:
Server Hostname:        127.0.0.1
Server Port:            18501

Document Path:          /v1/models/mnist:predict
Document Length:        181 bytes

Concurrency Level:      2
Time taken for tests:   0.497 seconds
Complete requests:      200
Failed requests:        0
Keep-Alive requests:    200
Total transferred:      77368 bytes
Total body sent:        1616600
HTML transferred:       36200 bytes
Requests per second:    402.15 [#/sec] (mean)
Time per request:       4.973 [ms] (mean)
Time per request:       2.487 [ms] (mean, across all concurrent requests)

Connection Times (ms)
              min  mean[+/-sd] median   max
Connect:        0    0   0.1      0       2
Processing:     2    5   6.7      4      90
Waiting:        0    4   6.6      4      89
Total:          2    5   6.8      4      92

Percentage of the requests served within a certain time (ms)
  50%      4
  66%      4
  90%      5
  99%     26
 100%     92 (longest request)
"""


def test_report_fields():
    r = parse_ab_output(REPORT)
    assert (r.complete, r.failed, r.non_2xx, r.keepalive_requests) == (200, 0, 0, 200)
    assert r.time_taken_s == 0.497 and r.requests_per_s == 402.15 and r.mean_ms == 4.973
    assert r.percentiles_ms == {50: 4.0, 66: 4.0, 90: 5.0, 99: 26.0, 100: 92.0}
    assert r.connection_times_ms["Total"] == {"min": 2, "mean": 5, "sd": 6.8, "median": 4,
                                              "max": 92}


def test_non_2xx_counted():
    r = parse_ab_output(REPORT.replace("Keep-Alive requests:", "Non-2xx responses:      7\n"
                                                               "Keep-Alive requests:"))
    assert r.non_2xx == 7


def test_connection_refused_is_a_clear_error():
    text = ("This is ApacheBench, Version 2.3\nBenchmarking 127.0.0.1 (be patient)..."
            "apr_socket_recv: Connection refused (111)\n")
    with pytest.raises(LoadError, match="run.txt: not an ab report.*Connection refused"):
        parse_ab_output(text, source="run.txt")


def test_percentiles_file(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("Percentage served,Time in ms\n0,1.904\n50,3.625\n100,92.030\n")
    table = read_ab_percentiles(path)
    assert list(table.columns) == ["percent", "total_ms"]
    assert table.set_index("percent")["total_ms"][50] == 3.625
    path.write_text("percent,ms\n0,1\n")
    with pytest.raises(LoadError, match="not ab's -e header"):
        read_ab_percentiles(path)


def test_gnuplot_file(tmp_path):
    path = tmp_path / "g.tsv"
    path.write_text("starttime\tseconds\tctime\tdtime\tttime\twait\n"
                    "Wed Nov 25 15:34:01 2026\t1795620841\t0\t2\t2\t2\n"
                    "Wed Nov 25 15:34:01 2026\t1795620841\t1\t3\t4\t3\n")
    g = read_ab_gnuplot(path)
    assert list(g.columns) == ["start_s", "connect_ms", "processing_ms", "total_ms", "wait_ms"]
    assert g["total_ms"].tolist() == [2, 4] and g["start_s"].iloc[0] == 1795620841
    path.write_text("starttime\tseconds\tctime\tdtime\tttime\twait\nx\t1\t0\toops\t2\t2\n")
    with pytest.raises(LoadError, match="row 2, field processing_ms: 'oops'"):
        read_ab_gnuplot(path)
    path.write_text("a\tb\n1\t2\n")
    with pytest.raises(LoadError, match="not ab's -g table"):
        read_ab_gnuplot(path)


def test_percentile_rule_matches_ab_c():
    # ab.c: stats sorted by total time; i-th percentile at int(0.5 + n*i/100), 0 first, 100 last
    assert [ab_percentile_index(10, p) for p in (0, 1, 4, 5, 50, 99, 100)] == [0, 0, 0, 1, 5, 9, 9]
    assert ab_percentile_index(1, 99) == 0          # ab would read past the end; we do not
    values = np.arange(1, 201) * 0.5
    q = ab_percentiles(values[::-1], (50, 90, 100))
    assert q[50] == values[100] and q[90] == values[180] and q[100] == values[-1]
    assert ab_percentiles([]).empty


def test_command():
    argv = ab_command("http://h:1/p", body_path="b.json", content_type="application/json",
                      concurrency=4, duration_s=2.2, gnuplot_path="g", percentiles_path="e")
    assert argv[0] == "ab" and argv[-1] == "http://h:1/p"
    joined = " ".join(argv)
    for part in ("-c 4", "-t 3", "-k", "-p b.json -T application/json", "-g g", "-e e"):
        assert part in joined
    assert "-n" not in argv
    assert "-k" not in ab_command("http://h/", requests=5, keepalive=False)
    with pytest.raises(LoadError, match="request count or a duration"):
        ab_command("http://h/")
    with pytest.raises(LoadError, match="at least one request per concurrent client"):
        ab_command("http://h/", requests=2, concurrency=3)
