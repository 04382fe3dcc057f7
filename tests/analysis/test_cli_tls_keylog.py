"""`inferwire analyze --tls-keylog FILE` really decrypts: the same real TLS capture gives exact
HTTP/1.1 rows with the flag and inferred TLS rows without it.

The capture is the sample captures/tls-rest.pcapng (8 REST requests over TLS 1.3, one connection
each, made by captures/make_samples.py) with its server's key log; tshark, given that key log,
says which frame completes each request and each response.
"""
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from inferwire.cli import main
from needs import need_tool

SAMPLES = Path(__file__).resolve().parents[2] / "captures"
CAPTURE = SAMPLES / "tls-rest.pcapng"
KEYLOG = SAMPLES / "tls-rest.keylog"
N = 8


@pytest.fixture(scope="module")
def probe_port():
    return json.loads((SAMPLES / "tls-rest.json").read_text())["probe_port"]


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "inferwire.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def analyze_cli(out, probe_port, *extra):
    r = run_cli("analyze", CAPTURE, "--ignore-port", probe_port, "--quiet", "--out", out, *extra)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    return r.stdout, pd.read_csv(out / "requests.csv"), pd.read_csv(out / "connections.csv")


def test_cli_with_tls_keylog_gives_exact_rows(tmp_path, probe_port):
    stdout, r, conns = analyze_cli(tmp_path / "keys", probe_port, "--tls-keylog", KEYLOG)
    assert f"http/1.1: {N} requests ({N} complete)" in stdout
    assert "tls: " not in stdout
    assert len(r) == N
    assert list(r["request_id"]) == [f"tls-{i:04d}" for i in range(N)]
    assert set(r["protocol"]) == {"http/1.1"}
    assert r["tls"].all() and not r["inferred"].any() and r["complete"].all()
    assert list(r["status"]) == [200] * N
    assert list(r["stream"]) == [1] * N
    assert (r["request_bytes"] > 6000).all()          # the JSON bodies, decrypted and counted
    assert set(conns["protocol"]) == {"http/1.1"} and set(conns["tls_version"]) == {"TLS 1.3"}
    assert not any("not decrypted" in str(w) for w in conns["warnings"].dropna())


def test_cli_without_tls_keylog_infers(tmp_path, probe_port):
    stdout, r, conns = analyze_cli(tmp_path / "nokeys", probe_port)
    assert f"tls: {N} requests" in stdout and "http/1.1:" not in stdout
    assert len(r) == N
    assert set(r["protocol"]) == {"tls"} and r["inferred"].all() and r["tls"].all()
    assert r["request_id"].isna().all() and r["status"].isna().all()
    assert set(conns["protocol"]) == {"tls"}


def test_cli_keylog_flag_changes_rows_in_process(tmp_path, probe_port, capsys):
    """The same through inferwire.cli.main (no subprocess): the flag, not the environment,
    decides."""
    with_keys, without = tmp_path / "with", tmp_path / "without"
    assert main(["analyze", str(CAPTURE), "--ignore-port", str(probe_port), "--quiet",
                 "--tls-keylog", str(KEYLOG), "--out", str(with_keys)]) == 0
    assert main(["analyze", str(CAPTURE), "--ignore-port", str(probe_port), "--quiet",
                 "--out", str(without)]) == 0
    capsys.readouterr()
    a = pd.read_parquet(with_keys / "requests.parquet")
    b = pd.read_parquet(without / "requests.parquet")
    assert not a["inferred"].any() and b["inferred"].all()
    assert list(a["request_id"]) == [f"tls-{i:04d}" for i in range(N)]
    assert b["request_id"].isna().all()
    # the request's first byte is the same packet either way (the handshake is in the clear)
    assert list(a["request_frame"]) == list(b["request_frame"])


@pytest.mark.tshark
def test_cli_keylog_rows_match_tshark_decryption(tmp_path, probe_port):
    _, r, _ = analyze_cli(tmp_path / "keys", probe_port, "--tls-keylog", KEYLOG)
    argv = [need_tool("tshark", "tshark"), "-r", str(CAPTURE), "-o",
            f"tls.keylog_file:{KEYLOG}", "-Y", "http.request or http.response", "-T", "fields",
            "-e", "frame.number", "-e", "frame.time_epoch", "-e", "tcp.stream",
            "-e", "http.request", "-e", "http.response", "-e", "http.request.line"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120).stdout
    requests, responses = {}, {}
    for line in out.splitlines():
        number, epoch, stream, is_req, is_resp, head = line.split("\t")
        ns = int(Decimal(epoch) * 1_000_000_000)
        if is_req:
            rid = [h for h in head.split(",") if h.lower().startswith("x-request-id")][0]
            rid = rid.split(":")[1].strip().removesuffix("\\r\\n")
            requests[int(stream)] = (int(number), ns, rid)
        if is_resp:
            responses[int(stream)] = (int(number), ns)
    assert len(requests) == N and len(responses) == N
    assert sorted(requests) == list(r["connection"])
    for row in r.itertuples():
        # tshark shows a request / response on the frame that completes it: its last byte
        req_frame, req_ns, rid = requests[row.connection]
        resp_frame, resp_ns = responses[row.connection]
        assert row.request_id == rid
        assert row.request_end == pytest.approx(req_ns / 1e9, abs=1e-6)
        assert row.request_frame <= req_frame
        assert row.response_frame == resp_frame
        assert row.response_end == pytest.approx(resp_ns / 1e9, abs=1e-6)
        assert row.wait_ms > 0
