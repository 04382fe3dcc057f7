"""The per-protocol summary (Analysis.summary / phase_summary, summary_text and the CLI's printout):
request counts and p50/p90/p99 of each phase, on crafted pcaps whose phases are known to the ns.

The percentiles are numpy's default (linear interpolation between closest ranks, as
``np.percentile``), computed over the values a phase has (empty ones left out).
"""
import struct
import subprocess
import sys
from pathlib import Path

import h2.config
import h2.connection
import numpy as np
import pandas as pd
import pytest

import inferwire
from craft import Conversation, http_request, http_response, write_pcap
from inferwire.analysis import phase_summary

US = 1_000        # ns
MS = 1_000_000    # ns
S = 1_000_000_000

# 10 HTTP/1.1 requests on 5 keep-alive connections (2 each), in this order:
WAITS_MS = [34, 2, 89, 5, 1, 21, 13, 55, 8, 3]          # Fibonacci, shuffled
REQUEST_GAPS_US = [0, 70, 10, 90, 30, 50, 20, 80, 60, 40]  # request in 2 segments this far apart
RESPONSE_GAPS_US = [5, 15, 25, 35, 45, 55, 65, 75, 85, 95]  # response in 2 segments
HANDSHAKES_US = [60, 20, 100, 40, 80]                   # SYN -> handshake ACK per connection
GRPC_WAIT_MS = 100


def linear(values, q):
    """Percentile by linear interpolation between closest ranks, written out."""
    v = sorted(values)
    pos = (len(v) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def grpc_conversation(base_ns):
    """One gRPC call: preface at +1 ms, request at +2 ms, response GRPC_WAIT_MS later."""
    c = Conversation(client=("10.0.0.1", 45000), server=("10.0.0.2", 8500), t0_ns=base_ns)
    c.handshake(0, 10 * US, 20 * US)
    cli = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    srv = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))

    def flush(a, b):
        data = a.data_to_send()
        b.receive_data(data)
        return data
    cli.initiate_connection()
    c.client(1 * MS, flush(cli, srv))
    srv.initiate_connection()
    c.server(1 * MS + 50 * US, flush(srv, cli))
    c.client(1 * MS + 100 * US, flush(cli, srv))
    cli.send_headers(1, [(":method", "POST"), (":scheme", "http"), (":path", "/p.S/M"),
                         (":authority", "x"), ("content-type", "application/grpc"),
                         ("te", "trailers"), ("x-request-id", "g")])
    cli.send_data(1, b"\x00" + struct.pack(">I", 3) + b"abc", end_stream=True)
    c.client(2 * MS, flush(cli, srv))
    srv.send_headers(1, [(":status", "200"), ("content-type", "application/grpc")])
    srv.send_data(1, b"\x00" + struct.pack(">I", 1) + b"z")
    srv.send_headers(1, [("grpc-status", "0")], end_stream=True)
    c.server(2 * MS + GRPC_WAIT_MS * MS, flush(srv, cli))
    return c


