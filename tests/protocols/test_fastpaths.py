"""The parsers' fast paths (whole frames / messages / heads in one chunk) against their general
paths (the same bytes fed one byte at a time), on valid and mutated input: same events, same
error at the same offset and field."""
import struct

import hpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inferwire.errors import ProtocolError
from inferwire.protocols.grpc import GrpcMessageSplitter
from inferwire.protocols.http1 import Http1Parser, _parse_fields, _plain_head, _split_lines
from inferwire.protocols.http2 import H2Parser

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def run(parser, data: bytes, step: int | None) -> tuple:
    """(events, error) feeding ``data`` whole (step None) or ``step`` bytes at a time."""
    events, size = [], step or max(len(data), 1)
    try:
        for at in range(0, len(data), size):
            events += parser.feed(data[at:at + size], at)
        if hasattr(parser, "close"):
            events += parser.close(len(data))
        return events, None
    except ProtocolError as exc:
        return events + list(getattr(exc, "events", [])), (exc.offset, exc.field)


def mutate(data: bytes, draw) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(out) - 1))
        out[at] = draw(st.integers(0, 255))
    return bytes(out[:draw(st.integers(len(out) // 2, len(out)))])


# ---------------------------------------------------------------- HTTP/2

def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(
        ">I", sid) + payload


def grpc_msg(body: bytes, flag=0) -> bytes:
    return bytes([flag]) + struct.pack(">I", len(body)) + body


def h2_streams() -> tuple[bytes, bytes]:
    """Client and server bytes of two gRPC calls with the frame kinds the fast path takes."""
    cenc, senc = hpack.Encoder(), hpack.Encoder()
    client, server = PREFACE + frame(4, 0, 0, struct.pack(">HI", 4, 65535)), frame(4, 0, 0)
    for sid in (1, 3):
        client += frame(1, 4, sid, cenc.encode([(":method", "POST"), (":path", "/p/Predict"),
                                                ("content-type", "application/grpc"),
                                                ("x-request-id", f"r{sid}")]))
        client += frame(0, 1, sid, grpc_msg(b"x" * 40) + grpc_msg(b"y" * 3))
        client += frame(8, 0, 0, struct.pack(">I", 100))
        server += frame(1, 4, sid, senc.encode([(":status", "200"),
                                                ("content-type", "application/grpc")]))
        server += frame(0, 0, sid, grpc_msg(b"z" * 30)) + frame(6, 0, 0, b"12345678")
        server += frame(1, 5, sid, senc.encode([("grpc-status", "0")]))
    return client, server


H2 = h2_streams()


def test_h2_fast_and_general_paths_agree_on_valid_bytes():
    for role, data in zip(("client", "server"), H2):
        whole = run(H2Parser(role), data, None)
        assert whole[1] is None and len(whole[0]) > 5
        assert run(H2Parser(role), data, 1) == whole


@FUZZ
@given(st.data())
def test_h2_fast_and_general_paths_agree_on_mutated_bytes(data):
    role = data.draw(st.sampled_from(["client", "server"]))
    stream = mutate(H2[role == "server"], data.draw)
    kw = {"max_frame_size": data.draw(st.sampled_from([16, 1 << 14]))}
    assert run(H2Parser(role, **kw), stream, 1) == run(H2Parser(role, **kw), stream, None)


# ---------------------------------------------------------------- gRPC

@FUZZ
@given(st.lists(st.tuples(st.integers(0, 3), st.binary(max_size=20)), max_size=6), st.data())
def test_grpc_whole_and_bytewise_agree(messages, data):
    payload = b"".join(grpc_msg(body, flag) for flag, body in messages)
    if payload:
        payload = mutate(payload, data.draw)
    assert run(GrpcMessageSplitter(), payload, 1) == run(GrpcMessageSplitter(), payload, None)


# ---------------------------------------------------------------- HTTP/1

REQUEST = (b"POST /v1/models/mnist:predict HTTP/1.1\r\nHost: h:8501\r\nContent-Type: "
           b"application/json\r\nx-request-id: abc\r\nContent-Length: 5\r\n\r\nhello")
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked"
            b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n")


@FUZZ
@given(st.data())
def test_http1_whole_and_bytewise_agree(data):
    role = data.draw(st.sampled_from(["client", "server"]))
    stream = mutate((REQUEST if role == "client" else RESPONSE) * 2, data.draw)
    assert run(Http1Parser(role), stream, 1) == run(Http1Parser(role), stream, None)


def slow_head(block: bytes):
    lines, starts = _split_lines(block, 0)
    return lines[0], _parse_fields(lines[1:], starts[1:])


field_line = st.one_of(
    st.tuples(st.text("abcXYZ-_!~0129", min_size=1, max_size=8),
              st.text(" \tabc:;,\x01\x7f\xe9", max_size=10)).map(lambda t: f"{t[0]}:{t[1]}"),
    st.text(" \t:abc\r\x00", max_size=8))


@FUZZ
@given(st.lists(field_line, max_size=5), st.sampled_from(["\r\n", "\n"]))
def test_plain_head_equals_line_by_line_parse(lines, eol):
    block = ("GET / HTTP/1.1" + eol + "".join(line + eol for line in lines) + "\r\n").encode(
        "latin-1")
    fast = _plain_head(block)
    try:
        slow = slow_head(block)
    except ProtocolError:
        assert fast is None                 # the line-by-line parser names the bad line
        return
    assert fast is None or fast == slow
