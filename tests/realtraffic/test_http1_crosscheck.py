"""HTTP/1.x on real loopback traffic (requests, curl, ab), cross-checked with Wireshark.

Each capture runs real clients against real ``http.server`` servers; every request the client made
must be in ``analysis.requests`` (by x-request-id, or by count/path for ab) and its first/last byte
frames and times must be those tshark reports (definitions in ``wireshark.py``).
"""
from __future__ import annotations

import shutil
import subprocess

import pytest
import requests

from . import wireshark
from .compare import connection_mismatches, report, row_mismatches
from .conftest import run_captured, skip_or_fail
from .servers import BIG

pytestmark = [pytest.mark.tshark, pytest.mark.capture]

N_SESSION = 20       # requests on one keep-alive requests.Session
N_CHUNKED = 10
N_AB = 20
N_AB_CLOSE = 10
POST_BODY = 3000     # requests writes headers and body apart: the request spans two segments
CURL_BODY = 4000

COLUMNS = ("method", "path", "status", "request_id", "request_frame", "response_frame",
           "request_start", "request_end", "response_start", "response_end", "interim_responses",
           "complete")


def _kind(i: int) -> str:
    special = {5: "head", 8: "missing", 9: "nocontent", 13: "upload"}
    return special.get(i) or ("big" if i % 5 == 2 else "post" if i % 4 == 3 else "small")


def _session_plan(port: int) -> list[dict]:
    """What the requests.Session sends: small and big GETs, POSTs (one of BIG bytes), a HEAD, a
    404, a 204 and a chunked upload (the body is a generator: requests sends it chunked)."""
    plan = []
    for i in range(N_SESSION):
        kind = _kind(i)
        method = {"head": "HEAD", "post": "POST", "upload": "POST"}.get(kind, "GET")
        body = b"p" * (BIG if i == 11 else POST_BODY) if kind == "post" else None
        plan.append({"request_id": f"req-{i}", "method": method, "path": f"/{kind}-{i}",
                     "url": f"http://127.0.0.1:{port}/{kind}-{i}", "body": body,
                     "chunks": [b"u" * 1000, b"v" * 2000, b"w" * 500] if kind == "upload"
                     else None})
    return plan


def _run_session(plan: list[dict]) -> list[dict]:
    out = []
    with requests.Session() as s:
        for p in plan:
            data = iter(p["chunks"]) if p["chunks"] else p["body"]
            r = s.request(p["method"], p["url"], data=data,
                          headers={"X-Request-Id": p["request_id"]}, timeout=10)
            sent = sum(map(len, p["chunks"])) if p["chunks"] else len(p["body"] or b"")
            out.append({**p, "status": r.status_code, "response_bytes": len(r.content),
                        "request_bytes": sent})
    return out


def _run_curl(port: int) -> list[dict]:
    """One curl process, one connection (--next reuses it): an Expect: 100-continue POST of
    CURL_BODY bytes, then two GETs.  Statuses come from curl's own -w report."""
    base = f"http://127.0.0.1:{port}"
    plan = [("curl-post", "POST", "/curl-post"), ("curl-small", "GET", "/small-c"),
            ("curl-big", "GET", "/big-c")]
    argv = ["curl", "-sS", "--max-time", "10"]
    for i, (rid, method, path) in enumerate(plan):
        if i:
            argv += ["--next", "-sS", "--max-time", "10"]
        argv += ["-o", "/dev/null", "-w", "%{http_code} %{size_download}\\n", "-H",
                 f"X-Request-Id: {rid}"]
        if method == "POST":
            argv += ["-H", "Expect: 100-continue", "--data-binary", "@-"]
        argv.append(base + path)
    done = subprocess.run(argv, input=b"c" * CURL_BODY, capture_output=True, timeout=30,
                          check=True)
    reports = done.stdout.decode().split()
    return [{"request_id": rid, "method": m, "path": p, "status": int(reports[2 * i]),
             "response_bytes": int(reports[2 * i + 1]),
             "request_bytes": CURL_BODY if m == "POST" else 0}
            for i, (rid, m, p) in enumerate(plan)]