def build(tmp_path):
    packets, i = [], 0
    base0 = Conversation().t0
    for k, hs in enumerate(HANDSHAKES_US):
        c = Conversation(client=("10.0.0.1", 40000 + k), t0_ns=base0 + k * S)
        c.handshake(0, hs * US // 2, hs * US)
        for j in range(2):
            t = 1 * MS + j * 200 * MS
            req = http_request(body=b"x" * (10 + i), request_id=f"q{i}")
            c.client(t, req[:25])
            t += REQUEST_GAPS_US[i] * US
            c.client(t, req[25:])
            t += WAITS_MS[i] * MS
            resp = http_response(b"y" * (20 + i))
            c.server(t, resp[:12])
            c.server(t + RESPONSE_GAPS_US[i] * US, resp[12:])
            i += 1
        c.fin_from_client(500 * MS)
        c.fin_from_server(500 * MS + 10 * US)
        packets += c.packets
    packets += grpc_conversation(base0 + 10 * S).packets
    return write_pcap(tmp_path / "summary.pcap", packets)


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    return inferwire.analyze(build(tmp_path_factory.mktemp("summary")))


def expected_http1():
    req = [g / 1e3 for g in REQUEST_GAPS_US]
    resp = [g / 1e3 for g in RESPONSE_GAPS_US]
    total = [a + b + c for a, b, c in zip(req, WAITS_MS, resp)]
    return {"request_ms": req, "wait_ms": [float(w) for w in WAITS_MS], "response_ms": resp,
            "total_ms": total, "tcp_handshake_ms": [h / 1e3 for h in HANDSHAKES_US]}


def test_crafted_phases_are_what_the_summary_is_built_from(analysis):
    r = analysis.requests
    h1 = r[r["protocol"] == "http/1.1"].sort_values("request_start")
    assert list(h1["request_id"]) == [f"q{i}" for i in range(10)]
    for col, values in expected_http1().items():
        assert list(h1[col].dropna()) == pytest.approx(values), col


def test_summary_counts_and_exact_percentiles(analysis):
    s = analysis.summary().set_index("protocol")
    assert sorted(s.index) == ["grpc", "http/1.1"]
    h1 = s.loc["http/1.1"]
    assert h1["requests"] == 10 and h1["complete"] == 10
    # wait_ms over [1, 2, 3, 5, 8, 13, 21, 34, 55, 89]: ranks at 4.5, 8.1, 8.91
    assert h1["wait_ms_p50"] == pytest.approx(10.5)      # 8 + 0.5 * (13 - 8)
    assert h1["wait_ms_p90"] == pytest.approx(58.4)      # 55 + 0.1 * (89 - 55)
    assert h1["wait_ms_p99"] == pytest.approx(85.94)     # 55 + 0.91 * (89 - 55)
    # request_ms over 0, 0.01, ..., 0.09 ms
    assert (h1["request_ms_p50"], h1["request_ms_p90"], h1["request_ms_p99"]) == pytest.approx(
        (0.045, 0.081, 0.0891))
    # tcp_handshake_ms: first request of each of the 5 connections only (0.02 .. 0.1 ms)
    assert (h1["tcp_handshake_ms_p50"], h1["tcp_handshake_ms_p90"],
            h1["tcp_handshake_ms_p99"]) == pytest.approx((0.06, 0.092, 0.0992))
    for col, values in expected_http1().items():
        for q in (50, 90, 99):
            assert h1[f"{col}_p{q}"] == pytest.approx(linear(values, q)), (col, q)
            assert h1[f"{col}_p{q}"] == pytest.approx(float(np.percentile(values, q)))
    # phases no request has are empty, not zero
    assert np.isnan(h1["tls_handshake_ms_p50"]) and np.isnan(h1["h2_setup_ms_p99"])
    g = s.loc["grpc"]
    assert g["requests"] == 1 and g["complete"] == 1
    assert (g["wait_ms_p50"], g["wait_ms_p90"], g["wait_ms_p99"]) == pytest.approx(
        (GRPC_WAIT_MS, GRPC_WAIT_MS, GRPC_WAIT_MS))
    assert (g["h2_setup_ms_p50"], g["h2_setup_ms_p99"]) == pytest.approx((0.1, 0.1))


def test_phase_summary_on_a_table(analysis):
    """phase_summary on a hand-made table: 100 requests with wait_ms 1..100, one missing."""
    r = analysis.requests.iloc[[0] * 101].reset_index(drop=True)
    r["wait_ms"] = [float(i) for i in range(1, 101)] + [np.nan]
    s = phase_summary(r).set_index("protocol").loc["http/1.1"]
    assert s["requests"] == 101
    assert (s["wait_ms_p50"], s["wait_ms_p90"], s["wait_ms_p99"]) == pytest.approx(
        (50.5, 90.1, 99.01))


def expected_line(col, values):
    return f"  {col:<18}" + "".join(f"{linear(values, q):>10.3f}" for q in (50, 90, 99))


def test_summary_text_prints_the_percentiles(analysis):
    text = analysis.summary_text()
    assert "http/1.1: 10 requests (10 complete)" in text
    assert "grpc: 1 requests (1 complete)" in text
    assert f"  {'phase':<18}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}" in text
    lines = text.splitlines()
    for col, values in expected_http1().items():
        assert expected_line(col, values) in lines, col
    assert expected_line("wait_ms", WAITS_MS) == "  wait_ms" + " " * 11 + \
        "    10.500    58.400    85.940"


def test_cli_prints_the_percentiles(tmp_path):
    path = build(tmp_path)
    r = subprocess.run([sys.executable, "-m", "inferwire.cli", "analyze", path, "--quiet",
                        "--out", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "http/1.1: 10 requests (10 complete)" in lines
    for col, values in expected_http1().items():
        assert expected_line(col, values) in lines, (col, r.stdout)
    grpc = lines[lines.index("grpc: 1 requests (1 complete)"):]
    assert expected_line("wait_ms", [GRPC_WAIT_MS]) in grpc
    assert pd.read_csv(tmp_path / "out" / "requests.csv")["wait_ms"].notna().sum() == 11


def test_the_summarys_percentile_is_numpys_to_the_bit():
    """analysis.summary.percentile against np.percentile (linear): sizes from 1 up, ties,
    signed zeros, infinities, wide ranges; the same float, sign included."""
    import math
    import warnings

    from inferwire.analysis.summary import percentile
    rng = np.random.default_rng(19)
    checked = 0
    for n in list(range(1, 40)) + [100, 1001, 40000]:
        for kind in range(5):
            v = (rng.random(n) * 100, rng.integers(0, 5, n) / 7,
                 np.round(rng.exponential(3, n), 3),
                 rng.choice([0.0, -0.0, 1e-300, 5.5, np.inf, -np.inf, 2.0], n),
                 rng.normal(0, 1e6, n))[kind].astype(float)
            for q in (0, 25, 50, 75.5, 90, 99, 100):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)     # inf - inf, as numpy
                    want, got = float(np.percentile(v, q)), percentile(v, q)
                assert (got == want or math.isnan(got) and math.isnan(want)), (n, kind, q)
                assert math.copysign(1, got) == math.copysign(1, want), (n, kind, q)
                checked += 1
    assert checked == 42 * 5 * 7


def test_the_command_prints_its_summary_without_numpy_ma(tmp_path):
    """np.percentile's first call imports numpy.ma (10 ms): the printed summary does not."""
    capture = Path(__file__).resolve().parents[2] / "captures" / "run-b1" / "capture.pcapng"
    script = ("import sys\nfrom inferwire.cli import main\n"
              f"code = main(['analyze', {str(capture)!r}, '--out', {str(tmp_path / 'o')!r}])\n"
              "print('numpy.ma' in sys.modules, code, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert "p50 ms" in done.stdout and "total_ms" in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "False 0", done.stderr
