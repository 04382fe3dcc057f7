"""Interface statistics (drop counters) of a finished pcapng file.

dumpcap and tshark close every pcapng file with one Interface Statistics Block (ISB) per interface,
carrying ``isb_ifrecv`` (packets the interface received), ``isb_ifdrop`` (dropped by the interface
or kernel buffer) and ``isb_osdrop`` (dropped by the operating system).  They are found by walking
blocks backwards from the end of the file (pcapng repeats each block's length after it), so a large
capture is not read whole.  Pcap files (tcpdump) have no such block: their drops come from the
tool's report on stderr.
"""
from __future__ import annotations

import os
import struct

PCAPNG_SHB = 0x0A0D0D0A
BYTE_ORDER_MAGIC = 0x1A2B3C4D
ISB = 5
OPTION_NAMES = {4: "ifrecv", 5: "ifdrop", 7: "osdrop"}


def _options(body: bytes, start: int, endian: str) -> dict[str, int]:
    """The 64-bit counter options of an ISB body, from byte ``start``, by name."""
    found, pos = {}, start
    while pos + 4 <= len(body):
        code, length = struct.unpack_from(endian + "HH", body, pos)
        if code == 0:
            break
        if code in OPTION_NAMES and length == 8 and pos + 12 <= len(body):
            found[OPTION_NAMES[code]] = struct.unpack_from(endian + "Q", body, pos + 4)[0]
        pos += 4 + ((length + 3) & ~3)
    return found


def interface_statistics(path: str | os.PathLike) -> list[dict[str, int]]:
    """The counters of the last ISB of each interface, by interface id order; [] if none.

    Each dict holds those of ``ifrecv``, ``ifdrop``, ``osdrop`` the file carries.  A pcap file,
    a pcapng file without ISBs, or a damaged tail all give [].
    """
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or struct.unpack_from("<I", head)[0] != PCAPNG_SHB:
            return []
        endian = "<" if struct.unpack_from("<I", head, 8)[0] == BYTE_ORDER_MAGIC else ">"
        end, stats = f.seek(0, os.SEEK_END), {}
        while end >= 12 + 28:
            f.seek(end - 4)
            length = struct.unpack(endian + "I", f.read(4))[0]
            if length < 28 or length > end - 12 or length % 4:
                break
            f.seek(end - length)
            block = f.read(length)
            btype, first_length = struct.unpack_from(endian + "II", block)
            if btype != ISB or first_length != length:
                break
            iface = struct.unpack_from(endian + "I", block, 8)[0]
            stats.setdefault(iface, _options(block[8:-4], 12, endian))
            end -= length
    return [stats[i] for i in sorted(stats)]