@pytest.fixture(scope="module")
def h1(out_dir, http11, chunked):
    """requests + curl against the Content-Length server, requests against the chunked one."""
    def traffic():
        records = _run_session(_session_plan(http11.port))
        chunk_plan = [{**p, "request_id": f"chk-{i}"} for i, p in
                      enumerate(_session_plan(chunked.port)[:N_CHUNKED])]
        records += _run_session(chunk_plan)
        return records + _run_curl(http11.port)
    return run_captured(out_dir, "http1", (http11.port, chunked.port), traffic)


def _ab(port: int, n: int, path: str) -> None:
    done = subprocess.run(["ab", "-q", "-n", str(n), "-c", "2", "-H", "X-Request-Id: ab",
                           f"http://127.0.0.1:{port}{path}"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert f"Complete requests:      {n}" in done.stdout, done.stdout
    assert "Failed requests:        0" in done.stdout, done.stdout


@pytest.fixture(scope="module")
def ab(out_dir, http10, http10_close):
    """ab -n 20 -c 2 (HTTP/1.0, a new connection per request) against an HTTP/1.0 server with
    Content-Length, then ab -n 10 against one whose bodies end when it closes the connection."""
    if shutil.which("ab") is None:
        skip_or_fail("ab (apache2-utils) is not installed")

    def traffic():
        _ab(http10.port, N_AB, "/ab-path")
        _ab(http10_close.port, N_AB_CLOSE, "/big-close")
        return []
    return run_captured(out_dir, "ab", (http10.port, http10_close.port), traffic)


def _reference(cap) -> list[dict]:
    return wireshark.http1_rows(cap.path, cap.ports, cap.probe_port, cap.times, cap.lengths)


@pytest.fixture(scope="module")
def h1_ref(h1) -> list[dict]:
    """tshark's reference rows of the requests + curl capture."""
    return _reference(h1)


# -- requests + curl ----------------------------------------------------------------------------
def test_every_client_request_is_found_by_request_id(h1):
    req = h1.analysis.requests
    assert len(h1.records) == N_SESSION + N_CHUNKED + 3
    for rec in h1.records:
        rows = req[req["request_id"] == rec["request_id"]]
        assert len(rows) == 1, f"{rec['request_id']}: {len(rows)} rows"
        row = rows.iloc[0]
        assert (row["method"], row["path"], row["status"]) == (
            rec["method"], rec["path"], rec["status"]), rec["request_id"]
        assert row["response_bytes"] == rec["response_bytes"], rec["request_id"]
        assert row["request_bytes"] == rec["request_bytes"], rec["request_id"]
        assert row["protocol"] == "http/1.1" and bool(row["complete"]), rec["request_id"]
    assert len(req) == len(h1.records)
    assert {404, 200, 204} == set(req["status"])
    assert set(req["method"]) == {"GET", "HEAD", "POST"}


def test_boundaries_agree_with_tshark(h1, h1_ref):
    """First/last byte frames and times of every request and response, as tshark has them."""
    assert len(h1_ref) == len(h1.records)
    problems = row_mismatches(h1.analysis.requests, h1_ref, COLUMNS)
    assert not problems, report(problems)


def test_big_and_chunked_responses_really_span_segments(h1, h1_ref):
    """The cross-check covers reassembly: exactly the BIG responses are the ones tshark reassembled
    from several segments (first-byte frame before last-byte frame), and inferwire agrees."""
    req = h1.analysis.requests
    big_ids = {"req-2", "req-7", "req-12", "req-17", "chk-2", "chk-7", "curl-big"}
    big = req[req["response_bytes"] == BIG]
    assert set(big["request_id"]) == big_ids
    ref = {r["request_id"]: r for r in h1_ref}
    for rid in big_ids:   # tshark reassembled each from several segments
        assert ref[rid]["response_start"] < ref[rid]["response_end"], rid
    assert (big["response_end"] > big["response_start"]).all()
    assert (big["response_ms"] > 0).all()


def test_expect_100_continue_is_an_interim_response(h1, h1_ref):
    """curl waits for "100 Continue" before sending the body: the request spans that wait, the
    100 is counted as interim, and the final response starts after the body."""
    req = h1.analysis.requests
    row = req[req["request_id"] == "curl-post"].iloc[0]
    assert row["interim_responses"] == 1
    assert row["request_bytes"] == CURL_BODY and row["status"] == 200
    ref = next(r for r in h1_ref if r["request_id"] == "curl-post")
    assert ref["interim_responses"] == 1
    assert ref["request_frame"] < ref["response_frame"]
    assert row["request_end"] > row["request_start"]       # header packet, then body packet
    assert row["response_start"] >= row["request_end"]
    others = req[req["interim_responses"] != 0]
    assert list(others["request_id"]) == ["curl-post"]


def test_connections_agree_with_tshark(h1, h1_ref):
    """One connection per client (Session x2, curl x1): clients, SYN, handshake = Wireshark's iRTT,
    packet counts and how each ended, and the requests counted on each."""
    con = h1.analysis.connections
    assert len(con) == len(h1.streams) == 3
    problems = connection_mismatches(con, h1.streams)
    assert not problems, report(problems)
    for _, c in con.iterrows():
        assert c["requests"] == sum(1 for r in h1_ref if r["client"] == c["client"])
        assert c["protocol"] == "http/1.1"
    first = h1.analysis.requests.groupby("connection").head(1)
    assert first["tcp_handshake_ms"].notna().all()
    later = h1.analysis.requests.drop(first.index)
    assert later["tcp_handshake_ms"].isna().all()


def test_clean_capture_gives_no_warnings(h1):
    assert h1.analysis.warnings == [] and h1.caught == []
    assert (h1.analysis.connections["missing_bytes"] == 0).all()


def test_requests_join_to_their_connection(h1):
    """``requests.connection`` names a row of ``connections`` with the same endpoints."""
    con = h1.analysis.connections.set_index("connection")
    for _, r in h1.analysis.requests.iterrows():
        assert (con.loc[r["connection"], "client"], con.loc[r["connection"], "server"]) == (
            r["client"], r["server"])


# -- ab (HTTP/1.0) ------------------------------------------------------------------------------
def test_ab_http10_every_request_found(ab):
    req, con = ab.analysis.requests, ab.analysis.connections
    assert len(req) == N_AB + N_AB_CLOSE and len(con) == len(ab.streams)
    assert set(req["method"]) == {"GET"} and set(req["status"]) == {200}
    assert set(req["request_id"]) == {"ab"} and (req["stream"] == 1).all()
    assert req["complete"].all()
    by_path = req.groupby("path")["response_bytes"].agg(["size", "min", "max"])
    assert by_path.loc["/ab-path"].tolist() == [N_AB, 64, 64]
    assert by_path.loc["/big-close"].tolist() == [N_AB_CLOSE, BIG, BIG]
    # ab -c 2 sometimes opens one connection more than it needs and closes it unused
    used = con[con["requests"] > 0]
    assert len(used) == N_AB + N_AB_CLOSE and (used["requests"] == 1).all()
    unused = con[con["requests"] == 0]
    assert len(unused) <= 4 and (unused["bytes_to_server"] == 0).all()


def test_ab_http10_agrees_with_tshark(ab):
    """Also for bodies delimited by the server's close.  tshark completes those at the FIN, here a
    bare FIN without payload; the last byte is in the last segment before it that carried data
    (the FIN is not part of the message), and that is the frame compared."""
    ref = _reference(ab)
    assert len(ref) == N_AB + N_AB_CLOSE
    close = wireshark.tshark_fields(ab.path, ["frame.number", "tcp.len"],
                                    "http.response && tcp.srcport == %d" % ab.ports[1],
                                    wireshark.decode_args(ab.ports, "http"))
    assert len(close) == N_AB_CLOSE
    assert all(wireshark.one(p, "tcp.len") == "0" for p in close), "tshark completes a close-" \
        "delimited response at the bare FIN: the case wireshark.last_frame() handles"
    problems = row_mismatches(ab.analysis.requests, ref, COLUMNS)
    problems += connection_mismatches(ab.analysis.connections, ab.streams)
    assert not problems, report(problems)
