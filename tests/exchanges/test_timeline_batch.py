"""The vectorised look-ups of :class:`~inferwire.exchanges.timeline.TcpTimeline`
(``first_packets``/``last_packets``, used by the HTTP/2 exchanges of a TCP connection) give
what the one-offset look-ups give, on streams with gaps, retransmitted and reordered segments
(delivery times), untimed packets and offsets that are None, negative or beyond the end; the
in-place head access (``piece_bytes``, ``gap_free_end``) used by the plain HTTP/1 walk; and the
HTTP/2 exchanges made through them equal the per-stream ones on real gRPC captures."""
from __future__ import annotations

import warnings
from array import array
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import inferwire.exchanges.http2 as ex_http2
from inferwire import analyze
from inferwire.exchanges.timeline import TcpTimeline
from inferwire.protocols.http2 import H2Stream
from inferwire.tcp.stream import DirectionStream

CAPTURES = Path(__file__).resolve().parents[2] / "captures"
BUF = bytes(range(256)) * 8

segment = st.tuples(st.integers(0, 300), st.integers(1, 60), st.integers(-1, 10_000))


@settings(max_examples=200, deadline=None)
@given(st.lists(segment, max_size=12), st.booleans(),
       st.lists(st.one_of(st.none(), st.integers(-5, 400)), max_size=20))
def test_vectorised_look_ups_equal_the_one_offset_ones(segments, delivered, offsets):
    s = DirectionStream(BUF)
    for frame, (start, n, t) in enumerate(segments):
        s.add(start, n, n, t, frame + 1, (start * 3) % 1500)
    if delivered and len(s.starts):          # delivery times and frames unlike the pieces'
        s.done = array("q", [t + 7 if t >= 0 else -1 for t in s.times])
        s.done_frames = array("q", [f + 100 for f in s.frames])
        s.begun = array("q", [t - 3 if t >= 3 else -1 for t in s.times])
    tl = TcpTimeline(s)
    firsts = [tl.first_packet(o) for o in offsets]
    lasts = [tl.last_packet(o) for o in offsets]
    assert tl.first_packets(offsets) == ([f[0] for f in firsts], [f[1] for f in firsts])
    assert tl.last_packets(offsets) == ([f[0] for f in lasts], [f[1] for f in lasts])


@settings(max_examples=300, deadline=None)
@given(st.lists(segment, max_size=12),
       st.lists(st.tuples(st.one_of(st.none(), st.integers(-5, 400)),
                          st.one_of(st.none(), st.integers(-5, 400))), max_size=20))
def test_message_starts_with_their_ends_equal_the_one_offset_ones(segments, spans):
    """With each message's end (None: unknown), the vectorised start look-up gives what the
    one-offset one gives, on streams whose ``begun`` is the real suffix minimum of the times
    (a later piece captured earlier), and a start never precedes the earliest time of the
    message's own pieces; an unknown end counts every later piece."""
    s = DirectionStream(BUF)
    for frame, (start, n, t) in enumerate(segments):
        s.add(start, n, n, t, frame + 1, (start * 3) % 1500)
    times = list(s.times)
    if times:
        big = 1 << 62
        seen = [t if t >= 0 else big for t in times]
        suffix = [min(seen[k:]) for k in range(len(seen))]
        s.begun = array("q", [suffix[k] if times[k] >= 0 else times[k]
                              for k in range(len(times))])
    tl = TcpTimeline(s)
    starts, ends = [a for a, _ in spans], [b for _, b in spans]
    ones = [tl.first_packet(a, b) for a, b in spans]
    assert tl.first_packets(starts, ends) == ([o[0] for o in ones], [o[1] for o in ones])
    for (a, b), (t, _) in zip(spans, ones):
        if t is None:
            continue
        i = s.piece_at(a)
        j = len(times) - 1 if b is None else max(s.last_piece_before(b), i)
        own = [x for x in times[i:j + 1] if x >= 0]
        assert t == min(own), (a, b, t, own)


def test_piece_bytes_and_gap_free_end():
    s = DirectionStream(BUF)
    s.add(0, 10, 10, 5, 1, 100)
    s.add(10, 20, 20, 6, 2, 400)
    tl = TcpTimeline(s)
    assert tl.gap_free_end() == 30
    assert tl.piece_bytes(0) == (BUF, 100, 110)
    assert tl.piece_bytes(15) == (BUF, 405, 420)
    assert tl.piece_bytes(30) is None
    s.add(40, 5, 5, 7, 3, 600)                  # a gap: 30..40 never captured
    assert tl.gap_free_end() is None
    cut = DirectionStream(BUF)
    cut.add(0, 10, 8, 5, 1, 100)                # a packet cut by the snaplen
    assert TcpTimeline(cut).gap_free_end() is None


def _per_stream(rows, up, down):
    return [ex_http2._exchange(H2Stream(*row), up, down) for row in rows]


@pytest.mark.parametrize("capture", ["run-b1/capture.pcapng", "run-b4/capture.pcapng"])
def test_h2_exchanges_equal_the_per_stream_ones(capture, monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = analyze(CAPTURES / capture, workers=1)
        monkeypatch.setattr(ex_http2, "_tcp_exchanges", _per_stream)
        general = analyze(CAPTURES / capture, workers=1)
    assert (fast.requests.protocol == "grpc").sum() > 0
    pd.testing.assert_frame_equal(fast.requests, general.requests)
    pd.testing.assert_frame_equal(fast.connections, general.connections)
    assert fast.warnings == general.warnings
