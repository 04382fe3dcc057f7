"""The C assembly of a connection's usual HTTP/2 streams (``inferwire.protocols.http2._streams``)
against the Python walks it stands in for (``_walk_client``, ``_walk_server``, ``_stream_row``):
the same rows and conversation (settings, preface, GOAWAY, warnings), on crafted connections it
must take, on crafted odd ones it must leave to Python (it returns None there), on fuzzed record
sequences of every kind, and on the records the parser makes of real gRPC bytes."""
from __future__ import annotations

import struct

import hpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from needs import skip_or_fail

from inferwire.protocols.grpc import GrpcMessage
from inferwire.protocols.http2 import (Data, GoAway, GrpcFramingError, H2Parser, Headers, Ping,
                                       Preface, PushPromise, RstStream, Settings, Truncated,
                                       WindowUpdate, assemble_rows, event_records)
from inferwire.protocols.http2 import streams as streams_module
from inferwire.protocols.http2.datarows import data_rows

C_ASSEMBLE = streams_module._c_assemble
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

REQ = ((":method", "POST"), (":path", "/tensorflow.serving.PredictionService/Predict"),
       (":authority", "127.0.0.1:8500"), ("content-type", "application/grpc"), ("te", "trailers"))
RESP = ((":status", "200"), ("content-type", "application/grpc"))
TRAILERS = (("grpc-status", "0"), ("grpc-message", ""))
MSG = (GrpcMessage(False, 3191, 0, 3196),)


def both(client: list, server: list, monkeypatch) -> tuple:
    """(what C's assemble returned or None, the rows and conversation with the C assembly, the
    same by the Python walks), the records given as event objects."""
    if C_ASSEMBLE is None:
        skip_or_fail("inferwire.protocols.http2._streams is not built: nothing to compare")
    cr, sr = event_records(client), event_records(server)
    taken = C_ASSEMBLE(cr, sr, streams_module._C_KINDS)
    monkeypatch.setattr(streams_module, "_c_assemble", C_ASSEMBLE)
    with_c = assemble_rows(cr, sr, data_rows(cr), data_rows(sr))
    monkeypatch.setattr(streams_module, "_c_assemble", None)
    python = assemble_rows(cr, sr)
    python_columns = assemble_rows(cr, sr, data_rows(cr), data_rows(sr))
    assert python == python_columns
    return taken, with_c, python


def unary(sids=(1, 3, 5)) -> tuple[list, list]:
    """A connection of gRPC calls as a TF Serving client and server make them."""
    client = [Preface(0, 24), Settings(24, 45, False, {2: 0, 4: 1 << 30}),
              WindowUpdate(0, 45, 58, 1 << 30)]
    server = [Settings(0, 33, False, {4: 4194304, 5: 4194304}), Settings(33, 42, True, {})]
    at = 58
    for sid in sids:
        client += [Headers(sid, at, at + 100, REQ, False),
                   Data(sid, at + 100, at + 3305, 3196, True, MSG)]
        at += 3305
    at_s = 42
    for sid in sids:
        server += [Headers(sid, at_s, at_s + 20, RESP, False),
                   WindowUpdate(0, at_s + 20, at_s + 33, 3205),
                   Data(sid, at_s + 33, at_s + 137, 95, False,
                        (GrpcMessage(False, 90, at_s + 42, at_s + 137),)),
                   Headers(sid, at_s + 137, at_s + 150, TRAILERS, True)]
        at_s += 150
    return client, server


def test_the_extension_is_built_where_ci_runs():
    if C_ASSEMBLE is None:
        skip_or_fail("inferwire.protocols.http2._streams is not built (no C compiler at install: "
                     "scripts/setup.sh needs gcc and the Python headers)")


def test_usual_grpc_calls_are_assembled_in_c_with_the_python_rows(monkeypatch):
    taken, with_c, python = both(*unary(), monkeypatch)
    assert taken is not None
    assert with_c == python
    conv, rows = with_c
    assert [r[0] for r in rows] == [1, 3, 5] and conv.warnings == []
    assert (conv.preface_end, conv.client_settings_end, conv.server_ack_end) == (24, 45, 42)
    assert rows[0][7:11] == ("POST", "/tensorflow.serving.PredictionService/Predict",
                             "127.0.0.1:8500", 200)
    assert rows[0][21:27] == (3196, 95, 1, 1, 3191, 90) and rows[0][-1] is True


