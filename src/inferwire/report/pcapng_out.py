"""Writing pcapng blocks (pure: values in, bytes out).

Only what the annotated export needs: a Section Header Block, an Interface Description Block, an
Enhanced Packet Block, and options (opt_comment among them).  Layouts follow
https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcapng/ (sections 4.1, 4.2, 4.3, 3.5).
"""
from __future__ import annotations

import struct

SHB_TYPE, IDB_TYPE, EPB_TYPE = 0x0A0D0D0A, 1, 6
OPT_ENDOFOPT, OPT_COMMENT = 0, 1
IF_TSRESOL = 9
BYTE_ORDER_MAGIC = 0x1A2B3C4D
MAX_OPTION_VALUE = 0xFFFF       # the option length field is 16 bits


def _pad(n: int) -> int:
    return (4 - n % 4) % 4


def option(code: int, value: bytes, order: str = "<") -> bytes:
    """One option: code, length, value padded to 32 bits.  Longer values are cut at 65535
    bytes (the length field's limit)."""
    value = value[:MAX_OPTION_VALUE]
    return struct.pack(order + "HH", code, len(value)) + value + b"\0" * _pad(len(value))


def options(pairs, order: str = "<") -> bytes:
    """Options from (code, value) pairs, ended by opt_endofopt; b"" when there are none."""
    body = b"".join(option(c, v, order) for c, v in pairs)
    return body + struct.pack(order + "HH", OPT_ENDOFOPT, 0) if body else b""


def comment(text: str, order: str = "<") -> bytes:
    """An opt_comment option holding ``text`` (UTF-8, as the spec requires)."""
    return option(OPT_COMMENT, text.encode("utf-8"), order)


def block(btype: int, body: bytes, order: str = "<") -> bytes:
    """A block: type, total length, body (padded), total length again."""
    body += b"\0" * _pad(len(body))
    total = len(body) + 12
    return struct.pack(order + "II", btype, total) + body + struct.pack(order + "I", total)


def shb(order: str = "<", opts=()) -> bytes:
    """A Section Header Block, version 1.0, section length unknown (-1)."""
    body = struct.pack(order + "IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + options(opts, order)
    return block(SHB_TYPE, body, order)


def idb(linktype: int, snaplen: int, tsresol: int | None = None, order: str = "<",
        opts=()) -> bytes:
    """An Interface Description Block; ``tsresol`` is the if_tsresol byte (6: µs, 9: ns)."""
    pairs = list(opts)
    if tsresol is not None:
        pairs.append((IF_TSRESOL, bytes([tsresol])))
    body = struct.pack(order + "HHI", linktype & 0xFFFF, 0, snaplen) + options(pairs, order)
    return block(IDB_TYPE, body, order)


def epb(iface: int, ticks: int, data: bytes, origlen: int, order: str = "<",
        option_bytes: bytes = b"") -> bytes:
    """An Enhanced Packet Block; ``ticks`` in the interface's time resolution; ``option_bytes``
    already encoded (see :func:`options`)."""
    head = struct.pack(order + "IIIII", iface, (ticks >> 32) & 0xFFFFFFFF, ticks & 0xFFFFFFFF,
                       len(data), origlen)
    return block(EPB_TYPE, head + data + b"\0" * _pad(len(data)) + option_bytes, order)
