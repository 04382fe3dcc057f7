"""The plain-connection walk of HTTP/1 (``exchanges.http1.plain_exchanges``) gives exactly the
tables of the general parser path (requests, connections, the streamed messages, warnings): on
the sample captures, and on generated conversations that mix plain messages and plainly chunked
responses (event streams among them, read from the direction's bytes) with every kind it must
leave to the parsers (chunked requests, chunk extensions and trailers, other transfer codings,
1xx, HEAD, 204/304, close-delimited, Upgrade, event-stream requests, heads split across
packets, gaps, extra responses, cut captures)."""
from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import inferwire.analysis.schedule as schedule
import inferwire.exchanges.http1 as ex_http1
from craft import Conversation, write_pcap
from inferwire import analyze
from inferwire.exchanges.plainbatch import PlainBatch

CAPTURES = Path(__file__).resolve().parents[2] / "captures"


def both_ways(path, monkeypatch, **options):
    """(tables with the plain walk, tables without it, how many connections it took).  The
    bucket-wide read of one-request connections (tests/test_plainbatch.py) is off, so that
    this walk reads them."""
    taken = []
    monkeypatch.setattr(schedule, "one_request_batch", lambda *args: PlainBatch.empty())
    plain = ex_http1.plain_exchanges

    def counting(up, down):
        out = plain(up, down)
        taken.append(out is not None)
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        monkeypatch.setattr(ex_http1, "plain_exchanges", counting)
        fast = analyze(path, workers=1, **options)
        monkeypatch.setattr(ex_http1, "plain_exchanges", lambda up, down: None)
        general = analyze(path, workers=1, **options)
        monkeypatch.setattr(ex_http1, "plain_exchanges", plain)
    return fast, general, sum(taken)


def assert_same(fast, general):
    pd.testing.assert_frame_equal(fast.requests, general.requests)
    pd.testing.assert_frame_equal(fast.connections, general.connections)
    pd.testing.assert_frame_equal(fast.messages, general.messages)
    assert fast.warnings == general.warnings


@pytest.mark.parametrize("capture, options, walked", [
    ("run-b1/capture.pcapng", {}, True),
    ("run-b4/capture.pcapng", {}, True),
    ("run-new-conn/capture.pcapng", {}, True),
    # decrypted TLS goes through the parsers (its plaintext is not a TCP direction)
    ("tls-rest.pcapng", {"tls_keylog": CAPTURES / "tls-rest.keylog"}, False),
])
def test_sample_captures_give_the_same_tables(capture, options, walked, monkeypatch):
    fast, general, taken = both_ways(CAPTURES / capture, monkeypatch, **options)
    assert_same(fast, general)
    assert len(general.requests) > 0
    assert (taken > 0) == walked         # the walk did the work on the cleartext connections


