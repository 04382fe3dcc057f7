"""H2Parser and assemble_h2: hand-built frames (struct + hpack) and real h2-library byte streams,
exact offsets, every chunk split, fuzz."""
from __future__ import annotations

import struct

import h2.config
import h2.connection
import h2.events
import hpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inferwire.errors import ProtocolError
from inferwire.protocols.grpc import GrpcMessage
from inferwire.protocols.http2 import (Data, GoAway, GrpcFramingError, H2Parser, Headers, Ping,
                                       Preface, Priority, PushPromise, RstStream, Settings,
                                       Truncated, UnknownFrame, WindowUpdate, assemble_h2)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST, SETTINGS, PUSH, PING, GOAWAY, WINDOW, CONT = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIO = 0x1, 0x1, 0x4, 0x8, 0x20
PREDICT = "/tensorflow.serving.PredictionService/Predict"


def frame(ftype: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) \
        + payload


def settings_frame(params=None, ack=False) -> bytes:
    payload = b"".join(struct.pack(">HI", k, v) for k, v in (params or {}).items())
    return frame(SETTINGS, ACK if ack else 0, 0, payload)


def grpc_msg(body: bytes, compressed: bool = False) -> bytes:
    return struct.pack(">BI", int(compressed), len(body)) + body


class Wire:
    """One direction's bytes, remembering the (start, end) offset of each named piece."""

    def __init__(self, base: int = 0):
        self.base, self.data, self.at = base, b"", {}

    def add(self, name: str | None, piece: bytes) -> tuple[int, int]:
        start = self.base + len(self.data)
        self.data += piece
        if name:
            self.at[name] = (start, start + len(piece))
        return start, start + len(piece)


def parse(role: str, data: bytes, base: int = 0, cuts=(), **kw) -> list:
    parser = H2Parser(role, **kw)
    bounds = [0, *sorted(set(cuts)), len(data)]
    out = []
    for a, b in zip(bounds, bounds[1:]):
        out += parser.feed(data[a:b], base + a)
    return out + parser.close(base + len(data))


# ---------------------------------------------------------------- a hand-built conversation

def build_conversation():
    """Client and server bytes of a connection with 3 multiplexed streams: a gRPC Predict call
    (messages split over DATA frames, padding), a REST GET (CONTINUATION) and a cancelled call."""
    cenc, senc = hpack.Encoder(), hpack.Encoder()
    c, s = Wire(base=0), Wire(base=0)
    m1, m2 = grpc_msg(b"A" * 300), grpc_msg(b"B" * 20, compressed=True)
    c.add("preface", PREFACE)
    c.add("settings", settings_frame({1: 4096, 4: 65535}))
    s.add("settings", settings_frame({3: 100, 5: 16384}))
    s.add("ack", settings_frame(ack=True))
    c.add("ack", settings_frame(ack=True))
    grpc_req = [(":method", "POST"), (":scheme", "http"), (":path", PREDICT),
                (":authority", "localhost:8500"), ("content-type", "application/grpc"),
                ("te", "trailers"), ("x-request-id", "req-1")]
    c.add("h1", frame(HEADERS, END_HEADERS, 1, cenc.encode(grpc_req)))
    rest = cenc.encode([(":method", "GET"), (":scheme", "http"), (":path", "/v1/models/mnist"),
                        (":authority", "localhost:8501"), ("x-request-id", "req-3")])
    c.add("h3", frame(HEADERS, END_STREAM, 3, rest[:5]))
    c.add("h3c1", frame(CONT, 0, 3, rest[5:9]))
    c.add("h3c2", frame(CONT, END_HEADERS, 3, rest[9:]))
    c.add("d1a", frame(DATA, 0, 1, m1[:3]))                       # split inside the prefix
    c.add("wu0", frame(WINDOW, 0, 0, struct.pack(">I", 1000)))
    c.add("d1b", frame(DATA, PADDED | END_STREAM, 1, bytes([7]) + m1[3:] + m2 + b"\0" * 7))
    c.add("h5", frame(HEADERS, END_HEADERS | PADDED | PRIO, 5,
                      bytes([3]) + struct.pack(">IB", 0x80000001, 15)
                      + cenc.encode(grpc_req[:6]) + b"\0\0\0"))
    c.add("d5", frame(DATA, 0, 5, grpc_msg(b"x" * 10)[:8]))
    c.add("rst5", frame(RST, 0, 5, struct.pack(">I", 8)))
    c.add("ping", frame(PING, 0, 0, b"12345678"))
    s.add("h3", frame(HEADERS, END_HEADERS, 3, senc.encode(
        [(":status", "200"), ("content-type", "application/json")])))
    s.add("d3", frame(DATA, END_STREAM, 3, b'{"model_version_status": []}'))
    s.add("h1", frame(HEADERS, END_HEADERS, 1, senc.encode(
        [(":status", "200"), ("content-type", "application/grpc")])))
    r1, r2 = grpc_msg(b"r" * 40), grpc_msg(b"")
    s.add("d1", frame(DATA, 0, 1, r1 + r2))                       # two messages in one frame
    s.add("t1", frame(HEADERS, END_HEADERS | END_STREAM, 1, senc.encode(
        [("grpc-status", "0"), ("grpc-message", "")])))
    s.add("pingack", frame(PING, ACK, 0, b"12345678"))
    s.add("goaway", frame(GOAWAY, 0, 0, struct.pack(">II", 5, 0) + b"bye"))
    return c, s


