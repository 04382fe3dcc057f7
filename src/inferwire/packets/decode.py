"""IPv4, IPv6 and TCP headers, decoded vectorised for a chunk of records.

Each record ends in one class (see :data:`TCP` ...): a TCP row of the table, or a reason it is
not one.  IP fragments are not reassembled.  IPv6 extension headers (hop-by-hop, routing,
destination options, fragment, AH) take a per-record Python path: rare on the traffic we read.

When the ``inferwire.packets._headers`` extension is built, :func:`decode` runs it instead: the
same rules in one C pass over the records (a record's headers read once, while in cache), the
numpy code here being its readable reference and its fallback (same classes and columns: the
differential tests hold them to it).
"""
from __future__ import annotations

import numpy as np

from .linktypes import ETHERTYPE_IPV4, ETHERTYPE_IPV6
from .records import gather_rows, words
from ..tcp.options import header_timestamps, packed_syn_options
from .table import V4_MAPPED

try:
    from ._headers import tcp_headers as _c_tcp_headers
except ImportError:      # no C compiler at install: the numpy decode below (same results)
    _c_tcp_headers = None

# Record classes: every record gets exactly one.
TCP, NON_TCP, FRAGMENT, HEADER_CUT, MALFORMED = 0, 1, 2, 3, 4
IPPROTO_TCP = 6
IPV6_EXTENSIONS = (0, 43, 60, 44, 51)   # hop-by-hop, routing, dest opts, fragment, AH
MAX_EXTENSIONS = 16


class Headers:
    """Per-record IP results of one chunk (arrays of the chunk's length)."""

    def __init__(self, n: int):
        self.cls = np.full(n, NON_TCP, dtype=np.int8)
        self.tcp_off = np.zeros(n, dtype=np.int64)   # offset of the TCP header
        self.ip_end = np.zeros(n, dtype=np.int64)    # offset just past the IP packet (on the wire)
        self.ip_id = np.full(n, -1, dtype=np.int64)
        self.version = np.zeros(n, dtype=np.uint8)
        self.addr = np.zeros((n, 4), dtype=np.uint64)   # src_hi, src_lo, dst_hi, dst_lo


def decode(u8: np.ndarray, data_off: np.ndarray, caplen: np.ndarray, origlen: np.ndarray,
           net: np.ndarray, etype: np.ndarray, link_cut: np.ndarray, use_c: bool = True):
    """Classify records and decode their IP/TCP headers.

    ``data_off``/``caplen``/``origlen``: where each record's bytes start, how many are in the
    file, how many were on the wire; ``net``/``etype``/``link_cut``: from
    :func:`linktypes.locate_network`.  Returns (class per record, dict of TCP columns for the
    records of class TCP, in order).  In C when built (``use_c`` False: numpy; the same).
    """
    if _c_tcp_headers is not None and use_c:
        return _decode_c(u8, data_off, caplen, origlen, net, etype, link_cut)
    end = data_off + caplen                  # first byte not in the file
    wire_end = data_off + origlen            # first byte not on the wire
    h = Headers(len(data_off))
    h.cls[link_cut] = HEADER_CUT
    _ipv4(u8, np.flatnonzero((etype == ETHERTYPE_IPV4) & ~link_cut), net, end, wire_end, h)
    _ipv6(u8, np.flatnonzero((etype == ETHERTYPE_IPV6) & ~link_cut), net, end, wire_end, h)
    return h.cls, _tcp(u8, h, end)


#: The C decode's TCP columns, in its output order (after the class per record), and dtypes.
_C_COLUMNS = (("ip_version", np.uint8), ("src_hi", np.uint64), ("src_lo", np.uint64),
              ("dst_hi", np.uint64), ("dst_lo", np.uint64), ("sport", np.int32),
              ("dport", np.int32), ("seq", np.int64), ("ack", np.int64), ("flags", np.int32),
              ("window", np.int32), ("ip_id", np.int32), ("payload_len", np.int32),
              ("captured_len", np.int32), ("payload_off", np.int64), ("tcp_off", np.int64),
              ("tsval", np.int64), ("tsecr", np.int64))


def _decode_c(u8, data_off, caplen, origlen, net, etype, link_cut):
    """:func:`decode` by ``_headers.tcp_headers``: arrays made here, filled there."""
    n = len(data_off)
    ins = tuple(np.ascontiguousarray(c, dtype=np.int64)
                for c in (data_off, caplen, origlen, net, etype))
    ins += (np.ascontiguousarray(link_cut, dtype=np.bool_),)
    cls = np.empty(n, dtype=np.int8)
    outs = [np.empty(n, dtype=dtype) for _, dtype in _C_COLUMNS]
    k = _c_tcp_headers(u8, ins, (cls, *outs))
    cols = {name: out[:k] for (name, _), out in zip(_C_COLUMNS, outs)}
    at = cols.pop("tcp_off")
    doff = cols["payload_off"] - at
    # read here, while the headers' pages are in hand: the analysis would fault them in again
    cols["syn_options"] = packed_syn_options(u8, at, doff, cols["flags"] & 0xFF)
    cols["tcp_hlen"] = doff.astype(np.uint8)
    return cls, cols