def test_the_header_values_as_the_python_reads_them(monkeypatch):
    """1xx blocks, request trailers, trailers-only and later trailers, a percent-encoded
    grpc-message, an empty content-type falling through to the response's, x-request-id from
    the response, a status padded with spaces, a repeated header (the first counts), empty
    trailers after a response carrying grpc-status, streams opened out of id order and one
    never answered."""
    req = ((":method", "GET"), (":path", "/a"), ("content-type", ""), (":path", "/b"))
    client = [Preface(0, 24), Headers(7, 24, 40, req, False), Headers(9, 40, 41, REQ, True),
              Data(7, 40, 50, 1, False, ()), Headers(7, 50, 60, (("x-trail", "1"),), True),
              Headers(3, 60, 70, REQ, True), Headers(5, 70, 80, REQ, False),
              Data(5, 80, 90, 5, False, (GrpcMessage(False, 0, 80, 85),) * 2),
              Data(5, 90, 99, 0, True, None)]
    server = [Headers(7, 0, 10, ((":status", "100"),), False),
              Headers(7, 10, 20, ((":status", " 103\t"),), False),
              Headers(7, 20, 30, ((":status", " 200 "), ("content-type", "text/plain"),
                                  ("x-request-id", "from-server")), False),
              Data(7, 30, 40, 4, False, ()),
              Headers(7, 40, 50, (("grpc-status", "13"), ("grpc-message", "bad%20input%2")),
                      True),
              Headers(3, 50, 60, ((":status", "200"), ("grpc-status", "5"),
                                  ("grpc-message", "not found")), True),
              Headers(9, 60, 70, ((":status", "200"), ("grpc-status", "7")), False),
              Headers(9, 70, 75, (), True),
              Ping(75, 92, False, b"12345678"), GoAway(92, 109, 5, 0, b"")]
    taken, with_c, python = both(client, server, monkeypatch)
    assert taken is not None and with_c == python
    rows = {r[0]: r for r in with_c[1]}
    assert rows[7][4] == (((":status", "100"),), ((":status", " 103\t"),))
    assert rows[7][6] == (("x-trail", "1"),)
    assert rows[7][8:15] == ("/a", None, 200, "text/plain", "from-server", 13, "bad input%2")
    assert rows[3][13:15] == (5, "not found") and rows[3][20] == 60
    assert rows[5][23] == 2 and rows[5][-1] is False      # never answered
    assert rows[9][5] == () and rows[9][13] == 7   # empty trailers: the response's status
    assert with_c[0].goaway == GoAway(92, 109, 5, 0, b"")


ODD = {
    "a RST_STREAM": ([], [RstStream(1, 400, 413, 8)]),
    "a PUSH_PROMISE": ([], [PushPromise(1, 2, 400, 420, REQ)]),
    "client DATA before its HEADERS": ([Data(9, 20000, 20010, 1, True, ())], []),
    "client HEADERS after END_STREAM": ([Headers(1, 20000, 20010, REQ, True)], []),
    "client DATA after END_STREAM": ([Data(1, 20000, 20010, 1, True, ())], []),
    "server DATA before the response HEADERS": ([], [Data(9, 20000, 20010, 1, True, ())]),
    "server HEADERS after END_STREAM": ([], [Headers(1, 20000, 20010, TRAILERS, True)]),
    "an even stream id": ([Headers(2, 20000, 20010, REQ, True)], []),
    "a :status that is not 3 digits": ([], [Headers(9, 0, 5, ((":status", "2x0"),), True)]),
    "a grpc-status that is not a number": ([], [Headers(9, 0, 5, (("grpc-status", "x"),),
                                                        True)]),
}


@pytest.mark.parametrize("what", sorted(ODD))
def test_anything_odd_is_left_to_the_python_walks(what, monkeypatch):
    client, server = unary()
    extra_client, extra_server = ODD[what]
    if what.endswith("number") or what.endswith("digits"):
        client = client + [Headers(9, 20000, 20010, REQ, True)]
    taken, with_c, python = both(client + extra_client, server + extra_server, monkeypatch)
    assert taken is None
    assert with_c == python


