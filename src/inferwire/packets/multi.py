"""read_many: several capture files (a list, a directory, a ring-buffer set) -> ONE PacketTable.

Each file is read by :func:`~inferwire.packets.read_packets`; the tables are then joined:

* **Files in capture order.** A dumpcap ring set (``name_00001_20240101120000.pcapng``, ...) is
  ordered by its file index (then its time); other files by their first time stamp (then name).
* **One address space.** The files are mapped read-only, back to back, into one contiguous range of
  memory (:class:`MultiBuffer`), so ``table.buffer[off:off+n]`` and ``memoryview(table.buffer)``
  work exactly as for one file.  File k starts at ``bases[k]`` (the sizes of earlier files, each
  rounded up to a page); its rows' ``payload_off`` are shifted by that base.
* **Rows in capture order.** Rows are merged by time, each file's rows keeping their own order.
* **Frames continue across files**: file k's frame numbers are shifted by the packet records of the
  files before it, so ``frame`` is Wireshark's ``frame.number`` in ``mergecap -a`` of the files
  (in the order chosen above).  Interface ids are shifted the same way.
* **Duplicates dropped.** A packet present in two overlapping files (same ts_ns, addresses, ports,
  seq, ack, flags, payload_len, ip_id) is kept once, from the earlier file, and counted in
  ``stats.duplicates`` / ``stats.duplicates_by_file``.
"""
from __future__ import annotations

import ctypes
import mmap
import os
import re
import sys
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import CaptureFormatError, InferwireWarning
from . import pcap, pcapng
from .reader import COLUMNS, read_packets
from .table import CaptureStats, PacketTable

# dumpcap's ring-buffer file names: <stem>_<5-digit index>_<YYYYmmddHHMMSS><ext>
RING_NAME = re.compile(r"^(?P<stem>.*)_(?P<index>\d{5})_(?P<time>\d{14})(?P<ext>\.[^.]*)?$")
# The columns that identify one packet seen in two files (the frame and offsets differ).
DUPLICATE_KEY = ("ts_ns", "src_hi", "src_lo", "dst_hi", "dst_lo", "sport", "dport", "seq", "ack",
                 "flags", "payload_len", "ip_id")


@dataclass
class MultiCaptureStats(CaptureStats):
    """:class:`CaptureStats` of several files read as one.

    The counters are sums over the files, except ``tcp_packets`` (rows kept) and ``duplicates``
    (TCP rows dropped because an earlier file held the same packet), so every record still lands
    in exactly one counter.  ``files``: each file's own stats, in the order read.
    ``duplicates_by_file``: path -> rows dropped from that file.  ``ring``: the files are one
    dumpcap ring set, whose interface statistics are cumulative, so ``drops`` holds the last
    file's counters; otherwise ``drops`` holds every file's (interface ids shifted).
    """
    files: list = field(default_factory=list)
    duplicates: int = 0
    duplicates_by_file: dict = field(default_factory=dict)
    ring: bool = False


@dataclass
class MultiPacketTable(PacketTable):
    """A :class:`PacketTable` over several files.  ``buffer`` is a memoryview of the joined
    address space (:class:`MultiBuffer`, in ``files``); ``file`` (int32) is each row's index into
    ``stats.files``."""
    file: np.ndarray = None
    files: "MultiBuffer" = None

    def release(self, end_offset: int | None = None, start: int = 0) -> None:
        """Drop the joined files' pages in ``[start, end_offset)`` (to the end if None); see
        PacketTable."""
        self.files.release(start, len(self.files) if end_offset is None else end_offset)

    def close(self) -> None:
        """Let the mapping go; it is unmapped once no payload view refers to it any more."""
        self.files.close()


