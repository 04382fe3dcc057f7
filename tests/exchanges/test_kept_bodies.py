"""Streamed bodies kept as the response parser reads them (``exchanges.kept.KeptBodies``)
against bodies read again from the capture: the same exchanges and messages, whatever the
window, the budget and the size of the runs fed (views of the capture, which are never kept,
included), on random keep-alive directions of streamed responses (chunked and Content-Length
event streams, odd line ends, a cut last response, a segment never captured)."""
import random

import pytest

from inferwire.exchanges import http1 as http1_exchanges_module
from inferwire.exchanges import kept as kept_module
from inferwire.exchanges.http1 import http1_exchanges
from inferwire.exchanges.timeline import TcpTimeline
from inferwire.tcp import stream as stream_module
from inferwire.tcp.stream import DirectionStream

from tests.exchanges.test_bodies_batch import _body, EVENTS, PLAIN


def _conversation(rng):
    """Both directions of a keep-alive connection of streamed answers: (up, down) timelines."""
    requests, responses = b"", b""
    palette = rng.choice([PLAIN, EVENTS])
    for k in range(rng.randint(1, 10)):
        requests += b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
        head, body = _body(rng, palette)
        responses += head + body
    if rng.random() < 0.2:
        responses = responses[:rng.randint(1, len(responses))]
    return _timeline(requests, rng, False), _timeline(responses, rng, rng.random() < 0.15)


def _timeline(data: bytes, rng, lose: bool) -> TcpTimeline:
    stream, off, k = DirectionStream(buffer=data), 0, 0
    lost = rng.randint(0, len(data)) if lose else -1
    while off < len(data):
        n = min(rng.choice([rng.randint(1, 60), rng.randint(100, 400)]), len(data) - off)
        if not off <= lost < off + n:
            stream.add(off, n, n, 1000 + 7 * k + rng.randint(0, 3), k + 1, off)
        off, k = off + n, k + 1
    return TcpTimeline(stream)


def _messages(up, down) -> list:
    warnings = []
    out = http1_exchanges(up, down, warnings, up_fin=True, down_fin=True)
    return [(e.status, e.response_bytes, e.resp_end_ns,
             None if e.messages is None else list(e.messages)) for e in out], warnings


@pytest.mark.parametrize("window, budget, feed, view_min", [
    (4 << 20, 32 << 20, 1 << 20, 64 << 10),      # as analyzed: every whole body kept
    (100, 32 << 20, 128, 64 << 10),              # a small window: long bodies read again
    (4 << 20, 500, 1 << 20, 64 << 10),           # a small budget: later bodies read again
    (4 << 20, 32 << 20, 256, 200),               # big pieces fed as views: never kept
])
def test_kept_bodies_give_the_same_messages(monkeypatch, window, budget, feed, view_min):
    monkeypatch.setattr(stream_module, "FEED_CHUNK", feed)
    monkeypatch.setattr(stream_module, "VIEW_MIN", view_min)
    monkeypatch.setattr(stream_module, "RUNS_WALK_MAX", 0)
    popped = []

    class Counted(kept_module.KeptBodies):
        def __init__(self, parser):
            super().__init__(parser, window, budget)

        def pop(self, start):
            body = super().pop(start)
            popped.append(body is not None)
            return body
    rng, compared = random.Random(7), 0
    for trial in range(300):
        up, down = _conversation(rng)
        monkeypatch.setattr(http1_exchanges_module, "KeptBodies", Counted)
        got = _messages(up, down)
        monkeypatch.setattr(http1_exchanges_module, "KeptBodies", _ReadAgain)
        want = _messages(up, down)
        assert got == want, trial
        compared += sum(len(m[3] or ()) for m in want[0])
    assert compared > 1000
    share = sum(popped) / len(popped)       # of the bodies asked for, those kept
    assert share > (0.9 if (window, budget, view_min) == (4 << 20, 32 << 20, 64 << 10) else 0.1)
    assert share < 0.9 or window > 1000 and budget > 1000 and view_min > 1000


class _ReadAgain(kept_module.KeptBodies):
    """Keeps nothing: every body read from the capture, as before bodies were kept."""

    def pop(self, start):
        return None
