"""Hand-built capture bytes for the reader tests (struct.pack, no scapy): the variants scapy
cannot write (ns magic, big-endian, several sections, SPB/ISB, odd link types, ...)."""
from __future__ import annotations

import ipaddress
import struct

# ---- packet headers ------------------------------------------------------------------------


def tcp(sport=1000, dport=80, seq=1, ack=0, flags=0x18, window=512, options=b"", payload=b"",
        ns=False) -> bytes:
    """A TCP header (+ options padded to 4 bytes) + payload; checksum left 0."""
    options += b"\x00" * (-len(options) % 4)
    doff = (20 + len(options)) // 4
    return struct.pack(">HHIIBBHHH", sport, dport, seq, ack, (doff << 4) | int(ns),
                       flags & 0xFF, window, 0, 0) + options + payload


def ipv4(src="10.0.0.1", dst="10.0.0.2", body=b"", proto=6, ident=7, options=b"", frag=0,
         total_len=None) -> bytes:
    """An IPv4 header (+ options) + body; ``frag`` is the flags/fragment-offset field."""
    options += b"\x00" * (-len(options) % 4)
    ihl = (20 + len(options)) // 4
    length = 20 + len(options) + len(body) if total_len is None else total_len
    return struct.pack(">BBHHHBBH4s4s", 0x40 | ihl, 0, length, ident, frag, 64, proto, 0,
                       ipaddress.IPv4Address(src).packed,
                       ipaddress.IPv4Address(dst).packed) + options + body


def ipv6(src="2001:db8::1", dst="2001:db8::2", body=b"", nh=6, ext=b"", payload_len=None):
    """An IPv6 header + pre-built extension headers ``ext`` + body; ``nh`` = first next header."""
    length = len(ext) + len(body) if payload_len is None else payload_len
    return struct.pack(">IHBB16s16s", 0x60000000, length, nh, 64,
                       ipaddress.IPv6Address(src).packed,
                       ipaddress.IPv6Address(dst).packed) + ext + body


def ext_header(nh: int, length_units: int = 0) -> bytes:
    """A hop-by-hop / routing / destination-options header of (length_units + 1) * 8 bytes."""
    return bytes([nh, length_units]) + b"\x01" * (6 + 8 * length_units)


def ethernet(body: bytes, ethertype=0x0800, vlans=()) -> bytes:
    """Ethernet II; ``vlans``: (tpid, vid) tags, outermost first."""
    tags = b"".join(struct.pack(">HH", tpid, vid) for tpid, vid in vlans)
    return b"\x02" * 6 + b"\x04" * 6 + _tagged(tags, ethertype) + body


def _tagged(tags: bytes, ethertype: int) -> bytes:
    # the first tag's TPID takes the place of the EtherType; each tag ends with the next one
    if not tags:
        return struct.pack(">H", ethertype)
    pairs = [tags[i:i + 4] for i in range(0, len(tags), 4)]
    out = pairs[0][:2]
    for i, pair in enumerate(pairs):
        nxt = pairs[i + 1][:2] if i + 1 < len(pairs) else struct.pack(">H", ethertype)
        out += pair[2:4] + nxt
    return out


def sll(body: bytes, proto=0x0800) -> bytes:
    """Linux cooked header v1 (16 bytes)."""
    return struct.pack(">HHH8sH", 0, 772, 6, b"\0" * 8, proto) + body


def sll2(body: bytes, proto=0x0800) -> bytes:
    """Linux cooked header v2 (20 bytes)."""
    return struct.pack(">HHIHBB8s", proto, 0, 1, 772, 0, 6, b"\0" * 8) + body


def null(body: bytes, family=2, order="<") -> bytes:
    """BSD loopback header: the address family as 4 bytes in ``order``."""
    return struct.pack(order + "I", family) + body


# ---- pcap -----------------------------------------------------------------------------------


def pcap(records, linktype=1, order="<", nano=False, snaplen=65535) -> bytes:
    """A classic pcap; ``records``: (ts_sec, ts_frac, data[, origlen])."""
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for rec in records:
        sec, frac, data = rec[:3]
        origlen = rec[3] if len(rec) > 3 else len(data)
        out.append(struct.pack(order + "IIII", sec, frac, len(data), origlen) + data)
    return b"".join(out)


# ---- pcapng ---------------------------------------------------------------------------------


def option(code: int, value: bytes, order="<") -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def block(btype: int, body: bytes, order="<") -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack(order + "II", btype, length) + body + struct.pack(order + "I", length)


def shb(order="<", options=b"") -> bytes:
    return block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1) + options, order)


def idb(linktype=1, snaplen=0, tsresol=None, tsoffset=None, name=None, order="<") -> bytes:
    opts = b""
    if name is not None:
        opts += option(2, name.encode(), order)
    if tsresol is not None:
        opts += option(9, bytes([tsresol]), order)
    if tsoffset is not None:
        opts += option(14, struct.pack(order + "q", tsoffset), order)
    if opts:
        opts += option(0, b"", order)
    return block(1, struct.pack(order + "HHI", linktype, 0, snaplen) + opts, order)


def epb(data: bytes, ticks: int, iface=0, origlen=None, order="<") -> bytes:
    origlen = len(data) if origlen is None else origlen
    return block(6, struct.pack(order + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF,
                                len(data), origlen) + data, order)


def spb(data: bytes, origlen=None, order="<") -> bytes:
    return block(3, struct.pack(order + "I", len(data) if origlen is None else origlen) + data,
                 order)


def isb(iface=0, ticks=0, counters=None, order="<") -> bytes:
    """``counters``: {option code: value}; 4 ifrecv, 5 ifdrop, 6 filteraccept, 7 osdrop."""
    opts = b"".join(option(c, struct.pack(order + "Q", v), order)
                    for c, v in (counters or {}).items())
    if opts:
        opts += option(0, b"", order)
    return block(5, struct.pack(order + "III", iface, ticks >> 32, ticks & 0xFFFFFFFF) + opts,
                 order)