def _request(i: int, kind: str) -> bytes:
    body = b'{"instances": [[%d]]}' % i
    if kind == "chunked":
        return (b"POST /p HTTP/1.1\r\nx-request-id: r%d\r\nTransfer-Encoding: chunked\r\n\r\n"
                % i + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    if kind == "head":
        return b"HEAD /h HTTP/1.1\r\nx-request-id: r%d\r\n\r\n" % i
    if kind == "get":
        return b"GET /g?i=%d HTTP/1.1\r\nHost: x\r\nX-Request-Id: r%d\r\n\r\n" % (i, i)
    if kind == "upgrade":
        return b"GET /u HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
    if kind == "sse-request":
        return (b"POST /s HTTP/1.1\r\nx-request-id: r%d\r\nContent-Type: text/event-stream\r\n"
                b"Content-Length: %d\r\n\r\n" % (i, len(b"data: a\n\n")) + b"data: a\n\n")
    if kind == "dup-id":
        return (b"POST /p HTTP/1.1\r\nx-request-id: a\r\nx-request-id: b\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body) + body)
    return (b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nx-request-id: r%d\r\n"
            b"Content-Length: %d\r\n\r\n" % (i, len(body)) + body)


#: Chunked responses: the plain walk takes "chunked-upper" (the coding's name is case-free)
#: and leaves the others to the parsers (which read "gzip, chunked" as chunked too).
_CHUNKED = {"chunked-ext": (b"chunked", b"%x;x=1", b"0\r\n\r\n"),
            "chunked-trailer": (b"chunked", b"%x", b"0\r\nx-t: 1\r\n\r\n"),
            "chunked-upper": (b"Chunked", b"%X", b"0\r\n\r\n"),
            "gzip-chunked": (b"gzip, chunked", b"%x", b"0\r\n\r\n")}


def _response(i: int, kind: str) -> bytes:
    body = b'{"predictions": [%d]}' % i
    if kind == "interim":
        return b"HTTP/1.1 100 Continue\r\n\r\n" + _response(i, "plain")
    if kind == "no-content":
        return b"HTTP/1.1 204 No Content\r\n\r\n"
    if kind == "not-modified":
        return b"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n"
    if kind == "close":
        return b"HTTP/1.1 200 OK\r\n\r\n" + body
    if kind == "chunked":
        return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    if kind in ("sse", "sse-error"):              # a streamed completion: events across chunks
        events = [b"data: {\"token\": %d}\n\n" % k for k in range(i % 3 + 2)] + [b"data: [DONE]\n\n"]
        data = b"".join(events)
        chunks = [data[a:a + 11] for a in range(0, len(data), 11)]
        status = b"500 Internal Server Error" if kind == "sse-error" else b"200 OK"
        return (b"HTTP/1.1 " + status + b"\r\nContent-Type: text/event-stream\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
                + b"".join(b"%x\r\n" % len(c) + c + b"\r\n" for c in chunks) + b"0\r\n\r\n")
    if kind in ("sse-two-types", "plain-sse-two-types"):    # two Content-Type fields: not SSE
        data = b"data: a\n\ndata: b\n\n"
        framing = (b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % len(data) + data
                   + b"\r\n0\r\n\r\n" if kind == "sse-two-types" else
                   b"Content-Length: %d\r\n\r\n" % len(data) + data)
        return (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Content-Type: text/event-stream\r\n" + framing)
    if kind == "plain-sse":
        data = b"data: a\n\ndata: b\n\n"
        return (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Content-Length: %d\r\n\r\n" % len(data) + data)
    if kind in _CHUNKED:                          # (coding, size line, last chunk and after)
        coding, size_line, last = _CHUNKED[kind]
        return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: " + coding + b"\r\n\r\n"
                + size_line % len(body) + b"\r\n" + body + b"\r\n" + last)
    if kind == "bad-length":
        return b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n" + body
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" \
        % len(body) + body


def _cuts(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % len(data) for c in cuts if 0 < c % len(data)})
    return [data[a:b] for a, b in zip([0] + points, points + [len(data)])]


conversation = st.fixed_dictionaries({
    "requests": st.lists(st.sampled_from(["plain"] * 6 + ["get", "chunked", "head", "upgrade",
                                                          "dup-id", "sse-request"]),
                         min_size=0, max_size=4),
    "responses": st.lists(st.sampled_from(["plain"] * 6 + ["sse"] * 4 + [
        "interim", "no-content", "not-modified", "close", "chunked", "bad-length", "sse-error",
        "chunked-ext", "chunked-trailer", "chunked-upper", "gzip-chunked", "sse-two-types",
        "plain-sse-two-types", "plain-sse"]), max_size=5),
    "cuts": st.lists(st.integers(1, 400), max_size=3),
    "fin": st.booleans(),
    "drop_last": st.booleans(),
    "gap": st.booleans(),
})


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(conversation)
def test_generated_conversations_give_the_same_tables(tmp_path, monkeypatch, spec):
    conv = Conversation()
    conv.handshake(0, 50_000, 60_000)
    t = 1_000_000
    up = b"".join(_request(i, k) for i, k in enumerate(spec["requests"]))
    down = b"".join(_response(i, k) for i, k in enumerate(spec["responses"]))
    for piece in (_cuts(up, spec["cuts"]) if up else []):
        conv.client(t, piece)
        t += 37_000
    pieces = _cuts(down, spec["cuts"][::-1]) if down else []
    if spec["gap"] and len(pieces) > 2:
        conv.seq_s += len(pieces[1])            # the second piece is never captured
        pieces = [pieces[0]] + pieces[2:]
    for n, piece in enumerate(pieces):
        if spec["drop_last"] and n == len(pieces) - 1:
            break                               # the capture ends before the last piece
        conv.server(t, piece)
        t += 53_000
    if spec["fin"]:
        conv.fin_from_server(t)
        conv.fin_from_client(t + 10_000)
    path = write_pcap(tmp_path / "conv.pcap", conv.packets)
    fast, general, _ = both_ways(path, monkeypatch)
    assert_same(fast, general)


def test_a_plain_keep_alive_connection_takes_the_walk(tmp_path, monkeypatch):
    conv = Conversation()
    conv.handshake(0, 50_000, 60_000)
    for i in range(3):
        conv.client(1_000_000 * (i + 1), _request(i, "plain"))
        conv.server(1_000_000 * (i + 1) + 400_000, _response(i, "plain"))
    path = write_pcap(tmp_path / "ka.pcap", conv.packets)
    fast, general, taken = both_ways(path, monkeypatch)
    assert_same(fast, general)
    assert taken == 1 and len(fast.requests) == 3
    assert fast.requests.request_id.tolist() == ["r0", "r1", "r2"]
    assert fast.requests.wait_ms.tolist() == [0.4, 0.4, 0.4]


def _sse_keep_alive(tmp_path, kinds: list[str], per_packet: int = 40):
    """A keep-alive connection of plain requests answered by ``kinds`` responses, each response
    sent ``per_packet`` bytes a packet (a chunked body spans many packets)."""
    conv = Conversation()
    conv.handshake(0, 50_000, 60_000)
    t = 1_000_000
    for i, kind in enumerate(kinds):
        conv.client(t, _request(i, "plain"))
        data = _response(i, kind)
        for a in range(0, len(data), per_packet):
            t += 20_000
            conv.server(t, data[a:a + per_packet])
        t += 1_000_000
    return write_pcap(tmp_path / "sse.pcap", conv.packets)


def test_a_keep_alive_connection_of_chunked_event_streams_takes_the_walk(tmp_path, monkeypatch):
    path = _sse_keep_alive(tmp_path, ["sse", "plain", "sse", "sse-error", "chunked-upper"])
    fast, general, taken = both_ways(path, monkeypatch)
    assert_same(fast, general)
    assert taken == 1 and len(fast.requests) == 5
    # a message per SSE event of the three event streams (their tokens, then "[DONE]"), and
    # the non-SSE chunked body's one chunk; the data messages counted in each row
    per = fast.messages.groupby("request_id", sort=True).kind.apply(list).to_dict()
    assert per == {"r0": ["data", "data", "done"], "r2": ["data"] * 4 + ["done"],
                   "r3": ["data", "data", "done"], "r4": ["data"]}
    assert fast.requests["response_messages"].tolist() == [2, pd.NA, 4, 2, 1]
    assert fast.requests["status"].tolist() == [200, 200, 200, 500, 200]

def test_a_response_direction_too_long_to_read_whole_goes_the_general_way(tmp_path, monkeypatch):
    path = _sse_keep_alive(tmp_path, ["sse", "sse"])
    monkeypatch.setattr(ex_http1, "PLAIN_DIRECTION_BYTES", 100)
    fast, general, taken = both_ways(path, monkeypatch)
    assert_same(fast, general)
    assert taken == 0 and len(fast.messages) > 0


def test_two_content_type_fields_are_not_an_event_stream_either_way(tmp_path, monkeypatch):
    """Several Content-Type fields are read joined, as the parser's messages give them: not
    ``text/event-stream``, so a Content-Length body is not split and a chunked one is split
    into its chunks, not events."""
    path = _sse_keep_alive(tmp_path, ["plain-sse-two-types", "sse-two-types", "plain-sse"])
    fast, general, taken = both_ways(path, monkeypatch)
    assert_same(fast, general)
    assert taken == 1
    per = fast.messages.groupby("request_id", sort=True).kind.apply(list).to_dict()
    assert per == {"r1": ["data"], "r2": ["data", "data"]}
