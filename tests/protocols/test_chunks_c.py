"""The fast readings of streamed bodies against the readable ones (issue 20's speed work):
the C chunk walk (``_chunks.c``) against :func:`~inferwire.protocols.chunked.chunk_spans` and the
HTTP/1 parser's Python chunk states, numpy's SSE split against :func:`sse_events`, and the
columnar messages (:mod:`inferwire.exchanges.message_columns`) against the per-message lists of
:mod:`inferwire.exchanges.messages`, on fuzzed bodies."""
from __future__ import annotations

import os
import random

import numpy as np
import pytest

from craft import fuzzed_chunked
from inferwire.errors import ProtocolError
from inferwire.protocols import chunked, http1, sse

needs_c = pytest.mark.skipif(chunked._c_walk is None and not os.environ.get("CI"),
                             reason="the _chunks C extension is not built here")


def fuzzed_body(rng: random.Random) -> bytes:
    """A chunked body of random bytes in random chunks (:func:`craft.fuzzed_chunked`: framing,
    the last chunk and trailers or none, cut anywhere or broken at one byte)."""
    return fuzzed_chunked(rng, bytes(rng.randrange(256) for _ in range(rng.randint(0, 320))),
                          sizes=(1, 5, 12, 25, 40))


@needs_c
def test_c_chunk_walk_gives_the_python_chunks():
    assert chunked._c_walk is not None and http1._c_chunks is not None, \
        "build the _chunks extension (scripts/setup.sh)"
    rng = random.Random(20)
    for _ in range(3000):
        body = fuzzed_body(rng)
        base = rng.randint(0, 1000)
        fast = chunked.chunk_columns(body, base, decode=True)
        slow = chunked.chunk_columns(body, base, decode=True, use_c=False)
        for a, b in zip(fast, slow):
            if isinstance(a, np.ndarray):
                assert a.tolist() == b.tolist(), body
            else:
                assert a == b, body


def _parse(body: bytes, splits: list, use_c: bool, monkeypatch) -> tuple:
    """Messages and error of the server parser fed a chunked response in pieces."""
    monkeypatch.setattr(http1, "_c_chunks", http1._c_chunks if use_c else None)
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    data = head + body
    parser, out, at, error = http1.Http1Parser("server"), [], 0, None
    try:
        for cut in sorted(splits) + [len(data)]:
            if cut > at:
                out += parser.feed(data[at:cut], at)
                at = cut
        out += parser.close(len(data))
    except ProtocolError as exc:
        error = (str(exc), exc.offset)
    return [(m.start, m.end, m.body_bytes, m.complete) for m in out], error


@needs_c
def test_parser_reads_chunked_bodies_alike_with_and_without_c(monkeypatch):
    rng = random.Random(21)
    for _ in range(1500):
        body = fuzzed_body(rng)
        n = len(body) + 46
        splits = [rng.randint(1, n) for _ in range(rng.randint(0, 4))]
        assert _parse(body, splits, True, monkeypatch) == \
            _parse(body, splits, False, monkeypatch), (body, splits)


def test_sse_columns_give_the_events():
    rng = random.Random(22)
    plain = [b"data: {\"t\": 1}\n\n", b"data: [DONE]\n\n", b"data:[DONE]\n\n", b"data: x\n\n",
             b"data: [DONE] \n\n", b"data:  [DONE]\n\n", b"data: [DONE]x\n\n", b"data:z\n\n"]
    other = [b": ping\n\n", b"data: a\ndata: b\n\n", b"\n", b"event: e\n\n", b"data\n\n",
             b"data: c\r\n\r\n", b"id: 1\ndata: y\n\n"]
    fast = 0
    for k in range(4000):
        pool = plain if k % 2 else plain + other
        body = b"".join(rng.choice(pool) for _ in range(rng.randint(0, 12)))
        body += rng.choice([b"", b"data: cut", b"data: x\n", b"data", b"da"])
        fast += sse.data_line_columns(body) is not None
        cols = sse.sse_event_columns(body)
        got = [(int(a), int(b), sse.KINDS[c], bool(d)) for a, b, c, d in zip(*cols)]
        assert got == [tuple(e) for e in sse.sse_events(body)], body
    assert fast > 800                       # the numpy path was the one tested, often


