"""read_packets: a capture file (pcap or pcapng) -> one PacketTable of its TCP packets.

The file is memory-mapped; a format module walks the record headers, then link, IP and TCP
headers are decoded vectorised one chunk of records at a time.  Pages already decoded are
dropped from this process's memory as the walk goes, so resident memory stays bounded by the
columns, not by the file.
"""
from __future__ import annotations

import mmap
import os
import warnings
from typing import Iterator

import numpy as np

from ..errors import CaptureFormatError, InferwireWarning
from ..files import not_regular
from . import decode, guard, linktypes, pcap, pcapng
from .records import RecordChunk
from .table import CaptureStats, PacketTable, release_pages

COLUMNS = {   # column -> dtype, in PacketTable order
    "frame": np.int64, "ts_ns": np.int64, "iface": np.int32, "ip_version": np.uint8,
    "src_hi": np.uint64, "src_lo": np.uint64, "dst_hi": np.uint64, "dst_lo": np.uint64,
    "sport": np.int32, "dport": np.int32, "seq": np.int64, "ack": np.int64, "flags": np.int32,
    "window": np.int32, "ip_id": np.int32, "payload_len": np.int32, "captured_len": np.int32,
    "payload_off": np.int64, "syn_options": np.int32,
}
COMPRESSED = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd", b"\x04\x22\x4d\x18": "lz4",
              b"BZh": "bzip2", b"\xfd7zXZ": "xz"}


def read_packets(path: str | os.PathLike) -> PacketTable:
    """Read every TCP packet of a pcap or pcapng file into a :class:`PacketTable`.

    Raises CaptureFormatError (naming the file, offset and field) for a file that is not a
    readable capture.  Oddities after the start (a file cut mid-record, corrupt blocks, packets
    whose headers are cut by the snaplen) become ``stats.warnings`` and InferwireWarnings; the
    certain rows are returned.  Close the table (or use it in a ``with``) to release the map.
    """
    faults = guard.faults()
    buf, stats = map_capture(path)
    try:
        columns = _concatenate(list(decoded_chunks(buf, stats)))
        guard.check(stats.path, len(buf), faults)
    except BaseException:
        _close(buf)       # a Ctrl-C mid-walk: its frames still hold views of the map
        raise
    for message in stats.warnings:
        warnings.warn(message, InferwireWarning, stacklevel=2)
    return PacketTable(path=stats.path, buffer=buf, **columns, stats=stats)


def _close(buf: mmap.mmap) -> None:
    """Close the map unless views of it are still alive (then it goes with them): a BufferError
    here used to replace the KeyboardInterrupt being raised (an 'internal error', exit 70)."""
    try:
        buf.close()
    except BufferError:
        pass


def map_capture(path: str | os.PathLike) -> tuple[mmap.mmap, CaptureStats]:
    """The capture mapped read-only, with its (still empty) stats naming its format;
    CaptureFormatError if it cannot be opened, is empty, or is not a pcap or pcapng file."""
    path = os.fspath(path)
    buf = _map(path)
    try:
        return buf, CaptureStats(path=path, file_format=_format(buf, path))
    except BaseException:
        _close(buf)
        raise


def decoded_chunks(buf, stats: CaptureStats) -> Iterator[dict[str, np.ndarray]]:
    """The TCP columns of the capture in ``buf``, one dict per chunk of records, in file order.

    Fills ``stats`` as it goes (interfaces, drops, the class counters, ``truncated`` and the
    warnings, complete once the walk ends).  Pages already decoded are let go as the walk goes.
    """
    scan = pcap.scan if stats.file_format == "pcap" else pcapng.scan
    counts = np.zeros(5, dtype=np.int64)
    firsts: dict[int, int] = {}
    released = truncated = 0
    link_types = LinkTypes(stats.interfaces)
    for chunk in scan(buf, stats.path, stats):
        cols, cls = _decode_chunk(buf, chunk, stats, link_types)
        counts += np.bincount(cls, minlength=5)
        for c in (decode.FRAGMENT, decode.HEADER_CUT, decode.MALFORMED):
            if c not in firsts and (cls == c).any():
                firsts[c] = int(chunk.data_off[np.argmax(cls == c)])
        release_pages(buf, released, chunk.end)
        released = chunk.end
        truncated += int(np.count_nonzero(cols["captured_len"] < cols["payload_len"]))
        yield {name: cols[name].astype(dtype, copy=False) for name, dtype in COLUMNS.items()}
    _count(stats, counts, firsts)
    stats.truncated = truncated


def _map(path: str) -> mmap.mmap:
    """The file mapped read-only; CaptureFormatError if it cannot be opened, is empty, or is not
    a regular file (a FIFO, a pipe or a device: checked before opening, which could block)."""
    try:
        _check_regular(path, os.stat(path).st_mode)
        with open(path, "rb") as f:
            _check_regular(path, os.fstat(f.fileno()).st_mode)   # replaced since the stat?
            if os.fstat(f.fileno()).st_size == 0:
                raise CaptureFormatError("empty file, not a capture", path=path, offset=0,
                                         field="magic")
            guard.install()        # a file that shrinks under the map: an error, not SIGBUS
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        raise CaptureFormatError(f"cannot read the file: {exc.strerror or exc}", path=path) from exc


