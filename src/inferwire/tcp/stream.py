"""One direction of a TCP connection, reassembled: payload pieces ordered by stream offset.

A *stream offset* counts payload bytes from the first byte after the SYN (or, when the SYN was not
captured, from the lowest sequence number seen).  Every byte's content and ``times`` entry are
those of the first packet (in capture time) that carried it; where retransmissions or reordering
were seen, :mod:`inferwire.tcp.delivery` adds when the receiver had each prefix of the stream
(:attr:`DirectionStream.end_times`) and the latest time a piece's first byte can have been sent
(:attr:`DirectionStream.start_times`), which the message boundaries use.  Parsers are fed the
contiguous bytes; the times of message boundaries come back through the timelines
(:mod:`inferwire.exchanges.timeline`).
"""
from __future__ import annotations

import bisect
from array import array
from bisect import bisect_right
from dataclasses import dataclass, field

import numpy as np

try:              # runs of small pieces joined in C (_segments.c); same bytes
    from ._segments import gather as _c_gather
except ImportError:
    _c_gather = None

#: Bytes joined into one ``feed()`` call; bounds memory while keeping call overhead low (a
#: streamed answer's direction: 1 MiB runs were 6 % faster than 256 KiB ones, 4 MiB no better).
FEED_CHUNK = 1024 * 1024

#: Pieces at least this long are handed out as views by :meth:`DirectionStream.views`, smaller
#: ones joined: copying a piece of a few KiB costs less than the parser call a view of its own
#: takes (on loopback a streamed answer's packets carry 1-64 KiB: each was a call of its own).
VIEW_MIN = 64 * 1024

MASK32 = 0xFFFFFFFF

#: A message end that is not known (:meth:`DirectionStream.message_starts`): past every byte.
UNKNOWN_END = np.iinfo(np.int64).max

#: The time of a piece whose packet has no usable time stamp (a pcapng simple packet block, a
#: time stamp out of range): read it through :func:`known_time`.
NO_TIME = -1


#: Pieces up to which :meth:`DirectionStream._runs` walks them one by one in Python: the plan
#: over the columns costs ~10 us of numpy calls, the walk ~0.3 us a piece.
RUNS_WALK_MAX = 32

#: Pieces up to which :meth:`DirectionStream._summary` counts in a Python loop; beyond, with
#: numpy (:func:`summary_counted`; the same counts, tests/tcp/test_segments_c.py).
SUMMARY_LOOP_MAX = 64

#: :attr:`DirectionStream.known_summary` before anything was counted.
UNKNOWN_SUMMARY = (-1, 0, 0)


def known_time(t_ns: int) -> int | None:
    """A piece's time as read from ``times``: ``t_ns``, or None where it is unknown (negative)."""
    return t_ns if t_ns >= 0 else None


@dataclass
class Gap:
    """Stream bytes ``[start, end)`` that were sent but not captured (lost or cut by snaplen)."""

    start: int
    end: int


def int64s(values=()) -> array:
    """An ``array("q")``: the column type of :class:`DirectionStream`."""
    return array("q", values)


