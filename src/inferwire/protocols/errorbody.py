"""The error message of a failed HTTP response's body (pure: bytes in, text out).

TF Serving's REST API, the Open Inference Protocol (KServe V2: Triton, KServe) and KServe's V1
answer a failed request with a JSON body ``{"error": "<message>"}``; other servers send text or
HTML.  :func:`error_message` gives the message of the first kind and the start of the body for the
others, so a per-request table can show why a request failed, read from the wire alone.
"""
from __future__ import annotations

import json

#: bytes of an error body read at most (a longer body's message is cut, and says so)
MAX_ERROR_BODY = 64 * 1024
#: characters of a non-JSON body shown
TEXT_CHARS = 200


def error_message(body: bytes, *, chunked: bool = False, cut: bool = False) -> str | None:
    """The ``error`` (or ``detail``, FastAPI's) of a JSON error body, else the body's first
    :data:`TEXT_CHARS` characters (None for an empty body).  ``chunked``: ``body`` still has its
    chunked transfer coding; ``cut``: ``body`` is only the start of a longer body."""
    if chunked:
        body = dechunk(body)
        if body is None:
            return None
    if not body.strip():
        return None
    if not cut:
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            doc = None
        if isinstance(doc, dict):
            for key in ("error", "detail"):
                if isinstance(doc.get(key), str):
                    return doc[key]
    text = body[:TEXT_CHARS * 4].decode("utf-8", "replace")
    return text[:TEXT_CHARS] + ("..." if cut or len(text) > TEXT_CHARS else "")


def dechunk(data: bytes) -> bytes | None:
    """The content of a chunked body (trailers dropped), or None if its framing is broken."""
    out, at = [], 0
    while True:
        line_end = data.find(b"\r\n", at)
        if line_end < 0:
            return None
        try:
            size = int(data[at:line_end].split(b";", 1)[0].strip(), 16)
        except ValueError:
            return None
        if size == 0:
            return b"".join(out)
        start = line_end + 2
        if start + size > len(data):
            return None
        out.append(data[start:start + size])
        at = start + size + 2