def test_a_framing_error_and_a_truncation_are_the_connections_warnings_in_order(monkeypatch):
    client, server = unary()
    client += [GrpcFramingError(5, 9000, "bad flag 7"), Truncated(9100, 9120, "DATA frame", 7)]
    server += [Truncated(900, 905, "frame header", None)]
    taken, with_c, python = both(client, server, monkeypatch)
    assert taken is not None and with_c == python
    assert [(p.direction, p.offset) for p in with_c[0].warnings] == [
        ("client", 9000), ("client", 9100), ("server", 900)]


_HEADER_BLOCKS = [REQ, RESP, TRAILERS, ((":status", "100"),), ((":status", "2x0"),),
                  (("grpc-status", "zz"),), (("grpc-status", "3"), ("grpc-message", "a%41")),
                  (("content-type", ""), ("x-request-id", "r")), (),
                  ((":status", "200"), ("grpc-status", "7"))]
_SIDS = st.sampled_from([1, 1, 3, 3, 5, 2])


@st.composite
def records(draw) -> list:
    """A direction's events, any kind in any order (offsets rising as the parser's do)."""
    out = []
    for k in range(draw(st.integers(0, 14))):
        at = 10 * k
        kind = draw(st.sampled_from(["headers"] * 4 + ["data"] * 4 + [
            "window", "settings", "preface", "ping", "goaway", "rst", "push", "grpc_error",
            "truncated"]))
        sid = draw(_SIDS)
        if kind == "headers":
            out.append(Headers(sid, at, at + 9, draw(st.sampled_from(_HEADER_BLOCKS)),
                               draw(st.booleans())))
        elif kind == "data":
            messages = draw(st.sampled_from([(), None, MSG, MSG * 3]))
            out.append(Data(sid, at, at + 9, draw(st.integers(0, 5000)), draw(st.booleans()),
                            messages))
        elif kind == "window":
            out.append(WindowUpdate(draw(st.sampled_from([0, sid])), at, at + 9, 100))
        elif kind == "settings":
            out.append(Settings(at, at + 9, draw(st.booleans()), {4: 65535}))
        elif kind == "preface":
            out.append(Preface(at, at + 9))
        elif kind == "ping":
            out.append(Ping(at, at + 9, False, b"x" * 8))
        elif kind == "goaway":
            out.append(GoAway(at, at + 9, sid, draw(st.integers(0, 2)), b""))
        elif kind == "rst":
            out.append(RstStream(sid, at, at + 9, draw(st.integers(0, 8))))
        elif kind == "push":
            out.append(PushPromise(sid, 2, at, at + 9, REQ))
        elif kind == "grpc_error":
            out.append(GrpcFramingError(sid, at, "bad flag"))
        else:
            out.append(Truncated(at, at + 9, "DATA frame", sid))
    return out


