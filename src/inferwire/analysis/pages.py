"""Page memory: how much of the mapped capture the analysis holds, and giving it back.

A :class:`PageBudget` counts the bytes of the capture's mapping that reads bring into memory and
releases the pages every so often; :class:`PagedTimeline` is a timeline whose reads are counted
against it.  :func:`give_back_freed_memory` returns the C heap's free pages (glibc's
``malloc_trim``) while big tables are joined.
"""
from __future__ import annotations

import ctypes
import functools
from bisect import bisect_right

from ..exchanges.timeline import TcpTimeline
from ..libc import libc_function

#: Bytes of the capture's mapping brought into memory between two releases of its pages.  Each
#: read of a mapped page also maps its neighbours (the kernel's fault-around, up to 64 KiB), and a
#: connection's packets lie scattered among everyone else's, so what a read maps is counted, not
#: what it reads: about 64 KiB per packet piece of a short direction (a 300-byte REST head maps
#: 64 KiB).  Counting bytes read let a worker hold 200-300 MiB of file pages on a 1 GB capture.
RELEASE_EVERY = 16 * 1024 * 1024
#: The same for a capture analyzed whole from its own file's map (not spilled to buckets on
#: disk, so smaller than the spill size, 512 MiB): its pages are kept for the whole analysis.
#: Its connections' packets lie interleaved through the file, so each connection read back most
#: of the pages the previous one had just let go: with 16 MiB, one process of the 302 MB SSE
#: benchmark capture spent 12 % more time (page faults and releases) than keeping them.  Pages
#: of a mapped file are the kernel's to drop under memory pressure (they are clean); the
#: columns and tables, not these, are what a process holds.
WHOLE_FILE_RELEASE_EVERY = 512 * 1024 * 1024
#: How far around a byte read the kernel may have mapped pages (its fault-around window); also
#: more than a packet piece's length (a TCP segment carries < 64 KiB).
FAULT_AROUND = 64 * 1024
#: Tables of this many rows or more give the heap's free pages back after each joined column
#: (:func:`give_back_freed_memory`, ~0.3 ms a call): on smaller ones it costs more than it saves.
TRIM_ROWS = 100_000


class PageBudget:
    """Counts the bytes of a capture's mapping that reads bring into memory (:func:`_mapped`)
    and lets the pages go (see :meth:`PacketTable.release`) every ``every`` bytes: only the span
    of file offsets read since the last release (widened by the fault-around window), so that a
    release costs in proportion to what was read, not to the file's size.  What is mapped is
    at most that span, however many reads fell in it: reads of small pieces packed in a span
    smaller than ``every`` never release (a stream of 300-byte tokens counted 64 KiB a piece).
    One per process."""

    def __init__(self, table, every: int = RELEASE_EVERY):
        self.table, self.every, self.used = table, every, 0
        self.lo, self.hi = None, 0

    def spend(self, nbytes: int, lo: int, hi: int) -> None:
        """``nbytes`` read (or about to be) from the file offsets in ``[lo, hi)``.  When the
        budget is used up, what was read before this call goes; this call's span is counted
        for the next release (it may be about to be read)."""
        if self.lo is not None and min(self.used + nbytes, max(self.hi, hi) - min(self.lo, lo)
                                       + 2 * FAULT_AROUND) >= self.every:
            self.table.release(self.hi + FAULT_AROUND, start=max(0, self.lo - FAULT_AROUND)
                               // FAULT_AROUND * FAULT_AROUND)
            self.used, self.lo, self.hi = 0, None, 0
        self.used += nbytes
        self.lo = lo if self.lo is None else min(self.lo, lo)
        self.hi = max(self.hi, hi)


class _Spender:
    """``spend(pieces, nbytes, lo, hi)``: a read of ``nbytes`` over ``pieces`` packet pieces at
    file offsets ``[lo, hi)`` counted against a :class:`PageBudget` (as
    :meth:`PagedTimeline.spend_all` counts them); ``connections``: how many one-request
    connections to read between two calls, so that what they map (a fault-around window for
    each of their two heads) stays a quarter of the budget."""

    def __init__(self, budget: PageBudget):
        self.budget = budget
        self.connections = max(1, budget.every // (8 * FAULT_AROUND))

    def __call__(self, pieces: int, nbytes: int, lo: int, hi: int) -> None:
        self.budget.spend(_mapped(pieces, nbytes), lo, hi + FAULT_AROUND)


def spender(budget: PageBudget | None) -> _Spender | None:
    """What :func:`~inferwire.exchanges.plainbatch.one_request_batch` tells its reads to (and
    how many connections it reads at a time): ``budget``; None without one."""
    if budget is None:
        return None
    return _Spender(budget)


def _mapped(pieces: int, nbytes: int) -> int:
    """About how much of the mapping reading ``nbytes`` spread over ``pieces`` packet pieces
    brings into memory: a fault-around window per piece, or the bytes if more."""
    return max(nbytes, pieces * FAULT_AROUND)


class PagedTimeline(TcpTimeline):
    """A TcpTimeline whose chunk reads are counted against a :class:`PageBudget`."""

    def __init__(self, stream, budget: PageBudget | None):
        super().__init__(stream)
        self.budget = budget

    def chunks(self):
        return self._spent(super().chunks())

    def views(self):
        return self._spent(super().views())

    def _spent(self, pieces):
        """``pieces`` with their bytes counted (views count too: reading their head maps the
        pages around it).  A short direction is counted once, before it is read; a long one
        piece by piece, so that its pages go while it is read."""
        if self.budget is None or not self.stream.srcs:
            return pieces
        mapped, lo, hi = self._extent()
        if mapped < self.budget.every:
            self.budget.spend(mapped, lo, hi)
            return pieces
        return self._counted(pieces)

    def spend_all(self) -> None:
        if self.budget is not None and self.stream.srcs:
            self.budget.spend(*self._extent())

    def _extent(self) -> tuple[int, int, int]:
        """(bytes mapped by reading the direction, its first and last file offsets + a piece).
        A piece out of file order may lie outside: its pages go with the whole mapping's at
        the end of the bucket."""
        srcs = self.stream.srcs                  # file offsets of the pieces, in stream order
        return (_mapped(len(srcs), self.stream.contiguous_end()), srcs[0],
                srcs[-1] + FAULT_AROUND)

    def _counted(self, pieces):
        # The file span of each chunk's own pieces, not the whole direction's: a long
        # connection spans the whole file, and a release costs the span it covers.
        starts, srcs, budget = self.stream.starts, self.stream.srcs, self.budget
        for offset, data in pieces:
            yield offset, data
            first = bisect_right(starts, offset) - 1
            last = bisect_right(starts, offset + len(data) - 1) - 1
            budget.spend(_mapped(last - first + 1, len(data)), min(srcs[first], srcs[last]),
                         max(srcs[first], srcs[last]) + FAULT_AROUND)


def give_back_freed_memory() -> None:
    """Return the C heap's free pages to the system (glibc's ``malloc_trim``; nothing
    elsewhere).  The buckets' column pieces are small enough to live in the heap, and a joined
    column big enough to be mapped apart: without this, pieces freed while the table is joined
    stay in the process as free heap, and the join needs the table's size twice over."""
    trim = malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def malloc_trim():
    """glibc's ``malloc_trim`` as a ctypes function, or None where the C library has none."""
    return libc_function("malloc_trim", (ctypes.c_size_t,), ctypes.c_int)