def read_many(source) -> MultiPacketTable:
    """Read several pcap/pcapng files as one capture: ``source`` is a list of files (or
    directories), or a directory (its files with a pcap/pcapng magic number).

    Raises CaptureFormatError naming the file for one that is not a readable capture, and for a
    directory that holds none.  Returns one table; close it (or use ``with``) when done.
    """
    notes: list[str] = []
    paths = capture_files(source, notes)
    tables = []
    try:
        for p in paths:
            tables.append(read_packets(p))
        ordered, ring = order_files(tables)
        joined = join_tables(ordered, ring, _display(source))
        joined.stats.warnings[:0] = notes       # the analysis reports the stats' warnings
        for note in notes:
            warnings.warn(note, InferwireWarning, stacklevel=2)
        return joined
    finally:
        for t in tables:
            t.close()     # the joined table maps the files again; these maps are not needed


# -- which files, in which order ------------------------------------------------------------------
def capture_files(source, notes: list | None = None) -> list[str]:
    """The capture files named by ``source`` (a path, a directory, or a list of them).

    What was left out (a file given twice, a file of a directory that cannot be opened) is
    appended to ``notes``, or is an InferwireWarning when ``notes`` is None."""
    notes = _Notes(notes)
    items = list(source) if isinstance(source, (list, tuple)) else [source]
    if not items:
        raise CaptureFormatError("no capture files given")
    out, seen = [], set()
    for item in map(os.fspath, items):
        found = _directory_captures(item, notes) if os.path.isdir(item) else [item]
        for p in found:
            real = os.path.realpath(p)
            if real in seen:
                notes.append(f"{p}: given twice; read once")
                continue
            seen.add(real)
            out.append(p)
    return out


class _Notes:
    """Notes appended to a list, or InferwireWarnings when no list was given."""

    def __init__(self, target: list | None):
        self.target = target

    def append(self, note: str) -> None:
        if self.target is None:
            warnings.warn(note, InferwireWarning, stacklevel=4)
        else:
            self.target.append(note)


def _directory_captures(directory: str, notes) -> list[str]:
    """Regular, non-hidden files of ``directory`` that start with a pcap or pcapng magic number.

    CaptureFormatError naming the directory if it cannot be listed, or if it holds no capture
    (naming the files that could not be opened, which may be captures); when it holds some, each
    file that could not be opened is an InferwireWarning naming it."""
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        raise CaptureFormatError(f"cannot list the directory: {exc.strerror or exc}",
                                 path=directory) from exc
    out, unreadable = [], []
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_file():
            continue
        try:
            with open(entry.path, "rb") as f:
                head = f.read(4)
        except OSError as exc:
            unreadable.append(f"{entry.path} ({exc.strerror or exc})")
            continue
        if pcap.is_pcap(head) or pcapng.is_pcapng(head):
            out.append(entry.path)
    if not out:
        if not unreadable:
            raise CaptureFormatError("the directory holds no pcap or pcapng file", path=directory)
        raise CaptureFormatError(f"the directory holds no readable pcap or pcapng file; could "
                                 f"not open {len(unreadable)} file(s), which may be captures: "
                                 + ", ".join(unreadable[:5]), path=directory)
    for name in unreadable:
        notes.append(f"{name}: cannot be opened, not read (it may be a capture)")
    return out


def ring_key(path: str) -> tuple | None:
    """(stem+ext, index, time) of a dumpcap ring-buffer file name, else None."""
    m = RING_NAME.match(os.path.basename(path))
    if m is None:
        return None
    return (m["stem"] + (m["ext"] or ""), int(m["index"]), m["time"])


def order_files(tables: list[PacketTable]) -> tuple[list[PacketTable], bool]:
    """The tables in capture order, and whether they are one dumpcap ring set.

    A ring set is ordered by file index, then time (dumpcap numbers files as it rotates);
    anything else by the file's first time stamp, then path.
    """
    keys = [ring_key(t.path) for t in tables]
    if len(tables) > 1 and all(keys) and len({k[0] for k in keys}) == 1:
        order = sorted(range(len(tables)), key=lambda i: (keys[i][1], keys[i][2]))
        return [tables[i] for i in order], True
    return sorted(tables, key=lambda t: (_first_ts(t), t.path)), False


