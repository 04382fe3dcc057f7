"""The streamed responses of one direction split all at once (``bodies_columns``) against the
per-message reading of each body (``http1_body_messages(columns=False)``): the same messages.

Random keep-alive directions of many responses: chunked and Content-Length event streams,
chunked bodies that are not events, bodies with CR LF line ends or a leading blank line (which
leave the joined fast path), a cut last body, segments of random size and time and, now and
then, a segment never captured (a body not all captured gives None both ways)."""
import random

import numpy as np
import pytest

from inferwire.exchanges import message_columns
from inferwire.exchanges.message_columns import bodies_columns
from inferwire.exchanges.messages import http1_body_messages, streamed_body
from inferwire.exchanges.timeline import TcpTimeline
from inferwire.protocols import http1
from inferwire.protocols.sse import data_line_columns
from inferwire.tcp.stream import DirectionStream

from needs import skip_or_fail

#: One-line data events only (the joined fast path's case), and every kind.
PLAIN = [b"data: {\"t\": \"a\"}\n\n", b"data: [DONE]\n\n", b"data: b\n\n", b"data:[DONE]\n\n"]
EVENTS = PLAIN + [b": ka\n\n", b"data: x\ndata: y\n\n"]
ODD = [b"data: crlf\r\n\r\n", b"\ndata: lead\n\n", b"data: tail\n"]


def _body(rng, palette) -> tuple[bytes, bytes]:
    """A response (head, body): chunked or not, an event stream or not."""
    sse = rng.random() < 0.8
    events = [rng.choice(palette) for _ in range(rng.randint(0, 8))]
    if rng.random() < 0.1:
        events.insert(rng.randint(0, len(events)), rng.choice(ODD))
    payload = b"".join(events)
    chunked = not sse or rng.random() < 0.7
    if chunked:
        pieces, at = [], 0
        while at < len(payload):
            n = rng.randint(1, 25)
            pieces.append(payload[at:at + n])
            at += n
        body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    else:
        body = payload
    head = (b"HTTP/1.1 200 OK\r\n" + (b"Content-Type: text/event-stream\r\n" if sse else b"")
            + (b"Transfer-Encoding: chunked\r\n" if chunked else
               b"Content-Length: %d\r\n" % len(body)) + b"\r\n")
    return head, body


def _direction(rng):
    """A direction of several responses (the last maybe cut), its segments at random times,
    one maybe never captured; the parsed messages and the timeline."""
    data, palette = b"", rng.choice([PLAIN, EVENTS])
    for _ in range(rng.randint(1, 12)):
        head, body = _body(rng, palette)
        data += head + body
    if rng.random() < 0.2:
        data = data[:rng.randint(1, len(data))]
    stream, off, k = DirectionStream(buffer=data), 0, 0
    lost = rng.randint(0, len(data)) if rng.random() < 0.2 else -1
    while off < len(data):
        n = min(rng.randint(1, 60), len(data) - off)
        if not off <= lost < off + n:
            stream.add(off, n, n, 1000 + 7 * k + rng.randint(0, 3), k + 1, off)
        off, k = off + n, k + 1
    parser = http1.Http1Parser("server")
    try:
        msgs = parser.feed(data, 0) + parser.close(len(data))
    except Exception:                       # a cut head: nothing to compare
        msgs = []
    return msgs, TcpTimeline(stream)


@pytest.mark.parametrize("split", ["C", "numpy"])
@pytest.mark.parametrize("batch_bytes", [message_columns.BATCH_BYTES, 300], ids=["one read",
                                                                                "many reads"])
def test_many_bodies_at_once_equal_each_body_read_alone(monkeypatch, batch_bytes, split):
    monkeypatch.setattr(message_columns, "BATCH_BYTES", batch_bytes)
    joined = []                             # events found in one pass over several bodies
    if split == "numpy":                    # the SSE bodies decoded and split by numpy
        monkeypatch.setattr(message_columns, "_c_sse_split", None)

        def counted(body):
            found = data_line_columns(body)
            joined.append(0 if found is None else len(found.start))
            return found
        monkeypatch.setattr(message_columns, "data_line_columns", counted)
    else:                                   # the usual ones split in C where they lie
        c_split = message_columns._c_sse_split
        if c_split is None:
            skip_or_fail("the _sse C extension is not built here (scripts/setup.sh builds it)")

        def counted(bodies, pieces, counts):
            out = c_split(bodies, pieces, counts)
            joined.append(sum(n for n, fast in zip(np.frombuffer(out[1], np.int64).tolist(),
                                                   out[0]) if fast))
            return out
        monkeypatch.setattr(message_columns, "_c_sse_split", counted)
    rng, compared, missing = random.Random(31), 0, 0
    for trial in range(800):
        msgs, timeline = _direction(rng)
        specs = [(m, streamed_body(m)) for m in msgs]
        specs = [(m, s) for m, s in specs if s is not None]
        if not specs:
            continue
        got = bodies_columns(timeline.stream, "response", [s for _, s in specs])
        assert len(got) == len(specs)
        for (m, spec), batch in zip(specs, got):
            want = http1_body_messages(m, timeline, "response", columns=False)
            if want is None:
                assert batch is None, trial
                missing += 1
                continue
            assert list(batch) == want, (trial, m)
            compared += len(want)
    assert compared > 3000 and missing > 10
    assert sum(n > 0 for n in joined) > 150 and sum(joined) > 2000