def test_client_events_exact():
    c, _ = build_conversation()
    ev = parse("client", c.data)
    at = c.at
    assert ev[0] == Preface(0, 24)
    assert ev[1] == Settings(*at["settings"], False, {1: 4096, 4: 65535})
    assert ev[2] == Settings(*at["ack"], True, {})
    assert isinstance(ev[3], Headers) and (ev[3].start, ev[3].end) == at["h1"]
    h3 = ev[4]
    assert (h3.stream_id, h3.start, h3.end, h3.end_stream) == (3, at["h3"][0], at["h3c2"][1], True)
    assert dict(h3.headers)[":path"] == "/v1/models/mnist"
    assert ev[5] == Data(1, *at["d1a"], 3, False, ())
    assert ev[6] == WindowUpdate(0, *at["wu0"], 1000)
    # padded frame: data_len excludes the pad length byte and the 7 padding bytes
    m1_start = at["d1a"][0] + 9
    d1b_data = at["d1b"][0] + 10
    assert ev[7] == Data(1, *at["d1b"], 305 - 3 + 25, True, (
        GrpcMessage(False, 300, m1_start, d1b_data + 302),
        GrpcMessage(True, 20, d1b_data + 302, d1b_data + 327)))
    h5 = ev[8]
    assert (h5.stream_id, h5.start, h5.end) == (5, *at["h5"])
    assert dict(h5.headers)[":path"] == PREDICT     # priority + padding skipped correctly
    assert ev[9] == Data(5, *at["d5"], 8, False, ())
    assert ev[10] == RstStream(5, *at["rst5"], 8)
    assert ev[11] == Ping(*at["ping"], False, b"12345678")
    assert len(ev) == 12                             # no GrpcFramingError for the reset stream


def test_server_events_exact():
    _, s = build_conversation()
    ev = parse("server", s.data)
    at = s.at
    assert [type(e).__name__ for e in ev] == ["Settings", "Settings", "Headers", "Data", "Headers",
                                              "Data", "Headers", "Ping", "GoAway"]
    d1 = ev[5]
    assert d1.grpc_messages == (GrpcMessage(False, 40, at["d1"][0] + 9, at["d1"][0] + 54),
                                GrpcMessage(False, 0, at["d1"][0] + 54, at["d1"][0] + 59))
    assert ev[3].grpc_messages == ()                 # application/json: not split
    assert ev[8] == GoAway(*at["goaway"], 5, 0, b"bye")


