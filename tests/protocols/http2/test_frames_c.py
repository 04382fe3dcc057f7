"""The C walk of whole HTTP/2 frames (``inferwire.protocols.http2._frames``) against the Python
walk it stands in for (``H2Parser._frames_py``): crafted frame sequences (frames split across
segments, padding, CONTINUATION, RST_STREAM, GOAWAY, many streams interleaved, gRPC messages
within and across frames, bad lengths and flags) and fuzzed ones, fed whole and cut at every kind
of place; the records, the error (offset, field) and what ``close()`` reports must be equal."""
from __future__ import annotations

import random
import struct

import hpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from needs import skip_or_fail

from inferwire.errors import ProtocolError
from inferwire.protocols.grpc import WholeMessage
from inferwire.protocols.http2 import Data, H2Parser, assemble_records
from inferwire.protocols.http2.events import event_objects
from inferwire.protocols.http2 import frames as frames_module

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST, SETTINGS, PUSH, PING, GOAWAY, WINDOW, CONT = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIO = 0x1, 0x1, 0x4, 0x8, 0x20
C_WALK = frames_module._c_walk
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def frame(ftype: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) \
        + payload


def grpc_msg(body: bytes, flag: int = 0) -> bytes:
    return bytes([flag]) + struct.pack(">I", len(body)) + body


def parse(role: str, data: bytes, cuts, compiled: bool, monkeypatch, **kw) -> tuple:
    """(records, error, close records, assembled streams) of ``data`` fed in pieces cut at
    ``cuts``, with the C walk or without it."""
    monkeypatch.setattr(frames_module, "_c_walk", C_WALK if compiled else None)
    parser = H2Parser(role, records=True, **kw)
    bounds = [0, *sorted(set(c for c in cuts if 0 < c < len(data))), len(data)]
    records, error = [], None
    try:
        for a, b in zip(bounds, bounds[1:]):
            records += parser.feed(data[a:b], a)
    except ProtocolError as exc:
        records += exc.events
        error = (exc.offset, exc.field, str(exc))
    closing = parser.close(len(data))
    return records, error, closing


def both(role: str, data: bytes, monkeypatch, cuts=(), **kw) -> tuple:
    if C_WALK is None:
        skip_or_fail("inferwire.protocols.http2._frames is not built: nothing to compare")
    py = parse(role, data, cuts, False, monkeypatch, **kw)
    c = parse(role, data, cuts, True, monkeypatch, **kw)
    assert c == py
    assert shapes(c[0]) == shapes(py[0])
    return py


def shapes(records: list) -> list:
    """The types in each record, nested: equal tuples of different types (a GrpcMessage, a
    NamedTuple, against a plain tuple) compare equal, so equality alone would not tell."""
    def shape(x):
        return (type(x), tuple(shape(i) for i in x)) if isinstance(x, tuple) else type(x)
    return [shape(r) for r in records]


