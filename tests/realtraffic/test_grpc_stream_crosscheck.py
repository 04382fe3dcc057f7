"""gRPC streams on real loopback traffic (issue 20 item 1): a grpcio server whose calls stream
(server streaming, and bidirectional with several request messages), captured with dumpcap; each
call's messages, both ways, are those tshark's gRPC dissector reports (``grpc.message_length``,
in order per stream and direction), and each message's times are frame times of its connection,
in order."""
from __future__ import annotations

import time
from concurrent import futures
from contextlib import contextmanager

import pytest

from . import wireshark
from .conftest import run_captured

pytestmark = [pytest.mark.tshark, pytest.mark.capture]
SERVICE = "inferwire.test.Stream"
#: (request message sizes, response message sizes) of each call; the 70,000-byte message spans
#: DATA frames (16 KiB each at most)
PLAN = [([10], [3, 50, 7, 200]), ([20, 30, 40], [5, 70_000, 9]), ([1], [11] * 12)]


def _serve_stream(requests, context):
    sizes = [len(r) for r in requests]
    plan = next(out for inp, out in PLAN if inp == sizes)
    for k, n in enumerate(plan):
        time.sleep(0.002)
        yield bytes([65 + k % 26]) * n


@contextmanager
def stream_server():
    import grpc
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.method_handlers_generic_handler(
        SERVICE, {"Chat": grpc.stream_stream_rpc_method_handler(_serve_stream)})
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield port
    finally:
        server.stop(grace=None).wait(5)


def _calls(port: int) -> list[dict]:
    import grpc
    out = []
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.stream_stream(f"/{SERVICE}/Chat", request_serializer=None,
                                     response_deserializer=None)
        for i, (inp, _) in enumerate(PLAN):
            rid = f"gs-{i}"
            got = list(call(iter([b"q" * n for n in inp]), metadata=(("x-request-id", rid),),
                            timeout=10))
            out.append({"request_id": rid, "sizes": [len(g) for g in got]})
    return out


def test_grpc_stream_messages_match_tshark(out_dir):
    with stream_server() as port:
        cap = run_captured(out_dir, "grpc_stream", (port,), lambda: _calls(port))
    assert [c["sizes"] for c in cap.records] == [out for _, out in PLAN]
    a = cap.analysis
    req = a.requests.set_index("request_id")
    m = a.messages
    for rec, (inp, out) in zip(cap.records, PLAN):
        row = req.loc[rec["request_id"]]
        assert row["request_messages"] == len(inp) and row["response_messages"] == len(out)
        mine = m[m["request_id"] == rec["request_id"]]
        assert mine[mine["direction"] == "request"]["bytes"].tolist() == inp
        assert mine[mine["direction"] == "response"]["bytes"].tolist() == out
        resp = mine[mine["direction"] == "response"]
        assert (resp["end"].diff().dropna() >= 0).all() and (resp["end"] >= resp["start"]).all()
    frame_times = {round(t / 1e9, 9) for t in cap.times.values()}
    assert {round(t, 9) for t in m["start"]} <= frame_times
    assert {round(t, 9) for t in m["end"]} <= frame_times
    # tshark's gRPC dissector: message lengths per (TCP stream, HTTP/2 stream, direction)
    packets = wireshark.tshark_fields(
        cap.path, ["tcp.stream", "tcp.srcport", "http2.streamid", "http2.type",
                   "grpc.message_length"], f"grpc && {wireshark.exclude(cap.probe_port)}",
        wireshark.decode_args((port,), "http2") + wireshark.REASSEMBLE_OUT_OF_ORDER)
    theirs = {}
    for p in packets:
        to_server = int(wireshark.one(p, "tcp.srcport")) != port
        sid = wireshark.data_stream(p)
        for n in p.get("grpc.message_length", []):
            theirs.setdefault((int(wireshark.one(p, "tcp.stream")), sid, to_server),
                              []).append(int(n))
    ours = {}
    for (conn, stream, direction), g in m.groupby(["connection", "stream", "direction"]):
        ours[(int(conn), int(stream), direction == "request")] = \
            g.sort_values("index")["bytes"].tolist()
    assert ours == theirs
