"""Server-Sent Events over HTTP/2 on real loopback traffic (issue 20 item 1): an h2c server
(python-hyper's ``h2`` over a socket) streams events, some split across DATA frames written
apart, to an ``h2`` client; captured with dumpcap.  Every event's bytes, first and last byte
times are those of the DATA frames tshark's HTTP/2 dissector reports (``http2.length`` of each
DATA frame and the frame's capture time), and the client received as many events as the wire
shows."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from . import wireshark
from .conftest import run_captured

pytestmark = [pytest.mark.tshark, pytest.mark.capture]
#: Per request: the events, each a list of the pieces written as separate DATA frames.
EVENTS = [[b'data: {"t": "a"}\n\n'], [b'data: {"t": ', b'"bc"}\n\n'], [b": ping\n\n"],
          [b"data: x\n", b"\n"], [b"data: [DONE]\n\n"]]


def _serve(conn_sock):
    import h2.config
    import h2.connection
    import h2.events
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    conn_sock.sendall(conn.data_to_send())
    while True:
        data = conn_sock.recv(65536)
        if not data:
            return
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.RequestReceived):
                sid = ev.stream_id
                conn.send_headers(sid, [(":status", "200"), ("content-type", "text/event-stream")])
                conn_sock.sendall(conn.data_to_send())
                pieces = [p for event in EVENTS for p in event]
                for k, piece in enumerate(pieces):
                    time.sleep(0.003)
                    conn.send_data(sid, piece, end_stream=k == len(pieces) - 1)
                    conn_sock.sendall(conn.data_to_send())
        conn_sock.sendall(conn.data_to_send())


def _server():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)

    def accept():
        while True:
            try:
                s, _ = listener.accept()
            except OSError:
                return
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=_serve, args=(s,), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()
    return listener


def _client(port: int, n: int) -> list[dict]:
    import h2.config
    import h2.connection
    import h2.events
    out = []
    with socket.create_connection(("127.0.0.1", port)) as s:
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        s.sendall(conn.data_to_send())
        for i in range(n):
            sid = conn.get_next_available_stream_id()
            rid = f"h2sse-{i}"
            conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"),
                                    (":authority", "x"), (":path", "/events"),
                                    ("x-request-id", rid)], end_stream=True)
            s.sendall(conn.data_to_send())
            body, done = b"", False
            while not done:
                for ev in conn.receive_data(s.recv(65536)):
                    if isinstance(ev, h2.events.DataReceived):
                        body += ev.data
                        conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                    elif isinstance(ev, h2.events.StreamEnded):
                        done = True
                s.sendall(conn.data_to_send())
            out.append({"request_id": rid, "events": body.count(b"\n\n")})
    return out


def test_h2_sse_events_match_tshark_data_frames(out_dir):
    listener = _server()
    port = listener.getsockname()[1]
    try:
        cap = run_captured(out_dir, "h2_sse", (port,), lambda: _client(port, 3))
    finally:
        listener.close()
    a = cap.analysis
    req = a.requests.set_index("request_id")
    m = a.messages
    frames = wireshark.tshark_fields(
        cap.path, ["frame.number", "tcp.stream", "http2.streamid", "http2.type", "http2.length"],
        f"http2.type == 0 && {wireshark.exclude(cap.probe_port)}",
        wireshark.decode_args((port,), "http2") + wireshark.REASSEMBLE_OUT_OF_ORDER)
    # (tcp stream, h2 stream) -> [(frame number, DATA payload length)] in order
    data = {}
    for p in frames:
        for sid, ftype, length in zip(p["http2.streamid"], p["http2.type"], p["http2.length"]):
            if ftype == "0" and int(length):
                data.setdefault((int(wireshark.one(p, "tcp.stream")), int(sid)), []).append(
                    (int(wireshark.one(p, "frame.number")), int(length)))
    for rec in cap.records:
        row = req.loc[rec["request_id"]]
        assert row["protocol"] == "h2" and row["response_messages"] == 3       # a, bc, x
        assert bool(row["stream_done"]) and rec["events"] == len(EVENTS)
        mine = m[m["request_id"] == rec["request_id"]].sort_values("index")
        assert mine["kind"].tolist() == ["data", "data", "other", "data", "done"]
        assert mine["bytes"].tolist() == [sum(map(len, e)) for e in EVENTS]
        theirs = data[(int(row["connection"]), int(row["stream"]))]
        assert [n for _, n in theirs] == [len(p) for e in EVENTS for p in e]
        # each event's first byte: its first frame's time; its last: its last frame's
        k, firsts, lasts = 0, [], []
        for e in EVENTS:
            firsts.append(cap.times[theirs[k][0]] / 1e9)
            lasts.append(cap.times[theirs[k + len(e) - 1][0]] / 1e9)
            k += len(e)
        assert mine["start"].tolist() == pytest.approx(firsts, abs=1e-9)
        assert mine["end"].tolist() == pytest.approx(lasts, abs=1e-9)
