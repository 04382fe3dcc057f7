"""Numbers read from header text, bounded: a header value is input, not a promise.

``str.isdigit`` accepts non-ASCII digits (``"٣".isdigit()`` is True and ``int("٣")`` is 3) and
``int`` accepts any length (up to Python's 4,300-digit limit, past which it raises ValueError;
past 2**63 a value no longer fits a table's int64 column).  Every protocol number the parsers
read from text goes through :func:`ascii_int`.
"""
from __future__ import annotations

from functools import lru_cache

# RFC 9110 section 15: status-code = 3DIGIT
STATUS_DIGITS = 3
# gRPC status codes are 32-bit (0..16 defined); 10 digits hold any uint32
GRPC_STATUS_DIGITS = 10
# 18 decimal digits stay below 2**63 (a Content-Length that large is no real message)
LENGTH_DIGITS = 18


@lru_cache(maxsize=4096)       # pure; a capture repeats few values ("200", "0") many times
def ascii_int(text: str | None, max_digits: int) -> int | None:
    """The value of ``text`` if it is 1..``max_digits`` ASCII digits (surrounding spaces and
    tabs allowed), else None."""
    if text is None:
        return None
    text = text.strip(" \t")
    if not (0 < len(text) <= max_digits and text.isascii() and text.isdigit()):
        return None
    return int(text)
