"""Http1Parser: byte-level tests with exact offsets, every chunk split, fuzz."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inferwire.errors import ProtocolError
from inferwire.protocols.http1 import Http1Message, Http1Parser


def feed_all(parser: Http1Parser, data: bytes, cuts=(), base: int = 0, close: bool = False):
    """Feed ``data`` split at ``cuts`` (stream offsets relative to ``base``); collect messages."""
    bounds = [0, *sorted(set(cuts)), len(data)]
    out = []
    for a, b in zip(bounds, bounds[1:]):
        out += parser.feed(data[a:b], base + a)
    if close:
        out += parser.close(base + len(data))
    return out


def server(*methods: str, **kw) -> Http1Parser:
    parser = Http1Parser("server", **kw)
    for method in methods:
        parser.expect(method)
    return parser


def span(data: bytes, piece: bytes, base: int = 0) -> tuple[int, int]:
    """(start, end) of ``piece`` inside ``data``: expected offsets computed independently."""
    start = data.index(piece)
    return base + start, base + start + len(piece)


# ---------------------------------------------------------------- requests

GET = b"GET /v1/models/mnist HTTP/1.1\r\nHost: localhost:8501\r\nX-Request-Id: r-1\r\n\r\n"
POST = (b"POST /v1/models/mnist:predict HTTP/1.1\r\nHost: localhost:8501\r\n"
        b"Content-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"instances\":[]}")
CHUNKED = (b"POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5;name=value\r\nhello\r\n"
           b"1A ; a=1;b=\"x\"\r\n" + b"z" * 26 + b"\r\n"
           b"0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n")


def test_get_with_offsets_and_headers():
    [msg] = Http1Parser("client").feed(GET, 1000)
    assert msg == Http1Message(
        kind="request", start=1000, head_end=1000 + len(GET), end=1000 + len(GET), method="GET",
        target="/v1/models/mnist", version="HTTP/1.1", status=None, reason=None,
        headers=(("host", "localhost:8501"), ("x-request-id", "r-1")), body_bytes=0,
        interim=False, complete=True)
    assert msg.header("X-REQUEST-ID") == "r-1"
    assert msg.header("absent") is None


def test_content_length_body():
    [msg] = Http1Parser("client").feed(POST, 0)
    assert (msg.start, msg.head_end, msg.end, msg.body_bytes) == (0, len(POST) - 16, len(POST), 16)
    assert msg.header("content-type") == "application/json"


def test_chunked_with_extensions_and_trailers():
    [msg] = Http1Parser("client").feed(CHUNKED, 7)
    assert msg.body_bytes == 5 + 26
    assert msg.head_end == 7 + CHUNKED.index(b"\r\n\r\n") + 4
    assert msg.end == 7 + len(CHUNKED)
    assert msg.trailers == (("x-checksum", "abc"), ("x-other", "1"))
    assert msg.complete


def test_chunked_without_trailers_ends_after_last_crlf():
    data = b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    [msg] = Http1Parser("client").feed(data + GET, 0)[:1]
    assert (msg.end, msg.body_bytes, msg.trailers) == (len(data), 3, ())


def test_pipelined_three_requests_and_responses():
    client = GET + POST + CHUNKED
    reqs = Http1Parser("client").feed(client, 0)
    assert [(m.method, m.start, m.end) for m in reqs] == [
        ("GET", *span(client, GET)), ("POST", *span(client, POST)),
        ("POST", *span(client, CHUNKED))]
    r1 = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    r2 = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    r3 = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
    resp = server(*(m.method for m in reqs)).feed(r1 + r2 + r3, 50)
    assert [(m.status, m.start, m.end, m.body_bytes) for m in resp] == [
        (200, 50, 50 + len(r1), 2), (200, 50 + len(r1), 50 + len(r1 + r2), 2),
        (201, 50 + len(r1 + r2), 50 + len(r1 + r2 + r3), 0)]
    assert resp[2].reason == "Created"


def test_head_response_has_no_body_even_with_content_length():
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
    nxt = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
    msgs = server("HEAD", "GET").feed(head + nxt, 0)
    assert [(m.end, m.body_bytes) for m in msgs] == [(len(head), 0), (len(head + nxt), 3)]


def test_without_expect_a_head_response_would_swallow_the_next():
    # Shows why expect() matters: framed as a GET answer, the HEAD response waits for 1234 bytes.
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
    assert Http1Parser("server").feed(head + b"HTTP/1.1 200 OK\r\n\r\n", 0) == []


@pytest.mark.parametrize("status", [204, 304])
def test_204_and_304_have_no_body(status):
    first = f"HTTP/1.1 {status} X\r\nContent-Length: 10\r\n\r\n".encode()
    nxt = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!"
    msgs = server("GET", "GET").feed(first + nxt, 0)
    assert [(m.status, m.end, m.body_bytes) for m in msgs] == [
        (status, len(first), 0), (200, len(first + nxt), 1)]


def test_expect_100_continue_request_spans_headers_and_later_body():
    head = (b"PUT /big HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
    parser = Http1Parser("client")
    assert parser.feed(head, 0) == []             # headers alone: message not finished
    [msg] = parser.feed(b"12345", len(head))     # body after the server's 100 Continue
    assert (msg.start, msg.head_end, msg.end, msg.body_bytes) == (0, len(head), len(head) + 5, 5)
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    final = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    resp = server("PUT").feed(interim + final, 0)
    assert [(m.status, m.interim, m.end) for m in resp] == [
        (100, True, len(interim)), (200, False, len(interim + final))]


def test_103_early_hints_is_interim_and_keeps_the_method_queue():
    hints = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
    final = b"HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n"
    after = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"
    resp = server("HEAD", "GET").feed(hints + final + after, 0)
    # 103 must not consume "HEAD": the 200 that follows still answers the HEAD (no body).
    assert [(m.status, m.interim, m.end, m.body_bytes) for m in resp] == [
        (103, True, len(hints), 0), (200, False, len(hints + final), 0),
        (200, False, len(hints + final + after), 1)]
    assert resp[0].header("link") == "</a.css>; rel=preload"


def test_http10_close_delimited_response_completed_by_close():
    data = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + b"x" * 300
    parser = server("GET")
    assert parser.feed(data, 10) == []
    [msg] = parser.close(10 + len(data))
    assert (msg.version, msg.end, msg.body_bytes, msg.complete) == ("HTTP/1.0", 10 + len(data),
                                                                     300, True)


def test_close_inside_body_gives_incomplete_message():
    parser = Http1Parser("client")
    parser.feed(POST[:-6], 0)
    [msg] = parser.close(len(POST) - 6)
    assert (msg.complete, msg.end, msg.body_bytes, msg.method) == (False, len(POST) - 6, 10, "POST")


def test_close_inside_head_keeps_the_start_line():
    parser = Http1Parser("client")
    parser.feed(GET[:40], 5)
    [msg] = parser.close(45)
    assert (msg.method, msg.target, msg.head_end, msg.end, msg.complete) == (
        "GET", "/v1/models/mnist", None, 45, False)


def test_close_inside_request_line():
    parser = Http1Parser("client")
    parser.feed(b"\r\nGET /v1", 0)
    [msg] = parser.close(9)
    assert (msg.start, msg.method, msg.version, msg.head_end, msg.complete) == (
        2, None, "", None, False)


def test_close_between_messages_emits_nothing():
    parser = Http1Parser("client")
    parser.feed(GET, 0)
    assert parser.close(len(GET)) == []


def test_leading_empty_lines_are_skipped():
    [msg] = Http1Parser("client").feed(b"\r\n\r\n" + GET, 0)
    assert (msg.start, msg.end) == (4, 4 + len(GET))


def test_obs_fold_and_bare_lf():
    data = b"GET / HTTP/1.1\nX-Long: one\n  two\n\tthree\nHost: h\n\n"
    [msg] = Http1Parser("client").feed(data, 0)
    assert msg.headers == (("x-long", "one two three"), ("host", "h"))
    assert msg.end == len(data)


def test_repeated_headers_joined():
    data = b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n"
    [msg] = server("GET").feed(data, 0)
    assert msg.header("set-cookie") == "a=1, b=2"


def test_status_line_without_reason():
    [msg] = server("GET").feed(b"HTTP/1.1 204\r\n\r\n", 0)
    assert (msg.status, msg.reason) == (204, "")


def test_101_switching_protocols_stops_parsing():
    resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n"
    parser = server("GET")
    [msg] = parser.feed(resp + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00", 0)
    assert (msg.status, msg.interim, msg.end) == (101, False, len(resp))
    assert parser.upgraded_at == len(resp)
    assert parser.feed(b"\xff" * 10, len(resp) + 9) == []     # HTTP/2 bytes: ignored


def test_h2c_client_preface_after_upgrade_request():
    req = (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\n"
           b"Upgrade: h2c\r\n\r\n")
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    parser = Http1Parser("client")
    msgs = feed_all(parser, req + preface + b"\x00\x00\x00\x04\x00", close=True)
    assert [m.method for m in msgs] == ["GET"]
    assert parser.upgraded_at == len(req)


def test_websocket_bytes_after_upgrade_request():
    req = b"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    parser = Http1Parser("client")
    assert len(parser.feed(req + b"\x81\x85abcdhello", 0)) == 1
    assert parser.upgraded_at == len(req)


def test_connect_request_and_tunnel():
    req = b"CONNECT example:443 HTTP/1.1\r\nHost: example:443\r\n\r\n"
    client = Http1Parser("client")
    [msg] = client.feed(req + b"\x16\x03\x01", 0)
    assert (msg.method, msg.target, client.upgraded_at) == ("CONNECT", "example:443", len(req))
    resp = b"HTTP/1.1 200 Connection established\r\n\r\n"
    srv = server("CONNECT")
    [msg] = srv.feed(resp + b"\x16\x03\x03", 0)
    assert (msg.end, srv.upgraded_at) == (len(resp), len(resp))


# ---------------------------------------------------------------- errors

def test_oversize_header_raises_with_offset_and_refuses_more():
    parser = Http1Parser("client", max_header_bytes=1024)
    big = b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 2000 + b"\r\n\r\n"
    with pytest.raises(ProtocolError) as info:
        parser.feed(GET + big, 100)
    assert (info.value.offset, info.value.field) == (100 + len(GET), "headers")
    assert [m.method for m in info.value.events] == ["GET"]     # certain results kept
    with pytest.raises(ProtocolError) as again:
        parser.feed(b"GET / HTTP/1.1\r\n\r\n", 100 + len(GET + big))
    assert again.value.events == [] and again.value.offset == 100 + len(GET)


def test_oversize_header_detected_across_small_chunks():
    parser = Http1Parser("client", max_header_bytes=100)
    data = b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 30
    with pytest.raises(ProtocolError) as info:
        feed_all(parser, data, cuts=range(0, len(data), 7))
    assert info.value.offset == 0


def test_header_exactly_at_the_limit_is_accepted():
    head = b"GET / HTTP/1.1\r\nX: " + b"a" * 10 + b"\r\n\r\n"
    [msg] = Http1Parser("client", max_header_bytes=len(head)).feed(head, 0)
    assert msg.end == len(head)
    with pytest.raises(ProtocolError):
        Http1Parser("client", max_header_bytes=len(head) - 1).feed(head, 0)


@pytest.mark.parametrize("data, offset, field", [
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n", 0, "request-line"),   # TLS, not HTTP
    (GET + b"hello world\r\n\r\n", len(GET), "request-line"),
    (b"GET / HTTP/2.0\r\n\r\n", 0, "request-line"),
    (b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 16, "header"),
    (b"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 16, "header"),
    (b"GET / HTTP/1.1\r\n folded-first\r\n\r\n", 16, "header"),
    (b"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 0, "content-length"),
    (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 0, "content-length"),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 0, "transfer-encoding"),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 47, "chunk-size"),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX", 52, "chunk-data"),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\r\n", 53, "chunk-data"),
])
def test_garbage_raises_protocol_error_with_offset(data, offset, field):
    with pytest.raises(ProtocolError) as info:
        Http1Parser("client").feed(data, 0)
    assert (info.value.offset, info.value.field) == (offset, field)


def test_garbage_status_line():
    with pytest.raises(ProtocolError) as info:
        server("GET").feed(b"HTTP/1.1 OK\r\n\r\n", 3)
    assert (info.value.offset, info.value.field) == (3, "status-line")


def test_garbage_detected_at_first_line_without_waiting_for_the_limit():
    with pytest.raises(ProtocolError):
        Http1Parser("client").feed(b"\x00\x01binary junk\n" + b"\x00" * 100, 0)


def test_non_contiguous_feed_is_an_error():
    parser = Http1Parser("client")
    parser.feed(GET[:10], 0)
    with pytest.raises(ProtocolError) as info:
        parser.feed(GET[10:], 11)
    assert info.value.field == "offset"


def test_bad_role():
    with pytest.raises(ValueError):
        Http1Parser("proxy")


# ---------------------------------------------------------------- every split gives the same

CLIENT_STREAM = (b"\r\n" + GET + POST + CHUNKED +
                 b"PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody" +
                 b"GET /fold HTTP/1.1\nX: a\n b\n\n" + b"HEAD / HTTP/1.1\r\n\r\n")
SERVER_STREAM = (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc" +
                 b"HTTP/1.1 103 Early Hints\r\nLink: <x>\r\n\r\n"
                 b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"4;x=y\r\nwiki\r\n5\r\npedia\r\n0\r\nTrailer-A: 1\r\n\r\n" +
                 b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n" +
                 b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n" +
                 b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n" +
                 b"HTTP/1.0 200 OK\r\n\r\nuntil close")
SERVER_METHODS = ("GET", "POST", "PUT", "GET", "HEAD", "GET")


def client_whole():
    return feed_all(Http1Parser("client"), CLIENT_STREAM, base=3, close=True)


def server_whole():
    return feed_all(server(*SERVER_METHODS), SERVER_STREAM, base=3, close=True)


def test_reference_streams_parse_as_expected():
    reqs = client_whole()
    assert [(m.method, m.body_bytes, m.complete) for m in reqs] == [
        ("GET", 0, True), ("POST", 16, True), ("POST", 31, True), ("PUT", 4, True),
        ("GET", 0, True), ("HEAD", 0, True)]
    assert reqs[0].start == 5 and reqs[-1].end == 3 + len(CLIENT_STREAM)
    resps = server_whole()
    assert [(m.status, m.interim, m.body_bytes) for m in resps] == [
        (200, False, 3), (103, True, 0), (200, False, 9), (100, True, 0), (204, False, 0),
        (304, False, 0), (200, False, 0), (200, False, 11)]
    assert resps[2].trailers == (("trailer-a", "1"),)
    assert all(a.end == b.start for a, b in zip(resps, resps[1:]))
    assert resps[-1].end == 3 + len(SERVER_STREAM)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_chunking_gives_identical_messages(data):
    for role, stream, whole in (("client", CLIENT_STREAM, client_whole()),
                                ("server", SERVER_STREAM, server_whole())):
        cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=25), label=role)
        parser = server(*SERVER_METHODS) if role == "server" else Http1Parser("client")
        assert feed_all(parser, stream, cuts, base=3, close=True) == whole


def test_byte_by_byte_gives_identical_messages():
    assert feed_all(Http1Parser("client"), CLIENT_STREAM, range(len(CLIENT_STREAM)), base=3,
                    close=True) == client_whole()
    assert feed_all(server(*SERVER_METHODS), SERVER_STREAM, range(len(SERVER_STREAM)), base=3,
                    close=True) == server_whole()


def test_big_body_is_counted_not_buffered():
    body = b"\x00" * 5_000_000
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\n" + body
    parser = server("GET")
    [msg] = feed_all(parser, data, cuts=range(0, len(data), 65536))
    assert msg.body_bytes == 5_000_000
    assert len(parser._buf) == 0


# ---------------------------------------------------------------- fuzz

def run_guarded(parser: Http1Parser, data: bytes, cuts):
    """Feed and close; the only exception allowed is ProtocolError."""
    try:
        msgs = feed_all(parser, data, cuts, close=True)
    except ProtocolError:
        return None
    for m in msgs:
        assert 0 <= m.start <= m.end <= len(data) and m.body_bytes >= 0
    return msgs


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=5),
       st.sampled_from(["client", "server"]))
def test_fuzz_random_bytes(data, cuts, role):
    run_guarded(Http1Parser(role, max_header_bytes=128), data, [c for c in cuts if c <= len(data)])


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_fuzz_mutated_valid_streams(data):
    role = data.draw(st.sampled_from(["client", "server"]))
    stream = bytearray(CLIENT_STREAM if role == "client" else SERVER_STREAM)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(stream) - 1))
        stream[at] = data.draw(st.integers(0, 255))
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=5))
    parser = server(*SERVER_METHODS) if role == "server" else Http1Parser("client")
    run_guarded(parser, bytes(stream), cuts)


def test_memoryview_and_bytearray_input():
    for wrap in (memoryview, bytearray):
        parser = Http1Parser("client")
        got = [m for i in range(0, len(CLIENT_STREAM), 13)
               for m in parser.feed(wrap(CLIENT_STREAM[i:i + 13]), 3 + i)]
        assert got + parser.close(3 + len(CLIENT_STREAM)) == client_whole()