def _first_ts(table: PacketTable) -> float:
    stamped = table.ts_ns[table.ts_ns >= 0]
    return float(stamped.min()) if len(stamped) else float("inf")


def _display(source) -> str:
    if isinstance(source, (list, tuple)):
        return ", ".join(map(os.fspath, source))
    return os.fspath(source)


# -- joining --------------------------------------------------------------------------------------
def join_tables(tables: list[PacketTable], ring: bool, display: str) -> MultiPacketTable:
    """One table of ``tables`` (already in capture order): shifted columns, rows merged by time,
    cross-file duplicates dropped."""
    buf = MultiBuffer([t.path for t in tables], [len(t.buffer) for t in tables])
    cols, file_col = _shifted_columns(tables, buf.bases)
    order = _time_merge(cols["ts_ns"], file_col)
    cols = {name: c[order] for name, c in cols.items()}
    file_col = file_col[order]
    keep = ~_duplicates(cols, file_col, tables)
    cols = {name: c[keep] for name, c in cols.items()}
    stats = _joined_stats(tables, ring, display, file_col, keep, cols)
    return MultiPacketTable(path=display, buffer=buf.view, **cols, stats=stats,
                            file=file_col[keep].astype(np.int32), files=buf)


def _shifted_columns(tables, bases) -> tuple[dict, np.ndarray]:
    """Every file's columns concatenated, frames/interfaces/payload offsets shifted into the joined
    numbering and address space; plus each row's file index."""
    parts = {name: [] for name in COLUMNS}
    frames = ifaces = 0
    for t, base in zip(tables, bases):
        for name in COLUMNS:
            parts[name].append(getattr(t, name))
        parts["frame"][-1] = t.frame + frames
        parts["iface"][-1] = (t.iface + ifaces).astype(np.int32)
        parts["payload_off"][-1] = t.payload_off + base
        frames += t.stats.packets
        ifaces += len(t.stats.interfaces)
    cols = {name: np.concatenate(parts[name]).astype(dtype, copy=False)
            for name, dtype in COLUMNS.items()}
    file_col = np.concatenate([np.full(len(t), k, dtype=np.int32) for k, t in enumerate(tables)])
    return cols, file_col


def _time_merge(ts_ns: np.ndarray, file_col: np.ndarray) -> np.ndarray:
    """Row order merging the files by time while each file keeps its own row order.

    The key is each file's running maximum time stamp (non-decreasing within a file), so a
    stable sort never reorders a file's rows; files that do not overlap stay concatenated.
    """
    key = np.empty_like(ts_ns)
    for k in np.unique(file_col):
        rows = np.flatnonzero(file_col == k)
        key[rows] = np.maximum.accumulate(ts_ns[rows])
    return np.argsort(key, kind="stable")


def _duplicates(cols: dict, file_col: np.ndarray, tables) -> np.ndarray:
    """Boolean mask of rows that repeat a packet of an earlier file (see DUPLICATE_KEY)."""
    n = len(file_col)
    dup = np.zeros(n, dtype=bool)
    if n == 0 or not _files_overlap(tables):
        return dup     # files that do not overlap in time cannot share a packet: skip the sort
    keys = [cols[name] for name in DUPLICATE_KEY]
    o = np.lexsort([np.arange(n)] + keys[::-1])   # by key, then capture order
    same = np.ones(n, dtype=bool)
    same[0] = False
    for k in keys:
        sk = k[o]
        same[1:] &= sk[1:] == sk[:-1]
    group_start = np.maximum.accumulate(np.where(same, 0, np.arange(n)))
    sorted_file = file_col[o]
    dup[o] = sorted_file != sorted_file[group_start]
    return dup


