"""Which captured copy of each byte the receiver got, and when a prefix of the stream was whole.

A direction whose segments all came once and in order needs none of this: each byte's one copy
is the delivered one.  For the others (retransmissions, reordering) the receiver's ACKs decide,
byte range by byte range:

* ``A``: the capture time of the first ACK from the receiver covering the range (cumulative ACK
  at or past its end, or a SACK block holding it);
* the copy that got through is the latest copy captured at or before ``A - guard``, where
  ``guard`` is half the round trip between the capture point and the receiver (from the
  handshake, and no longer than half the shortest one the direction shows:
  :func:`shortest_round_trip`): an ACK seen sooner after a copy than that cannot have been
  caused by it.  Captured
  at the sender's side, a lost original is followed by its retransmission and only then by the
  ACK: the retransmission is chosen; captured at the receiver's side, the guard is about zero,
  and a copy the receiver got is acknowledged before the sender's next (spurious) copy;
* with TCP timestamps (RFC 7323) on the copies and on the ACK that first covers the range
  cumulatively, that ACK's TSecr names the copy that caused it: the latest copy of the range
  whose TSval equals it (and captured at or before the ACK) is the one that got through,
  whatever the guard says (the receiver echoes the TSval of the segment that advanced its left
  edge; a later ACK can come sooner than the guard after the copy that caused it).  An echo
  matching none of the range's copies (the ACK answers a run begun by an earlier segment), or
  only copies that could not have set it (begun past every ACK the receiver had sent:
  :func:`_echo_can_name`), or a range a SACK block covered first, leaves the guard to decide;
* a copy captured at least the guard before an ACK whose SACK blocks leave the range out
  (reported missing: at or past the cumulative ACK, below a SACK block's end) did not get
  through, however soon the covering ACK followed a later copy;
* a D-SACK block (RFC 2883) covering the range says that a copy arrived twice: the copy that
  caused it (of the repeats -- never a byte's first copy -- captured before the D-SACK, the one
  it followed by the time closest to the handshake's round trip, as a ratio) did not deliver
  anything new, and an earlier one is chosen;
* no ACK covers the range (the capture ended first), or the times contradict the guard: the
  latest copy at or before ``A``, else the first captured copy.

A message is complete at the receiver when every byte before its end has arrived (TCP hands
bytes over in order), so a message's end time is the running maximum of delivery times up to
its last byte (:attr:`Delivery.done`), not its last byte's own time: a lost middle segment
delays the end of its message to the retransmission.

Every copy is also classified, as Wireshark's ``tcp.analysis`` does: a *retransmission* repeats
bytes already captured, or fills a hole later than the out-of-order threshold (the handshake's
round trip, 3 ms without one) after the segment past the hole; an *out-of-order* segment fills
a hole sooner; a zero-window probe or keep-alive (at most one byte, just below the highest byte
sent) is neither.  Times are int ns; offsets are stream offsets of the direction.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from .stream import int64s

try:              # classify over a whole direction in C (_segments.c); same results
    from ._segments import classify as _c_classify
except ImportError:
    _c_classify = None

#: :func:`classify_codes`' codes of :func:`classify`'s kinds (its index: the code).
KINDS = ("new", "retrans", "ooo", "probe")
NEW, RETRANS, OOO, PROBE = range(4)

#: Wireshark's default out-of-order threshold when the handshake gave no round trip.
OOO_DEFAULT_NS = 3_000_000


@dataclass
class AckEvidence:
    """What the receiver of a direction said back, as seen at the capture point.

    ``t``/``ack``: capture time (ns, time order) and cumulative ACK (stream offset of the
    direction) of every timed ACK the receiver sent; ``sacks``: ``(t, left, right, dsack,
    cumulative ACK)`` blocks in stream offsets; ``guard_ns``: half the round trip between the capture point and
    the receiver; ``ooo_ns``: the out-of-order threshold.  ``tsecr``: each ACK's TSecr and
    ``copy_tsval``: each copy's TSval (RFC 7323 timestamps, raw; -1 or None: absent).
    """

    t: np.ndarray
    ack: np.ndarray
    sacks: list = field(default_factory=list)
    guard_ns: int = 0
    ooo_ns: int = OOO_DEFAULT_NS
    tsecr: np.ndarray | None = None
    copy_tsval: np.ndarray | None = None

    @cached_property
    def reach(self) -> np.ndarray:
        """The highest cumulative ACK up to each ACK (int64, ``t``'s order)."""
        return np.maximum.accumulate(np.asarray(self.ack, dtype=np.int64))


@dataclass
class Delivery:
    """The result for one direction (see the module's rules).

    ``done``/``done_frames``: per piece of the (split) stream, the time the receiver had every
    byte up to the piece's end and the frame of the copy that completed it.  ``retrans_t``,
    ``retrans_bytes``: time and wire bytes of every retransmission; ``repairs``: the intervals
    ``(from, to)`` (ns) during which delivered bytes waited for a retransmission.
    """

    done: object = None
    done_frames: object = None
    retrans_t: list = field(default_factory=list)
    retrans_bytes: list = field(default_factory=list)
    out_of_order: int = 0
    repairs: list = field(default_factory=list)
    #: pieces whose delivery the capture cannot tell (:func:`_uncertain`), and the most a
    #: prefix's completion (``done``) may be late by there, ns
    uncertain: int = 0
    uncertain_ns: int = 0


def classify(copies: list, ooo_ns: int, marks: list = ()) -> tuple[list, int, list]:
    """Per copy (time order; ``(off, wire_len, captured, t, frame, src)``): "new", "retrans",
    "ooo" or "probe"; the count of out-of-order copies; and ``(max_end, t)`` after each copy
    that advanced the highest byte, for finding when a hole was first seen.

    ``marks``: ``(offset, t, frame)`` of the direction's segments without payload (pure ACK,
    FIN; time order): one whose sequence number is past every byte captured so far shows bytes
    sent and not captured (Wireshark's "previous segment not captured" on a frame of length 0)
    and advances the highest byte as a copy would, so the copy that later fills that hole is a
    retransmission or out of order, as tshark labels it."""
    kinds, ooo, advanced = [], 0, []
    covered_s, covered_e = [], []                      # union of earlier copies, merged
    max_end, t_adv = 0, None
    k = 0
    for off, wire, _, t, frame, _ in copies:
        while k < len(marks) and t >= 0 and (marks[k][1], marks[k][2]) < (t, frame):
            if marks[k][0] > max_end:
                max_end, t_adv = marks[k][0], marks[k][1]
                advanced.append((max_end, t_adv))
            k += 1
        end = off + wire
        if off >= max_end:                 # new bytes in order: the usual copy, cheaply
            kinds.append("new")
            if covered_e and off == covered_e[-1]:
                covered_e[-1] = end
            elif wire > 0:
                covered_s.append(off)
                covered_e.append(end)
            if end > max_end:
                max_end, t_adv = end, t
                advanced.append((max_end, t))
            continue
        overlaps = _overlaps(covered_s, covered_e, off, end)
        if wire <= 1 and off == max_end - 1 and end <= max_end:
            kind = "probe"
        elif overlaps:
            kind = "retrans"
        elif off < max_end:
            late = t < 0 or t_adv is None or t_adv < 0 or t - t_adv >= ooo_ns
            kind = "retrans" if late else "ooo"
            ooo += kind == "ooo"
        else:
            kind = "new"
        kinds.append(kind)
        _merge(covered_s, covered_e, off, end)
        if end > max_end:
            max_end, t_adv = end, t
            advanced.append((max_end, t))
    return kinds, ooo, advanced


def _overlaps(starts: list, ends: list, s: int, e: int) -> bool:
    i = bisect_right(ends, s)
    return i < len(starts) and starts[i] < e


def _merge(starts: list, ends: list, s: int, e: int) -> None:
    """Add ``[s, e)`` to the sorted disjoint intervals ``starts``/``ends``."""
    i, j = bisect_left(ends, s), bisect_right(starts, e)
    if i < j:
        s, e = min(s, starts[i]), max(e, ends[j - 1])
    starts[i:j], ends[i:j] = [s], [e]


def classify_codes(copies, ooo_ns: int, marks: list = (), use_c: bool = True) -> tuple:
    """:func:`classify` over ``copies`` (a :class:`~inferwire.tcp.segments.Segments`) as
    arrays: the kinds as int8 codes (:data:`KINDS`), the count of out-of-order copies, and the
    ``(max_end, t)`` advances as two int64 arrays; in C when built (``use_c`` False: Python)."""
    if _c_classify is None or not use_c:
        kinds, ooo, advanced = classify(copies.tuples(), ooo_ns, marks)
        codes = np.array([KINDS.index(k) for k in kinds], dtype=np.int8)
        adv = np.array(advanced, dtype=np.int64).reshape(-1, 2)
        return codes, ooo, (adv[:, 0].copy(), adv[:, 1].copy())
    m = np.array(marks, dtype=np.int64).reshape(-1, 3)
    cols = [np.ascontiguousarray(c, dtype=np.int64)
            for c in (copies.off, copies.wire, copies.t, copies.frame)]
    raw, ooo, ends, times = _c_classify(*cols, int(ooo_ns), *(np.ascontiguousarray(m[:, i])
                                                             for i in range(3)))
    return (np.frombuffer(raw, dtype=np.int8), ooo,
            (np.frombuffer(ends, dtype=np.int64), np.frombuffer(times, dtype=np.int64)))


def split_pieces(stream, copies, kinds: np.ndarray | None = None) -> None:
    """Cut the stream's pieces at every copy's first and last byte, so that each piece is
    carried whole by every copy that carries part of it (vectorised).

    ``kinds``: :func:`classify_codes`' kinds of the copies, to cut only at the bytes of the
    repeats and of the copies the snaplen cut.  A piece holds captured bytes a copy brought
    first, so a copy whose first or last byte falls inside it either shares bytes with that
    earlier copy (a retransmission or a probe) or came before it with those bytes not captured.
    (Cutting at every copy's bytes gives the same pieces.)"""
    if not len(copies) or not len(stream.starts):
        return
    if kinds is not None:
        repeats = np.flatnonzero((kinds == RETRANS) | (kinds == PROBE)
                                 | (copies.cap < copies.wire))
        if not len(repeats):
            return
        bounds = (copies.off[repeats], copies.off[repeats] + copies.wire[repeats])
    else:
        bounds = (copies.off, copies.off + copies.wire)
    # two runs that are each nearly in order: a merge sort (timsort) is 3x quicker here
    cuts = np.sort(np.concatenate(bounds).astype(np.int64), kind="stable")
    cuts = cuts[np.concatenate(([True], cuts[1:] != cuts[:-1]))]   # (np.unique hashes: slower)
    col = {k: np.frombuffer(getattr(stream, k), dtype=np.int64)
           for k in ("starts", "ends", "times", "frames", "srcs")}
    lo = np.searchsorted(cuts, col["starts"], side="right")
    inner = np.searchsorted(cuts, col["ends"], side="left") - lo      # cuts inside each piece
    if not inner.any():
        return
    piece = np.repeat(np.arange(len(lo)), inner + 1)
    first = np.concatenate(([0], np.cumsum(inner + 1)[:-1]))
    k = np.arange(len(piece)) - first[piece]                          # part within its piece
    starts = np.where(k == 0, col["starts"][piece], cuts[np.minimum(lo[piece] + k - 1,
                                                                    len(cuts) - 1)])
    ends = np.where(k == inner[piece], col["ends"][piece],
                    cuts[np.minimum(lo[piece] + k, len(cuts) - 1)])
    new = {"starts": starts, "ends": ends, "times": col["times"][piece],
           "frames": col["frames"][piece],
           "srcs": col["srcs"][piece] + (starts - col["starts"][piece])}
    columns = {}
    for name, values in new.items():
        columns[name] = int64s()
        columns[name].frombytes(np.ascontiguousarray(values, dtype=np.int64).tobytes())
    stream.set_pieces(**columns)


def deliver(stream, copies, ev: AckEvidence, marks: list = (), *,
            contested_only: bool = True) -> Delivery:
    """Split ``stream``'s pieces (:func:`split_pieces`), choose each piece's delivering copy
    and set ``stream.done``/``stream.done_frames``; returns the :class:`Delivery`.
    ``copies``: the direction's :class:`~inferwire.tcp.segments.Segments` (time order);
    ``marks``: the header-only segments that reveal holes (:func:`classify`).

    Only the pieces a second copy could have delivered go through the rules
    (:func:`contested_pieces`); every other piece was delivered by its one copy, as the rules
    would say.  ``contested_only`` False: every piece through the rules (the same result; the
    tests hold the default to it)."""
    out = Delivery()
    kinds, out.out_of_order, advanced = classify_codes(copies, ev.ooo_ns, marks)
    retrans = kinds == RETRANS
    if ev.guard_ns > 0 and (retrans.any() or (kinds == PROBE).any()):
        ev = tightened(ev, copies, kinds)
    out.retrans_t, out.retrans_bytes = copies.t[retrans].tolist(), copies.wire[retrans].tolist()
    split_pieces(stream, copies, kinds if contested_only else None)
    n = len(stream.starts)
    if n == 0:
        return out
    starts = np.frombuffer(stream.starts, dtype=np.int64)
    ends = np.frombuffer(stream.ends, dtype=np.int64)
    first_t = np.frombuffer(stream.times, dtype=np.int64)
    first_f = np.frombuffer(stream.frames, dtype=np.int64)
    dup = _duplicates(copies, kinds, ev)
    if contested_only:
        deliv_t, deliv_f = first_t.copy(), first_f.copy()
        earliest, echoed = np.full(n, -1, dtype=np.int64), None
        at = contested_pieces(copies, kinds, dup, starts)
        if len(at):
            t, f, soonest, named = _chosen(copies, kinds, (starts[at], ends[at]),
                                           (first_t[at], first_f[at]), ev, dup)
            deliv_t[at], deliv_f[at], earliest[at] = t, f, soonest
            if named is not None:
                echoed = np.zeros(n, dtype=bool)
                echoed[at] = named
    else:
        deliv_t, deliv_f, earliest, echoed = _chosen(copies, kinds, (starts, ends),
                                                     (first_t, first_f), ev, dup)
    _hole_repairs(out, copies, kinds, advanced, stream)
    late = np.flatnonzero((deliv_t > first_t) & (first_t >= 0))
    out.repairs += list(zip(first_t[late].tolist(), deliv_t[late].tolist()))
    done = np.maximum.accumulate(deliv_t)
    out.uncertain, out.uncertain_ns = _uncertain(deliv_t, echoed, earliest, done)
    setter = np.maximum.accumulate(np.where(deliv_t >= done, np.arange(n), 0))
    stream.done = done
    stream.done_frames = deliv_f[setter]
    seen = np.where(first_t >= 0, first_t, np.iinfo(np.int64).max)
    begun = np.minimum.accumulate(seen[::-1])[::-1]
    stream.begun = np.where(first_t >= 0, begun, first_t)
    out.done, out.done_frames = stream.done, stream.done_frames
    return out


def tightened(ev: AckEvidence, copies, kinds: np.ndarray) -> AckEvidence:
    """``ev`` with its guard no longer than half the shortest round trip the direction shows
    (:func:`shortest_round_trip`): the handshake's can be longer than the connection's later
    ones (seen at the server's side of a lossy Triton run: a 26 us ACK after a repeat, against
    a longer guard, so that the lost first copy was taken, 10.7 ms early)."""
    shortest = shortest_round_trip(copies, kinds, ev)
    if shortest is None or shortest // 2 >= ev.guard_ns:
        return ev
    return replace(ev, guard_ns=shortest // 2)


def shortest_round_trip(copies, kinds: np.ndarray, ev: AckEvidence) -> int | None:
    """The shortest time (ns) from a copy to the first ACK covering it cumulatively, over the
    copies of bytes sent once (the first copy, no repeat over any of its bytes), or None when
    there is none.  Such an ACK can only have come after that copy reached the receiver, so
    each time is at least a round trip between the capture point and the receiver (a repeated
    byte's ACK may answer an earlier copy: those are left out)."""
    if not len(ev.t):
        return None
    off, end, t = copies.off, copies.off + copies.wire, copies.t
    once = (kinds == NEW) & (t >= 0) & (copies.wire > 0)
    repeats = np.flatnonzero((kinds == RETRANS) | (kinds == PROBE))
    if len(repeats):
        order = repeats[np.argsort(off[repeats], kind="stable")]
        r_start, r_end = off[order], np.maximum.accumulate(end[order])
        i = np.searchsorted(r_start, end, "left") - 1     # the last repeat starting before
        once &= ~((i >= 0) & (r_end[np.maximum(i, 0)] > off))
    js = np.flatnonzero(once)
    k = np.searchsorted(ev.reach, end[js], "left")
    ok = k < len(ev.t)
    delay = ev.t[k[ok]] - t[js[ok]]
    delay = delay[delay >= 0]
    return int(delay.min()) if len(delay) else None


def contested_pieces(copies, kinds: np.ndarray, dup: dict, starts: np.ndarray) -> np.ndarray:
    """The pieces (sorted indices) whose first byte a timed retransmission, or a copy a D-SACK
    names (``dup``: :func:`_duplicates`), carries: the only ones the rules can give a copy other
    than their first.  Every other piece has one candidate, its first copy, which every rule
    keeps: :func:`_choose` takes it or leaves no choice (then the first copy is taken), and
    :func:`_by_timestamps` names no other copy (on a loopback capture, a few retransmissions
    among 44,000 segments of a direction: a few pieces, not all)."""
    _, p = _copy_pieces(copies, _walked(copies, kinds, dup), starts)
    if not len(p):
        return p
    p = np.sort(p)
    return p[np.concatenate(([True], p[1:] != p[:-1]))]


def _walked(copies, kinds: np.ndarray, dup: dict) -> np.ndarray:
    """The copies (sorted indices) whose pieces the rules walk beyond each piece's first copy:
    the timed retransmissions and the timed copies a D-SACK names (``dup``)."""
    walk = kinds == RETRANS
    walk[list(dup)] = True
    return np.flatnonzero(walk & (copies.t >= 0))


def _chosen(copies, kinds: np.ndarray, bounds: tuple, first: tuple, ev: AckEvidence,
            dup: dict) -> tuple:
    """The rules over the pieces of ``bounds`` (starts, ends; ``first``: their first copies'
    times and frames): per piece, the delivering copy's time and frame, the earliest other
    candidate (:func:`_choose`), and where a TSecr named the copy (:func:`_by_timestamps`;
    None: no timestamps to go by)."""
    starts, ends = bounds
    first_t, first_f = first
    acked, cum_i = _first_ack(starts, ends, ev)
    holes = _holes(starts, ends, ev)
    deliv_t, deliv_f, earliest = _choose(copies, kinds, starts, first, (acked, holes), ev, dup)
    echoed = _by_timestamps(copies, kinds, starts, first, (acked, holes, cum_i), ev, dup,
                            (deliv_t, deliv_f))
    unset = deliv_t < 0
    deliv_t[unset] = first_t[unset]
    deliv_f[unset] = first_f[unset]
    return deliv_t, deliv_f, earliest, echoed


def _first_ack(starts: np.ndarray, ends: np.ndarray, ev: AckEvidence) -> tuple:
    """Per piece: capture time of the first ACK covering it (cumulative or SACK), -1 if none;
    and the index in ``ev.t`` of that ACK when it covers the piece cumulatively (no SACK
    block held the piece before it), else -1."""
    acked = np.full(len(starts), -1, dtype=np.int64)
    cum_i = np.full(len(starts), -1, dtype=np.int64)
    if len(ev.t):
        reach = ev.reach
        i = np.searchsorted(reach, ends, side="left")
        ok = i < len(reach)
        acked[ok] = ev.t[i[ok]]
        cum_i[ok] = i[ok]
    for t, left, right, *_ in ev.sacks:
        i0, i1 = np.searchsorted(starts, left, "left"), np.searchsorted(ends, right, "right")
        if i1 > i0:
            seg = acked[i0:i1]
            sooner = (seg < 0) | (seg > t)
            acked[i0:i1] = np.where(sooner, t, seg)
            cum_i[i0:i1][sooner] = -1
    return acked, cum_i


def _holes(starts: np.ndarray, ends: np.ndarray, ev: AckEvidence) -> np.ndarray:
    """Per piece, the capture time of the latest ACK that reported it missing (-1: none): at
    or past its cumulative ACK and below the end of one of its SACK blocks, in none of them.
    A copy captured at least the guard before such an ACK did not get through."""
    out = np.full(len(starts), -1, dtype=np.int64)
    reports: dict = {}
    for t, left, right, dsack, cum in ev.sacks:
        if not dsack:
            reports.setdefault((t, cum), []).append((left, right))
    for (t, cum), blocks in reports.items():
        i0 = np.searchsorted(starts, cum, "left")
        i1 = np.searchsorted(ends, max(r for _, r in blocks), "right")
        if i1 <= i0:
            continue
        missing = np.ones(i1 - i0, dtype=bool)
        for left, right in blocks:
            missing &= ~((starts[i0:i1] >= left) & (ends[i0:i1] <= right))
        seg = out[i0:i1]
        out[i0:i1] = np.where(missing, np.maximum(seg, t), seg)
    return out


def _duplicates(copies, kinds: np.ndarray, ev: AckEvidence) -> dict:
    """Copy index -> ``[(left, right), ...]`` ranges a D-SACK reported as arrived twice: of the
    repeats (copies :func:`classify` calls "retrans" or "probe") overlapping the block and
    captured at or before the D-SACK, the one after which the D-SACK came closest to a round
    trip (twice the guard: the handshake's), measured as a ratio; on a tie, the latest.  A
    byte's first copy is never the one that arrived twice (its duplicate came later).  The
    ratio, not "the latest at least the guard before", because later round trips are often far
    shorter than the handshake's: a D-SACK 16 us after a retransmission timeout's copy (against
    a 20 us guard) names that copy, not a fast retransmit 209 ms before it whose ACK was lost
    (seen on a lossy veth run); a repeat sent just before the D-SACK of an earlier one arrived
    is not named either."""
    dup: dict = {}
    if not any(block[3] for block in ev.sacks):
        return dup
    # time order; an unknown time (-1) takes the last known one
    times = np.maximum.accumulate(np.maximum(copies.t, -1))
    repeats = np.flatnonzero((kinds == RETRANS) | (kinds == PROBE))
    r_t, r_off = copies.t[repeats], copies.off[repeats]
    r_end = r_off + copies.wire[repeats]
    round_trip = 2.0 * ev.guard_ns + 1.0
    for t, left, right, dsack, _ in ev.sacks:
        if not dsack:
            continue
        before = np.searchsorted(repeats, np.searchsorted(times, t, "right"))
        hit = np.flatnonzero((r_t[:before] >= 0) & (r_t[:before] <= t)
                             & (r_off[:before] < right) & (r_end[:before] > left))
        if not len(hit):
            continue
        off_by = np.abs(np.log((t - r_t[hit] + 1.0) / round_trip))[::-1]
        chosen = hit[len(hit) - 1 - int(np.argmin(off_by))]      # the latest of the closest
        dup.setdefault(int(repeats[chosen]), []).append((left, right))
    return dup


def _choose(copies, kinds: np.ndarray, starts: np.ndarray, first: tuple, evidence: tuple,
            ev: AckEvidence, dup: dict):
    """Per piece: time and frame of the latest copy at or before its first ACK minus the guard
    (``ev.guard_ns``; not reported duplicate there, nor missing by a later ACK), else at or
    before the ACK; -1 where neither exists.  ``evidence``: per piece, its first ACK's time and
    the latest time it was reported missing (:func:`_first_ack`, :func:`_holes`).  Also, per
    piece, the earliest of the candidates where two or more were left (-1: one or none), for
    :func:`_uncertain`.

    A piece's copies are its first (``first``: times and frames per piece) and the
    retransmissions over it, which come later: only those are walked, so a long direction
    with a few retransmissions costs a few steps, not one per segment."""
    first_t, first_f = first
    acked, holes = evidence
    guard, n = ev.guard_ns, len(starts)
    alive = (holes < 0) | (first_t > holes - guard)          # not reported missing after it
    known = (acked >= 0) & (first_t >= 0) & alive
    strict = known & (first_t <= acked - guard)
    for j, ranges in dup.items():          # a first copy reported as arriving twice
        for left, right in ranges:
            strict &= ~((starts >= left) & (starts < right) & (first_f == copies.frame[j]))
    best_t, best_f = np.where(strict, first_t, -1), np.where(strict, first_f, -1)
    loose = known & (first_t <= acked)
    loose_t, loose_f = np.where(loose, first_t, -1), np.where(loose, first_f, -1)
    j, p = _copy_pieces(copies, _walked(copies, kinds, dup), starts)
    t, frame = copies.t[j], copies.frame[j]
    usable = (acked[p] >= 0) & ((holes[p] < 0) | (t > holes[p] - guard))
    ok = usable & (t <= acked[p] - guard)
    _not_duplicated(ok, j, p, starts, dup)
    _latest(p, ok, (t, frame), (best_t, best_f))
    loose_ok = usable & (t <= acked[p])
    _not_duplicated(loose_ok, j, p, starts, dup)         # nor, when the guard rules all out
    _latest(p, loose_ok, (t, frame), (loose_t, loose_f))
    fill = best_t < 0
    best_t[fill], best_f[fill] = loose_t[fill], loose_f[fill]
    # the earliest candidate where two or more were left (-1: one or none), leaving out the
    # copies an ACK still short of them a round trip later says were lost
    never = np.iinfo(np.int64).max
    every = np.arange(n)
    first_open = ~_refuted(first_t, every, starts, acked, ev)
    pair_open = ~_refuted(t, p, starts, acked, ev)
    counts = []
    for first_in, pairs in ((strict, ok), (loose, loose_ok)):
        a, b = first_in & first_open, pairs & pair_open
        soonest = np.where(a, first_t, never)
        np.minimum.at(soonest, p[b], t[b])
        counts.append((soonest, a.astype(np.int64) + np.bincount(p[b], minlength=n)))
    earliest = np.where(fill, counts[1][0], counts[0][0])
    count = np.where(fill, counts[1][1], counts[0][1])
    return best_t, best_f, np.where(count >= 2, earliest, -1)


def _refuted(t: np.ndarray, pieces: np.ndarray, starts: np.ndarray, acked: np.ndarray,
             ev: AckEvidence) -> np.ndarray:
    """Per copy (captured at ``t``) of a piece: whether an ACK captured more than the
    handshake's round trip after it, and before the piece's first covering ACK, acknowledged
    every byte before the piece but not the piece: the copy did not get through (by then it
    would have been acknowledged).  Used only to say which deliveries the capture cannot
    tell (:func:`_uncertain`), not to choose."""
    if not len(ev.t):
        return np.zeros(len(pieces), dtype=bool)
    reach = ev.reach
    i = np.searchsorted(ev.t, acked[pieces], "left") - 1
    at = np.maximum(i, 0)
    return ((i >= 0) & (acked[pieces] >= 0) & (ev.t[at] > t + 2 * ev.guard_ns)
            & (reach[at] >= starts[pieces]))


def _uncertain(deliv_t: np.ndarray, echoed, earliest: np.ndarray,
               done: np.ndarray) -> tuple[int, int]:
    """``(pieces, ns)``: the pieces whose delivered copy the capture cannot tell -- two or more
    copies left before the first ACK covering them (none reported missing after it, none a
    D-SACK names) and no TSecr naming one, so the latest was taken -- where taking the earliest
    instead would complete the stream's prefix sooner; and the most sooner, ns.  (The ACKs of
    two copies were lost: e.g. a token's first copy got through, the client's ACK of it was
    lost, and so was the D-SACK of the probe that repeated it.)"""
    open_ = (earliest >= 0) & (deliv_t > earliest)
    if echoed is not None:
        open_ &= ~echoed
    if not open_.any():
        return 0, 0
    before = np.concatenate(([np.iinfo(np.int64).min], done[:-1]))
    sooner = deliv_t - np.maximum(before, earliest)
    hit = open_ & (deliv_t == done) & (sooner > 0)
    return int(hit.sum()), int(sooner[hit].max()) if hit.any() else 0


def _copy_pieces(copies, js: np.ndarray, starts: np.ndarray) -> tuple:
    """The (copy, piece) pairs of the copies ``js`` (sorted) and the pieces whose first byte
    each carries, in copy order: two int64 arrays.  A pair holds at least a byte of its copy,
    so there are at most as many as the copies' bytes (one vectorised pass, where a Python step
    per copy cost ~12 us: 12 s for a million segments resent or sent in descending order)."""
    off = copies.off[js]
    i0 = np.searchsorted(starts, off, "left")
    count = np.maximum(np.searchsorted(starts, off + copies.wire[js], "left") - i0, 0)
    first = np.cumsum(count) - count
    within = np.arange(int(count.sum()), dtype=np.int64) - np.repeat(first, count)
    return np.repeat(js, count), np.repeat(i0, count) + within


def _not_duplicated(mask: np.ndarray, j: np.ndarray, p: np.ndarray, starts: np.ndarray,
                    dup: dict) -> None:
    """Clear ``mask`` at the pairs (copy ``j``, piece ``p``: :func:`_copy_pieces`) of a copy
    whose piece starts in a range a D-SACK reported that copy arrived twice over."""
    for k, ranges in dup.items():          # the pairs of copy k: one run, as j is sorted
        at = slice(*np.searchsorted(j, [k, k + 1]))
        for left, right in ranges:
            mask[at] &= ~((starts[p[at]] >= left) & (starts[p[at]] < right))


def _latest(pieces: np.ndarray, mask: np.ndarray, values: tuple, into: tuple) -> None:
    """Set ``into`` (per-piece columns) at each piece of ``pieces[mask]`` to ``values`` of its
    last pair there (pairs in copy order: the latest copy wins, as a loop over them would)."""
    chosen = np.flatnonzero(mask)[::-1]
    at, last = np.unique(pieces[chosen], return_index=True)
    for column, value in zip(into, values):
        column[at] = value[chosen[last]]


def _by_timestamps(copies, kinds: np.ndarray, starts: np.ndarray, first: tuple,
                   evidence: tuple, ev: AckEvidence, dup: dict, chosen: tuple):
    """Where the ACK that first covers a piece cumulatively echoes (TSecr) the TSval of copies
    of that piece, the latest of those captured at or before the ACK is the delivered one
    (RFC 7323: the receiver echoes the TSval of the segment that advanced its left edge: the
    copy that filled the hole, or the first of a run acknowledged together), whatever the
    guard says: sets ``chosen`` (delivery times and frames per piece) in place there, and
    returns where (a bool per piece; None: no timestamps to go by).

    Skipped where a SACK block covered the piece first (a segment above a hole leaves the echo
    at the older segment's TSval), for a copy a D-SACK names, and without timestamps on both
    sides.  The echo outweighs a SACK report of the bytes as missing captured soon after the
    copy: the receiver sent that report before the copy reached it (a round trip longer than
    the handshake's; :func:`_choose` would reject the copy)."""
    if ev.tsecr is None or ev.copy_tsval is None or not (ev.tsecr >= 0).any():
        return None
    first_t, first_f = first
    acked, _, cum_i = evidence
    echo = np.where(cum_i >= 0, ev.tsecr[np.maximum(cum_i, 0)], -1)
    if not (echo >= 0).any():
        return None
    frames = np.asarray(copies.frame, dtype=np.int64)
    order = np.argsort(frames, kind="stable")
    at = np.clip(np.searchsorted(frames[order], first_f), 0, len(frames) - 1)
    first_ts = np.where(frames[order][at] == first_f, ev.copy_tsval[order][at], -1)
    ok = (echo >= 0) & (first_ts == echo) & (first_t >= 0) & (first_t <= acked)
    if ok.any():
        ok[ok] = _echo_can_name(copies, order[at[ok]], ev)
    for j, ranges in dup.items():
        for left, right in ranges:
            ok &= ~((starts >= left) & (starts < right) & (first_f == copies.frame[j]))
    best_t, best_f = np.where(ok, first_t, -1), np.where(ok, first_f, -1)
    walk = (kinds == RETRANS) & (copies.t >= 0) & (ev.copy_tsval >= 0)
    j, p = _copy_pieces(copies, np.flatnonzero(walk), starts)
    t = copies.t[j]
    hit = (echo[p] == ev.copy_tsval[j]) & (t <= acked[p])
    if hit.any():
        hit[hit] = _echo_can_name(copies, j[hit], ev)
    _not_duplicated(hit, j, p, starts, dup)
    _latest(p, hit, (t, copies.frame[j]), (best_t, best_f))
    found = best_t >= 0
    chosen[0][found], chosen[1][found] = best_t[found], best_f[found]
    return found


def _echo_can_name(copies, js: np.ndarray, ev: AckEvidence) -> np.ndarray:
    """Per copy ``js``: whether an echo of its TSval can have come from it.  The receiver takes
    a segment's TSval for its echo only if the segment begins at or below the last ACK it sent
    (RFC 7323's ``Last.ACK.sent``; Linux's ``rcv_wup``): a segment past it -- the next one of a
    run whose ACK was delayed -- leaves the echo at an earlier segment's TSval, which is often
    the same millisecond's.  So a copy counts only where the receiver is seen to have
    acknowledged every byte before it (ACK >= its start) in an ACK captured at or before the
    copy, or one captured within the handshake's round trip after it (sent before the copy could
    arrive) that does not cover the copy itself; else the guard decides.  (Found on a lossy veth:
    a 1448-byte segment and the lost 8-byte one after it, same TSval; the ACK 12 ms later echoed
    it, and the lost copy was taken as delivered, 11.9 ms early.)"""
    off, t = copies.off[js], copies.t[js]
    if not len(ev.t):
        return np.zeros(len(js), dtype=bool)
    end = off + copies.wire[js]
    acks = np.asarray(ev.ack, dtype=np.int64)
    upto = np.searchsorted(ev.t, t, "right") - 1
    ok = (upto >= 0) & (ev.reach[np.maximum(upto, 0)] >= off)
    soon = np.searchsorted(ev.t, t + 2 * ev.guard_ns, "right")
    for k in np.flatnonzero(~ok & (soon > upto + 1)):
        a = acks[upto[k] + 1:soon[k]]
        ok[k] = bool(((a >= off[k]) & (a < end[k])).any())
    return ok


def _hole_repairs(out: Delivery, copies, kinds: np.ndarray, advanced: tuple, stream) -> None:
    """Repair intervals of holes first captured filled by a retransmission (the original was
    lost before the capture point): from when a later byte was seen to the fill.
    ``advanced``: :func:`classify_codes`' highest bytes and their times."""
    reach, reached_t = advanced
    if not len(reach) or not len(stream.starts):
        return
    js = np.flatnonzero((kinds == RETRANS) & (copies.t >= 0))
    off, t = copies.off[js], copies.t[js]
    i = np.searchsorted(reach, off, "right")
    since = np.asarray(reached_t)[np.minimum(i, len(reach) - 1)]
    starts, ends, times = (np.frombuffer(c, dtype=np.int64)
                           for c in (stream.starts, stream.ends, stream.times))
    piece = np.searchsorted(starts, off, "right") - 1           # stream.piece_at, vectorised
    at = np.maximum(piece, 0)
    filled = (piece >= 0) & (off < ends[at]) & (times[at] == t)
    hit = (i < len(reach)) & (since >= 0) & (since < t) & filled
    out.repairs += list(zip(since[hit].tolist(), t[hit].tolist()))


def merged_measure(intervals: list) -> tuple[np.ndarray, np.ndarray]:
    """The union of ``(from, to)`` intervals as sorted disjoint ``(starts, ends)`` arrays."""
    if not intervals:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    iv = sorted(intervals)
    s_out, e_out = [iv[0][0]], [iv[0][1]]
    for s, e in iv[1:]:
        if s <= e_out[-1]:
            e_out[-1] = max(e_out[-1], e)
        else:
            s_out.append(s)
            e_out.append(e)
    return np.array(s_out, dtype=np.int64), np.array(e_out, dtype=np.int64)
