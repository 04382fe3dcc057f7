"""pcapng files: sections (SHB) of interfaces (IDB) and packet blocks (EPB, SPB, obsolete PB),
plus interface statistics (ISB).  Name resolution, decryption secrets and unknown blocks are
skipped.  See https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcapng/ .

Interface ids are global to the file: the n-th IDB of the file is interface n, whatever its
section (as Wireshark's frame.interface_id).  Frame numbers count EPB, SPB and PB blocks.
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

SHB, IDB, PB, SPB, NRB, ISB, EPB = 0x0A0D0D0A, 1, 2, 3, 4, 5, 6
OPT_COMMENT = 1
BYTE_ORDER_MAGIC = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}

BLOCK_HEADER = {o: struct.Struct(o + "II") for o in "<>"}      # block type, block total length
SHB_BODY = {o: struct.Struct(o + "HHq") for o in "<>"}         # major, minor, section length @12
IDB_BODY = {o: struct.Struct(o + "HHI") for o in "<>"}         # linktype, reserved, snaplen @8
ISB_BODY = {o: struct.Struct(o + "III") for o in "<>"}         # interface id, ts high, ts low @8
SPB_BODY = {o: struct.Struct(o + "I") for o in "<>"}           # original length @8
PB_BODY = {o: struct.Struct(o + "HHIIII") for o in "<>"}       # iface, drops, ts hi/lo, cap, orig
OPTION = {o: struct.Struct(o + "HH") for o in "<>"}            # option code, value length
U64 = {o: struct.Struct(o + "Q") for o in "<>"}
I64 = {o: struct.Struct(o + "q") for o in "<>"}

IF_NAME, IF_TSRESOL, IF_TSOFFSET = 2, 9, 14
ISB_COUNTERS = {4: "ifrecv", 5: "ifdrop", 6: "filteraccept", 7: "osdrop"}
EPB_HEADER_LEN = 28           # block header + iface, ts high, ts low, caplen, origlen
INT64_MAX_S = (2**63 - 1) // 10**9         # 9_223_372_036: 2262-04-11
MAX_LAST_NS = (2**63 - 1) - INT64_MAX_S * 10**9   # fraction that still fits in that second


def is_pcapng(buf) -> bool:
    """True if ``buf`` starts with a Section Header Block type."""
    return len(buf) >= 4 and struct.unpack_from("<I", buf)[0] == SHB


def ticks_to_ns(ticks: np.ndarray, tsresol: int, tsoffset_s: int) -> np.ndarray:
    """Time stamps in units of ``tsresol`` (the if_tsresol byte: 10**-v, or 2**-v when the high
    bit is set) plus ``tsoffset_s`` seconds -> int64 ns since the epoch, rounded down; -1 (no
    usable time) where the result is before the epoch or does not fit an int64 (after 2262)."""
    ticks = np.asarray(ticks, dtype=np.uint64)
    exp, binary = tsresol & 0x7F, bool(tsresol & 0x80)
    if (binary and exp > 34) or (not binary and exp > 19):
        return _ticks_to_ns_exact(ticks, exp, binary, tsoffset_s)   # rare: exact Python ints
    if binary:
        sec = ticks >> np.uint64(exp)
        frac_ns = ((ticks & np.uint64((1 << exp) - 1)) * np.uint64(10**9)) >> np.uint64(exp)
    else:
        unit = np.uint64(10**exp)
        sec, frac = ticks // unit, ticks % unit
        frac_ns = frac * np.uint64(10**(9 - exp)) if exp <= 9 else frac // np.uint64(10**(exp - 9))
    return _seconds_to_ns(sec, frac_ns, tsoffset_s)


def _seconds_to_ns(sec: np.ndarray, frac_ns: np.ndarray, tsoffset_s: int) -> np.ndarray:
    """``sec + tsoffset_s`` seconds plus ``frac_ns`` (< 10**9) ns as int64 ns, exactly; -1 where
    that is negative or past the int64 range.  ``sec``, ``frac_ns``: uint64 arrays."""
    lo = max(-tsoffset_s, 0)                 # fewest ticks' seconds that reach the epoch
    hi = INT64_MAX_S - tsoffset_s            # most seconds that fit, if the fraction fits too
    if hi < lo or lo >= 2**64:
        return np.full(len(sec), -1, dtype=np.int64)
    ok = sec >= np.uint64(lo)
    if hi < 2**64:
        ok &= (sec < np.uint64(hi)) | ((sec == np.uint64(hi)) & (frac_ns <= np.uint64(MAX_LAST_NS)))
    whole = (sec - np.uint64(lo)) if tsoffset_s < 0 else (sec + np.uint64(tsoffset_s))
    whole = np.where(ok, whole, np.uint64(0))   # in [0, INT64_MAX_S] where ok: exact in int64
    ns = whole.astype(np.int64) * 10**9 + frac_ns.astype(np.int64)
    return np.where(ok, ns, -1)


def _ticks_to_ns_exact(ticks, exp, binary, tsoffset_s) -> np.ndarray:
    unit = (1 << exp) if binary else 10**exp
    out = [(int(t) * 10**9) // unit + tsoffset_s * 10**9 for t in ticks]
    return np.array([v if 0 <= v < 2**63 else -1 for v in out], dtype=np.int64)


def untimed_warning(path: str, untimed: dict) -> str:
    """The one warning about packets without a usable time, from ``{"spb" | "range": [count,
    first offset]}``: how many, why, and the offset of the first one."""
    why = {"spb": "in simple packet blocks, which carry none",
           "range": "whose time falls before 1970 or after 2262 (check the interface's "
                    "if_tsresol and if_tsoffset options)"}
    total = sum(count for count, _ in untimed.values())
    off = min(first for _, first in untimed.values())
    reasons = "; ".join(f"{untimed[kind][0]} {text}" for kind, text in why.items()
                        if kind in untimed)
    return (f"{path}: offset {off}: {total} packet{'s' if total > 1 else ''} without a usable "
            f"time stamp: {reasons}; {'their times are' if total > 1 else 'its time is'} "
            "left empty (first one here)")


class _File:
    """What the block walk has learnt so far: byte order, interfaces, statistics, oddities."""

    def __init__(self, buf, path: str, stats: CaptureStats):
        self.buf, self.path, self.stats = buf, path, stats
        self.order = "<"
        self.section = -1
        self.section_ifaces: list[int] = []     # global ids of this section's interfaces
        self.resol: list[tuple[int, int]] = []  # global id -> (if_tsresol, if_tsoffset)
        self.odd: dict[str, list] = {}          # kind -> [count, first offset, message]
        self.untimed: dict[str, list] = {}      # "spb" | "range" -> [count, first offset]

    def note(self, kind: str, off: int, message: str, count: int = 1) -> None:
        """Count an oddity; one warning per kind is written at the end, naming the first."""
        entry = self.odd.setdefault(kind, [0, off, message])
        entry[0] += count

    def untimed_packets(self, kind: str, off: int, count: int = 1) -> None:
        """Count packets left without a time (ts_ns -1): ``kind`` "spb" (a simple packet block
        has none) or "range" (before 1970 or past 2262 once if_tsresol/if_tsoffset applied)."""
        entry = self.untimed.setdefault(kind, [0, off])
        entry[0] += count
        entry[1] = min(entry[1], off)      # EPBs are counted after the slow blocks between them

    def finish(self) -> None:
        for count, off, message in self.odd.values():
            self.stats.warnings.append(f"{self.path}: offset {off}: {message}"
                                       + (f" ({count} blocks like this)" if count > 1 else ""))
        if self.untimed:
            self.stats.warnings.append(untimed_warning(self.path, self.untimed))

    def bad_block(self, off: int, message: str, field: str) -> None:
        """An impossible block: an error at the start of the file, else a warning (stop here)."""
        if off == 0:
            raise CaptureFormatError(message, path=self.path, offset=off, field=field)
        self.stats.warnings.append(f"{self.path}: offset {off}: {message}; stopped reading there")

    def check_length(self, off: int, blen: int, minimum: int) -> bool:
        """True if the block at ``off`` of total length ``blen`` can be read; else report it."""
        if blen < minimum or blen % 4 or blen > MAX_RECORD:
            self.bad_block(off, f"impossible block_total_length {blen}", "block_total_length")
            return False
        if off + blen > len(self.buf):
            if off == 0:
                self.bad_block(off, "file ends inside the section header block",
                               "block_total_length")
            self.cut(off)
            return False
        return True

    def cut(self, off: int) -> None:
        self.stats.warnings.append(f"{self.path}: offset {off}: file ends inside a block (capture "
                                   "cut mid-write?); kept the complete records before it")

    def open_section(self, off: int) -> int:
        """Read the SHB at ``off``; return its length, or 0 when reading must stop."""
        if off + 28 > len(self.buf):
            if off == 0:
                raise CaptureFormatError("file too short for a pcapng section header block "
                                         "(28 bytes)", path=self.path, offset=len(self.buf),
                                         field="block_total_length")
            self.cut(off)
            return 0
        bom = bytes(self.buf[off + 8:off + 12])
        if bom not in BYTE_ORDER_MAGIC:
            self.bad_block(off, f"bad byte-order magic {bom.hex()}", "byte_order_magic")
            return 0
        order = BYTE_ORDER_MAGIC[bom]
        blen = BLOCK_HEADER[order].unpack_from(self.buf, off)[1]
        if not self.check_length(off, blen, 28):
            return 0
        major, minor, _ = SHB_BODY[order].unpack_from(self.buf, off + 12)
        if major != 1:
            self.bad_block(off, f"unsupported pcapng version {major}.{minor}", "major_version")
            return 0
        self.order, self.section, self.section_ifaces = order, self.section + 1, []
        comment = self.options(off + 24, off + blen - 4).get(OPT_COMMENT)
        if comment:
            self.stats.comments.append(comment.decode("utf-8", "replace").rstrip("\x00"))
        return blen

    def options(self, start: int, end: int) -> dict[int, bytes]:
        """The options in [start, end) as {code: value}; a bad option length ends them."""
        found, unpack = {}, OPTION[self.order].unpack_from
        while start + 4 <= end:
            code, length = unpack(self.buf, start)
            if code == 0:
                break
            if start + 4 + length > end:
                self.note("option", start, f"option {code} length {length} runs past its block; "
                                           "ignored the rest of the options")
                break
            found[code] = bytes(self.buf[start + 4:start + 4 + length])
            start += 4 + ((length + 3) & ~3)
        return found

    def add_interface(self, off: int, blen: int) -> None:
        if blen < 20:
            self.note("idb", off, f"interface description block too short ({blen} bytes)")
            return
        linktype, _, snaplen = IDB_BODY[self.order].unpack_from(self.buf, off + 8)
        opts = self.options(off + 16, off + blen - 4)
        tsresol = opts[IF_TSRESOL][0] if len(opts.get(IF_TSRESOL, b"")) >= 1 else 6
        tsoffset = (I64[self.order].unpack(opts[IF_TSOFFSET][:8])[0]
                    if len(opts.get(IF_TSOFFSET, b"")) >= 8 else 0)
        name = opts.get(IF_NAME, b"").rstrip(b"\0").decode("utf-8", "replace") or None
        gid = len(self.stats.interfaces)
        self.stats.interfaces.append({
            "id": gid, "section": self.section, "linktype": linktype, "name": name,
            "snaplen": snaplen, "tsresol": (2 if tsresol & 0x80 else 10) ** (tsresol & 0x7F),
            "tsoffset_s": tsoffset})
        self.resol.append((tsresol, tsoffset))
        self.section_ifaces.append(gid)

    def add_statistics(self, off: int, blen: int) -> None:
        if blen < 24:
            self.note("isb", off, f"interface statistics block too short ({blen} bytes)")
            return
        local = ISB_BODY[self.order].unpack_from(self.buf, off + 8)[0]
        if local >= len(self.section_ifaces):
            self.note("isb", off, f"interface statistics for unknown interface {local}")
            return
        opts = self.options(off + 20, off + blen - 4)
        u64 = U64[self.order].unpack
        self.stats.drops[self.section_ifaces[local]] = {
            name: (u64(opts[code][:8])[0] if len(opts.get(code, b"")) >= 8 else None)
            for code, name in ISB_COUNTERS.items()}

    def simple_packet(self, off: int, blen: int, frame: int) -> tuple | None:
        """An SPB as (frame, data_off, caplen, origlen, ts_ns=-1, iface), or None if unusable."""
        if blen < 16 or not self.section_ifaces:
            self.note("spb", off, "simple packet block too short or before any interface")
            return None
        origlen = SPB_BODY[self.order].unpack_from(self.buf, off + 8)[0]
        gid = self.section_ifaces[0]
        snaplen = self.stats.interfaces[gid]["snaplen"] or origlen
        self.untimed_packets("spb", off)
        return frame, off + 12, min(origlen, snaplen, blen - 16), origlen, -1, gid

    def old_packet(self, off: int, blen: int, frame: int) -> tuple | None:
        """An obsolete Packet Block as a record tuple (see simple_packet), or None if unusable."""
        if blen < 32:
            self.note("pb", off, f"packet block too short ({blen} bytes)")
            return None
        local, _, hi, lo, caplen, origlen = PB_BODY[self.order].unpack_from(self.buf, off + 8)
        if local >= len(self.section_ifaces) or caplen > blen - 32:
            self.note("pb", off, "packet block with unknown interface or caplen past its end")
            return None
        gid = self.section_ifaces[local]
        ts = int(ticks_to_ns(np.array([(hi << 32) | lo], dtype=np.uint64), *self.resol[gid])[0])
        if ts < 0:
            self.untimed_packets("range", off)
        return frame, off + 28, caplen, origlen, ts, gid


def scan(buf, path: str, stats: CaptureStats) -> Iterator[RecordChunk]:
    """Walk the blocks of a pcapng file in ``buf``: chunks of packet-record columns, file order.

    Fills ``stats`` (packets, interfaces, drops, warnings, malformed).  A file cut mid-block keeps
    the complete blocks and warns; a bad first block raises CaptureFormatError.  The short runs
    of packets between sections or interface blocks are joined into chunks of up to
    CHUNK_RECORDS records (CHUNK_BYTES of file): a file of many small sections is decoded in a
    few large chunks, not in one small chunk per section.
    """
    pending: list[RecordChunk] = []
    records = 0
    for chunk in _runs(buf, path, stats):
        if pending and (records + len(chunk) > CHUNK_RECORDS
                        or chunk.end - int(pending[0].data_off[0]) > CHUNK_BYTES):
            yield RecordChunk.join(pending)
            pending, records = [], 0
        pending.append(chunk)
        records += len(chunk)
    if pending:
        yield RecordChunk.join(pending)


def _runs(buf, path: str, stats: CaptureStats) -> Iterator[RecordChunk]:
    """The records of each run of packet blocks (ended by a section or interface block, or by a
    chunk's worth of records), in file order; see :func:`scan`."""
    f = _File(buf, path, stats)
    off, frame = 0, 1
    while off < len(buf):
        if buf[off:off + 4] == b"\x0a\x0d\x0d\x0a":   # SHB: same in both byte orders
            blen = f.open_section(off)
            if not blen:
                break
            off += blen
            continue
        epb, frames, slow = array("q"), array("q"), []
        off, frame, stop = _walk(f, off, frame, epb, frames, slow)
        stats.packets += len(epb) + len(slow)
        if epb or slow:
            chunk = _chunk(f, np.frombuffer(epb, dtype=np.int64),
                           np.frombuffer(frames, dtype=np.int64), slow, off)
            stats.malformed += (len(epb) + len(slow)) - len(chunk)
            if len(chunk):
                yield chunk
        if stop:
            break
    f.finish()


def _walk(f: _File, off: int, frame: int, epb: array, frames: array, slow: list):
    """Blocks from ``off`` on, until a new section, a chunk's worth of packets, or the end.

    EPBs (nearly every block) take the short branch: only their offset is kept and the rest of
    their header is read vectorised afterwards.  Returns (next offset, next frame, stop).
    """
    buf, end, limit = f.buf, len(f.buf), off + CHUNK_BYTES
    header = BLOCK_HEADER[f.order].unpack_from
    epb_append, frame_append = epb.append, frames.append
    budget = CHUNK_RECORDS
    while budget > 0:
        if _cwalk is not None:      # the run of plain EPBs, in C; the loop below does the rest
            run, off = _cwalk.pcapng_epb_run(buf, off, limit, budget, MAX_RECORD, f.order == ">")
            if run:
                k = len(run) // 8
                epb.frombytes(run)
                frames.frombytes(np.arange(frame, frame + k, dtype=np.int64).tobytes())
                frame += k
                budget -= k
                if budget <= 0:
                    break
        budget -= 1
        if off > limit:
            break
        if off + 8 > end:
            if off < end:
                f.cut(off)
            return off, frame, True
        btype, blen = header(buf, off)
        if btype == EPB and 32 <= blen <= MAX_RECORD and not blen & 3 and off + blen <= end:
            epb_append(off)
            frame_append(frame)
            frame += 1
            off += blen
            continue
        if btype == SHB:
            return off, frame, False
        if not f.check_length(off, blen, 12):
            return off, frame, True
        if btype == IDB and (epb or slow):
            return off, frame, False    # decode the packets so far against the interfaces so far
        if btype == IDB:
            f.add_interface(off, blen)
        elif btype == ISB:
            f.add_statistics(off, blen)
        elif btype in (EPB, SPB, PB):   # an EPB here is one too short for its header
            rec = (f.simple_packet(off, blen, frame) if btype == SPB else
                   f.old_packet(off, blen, frame) if btype == PB else None)
            if btype == EPB:
                f.note("epb-short", off, f"enhanced packet block too short ({blen} bytes)")
            slow.append(rec)
            frame += 1
        off += blen
    return off, frame, False


def _chunk(f: _File, offs: np.ndarray, frames: np.ndarray, slow: list, end: int) -> RecordChunk:
    """Decode the EPB headers at ``offs`` (vectorised) and merge the slow-path records."""
    blen, local, ticks, caplen, origlen = _epb_fields(f, offs)
    n_ifaces = len(f.section_ifaces)
    bad = (caplen > blen - 32) | (local >= n_ifaces)
    if bad.any():
        f.note("epb", int(offs[np.argmax(bad)]), "enhanced packet block with unknown interface "
               "id or caplen past its end", count=int(bad.sum()))
    gid = np.where(bad, 0, local + (f.section_ifaces[0] if n_ifaces else 0)).astype(np.int32)
    ts_ns = np.full(len(offs), -1, dtype=np.int64)
    good = gid[~bad]
    # the usual capture has one interface: no np.unique (its first call imports numpy.ma,
    # 12 ms of every command)
    for g in good[:1] if len(good) and (good == good[0]).all() else np.unique(good):
        rows = (gid == g) & ~bad
        ts_ns[rows] = ticks_to_ns(ticks[rows], *f.resol[g])
    untimed = (ts_ns < 0) & ~bad
    if untimed.any():
        f.untimed_packets("range", int(offs[np.argmax(untimed)]), int(untimed.sum()))
    chunk = RecordChunk(frames, offs + EPB_HEADER_LEN, caplen, origlen, ts_ns, gid, end).take(~bad)
    good = [r for r in slow if r is not None]
    return _merge(chunk, good) if good else chunk


def _epb_fields(f: _File, offs: np.ndarray, use_c: bool = True) -> tuple:
    """(block length, interface id, time stamp ticks as uint64, captured length, original
    length) of the EPBs at ``offs``: read in C in one pass when built (``use_c`` False: one
    vectorised gather of their 28 header bytes; the same values)."""
    if _cwalk is not None and use_c:
        cols = np.frombuffer(_cwalk.epb_headers(f.buf, np.ascontiguousarray(offs, np.int64),
                                                f.order == ">"), np.int64).reshape(5, -1)
        return cols[0], cols[1], cols[2].view(np.uint64), cols[3], cols[4]
    u8 = np.frombuffer(f.buf, dtype=np.uint8)
    hdr = words(gather_rows(u8, offs, EPB_HEADER_LEN), f.order + "u4")
    ticks = (hdr[:, 3].astype(np.uint64) << np.uint64(32)) | hdr[:, 4].astype(np.uint64)
    return hdr[:, 1], hdr[:, 2], ticks, hdr[:, 5], hdr[:, 6]


def _merge(chunk: RecordChunk, recs: list[tuple]) -> RecordChunk:
    """Add slow-path record tuples to a chunk, keeping frame order."""
    cols = list(zip(*recs))
    cat = [np.concatenate([a, np.array(c, dtype=a.dtype)])
           for a, c in zip((chunk.frame, chunk.data_off, chunk.caplen, chunk.origlen, chunk.ts_ns,
                            chunk.iface), cols)]
    order = np.argsort(cat[0], kind="stable")
    return RecordChunk(*(a[order] for a in cat), end=chunk.end)