def _check_regular(path: str, mode: int) -> None:
    """CaptureFormatError unless ``mode`` is a regular file's (directories are left to open(),
    which names them)."""
    kind = not_regular(mode)
    if kind is None or kind == "a directory":
        return
    raise CaptureFormatError(f"not a regular file ({kind}): save the capture to a file first, "
                             "e.g. tcpdump -w capture.pcap", path=path)


def _format(buf, path: str) -> str:
    """ "pcap" or "pcapng" from the magic number; CaptureFormatError otherwise."""
    if pcap.is_pcap(buf):
        return "pcap"
    if pcapng.is_pcapng(buf):
        return "pcapng"
    head = bytes(buf[:8])
    for magic, name in COMPRESSED.items():
        if head.startswith(magic):
            raise CaptureFormatError(f"{name}-compressed file: decompress it first", path=path,
                                     offset=0, field="magic")
    raise CaptureFormatError(f"not a pcap or pcapng file (magic {head[:4].hex()})", path=path,
                             offset=0, field="magic")


def _concatenate(parts: list[dict]) -> dict[str, np.ndarray]:
    """One array per column from the chunks' columns."""
    columns = {}
    for name, dtype in COLUMNS.items():   # one column at a time, freeing its parts as it goes:
        pieces = [p.pop(name) for p in parts]   # peak = the table + one column, not two tables
        columns[name] = (np.concatenate(pieces) if pieces else
                         np.zeros(0, dtype=dtype)).astype(dtype, copy=False)
        del pieces
    return columns


class LinkTypes:
    """The link type of each interface id, kept up to date as the walk adds interfaces: each
    interface is looked at once, so a file of many sections costs time linear in its size."""

    def __init__(self, interfaces: list[dict]):
        self.interfaces = interfaces     # stats.interfaces: the format module appends to it
        self.known: list[int] = []

    def of(self, iface: np.ndarray) -> np.ndarray:
        """The link type (int64) of every interface id in ``iface``."""
        for i in range(len(self.known), len(self.interfaces)):
            self.known.append(self.interfaces[i]["linktype"])
        if len(iface) and iface[0] == iface[-1] and (iface == iface[0]).all():
            return np.full(len(iface), self.known[int(iface[0])], dtype=np.int64)  # the usual
        ids, where = np.unique(iface, return_inverse=True)    # few ids per chunk
        return np.array([self.known[i] for i in ids.tolist()], dtype=np.int64)[where]


def _decode_chunk(buf, chunk: RecordChunk, stats: CaptureStats,
                  link_types: LinkTypes | None = None):
    """(TCP columns, class per record) for one chunk; link types are decoded group by group."""
    u8 = np.frombuffer(buf, dtype=np.uint8)
    lts = (link_types or LinkTypes(stats.interfaces)).of(chunk.iface)
    cls = np.full(len(chunk), decode.NON_TCP, dtype=np.int8)
    pieces = []
    groups = np.unique(lts)
    for lt in groups:
        rows = slice(None) if len(groups) == 1 else np.flatnonzero(lts == lt)
        part = chunk if len(groups) == 1 else chunk.take(rows)
        found = linktypes.locate_network(u8, part.data_off, part.caplen, int(lt))
        if found is None:
            stats.warnings.append(f"{stats.path}: offset {int(part.data_off[0])}: link type "
                                  f"{int(lt)} is not supported ({linktypes.READ}); "
                                  f"{len(part)} records skipped")
            continue
        c, cols = decode.decode(u8, part.data_off, part.caplen, part.origlen, *found)
        cls[rows] = c
        tcp = c == decode.TCP
        cols.update(frame=part.frame[tcp], ts_ns=part.ts_ns[tcp], iface=part.iface[tcp])
        pieces.append(cols)
    return _merge_groups(pieces), cls


def _merge_groups(pieces: list[dict]) -> dict[str, np.ndarray]:
    """Columns of several link-type groups back in file (frame) order."""
    if len(pieces) == 1:
        return pieces[0]
    if not pieces:
        return {name: np.zeros(0, dtype=dtype) for name, dtype in COLUMNS.items()}
    cols = {name: np.concatenate([p[name] for p in pieces]) for name in COLUMNS}
    order = np.argsort(cols["frame"], kind="stable")
    return {name: col[order] for name, col in cols.items()}


def _count(stats: CaptureStats, counts: np.ndarray, firsts: dict[int, int]) -> None:
    """Fill the class counters and write one warning per kind of skipped record."""
    stats.tcp_packets = int(counts[decode.TCP])
    stats.non_tcp = int(counts[decode.NON_TCP])
    stats.fragments = int(counts[decode.FRAGMENT])
    stats.header_cut = int(counts[decode.HEADER_CUT])
    stats.malformed += int(counts[decode.MALFORMED])
    why = {decode.FRAGMENT: "IP fragments skipped (not reassembled)",
           decode.HEADER_CUT: "packets skipped: link/IP/TCP headers cut by the snaplen",
           decode.MALFORMED: "packets skipped: impossible IP/TCP header fields"}
    for c, off in sorted(firsts.items()):
        stats.warnings.append(f"{stats.path}: offset {off}: {int(counts[c])} {why[c]} "
                              f"(first one here)")
