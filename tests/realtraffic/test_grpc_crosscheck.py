"""gRPC (HTTP/2 over cleartext TCP) from grpcio on real loopback traffic, cross-checked with
Wireshark's HTTP/2 dissector: every call the client made is found by its x-request-id metadata,
and each stream's first/last byte frames and times are those tshark reports."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from . import wireshark
from .compare import connection_mismatches, report, row_mismatches
from .conftest import run_captured
from .servers import BIG, GRPC_METHOD

pytestmark = [pytest.mark.tshark, pytest.mark.capture]

N_SEQUENTIAL = 10
N_CONCURRENT = 20
THREADS = 4
PREFIX = 5   # gRPC length-prefixed message header: inferwire counts DATA payloads, prefix included

COLUMNS = ("method", "path", "status", "grpc_status", "request_id", "request_bytes",
           "response_bytes", "request_frame", "response_frame", "request_start", "request_end",
           "response_start", "response_end", "complete")


def _payload(i: int) -> bytes:
    """Call ``i``'s request: a big response (3), a big request echoed back (5), two failures
    (INVALID_ARGUMENT), else small echoes."""
    if i == 5:
        return b"x" * BIG
    return b"big" if i == 3 else b"fail-%d" % i if i in (6, 17) else b"call-%d" % i


def _call(stub, rid: str, payload: bytes) -> dict:
    import grpc
    rec = {"request_id": rid, "request_bytes": PREFIX + len(payload)}
    try:
        resp = stub(payload, metadata=(("x-request-id", rid),), timeout=10)
    except grpc.RpcError as exc:
        return {**rec, "grpc_status": exc.code().value[0], "response_bytes": 0}
    return {**rec, "grpc_status": 0, "response_bytes": PREFIX + len(resp)}


def _traffic(port: int) -> list[dict]:
    """One channel: N_SEQUENTIAL calls one after another, then N_CONCURRENT from THREADS threads
    (multiplexed as concurrent streams on the channel's one connection)."""
    import grpc
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = channel.unary_unary(GRPC_METHOD)
        records = [_call(stub, f"seq-{i}", _payload(i)) for i in range(N_SEQUENTIAL)]
        with ThreadPoolExecutor(THREADS) as pool:
            records += list(pool.map(lambda i: _call(stub, f"con-{i}", _payload(i)),
                                     range(N_CONCURRENT)))
    return records


@pytest.fixture(scope="module")
def grpc_cap(out_dir, grpc_port):
    return run_captured(out_dir, "grpc", (grpc_port,), lambda: _traffic(grpc_port))


@pytest.fixture(scope="module")
def reference(grpc_cap):
    """(tshark's HTTP/2 frames, its per-stream reference rows) of the capture."""
    frames = wireshark.h2_frames(grpc_cap.path, grpc_cap.ports, grpc_cap.probe_port)
    return frames, wireshark.h2_rows(frames, grpc_cap.streams, grpc_cap.times)


def test_every_call_is_found_by_request_id(grpc_cap):
    req = grpc_cap.analysis.requests
    assert len(grpc_cap.records) == N_SEQUENTIAL + N_CONCURRENT
    assert len(req) == len(grpc_cap.records)
    for rec in grpc_cap.records:
        rows = req[req["request_id"] == rec["request_id"]]
        assert len(rows) == 1, f"{rec['request_id']}: {len(rows)} rows"
        row = rows.iloc[0]
        got = {k: row[k] for k in ("grpc_status", "request_bytes", "response_bytes")}
        assert got == {k: rec[k] for k in got}, rec["request_id"]
        assert (row["protocol"], row["method"], row["path"], row["status"]) == (
            "grpc", "POST", GRPC_METHOD, 200)
        assert bool(row["complete"]), rec["request_id"]
    assert set(req["grpc_status"]) == {0, 3}
    assert (req["response_bytes"] == PREFIX + BIG).sum() == 4
    assert (req["request_bytes"] == PREFIX + BIG).sum() == 2


def test_one_connection_many_multiplexed_streams(grpc_cap):
    req, con = grpc_cap.analysis.requests, grpc_cap.analysis.connections
    assert len(con) == 1 == len(grpc_cap.streams)
    assert con.iloc[0]["protocol"] == "grpc" and con.iloc[0]["requests"] == len(req)
    ids = sorted(req["stream"])
    assert ids == list(range(1, 2 * len(req), 2)), "client streams are 1, 3, 5, ... in order"
    con_rows = req[req["request_id"].str.startswith("con-")].sort_values("request_start")
    overlapping = (con_rows["request_start"].shift(-1) < con_rows["response_end"]).sum()
    assert overlapping > 0, "the threads' calls never overlapped: no multiplexing was tested"


def test_stream_boundaries_agree_with_tshark(grpc_cap, reference):
    """Per stream: first byte of the request HEADERS, last byte of the END_STREAM DATA, first
    byte of the response HEADERS, last byte of the trailers — frames and times, as tshark has
    them, plus status, grpc-status, :path, x-request-id and DATA byte counts."""
    _, ref = reference
    assert len(ref) == N_SEQUENTIAL + N_CONCURRENT
    problems = row_mismatches(grpc_cap.analysis.requests, ref, COLUMNS)
    assert not problems, report(problems)


def test_connection_setup_agrees_with_tshark(grpc_cap, reference):
    """TCP handshake (= Wireshark's iRTT), SYN time, end; HTTP/2 setup = client preface to the
    later SETTINGS ACK, from tshark's frames."""
    con = grpc_cap.analysis.connections
    problems = connection_mismatches(con, grpc_cap.streams)
    assert not problems, report(problems)
    frames, _ = reference
    (index,) = grpc_cap.streams
    setup_ns = wireshark.h2_setup(frames, index, grpc_cap.times)
    assert setup_ns is not None and setup_ns > 0
    assert con.iloc[0]["h2_setup_ms"] == pytest.approx(setup_ns / 1e6, abs=1e-6)
    first = grpc_cap.analysis.requests.sort_values("request_start").iloc[0]
    assert first["h2_setup_ms"] == con.iloc[0]["h2_setup_ms"]


def test_big_response_spans_segments_in_both_views(grpc_cap, reference):
    """The 150 kB messages (two responses, two requests and their echoes) are DATA frames over
    several TCP segments: tshark reassembled them (first-byte frame before last-byte frame) and
    inferwire's durations say the same."""
    _, ref = reference
    req = grpc_cap.analysis.requests.set_index("request_id")
    big = [r for r in ref if r["response_bytes"] == PREFIX + BIG]
    assert len(big) == 4
    for r in big:
        assert r["response_start"] < r["response_end"]
        assert req.loc[r["request_id"], "response_ms"] > 0
    big_requests = [r for r in ref if r["request_bytes"] == PREFIX + BIG]
    assert len(big_requests) == 2
    for r in big_requests:
        assert r["request_start"] < r["request_end"]
        assert req.loc[r["request_id"], "request_ms"] > 0


def test_clean_capture_gives_no_warnings(grpc_cap):
    assert grpc_cap.analysis.warnings == [] and grpc_cap.caught == []
