"""The streamed HTTP/2 messages (``attach_h2_messages``: DATA frames read as columns, grouped by
stream with one sort, every whole gRPC message timed in one look-up) against the reading of the
records one by one that it replaced (kept here as the reference): the same messages, of the
same type, for every streamed stream.  Interleaved gRPC calls of every frame shape the parser
meets (several messages in a frame, a message across frames, padded DATA, an empty DATA, a
message cut by the trailers, a reset stream), on a TCP direction of random pieces with holes
and on a timeline that is not one."""
from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from tests.protocols.http2.test_frames_c import calls

from inferwire.exchanges.messages import (_grpc_cut, _grpc_timed, _h2_sse, attach_h2_messages,
                                          streamed_h2)
from inferwire.exchanges.timeline import TcpTimeline
from inferwire.protocols.http2 import Data, H2Parser, assemble_rows
from inferwire.protocols.http2.events import event_objects
from inferwire.tcp.stream import DirectionStream


def reference(rows, client_records, server_records, up, down) -> dict:
    """stream id -> messages, by the former per-record walk."""
    kinds = streamed_h2(rows)
    found = {sid: [] for sid in kinds}
    for direction, records, timeline in (("request", client_records, up),
                                         ("response", server_records, down)):
        payloads = {sid: [] for sid, k in kinds.items() if k == "grpc" or direction == "response"}
        spans = {sid: [] for sid, k in kinds.items() if k == "grpc"}
        for record in records:
            if record[0] is not Data or record[1] not in kinds:
                continue
            _, sid, start, end, data_len, _, _ = record
            grpc_messages = event_objects([record])[0].grpc_messages
            if grpc_messages and sid in spans:
                spans[sid] += grpc_messages
            if data_len and sid in payloads:
                payloads[sid] += [start + 9 + (end - start - 9 != data_len), data_len]
        for sid, flat in payloads.items():
            if kinds[sid] == "sse":
                found[sid] = _h2_sse(flat, timeline)
            else:
                whole = sum(5 + m[1] for m in spans[sid])
                found[sid] = found[sid] + _grpc_timed(spans[sid], direction, timeline) + \
                    _grpc_cut(flat, whole, direction, timeline)
    return found


class _NotTcp:
    """A timeline that is not a TcpTimeline (the per-message path), reading through one."""

    def __init__(self, timeline):
        self._t = timeline

    def __getattr__(self, name):
        return getattr(self._t, name)


def timeline_of(data: bytes, rng) -> TcpTimeline:
    stream, off, k = DirectionStream(buffer=data), 0, 0
    while off < len(data):
        n = rng.randint(1, 90)
        if rng.random() < 0.03:
            off += n                     # a hole: bytes never captured
            continue
        n = min(n, len(data) - off)
        stream.add(off, n, n, 1000 + 7 * k, k + 1, off)
        off, k = off + n, k + 1
    return TcpTimeline(stream)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("tcp", [True, False])
def test_the_same_messages_as_the_per_record_walk(seed, tcp):
    client, server = calls(n_streams=80, seed=seed)
    client_records = H2Parser("client", records=True).feed(client, 0)
    server_records = H2Parser("server", records=True).feed(server, 0)
    _, rows = assemble_rows(client_records, server_records)
    rng = random.Random(seed)
    up, down = timeline_of(client, rng), timeline_of(server, rng)
    if not tcp:
        up, down = _NotTcp(up), _NotTcp(down)
    want = reference(rows, client_records, server_records, up, down)
    exchanges = [SimpleNamespace(messages=None) for _ in rows]
    attach_h2_messages(rows, exchanges, client_records, server_records, up, down)
    got = {row[0]: ex.messages for row, ex in zip(rows, exchanges) if ex.messages is not None}
    assert set(got) == set(want) and len(want) >= 5
    for sid, messages in want.items():
        assert type(got[sid]) is type(messages), sid
        assert list(got[sid]) == list(messages), sid
    assert sum(len(m) for m in want.values()) > 20
    assert any(not m.complete for ms in want.values() for m in ms)       # a cut message


@pytest.mark.parametrize("cut", [1, 4, 5, 9])
def test_a_message_cut_after_a_few_bytes(cut):
    import hpack
    from tests.protocols.http2.test_frames_c import (DATA, END_HEADERS, END_STREAM, HEADERS,
                                                     PREFACE, SETTINGS, frame, grpc_msg)
    cenc, senc = hpack.Encoder(), hpack.Encoder()
    client = PREFACE + frame(SETTINGS, 0, 0) + frame(HEADERS, END_HEADERS, 1, cenc.encode([
        (":method", "POST"), (":path", "/p.S/M"), ("content-type", "application/grpc")]))
    client += frame(DATA, END_STREAM, 1, grpc_msg(b"ab") + grpc_msg(b"cde"))
    server = frame(SETTINGS, 0, 0) + frame(HEADERS, END_HEADERS, 1, senc.encode([
        (":status", "200"), ("content-type", "application/grpc")]))
    server += frame(DATA, 0, 1, grpc_msg(b"x" * 3)) + frame(DATA, 0, 1, grpc_msg(b"y" * 6)[:cut])
    client_records = H2Parser("client", records=True).feed(client, 0)
    server_records = H2Parser("server", records=True).feed(server, 0)
    _, rows = assemble_rows(client_records, server_records)
    rng = random.Random(cut)
    up, down = timeline_of(client, rng), timeline_of(server, rng)
    exchanges = [SimpleNamespace(messages=None) for _ in rows]
    attach_h2_messages(rows, exchanges, client_records, server_records, up, down)
    got = list(exchanges[0].messages)
    assert got == list(reference(rows, client_records, server_records, up, down)[1])
    assert [(m.direction, m.nbytes, m.complete) for m in got] == [
        ("request", 2, True), ("request", 3, True), ("response", 3, True),
        ("response", max(cut - 5, 0), False)]
