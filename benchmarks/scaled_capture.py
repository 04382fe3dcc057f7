"""A capture K times the size of another, for measuring how memory grows with the capture.

    .venv/bin/python benchmarks/scaled_capture.py IN.pcapng OUT.pcapng K

The copies follow each other in time (each shifted by the span of the input plus one second) and
copy k's IPv4 addresses are rewritten to 127.k.0.1 / 10.k.x.y style (second octet = k), so every
copy's connections are distinct 4-tuples: the result holds K times the connections, requests and
packets of the input, not duplicates.  IP checksums are not recomputed (inferwire does not check
them).  Only pcapng with Ethernet, raw-IP or Linux cooked (v1/v2) interfaces and IPv4 traffic is
rewritten; other packets are copied unchanged.  The output is written 0600 (it holds payloads).
"""
from __future__ import annotations

import os
import struct
import sys

EPB, IDB, SHB = 6, 1, 0x0A0D0D0A
IP_OFFSET = {1: 14, 101: 0, 228: 0, 113: 16, 276: 20}     # link type -> IPv4 header offset


def blocks(data: bytes):
    """(type, block bytes) of a little-endian pcapng file."""
    off = 0
    while off + 8 <= len(data):
        btype, blen = struct.unpack_from("<II", data, off)
        if blen < 12 or off + blen > len(data):
            break
        yield btype, data[off:off + blen]
        off += blen


def scale(src: str, dst: str, k: int) -> None:
    data = open(src, "rb").read()
    if data[8:12] != b"\x4d\x3c\x2b\x1a":
        raise SystemExit(f"{src}: only little-endian pcapng is supported here")
    head, packets, linktypes, first, last = [], [], [], None, None
    for btype, blk in blocks(data):
        if btype == EPB:
            ts = struct.unpack_from("<II", blk, 12)
            t = (ts[0] << 32) | ts[1]
            first = t if first is None else min(first, t)
            last = t if last is None else max(last, t)
            packets.append(blk)
        elif btype in (SHB, IDB) and not packets:
            head.append(blk)
            if btype == IDB:
                linktypes.append(struct.unpack_from("<H", blk, 8)[0])
    span = (last - first) + 1_000_000 if first is not None else 0   # ticks (µs by default)
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(b"".join(head))
        for copy in range(k):
            for blk in packets:
                b = bytearray(blk)
                iface = struct.unpack_from("<I", b, 8)[0]
                ts = struct.unpack_from("<II", b, 12)
                t = ((ts[0] << 32) | ts[1]) + copy * span
                struct.pack_into("<II", b, 12, t >> 32, t & 0xFFFFFFFF)
                at = IP_OFFSET.get(linktypes[iface] if iface < len(linktypes) else -1)
                ip = 28 + (at or 0)
                if copy and at is not None and len(b) >= ip + 20 and b[ip] >> 4 == 4:
                    b[ip + 13] = b[ip + 17] = copy % 256          # second octet of src, dst
                out.write(b)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    scale(sys.argv[1], sys.argv[2], int(sys.argv[3]))