def calls(n_streams: int = 12, seed: int = 1) -> tuple[bytes, bytes]:
    """Client and server bytes of ``n_streams`` gRPC calls, interleaved, with most frame kinds
    the walks meet: one message per frame, several per frame, a message across frames, padded
    DATA, HEADERS with priority and padding, CONTINUATION, PING, WINDOW_UPDATE, RST_STREAM,
    PRIORITY, an unknown frame type, GOAWAY."""
    rnd = random.Random(seed)
    cenc, senc = hpack.Encoder(), hpack.Encoder()
    client = PREFACE + frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 1 << 20))
    server = frame(SETTINGS, 0, 0) + frame(SETTINGS, ACK, 0)
    client += frame(SETTINGS, ACK, 0)
    sids = [1 + 2 * k for k in range(n_streams)]
    types = ["application/grpc", "application/grpc+proto", "application/json"]
    for sid in sids:
        rid = f"r{sid}-{rnd.random()}"            # never indexed on odd streams: a plain block
        block = cenc.encode([(":method", "POST"), (":path", "/p.S/Predict"),
                             ("content-type", types[sid % 11 % 3]),
                             hpack.NeverIndexedHeaderTuple("x-request-id", rid)
                             if sid % 4 == 1 else ("x-request-id", rid)], huffman=sid % 8 != 1)
        if sid % 3 == 0:          # HEADERS + CONTINUATION
            client += frame(HEADERS, 0, sid, block[:5]) + frame(CONT, END_HEADERS, sid, block[5:])
        elif sid % 5 == 0:        # padded, with priority fields
            client += frame(HEADERS, END_HEADERS | PADDED | PRIO, sid,
                            b"\x02" + struct.pack(">LB", 1, 15) + block + b"\0\0")
        else:
            client += frame(HEADERS, END_HEADERS, sid, block)
    for sid in sids:
        body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 60)))
        kind = sid % 7
        if kind == 0:             # one message across two DATA frames
            msg = grpc_msg(body + b"tail")
            client += frame(DATA, 0, sid, msg[:3]) + frame(DATA, END_STREAM, sid, msg[3:])
        elif kind == 1:           # several whole messages in one frame
            client += frame(DATA, END_STREAM, sid, grpc_msg(body) + grpc_msg(b"", 1)
                            + grpc_msg(body[:7]))
        elif kind == 2:           # padded DATA
            client += frame(DATA, END_STREAM | PADDED, sid, b"\x03" + grpc_msg(body) + b"\0" * 3)
        elif kind == 3:           # empty DATA ending the stream after a whole message
            client += frame(DATA, 0, sid, grpc_msg(body)) + frame(DATA, END_STREAM, sid)
        else:
            client += frame(DATA, END_STREAM, sid, grpc_msg(body))
        client += frame(WINDOW, 0, 0, struct.pack(">I", 1000 + sid))
        server += frame(WINDOW, 0, sid, struct.pack(">I", 77))
    for sid in reversed(sids):
        server += frame(HEADERS, END_HEADERS, sid, senc.encode([
            (":status", "200"), ("content-type", "application/grpc")]))
        if sid % 4 == 1:
            server += frame(PING, 0, 0, b"12345678") + frame(0x21, 0x3, sid, b"?" * sid)
        server += frame(DATA, 0, sid, grpc_msg(b"z" * sid))
        if sid == sids[-3]:       # trailers ending the stream inside a message
            server += frame(DATA, 0, sid, grpc_msg(b"cut")[:4])
        if sid == sids[-2]:
            server += frame(RST, 0, sid, struct.pack(">I", 8))
            continue
        server += frame(HEADERS, END_HEADERS | END_STREAM, sid, senc.encode([
            ("grpc-status", "0"), ("x-time", str(rnd.random()))]))
    client += frame(PRIORITY, 0, 99, struct.pack(">LB", 3, 7))
    server += frame(GOAWAY, 0, 0, struct.pack(">LL", sids[-1], 0) + b"bye")
    return client, server


CALLS = calls()


def test_the_extension_is_built_where_ci_runs():
    if C_WALK is None:
        skip_or_fail("inferwire.protocols.http2._frames is not built (no C compiler at install: "
                     "scripts/setup.sh needs gcc and the Python headers)")


@pytest.mark.parametrize("role", ["client", "server"])
def test_interleaved_calls_give_the_same_records_and_streams(role, monkeypatch):
    data = CALLS[role == "server"]
    records, error, closing = both(role, data, monkeypatch)
    assert error is None and closing == []
    kinds = {r[0].__name__ for r in records}
    assert {"Headers", "Data", "WindowUpdate"} <= kinds
    if role == "server":
        assert {"RstStream", "GoAway", "Ping", "UnknownFrame"} <= kinds
    else:
        messages = [m for ev in event_objects(records) if isinstance(ev, Data)
                    for m in ev.grpc_messages]
        assert len(messages) >= 8 and {m.compressed for m in messages} == {False, True}
        # the usual frame, one whole message, as the record's marker; the others as tuples
        forms = {type(r[6]) for r in records if r[0] is Data and r[4]}
        assert WholeMessage in forms and tuple in forms


def test_the_connection_assembles_the_same(monkeypatch):
    c = [parse(role, data, (), True, monkeypatch)[0] for role, data in
         zip(("client", "server"), CALLS)]
    py = [parse(role, data, (), False, monkeypatch)[0] for role, data in
          zip(("client", "server"), CALLS)]
    conv = assemble_records(*py)
    assert assemble_records(*c) == conv and len(conv.streams) == 12
    assert any("gRPC framing" in str(w) for w in conv.warnings)


