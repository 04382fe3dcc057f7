"""The delivery rules run only over the contested pieces (those a second copy could have
delivered: :func:`delivery.contested_pieces`) and give what they give over every piece: random
directions (retransmissions, holes, reordering, unknown times, header-only marks) against
random ACK evidence (cumulative ACKs, SACK and D-SACK blocks, TSecr echoes of the copies'
TSvals, guards of 0 to 50 us)."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inferwire.tcp import delivery
from inferwire.tcp.delivery import AckEvidence, contested_pieces
from inferwire.tcp.segments import Segments, reassembled

from .test_segments_c import BUFFER, direction


@st.composite
def evidence(draw, copies: Segments) -> AckEvidence:
    """ACKs in time order over the direction's offsets, some with SACK and D-SACK blocks, and
    TSvals on the copies that the ACKs' TSecrs may echo."""
    low = int(copies.off.min()) if len(copies) else 0
    high = int((copies.off + copies.wire).max()) if len(copies) else 10
    last_t = int(copies.t.max()) if len(copies) else 1_000
    times = sorted(draw(st.lists(st.integers(0, last_t + 20_000), max_size=12)))
    acks = [draw(st.integers(low, high + 2)) for _ in times]
    sacks = []
    for t, ack in zip(times, acks):
        for _ in range(draw(st.integers(0, 2))):
            left = draw(st.integers(low, high))
            right = left + draw(st.integers(1, 40))
            sacks.append((t, left, right, draw(st.booleans()), ack))
    stamps = st.sampled_from([-1, 1, 2, 3])
    return AckEvidence(np.array(times, dtype=np.int64), np.array(acks, dtype=np.int64), sacks,
                       guard_ns=draw(st.sampled_from([0, 5, 1_000, 50_000])),
                       ooo_ns=draw(st.sampled_from([10, 3_000_000])),
                       tsecr=np.array([draw(stamps) for _ in times], dtype=np.int64),
                       copy_tsval=np.array([draw(stamps) for _ in range(len(copies))],
                                           dtype=np.int64))


def columns(rows) -> Segments:
    return Segments(*(np.array(c, dtype=np.int64).reshape(-1) for c in zip(*rows))) if rows \
        else Segments(*(np.zeros(0, dtype=np.int64) for _ in range(6)))


def delivered(copies: Segments, ev: AckEvidence, marks, contested_only: bool):
    s = reassembled(BUFFER, copies)
    out = delivery.deliver(s, copies, ev, marks, contested_only=contested_only)
    return ([np.asarray(x).tolist() for x in (s.starts, s.ends)]
            + [np.asarray(x).tolist() if x is not None else None
               for x in (s.done, s.done_frames, getattr(s, "begun", None))]
            + [out.retrans_t, out.retrans_bytes, out.out_of_order, out.repairs, out.uncertain,
               out.uncertain_ns])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_contested_pieces_alone_give_what_every_piece_gives(data):
    rows, marks = data.draw(direction())
    copies = columns(rows)
    ev = data.draw(evidence(copies))
    assert delivered(copies, ev, marks, True) == delivered(copies, ev, marks, False)


def test_a_long_direction_with_one_retransmission_has_one_contested_piece():
    """1,000 segments in order, the 500th sent again: only its piece has a second copy; the
    retransmission's piece is delivered by the copy the ACK after it names, the others by
    their one copy."""
    n = 1_000
    off = np.append(np.arange(n, dtype=np.int64) * 10, 4_990)
    k = np.arange(n + 1, dtype=np.int64)
    ten = np.full(n + 1, 10, np.int64)
    copies = Segments(off, ten, ten.copy(), 1_000 * (k + 1), k + 1, off % 4000)
    s = reassembled(BUFFER, copies)
    ev = AckEvidence(t=np.array([10**7]), ack=np.array([10 * n]), guard_ns=0)
    kinds, _, _ = delivery.classify_codes(copies, ev.ooo_ns)
    assert contested_pieces(copies, kinds, {}, np.frombuffer(s.starts, np.int64)).tolist() \
        == [499]
    delivery.deliver(s, copies, ev)
    frames = np.asarray(s.done_frames)
    assert frames[498] == 499 and frames[499] == n + 1 and frames[500] == n + 1
    assert np.asarray(s.done)[499] == 1_000 * (n + 1)
