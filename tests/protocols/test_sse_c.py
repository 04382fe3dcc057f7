"""The C split of the usual SSE bodies (``_sse.c``, issue 20's speed work) against the numpy one
(:func:`~inferwire.protocols.sse.data_line_columns` and the offset mapping of
:func:`~inferwire.exchanges.message_columns._sse_spans`), on fuzzed event streams lying in
fuzzed pieces (a chunked body's chunk data: pieces apart in the stream, some empty)."""
from __future__ import annotations

import os
import random

import numpy as np
import pytest

from craft import fuzzed_chunked

from inferwire.exchanges import message_columns
from inferwire.protocols import sse

needs_c = pytest.mark.skipif(message_columns._c_sse_split is None and not os.environ.get("CI"),
                             reason="the _sse C extension is not built here (scripts/setup.sh)")

PLAIN = [b"data: {\"t\": 1}\n\n", b"data: [DONE]\n\n", b"data:[DONE]\n\n", b"data: x\n\n",
         b"data: [DONE] \n\n", b"data:  [DONE]\n\n", b"data: [DONE]x\n\n", b"data:z\n\n",
         b"data:\n\n", b"data: [DONE]\n\n"]
OTHER = [b": ping\n\n", b"data: a\ndata: b\n\n", b"\n", b"event: e\n\n", b"data\n\n",
         b"data: c\r\n\r\n", b"id: 1\ndata: y\n\n", b"\n\n", b"dat\n\n", b"x\n\n\n",
         b"data: a\rb\n\n", b"data: x\n\n\n"]
ENDS = [b"", b"", b"data: cut", b"data: x\n", b"data", b"da", b"data: [DONE]", b"\n", b"\r",
        b"data: \r"]


def _stream(rng: random.Random) -> bytes:
    pool = PLAIN if rng.random() < 0.6 else PLAIN + OTHER
    return b"".join(rng.choice(pool) for _ in range(rng.randint(0, 12))) + rng.choice(ENDS)


def _pieces(rng: random.Random, text: bytes) -> tuple[bytes, int, np.ndarray, np.ndarray]:
    """``text`` laid in a body of pieces with framing bytes between them (some pieces empty):
    (body, its stream offset, the pieces' stream offsets, their sizes)."""
    base = rng.randint(0, 10_000)
    body, offsets, sizes, at = bytearray(), [], [], 0
    while at < len(text) or not offsets:
        body += bytes(rng.randint(0, 6))               # framing: never read
        n = rng.choice([0, 1, 2, 3, 7, 16, 40, 200])
        offsets.append(base + len(body))
        sizes.append(min(n, len(text) - at))
        body += text[at:at + n]
        at += n
    for _ in range(rng.choice([0, 0, 0, 1, 2])):      # a cut chunk's empty data, at the end
        offsets.append(base + len(body))
        sizes.append(0)
        body += bytes(rng.randint(0, 3))
    body += bytes(rng.randint(0, 4))
    return bytes(body), base, np.array(offsets, np.int64), np.array(sizes, np.int64)


def _same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(
        all(np.asarray(x).tolist() == np.asarray(y).tolist() for x, y in zip(s, t))
        for s, t in zip(a, b))


@needs_c
def test_c_split_gives_the_numpy_events_at_the_same_stream_offsets():
    assert message_columns._c_sse_split is not None, "build the _sse extension (setup.sh)"
    rng, usual, events = random.Random(40), 0, 0
    for _ in range(600):
        texts = [_stream(rng) for _ in range(rng.randint(1, 6))]
        laid = [_pieces(rng, t) for t in texts]
        bodies, bases, offsets, sizes = (list(x) for x in zip(*laid))
        got = message_columns._split_spans(bodies, bases, offsets, sizes)
        want = [message_columns._sse_spans([t], [o], [s])[0]
                for t, o, s in zip(texts, offsets, sizes)]
        assert _same(got, want), texts
        fast, per, *_ = message_columns._c_sse_split(
            bodies, np.stack([np.concatenate(offsets) - np.repeat(bases, [len(o) for o in
                                                                           offsets]),
                              np.concatenate(sizes), np.concatenate(offsets)], 1),
            np.array([len(o) for o in offsets], np.int64))
        for text, f, n in zip(texts, fast, np.frombuffer(per, np.int64).tolist()):
            # C splits exactly the bodies numpy splits fast; the others have no events here
            assert bool(f) == (sse.data_line_columns(text) is not None), text
            assert f or n == 0, text
            usual += f
        events += sum(len(w[0]) for w in want)
    assert usual > 450 and events > 9000


@needs_c
def test_c_split_names_pieces_that_do_not_fit():
    split = message_columns._c_sse_split
    with pytest.raises(ValueError, match="one piece count per body"):
        split([b"data: x\n\n"], np.zeros((1, 3), np.int64), np.array([1, 1], np.int64))
    with pytest.raises(ValueError, match="body 0's pieces run past"):
        split([b"data: x\n\n"], np.zeros((1, 3), np.int64), np.array([2], np.int64))
    # a piece outside its body is not the usual stream: left to Python, which reads it
    fast, per, *_ = split([b"data: x\n\n"], np.array([[4, 20, 0]], np.int64),
                          np.array([1], np.int64))
    assert fast == b"\x00" and np.frombuffer(per, np.int64).tolist() == [0]
    fast, per, start, end, nbytes, kind, complete = split(
        [b"..data: [DONE]\n\n"], np.array([[2, 14, 100]], np.int64), np.array([1], np.int64))
    assert fast == b"\x01" and np.frombuffer(start, np.int64).tolist() == [100]
    assert np.frombuffer(end, np.int64).tolist() == [114] and kind == b"\x01"
    assert split([], np.zeros((0, 3), np.int64), np.zeros(0, np.int64))[0] == b""
    chunked = message_columns._c_sse_chunked
    with pytest.raises(ValueError, match="one base offset per body"):
        chunked([b"0\r\n\r\n"], np.zeros(2, np.int64), 1024)
    fast, per, start, end, *_ = chunked([b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n", b"zz"],
                                        np.array([1000, 0], np.int64), 1024)
    assert fast == b"\x01\x00" and np.frombuffer(start, np.int64).tolist() == [1003]
    assert np.frombuffer(end, np.int64).tolist() == [1017]


@needs_c
def test_c_chunked_split_gives_the_chunk_walk_and_numpy_events():
    """split_chunked (the chunks walked in C, then split) against chunk_columns' decoded data
    split by numpy, per body: the same events at the same stream offsets, and split in C only
    bodies whose chunks are plain and whose data is the usual stream."""
    from inferwire.protocols.chunked import MAX_LINE, chunk_columns
    rng, usual, events = random.Random(41), 0, 0
    for _ in range(500):
        bodies = [fuzzed_chunked(rng, _stream(rng)) for _ in range(rng.randint(1, 5))]
        bases = [rng.randint(0, 10**6) for _ in bodies]
        got = message_columns._chunked_spans(bodies, bases)
        want, decoded = [], []
        for body, base in zip(bodies, bases):
            ch = chunk_columns(body, base, decode=True)
            decoded.append(ch.decoded)
            want += message_columns._sse_spans([ch.decoded], [ch.data_starts],
                                               [ch.data_ends - ch.data_starts])
        assert _same(got, want), bodies
        fast = message_columns._c_sse_chunked(bodies, np.array(bases, np.int64), MAX_LINE)[0]
        for text, f in zip(decoded, fast):
            assert not f or sse.data_line_columns(text) is not None, text
            usual += f
        events += sum(len(w[0]) for w in want)
    assert usual > 200 and events > 5000
