"""Plain HTTP/2 (h2c, prior knowledge, not gRPC) on real loopback traffic: h2load and curl against
a small server built on python-hyper's ``h2``.  Responses end with END_STREAM on the last DATA frame
(no trailers) and big bodies span several DATA frames; cross-checked with tshark."""
from __future__ import annotations

import shutil
import socket
import struct
import subprocess

import pandas as pd
import pytest

from . import wireshark
from .compare import connection_mismatches, report, row_mismatches
from .conftest import run_captured, skip_or_fail
from .servers import H2_BIG, h2c_server

pytestmark = [pytest.mark.tshark, pytest.mark.capture]

N_H2LOAD = 20
N_CONT = 3
SMALL = 32
COLUMNS = ("method", "path", "status", "grpc_status", "request_id", "request_bytes",
           "response_bytes", "request_frame", "response_frame", "request_start", "request_end",
           "response_start", "response_end", "complete")
CANCEL = 0x8


def _late_reset_client(port: int) -> list[dict]:
    """python-hyper h2 as a client: GET stream 1, read its response to END_STREAM, then send
    RST_STREAM(CANCEL) on the already closed stream, as grpc-core does when its deadline fires
    while the DEADLINE_EXCEEDED trailers are in flight (seen on this machine); then GET stream 3.
    RFC 9113 section 5.1 lets a peer send RST_STREAM on a closed stream; it changes nothing."""
    import h2.config
    import h2.connection
    conn = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    records = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        conn.initiate_connection()
        for sid, rid in ((1, "h2c-late-reset"), (3, "h2c-after-reset")):
            conn.send_headers(sid, [(":method", "GET"), (":path", f"/small-{rid}"),
                                    (":scheme", "http"), (":authority", f"127.0.0.1:{port}"),
                                    ("x-request-id", rid)], end_stream=True)
            sock.sendall(conn.data_to_send())
            records.append({"request_id": rid, "status": _read_until_ended(conn, sock, sid)})
            if sid == 1:    # a raw frame: h2 itself refuses to reset a closed stream
                sock.sendall(struct.pack(">I", 4)[1:] + bytes([0x3, 0]) + struct.pack(">II", 1,
                                                                                      CANCEL))
        conn.close_connection()
        sock.sendall(conn.data_to_send())
    return records


def _read_until_ended(conn, sock, sid: int) -> int:
    """Receive until stream ``sid`` ends; returns its :status."""
    import h2.events
    status = None
    while True:
        data = sock.recv(65536)
        assert data, "the h2c server closed the connection early"
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                status = int(dict(ev.headers)[":status"])
            if isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                sock.sendall(conn.data_to_send())
                return status
        sock.sendall(conn.data_to_send())


@pytest.fixture(scope="module")
def h2c_port():
    with h2c_server() as port:
        yield port


@pytest.fixture(scope="module")
def h2c_cap(out_dir, h2c_port):
    """h2load: one connection, 4 concurrent streams, alternating /big and /small; h2load with a
    40 kB request header (CONTINUATION frames); then one curl GET with its own x-request-id (curl
    7.88 fails reusing an h2c prior-knowledge connection, so one request per curl)."""
    for tool in ("h2load", "curl"):
        if shutil.which(tool) is None:
            skip_or_fail(f"{tool} is not installed")
    base = f"http://127.0.0.1:{h2c_port}"

    def traffic():
        done = subprocess.run(["h2load", "-n", str(N_H2LOAD), "-c", "1", "-m", "4", "-H",
                               "x-request-id: h2load", f"{base}/big", f"{base}/small"],
                              capture_output=True, text=True, timeout=30)
        assert f"{N_H2LOAD} succeeded, 0 failed" in done.stdout, done.stdout + done.stderr
        # a 40 kB header: HEADERS + CONTINUATION frames, END_STREAM on the HEADERS frame
        done = subprocess.run(["h2load", "-n", str(N_CONT), "-c", "1", "-m", "1", "-H",
                               "x-big: " + "A" * 40_000, "-H", "x-request-id: h2c-cont",
                               f"{base}/small-cont"], capture_output=True, text=True, timeout=30)
        assert f"{N_CONT} succeeded, 0 failed" in done.stdout, done.stdout + done.stderr
        done = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "--max-time", "10",
                               "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                               "-H", "X-Request-Id: h2c-curl", f"{base}/big-curl"],
                              capture_output=True, text=True, timeout=30, check=True)
        status, size = map(int, done.stdout.split())
        return ([{"request_id": "h2c-curl", "status": status, "response_bytes": size}]
                + _late_reset_client(h2c_port))
    return run_captured(out_dir, "h2c", (h2c_port,), traffic)


