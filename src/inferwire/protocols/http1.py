"""HTTP/1.x message parser for one direction of a connection (sans-IO, RFC 9112).

:class:`Http1Parser` is fed one direction's contiguous stream bytes with the stream offset of the
first byte, and returns each :class:`Http1Message` once its last byte has arrived.  Offsets are
stream offsets: ``start`` inclusive, ``head_end`` and ``end`` exclusive.

Only an incomplete head (request/status line + header fields), chunk-size line or trailer section
is buffered, bounded by ``max_header_bytes``; body bytes are counted, never kept.

Message framing follows RFC 9112 section 6.3: no body for responses to HEAD, for 1xx, 204 and
304; ``Transfer-Encoding: chunked`` wins over ``Content-Length``; a response with neither is
delimited by the close of the connection (:meth:`Http1Parser.close`); a request with neither has
no body.  Where the byte stream stops being HTTP/1 (101 Switching Protocols, a 2xx answer to
CONNECT, an HTTP/2 preface after ``Upgrade: h2c``, non-HTTP bytes after an Upgrade request) the
parser stops and records the offset in :attr:`Http1Parser.upgraded_at`.
"""
from __future__ import annotations

import re
from collections import deque
from functools import lru_cache
from dataclasses import dataclass

from ..errors import ProtocolError
from .numbers import LENGTH_DIGITS, ascii_int
from .records import from_fields

try:              # the plain-head split in C (_scan.c); same results as _split_plain_head
    from ._scan import head as _c_head
except ImportError:
    _c_head = None
try:              # whole chunks of a chunked body skipped in C (_chunks.c); same results
    from ._chunks import walk as _c_chunks