def test_assembled_conversation():
    c, s = build_conversation()
    conv = assemble_h2(parse("client", c.data), parse("server", s.data))
    assert (conv.preface_start, conv.preface_end) == (0, 24)
    assert conv.client_settings_end == c.at["settings"][1]
    assert conv.server_settings_end == s.at["settings"][1]
    assert conv.server_ack_end == s.at["ack"][1]
    assert conv.client_ack_end == c.at["ack"][1]
    assert conv.server_settings == {3: 100, 5: 16384}
    assert (conv.goaway.last_stream_id, conv.goaway_by) == (5, "server")
    assert conv.warnings == []
    s1, s3, s5 = conv.streams
    assert (s1.stream_id, s1.method, s1.path, s1.authority, s1.request_id) == (
        1, "POST", PREDICT, "localhost:8500", "req-1")
    assert (s1.req_start, s1.req_headers_end, s1.req_end) == (
        c.at["h1"][0], c.at["h1"][1], c.at["d1b"][1])
    assert (s1.resp_start, s1.resp_headers_end, s1.resp_end) == (
        s.at["h1"][0], s.at["h1"][1], s.at["t1"][1])
    assert (s1.request_bytes, s1.response_bytes) == (3 + 302 + 25, 45 + 5)
    assert (s1.request_messages, s1.request_message_bytes) == (2, 320)
    assert (s1.response_messages, s1.response_message_bytes) == (2, 40)
    assert (s1.status, s1.grpc_status, s1.grpc_message, s1.content_type) == (
        200, 0, "", "application/grpc")
    assert s1.trailers == (("grpc-status", "0"), ("grpc-message", ""))
    assert s1.complete and s1.reset_by is None and not s1.pushed
    assert (s3.req_start, s3.req_end, s3.resp_start, s3.resp_end) == (
        c.at["h3"][0], c.at["h3c2"][1], s.at["h3"][0], s.at["d3"][1])
    assert (s3.status, s3.grpc_status, s3.request_bytes, s3.response_bytes, s3.complete) == (
        200, None, 0, 28, True)
    assert (s5.reset_by, s5.reset_code, s5.req_end, s5.resp_start, s5.complete) == (
        "client", 8, None, None, False)
    assert (s5.request_bytes, s5.request_messages) == (8, 0)


# ---------------------------------------------------------------- single features

def test_trailers_only_grpc_response():
    enc = hpack.Encoder()
    resp = frame(HEADERS, END_HEADERS | END_STREAM, 1, enc.encode([
        (":status", "200"), ("content-type", "application/grpc"), ("grpc-status", "5"),
        ("grpc-message", "model%20not%20found")]))
    req = PREFACE + frame(HEADERS, END_HEADERS | END_STREAM, 1, hpack.Encoder().encode([
        (":method", "POST"), (":path", PREDICT), ("content-type", "application/grpc")]))
    conv = assemble_h2(parse("client", req), parse("server", resp))
    [st1] = conv.streams
    assert (st1.grpc_status, st1.grpc_message, st1.trailers, st1.resp_end, st1.complete) == (
        5, "model not found", (), len(resp), True)
    assert st1.response_messages == 0


def test_informational_1xx_then_final():
    enc = hpack.Encoder()
    data = (frame(HEADERS, END_HEADERS, 1, enc.encode([(":status", "100")]))
            + frame(HEADERS, END_HEADERS, 1, enc.encode([(":status", "103"), ("link", "<x>")]))
            + frame(HEADERS, END_HEADERS | END_STREAM, 1, enc.encode([(":status", "204")])))
    [st1] = assemble_h2([], parse("server", data)).streams
    assert [dict(h)[":status"] for h in st1.informational] == ["100", "103"]
    assert (st1.status, st1.resp_start, st1.resp_end) == (204, 0, len(data))