def test_every_request_is_found(h2c_cap):
    req, con = h2c_cap.analysis.requests, h2c_cap.analysis.connections
    assert len(req) == N_H2LOAD + N_CONT + 3 and len(con) == 4 == len(h2c_cap.streams)
    assert set(req["protocol"]) == {"h2"} and set(con["protocol"]) == {"h2"}
    assert set(req["status"]) == {200}
    assert req["grpc_status"].isna().all() and (req["request_bytes"] == 0).all()
    h2load = req[req["request_id"] == "h2load"]
    assert len(h2load) == N_H2LOAD and set(h2load["method"]) == {"GET"}
    sizes = h2load.groupby("path")["response_bytes"].agg(set).to_dict()
    assert sizes == {"/big": {H2_BIG}, "/small": {SMALL}}
    assert (h2load["path"] == "/big").sum() == N_H2LOAD // 2
    cont = req[req["request_id"] == "h2c-cont"]
    assert len(cont) == N_CONT and set(cont["path"]) == {"/small-cont"}
    assert set(cont["response_bytes"]) == {SMALL}
    curl = h2c_cap.records[0]
    row = req[req["request_id"] == "h2c-curl"].iloc[0]
    assert (row["status"], row["response_bytes"], row["path"]) == (
        curl["status"], curl["response_bytes"], "/big-curl")


def test_h2c_boundaries_agree_with_tshark(h2c_cap):
    frames = wireshark.h2_frames(h2c_cap.path, h2c_cap.ports, h2c_cap.probe_port)
    ref = wireshark.h2_rows(frames, h2c_cap.streams, h2c_cap.times)
    assert len(ref) == N_H2LOAD + N_CONT + 3
    continuations = [f for f in frames if f.type == 9 and f.from_client]
    assert len(continuations) >= N_CONT, "the header blocks were not split: CONTINUATION untested"
    # the big bodies really were several DATA frames (else the last-frame rule is untested)
    big_streams = {(f.tcp_stream, f.stream_id) for f in frames if f.type == 0 and not
                   f.from_client and f.length == 16384}
    assert len(big_streams) >= N_H2LOAD // 2
    problems = row_mismatches(h2c_cap.analysis.requests, ref, COLUMNS)
    problems += connection_mismatches(h2c_cap.analysis.connections, h2c_cap.streams)
    for index, s in h2c_cap.streams.items():
        setup = wireshark.h2_setup(frames, index, h2c_cap.times)
        got = h2c_cap.analysis.connections.set_index("client").loc[s.client, "h2_setup_ms"]
        if setup is None or abs(got - setup / 1e6) > 1e-6:
            problems.append(f"{s.client} h2_setup_ms: inferwire {got!r} != tshark "
                            f"{None if setup is None else setup / 1e6!r}")
    assert not problems, report(problems)


def test_rst_stream_after_both_ends_leaves_the_exchange_complete(h2c_cap):
    """Stream 1 of the late-reset client saw both END_STREAMs (tshark shows them) before the
    client's RST_STREAM(CANCEL): request and response were seen to their end, so the row is
    complete (columns.py), like every other row here."""
    req = h2c_cap.analysis.requests.set_index("request_id")
    assert [r["status"] for r in h2c_cap.records[1:]] == [200, 200]
    late = req.loc["h2c-late-reset"]
    assert late["response_bytes"] == SMALL and late["stream"] == 1
    assert pd.notna(late["response_end"]) and pd.notna(late["request_end"])
    assert bool(late["complete"]), "a RST_STREAM after both ends made the exchange incomplete"
    assert h2c_cap.analysis.requests["complete"].all()


def test_clean_capture_gives_no_warnings(h2c_cap):
    assert h2c_cap.analysis.warnings == [] and h2c_cap.caught == []