@pytest.mark.parametrize("role", ["client", "server"])
@pytest.mark.parametrize("seed", range(12))
def test_frames_split_across_segments(role, seed, monkeypatch):
    data = CALLS[role == "server"]
    rnd = random.Random(seed)
    cuts = [rnd.randrange(1, len(data)) for _ in range(rnd.choice([1, 3, 10, 60]))]
    whole = both(role, data, monkeypatch)
    # (a frame cut across segments is read by the general path: its one message as a tuple,
    # where a whole frame's record holds the WHOLE_MESSAGE marker; the same events)
    assert as_events(both(role, data, monkeypatch, cuts=cuts)) == as_events(whole)


def as_events(parsed: tuple) -> tuple:
    records, error, closing = parsed
    return event_objects(records), error, event_objects(closing)


@pytest.mark.parametrize("payload, what", [
    (frame(DATA, 0, 0, b"abc"), "stream_id"),                        # DATA on stream 0
    (frame(WINDOW, 0, 1, b"\0\0\0"), "WINDOW_UPDATE.length"),        # bad length
    (frame(DATA, PADDED, 1, b"\x09abc"), "DATA.pad_length"),         # pad longer than payload
    (frame(HEADERS, END_HEADERS, 0, b"\x82"), "stream_id"),          # HEADERS on stream 0
    (frame(HEADERS, END_HEADERS, 1, b"\xff\xff\xff\x0f"), "header_block"),   # bad HPACK
    (frame(CONT, END_HEADERS, 1, b"\x82"), "frame.type"),            # CONTINUATION alone
    (frame(RST, 0, 1, b"\0\0"), "RST_STREAM.length"),
    (frame(DATA, 0, 1, b"x" * 40), "frame.length"),                  # over max_frame_size
])
def test_bad_frames_raise_the_same_error_after_the_same_records(payload, what, monkeypatch):
    good = frame(HEADERS, END_HEADERS, 1, hpack.Encoder().encode([
        (":status", "200"), ("content-type", "application/grpc")]))
    good += frame(DATA, 0, 1, grpc_msg(b"ok")) + frame(WINDOW, 0, 0, b"\0\0\0\x05")
    for data in (good + payload, good + payload + good):
        records, error, _ = both("server", data, monkeypatch, max_frame_size=32)
        assert error is not None and error[0] - len(good) in (0, 9) and error[1] == what
        assert [r[0].__name__ for r in records] == ["Headers", "Data", "WindowUpdate"]


@pytest.mark.parametrize("body", [
    grpc_msg(b"x") + b"\2\0\0\0\1y",            # a bad compressed flag after a good message
    grpc_msg(b"x") + b"\0\0",                   # a prefix cut by the frame's end
    grpc_msg(b"0123456789")[:-3],               # a message cut by END_STREAM
    b"\0\0\0\0",                                # four bytes: less than a prefix
])
def test_grpc_framing_the_walk_leaves_to_python(body, monkeypatch):
    enc = hpack.Encoder()
    data = PREFACE + frame(HEADERS, END_HEADERS, 1, enc.encode([
        (":method", "POST"), ("content-type", "application/grpc")]))
    data += frame(DATA, 0, 1, body) + frame(DATA, END_STREAM, 1, grpc_msg(b"after"))
    data += frame(HEADERS, END_HEADERS, 3, enc.encode([
        (":method", "POST"), ("content-type", "application/grpc")]))
    data += frame(DATA, END_STREAM, 3, grpc_msg(b"a") + grpc_msg(b"b"))
    records, error, _ = both("client", data, monkeypatch)
    assert error is None
    assert any(r[0].__name__ == "GrpcFramingError" for r in records)


def test_many_messages_in_one_frame(monkeypatch):
    enc = hpack.Encoder()
    data = frame(HEADERS, END_HEADERS, 1, enc.encode([(":status", "200"),
                                                     ("content-type", "application/grpc")]))
    data += frame(DATA, 0, 1, b"".join(grpc_msg(bytes([k])) for k in range(200)))
    data += frame(DATA, END_STREAM, 1, b"".join(grpc_msg(b"") for _ in range(64)))
    records, error, _ = both("server", data, monkeypatch)
    assert error is None and [len(r[6]) for r in records[1:]] == [200, 64]


