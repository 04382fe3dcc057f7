"""The headers that reveal bytes never captured (``grouping._header_marks``: a pure ACK or a FIN
whose sequence number is past every byte its direction showed before it): the C walk
(``_segments.header_marks``) against the numpy reading it stands in for, on every call the
connection builder makes, over random conversations with lost segments, pure ACKs and FINs past
them, retransmissions, reordering, equal and unknown times, sequence wrap, several connections
on one 4-tuple and in both directions."""
from __future__ import annotations

import random

import numpy as np
import pytest

from needs import skip_or_fail
from inferwire.tcp import build_connections, grouping

from .test_grouping import ACK, FIN, PSH, SYN, table_from

REAL = grouping._header_marks


def conversation(rnd: random.Random) -> list[tuple]:
    """Packets (test_grouping's rows) of one to three connections, each side sending data with
    some segments lost before the capture (their bytes never seen), headers carrying the
    sequence number past them, repeats of earlier bytes, and times in any order."""
    rows = []
    for _ in range(rnd.randint(1, 3)):
        a, b = rnd.choice([(0, 1), (1, 0), (2, 2)])
        ports = rnd.choice([(40000, 8500), (8500, 40000), (40001, 80)])
        isn = [rnd.choice([0, 1000, 0xFFFFFF00, rnd.randrange(1 << 32)]) for _ in range(2)]
        sent, t = [0, 0], rnd.randint(0, 5)
        if rnd.random() < 0.7:                          # a handshake
            rows.append((a, ports[0], b, ports[1], SYN, isn[0], 0, 0, 0, t))
            rows.append((b, ports[1], a, ports[0], SYN | ACK, isn[1], isn[0] + 1, 0, 0, t + 1))
        for _ in range(rnd.randint(1, 25)):
            side = rnd.randint(0, 1)
            t += rnd.choice([0, 0, 1, 3, -2])           # equal times, and some out of order
            kind = rnd.random()
            plen = rnd.choice([1, 10, 100])
            if kind < 0.15:                             # a segment lost before the capture
                sent[side] += plen
                continue
            if kind < 0.45:                             # a header: pure ACK, or a FIN
                flags, plen, off = rnd.choice([ACK, ACK, FIN | ACK]), 0, sent[side]
            elif kind < 0.6:                            # a repeat of earlier bytes
                off = max(sent[side] - rnd.choice([1, 10, 100, 250]), 0)
                flags = PSH | ACK
            else:
                flags, off = PSH | ACK, sent[side]
            seq = (isn[side] + 1 + off) & 0xFFFFFFFF
            ack = (isn[1 - side] + 1 + sent[1 - side]) & 0xFFFFFFFF
            src, dst = (a, b) if side == 0 else (b, a)
            sp, dp = ports if side == 0 else ports[::-1]
            ts = -1 if rnd.random() < 0.05 else max(t, 0) * 1000
            rows.append((src, sp, dst, dp, flags, seq, ack, plen, rnd.choice([plen, plen, 0]),
                         ts))
            sent[side] = max(sent[side], off + plen + (flags & FIN != 0))
    return rows


def marks_both_ways(rows: list[tuple], monkeypatch) -> int:
    """Build the connections of ``rows`` with every header-marks call made both ways (they must
    agree); the number of marks found."""
    real, found = REAL, [0]

    def both(g, facts, seg, plen):
        c = real(g, facts, seg, plen, use_c=True)
        py = real(g, facts, seg, plen, use_c=False)
        assert c.keys() == py.keys()
        for name in py:
            assert c[name].dtype == py[name].dtype and np.array_equal(c[name], py[name]), name
        found[0] += len(py["d"])
        return py
    monkeypatch.setattr(grouping, "_header_marks", both)
    build_connections(table_from(rows))
    return found[0]


@pytest.mark.parametrize("seed", range(8))
def test_the_c_walk_finds_the_same_marks(seed, monkeypatch):
    if grouping._c_header_marks is None:
        skip_or_fail("inferwire.tcp._segments is not built: nothing to compare")
    rnd = random.Random(seed)
    found = sum(marks_both_ways(conversation(rnd), monkeypatch) for _ in range(60))
    assert found > 20                               # (the holes are there to be found)


def test_a_fin_past_a_lost_segment_and_the_acks_after_it(monkeypatch):
    """One connection, crafted: the client's second segment is lost, its FIN (past the hole)
    reveals it; a later ACK carries the FIN's number + 1 and reveals nothing more."""
    if grouping._c_header_marks is None:
        skip_or_fail("inferwire.tcp._segments is not built: nothing to compare")
    c, s = (0, 40000), (1, 8500)
    rows = [(*c, *s, SYN, 99, 0, 0, 0, 0), (*s, *c, SYN | ACK, 499, 100, 0, 0, 1000),
            (*c, *s, ACK, 100, 500, 0, 0, 2000), (*c, *s, PSH | ACK, 100, 500, 10, 10, 3000),
            (*c, *s, FIN | ACK, 120, 500, 0, 0, 5000), (*c, *s, ACK, 121, 501, 0, 0, 7000)]
    rows = [(h1, p1, h2, p2, *rest) for (h1, p1, h2, p2, *rest) in rows]
    real = REAL
    got = []
    monkeypatch.setattr(grouping, "_header_marks",
                        lambda *a: got.append(real(*a)) or got[-1])
    build_connections(table_from(rows))
    marks = got[0]
    assert marks["off"].tolist() == [20] and marks["t"].tolist() == [5000]
    assert marks["frame"].tolist() == [5]
