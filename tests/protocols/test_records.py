"""Records built by ``frozen()`` are the same objects the dataclass constructor makes."""
import dataclasses
import struct

import hpack
import pytest

from inferwire.protocols.http1 import Http1Message, Http1Parser
from inferwire.protocols.http2 import H2Parser, H2Stream, assemble_h2
from inferwire.protocols.records import frozen



def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(
        ">I", sid) + payload


def h2_bytes():
    """A gRPC call with trailers and a plain GET answered by a 404, both directions."""
    cenc, senc = hpack.Encoder(), hpack.Encoder()
    client = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0)
    client += frame(1, 4, 1, cenc.encode([(":method", "POST"), (":path", "/p/M"),
                                          ("content-type", "application/grpc")]))
    client += frame(0, 1, 1, b"\0\0\0\0\2hi")
    client += frame(1, 5, 3, cenc.encode([(":method", "GET"), (":path", "/x")]))
    server = frame(4, 0, 0) + frame(1, 4, 1, senc.encode([(":status", "200")]))
    server += frame(0, 0, 1, b"\0\0\0\0\1z") + frame(1, 5, 1, senc.encode([("grpc-status", "0")]))
    server += frame(1, 5, 3, senc.encode([(":status", "404")]))
    return client, server


H2 = h2_bytes()


def rebuilt(record):
    """The same record through the generated __init__."""
    return type(record)(**{f.name: getattr(record, f.name) for f in dataclasses.fields(record)})


def check(record):
    normal = rebuilt(record)
    assert record == normal and hash(record) == hash(normal) and repr(record) == repr(normal)
    assert vars(record) == vars(normal)                      # no extra or missing attribute
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.start = 0


def test_h2_streams_from_the_assembler():
    client = H2Parser("client").feed(H2[0], 0)
    server = H2Parser("server").feed(H2[1], 0)
    streams = assemble_h2(client, server).streams
    assert len(streams) == 2 and all(isinstance(s, H2Stream) for s in streams)
    for s in streams:
        check(s)


def test_http1_messages_complete_and_partial():
    parser = Http1Parser("client")
    data = (b"GET /a HTTP/1.1\r\nx-request-id: 1\r\n\r\n"
            b"POST /b HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc")
    messages = parser.feed(data, 0) + parser.close(len(data))
    assert [m.complete for m in messages] == [True, False]
    assert all(isinstance(m, Http1Message) for m in messages)
    for m in messages:
        check(m)
    cut = Http1Parser("server")
    cut.feed(b"HTTP/1.1 200 OK\r\nContent-", 0)
    [partial] = cut.close(25)
    check(partial)


def test_wrong_field_count_is_refused():
    with pytest.raises(TypeError, match="needs all of its"):
        frozen(Http1Message, kind="request")
