"""The plain-head split in C (``inferwire.protocols._scan``) gives exactly what the Python split
gives (``http1._split_plain_head``): on real heads, on every kind of non-plain head, and on
fuzzed bytes; and the parser gives the same messages with either."""
from __future__ import annotations


import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from needs import skip_or_fail

from inferwire.protocols import http1
from inferwire.protocols.http1 import Http1Parser

C_HEAD = http1._c_head


def test_the_extension_is_built_where_ci_runs():
    if C_HEAD is None:
        skip_or_fail("inferwire.protocols._scan is not built (no C compiler at install: scripts/setup.sh "
                     "needs gcc and the Python headers): nothing to compare")


def both(data: bytes, pos: int = 0, endpos: int | None = None):
    if C_HEAD is None:
        skip_or_fail("the C split is not built here")
    endpos = len(data) + 10 if endpos is None else endpos
    py = http1._split_plain_head(data, pos, endpos)
    assert C_HEAD(data, pos, endpos) == py
    assert C_HEAD(memoryview(data), pos, endpos) == py      # views of the capture, as fed
    return py


REQUEST = (b"POST /v1/models/mnist:predict HTTP/1.1\r\nHost: 127.0.0.1:8501\r\n"
           b"User-Agent: python-requests/2.32\r\nContent-Type: application/json\r\n"
           b"X-Request-Id: r-17\r\nContent-Length: 5\r\n\r\nhello")


def test_a_real_request_head_is_split():
    head_end, first, fields = both(REQUEST)
    assert REQUEST[head_end:] == b"hello"
    assert first == b"POST /v1/models/mnist:predict HTTP/1.1"
    assert fields[0] == ("host", "127.0.0.1:8501") and fields[-1] == ("content-length", "5")


@pytest.mark.parametrize("data, plain", [
    (b"GET / HTTP/1.1\r\n\r\n", True),                        # no fields
    (b"HTTP/1.1 200 OK\r\nA:b\r\nC: \t d \t\r\n\r\n", True),  # values stripped
    (b"GET / HTTP/1.1\r\nX-\xe9: caf\xe9\r\n\r\n", False),    # a name that is no token
    (b"GET / HTTP/1.1\r\nX: caf\xe9\r\n\r\n", True),          # latin-1 value
    (b"GET / HTTP/1.1\r\nNoColon\r\n\r\n", False),
    (b"GET / HTTP/1.1\r\n: empty name\r\n\r\n", False),
    (b"GET / HTTP/1.1\r\nA : b\r\n\r\n", False),              # space before the colon
    (b"GET / HTTP/1.1\r\n folded\r\n\r\n", False),            # obs-fold
    (b"GET / HTTP/1.1\r\nA: b\nC: d\r\n\r\n", False),         # a bare LF
    (b"GET / HTTP/1.1\r\nA: b\rC: d\r\n\r\n", False),         # a bare CR
    (b"GET / HTTP/1.1\r\nA: b\x00\r\n\r\n", False),           # a NUL
    (b"\r\n\r\n", True),                       # an empty start line: split (the parser then rejects it)
    (b"GET / HTTP/1.1\r\nA: b\r\n", None),                    # no end of head
    (b"GET / HTTP/1.1\r\n\r\r\n\r\n", False),
    (b"GET / HTTP/1.1\r\nLong-" + b"n" * 300 + b": v\r\n\r\n", True),   # name > 256 bytes
])
def test_plain_and_other_heads(data, plain):
    got = both(data)
    assert (got is not None) == bool(plain)


def test_the_window_bounds_the_search():
    data = b"junk" + REQUEST
    head_end = both(data, 4)[0]
    assert both(data, 4, head_end) is not None         # the CRLF CRLF ends right at endpos
    assert both(data, 4, head_end - 1) is None         # one byte short
    assert both(data, head_end, len(data)) is None     # the body: no head there
    assert both(data, len(data), len(data) + 5) is None


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([b"GET / HTTP/1.1", b"HTTP/1.1 204 No", b"A", b":", b" ", b"\t",
                                 b"\r", b"\n", b"\r\n", b"\r\n\r\n", b"x-y", b"\x00", b"\xff",
                                 b"Content-Length: 3", b"a:b", b"abc"]), max_size=24),
       st.integers(0, 3), st.integers(0, 80))
def test_fuzzed_heads_split_alike(parts, pos, room):
    data = b"".join(parts)
    both(data, min(pos, len(data)), min(pos, len(data)) + room)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=120), st.integers(0, 4))
def test_random_bytes_split_alike(data, pos):
    both(data, min(pos, len(data)))


def test_the_parser_gives_the_same_messages_either_way(monkeypatch):
    stream = REQUEST * 3 + b"GET /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"

    def messages():
        parser = Http1Parser("client")
        out = parser.feed(stream[:50], 0) + parser.feed(stream[50:], 50)
        return [(m.start, m.head_end, m.end, m.method, m.target, m.headers, m.body_bytes)
                for m in out]
    with_c = messages()
    monkeypatch.setattr(http1, "split_head", http1._split_plain_head)
    assert messages() == with_c and len(with_c) == 4
