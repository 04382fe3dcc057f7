"""h2load (nghttp2) sending gRPC-framed POSTs over h2c (prior knowledge) to the grpcio server:
several connections, several concurrent streams each.  Cross-checked with tshark, and the HTTP/2
stream ids read independently with pyshark."""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
from collections import defaultdict

import pytest

from . import wireshark
from .compare import connection_mismatches, report, row_mismatches
from .conftest import run_captured, skip_or_fail
from .servers import GRPC_METHOD

pytestmark = [pytest.mark.tshark, pytest.mark.capture]

N_REQUESTS = 24
CLIENTS = 2
MAX_STREAMS = 4
MESSAGE = b"h2load-message"
COLUMNS = ("method", "path", "status", "grpc_status", "request_id", "request_bytes",
           "response_bytes", "request_frame", "response_frame", "request_start", "request_end",
           "response_start", "response_end", "complete")


@pytest.fixture(scope="module")
def h2load_cap(out_dir, grpc_port):
    if shutil.which("h2load") is None:
        skip_or_fail("h2load (nghttp2-client) is not installed")
    body = os.path.join(out_dir, "message.bin")
    with open(body, "wb") as f:
        f.write(b"\x00" + struct.pack(">I", len(MESSAGE)) + MESSAGE)

    def traffic():
        done = subprocess.run(
            ["h2load", "-n", str(N_REQUESTS), "-c", str(CLIENTS), "-m", str(MAX_STREAMS),
             "-d", body, "-H", "content-type: application/grpc", "-H", "te: trailers",
             "-H", "x-request-id: h2load", f"http://127.0.0.1:{grpc_port}{GRPC_METHOD}"],
            capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert f"{N_REQUESTS} succeeded, 0 failed" in done.stdout, done.stdout
        return []
    return run_captured(out_dir, "h2load", (grpc_port,), traffic)


def test_every_h2load_request_is_found(h2load_cap):
    req, con = h2load_cap.analysis.requests, h2load_cap.analysis.connections
    assert len(req) == N_REQUESTS and len(con) == CLIENTS == len(h2load_cap.streams)
    assert set(req["path"]) == {GRPC_METHOD} and set(req["request_id"]) == {"h2load"}
    assert set(req["grpc_status"]) == {0} and set(req["status"]) == {200}
    assert set(req["request_bytes"]) == {5 + len(MESSAGE)} == set(req["response_bytes"])
    assert req["complete"].all() and set(req["protocol"]) == {"grpc"}
    assert sorted(con["requests"]) == [N_REQUESTS // CLIENTS] * CLIENTS


def test_stream_ids_agree_with_pyshark(h2load_cap):
    """Client HEADERS stream ids per connection, read by pyshark (tshark's PDML), are exactly the
    ``stream`` values inferwire reports for that client."""
    import pyshark
    port = h2load_cap.ports[0]
    capture = pyshark.FileCapture(
        h2load_cap.path, keep_packets=False, decode_as={f"tcp.port=={port}": "http2"},
        display_filter=f"http2.type == 1 && tcp.dstport == {port}")
    seen = defaultdict(set)
    try:
        for pkt in capture:
            client = f"{pkt.ip.src}:{pkt.tcp.srcport}"
            for layer in pkt.get_multiple_layers("http2"):
                ids, types = layer.get_field("streamid"), layer.get_field("type")
                if ids is None or types is None:
                    continue
                for sid, typ in zip(ids.all_fields, types.all_fields):
                    if typ.show == "1":
                        seen[client].add(int(sid.show))
    finally:
        capture.close()
    ours = h2load_cap.analysis.requests.groupby("client")["stream"].apply(
        lambda s: set(int(x) for x in s)).to_dict()
    assert ours == dict(seen)
    assert sum(len(s) for s in seen.values()) == N_REQUESTS


def test_h2load_boundaries_agree_with_tshark(h2load_cap):
    frames = wireshark.h2_frames(h2load_cap.path, h2load_cap.ports, h2load_cap.probe_port)
    ref = wireshark.h2_rows(frames, h2load_cap.streams, h2load_cap.times)
    assert len(ref) == N_REQUESTS
    problems = row_mismatches(h2load_cap.analysis.requests, ref, COLUMNS)
    problems += connection_mismatches(h2load_cap.analysis.connections, h2load_cap.streams)
    for index, s in h2load_cap.streams.items():
        setup = wireshark.h2_setup(frames, index, h2load_cap.times)
        row = h2load_cap.analysis.connections.set_index("client").loc[s.client]
        if setup is None or abs(row["h2_setup_ms"] - setup / 1e6) > 1e-6:
            problems.append(f"{s.client} h2_setup_ms: inferwire {row['h2_setup_ms']!r} != "
                            f"tshark {None if setup is None else setup / 1e6!r}")
    assert not problems, report(problems)