def _files_overlap(tables) -> bool:
    """Whether any two files' time-stamp ranges overlap (or touch)."""
    spans = []
    for t in tables:
        stamped = t.ts_ns[t.ts_ns >= 0]
        if len(stamped):
            spans.append((int(stamped.min()), int(stamped.max())))
    spans.sort()
    return any(b[0] <= a[1] for a, b in zip(spans, spans[1:]))


def _joined_stats(tables, ring, display, file_col, keep, cols) -> MultiCaptureStats:
    """The joined table's statistics: sums, shifted interfaces, drops, per-file duplicates."""
    formats = sorted({t.stats.file_format for t in tables})
    st = MultiCaptureStats(path=display, file_format="+".join(formats),
                           files=[t.stats for t in tables], ring=ring)
    for name in ("packets", "non_tcp", "fragments", "header_cut", "malformed"):
        setattr(st, name, sum(getattr(t.stats, name) for t in tables))
    st.tcp_packets = int(keep.sum())
    st.duplicates = int((~keep).sum())
    st.truncated = int(np.count_nonzero(cols["captured_len"] < cols["payload_len"]))
    dropped = np.bincount(file_col[~keep], minlength=len(tables))
    st.duplicates_by_file = {t.path: int(d) for t, d in zip(tables, dropped)}
    base = 0
    for k, t in enumerate(tables):
        st.interfaces += [dict(i, id=i["id"] + base, file=t.path) for i in t.stats.interfaces]
        if not ring or k == len(tables) - 1:
            # a ring set's interface statistics are cumulative from the capture's start
            st.drops.update({iface + base: d for iface, d in t.stats.drops.items()})
        st.warnings += t.stats.warnings
        st.comments += t.stats.comments
        base += len(t.stats.interfaces)
    if ring:
        st.warnings += _ring_gaps([t.path for t in tables])
    return st


def _ring_gaps(paths: list[str]) -> list[str]:
    """One warning per hole in a ring set's file numbers (a file deleted or not given): the
    packets it held are missing, so connections crossing it have gaps."""
    out = []
    for a, b in zip(paths, paths[1:]):
        ia, ib = ring_key(a)[1], ring_key(b)[1]
        if ib != ia + 1:
            out.append(f"{b}: ring-buffer file number {ib} follows {ia}: the files in between "
                       "are missing, and so are their packets")
    return out


