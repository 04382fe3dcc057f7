"""A direction reassembled and classified in C (``inferwire.tcp._segments``) gives exactly what
the readable Python gives (:meth:`DirectionStream.add` for each segment, :func:`delivery.classify`):
random segment orders, overlaps, retransmissions whose bytes differ, holes, snaplen cuts, offsets
past 4 GiB, unknown times and header-only marks; and whole connections (SYN/FIN, sequence
wrap-around, retransmissions, times out of file order as on loopback) built with the C paths
and without them give the same streams and delivery; and a stream's runs of small pieces joined
in C are the piece-by-piece walk's chunks."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from needs import skip_or_fail

from inferwire.tcp import build_connections, delivery, grouping, segments, stream
from inferwire.tcp.delivery import classify_codes
from inferwire.tcp.segments import Segments, reassembled
from inferwire.tcp.stream import DirectionStream, int64s

from .test_grouping import conversation, describe, table_from

BUFFER = bytes(range(256)) * 16 + bytes(64)      # repeated bytes: retransmissions that differ


def test_the_extension_is_built_where_ci_runs():
    if not segments.accelerated():
        skip_or_fail("inferwire.tcp._segments is not built (no C compiler at install: "
                     "scripts/setup.sh needs gcc and the Python headers): nothing to compare")


def need_c():
    if not segments.accelerated() or delivery._c_classify is None:
        skip_or_fail("inferwire.tcp._segments is not built here")


@st.composite
def direction(draw):
    """One direction's segments in capture order: mostly in order, some resent (``back``),
    some skipped ahead (holes), some cut by the snap length, some times unknown or earlier
    than the segment before (loopback stamps); a base offset of 0 or past 2**32."""
    base = draw(st.sampled_from([0, 0, (1 << 32) - 40, 5 << 32]))
    sent, t, rows = 0, 1_000, []
    for _ in range(draw(st.integers(0, 30))):
        back = draw(st.sampled_from([0, 0, 0, 1, 3, 10, 40, -5, -20]))   # < 0: a hole
        off = max(sent - back, 0)
        wire = draw(st.sampled_from([1, 1, 2, 5, 10, 30]))
        cap = draw(st.sampled_from([wire, wire, wire, wire // 2, 0]))
        t += draw(st.sampled_from([0, 1, 10, 1_000, 5_000_000, -3]))
        stamp = -1 if draw(st.integers(0, 12)) == 0 else t
        src = draw(st.integers(0, len(BUFFER) - 40))
        rows.append((base + off, wire, cap, stamp, len(rows) + 1, src))
        sent = max(sent, off + wire)
    marks = sorted(draw(st.lists(st.tuples(st.integers(0, sent + 20), st.integers(0, t + 10),
                                           st.integers(1, len(rows) + 2)), max_size=4)),
                   key=lambda m: (m[1], m[2]))
    return rows, [(base + o, mt, mf) for o, mt, mf in marks]


def columns(rows: list[tuple]) -> Segments:
    cols = np.array(rows, dtype=np.int64).reshape(-1, 6)
    return Segments(*(cols[:, i].copy() for i in range(6)))


def stream_facts(s) -> tuple:
    return (list(s.starts), list(s.ends), list(s.times), list(s.frames), list(s.srcs),
            s.retransmitted_segments, s.retransmitted_bytes, s.differing_segments, s.uncaptured,
            s.nbytes, s.contiguous_end())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(direction())
def test_reassembled_in_c_equals_add_for_each_segment(case):
    need_c()
    rows, _ = case
    segs = columns(rows)
    assert stream_facts(reassembled(BUFFER, segs)) == stream_facts(
        reassembled(BUFFER, segs, use_c=False))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(direction(), st.sampled_from([0, 1, 1_000, 3_000_000]))
def test_classified_in_c_equals_classify(case, ooo_ns):
    need_c()
    rows, marks = case
    segs = columns([r for r in rows if r[1] > 0])
    kinds, ooo, (ends, times) = classify_codes(segs, ooo_ns, marks)
    ref_kinds, ref_ooo, advanced = delivery.classify(segs.tuples(), ooo_ns, marks)
    assert [delivery.KINDS[k] for k in kinds.tolist()] == ref_kinds
    assert ooo == ref_ooo
    assert list(zip(ends.tolist(), times.tolist())) == advanced


def test_a_resent_segment_whose_bytes_differ_is_counted_once():
    need_c()
    rows = [(0, 10, 10, 1, 1, 0), (20, 10, 10, 2, 2, 20), (5, 20, 20, 3, 3, 300),
            (0, 10, 10, 4, 4, 0)]
    s = reassembled(BUFFER, columns(rows))
    assert (list(s.starts), list(s.ends), list(s.frames)) == ([0, 10, 20], [10, 20, 30],
                                                               [1, 3, 2])
    assert (s.retransmitted_segments, s.retransmitted_bytes, s.differing_segments) == (2, 20, 1)
    assert stream_facts(s) == stream_facts(reassembled(BUFFER, columns(rows), use_c=False))


def connection_facts(conns) -> list:
    out = describe(conns)
    for c, d in zip(conns, out):
        for name in ("to_server", "to_client"):
            s = getattr(c, name)
            dl = s.delivery
            d[name + "_delivery"] = None if dl is None else (
                list(s.end_times), list(s.end_frames), list(s.start_times), dl.retrans_t,
                dl.retrans_bytes, dl.out_of_order, dl.repairs, s.differing_segments)
    return out


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversation(untimed=True))
def test_connections_are_the_same_without_the_c_paths(rows):
    need_c()
    table = table_from(rows)
    fast = connection_facts(build_connections(table))
    saved = segments._c_reassemble, delivery._c_classify
    segments._c_reassemble = delivery._c_classify = None
    try:
        slow = connection_facts(build_connections(table))
    finally:
        segments._c_reassemble, delivery._c_classify = saved
    assert fast == slow


@st.composite
def pieces(draw):
    """A DirectionStream's pieces: sorted, not overlapping, some small, some of VIEW_MIN bytes
    or more, some with holes between them; and where to stop."""
    s, rows, at = DirectionStream(BUFFER), [], 0
    for _ in range(draw(st.integers(0, 40))):
        at += draw(st.sampled_from([0, 0, 0, 3]))
        n = draw(st.sampled_from([1, 2, 7, 30, 99, 100, 101, 400]))
        rows.append((at, at + n, 0, 0, draw(st.integers(0, len(BUFFER) - 10))))
        at += n
    for name, col in zip(("starts", "ends", "times", "frames", "srcs"), zip(*rows) if rows
                         else [()] * 5):
        setattr(s, name, int64s(col))
    return s, draw(st.integers(0, at + 5))


@settings(max_examples=400, deadline=None)
@given(pieces(), st.sampled_from([None, 100]), st.sampled_from([1, 50, 128, 1 << 18]))
def test_runs_joined_in_c_equal_the_walk(case, view_min, feed):
    need_c()
    s, stop = case
    saved = stream.FEED_CHUNK, stream.RUNS_WALK_MAX
    stream.FEED_CHUNK, stream.RUNS_WALK_MAX = feed, 0
    try:
        fast = [(off, bytes(data)) for off, data in s._runs(stop, view_min)]
        slow = [(off, bytes(data)) for off, data in s._runs(stop, view_min, use_c=False)]
    finally:
        stream.FEED_CHUNK, stream.RUNS_WALK_MAX = saved
    assert fast == slow
    s.starts.append(1 << 40)      # the runs hold no view of the columns once read


@settings(max_examples=300, deadline=None)
@given(pieces())
def test_summary_counted_with_numpy_equals_the_loop(case):
    s, _ = case
    loop = stream.SUMMARY_LOOP_MAX
    stream.SUMMARY_LOOP_MAX = 1 << 30
    try:
        by_loop = (s.nbytes, s.contiguous_end())
    finally:
        stream.SUMMARY_LOOP_MAX = loop
    assert stream.summary_counted(s.starts, s.ends) == by_loop


def test_columns_the_c_code_cannot_hold_are_refused_not_read_past():
    """Negative lengths or ends past INT64_MAX (never made by the grouping, which keeps
    payloads > 0) and columns of another type are a ValueError, not a write past a buffer
    (a negative length once made the interval merge move memory past its end: a crash)."""
    need_c()
    from inferwire.tcp import _segments
    off = np.array([0, 20, 40] + [45] * 200, np.int64)
    wire = np.array([10, 10, 10] + [-30] * 200, np.int64)
    t = np.arange(len(off), dtype=np.int64) * 10**9
    none = np.zeros(0, np.int64)
    with pytest.raises(ValueError, match="offset 45 with length -30"):
        _segments.classify(off, wire, t, t.copy(), 3_000_000, none, none, none)
    big = np.array([2**63 - 5], np.int64)
    with pytest.raises(ValueError, match="length 10"):
        _segments.classify(big, np.array([10], np.int64), big * 0, big * 0, 1, none, none, none)
    with pytest.raises(ValueError, match="int64 column"):
        _segments.classify(np.zeros(4), np.zeros(4, np.int64), np.zeros(4, np.int64),
                           np.zeros(4, np.int64), 1, none, none, none)


# -- hostile orders: many segments out of order (the C code's skip list, many levels deep) -----

def hostile_rows(rng, n: int, order: str) -> list[tuple]:
    """``n`` segments of 1-40 bytes over a stream with some overlaps and holes, sent in
    ``order``: ``descending`` (the last offsets first), ``random``, or ``runs`` (ascending runs
    of up to 50 segments, the runs descending; some whole runs sent twice)."""
    offs, at = [], 0
    for _ in range(n):
        wire = int(rng.choice([1, 3, 10, 10, 10, 40]))
        back = int(rng.choice([0, 0, 0, 0, 2, 7, -9]))            # > 0 overlaps, < 0 a hole
        at = max(at - back, 0)
        offs.append((at, wire))
        at += wire
    if order == "descending":
        offs.reverse()
    elif order == "random":
        offs = [offs[i] for i in rng.permutation(n)]
    else:
        runs = [offs[i:i + int(rng.integers(1, 50))] for i in range(0, n, 50)]
        offs = [seg for run in reversed(runs) for seg in (run * (1 + (rng.random() < 0.1)))]
    rows = []
    for k, (off, wire) in enumerate(offs):
        cap = wire if rng.random() < 0.95 else wire // 2
        stamp = -1 if rng.random() < 0.02 else 1_000 + 100 * k
        rows.append((off, wire, cap, stamp, k + 1, int(rng.integers(0, len(BUFFER) - 40))))
    return rows


@settings(max_examples=24, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32), st.sampled_from(["descending", "random", "runs"]),
       st.sampled_from([1_000, 4_000]), st.sampled_from([0, 500, 1_000_000]))
def test_hostile_orders_in_c_equal_the_python(seed, order, n, ooo_ns):
    """Thousands of segments in descending, random and run-reversed order, C against the
    readable Python: the reassembled pieces and counts, and the classification."""
    need_c()
    rows = hostile_rows(np.random.default_rng(seed), n, order)
    segs = columns(rows)
    assert stream_facts(reassembled(BUFFER, segs)) == stream_facts(
        reassembled(BUFFER, segs, use_c=False))
    kinds, ooo, (ends, times) = classify_codes(segs, ooo_ns, [(rows[0][0] + 5, 1_500, 3)])
    ref_kinds, ref_ooo, advanced = delivery.classify(segs.tuples(), ooo_ns,
                                                     [(rows[0][0] + 5, 1_500, 3)])
    assert [delivery.KINDS[k] for k in kinds.tolist()] == ref_kinds
    assert (ooo, list(zip(ends.tolist(), times.tolist()))) == (ref_ooo, advanced)


def test_a_large_descending_direction_is_reassembled_as_its_closed_form():
    """100k segments of 15 bytes every 10 bytes, the last first: each repeats the 5 bytes the
    one sent before it began with, so every piece is 10 bytes from its own segment (the first
    sent keeps 15), n - 1 retransmissions of 5 bytes; all of them reordered copies, out of
    order within the reordering time and retransmissions past it."""
    need_c()
    n, size = 100_000, 15
    off = np.arange(n, dtype=np.int64)[::-1] * 10
    frame = np.arange(1, n + 1, dtype=np.int64)
    wire = np.full(n, size, np.int64)
    s = reassembled(BUFFER, Segments(off, wire, wire.copy(), frame * 10, frame, off % 4000))
    assert list(s.starts) == list(range(0, 10 * n, 10))
    assert list(s.ends) == list(range(10, 10 * n, 10)) + [10 * (n - 1) + size]
    assert list(s.frames) == list(range(n, 0, -1))
    assert list(s.srcs) == [o % 4000 for o in range(0, 10 * n, 10)]
    assert (s.retransmitted_segments, s.retransmitted_bytes) == (n - 1, 5 * (n - 1))
    kinds, ooo, (ends, times) = classify_codes(
        Segments(off, np.full(n, 10, np.int64), wire, frame * 10, frame, off), 10 * 5_000, [])
    assert kinds.tolist() == [0] + [2] * 4_999 + [1] * (n - 5_000)
    assert ooo == 4_999
    assert (ends.tolist(), times.tolist()) == ([10 * n], [10])


def test_a_large_random_order_is_reassembled_in_stream_order():
    """100k adjacent segments in a random order: every piece its own segment's, in stream
    order, nothing resent."""
    need_c()
    n = 100_000
    order = np.random.default_rng(7).permutation(n).astype(np.int64)
    frame = np.arange(1, n + 1, dtype=np.int64)
    wire = np.full(n, 10, np.int64)
    s = reassembled(BUFFER, Segments(order * 10, wire, wire.copy(), frame, frame, order))
    assert list(s.starts) == list(range(0, 10 * n, 10))
    assert list(s.frames) == (np.argsort(order) + 1).tolist()
    assert list(s.srcs) == list(range(n))
    assert (s.retransmitted_segments, s.retransmitted_bytes, s.differing_segments) == (0, 0, 0)


def test_a_large_direction_resent_in_descending_order_is_delivered_by_its_latest_copies():
    """20k segments sent last first, then all of them again last first, one ACK after both:
    every piece is delivered by its second copy (the latest before the ACK), a repair from its
    first copy's time; and every first copy past the reordering time filled a hole first seen
    when the highest byte arrived (the delivery rule's walk over the resent copies, vectorised)."""
    n = 20_000
    off = np.tile(np.arange(n, dtype=np.int64)[::-1] * 10, 2)
    k = np.arange(2 * n, dtype=np.int64)
    ten = np.full(2 * n, 10, np.int64)
    copies = Segments(off, ten, ten.copy(), 1_000 * (k + 1), k + 1, off % 4000)
    s = reassembled(BUFFER, copies)
    ev = delivery.AckEvidence(t=np.array([10**9]), ack=np.array([10 * n]), ooo_ns=5_000)
    out = delivery.deliver(s, copies, ev)
    piece = np.arange(n)
    first, last = 1_000 * (n - piece), 1_000 * (2 * n - piece)
    holes = [(1_000, 1_000 * (j + 1)) for j in range(5, n)]
    assert out.repairs == holes + list(zip(first.tolist(), last.tolist()))
    assert (list(s.end_times), list(s.end_frames)) == ([2_000 * n] * n, [2 * n] * n)
    assert out.out_of_order == 4