def test_server_push():
    enc = hpack.Encoder()
    promise = frame(PUSH, END_HEADERS | PADDED, 1, bytes([2]) + struct.pack(">I", 2) + enc.encode(
        [(":method", "GET"), (":path", "/style.css"), (":authority", "h")]) + b"\0\0")
    rest = (frame(HEADERS, END_HEADERS, 2, enc.encode([(":status", "200")]))
            + frame(DATA, END_STREAM, 2, b"body{}"))
    ev = parse("server", promise + rest)
    assert ev[0] == PushPromise(1, 2, 0, len(promise), (
        (":method", "GET"), (":path", "/style.css"), (":authority", "h")))
    [st2] = assemble_h2([], ev).streams
    assert (st2.stream_id, st2.pushed, st2.path, st2.status, st2.req_start) == (
        2, True, "/style.css", 200, None)
    assert (st2.resp_start, st2.resp_end, st2.response_bytes, st2.complete) == (
        len(promise), len(promise + rest), 6, True)


def test_priority_frame_and_unknown_frame():
    data = frame(PRIORITY, 0, 7, struct.pack(">IB", 0x80000003, 255)) + frame(0x42, 0xff, 9, b"xyz")
    assert parse("server", data) == [Priority(7, 0, 14, 3, 256, True),
                                     UnknownFrame(0x42, 9, 0xff, 14, 26)]
    assert assemble_h2([], parse("server", data)).streams == []   # no stream from PRIORITY alone


def test_goaway_kept_from_client_when_server_sends_none():
    data = PREFACE + frame(GOAWAY, 0, 0, struct.pack(">II", 0, 2))
    conv = assemble_h2(parse("client", data), [])
    assert (conv.goaway.error_code, conv.goaway_by) == (2, "client")


def test_server_rst_no_error_after_full_response_is_complete():
    enc = hpack.Encoder()
    client = PREFACE + frame(HEADERS, END_HEADERS, 1, hpack.Encoder().encode(
        [(":method", "POST"), (":path", "/up")])) + frame(DATA, 0, 1, b"partial")
    server = (frame(HEADERS, END_HEADERS | END_STREAM, 1, enc.encode([(":status", "413")]))
              + frame(RST, 0, 1, struct.pack(">I", 0)))
    [st1] = assemble_h2(parse("client", client), parse("server", server)).streams
    assert (st1.reset_by, st1.reset_code, st1.req_end, st1.status, st1.complete) == (
        "server", 0, None, 413, True)


def test_hpack_dynamic_table_size_update_above_default_is_accepted():
    enc = hpack.Encoder()
    enc.header_table_size = 65536          # as after the peer's SETTINGS_HEADER_TABLE_SIZE
    block = enc.encode([(":status", "200"), ("x-big", "v" * 5000)])
    block2 = enc.encode([(":status", "200"), ("x-big", "v" * 5000)])  # indexed from the table
    ev = parse("server", frame(HEADERS, END_HEADERS, 1, block) + frame(HEADERS, END_HEADERS, 3,
                                                                       block2))
    assert ev[1].headers == ev[0].headers and len(block2) < 10


def test_grpc_message_truncated_by_end_stream():
    enc = hpack.Encoder()
    data = (frame(HEADERS, END_HEADERS, 1, enc.encode([(":status", "200"),
                                                       ("content-type", "application/grpc+proto")]))
            + frame(DATA, END_STREAM, 1, grpc_msg(b"x" * 10)[:9]))
    ev = parse("server", data)
    data_frame_start = ev[0].end
    assert ev[-1] == GrpcFramingError(1, data_frame_start + 9, ev[-1].message)
    assert "inside a gRPC message" in ev[-1].message
    conv = assemble_h2([], ev)
    assert conv.streams[0].response_messages == 0 and "gRPC framing" in conv.warnings[0].message
    assert (conv.warnings[0].direction, conv.warnings[0].field) == ("server", "grpc-message")


