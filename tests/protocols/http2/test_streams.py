"""inferwire.protocols.http2.streams: assembly from events alone (no bytes), the odd cases as
Problems naming the direction, offset and frame or header, the certain facts kept."""
from __future__ import annotations

from inferwire.problems import Problem
from inferwire.protocols.grpc import GrpcMessage
from inferwire.protocols.http2 import (Data, GrpcFramingError, Headers, Preface, RstStream,
                                       Settings, Truncated, assemble_h2, assemble_rows,
                                       event_records)

REQ = ((":method", "POST"), (":path", "/p"), ("content-type", "application/grpc"),
       ("x-request-id", "r1"))
RESP = ((":status", "200"), ("content-type", "application/grpc"))
OK = (("grpc-status", "0"), ("grpc-message", "all%20good"))
MSG = (GrpcMessage(False, 3, 60, 68),)


def client_events():
    return [Preface(0, 24), Settings(24, 33, False, {4: 65535}),
            Headers(1, 33, 60, REQ, False), Data(1, 60, 77, 8, True, MSG)]


def server_events(status="200", trailers=OK):
    return [Settings(0, 9, False, {}), Settings(9, 18, True, {}),
            Headers(1, 18, 40, ((":status", status), ("content-type", "application/grpc")),
                    False),
            Data(1, 40, 57, 8, False, MSG), Headers(1, 57, 70, trailers, True)]


def test_a_clean_grpc_call_has_no_problems():
    conv = assemble_h2(client_events(), server_events())
    assert conv.warnings == []
    (s,) = conv.streams
    assert (s.req_start, s.req_headers_end, s.req_end) == (33, 60, 77)
    assert (s.resp_start, s.resp_headers_end, s.resp_end) == (18, 40, 70)
    assert (s.status, s.grpc_status, s.grpc_message, s.request_id) == (200, 0, "all good", "r1")
    assert (s.request_messages, s.response_message_bytes, s.complete) == (1, 3, True)
    assert (conv.preface_end, conv.client_settings_end, conv.server_ack_end) == (24, 33, 18)


def test_frames_after_end_stream_and_data_before_headers_are_problems_at_their_offsets():
    client = client_events() + [Data(1, 77, 90, 4, False), Data(3, 90, 99, 0, True)]
    server = server_events() + [Headers(1, 99, 110, OK, True)]
    conv = assemble_h2(client, server)
    got = [(p.direction, p.offset, p.field, p.message) for p in conv.warnings]
    assert got == [
        ("client", 77, "DATA", "stream 1: client DATA at offset 77 after END_STREAM"),
        ("client", 90, "DATA", "stream 3: client DATA before HEADERS"),
        ("server", 99, "HEADERS", "stream 1: server HEADERS at offset 99 after END_STREAM"),
    ]
    assert conv.streams[0].request_bytes == 12               # the bytes still count


def test_bad_status_and_grpc_status_leave_the_value_empty_and_say_so():
    conv = assemble_h2(client_events(), server_events("2x0", (("grpc-status", "abc"),)))
    (s,) = conv.streams
    assert (s.status, s.grpc_status) == (None, None)
    assert [(p.direction, p.field) for p in conv.warnings] == [("server", "grpc-status"),
                                                               ("server", ":status")]
    assert all(isinstance(p, Problem) and p.offset is None for p in conv.warnings)


def test_grpc_framing_and_truncation_events_become_problems_of_their_side():
    server = server_events()[:4] + [GrpcFramingError(1, 45, "compressed flag 7"),
                                    Truncated(57, 60, "header block", 1)]
    conv = assemble_h2(client_events(), server)
    framing, cut = conv.warnings
    assert (framing.direction, framing.offset, framing.field) == ("server", 45, "grpc-message")
    assert framing.message == ("stream 1: server gRPC framing at offset 45: compressed flag 7; "
                               "message counts of this direction are partial")
    assert (cut.direction, cut.offset, cut.field) == ("server", 57, "header block")
    assert str(cut) == ("server direction ended inside a header block starting at offset 57 "
                        "(stream 1)")
    assert not conv.streams[0].complete


def test_rows_match_the_streams_and_resets_pick_the_erroring_side():
    client = client_events() + [RstStream(1, 77, 90, 0)]
    server = server_events() + [RstStream(1, 70, 83, 8)]
    conv, rows = assemble_rows(event_records(client), event_records(server))
    (stream,) = assemble_h2(client, server).streams
    assert rows == [tuple(getattr(stream, f) for f in stream.__dataclass_fields__)]
    assert (stream.reset_by, stream.reset_code) == ("server", 8)