@st.composite
def usual(draw) -> tuple[list, list]:
    """Both directions of a plausible connection: per stream (odd ids, interleaved) a request
    (HEADERS, DATA, maybe trailers; maybe not ended) and a response (maybe 1xx, HEADERS, DATA, maybe trailers or a
    trailers-only answer, maybe none), control frames between; sometimes one record of any
    kind put anywhere."""
    n = draw(st.integers(1, 6))
    client, server = [], []
    for sid in range(1, 2 * n, 2):
        req = [("headers", REQ, draw(st.booleans()))]
        req += [("data", draw(st.sampled_from([(), MSG, MSG * 2])), False)
                for _ in range(draw(st.integers(0, 2)))]
        req.append(("headers", (("x-trailer", "t"),), True) if draw(st.booleans())
                   else ("data", (), True))
        if req[0][2]:                   # a request in its HEADERS alone
            req = req[:1]
        elif draw(st.integers(0, 4)) == 0:
            req = req[:-1]              # not ended (answered early, or cut by the capture)
        client += [(sid, r) for r in req]
        answer = draw(st.sampled_from(["full", "1xx", "only", "none", "open"]))
        resp = [("headers", ((":status", "103"),), False)] if answer == "1xx" else []
        if answer == "only":
            resp.append(("headers", ((":status", "200"), ("grpc-status", "14")), True))
        elif answer != "none":
            resp.append(("headers", draw(st.sampled_from([RESP, _HEADER_BLOCKS[-1]])), False))
            resp += [("data", draw(st.sampled_from([(), MSG])), False)
                     for _ in range(draw(st.integers(0, 2)))]
            if answer != "open":
                resp.append(("headers", draw(st.sampled_from([TRAILERS, _HEADER_BLOCKS[6], ()])),
                             True))
        server += [(sid, r) for r in resp]
    order_c = draw(st.permutations(range(len(client))))
    order_s = draw(st.permutations(range(len(server))))
    out = []
    for items, order in ((client, order_c), (server, order_s)):
        # per stream, keep the records' order; streams interleave as the permutation says
        by_sid: dict = {}
        for sid, r in items:
            by_sid.setdefault(sid, []).append(r)
        turn = [items[i][0] for i in order]
        events, at = [Settings(0, 9, False, {})], 9
        for sid in turn:
            kind, payload, ended = by_sid[sid].pop(0)
            if kind == "headers":
                events.append(Headers(sid, at, at + 9, payload, ended))
            else:
                events.append(Data(sid, at, at + 9, 5, ended, payload))
            at += 9
            if draw(st.integers(0, 5)) == 0:
                events.append(WindowUpdate(0, at, at + 13, 100))
                at += 13
        out.append(events)
    extra = draw(records())[:1]
    if extra and draw(st.booleans()):
        side = out[draw(st.integers(0, 1))]
        side.insert(draw(st.integers(0, len(side))), extra[0])
    return out[0], out[1]


@FUZZ
@given(client=records(), server=records())
def test_fuzzed_connections_give_the_same_rows_and_conversation(client, server):
    with pytest.MonkeyPatch.context() as mp:
        taken, with_c, python = both(client, server, mp)
    assert with_c == python


@FUZZ
@given(connection=usual())
def test_fuzzed_plausible_connections_give_the_same_rows_and_conversation(connection):
    with pytest.MonkeyPatch.context() as mp:
        taken, with_c, python = both(*connection, mp)
    assert with_c == python


def test_plausible_connections_are_mostly_taken_by_c():
    """(So that the fuzzing above compares the C rows, not only the Python ones twice; the odd
    record sometimes put in sends some to Python.)"""
    if C_ASSEMBLE is None:
        skip_or_fail("inferwire.protocols.http2._streams is not built: nothing to compare")
    taken = []

    @settings(max_examples=300, deadline=None, database=None)
    @given(connection=usual())
    def count(connection):
        taken.append(C_ASSEMBLE(*map(event_records, connection),
                                streams_module._C_KINDS) is not None)
    count()
    assert 0.4 < sum(taken) / len(taken) < 0.98


def frame(ftype: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) \
        + payload


def test_records_the_parser_makes_of_grpc_bytes(monkeypatch):
    """Both directions of 40 calls encoded by hpack (its dynamic table: repeated blocks), fed
    to the parser in pieces of 1,000 bytes."""
    cenc, senc = hpack.Encoder(), hpack.Encoder()
    client = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0) + frame(4, 1, 0)
    server = frame(4, 0, 0) + frame(4, 1, 0)
    for k in range(40):
        sid = 1 + 2 * k
        body = bytes([0]) + struct.pack(">I", 30 + k) + b"q" * (30 + k)
        client += frame(1, 4, sid, cenc.encode(list(REQ) + [("x-request-id", f"id{k}")]))
        client += frame(0, 1, sid, body)
        server += frame(1, 4, sid, senc.encode(list(RESP)))
        server += frame(0, 0, sid, bytes([0]) + struct.pack(">I", 9) + b"a" * 9)
        server += frame(1, 5, sid, senc.encode([("grpc-status", "0"),
                                                ("x-server-ns", str(1000 + k))]))
    events = []
    for role, data in (("client", client), ("server", server)):
        parser = H2Parser(role)
        got = []
        for a in range(0, len(data), 1000):
            got += parser.feed(data[a:a + 1000], a)
        events.append(got)
    taken, with_c, python = both(*events, monkeypatch)
    assert taken is not None and with_c == python
    rows = with_c[1]
    assert len(rows) == 40 and [r[12] for r in rows] == [f"id{k}" for k in range(40)]
    assert [r[25] for r in rows] == [30 + k for k in range(40)]
