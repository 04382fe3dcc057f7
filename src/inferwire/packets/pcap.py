"""Classic libpcap files: a 24-byte file header, then records of a 16-byte header + packet bytes.

Magic 0xa1b2c3d4 (µs time stamps) or 0xa1b23c4d (ns), in either byte order; also the "modified"
pcap of old Linux patches (0xa1b2cd34, 24-byte record headers).  See
https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcap/ .
"""
from __future__ import annotations

import struct
from array import array
from typing import Iterator

import numpy as np

from ..errors import CaptureFormatError
from .records import CHUNK_BYTES, CHUNK_RECORDS, MAX_RECORD, RecordChunk, gather_rows, words

try:                                # the record walk in C (_walk.c); same results, ~100x faster
    from . import _walk as _cwalk
except ImportError:                 # not built (no C compiler): the Python loop does it all
    _cwalk = None
from .table import CaptureStats

FILE_HEADER_LEN = 24
# magic as read little-endian -> (byte order, ns per fraction tick, record header length)
MAGICS = {
    0xA1B2C3D4: ("<", 1000, 16), 0xD4C3B2A1: (">", 1000, 16),
    0xA1B23C4D: ("<", 1, 16), 0x4D3CB2A1: (">", 1, 16),
    0xA1B2CD34: ("<", 1000, 24), 0x34CDB2A1: (">", 1000, 24),
}
# magic, version_major, version_minor, thiszone, sigfigs, snaplen, linktype (+ FCS bits)
FILE_HEADER = {o: struct.Struct(o + "IHHiIII") for o in "<>"}
# ts_sec, ts_frac, caplen, origlen
RECORD_HEADER = {o: struct.Struct(o + "IIII") for o in "<>"}


def is_pcap(buf) -> bool:
    """True if ``buf`` starts with one of the pcap magics."""
    return len(buf) >= 4 and struct.unpack_from("<I", buf)[0] in MAGICS


def scan(buf, path: str, stats: CaptureStats) -> Iterator[RecordChunk]:
    """Walk the records of a pcap file in ``buf``: chunks of record columns, in file order.

    Fills ``stats.interfaces`` (one, id 0), ``stats.packets`` and ``stats.warnings``.  A file cut
    mid-record keeps the complete records and warns; a bad header raises CaptureFormatError.
    """
    order, ns_per_tick, rec_len = _read_file_header(buf, path, stats)
    off, frame = FILE_HEADER_LEN, 1
    while True:
        offs, off, stop = _walk(buf, off, rec_len, order)
        chunk = None
        if offs:
            chunk = _chunk(buf, np.frombuffer(offs, dtype=np.int64), order, ns_per_tick, rec_len,
                           frame, off)
            frame += len(chunk)
            stats.packets += len(chunk)
        if stop is not None:
            _stopped(path, stats, stop)
        if chunk is not None:
            yield chunk
        if stop is not None or chunk is None:
            return


def _read_file_header(buf, path: str, stats: CaptureStats) -> tuple[str, int, int]:
    """Check the file header; record the interface; return (byte order, ns per tick, rec len)."""
    if len(buf) < FILE_HEADER_LEN:
        raise CaptureFormatError(f"pcap file header needs {FILE_HEADER_LEN} bytes, file has "
                                 f"{len(buf)}", path=path, offset=len(buf), field="file header")
    order, ns_per_tick, rec_len = MAGICS[struct.unpack_from("<I", buf)[0]]
    _, major, minor, _, _, snaplen, linktype = FILE_HEADER[order].unpack_from(buf)
    if major != 2:
        raise CaptureFormatError(f"unsupported pcap version {major}.{minor} (expected 2.x)",
                                 path=path, offset=4, field="version_major")
    stats.interfaces.append({"id": 0, "section": 0, "linktype": linktype & 0xFFFF, "name": None,
                             "snaplen": snaplen, "tsresol": 10**9 // ns_per_tick,
                             "tsoffset_s": 0})
    return order, ns_per_tick, rec_len


def _walk(buf, off: int, rec_len: int, order: str) -> tuple[array, int, tuple | None]:
    """Record offsets from ``off`` on, one chunk's worth: (offsets, next offset, stop).

    ``stop`` is None while records go on, else (offset, reason) where reading must end: reason
    "cut" (the file ends inside the record) or the impossible caplen value.  This is
    the only per-record Python loop of the reader, so it does the least it can: the other header
    fields are read afterwards, vectorised, from the offsets.
    """
    offs = array("q")
    append = offs.append
    caplen_at = struct.Struct(order + "I").unpack_from
    end, limit = len(buf), off + CHUNK_BYTES
    budget = CHUNK_RECORDS
    while budget > 0:
        if _cwalk is not None:      # the run of plain records, in C; the loop below does the rest
            run, off = _cwalk.pcap_run(buf, off, limit, budget, rec_len, MAX_RECORD,
                                       order == ">")
            offs.frombytes(run)
            budget -= len(run) // 8
            if budget <= 0:
                break
        budget -= 1
        if off > limit:
            break
        if off + rec_len > end:
            return offs, off, (None if off == end else (off, "cut"))
        caplen = caplen_at(buf, off + 8)[0]
        if caplen > MAX_RECORD:
            return offs, off, (off, caplen)
        nxt = off + rec_len + caplen
        if nxt > end:
            return offs, off, (off, "cut")
        append(off)
        off = nxt
    return offs, off, None


def _stopped(path: str, stats: CaptureStats, stop: tuple) -> None:
    """Raise for an impossible first record; otherwise warn that reading stopped there."""
    off, reason = stop
    if reason != "cut":
        msg = f"record caplen {reason} exceeds {MAX_RECORD} (corrupt record header)"
        if stats.packets == 0:
            raise CaptureFormatError(msg, path=path, offset=off + 8, field="caplen")
        stats.warnings.append(f"{path}: offset {off + 8}: {msg}; stopped reading there")
    else:
        stats.warnings.append(f"{path}: offset {off}: file ends inside a record (capture cut "
                              f"mid-write?); kept the {stats.packets} complete records before it")


def _chunk(buf, offs: np.ndarray, order: str, ns_per_tick: int, rec_len: int, frame: int,
           end: int) -> RecordChunk:
    """Read the record headers at ``offs`` (vectorised) into a RecordChunk."""
    u8 = np.frombuffer(buf, dtype=np.uint8)
    hdr = words(gather_rows(u8, offs, 16), order + "u4")
    ts_ns = hdr[:, 0] * 1_000_000_000 + hdr[:, 1] * ns_per_tick
    n = len(offs)
    return RecordChunk(frame=np.arange(frame, frame + n, dtype=np.int64),
                       data_off=offs + rec_len, caplen=hdr[:, 2].copy(),
                       origlen=hdr[:, 3].copy(), ts_ns=ts_ns,
                       iface=np.zeros(n, dtype=np.int32), end=end)
