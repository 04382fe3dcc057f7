"""The result of reading a capture: :class:`PacketTable` (TCP packets as numpy columns) and
:class:`CaptureStats` (what the file held besides them)."""
from __future__ import annotations

import dataclasses
import ipaddress
import mmap
from dataclasses import dataclass, field

import numpy as np

# An IPv4 address a.b.c.d is stored IPv4-mapped (::ffff:a.b.c.d): hi == 0, lo == V4_MAPPED | addr.
V4_MAPPED = 0x0000FFFF_00000000


def format_address(hi: int, lo: int) -> str:
    """The text form of a 128-bit address given as two uint64 halves: "1.2.3.4" or "2001:db8::1".

    IPv4-mapped addresses (hi == 0, lo == 0xffff_xxxxxxxx) print as dotted IPv4.
    """
    hi, lo = int(hi), int(lo)
    if hi == 0 and (lo >> 32) == 0xFFFF:
        return str(ipaddress.IPv4Address(lo & 0xFFFFFFFF))
    return str(ipaddress.IPv6Address((hi << 64) | lo))


@dataclass
class CaptureStats:
    """What one capture file held.

    Every packet record lands in exactly one of ``tcp_packets`` (rows of the table), ``non_tcp``,
    ``fragments``, ``header_cut`` or ``malformed``; ``truncated`` counts the TCP rows whose payload
    is cut by the snaplen.  ``interfaces``: one dict per interface (id, section, linktype, name,
    snaplen, tsresol in ticks per second, tsoffset_s).  ``drops``: interface id -> counters of the
    last Interface Statistics Block of that interface (None where the block lacks one).
    ``warnings``: one line each, naming the file and the byte offset.  ``comments``: the
    section header comments (pcapng ``opt_comment``), e.g. dumpcap's ``--capture-comment``.
    """
    path: str
    file_format: str                      # "pcap" | "pcapng"
    packets: int = 0                      # all packet records read
    tcp_packets: int = 0
    non_tcp: int = 0                      # not IP, or IP but not TCP, or an unsupported link type
    fragments: int = 0                    # IP fragments (skipped: not reassembled)
    truncated: int = 0                    # TCP rows whose payload is cut by snaplen
    interfaces: list[dict] = field(default_factory=list)
    drops: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    header_cut: int = 0                   # records whose link/IP/TCP headers are cut by snaplen
    malformed: int = 0                    # records with impossible headers or lengths (skipped)
    comments: list[str] = field(default_factory=list)   # pcapng section comments, file order


@dataclass
class PacketTable:
    """The TCP packets of one capture file as columns; row i = i-th TCP packet in file order.

    Times are int64 ns since the Unix epoch.  Payload bytes are never copied: row i's captured
    payload is ``buffer[payload_off[i] : payload_off[i] + captured_len[i]]`` (see :meth:`payload`).
    """
    path: str
    buffer: object            # bytes-like (the mmap of the file)
    frame: np.ndarray         # int64, 1-based record number in the file (== Wireshark frame.number)
    ts_ns: np.ndarray         # int64, capture time, ns since the Unix epoch (-1: record has none)
    iface: np.ndarray         # int32, interface id (index into stats.interfaces; 0 for pcap)
    ip_version: np.ndarray    # uint8, 4 or 6
    src_hi: np.ndarray        # uint64 halves of the 128-bit addresses; IPv4 stored IPv4-mapped
    src_lo: np.ndarray
    dst_hi: np.ndarray
    dst_lo: np.ndarray
    sport: np.ndarray         # int32
    dport: np.ndarray         # int32
    seq: np.ndarray           # int64, raw 32-bit sequence number
    ack: np.ndarray           # int64, raw 32-bit acknowledgement number
    flags: np.ndarray         # int32, FIN=0x01 SYN=0x02 RST=0x04 PSH=0x08 ACK=0x10 ... NS=0x100
    window: np.ndarray        # int32, raw window field (unscaled)
    ip_id: np.ndarray         # int32, IPv4 identification; -1 for IPv6
    payload_len: np.ndarray   # int32, TCP payload bytes on the wire (from the IP length fields)
    captured_len: np.ndarray  # int32, TCP payload bytes present in the file (<= payload_len)
    payload_off: np.ndarray   # int64, offset in `buffer` of the first captured payload byte
    stats: CaptureStats
    #: int32, a SYN's MSS, window scale and SACK-permitted options packed
    #: (inferwire.tcp.options.unpack_syn_options), -1 for other packets; None: not read (then
    #: they are read from the buffer when asked)
    syn_options: np.ndarray | None = None
    #: uint8, the TCP header's length in bytes (it begins at ``payload_off - tcp_hlen``); None:
    #: not read (then the analysis finds each header's start in the buffer)
    tcp_hlen: np.ndarray | None = None
    #: int64, the TCP timestamps option's TSval and TSecr (RFC 7323; raw 32-bit values), -1
    #: where the header has none; None: not read (then read from the buffer when asked)
    tsval: np.ndarray | None = None
    tsecr: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.frame)

    def take(self, rows: np.ndarray) -> "PacketTable":
        """The table of ``rows`` only (indices or a boolean mask, kept in the order given).

        Every per-row column is indexed; the buffer and the stats are shared with this table,
        so close this table, not the taken one."""
        n = len(self.frame)
        changes = {f.name: getattr(self, f.name)[rows] for f in dataclasses.fields(self)
                   if isinstance(getattr(self, f.name), np.ndarray)
                   and len(getattr(self, f.name)) == n}
        return dataclasses.replace(self, **changes)

    def payload(self, i: int) -> memoryview:
        """The captured TCP payload of row ``i`` (a view into the file, no copy)."""
        start = int(self.payload_off[i])
        return memoryview(self.buffer)[start:start + int(self.captured_len[i])]

    def address(self, hi: int, lo: int) -> str:
        """Text form of an address from its (hi, lo) columns; see :func:`format_address`."""
        return format_address(hi, lo)

    def release(self, end_offset: int | None = None, start: int = 0) -> None:
        """Drop the file's pages in ``[start, end_offset)`` (to the end if None) from this
        process's memory.

        Reading them again stays valid (the kernel pages them back in from the file); this only
        lets a consumer that walks the payloads in file order keep its resident memory bounded.
        """
        if isinstance(self.buffer, mmap.mmap) and not self.buffer.closed:
            release_pages(self.buffer, start,
                          len(self.buffer) if end_offset is None else end_offset)

    def close(self) -> None:
        """Release the mmap.  Views still held elsewhere keep it alive until they are dropped."""
        buf = self.buffer
        if isinstance(buf, mmap.mmap) and not buf.closed:
            try:
                buf.close()
            except BufferError:
                pass  # a payload view is still alive; the map is unmapped when it is collected

    def __enter__(self) -> "PacketTable":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def release_pages(buf: mmap.mmap, start: int, end: int) -> None:
    """madvise(DONTNEED) the whole pages of ``buf`` inside [start, end): best effort, no error."""
    page = mmap.PAGESIZE
    lo = -(-start // page) * page
    hi = min(end, len(buf)) // page * page
    if hi > lo and hasattr(buf, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
        try:
            buf.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
        except (OSError, ValueError):
            pass  # only a memory-use optimisation