except ImportError:
    _c_chunks = None

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") (\S+) HTTP/([0-9])\.([0-9])")
_STATUS_LINE = re.compile(rb"HTTP/([0-9])\.([0-9]) ([0-9]{3})(?: (.*))?")
_FIELD_NAME = re.compile(_TOKEN)
_FIELD_NAME_TEXT = re.compile(_TOKEN.decode("ascii"))
_HEAD_END = re.compile(rb"\r\n\r\n")
_BLOCK_END = re.compile(rb"\n\r?\n")    # a line end followed by an empty line (bare LF tolerated)
_LF = re.compile(rb"\n")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_TOKEN_BYTES = frozenset(b"!#$%&'*+-.^_`|~0123456789"
                         b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_H2_PREFACE_LINE = b"PRI * HTTP/2.0"

#: The longest head (start line and fields) read before the parser gives up on it (bytes).
MAX_HEADER_BYTES = 65536

# parser states
_HEAD, _LENGTH, _CHUNK_SIZE_LINE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILERS, _UNTIL_CLOSE, _UPGRADED, \
    _CLOSED = range(9)


@dataclass(frozen=True)
class Http1Message:
    """One HTTP/1.x request or response.  Offsets are stream offsets, ``end`` exclusive."""
    kind: str                    # "request" | "response"
    start: int                   # first byte of the request line / status line
    head_end: int | None         # one past the blank line ending the headers (None: head cut)
    end: int                     # one past the last byte (body incl. chunk framing and trailers)
    method: str | None           # requests only
    target: str | None           # requests only
    version: str                 # "HTTP/1.1"; "" when the start line never arrived whole
    status: int | None           # responses only
    reason: str | None
    headers: tuple               # ((name lower-cased, value), ...) in order
    body_bytes: int              # content bytes (chunked: decoded length, framing excluded)
    interim: bool                # a 1xx response other than 101 (the final one follows)
    complete: bool               # False: the stream ended before the message did
    trailers: tuple = ()         # chunked trailer fields, like ``headers``

    def header(self, name: str) -> str | None:
        """The field's value (several occurrences joined by ", "), or None; name case-free."""
        return header_value(self.headers, name.lower())


class Http1Parser:
    """Parse the messages of one direction of an HTTP/1.x connection.

    ``role="client"`` parses the client->server direction (requests), ``"server"`` the responses.
    For the server role, call :meth:`expect` with each request's method, in order, before feeding
    the responses (HEAD and CONNECT change how a response is framed); without it responses are
    framed as answers to GET.

    Bad bytes raise :class:`ProtocolError` (``offset`` = stream offset, ``field``); its ``events``
    attribute holds the messages that the same ``feed()`` call completed before the error.  The
    parser then refuses further input (raises again, with ``events == []``).
    """

    # The initial state, as class attributes: an instance sets only what changes (a parser is
    # made for each direction of each connection, and most connections carry one message).
    upgraded_at: int | None = None           # offset where the stream stopped being HTTP/1
    _next: int | None = None                 # offset expected by the next feed()
    _state = _HEAD
    _buf_start = 0                           # stream offset of _buf[0]
    _msg: dict | None = None                 # fields of the message being read
    _remaining = 0                           # body or chunk bytes still expected
    _cr_seen = False                         # CR of the CRLF after chunk data was seen
    _upgrade_asked = False                   # previous request carried Upgrade
    _failed: ProtocolError | None = None

    def __init__(self, role: str, *, max_header_bytes: int = MAX_HEADER_BYTES):
        if role != "client" and role != "server":
            raise ValueError(f"role must be 'client' or 'server', not {role!r}")
        self.role = role
        self.max_header_bytes = max_header_bytes
        self._methods: deque[str] = deque()
        self._buf = bytearray()              # the incomplete head / chunk line / trailers

    # ------------------------------------------------------------ public

    def expect(self, method: str) -> None:
        """Queue the method of the next request whose response will be fed (server role)."""
        self._methods.append(method.upper())

    def feed(self, data: bytes | bytearray | memoryview, offset: int) -> list[Http1Message]:
        """Consume ``data`` starting at stream offset ``offset``; return completed messages."""
        if offset != self._next or self._failed is not None or self._state == _CLOSED:
            self._check(offset)
        out: list[Http1Message] = []
        pos, n = 0, len(data)
        try:
            while pos < n:
                state = self._state
                if state == _HEAD:
                    if not self._buf and not self._upgrade_asked:
                        whole = self._whole_message(data, pos, offset, out)
                        if whole > pos:
                            pos = whole
                            continue
                elif state == _LENGTH:       # body bytes of known length: counted, not read
                    take = min(self._remaining, n - pos)
                    pos += take
                    self._count(take, offset + pos, out)
                    continue
                pos = self._step(data, pos, offset, out)
        except ProtocolError as exc:
            exc.events = out             # the messages this chunk completed before the error
            self._failed = exc
            raise
        self._next = offset + n
        return out

    def close(self, offset: int) -> list[Http1Message]:
        """End of the stream at ``offset`` (FIN, or end of capture): complete a close-delimited
        body, or return the unfinished message with ``complete=False``."""
        self._check(offset)
        state, self._state = self._state, _CLOSED
        if state == _UNTIL_CLOSE:
            return [self._emit(offset, complete=True)]
        if state == _HEAD:
            return self._partial_head(offset) if self._buf else []
        if state in (_LENGTH, _CHUNK_SIZE_LINE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILERS):
            return [self._emit(offset, complete=False)]
        return []

    # ------------------------------------------------------------ plumbing

    def _check(self, offset: int) -> None:
        if self._failed is not None:
            raise _stopped(self._failed)
        if self._state == _CLOSED:
            raise ProtocolError("parser already closed", offset=offset, field="offset")
        if self._next is not None and offset != self._next:
            raise ProtocolError(f"bytes at offset {offset}, expected {self._next}: the parser "
                                "needs contiguous stream bytes", offset=offset, field="offset")
        if self._next is None:
            self._next = offset

    def _whole_message(self, data, pos: int, offset: int, out: list) -> int:
        """The usual message, read in one go without the byte-wise state machine: a plain head
        (:func:`_plain_head`) whole in ``data`` from ``pos``, a request other than CONNECT, or a
        final response to neither HEAD nor CONNECT; framed by one Content-Length (or no body:
        a request without one, a 204 or 304); no Transfer-Encoding, no Upgrade.  Returns where
        it stopped: after the body, or after the head when the body goes on beyond ``data``.
        For anything else it changes nothing and returns ``pos``: the general path then reads
        the message (same rules, same messages, same errors)."""
        split = split_head(data, pos, pos + self.max_header_bytes)
        if split is None:
            return pos
        head_end, first, headers = split
        client = self.role == "client"
        asked = self._methods[0] if self._methods and not client else None
        framing = plain_framing(first, headers, client, asked)
        if framing is None:
            return pos
        parsed, length = framing
        if client:
            kind, status, reason = "request", None, None
            method, target, version = parsed
        else:
            kind, method, target = "response", None, None
            version, status, reason = parsed
            if asked is not None:
                self._methods.popleft()
        self._buf_start = start = offset + pos
        whole = length <= len(data) - head_end
        msg = {"kind": kind, "start": start, "head_end": offset + head_end,
               "end": offset + head_end + length if whole else start, "method": method,
               "target": target, "version": version, "status": status, "reason": reason,
               "headers": headers, "body_bytes": length if whole else 0, "interim": False,
               "complete": whole, "trailers": ()}
        if whole:
            out.append(_record(msg))
            return head_end + length
        self._msg, self._state, self._remaining = msg, _LENGTH, length  # the body goes on
        return head_end

    def _step(self, data, pos: int, offset: int, out: list) -> int:
        state = self._state
        if state == _HEAD:
            return self._read_head(data, pos, offset, out)
        if state == _LENGTH or state == _CHUNK_DATA:
            return self._read_counted(data, pos, offset, out)
        if state == _CHUNK_SIZE_LINE:
            return self._read_chunk_size(data, pos, offset)
        if state == _CHUNK_CRLF:
            return self._read_chunk_crlf(data, pos, offset)
        if state == _TRAILERS:
            return self._read_trailers(data, pos, offset, out)
        if state == _UNTIL_CLOSE:
            self._msg["body_bytes"] += len(data) - pos
        return len(data)                     # _UNTIL_CLOSE, _UPGRADED: nothing more to parse

    def _take_block(self, data, pos: int) -> tuple[bytes | None, int]:
        """Accumulate a header-like block up to and including its empty line.

        Returns (block, new pos) once complete, else (None, new pos) with the bytes buffered.
        Searches ``data`` in place so that a complete block costs one copy of itself only."""
        buf, n = self._buf, len(data)
        if buf:  # the empty line may straddle the buffered tail and the new data
            tail = bytes(buf[-2:])
            m = _BLOCK_END.search(tail + bytes(data[pos:pos + 2]))
            if m is not None and m.start() < len(tail):
                used = m.end() - len(tail)
                return bytes(buf) + bytes(data[pos:pos + used]), pos + used
        room = self.max_header_bytes - len(buf)
        m = _BLOCK_END.search(data, pos, min(n, pos + room))
        if m is not None:
            block = bytes(buf) + bytes(data[pos:m.end()])
            return block, m.end()
        if len(buf) + n - pos >= self.max_header_bytes:
            raise ProtocolError(f"header section longer than max_header_bytes="
                                f"{self.max_header_bytes}", offset=self._buf_start,
                                field="headers")
        buf += data[pos:n]
        return None, n

    # ------------------------------------------------------------ heads

    def _read_head(self, data, pos: int, offset: int, out: list) -> int:
        if not self._buf:
            # RFC 9112 2.2: empty lines before a request line are ignored.
            while pos < len(data) and data[pos] in (10, 13):
                pos += 1
            if pos == len(data):
                return pos
            if self._leaves_http1(data[pos], offset + pos):
                return len(data)
            self._buf_start = offset + pos
        block, pos = self._take_block(data, pos)
        if block is None:
            self._check_first_line()
            return pos
        self._buf.clear()
        self._start_message(block, self._buf_start, out)
        return pos

    def _leaves_http1(self, first_byte: int, at: int) -> bool:
        """After an Upgrade request, bytes that cannot start a request are the new protocol."""
        if self._upgrade_asked and first_byte not in _TOKEN_BYTES:
            self._upgrade(at)
            return True
        return False

    def _check_first_line(self) -> None:
        """Reject garbage as soon as the first line is whole, not after max_header_bytes."""
        m = _LF.search(self._buf)
        if m is not None:
            self._parse_start_line(bytes(self._buf[:m.start()]).rstrip(b"\r"), self._buf_start)

    def _start_message(self, block: bytes, start: int, out: list) -> None:
        fast = _plain_head(block)
        if fast is None:
            lines, starts = _split_lines(block, start)
            first = lines[0]
        else:
            first, headers = fast
        msg = self._parse_start_line(first, start)
        if msg is None:                      # the HTTP/2 preface after Upgrade: h2c
            self._upgrade(start)
            return
        msg["headers"] = headers if fast is not None else _parse_fields(lines[1:], starts[1:])
        msg["head_end"] = start + len(block)
        self._msg = msg
        self._frame_body(msg, start + len(block), out)

    def _parse_start_line(self, line: bytes, at: int) -> dict | None:
        """The fields of the message starting at ``at`` with start line ``line`` (``headers``,
        ``head_end``, ``end``, ``complete`` still to fill), or None for the HTTP/2 preface."""
        if self.role == "client":
            if line == _H2_PREFACE_LINE:
                return None
            parsed = _request_line(line)
            if parsed is None:
                raise ProtocolError(f"not an HTTP/1.x request line: {line[:60]!r}", offset=at,
                                    field="request-line")
            method, target, version = parsed
            return _fields_of("request", at, method, target, version, None, None, False)
        parsed = _status_line(line)
        if parsed is None:
            raise ProtocolError(f"not an HTTP/1.x status line: {line[:60]!r}", offset=at,
                                field="status-line")
        version, status, reason = parsed
        return _fields_of("response", at, None, None, version, status, reason,
                          100 <= status < 200 and status != 101)

    def _partial_head(self, offset: int) -> list[Http1Message]:
        if not self._buf:
            return []
        m = _LF.search(self._buf)
        msg = None
        if m is not None:
            msg = self._parse_start_line(bytes(self._buf[:m.start()]).rstrip(b"\r"),
                                         self._buf_start)
        elif not _could_begin(bytes(self._buf[:_BEGIN_PROBE]), self.role):
            kind = "request" if self.role == "client" else "response"
            raise ProtocolError(f"the last {len(self._buf)} bytes cannot begin an HTTP/1.x {kind} "
                                f"({bytes(self._buf[:20])!r}): not counted as one",
                                offset=self._buf_start, field="start-line")
        if msg is None:
            msg = _fields_of("request" if self.role == "client" else "response",
                             self._buf_start, None, None, "", None, None, False)
        self._msg = msg
        return [self._emit(offset, complete=False)]

    # ------------------------------------------------------------ body framing

    def _frame_body(self, msg: dict, head_end: int, out: list) -> None:
        """Choose how the body is delimited (RFC 9112 6.3) and enter that state."""
        mode, length = self._body_mode(msg, head_end)
        if mode == "chunked":
            self._state = _CHUNK_SIZE_LINE
        elif mode == "close":
            self._state = _UNTIL_CLOSE
        elif mode == "length" and length > 0:
            self._state, self._remaining = _LENGTH, length
        else:
            out.append(self._emit(head_end, complete=True))
            if mode == "upgrade":
                self._upgrade(head_end)

    def _body_mode(self, msg: dict, head_end: int) -> tuple[str, int]:
        headers = msg["headers"]
        upgrade = chunked = False
        lengths = []
        for name, value in headers:          # one pass for the three fields framing depends on
            if name == "content-length":
                lengths.append(value)
            elif name == "transfer-encoding":
                chunked = True
            elif name == "upgrade":
                upgrade = True
        if msg["kind"] == "response":
            special = self._response_without_body(msg)
            if special is not None:
                return special, 0
        else:
            self._upgrade_asked = upgrade
            if msg["method"] == "CONNECT":
                return "upgrade", 0
        if not chunked and len(lengths) == 1 and _length(lengths[0]) is not None:
            return "length", _length(lengths[0])  # the usual case; the rules below decide the rest
        te = _values(headers, "transfer-encoding") if chunked else None
        if te:
            if te[-1].lower() == "chunked":
                return "chunked", 0
            if msg["kind"] == "request":
                raise ProtocolError(f"request Transfer-Encoding {', '.join(te)!r} does not end "
                                    "in chunked", offset=msg["start"], field="transfer-encoding")
            return "close", 0
        lengths = set(_values(headers, "content-length")) if lengths else ()
        if lengths:
            if len(lengths) > 1 or not all(_length(v) is not None for v in lengths):
                shown = [v if len(v) <= 40 else f"{v[:20]}...({len(v)} characters)"
                         for v in sorted(lengths)]
                raise ProtocolError(f"invalid Content-Length {shown}",
                                    offset=msg["start"], field="content-length")
            return "length", _length(lengths.pop())
        return ("none", 0) if msg["kind"] == "request" else ("close", 0)

    def _response_without_body(self, msg: dict) -> str | None:
        status = msg["status"]
        if msg["interim"]:
            return "none"                    # the final response to the same request follows
        method = self._methods.popleft() if self._methods else None
        if status == 101 or (method == "CONNECT" and 200 <= status < 300):
            return "upgrade"
        if method == "HEAD" or status in (204, 304):
            return "none"
        return None

    def _upgrade(self, at: int) -> None:
        self.upgraded_at, self._state = at, _UPGRADED

    def _read_counted(self, data, pos: int, offset: int, out: list) -> int:
        take = min(self._remaining, len(data) - pos)
        self._count(take, offset + pos + take, out)
        return pos + take

    def _count(self, n: int, end: int, out: list) -> None:
        """``n`` bytes of a Content-Length body or of a chunk, ending at stream offset ``end``."""
        self._remaining -= n
        self._msg["body_bytes"] += n
        if self._remaining == 0:
            if self._state == _LENGTH:
                out.append(self._emit(end, complete=True))
                self._state = _HEAD
            else:
                self._state, self._cr_seen = _CHUNK_CRLF, False

    # ------------------------------------------------------------ chunked

    def _read_chunk_size(self, data, pos: int, offset: int) -> int:
        if not self._buf:
            if _c_chunks is not None:    # a streamed body's many whole chunks, in one C call
                _, stop, nbytes, _ = _c_chunks(data, pos, len(data), self.max_header_bytes,
                                               False)
                if stop > pos:
                    self._msg["body_bytes"] += nbytes
                    return stop
            self._buf_start = offset + pos
        room = self.max_header_bytes - len(self._buf)
        m = _LF.search(data, pos, min(len(data), pos + room))
        if m is None:
            if len(self._buf) + len(data) - pos >= self.max_header_bytes:
                raise ProtocolError("chunk-size line too long", offset=self._buf_start,
                                    field="chunk-size")
            self._buf += data[pos:]
            return len(data)
        line = (bytes(self._buf) + bytes(data[pos:m.start()])).rstrip(b"\r")
        self._buf.clear()
        size = line.split(b";", 1)[0].strip(b" \t")
        if not _CHUNK_SIZE.fullmatch(size):
            raise ProtocolError(f"bad chunk-size line {line[:40]!r}", offset=self._buf_start,
                                field="chunk-size")
        self._remaining = int(size, 16)
        if self._remaining:
            self._state = _CHUNK_DATA
        else:
            # The trailer section follows the last-chunk line; a virtual LF lets the block
            # search find an immediately empty trailer section (just CRLF) too.
            self._state, self._buf_start = _TRAILERS, offset + m.end() - 1
            self._buf += b"\n"
        return m.end()

    def _read_chunk_crlf(self, data, pos: int, offset: int) -> int:
        byte = data[pos]
        if byte == 13 and not self._cr_seen:
            self._cr_seen = True
        elif byte == 10:
            self._state = _CHUNK_SIZE_LINE
        else:
            raise ProtocolError("chunk data not followed by CRLF", offset=offset + pos,
                                field="chunk-data")
        return pos + 1

    def _read_trailers(self, data, pos: int, offset: int, out: list) -> int:
        block, pos = self._take_block(data, pos)
        if block is not None:
            self._buf.clear()
            lines, starts = _split_lines(block[1:], self._buf_start + 1)
            self._msg["trailers"] = _parse_fields(lines, starts)
            out.append(self._emit(self._buf_start + len(block), complete=True))
            self._state = _HEAD
        return pos

    def _emit(self, end: int, *, complete: bool) -> Http1Message:
        msg, self._msg = self._msg, None
        msg["end"], msg["complete"] = end, complete
        return _record(msg)


# ---------------------------------------------------------------- helpers (pure)

def _fields_of(kind, start, method, target, version, status, reason, interim) -> dict:
    """All the fields of an :class:`Http1Message`, those known from its start line set."""
    return {"kind": kind, "start": start, "head_end": None, "end": start, "method": method,
            "target": target, "version": version, "status": status, "reason": reason,
            "headers": (), "body_bytes": 0, "interim": interim, "complete": False,
            "trailers": ()}


def _record(fields: dict) -> Http1Message:
    """The :class:`Http1Message` of these (all of its) fields: the same object as
    ``Http1Message(**fields)`` at a quarter of the cost of the frozen dataclass's ``__init__``."""
    return from_fields(Http1Message, fields)


def _stopped(failed: ProtocolError) -> ProtocolError:
    """A fresh error for input after a failure (the first one's ``events`` are not repeated)."""
    exc = ProtocolError(f"parser stopped by an earlier error: {failed}")
    exc.offset, exc.field, exc.events = failed.offset, failed.field, []
    return exc


#: How many bytes of an unfinished first line :func:`_could_begin` looks at.
_BEGIN_PROBE = 64
#: A prefix of a request line: a method token, then maybe the target and the version.
_REQUEST_PREFIX = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+(?: [^ \r\n]*(?: [^\r\n]*)?)?")


def _could_begin(head: bytes, role: str) -> bool:
    """Whether ``head``, the first bytes of a message cut before the end of its first line, can
    be the start of a request line (client role) or a status line (server role).  Bytes that
    cannot (e.g. the extra tail of a retransmission that differs from the first copy) are no
    message: a row for them would be a phantom request."""
    if role == "server":
        return head[:5] == b"HTTP/"[:len(head[:5])]
    return _REQUEST_PREFIX.fullmatch(head) is not None


# Start lines repeat (one endpoint, one status): parsing each distinct one once is a free win.
@lru_cache(maxsize=4096)
def _request_line(line: bytes) -> tuple[str, str, str] | None:
    """(method, target, version) of a request line, or None if it is not one."""
    m = _REQUEST_LINE.fullmatch(line)
    if m is None or m.group(3) != b"1":
        return None
    return m.group(1).decode("ascii"), m.group(2).decode("latin-1"), _version(m, 3)


@lru_cache(maxsize=4096)
def _status_line(line: bytes) -> tuple[str, int, str] | None:
    """(version, status, reason) of a status line, or None if it is not one."""
    m = _STATUS_LINE.fullmatch(line)
    if m is None or m.group(1) != b"1":
        return None
    return _version(m, 1), int(m.group(3)), (m.group(4) or b"").decode("latin-1")


def _length(value: str) -> int | None:
    """A Content-Length value: ASCII digits, at most 18 (below 2**63), else None."""
    return ascii_int(value, LENGTH_DIGITS)


def _version(m: re.Match, group: int) -> str:
    return f"HTTP/{m.group(group).decode()}.{m.group(group + 1).decode()}"


def _plain_head(block: bytes) -> tuple[bytes, tuple] | None:
    """(start line, header fields) of a head whose lines all end in CRLF, with no NUL, bare CR,
    obs-fold or malformed field line; None for anything else (:func:`_parse_fields` then parses
    it line by line and names the offset of the problem).

    The fast path: whole-block checks, one decode and cached field lines instead of per-line
    work, because per-line parsing was most of the cost of reading REST captures.
    """
    if not block.endswith(b"\r\n\r\n"):
        return None
    plain = _plain_lines(block[:-2].decode("latin-1"))
    return None if plain is None else (plain[0].encode("latin-1"), plain[1])


def _split_plain_head(data, pos: int, endpos: int) -> tuple[int, bytes, tuple] | None:
    """(index one past the head's CRLF CRLF, start line, header fields) of the plain head (see
    :func:`_plain_head`) that starts at ``pos`` of ``data`` and ends before ``endpos``; None if
    there is none (no end of head there, or not plain)."""
    m = _HEAD_END.search(data, pos, endpos)
    if m is None:
        return None
    head_end = m.end()
    plain = _plain_lines(str(data[pos:head_end - 2], "latin-1"))
    if plain is None:
        return None
    return head_end, plain[0].encode("latin-1"), plain[1]


#: :func:`_split_plain_head`, in C where the extension was built (a third of the time of
#: reading a REST capture went to splitting heads in Python).
split_head = _c_head or _split_plain_head


def plain_framing(first: bytes, headers: tuple, client: bool,
                  asked: str | None) -> tuple[tuple, int] | None:
    """``(start-line fields, body bytes)`` of a message that can be read in one go, from its
    start line ``first`` and fields (as :data:`split_head` gives them): a request other than
    CONNECT, or a final response to neither HEAD nor CONNECT (``asked``: the method of the
    request it answers, None if unknown); framed by one Content-Length, or without a body (a
    request without one, a 204 or 304); no Transfer-Encoding, no Upgrade.  None for anything
    else, which the parser's general path reads (same rules, and it names any error).
    Start-line fields: ``(method, target, version)`` or ``(version, status, reason)``."""
    parsed = (_request_line if client else _status_line)(first)
    if parsed is None:
        return None
    length = seen = 0
    for name, value in headers:
        if name == "content-length":
            length = _length(value)
            if seen or length is None:
                return None
            seen = 1
        elif name == "transfer-encoding" or name == "upgrade":
            return None
    if client:
        return None if parsed[0] == "CONNECT" else (parsed, length)
    status = parsed[1]
    if status < 200 or asked == "HEAD" or asked == "CONNECT":
        return None
    if status == 204 or status == 304:
        return parsed, 0
    return (parsed, length) if seen else None      # no length: delimited by the close


def chunked_framing(first: bytes, headers: tuple, asked: str | None) -> tuple | None:
    """The status-line fields ``(version, status, reason)`` of a final response whose body is
    chunked and can be read without the parser's general path: one Transfer-Encoding field,
    ``chunked``, no Content-Length and no Upgrade, a status of 200 or more other than 204 and
    304, answering neither HEAD nor CONNECT (``asked``, as for :func:`plain_framing`).  None
    for anything else (the general path reads it, by the same rules)."""
    parsed = _status_line(first)
    if parsed is None or parsed[1] < 200 or parsed[1] in (204, 304) or asked in ("HEAD",
                                                                                 "CONNECT"):
        return None
    coding = None
    for name, value in headers:
        if name == "transfer-encoding":
            if coding is not None:
                return None
            coding = value
        elif name == "content-length" or name == "upgrade":
            return None
    return parsed if coding is not None and coding.lower() == "chunked" else None


def whole_chunked_body(data, pos: int, end: int) -> tuple[int, int] | None:
    """``(end of the body, data bytes)`` of the chunked body beginning at ``pos`` of ``data``
    (before ``end``) when it is whole chunks read in C (as the parser reads them, size lines
    of at most :data:`MAX_HEADER_BYTES`), then the last chunk ``0`` with no extension and no
    trailer (``0`` CRLF CRLF); None for anything else, or without the C walk."""
    if _c_chunks is None:
        return None
    _, stop, nbytes, _ = _c_chunks(data, pos, end, MAX_HEADER_BYTES, False)
    if stop + 5 > end or data[stop:stop + 5] != b"0\r\n\r\n":
        return None
    return stop + 5, nbytes


def header_value(headers: tuple, name: str) -> str | None:
    """The value of field ``name`` (lower-case) in ``headers``, several occurrences joined by
    ", "; None if absent."""
    found = None
    for key, value in headers:
        if key == name:
            found = value if found is None else f"{found}, {value}"
    return found


def _plain_lines(text: str) -> tuple[str, tuple] | None:
    """(start line, header fields) of the lines of ``text``, each ended by CRLF, when they are
    plain (see :func:`_plain_head`), else None."""
    lines = text.split("\r\n")
    ends = len(lines) - 1
    if text.count("\r") != ends or text.count("\n") != ends or "\x00" in text:
        return None                          # a bare CR or LF, or a NUL
    fields = tuple(map(_field_line, lines[1:-1]))
    return (lines[0], fields) if all(fields) else None


# Most field lines repeat from message to message (Host, Content-Type, Connection, ...).
@lru_cache(maxsize=4096)
def _field_line(line: str) -> tuple[str, str] | None:
    """``(name lower-cased, value)`` of a ``name:value`` line, or None if it is not one (no
    colon, or a name that is not a token: empty, obs-fold, spaces before the colon)."""
    name, sep, value = line.partition(":")
    if not sep or _FIELD_NAME_TEXT.fullmatch(name) is None:
        return None
    return name.lower(), value.strip(" \t")


def _split_lines(block: bytes, start: int) -> tuple[list[bytes], list[int]]:
    """Lines of a head/trailer block without line ends or the final empty line, with the
    stream offset of each line's first byte."""
    lines, starts, at = [], [], start
    for raw in block.split(b"\n")[:-2]:
        lines.append(raw[:-1] if raw.endswith(b"\r") else raw)
        starts.append(at)
        at += len(raw) + 1
    return lines, starts


def _parse_fields(lines: list[bytes], starts: list[int]) -> tuple:
    """Parse ``name: value`` lines (names lower-cased, obs-fold joined with one space)."""
    fields: list[list[str]] = []
    for line, at in zip(lines, starts):
        if b"\r" in line or b"\x00" in line:
            raise ProtocolError("bare CR or NUL in a header line", offset=at, field="header")
        if line[:1] in (b" ", b"\t"):
            if not fields:
                raise ProtocolError("continuation line before any header", offset=at,
                                    field="header")
            folded = line.strip(b" \t").decode("latin-1")
            fields[-1][1] = f"{fields[-1][1]} {folded}".strip()
            continue
        name, sep, value = line.partition(b":")
        if not sep or not _FIELD_NAME.fullmatch(name):
            raise ProtocolError(f"malformed header line {line[:60]!r}", offset=at,
                                field="header")
        fields.append([name.decode("ascii").lower(), value.strip(b" \t").decode("latin-1")])
    return tuple((name, value) for name, value in fields)


def _values(headers: tuple, name: str) -> list[str]:
    """All comma-separated elements of a (possibly repeated) field, stripped, empties dropped."""
    return [part.strip() for key, value in headers if key == name
            for part in value.split(",") if part.strip()]
