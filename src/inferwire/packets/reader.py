"""read_packets: a capture file (pcap or pcapng) -> one PacketTable of its TCP packets.

The file is memory-mapped; a format module walks the record headers, then link, IP and TCP
headers are decoded vectorised one chunk of records at a time, in a second thread while the
walk goes on to the next chunk (both mostly run in C without the GIL: two cores share the
read).  Pages already decoded are dropped from this process's memory as the walk goes, so
resident memory stays bounded by the columns, not by the file.
"""
from __future__ import annotations

import mmap
import os
import queue
import sys
import threading
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
    "payload_off": np.int64, "syn_options": np.int32, "tcp_hlen": np.uint8, "tsval": np.int64,
    "tsecr": np.int64,
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
        target = _Gathered(len(buf) // MIN_TCP_RECORD)
        for _ in decoded_chunks(buf, stats, into=target):
            pass
        columns = target.columns()
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


#: Chunks the walk may be ahead of the decoding thread (each a few MB of record columns).
DECODE_AHEAD = 2


def decoded_chunks(buf, stats: CaptureStats,
                   into: "_Gathered | None" = None) -> Iterator[dict[str, np.ndarray] | None]:
    """The TCP columns of the capture in ``buf``, one dict per chunk of records, in file order;
    or, with ``into``, None for each chunk once the decoding thread has put its columns there
    (:meth:`_Gathered.put`, in order).

    Fills ``stats`` as it goes (interfaces, drops, the class counters, ``truncated`` and the
    warnings, complete once the walk ends, in the order a walk and decode in turn would give
    them).  Pages already decoded are let go as the walk goes.  Chunks are decoded by a second
    thread (:class:`_Decoder`), which has ended by the time this generator has (also when it is
    closed early or an error or Ctrl-C stops it): a process reading a capture is back to one
    thread, as the forked workers of :mod:`inferwire.analysis.workers` need.
    """
    scan = pcap.scan if stats.file_format == "pcap" else pcapng.scan
    counts = np.zeros(5, dtype=np.int64)
    firsts: dict[int, int] = {}
    released = truncated = 0
    notes: list[tuple[int, list[str]]] = []     # (warnings the walk had, the decode's own)

    def finished(chunk, cols, cls, chunk_notes, mark):
        nonlocal released, truncated
        counts[:] += np.bincount(cls, minlength=5)
        for c in (decode.FRAGMENT, decode.HEADER_CUT, decode.MALFORMED):
            if c not in firsts and (cls == c).any():
                firsts[c] = int(chunk.data_off[np.argmax(cls == c)])
        if chunk_notes:
            notes.append((mark, chunk_notes))
        release_pages(buf, released, chunk.end)
        released = chunk.end
        truncated += int(np.count_nonzero(cols["captured_len"] < cols["payload_len"]))
        if into is not None:
            return None
        return {name: cols[name].astype(dtype, copy=False) for name, dtype in COLUMNS.items()}

    with _Decoder(buf, stats, into) as decoder:
        for chunk in scan(buf, stats.path, stats):
            decoder.put(chunk, len(stats.warnings))
            if into is not None:
                into.prefault(len(chunk))   # while the decoding thread works on it
            for done in decoder.ready():
                yield finished(*done)
        for done in decoder.rest():
            yield finished(*done)
    _splice(stats.warnings, notes)
    _count(stats, counts, firsts)
    stats.truncated = truncated


class _Decoder:
    """A thread that decodes the chunks :meth:`put` to it, in order (:func:`_decode_chunk`).

    :meth:`ready` gives the chunks decoded so far, :meth:`rest` waits for the others; each as
    (chunk, columns, classes, the decode's warnings, the mark given with it).  An error in the
    thread is raised where its chunk's result would have been.  Leaving the ``with`` stops the
    thread and waits for it (it finishes the chunk in hand first; the chunks still queued are
    dropped)."""

    _END = object()

    def __init__(self, buf, stats: CaptureStats, into: "_Gathered | None" = None):
        self.buf, self.stats, self.into = buf, stats, into
        self.link_types = LinkTypes(stats.interfaces)
        self.todo: queue.Queue = queue.Queue(maxsize=DECODE_AHEAD)
        self.done: queue.Queue = queue.Queue()
        self.pending = 0
        self.thread = threading.Thread(target=self._run, name="inferwire-decode", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        while True:                 # the chunks not begun are dropped: the end comes next
            try:
                self.todo.get_nowait()
            except queue.Empty:
                break
        self.todo.put(self._END)
        self.thread.join()
        return False

    def _run(self) -> None:
        while True:
            item = self.todo.get()
            if item is self._END:
                return
            chunk, mark = item
            try:
                chunk_notes: list[str] = []
                cols, cls = _decode_chunk(self.buf, chunk, self.stats, self.link_types,
                                          chunk_notes)
                if self.into is not None:
                    self.into.put(cols)
                self.done.put((chunk, cols, cls, chunk_notes, mark))
            except BaseException as exc:      # raised again in the reading thread
                self.done.put(exc)
                return

    def put(self, chunk, mark: int) -> None:
        """Decode ``chunk`` next (waits while :data:`DECODE_AHEAD` chunks are queued)."""
        self.todo.put((chunk, mark))
        self.pending += 1

    def ready(self) -> Iterator[tuple]:
        """The chunks decoded so far, in order, without waiting."""
        while self.pending:
            try:
                got = self.done.get_nowait()
            except queue.Empty:
                return
            yield self._result(got)

    def rest(self) -> Iterator[tuple]:
        """Every chunk not yet given, in order, waiting for each."""
        while self.pending:
            yield self._result(self.done.get())

    def _result(self, got):
        self.pending -= 1
        if isinstance(got, BaseException):
            self.pending = 0
            raise got
        return got


def _splice(warnings_: list[str], notes: list[tuple[int, list[str]]]) -> None:
    """Put each chunk's decode warnings into ``warnings_`` (the walk's) after the walk's
    warnings made before that chunk was decoded (``notes``: (that count, warnings))."""
    if not notes:
        return
    out, at = [], 0
    for mark, chunk_notes in notes:
        out += warnings_[at:mark] + chunk_notes
        at = mark
    warnings_[:] = out + warnings_[at:]


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


#: The fewest bytes of a capture file that hold one TCP packet: a pcap record header (16 bytes;
#: pcapng's smallest packet block takes 32) and IPv4 and TCP headers (20 bytes each) after no
#: link header.  A file of N bytes holds at most N // 56 TCP packets.
MIN_TCP_RECORD = 56
#: (Python 3.13's mmap names it; before, Linux's value there, no flag elsewhere)
_MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000 if sys.platform.startswith("linux") else 0)


#: Columns whose chunks are often all zeros, not written then (the reservation is zeros until
#: written, and each page first written costs a fault): the addresses' high halves of IPv4
#: packets (stored IPv4-mapped), the interface id of a capture on one interface.
_OFTEN_ZERO = frozenset({"src_hi", "dst_hi", "iface"})


class _Gathered:
    """The chunks' columns as one array per column, each chunk copied in as it comes
    (:meth:`put`, by the decoding thread: the copies of a chunk run beside the walk of the
    next, not after it) and then let go (so the memory of the next chunks' columns is the
    same, already in use, memory).

    The columns are views of one anonymous mapping reserved for ``capacity`` rows (at most
    what the file can hold, :data:`MIN_TCP_RECORD`) without committing it: only the pages of
    the rows written are ever touched.  Concatenating the chunks at the end instead held every
    chunk's columns and the whole table at once: twice the table's memory, all of it new to
    the process (on a 1 M-message capture, 120 MB more, faulted in at 3-10 us a page on a
    VM).  Where the reservation cannot be made (a strict overcommit policy), or the chunks
    outgrow it, the rest is concatenated as before."""

    def __init__(self, capacity: int):
        self.capacity, self.at = capacity, 0
        self.reserved = _reserved(capacity)
        self.promised, self.populate_failed = 0, False    # rows prefaulted; see prefault()
        self.rest: list[dict] = []     # chunks kept apart (no reservation, or past its end)

    def prefault(self, records: int) -> None:
        """Fault in the reserved columns' pages for the rows of the next ``records`` records
        (a bound: a chunk's TCP packets are some of its records), in one call per column.

        Called by the walking thread as it hands a chunk to the decoding thread: the pages a
        chunk's copy (:meth:`put`) first wrote cost the decoding thread half its time (about
        3 us a page on a VM), while the walk, ahead, waited for it; populated here (the call
        lets go of the GIL) they are written at copy speed.  Columns often all zeros are left
        untouched (:data:`_OFTEN_ZERO`).  Where the kernel cannot (before Linux 5.14, or not
        Linux) the pages are faulted by the copy, as before.  On the gRPC stream benchmark
        capture (1.56 M packets of 170 bytes) the read took 0.22 s against 0.27 s; on the SSE
        one (0.88 M of 340 bytes: the walk is the slower thread there) 2 % longer."""
        madvise = _madvise()
        if self.reserved is None or madvise is None or self.populate_failed:
            return
        # (at most a few chunks past the rows written: a file of mostly other records does
        # not populate columns for them all)
        want = min(self.promised + records, self.at + (DECODE_AHEAD + 2) * records,
                   self.capacity)
        page = mmap.PAGESIZE
        for name, col in self.reserved.items():
            if name in _OFTEN_ZERO:
                continue
            base, size = col.ctypes.data, col.itemsize
            lo = (base + min(self.promised, want) * size) // page * page
            hi = -(-(base + want * size) // page) * page
            if hi > lo and madvise(lo, hi - lo, _MADV_POPULATE_WRITE) != 0:
                self.populate_failed = True     # (the copy faults them in instead)
                return
        self.promised = max(self.promised, want)

    def put(self, cols: dict) -> None:
        n = len(cols["frame"])
        if self.reserved is None or self.rest or self.at + n > self.capacity:
            # (past the end: not expected, the bound holds for any file)
            self.rest.append({name: cols[name].astype(dtype, copy=False)
                              for name, dtype in COLUMNS.items()})
            return
        for name, col in self.reserved.items():
            src = cols[name]
            if name in _OFTEN_ZERO and not src.any():
                continue        # the mapping reads as zeros already: its pages stay untouched
            col[self.at:self.at + n] = src
        self.at += n

    def columns(self) -> dict[str, np.ndarray]:
        if self.reserved is None:
            return _concatenate(self.rest)
        if self.rest:
            written = {name: col[:self.at].copy() for name, col in self.reserved.items()}
            return _concatenate([written, *self.rest])
        return {name: col[:self.at] for name, col in self.reserved.items()}


#: madvise(2)'s MADV_POPULATE_WRITE (Linux 5.14): a private mapping's range faulted in, writable.
_MADV_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23)


def _madvise():
    """The C library's ``madvise(addr, length, advice)`` (:func:`~inferwire.libc.libc_function`:
    the call lets go of the GIL), or None where there is none to use (not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes           # deferred: only a gathering read needs it

    from ..libc import libc_function  # deferred: it imports ctypes
    return libc_function("madvise", (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int),
                         ctypes.c_int)


def _reserved(capacity: int) -> dict[str, np.ndarray] | None:
    """Empty columns of ``capacity`` rows in one anonymous mapping (nothing committed until
    written), each column page-aligned; None if it cannot be mapped."""
    page = mmap.PAGESIZE
    sizes = [-(-max(capacity, 1) * np.dtype(dtype).itemsize // page) * page
             for dtype in COLUMNS.values()]
    try:
        mem = mmap.mmap(-1, sum(sizes), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
                        | _MAP_NORESERVE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    except (OSError, ValueError, OverflowError):
        return None
    columns, offset = {}, 0
    for (name, dtype), size in zip(COLUMNS.items(), sizes):
        columns[name] = np.frombuffer(mem, dtype=dtype, count=max(capacity, 1), offset=offset)
        offset += size
    return columns


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

    def of(self, iface: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The link type (int64) of every interface id in ``iface``, and the distinct ones
        (sorted: the usual one alone without a pass over the records)."""
        for i in range(len(self.known), len(self.interfaces)):
            self.known.append(self.interfaces[i]["linktype"])
        if len(iface) and iface[0] == iface[-1] and (iface == iface[0]).all():   # the usual
            lt = self.known[int(iface[0])]
            return np.full(len(iface), lt, dtype=np.int64), np.array([lt], dtype=np.int64)
        ids, where = np.unique(iface, return_inverse=True)    # few ids per chunk
        lts = np.array([self.known[i] for i in ids.tolist()], dtype=np.int64)[where]
        return lts, np.unique(lts)


def _decode_chunk(buf, chunk: RecordChunk, stats: CaptureStats,
                  link_types: LinkTypes | None = None, notes: list[str] | None = None):
    """(TCP columns, class per record) for one chunk; link types are decoded group by group.
    Its warnings (an unsupported link type) go to ``notes``, by default ``stats.warnings``."""
    notes = stats.warnings if notes is None else notes
    u8 = np.frombuffer(buf, dtype=np.uint8)
    lts, groups = (link_types or LinkTypes(stats.interfaces)).of(chunk.iface)
    cls = np.full(len(chunk), decode.NON_TCP, dtype=np.int8)
    pieces = []
    for lt in groups:
        rows = slice(None) if len(groups) == 1 else np.flatnonzero(lts == lt)
        part = chunk if len(groups) == 1 else chunk.take(rows)
        found = linktypes.locate_network(u8, part.data_off, part.caplen, int(lt))
        if found is None:
            notes.append(f"{stats.path}: offset {int(part.data_off[0])}: link type {int(lt)} "
                         f"is not supported ({linktypes.READ}); {len(part)} records skipped")
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