# -- one address space ----------------------------------------------------------------------------
class MultiBuffer:
    """Several files' bytes, read-only, back to back in one contiguous range of memory.

    File k occupies ``[bases[k], bases[k] + sizes[k])`` of :attr:`view` (a uint8 memoryview);
    each base is rounded up to a page.  On Linux the files are mapped in place (no copy): a
    range is reserved, then each file is mapped into its part with MAP_FIXED.  Why not a Python
    object that slices per file: Python 3.10/3.11 cannot let a Python class export the buffer
    protocol (PEP 688 came in 3.12), and the TCP stage takes ``memoryview(table.buffer)``.
    Elsewhere, if mapping fails, or with ``in_place=False`` the bytes are copied into anonymous
    memory.  ``sizes``: the bytes of each file to include (its size when it was read).
    """

    def __init__(self, paths: list[str], sizes: list[int], *, in_place: bool = True):
        self.paths, self.sizes = list(paths), list(sizes)
        page = mmap.PAGESIZE
        self.bases, total = [], 0
        for size in self.sizes:
            self.bases.append(total)
            total += -(-size // page) * page
        self._total = total
        self._region, self._closed = None, False
        if in_place and sys.platform.startswith("linux") and total:
            try:
                self._region = _MappedRegion(self.paths, self.sizes, self.bases, total)
            except OSError:
                self._region = None    # e.g. no libc symbols: fall back to a copy
        if self._region is not None:
            self.view = memoryview(np.asarray(self._region))   # the array keeps the region alive
        else:
            self.view = memoryview(self._copy(total))

    def _copy(self, total: int) -> mmap.mmap:
        mem = mmap.mmap(-1, max(total, 1))
        for path, base, size in zip(self.paths, self.bases, self.sizes):
            with open(path, "rb") as f:
                f.readinto(memoryview(mem)[base:base + size])
        return mem

    def __len__(self) -> int:
        return self._total

    def __getitem__(self, index):
        return self.view[index]

    def file_at(self, offset: int) -> tuple[int, int]:
        """(file index, offset inside that file) of a joined offset."""
        k = int(np.searchsorted(self.bases, offset, side="right")) - 1
        if k < 0 or offset - self.bases[k] >= self.sizes[k]:
            raise IndexError(f"offset {offset} is in no file")
        return k, offset - self.bases[k]

    def release(self, start: int, end: int) -> None:
        """Drop the resident pages of ``[start, end)`` (they are read again from the files when
        needed).  Only for mapped files: copied bytes have no file to come back from."""
        if self._region is not None and not self._closed:
            self._region.release(start, min(end, self._total))

    def close(self) -> None:
        """Drop this object's view; the memory goes when no other view of it is left."""
        self._closed = True
        try:
            self.view.release()
        except (BufferError, ValueError):
            pass     # a consumer still holds an export of the view; it frees it later


class _MappedRegion:
    """A range of memory with the files mapped into it (Linux).  numpy views it through
    ``__array_interface__``; the range is unmapped when the last view (and this object) is gone,
    so no Python object can ever point into unmapped memory."""

    PROT_NONE, PROT_READ = 0, mmap.PROT_READ
    MAP_FIXED, MAP_NORESERVE = 0x10, 0x4000          # Linux values (all architectures)

    def __init__(self, paths, sizes, bases, total):
        self._libc = _libc()
        self.addr = self._call_mmap(None, total, self.PROT_NONE,
                                    mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | self.MAP_NORESERVE, -1)
        self.size = total
        try:
            for path, size, base in zip(paths, sizes, bases):
                fd = os.open(path, os.O_RDONLY)
                try:
                    self._call_mmap(self.addr + base, size, self.PROT_READ,
                                    mmap.MAP_SHARED | self.MAP_FIXED, fd)
                finally:
                    os.close(fd)
        except BaseException:
            self._libc.munmap(ctypes.c_void_p(self.addr), ctypes.c_size_t(total))
            self.addr = None
            raise
        self.__array_interface__ = {"shape": (total,), "typestr": "|u1", "version": 3,
                                    "data": (self.addr, True)}

    def _call_mmap(self, addr, length, prot, flags, fd) -> int:
        got = self._libc.mmap(addr, length, prot, flags, fd, 0)
        if got is None or got == ctypes.c_void_p(-1).value:
            err = ctypes.get_errno()
            raise OSError(err, f"mmap failed: {os.strerror(err)}")
        return got

    def release(self, start: int, end: int) -> None:
        page = mmap.PAGESIZE
        lo, hi = -(-start // page) * page, end // page * page
        if hi > lo:
            self._libc.madvise(ctypes.c_void_p(self.addr + lo), ctypes.c_size_t(hi - lo),
                               mmap.MADV_DONTNEED)   # file-backed: pages come back from the file

    def __del__(self):
        if getattr(self, "addr", None) is not None:
            try:
                self._libc.munmap(ctypes.c_void_p(self.addr), ctypes.c_size_t(self.size))
            except Exception:     # interpreter shutdown: the process unmaps everything anyway
                pass
            self.addr = None


def _libc():
    """libc's mmap/munmap/madvise with their C signatures (64-bit file offsets)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fn = getattr(libc, "mmap64", None) or libc.mmap
    fn.restype = ctypes.c_void_p
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                   ctypes.c_int64]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]

    class Libc:      # a tiny namespace so that ``mmap`` means the 64-bit-offset variant
        mmap, munmap, madvise = fn, libc.munmap, libc.madvise
    return Libc


__all__ = ["read_many", "capture_files", "order_files", "join_tables", "ring_key",
           "MultiBuffer", "MultiPacketTable", "MultiCaptureStats"]