def test_grpc_bad_compressed_flag_stops_counting_only_that_stream():
    enc = hpack.Encoder()
    hdr = enc.encode([(":status", "200"), ("content-type", "application/grpc")])
    data = (frame(HEADERS, END_HEADERS, 1, hdr) + frame(HEADERS, END_HEADERS, 3, hdr)
            + frame(DATA, 0, 1, b"\x07\x00\x00\x00\x01z")
            + frame(DATA, END_STREAM, 3, grpc_msg(b"ok")))
    ev = parse("server", data)
    bad = [e for e in ev if isinstance(e, GrpcFramingError)]
    assert len(bad) == 1 and bad[0].stream_id == 1 and bad[0].offset == ev[1].end + 9
    assert ev[-1].grpc_messages == (GrpcMessage(False, 2, ev[-1].start + 9, ev[-1].end),)


def test_truncated_frame_reported_by_close():
    data = settings_frame() + frame(DATA, 0, 1, b"x" * 100)[:50]
    parser = H2Parser("server")
    assert parser.feed(data, 0) == [Settings(0, 9, False, {})]
    assert parser.close(len(data)) == [Truncated(9, len(data), "DATA frame", 1)]
    conv = assemble_h2([], [Settings(0, 9, False, {}), *parser.close(len(data))])
    assert "DATA frame" in conv.warnings[0].message
    assert conv.warnings[0].field == "DATA frame"


def test_zero_length_data_with_end_stream():
    ev = parse("client", PREFACE + frame(DATA, END_STREAM, 1))
    assert ev[1] == Data(1, 24, 33, 0, True, ())


# ---------------------------------------------------------------- errors

def test_huge_announced_frame_length():
    data = settings_frame() + struct.pack(">I", 16385)[1:] + bytes([DATA, 0]) + b"\0\0\0\1"
    parser = H2Parser("server", max_frame_size=16384)
    with pytest.raises(ProtocolError) as info:
        parser.feed(data, 100)
    assert (info.value.offset, info.value.field) == (109, "frame.length")
    assert info.value.events == [Settings(100, 109, False, {})]
    with pytest.raises(ProtocolError) as again:
        parser.feed(b"\0", 100 + len(data))
    assert again.value.events == [] and again.value.offset == 109


def test_hpack_garbage():
    data = settings_frame() + frame(HEADERS, END_HEADERS, 1, b"\xff\xff\xff\xff\xff\x7f")
    with pytest.raises(ProtocolError) as info:
        H2Parser("server").feed(data, 0)
    assert (info.value.offset, info.value.field) == (9, "header_block")


def test_bad_client_preface():
    with pytest.raises(ProtocolError) as info:
        H2Parser("client").feed(b"PRI * HTTP/1.1\r\n", 50)
    assert (info.value.offset, info.value.field) == (50 + 11, "preface")


@pytest.mark.parametrize("data, offset, field", [
    (frame(HEADERS, 0, 1, b"\x82") + frame(DATA, 0, 1, b"x"), 10, "frame.type"),  # no CONT
    (frame(CONT, END_HEADERS, 1, b"\x82"), 0, "frame.type"),
    (frame(DATA, 0, 0, b"x"), 0, "stream_id"),
    (frame(HEADERS, END_HEADERS, 0, b"\x82"), 0, "stream_id"),
    (frame(SETTINGS, 0, 1, b""), 0, "stream_id"),
    (frame(SETTINGS, 0, 0, b"12345"), 0, "SETTINGS.length"),
    (frame(SETTINGS, ACK, 0, b"123456"), 0, "SETTINGS.length"),
    (frame(PING, 0, 0, b"1234"), 0, "PING.length"),
    (frame(RST, 0, 1, b"12"), 0, "RST_STREAM.length"),
    (frame(WINDOW, 0, 0, b"12"), 0, "WINDOW_UPDATE.length"),
    (frame(GOAWAY, 0, 0, b"1234"), 0, "GOAWAY.length"),
    (frame(PRIORITY, 0, 1, b"1234"), 0, "PRIORITY.length"),
    (frame(DATA, PADDED, 1, bytes([5]) + b"abc"), 9, "DATA.pad_length"),
    (frame(DATA, PADDED, 1, b""), 0, "DATA.pad_length"),
    (frame(HEADERS, PADDED | END_HEADERS, 1, bytes([9]) + b"abc"), 0, "HEADERS.pad_length"),
    (frame(HEADERS, PRIO | END_HEADERS, 1, b"abc"), 0, "HEADERS.priority"),
    (frame(PUSH, END_HEADERS, 1, b"ab"), 0, "PUSH_PROMISE.promised_stream_id"),
])
def test_framing_errors(data, offset, field):
    with pytest.raises(ProtocolError) as info:
        H2Parser("server").feed(data, 0)
    assert (info.value.offset, info.value.field) == (offset, field)


