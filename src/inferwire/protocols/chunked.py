"""HTTP/1.1 chunked transfer coding (RFC 9112 section 7.1), read for the spans of each chunk.

:func:`chunk_spans` walks a whole chunked body (its bytes, with the stream offset of its first
byte) and says where each chunk and its data lie.  The HTTP/1.1 parser already checked the framing
of the responses it reported; this second walk runs only over streamed responses (see
:mod:`inferwire.exchanges.messages`).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

try:              # the whole chunks walked in C (_chunks.c); chunk_spans is the Python reading
    from ._chunks import walk as _c_walk
except ImportError:
    _c_walk = None

#: Longest chunk-size line the C walk reads (bytes, LF included); a longer one (an extension of
#: many KiB) is left to :func:`chunk_spans`.
MAX_LINE = 64 << 10


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
        # the CRLF after the data (a lone LF, as the parser allows: RFC 9112 section 2.2)
        pos = data_end + (1 if body[data_end:data_end + 1] == b"\n" else 2)
    return chunks, False


class ChunkColumns(NamedTuple):
    """:func:`chunk_spans` as int64 arrays (stream offsets; ``complete`` bool), whether the
    last chunk was reached, and the chunks' data joined when asked for (else None)."""
    starts: np.ndarray
    data_starts: np.ndarray
    data_ends: np.ndarray
    complete: np.ndarray
    finished: bool
    decoded: bytes | None


def chunk_columns(body: bytes, offset: int, decode: bool = False,
                  use_c: bool = True) -> ChunkColumns:
    """:func:`chunk_spans` of ``body`` as columns (and the decoded data when ``decode``): the
    whole plain chunks walked in C (``use_c`` and the extension built), the rest (the last
    chunk, a cut or unusual one) by :func:`chunk_spans`.  Same chunks either way."""
    triples, stop, decoded = np.zeros((0, 3), np.int64), 0, b""
    if use_c and _c_walk is not None:
        packed, stop, _, decoded = _c_walk(body, 0, len(body), MAX_LINE, decode)
        triples = np.frombuffer(packed, np.int64).reshape(-1, 3) + offset
    rest, finished = chunk_spans(body[stop:] if stop else body, offset + stop)
    if rest:
        more = np.array([c[:3] for c in rest], np.int64)
        triples = np.concatenate([triples, more]) if len(triples) else more
        if decode:
            decoded = (decoded or b"") + b"".join(
                body[c.data_start - offset:c.data_end - offset] for c in rest)
    complete = np.ones(len(triples), bool)
    if rest and not rest[-1].complete:
        complete[-1] = False
    return ChunkColumns(triples[:, 0], triples[:, 1], triples[:, 2], complete, finished,
                        decoded if decode else None)
