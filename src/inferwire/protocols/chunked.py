"""HTTP/1.1 chunked transfer coding (RFC 9112 section 7.1), read for the spans of each chunk.

:func:`chunk_spans` walks a whole chunked body (its bytes, with the stream offset of its first
byte) and says where each chunk and its data lie.  The HTTP/1.1 parser already checked the framing
of the responses it reported; this second walk runs only over streamed responses (see
:mod:`inferwire.exchanges.messages`).
"""
from __future__ import annotations

from typing import NamedTuple


class Chunk(NamedTuple):
    """One chunk with data: stream offsets of its size line's first byte (``start``), of its data
    (``data_start``, ``data_end`` exclusive); ``complete`` False when the body was cut inside it."""
    start: int
    data_start: int
    data_end: int
    complete: bool


def chunk_spans(body: bytes, offset: int) -> tuple[list[Chunk], bool]:
    """The chunks of ``body`` (a chunked body from its first size line; ``offset``: the stream
    offset of ``body[0]``) and whether the last chunk (size 0) was reached.  Stops at the first
    malformed size line (the parser names that error)."""
    chunks: list[Chunk] = []
    pos, n = 0, len(body)
    while pos < n:
        eol = body.find(b"\n", pos)
        if eol < 0:
            break
        size_text = body[pos:eol].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            break
        if size == 0:
            return chunks, True
        data_start = eol + 1
        data_end = data_start + size
        chunks.append(Chunk(offset + pos, offset + data_start, offset + min(data_end, n),
                            data_end <= n))
        pos = data_end + 2                   # the CRLF after the data
    return chunks, False