def test_non_contiguous_feed():
    parser = H2Parser("server")
    parser.feed(b"\0\0", 0)
    with pytest.raises(ProtocolError) as info:
        parser.feed(b"\0", 3)
    assert info.value.field == "offset"


# ---------------------------------------------------------------- real bytes from the h2 library

def send_chunked(conn, sid: int, data: bytes, *, end_stream=False, pad_length=None, size=16000):
    """h2 sends at most one frame per send_data call: cut ``data`` into frames of ``size``."""
    pieces = [data[i:i + size] for i in range(0, len(data), size)] or [b""]
    for i, piece in enumerate(pieces):
        conn.send_data(sid, piece, end_stream=end_stream and i == len(pieces) - 1,
                       pad_length=pad_length)


def h2_exchange():
    """Run an h2 client and server against each other in memory; return both byte streams and
    what the client asked for.  The h2 library is an independent encoder of real HTTP/2."""
    cfg = dict(header_encoding="utf-8")
    cli = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, **cfg))
    srv = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, **cfg))
    c_bytes, s_bytes = bytearray(), bytearray()

    def pump():
        moved = True
        while moved:
            out_c, out_s = cli.data_to_send(), srv.data_to_send()
            moved = bool(out_c or out_s)
            c_bytes.extend(out_c)
            s_bytes.extend(out_s)
            for event in srv.receive_data(out_c):
                serve(event)
            for event in cli.receive_data(out_s):
                if isinstance(event, h2.events.DataReceived):
                    cli.acknowledge_received_data(event.flow_controlled_length, event.stream_id)

    bodies = {}

    def serve(event):
        if isinstance(event, h2.events.DataReceived):
            srv.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        if isinstance(event, h2.events.StreamEnded):
            sid = event.stream_id
            size = 100 + 7000 * (sid // 2)                  # 100, 7100, 14100, 21100 bytes
            body = grpc_msg(b"r" * (size // 2)) + grpc_msg(b"s" * (size - size // 2))
            srv.send_headers(sid, [(":status", "200"), ("content-type", "application/grpc")])
            send_chunked(srv, sid, body)
            srv.send_headers(sid, [("grpc-status", str(sid % 3)), ("grpc-message", "m%25")],
                             end_stream=True)
            bodies[sid] = body

    cli.initiate_connection()
    srv.initiate_connection()
    pump()
    for i, sid in enumerate((1, 3, 5, 7)):
        cli.send_headers(sid, [(":method", "POST"), (":scheme", "http"),
                               (":authority", "127.0.0.1:8500"), (":path", f"/svc/M{i}"),
                               ("content-type", "application/grpc"), ("te", "trailers"),
                               ("x-request-id", f"id-{sid}")])
    for sid in (1, 3, 5, 7):                                     # interleaved DATA of 4 streams
        send_chunked(cli, sid, grpc_msg(b"q" * (20000 * (sid == 5))),
                     pad_length=10 if sid == 3 else None)
    for sid in (7, 5, 3, 1):
        cli.send_data(sid, grpc_msg(b"w" * sid), end_stream=True)
    pump()
    cli.ping(b"pingpong")
    cli.close_connection()
    pump()
    return bytes(c_bytes), bytes(s_bytes), bodies


def test_h2_library_conversation():
    c_bytes, s_bytes, bodies = h2_exchange()
    conv = assemble_h2(parse("client", c_bytes), parse("server", s_bytes))
    assert conv.warnings == []
    assert [s.stream_id for s in conv.streams] == [1, 3, 5, 7]
    for i, st1 in enumerate(conv.streams):
        sid = st1.stream_id
        assert (st1.path, st1.request_id, st1.status) == (f"/svc/M{i}", f"id-{sid}", 200)
        assert (st1.grpc_status, st1.grpc_message) == (sid % 3, "m%")
        assert (st1.request_messages, st1.response_messages) == (2, 2)
        assert st1.request_message_bytes == 20000 * (sid == 5) + sid
        assert st1.response_bytes == len(bodies[sid])
        assert st1.response_message_bytes == len(bodies[sid]) - 10
        assert st1.complete
        assert st1.req_start < st1.req_headers_end <= st1.req_end <= len(c_bytes)
        assert st1.resp_start < st1.resp_headers_end < st1.resp_end <= len(s_bytes)
    # END_STREAM frames were sent in the order 7, 5, 3, 1
    assert [s.req_end for s in conv.streams] == sorted(s.req_end for s in conv.streams)[::-1]
    assert conv.client_settings_end and conv.server_ack_end and conv.client_ack_end
    assert (conv.goaway_by, conv.goaway.error_code) == ("client", 0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_chunking_gives_identical_events(data):
    c_bytes, s_bytes, _ = H2_STREAMS
    for role, stream in (("client", c_bytes), ("server", s_bytes)):
        cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=40), label=role)
        assert parse(role, stream, base=7, cuts=cuts) == WHOLE[role]


def test_byte_by_byte_gives_identical_events():
    c, s = build_conversation()
    assert parse("client", c.data, cuts=range(len(c.data))) == parse("client", c.data)
    assert parse("server", s.data, cuts=range(len(s.data))) == parse("server", s.data)


def _every_frame_boundary_split():
    """Hand-built stream cut at every offset +-1 around each frame start."""
    c, _ = build_conversation()
    cuts = {p + d for start, _ in c.at.values() for p in (start,) for d in (-1, 0, 1)}
    return c.data, [x for x in cuts if 0 <= x <= len(c.data)]


def test_cuts_around_frame_boundaries():
    data, cuts = _every_frame_boundary_split()
    assert parse("client", data, cuts=cuts) == parse("client", data)


H2_STREAMS = h2_exchange()
WHOLE = {"client": parse("client", H2_STREAMS[0], base=7),
         "server": parse("server", H2_STREAMS[1], base=7)}


# ---------------------------------------------------------------- fuzz

def guarded(role: str, data: bytes, cuts=()) -> list | None:
    try:
        events = parse(role, data, cuts=cuts, max_frame_size=1 << 16)
    except ProtocolError:
        return None
    for e in events:
        assert 0 <= e.start <= e.end <= len(data) if hasattr(e, "end") else True
    assemble_h2(events, events)            # the assembler must take anything the parser emits
    return events


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(["client", "server"]))
def test_fuzz_random_bytes(data, role):
    guarded(role, (PREFACE if role == "client" else b"") + data)
    guarded(role, data)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_fuzz_mutated_valid_streams(data):
    c, s = build_conversation()
    role = data.draw(st.sampled_from(["client", "server"]))
    stream = bytearray(c.data if role == "client" else s.data)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(stream) - 1))
        stream[at] = data.draw(st.integers(0, 255))
    guarded(role, bytes(stream), data.draw(st.lists(st.integers(0, len(stream)), max_size=4)))


def test_memoryview_and_bytearray_input():
    c, _ = build_conversation()
    for wrap in (memoryview, bytearray):
        parser = H2Parser("client")
        got = [e for i in range(0, len(c.data), 11) for e in parser.feed(wrap(c.data[i:i + 11]), i)]
        assert got == parse("client", c.data)