def _ipv4(u8, rows, net, end, wire_end, h: Headers) -> None:
    at = net[rows]
    hdr = gather_rows(u8, at, 20)
    ihl = (hdr[:, 0] & 0x0F).astype(np.int64) * 4
    total_len, ip_id, frag = words(hdr[:, 2:8], ">u2").T
    cut = (end[rows] - at < 20) | (end[rows] - at < ihl)
    # A total length of 0 is what segmentation offload leaves in captures: use the wire length.
    ip_len = np.where(total_len == 0, wire_end[rows] - at, total_len)
    bad = ((hdr[:, 0] >> 4) != 4) | (ihl < 20) | (ip_len < ihl)
    fragment = (frag & 0x3FFF) != 0        # more-fragments flag or a fragment offset
    _classify(h, rows, cut, bad, fragment, hdr[:, 9] == IPPROTO_TCP)
    h.tcp_off[rows] = at + ihl
    h.ip_end[rows] = at + ip_len
    h.ip_id[rows] = ip_id
    h.version[rows] = 4
    src_dst = words(hdr[:, 12:20], ">u4", np.uint64) | np.uint64(V4_MAPPED)
    h.addr[rows, 1], h.addr[rows, 3] = src_dst[:, 0], src_dst[:, 1]


def _ipv6(u8, rows, net, end, wire_end, h: Headers) -> None:
    at = net[rows]
    hdr = gather_rows(u8, at, 40)
    payload_len = words(hdr[:, 4:6], ">u2")[:, 0]
    next_header = hdr[:, 6].astype(np.int64)
    tcp_off = at + 40
    cut = end[rows] - at < 40
    bad = (hdr[:, 0] >> 4) != 6
    fragment = np.zeros(len(rows), dtype=bool)
    for i in np.flatnonzero(np.isin(next_header, IPV6_EXTENSIONS) & ~cut & ~bad):
        next_header[i], tcp_off[i], fragment[i], cut[i], bad[i] = _ipv6_extensions(
            u8, int(tcp_off[i]), int(end[rows[i]]), int(next_header[i]))
    # Payload length 0: a jumbogram or segmentation offload (BIG TCP); use the wire length.
    ip_end = np.where(payload_len == 0, wire_end[rows], at + 40 + payload_len)
    bad |= ip_end < tcp_off
    _classify(h, rows, cut, bad, fragment, next_header == IPPROTO_TCP)
    h.tcp_off[rows] = tcp_off
    h.ip_end[rows] = ip_end
    h.version[rows] = 6
    h.addr[rows] = words(hdr[:, 8:40], ">u8", np.uint64)


def _ipv6_extensions(u8, off: int, end: int, nh: int) -> tuple:
    """Walk IPv6 extension headers from ``off``: (next header, its offset, fragment, cut, bad)."""
    for _ in range(MAX_EXTENSIONS):
        if nh not in IPV6_EXTENSIONS:
            return nh, off, False, False, False
        if off + 8 > end:
            return nh, off, False, True, False
        if nh == 44:
            frag = (int(u8[off + 2]) << 8) | int(u8[off + 3])
            if frag & 0xFFF9:                # offset or more-fragments: a real fragment
                return nh, off, True, False, False
            nh, off = int(u8[off]), off + 8
        elif nh == 51:                       # AH counts its length in 4-byte units, minus 2
            nh, off = int(u8[off]), off + (int(u8[off + 1]) + 2) * 4
        else:
            nh, off = int(u8[off]), off + (int(u8[off + 1]) + 1) * 8
    return nh, off, False, False, True


def _classify(h: Headers, rows, cut, bad, fragment, is_tcp) -> None:
    """Set the class of IP records: cut, then malformed, fragment, TCP, else non-TCP."""
    h.cls[rows] = np.select([cut, bad, fragment, is_tcp],
                            [HEADER_CUT, MALFORMED, FRAGMENT, TCP], NON_TCP)


def _tcp(u8, h: Headers, end) -> dict[str, np.ndarray]:
    """Decode the TCP headers of the records still of class TCP; demote cut or bad ones."""
    rows = np.flatnonzero(h.cls == TCP)
    at = h.tcp_off[rows]
    hdr = gather_rows(u8, at, 20)
    sport, dport = words(hdr[:, 0:4], ">u2").T
    seq, ack = words(hdr[:, 4:12], ">u4").T
    doff = (hdr[:, 12] >> 4).astype(np.int64) * 4
    cut = (end[rows] - at < 20) | (end[rows] - at < doff)
    bad = ~cut & ((doff < 20) | (h.ip_end[rows] < at + doff))
    h.cls[rows[cut]] = HEADER_CUT
    h.cls[rows[bad]] = MALFORMED
    keep = ~cut & ~bad
    rows, at, doff = rows[keep], at[keep], doff[keep]
    payload_off = at + doff
    payload_len = h.ip_end[rows] - payload_off
    tsval, tsecr = header_timestamps(u8, at, payload_off)
    return {
        "ip_version": h.version[rows],
        "src_hi": h.addr[rows, 0], "src_lo": h.addr[rows, 1],
        "dst_hi": h.addr[rows, 2], "dst_lo": h.addr[rows, 3],
        "sport": sport[keep].astype(np.int32), "dport": dport[keep].astype(np.int32),
        "seq": seq[keep], "ack": ack[keep],
        "flags": (((hdr[keep, 12] & 1).astype(np.int32) << 8) | hdr[keep, 13]).astype(np.int32),
        "window": words(hdr[keep, 14:16], ">u2")[:, 0].astype(np.int32),
        "ip_id": h.ip_id[rows].astype(np.int32),
        "payload_len": payload_len.astype(np.int32),
        "captured_len": np.clip(end[rows] - payload_off, 0, payload_len).astype(np.int32),
        "payload_off": payload_off,
        # read here, while the headers' pages are in hand: the analysis would fault them in again
        "syn_options": packed_syn_options(u8, at, doff, hdr[keep, 13]),
        "tcp_hlen": doff.astype(np.uint8), "tsval": tsval, "tsecr": tsecr,
    }