@dataclass
class DirectionStream:
    """The reassembled payload of one direction.

    ``starts``/``ends`` are stream offsets of non-overlapping pieces, sorted; ``times`` the capture
    time (ns; :data:`NO_TIME` where that packet has none: read it with :func:`known_time`) of the
    packet that first carried each piece, ``frames`` its frame number and ``srcs``
    the offset of the piece's first byte in ``buffer``.  ``end`` is one past the highest byte seen.
    The five columns are ``array("q")`` (sequences of int64, like lists to read): 8 bytes per
    piece and nothing for the garbage collector to scan, where lists of ints cost ~5x the memory
    and made every collection during an analysis walk hundreds of thousands of them.
    """

    buffer: object
    starts: array = field(default_factory=int64s)
    ends: array = field(default_factory=int64s)
    times: array = field(default_factory=int64s)
    frames: array = field(default_factory=int64s)
    srcs: array = field(default_factory=int64s)
    retransmitted_segments: int = 0
    retransmitted_bytes: int = 0
    fin_offset: int | None = None
    uncaptured: list = field(default_factory=list)   # [start, end) cut by snaplen
    #: Per piece, when the receiver had every byte up to the piece's end and the frame of the
    #: copy that completed it (:mod:`inferwire.tcp.delivery`); None: each piece's own time and
    #: frame (one copy of every byte, in order).  Read them through :attr:`end_times`.
    done: object = None
    done_frames: object = None
    #: Per piece, the earliest capture time of any byte at or after it (a first byte lost before
    #: the capture point was sent before every later byte seen); None: the piece's own time.
    #: A message's start takes only its own bytes into account (:meth:`start_of`).
    begun: object = None
    differing_segments: int = 0      # retransmissions whose repeated bytes differ from the first
    delivery: object = None          # the Delivery of a direction with retransmissions/reordering
    #: (pieces counted, distinct bytes, contiguous end) as last computed, or given by a builder
    #: that knows them for these pieces (:meth:`~inferwire.tcp.grouping.Directions.stream`
    #: passes its vectorised counts); :data:`UNKNOWN_SUMMARY` until then.  A count that no
    #: longer matches the pieces means it is computed again.
    known_summary: tuple = field(default=UNKNOWN_SUMMARY, repr=False, compare=False)

    # -- building -------------------------------------------------------------------------------
    def set_pieces(self, starts: array, ends: array, times: array, frames: array,
                   srcs: array) -> None:
        """Replace the five piece columns (same rules as the constructor's: e.g. the pieces
        cut at ACK boundaries by :func:`~inferwire.tcp.delivery.split_pieces`)."""
        self.starts, self.ends, self.times, self.frames, self.srcs = (starts, ends, times, frames,
                                                                       srcs)
        self.known_summary = UNKNOWN_SUMMARY          # recomputed when next asked

    def add(self, start: int, wire_len: int, captured: int, t_ns: int, frame: int, src: int) -> None:
        """Record a segment carrying stream bytes ``[start, start+wire_len)``; ``captured`` of them
        are in the file at ``src``.  Call in capture-time order."""
        end = start + captured
        if captured < wire_len:
            self.uncaptured.append((end, start + wire_len))
        if captured <= 0:
            return
        if not self.ends or start >= self.ends[-1]:  # the common, in-order case
            self._append(start, end, t_ns, frame, src)
            return
        self._insert(start, end, t_ns, frame, src)

    def _append(self, start, end, t_ns, frame, src):
        self.starts.append(start)
        self.ends.append(end)
        self.times.append(t_ns)
        self.frames.append(frame)
        self.srcs.append(src)

    def _insert(self, start, end, t_ns, frame, src):
        """Fill only the parts of ``[start, end)`` no earlier packet carried (rare path)."""
        i = bisect.bisect_right(self.ends, start)
        cursor, new, covered = start, [], 0
        while cursor < end:
            if i < len(self.starts) and self.starts[i] <= cursor:
                covered += min(self.ends[i], end) - cursor
                cursor = self.ends[i]
                i += 1
                continue
            stop = min(end, self.starts[i]) if i < len(self.starts) else end
            new.append((cursor, stop))
            cursor = stop
        if covered:
            self.retransmitted_segments += 1
            self.retransmitted_bytes += covered
            if self._differs(start, end, src):
                self.differing_segments += 1
        for s, e in new:
            j = bisect.bisect_left(self.starts, s)
            self.starts.insert(j, s)
            self.ends.insert(j, e)
            self.times.insert(j, t_ns)
            self.frames.insert(j, frame)
            self.srcs.insert(j, src + (s - start))

    def _differs(self, start: int, end: int, src: int) -> bool:
        """Whether the bytes of ``[start, end)`` at ``src`` differ from the pieces already
        holding them (the first copy wins either way)."""
        buf = self.buffer
        i = max(bisect.bisect_right(self.ends, start), 0)
        while i < len(self.starts) and self.starts[i] < end:
            s, e = max(self.starts[i], start), min(self.ends[i], end)
            if s < e:
                old = self.srcs[i] + (s - self.starts[i])
                new = src + (s - start)
                if buf[old:old + e - s] != buf[new:new + e - s]:
                    return True
            i += 1
        return False

    # -- reading --------------------------------------------------------------------------------
    @property
    def end_times(self):
        """Per piece: when the receiver had every byte up to its end (ns; :data:`NO_TIME`
        unknown): the delivery rule's time where retransmissions or reordering were seen, else
        the piece's own capture time."""
        return self.times if self.done is None else self.done

    @property
    def start_times(self):
        """Per piece: the latest time its first byte can have been sent, as captured: its own
        capture time, or an earlier one of a later byte (the first copy was lost before the
        capture point)."""
        return self.times if self.begun is None else self.begun

    def start_of(self, first: int, last: int) -> int:
        """The start time (ns; :data:`NO_TIME` unknown) of a message whose first byte is in
        piece ``first`` and whose last captured byte is in piece ``last`` (>= ``first``): the
        first byte's capture time, or an earlier capture of a later byte *of the message* (its
        first copy was lost before the capture point).  A later message's byte captured
        earlier does not count: the receiver had none of this message's bytes then."""
        t = int(self.start_times[first])
        if self.begun is None or t < 0 or t == self.times[first]:
            return t
        own = np.frombuffer(self.times, dtype=np.int64)[first:max(last, first) + 1]
        return int(own[own >= 0].min())

    def message_starts(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """:meth:`start_of` of each message at stream offsets ``[starts, ends)`` (int64 arrays;
        an end of :data:`UNKNOWN_END`: unknown, every later byte of the direction counts): its
        start time, -1 where its first byte was not captured or its time is unknown.  The
        vectorised look-up the timelines and the streamed messages share."""
        starts = np.asarray(starts, dtype=np.int64)
        if not len(self.starts):
            return np.full(len(starts), NO_TIME, np.int64)
        piece_starts = np.asarray(self.starts, dtype=np.int64)     # views of the columns
        piece_ends = np.asarray(self.ends, dtype=np.int64)
        first = np.searchsorted(piece_starts, starts, "right") - 1
        at = np.maximum(first, 0)
        held = (starts >= 0) & (first >= 0) & (starts < piece_ends[at])
        own = np.asarray(self.times, dtype=np.int64)
        out = own[at] if self.begun is None else np.asarray(self.begun, dtype=np.int64)[at]
        if self.begun is not None:            # only each message's own bytes count
            last = np.searchsorted(piece_starts, np.asarray(ends, dtype=np.int64) - 1,
                                   "right") - 1
            for k in np.flatnonzero(held & (out >= 0) & (out != own[at])).tolist():
                out[k] = self.start_of(int(first[k]), int(last[k]))
        return np.where(held & (out >= 0), out, NO_TIME)

    def last_piece_before(self, end: int) -> int:
        """Index of the last piece holding a byte before stream offset ``end`` (-1: none)."""
        return bisect_right(self.starts, end - 1) - 1

    @property
    def end_frames(self):
        """Per piece: the frame of the copy that completed the bytes up to its end."""
        return self.frames if self.done_frames is None else self.done_frames

    def _summary(self) -> tuple[int, int]:
        """(distinct bytes, contiguous end), cached: analysis asks for them a dozen times per
        connection and pieces only ever get added (which changes their count)."""
        cached = self.known_summary
        if cached[0] == len(self.starts):
            return cached[1], cached[2]
        if len(self.starts) > SUMMARY_LOOP_MAX:
            nbytes, cursor = summary_counted(self.starts, self.ends)
            self.known_summary = (len(self.starts), nbytes, cursor)
            return nbytes, cursor
        nbytes, cursor, gap_seen = 0, 0, False
        for s, e in zip(self.starts, self.ends):
            nbytes += e - s
            if not gap_seen:
                if s > cursor:
                    gap_seen = True
                else:
                    cursor = e
        self.known_summary = (len(self.starts), nbytes, cursor)
        return nbytes, cursor

    @property
    def end(self) -> int:
        return self.ends[-1] if self.ends else 0

    @property
    def nbytes(self) -> int:
        """Distinct payload bytes captured in this direction."""
        return self._summary()[0]

    def gaps(self) -> list[Gap]:
        """Holes between offset 0 and :attr:`end` that no captured packet filled."""
        out, cursor = [], 0
        if self._summary()[1] == self.end:
            return out
        for s, e in zip(self.starts, self.ends):
            if s > cursor:
                out.append(Gap(cursor, s))
            cursor = max(cursor, e)
        return out

    def contiguous_end(self) -> int:
        """One past the last byte of the gap-free prefix of the stream."""
        return self._summary()[1]

    def chunks(self, limit: int | None = None):
        """``(offset, bytes)`` pairs of the gap-free prefix (up to ``limit``), in order, pieces
        joined into bytes of up to about ``FEED_CHUNK``."""
        stop = self.contiguous_end() if limit is None else min(limit, self.contiguous_end())
        return self._runs(stop, None) if stop > 0 else ()

    def views(self):
        """As :meth:`chunks`, big pieces not copied: a piece of at least ``VIEW_MIN`` bytes
        comes as a memoryview of the capture, runs of smaller ones joined into bytes.  For
        parsers that count most bytes without reading them (HTTP/1 bodies of known length):
        those are never copied.  Keep no ``data`` after use (a view pins the capture's buffer)."""
        stop = self.contiguous_end()
        if stop <= 0:
            return ()
        if self.ends[0] >= stop:             # one piece holds it all: the usual response
            src = self.srcs[0]
            if stop < VIEW_MIN:
                return ((0, bytes(self.buffer[src:src + stop])),)
            return ((0, memoryview(self.buffer)[src:src + stop]),)
        return self._runs(stop, VIEW_MIN)

    def _runs(self, stop: int, view_min: int | None, use_c: bool = True):
        """The pieces before ``stop`` as ``(offset, data)``: those of ``view_min`` bytes or more
        as views (never, if None), runs of the others joined (one copy: slices of a view),
        each run cut after the piece that brings it to ``FEED_CHUNK`` bytes.  The runs are
        planned over the columns and joined in C when built and the stream has more than
        ``RUNS_WALK_MAX`` pieces (else, or ``use_c`` False: the readable piece-by-piece walk,
        :meth:`_runs_walked`; the same chunks)."""
        if _c_gather is None or not use_c or len(self.starts) <= RUNS_WALK_MAX:
            return self._runs_walked(stop, view_min)
        return self._runs_planned(stop, view_min)

    def _runs_planned(self, stop: int, view_min: int | None):
        k = int(np.searchsorted(_int64_view(self.starts), stop, "left"))
        # copies: a view of an array("q") would keep it from growing while the runs are read
        starts, ends, srcs = (_int64_view(c)[:k].copy() for c in (self.starts, self.ends,
                                                                 self.srcs))
        lens = np.minimum(ends, stop) - starts
        big = (np.flatnonzero(lens >= view_min) if view_min is not None
               else np.zeros(0, dtype=np.int64)).tolist()
        reach = np.cumsum(lens)                 # bytes of pieces [0, i] (all positive)
        view = memoryview(self.buffer)
        try:
            a = 0
            for b in big + [k]:                 # the small pieces [a, b), then the big one b
                while a < b:
                    base = int(reach[a - 1]) if a else 0
                    cut = min(int(np.searchsorted(reach, base + FEED_CHUNK, "left")) + 1, b)
                    yield int(starts[a]), _c_gather(self.buffer, srcs, lens, a, cut)
                    a = cut
                if b < k:
                    src = int(srcs[b])
                    yield int(starts[b]), view[src:src + int(lens[b])]
                a = b + 1
        finally:
            view.release()

    def _runs_walked(self, stop: int, view_min: int | None):
        view = memoryview(self.buffer)
        try:
            pending, pending_at, size = [], 0, 0
            for s, e, src in zip(self.starts, self.ends, self.srcs):
                if s >= stop:
                    break
                n = min(e, stop) - s
                if view_min is not None and n >= view_min:
                    if pending:
                        yield pending_at, b"".join(pending)
                        pending, size = [], 0
                    yield s, view[src:src + n]
                    continue
                if not pending:
                    pending_at = s
                pending.append(view[src:src + n])
                size += n
                if size >= FEED_CHUNK:
                    yield pending_at, b"".join(pending)
                    pending, size = [], 0
            if pending:
                yield pending_at, b"".join(pending)
        finally:
            pending = None
            view.release()

    def head(self, n: int) -> bytes:
        """The first ``n`` bytes of the stream (fewer if not captured)."""
        if self.starts and self.starts[0] == 0 and self.ends[0] >= n:   # the usual case
            return bytes(self.buffer[self.srcs[0]:self.srcs[0] + n])
        return b"".join(data for _, data in self.chunks(limit=n))[:n]

    def read(self, start: int, end: int) -> bytes | None:
        """The bytes at stream offsets [start, end), or None when any of them was not captured."""
        if end <= start:
            return b""
        i, parts, at = self.piece_at(start), [], start
        while at < end:
            if i < 0 or i >= len(self.starts) or not self.starts[i] <= at < self.ends[i]:
                return None
            src = self.srcs[i] + at - self.starts[i]
            n = min(self.ends[i], end) - at
            parts.append(bytes(self.buffer[src:src + n]))
            at += n
            i += 1
        return b"".join(parts)

    def piece_at(self, offset: int) -> int:
        """Index of the piece holding the byte at ``offset``, or -1 if no packet carried it."""
        i = bisect_right(self.starts, offset) - 1
        return i if i >= 0 and offset < self.ends[i] else -1

    def _index(self, offset: int) -> int:
        i = bisect_right(self.starts, offset) - 1
        if i < 0 or offset >= self.ends[i]:
            raise KeyError(offset)
        return i

    def time_at(self, offset: int) -> int | None:
        """Capture time (ns) of the packet that first carried the byte at ``offset``; None if
        that packet has no time stamp.  KeyError if no packet carried it."""
        return known_time(self.times[self._index(offset)])

    def frame_at(self, offset: int) -> int:
        """Frame number of the packet that first carried the byte at ``offset``."""
        return self.frames[self._index(offset)]


def summary_counted(starts, ends) -> tuple[int, int]:
    """(distinct bytes, contiguous end) of pieces as :meth:`DirectionStream._summary` counts
    them one by one (the prefix runs while no piece starts past the previous piece's end),
    vectorised."""
    s, e = _int64_view(starts), _int64_view(ends)
    if not len(s):
        return 0, 0
    before = np.concatenate(([0], e[:-1]))          # the cursor before each piece, gap-free
    gap = np.flatnonzero(s > before)
    cursor = int(e[-1]) if not len(gap) else (int(e[gap[0] - 1]) if gap[0] else 0)
    return int((e - s).sum()), cursor


def _int64_view(column) -> np.ndarray:
    """A piece column as int64 numpy (no copy for an ``array("q")``)."""
    if isinstance(column, array):
        return np.frombuffer(column, dtype=np.int64) if len(column) else np.zeros(0, np.int64)
    return np.asarray(column, dtype=np.int64)


def unwrap32(values: list[int], reference: int) -> list[int]:
    """Map raw 32-bit sequence numbers to signed distances from ``reference``, following wrap-around.

    Consecutive values are assumed to move by less than 2**31 (true for any TCP window), so a stream
    longer than 4 GiB keeps increasing offsets.
    """
    out, base, prev = [], 0, None
    for v in values:
        rel = (v - reference) & MASK32
        if prev is not None:
            step = rel - prev
            if step < -(1 << 31):
                base += 1 << 32
            elif step > (1 << 31):
                base -= 1 << 32
        prev = rel
        out.append(rel + base)
    return out
