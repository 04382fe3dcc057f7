"""The one-call head split and framing in C (``inferwire.exchanges._plain``) gives exactly what
its Python twin gives (``plainbatch._message_py``: ``split_head`` + ``plain_framing`` +
``header_value``): on real heads, on every kind of head the Python rules reject or frame
differently, and on generated and fuzzed bytes, as requests and as responses."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from needs import skip_or_fail

from inferwire.exchanges import plainbatch

C = plainbatch._message_c


def test_the_extension_is_built_where_ci_runs():
    if C is None:
        skip_or_fail("inferwire.exchanges._plain is not built (no C compiler at install: "
                     "scripts/setup.sh needs gcc and the Python headers): nothing to compare")


def both(data: bytes, pos: int = 0, endpos: int | None = None) -> tuple:
    if C is None:
        skip_or_fail("the C framing is not built here")
    endpos = len(data) + 10 if endpos is None else endpos
    out = []
    for client in (True, False):
        py = plainbatch._message_py(data, pos, endpos, client)
        assert C(data, pos, endpos, client) == py, (data, pos, endpos, client)
        assert C(memoryview(data), pos, endpos, client) == py
        out.append(py)
    return tuple(out)


REQUEST = (b"POST /v1/models/mnist:predict HTTP/1.0\r\nHost: 127.0.0.1:8501\r\n"
           b"User-Agent: ApacheBench/2.3\r\nContent-Type: application/json\r\n"
           b"X-Request-Id: r-17\r\nContent-Length: 5\r\n\r\nhello")
RESPONSE = (b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\nok")


def test_real_heads():
    request, _ = both(REQUEST)
    assert request == (len(REQUEST) - 5, "POST", "/v1/models/mnist:predict", 5, "r-17")
    _, response = both(RESPONSE)
    assert response == (len(RESPONSE) - 2, 200, 2)


@pytest.mark.parametrize("data", [
    b"GET / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/2.0\r\n\r\n",                      # not HTTP/1
    b"GET  / HTTP/1.1\r\n\r\n",                     # two spaces
    b"GET /a\x0bb HTTP/1.1\r\n\r\n",                # a \v in the target
    b"GET /\xe9 HTTP/1.1\r\n\r\n",                  # latin-1 target
    b"G\xe9T / HTTP/1.1\r\n\r\n",                   # a method that is no token
    b"CONNECT h:1 HTTP/1.1\r\n\r\n",
    b"connect h:1 HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1x\r\n\r\n",
    b"GET / HTTP/1.\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"GET / HTTP/1.1\r\nContent-Length: 12\r\n\r\n",
    b"GET / HTTP/1.1\r\nContent-Length:  7 \t\r\n\r\n",
    b"GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
    b"GET / HTTP/1.1\r\nContent-Length: \r\n\r\n",
    b"GET / HTTP/1.1\r\nContent-Length: 123456789012345678\r\n\r\n",
    b"GET / HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n\r\n",
    b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-length: 1\r\n\r\n",
    b"GET / HTTP/1.1\r\nContent-Length: +1\r\n\r\n",
    b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET / HTTP/1.1\r\nUPGRADE: h2c\r\n\r\n",
    b"GET / HTTP/1.1\r\nX-Request-Id: a\r\nx-request-id:  b \r\n\r\n",
    b"GET / HTTP/1.1\r\nx-request-id:\r\n\r\n",
    b"GET / HTTP/1.1\r\nx-request-id: caf\xe9\r\n\r\n",
    b"GET / HTTP/1.1\r\nX-\xe9: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
    b"GET / HTTP/1.1\r\nA : b\r\n\r\n",
    b"GET / HTTP/1.1\r\n folded\r\n\r\n",
    b"GET / HTTP/1.1\r\nA: b\nC: d\r\n\r\n",
    b"GET / HTTP/1.1\r\nA: b\x00\r\n\r\n",
    b"GET / HTTP/1.1\r\nA: b\r\n",                  # no end of head
    b"\r\n\r\n",
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 199 X\r\nContent-Length: 1\r\n\r\n",
    b"HTTP/1.1 200\r\nContent-Length: 1\r\n\r\n",  # no reason
    b"HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\n",
    b"HTTP/1.1 200OK\r\nContent-Length: 1\r\n\r\n",
    b"HTTP/1.1 2000 OK\r\nContent-Length: 1\r\n\r\n",
    b"HTTP/2.0 200 OK\r\nContent-Length: 1\r\n\r\n",
    b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n\r\n",                     # close-delimited
    b"HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n",
])
def test_edge_heads(data):
    both(data)


def test_positions_and_bounds():
    data = b"xx" + REQUEST
    both(data, 2)
    both(data, 2, 40)                               # the end of head beyond endpos
    both(data, 0)
    both(data, len(data))
    both(data, -1)
    both(data, 5, 3)


_LINES = [b"GET / HTTP/1.1", b"POST /p?q=1 HTTP/1.0", b"HTTP/1.1 200 OK", b"HTTP/1.0 204 X",
          b"HTTP/1.1 101 Switching", b"CONNECT a:1 HTTP/1.1", b"HTTP/1.1 304 N"]
_FIELDS = [b"Content-Length: 5", b"content-length:0", b"Content-Length: 5x",
           b"Transfer-Encoding: chunked", b"Upgrade: h2c", b"X-Request-Id: r1",
           b"x-request-id: r2", b"Host: a", b"A:b", b"Bad Name: x", b"", b"Content-Length: 99"]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(_LINES), st.lists(st.sampled_from(_FIELDS), max_size=6),
       st.binary(max_size=8), st.lists(st.tuples(st.integers(0, 200), st.binary(max_size=2)),
                                       max_size=2))
def test_generated_heads(line, fields, body, mutations):
    data = bytearray(line + b"".join(b"\r\n" + f for f in fields) + b"\r\n\r\n" + body)
    for at, new in mutations:                       # a few bytes replaced anywhere
        at %= len(data)
        data[at:at + len(new)] = new
    both(bytes(data))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120), st.integers(0, 5))
def test_fuzzed_bytes(data, pos):
    both(data + b"\r\n\r\n", pos)
