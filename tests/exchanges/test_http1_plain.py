"""The plain-connection walk of HTTP/1 (``exchanges.http1.plain_exchanges``) gives exactly the
tables of the general parser path: on the sample captures, and on generated conversations that
mix plain messages with every kind it must leave to the parsers (chunked, 1xx, HEAD, 204/304,
close-delimited, Upgrade, heads split across packets, gaps, extra responses, cut captures)."""
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
    if kind == "dup-id":
        return (b"POST /p HTTP/1.1\r\nx-request-id: a\r\nx-request-id: b\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body) + body)
    return (b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nx-request-id: r%d\r\n"
            b"Content-Length: %d\r\n\r\n" % (i, len(body)) + body)


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
    if kind == "bad-length":
        return b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n" + body
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" \
        % len(body) + body


def _cuts(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % len(data) for c in cuts if 0 < c % len(data)})
    return [data[a:b] for a, b in zip([0] + points, points + [len(data)])]


conversation = st.fixed_dictionaries({
    "requests": st.lists(st.sampled_from(["plain"] * 6 + ["get", "chunked", "head", "upgrade",
                                                          "dup-id"]), min_size=0, max_size=4),
    "responses": st.lists(st.sampled_from(["plain"] * 6 + ["interim", "no-content",
                                                           "not-modified", "close", "chunked",
                                                           "bad-length"]), max_size=5),
    "cuts": st.lists(st.integers(1, 400), max_size=3),
    "fin": st.booleans(),
    "drop_last": st.booleans(),
    "gap": st.booleans(),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
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