def test_columnar_messages_equal_the_per_message_reading(tmp_path):
    """HTTP/1.1 bodies (chunked and SSE, events across chunks and segments, cut ends) timed
    both ways on a real TCP direction: the same messages."""
    from inferwire.exchanges.messages import http1_body_messages
    from inferwire.exchanges.timeline import TcpTimeline
    from inferwire.tcp.stream import DirectionStream
    rng, compared = random.Random(23), 0
    events = [b"data: {\"t\": \"a\"}\n\n", b"data: [DONE]\n\n", b": ka\n\n", b"data: b\n\n"]
    for trial in range(400):
        sse_body = rng.random() < 0.7
        payload = b"".join(rng.choice(events) for _ in range(rng.randint(1, 10)))
        pieces, at = [], 0
        while at < len(payload):
            n = rng.randint(1, 30)
            pieces.append(payload[at:at + n])
            at += n
        chunked_body = rng.random() < 0.8
        body = (b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
                if chunked_body else payload)
        if rng.random() < 0.2:
            body = body[:rng.randint(1, len(body))]
        head = (b"HTTP/1.1 200 OK\r\n" + (b"Content-Type: text/event-stream\r\n" if sse_body
                                          else b"") +
                (b"Transfer-Encoding: chunked\r\n" if chunked_body else
                 b"Content-Length: %d\r\n" % len(body)) + b"\r\n")
        data = head + body
        stream, off, k = DirectionStream(buffer=data), 0, 0
        while off < len(data):             # segments of random size and time
            n = rng.randint(1, 50)
            stream.add(off, min(n, len(data) - off), min(n, len(data) - off), 1000 + 7 * k,
                       k + 1, off)
            off, k = off + n, k + 1
        parser = http1.Http1Parser("server")
        msgs = parser.feed(data, 0) + parser.close(len(data))
        timeline = TcpTimeline(stream)
        for m in msgs:
            fast = http1_body_messages(m, timeline, "response")
            slow = http1_body_messages(m, timeline, "response", columns=False)
            if slow is None or not chunked_body and not sse_body:
                assert fast is None and slow is None or fast is slow
                continue
            assert list(fast) == slow, (trial, data)
            compared += len(slow)
    assert compared > 1000

class _Delegate:
    """A timeline that is not a TcpTimeline (so the per-message path runs) with its rule."""

    def __init__(self, timeline):
        self._t = timeline

    def __getattr__(self, name):
        return getattr(self._t, name)


def test_columnar_grpc_and_h2_sse_equal_the_per_message_reading():
    """gRPC message spans and HTTP/2 SSE payloads on a random TCP direction, timed both ways."""
    from inferwire.exchanges.messages import _grpc_timed, _h2_sse
    from inferwire.exchanges.timeline import TcpTimeline
    from inferwire.tcp.stream import DirectionStream
    rng, compared = random.Random(24), 0
    for trial in range(300):
        size = rng.randint(50, 3000)
        data = bytes(rng.choice(b"data: x\n") for _ in range(size))
        data = data.replace(b"\n\n\n", b"\n\n")
        stream, off, k = DirectionStream(buffer=data), 0, 0
        while off < len(data):
            n = rng.randint(1, 80)
            if rng.random() < 0.05:
                off += n                     # a hole: bytes never captured
                continue
            stream.add(off, min(n, len(data) - off), min(n, len(data) - off), 5000 + 3 * k,
                       k + 1, off)
            off, k = off + n, k + 1
        fast, slow = TcpTimeline(stream), _Delegate(TcpTimeline(stream))
        spans, at = [], 0
        while at < len(data) - 10:
            n = rng.randint(5, 60)
            spans.append((False, max(n - 5, 0), at, min(at + n, len(data))))
            at += n + rng.choice([0, 0, 9])
        a, b = _grpc_timed(spans, "request", fast), _grpc_timed(spans, "response", slow)
        assert [m[1:] for m in a] == [m[1:] for m in b] and len(b) == len(spans)
        flat = []
        for s, _, start, end in spans:
            flat += [start, end - start]
        a, b = _h2_sse(flat, fast), _h2_sse(flat, slow)
        assert list(a) == b, trial
        compared += len(b) + len(spans)
    assert compared > 3000