@st.composite
def frame_sequences(draw):
    """Random frames of every type (valid and not), on a few streams, some gRPC."""
    enc = hpack.Encoder()
    out = b""
    for _ in range(draw(st.integers(1, 25))):
        ftype = draw(st.sampled_from([DATA, DATA, DATA, HEADERS, HEADERS, WINDOW, CONT, RST,
                                      PING, PRIORITY, SETTINGS, 0x0b]))
        sid = draw(st.sampled_from([0, 1, 1, 3, 5]))
        flags = draw(st.sampled_from([0, END_STREAM, PADDED, PADDED | END_STREAM]))
        if ftype == HEADERS:
            grpc = draw(st.booleans())
            block = enc.encode([(":status", "200")] + ([("content-type", "application/grpc")]
                                                        if grpc else []))
            flags = draw(st.sampled_from([END_HEADERS, END_HEADERS | END_STREAM, 0]))
            payload = block
        elif ftype == DATA:
            payload = b"".join(grpc_msg(draw(st.binary(max_size=12)),
                                        draw(st.sampled_from([0, 0, 1, 2])))
                               for _ in range(draw(st.integers(0, 3))))
            payload = payload[:draw(st.integers(0, len(payload)))] if draw(st.booleans()) \
                else payload
            if flags & PADDED:
                payload = bytes([draw(st.integers(0, 4))]) + payload + b"\0" * 3
        elif ftype == WINDOW:
            payload = draw(st.sampled_from([b"\0\0\0\x09", b"\0\0\x09"]))
        else:
            payload = draw(st.binary(max_size=10))
        out += frame(ftype, flags, sid, payload)
    return out


@FUZZ
@given(frame_sequences(), st.lists(st.integers(1, 400), max_size=5),
       st.sampled_from([16, 1 << 14]))
def test_fuzzed_frame_sequences(data, cuts, max_frame_size):
    with pytest.MonkeyPatch.context() as monkeypatch:
        both("server", data, monkeypatch, cuts=cuts, max_frame_size=max_frame_size)
        both("client", PREFACE + data, monkeypatch, cuts=cuts, max_frame_size=max_frame_size)


@FUZZ
@given(st.data())
def test_mutated_calls(data):
    role = data.draw(st.sampled_from(["client", "server"]))
    stream = bytearray(CALLS[role == "server"])
    for _ in range(data.draw(st.integers(1, 4))):
        stream[data.draw(st.integers(0, len(stream) - 1))] = data.draw(st.integers(0, 255))
    cuts = data.draw(st.lists(st.integers(1, len(stream) - 1), max_size=4))
    with pytest.MonkeyPatch.context() as monkeypatch:
        both(role, bytes(stream), monkeypatch, cuts=cuts)


@pytest.mark.parametrize("cut", range(1, 15))
def test_a_message_across_frames_cut_at_every_byte(cut, monkeypatch):
    enc = hpack.Encoder()
    msg = grpc_msg(b"0123456789")                   # 15 bytes
    data = frame(HEADERS, END_HEADERS, 1, enc.encode([(":status", "200"),
                                                     ("content-type", "application/grpc")]))
    data += frame(DATA, 0, 1, grpc_msg(b"ab") + msg[:cut])
    data += frame(DATA, END_STREAM, 1, msg[cut:] + grpc_msg(b"c"))
    records, error, _ = both("server", data, monkeypatch)
    assert error is None
    assert [[m.length for m in r[6]] for r in records[1:]] == [[2], [10, 1]]


def test_a_remembered_block_after_the_table_changed(monkeypatch):
    """The same block bytes (dynamic index 62) before and after a table change: the decoder's
    memo holds only for the generation it was made in."""
    add = [bytes([0x40, 3]) + name + bytes([1]) + value for name, value in
           ((b"x-a", b"1"), (b"x-b", b"2"))]
    first_dynamic = bytes([0x80 | 62])
    data = b"".join(frame(HEADERS, END_HEADERS, sid, block) for sid, block in (
        (1, add[0]), (3, first_dynamic), (5, first_dynamic), (7, add[1]), (9, first_dynamic)))
    records, error, _ = both("server", data, monkeypatch)
    assert error is None
    assert [r[4][-1] for r in records] == [("x-a", "1"), ("x-a", "1"), ("x-a", "1"),
                                           ("x-b", "2"), ("x-b", "2")]
