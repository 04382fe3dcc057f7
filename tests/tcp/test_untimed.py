"""Packets without a time (ts_ns -1: pcapng simple packet blocks, time stamps out of range):
their times stay unknown (None) in connections and timelines, never -1 or a guess, and they keep
their file place in every "first"/"time order" decision."""
import numpy as np

from inferwire.exchanges.timeline import TcpTimeline
from inferwire.tcp import build_connections
from inferwire.tcp.grouping import PacketGroups, order_key
from inferwire.tcp.stream import DirectionStream

from .test_grouping import ACK, FIN, PSH, SYN, assert_same, merged_pieces, table_from

U = -1        # no time stamp
C, S = 1000, 5000


def handshake(syn=0, synack=10, ack=20):
    return [(0, 40000, 1, 8500, SYN, C, 0, 0, 0, syn),
            (1, 8500, 0, 40000, SYN | ACK, S, C + 1, 0, 0, synack),
            (0, 40000, 1, 8500, ACK, C + 1, S + 1, 0, 0, ack)]


def up(seq, n, ts, flags=PSH | ACK):
    return (0, 40000, 1, 8500, flags, C + 1 + seq, S + 1, n, n, ts)


def down(seq, n, ts, flags=PSH | ACK):
    return (1, 8500, 0, 40000, flags, S + 1 + seq, C + 1, n, n, ts)


def test_connection_times_ignore_untimed_packets():
    rows = handshake(syn=U) + [up(0, 100, 30), down(0, 40, U), down(40, 40, 60),
                               up(100, 0, U, FIN | ACK)]
    assert_same(rows)
    [c] = build_connections(table_from(rows))
    assert (c.syn_ns, c.synack_ns, c.handshake_ack_ns) == (None, 10, 20)
    assert c.syn_seen and c.syn_untimed and c.tcp_handshake_ns is None
    assert (c.first_ns, c.last_ns, c.packets) == (10, 60, 7)
    assert (c.end, c.fin_ns) == ("fin", None)                # a FIN without a time still ends it
    assert list(c.to_client.times) == [U, 60]
    t = TcpTimeline(c.to_client)
    assert (t.first(0), t.last(40), t.first(40), t.last(80)) == (None, None, 60, 60)
    assert t.first_packet(0) == (None, 5) and t.last_packet(80) == (60, 6)
    assert c.to_client.time_at(10) is None and c.to_client.time_at(79) == 60


def test_untimed_handshake_ack_leaves_the_handshake_empty():
    rows = handshake(ack=U) + [up(0, 10, 30)]
    assert_same(rows)
    [c] = build_connections(table_from(rows))
    assert (c.syn_ns, c.handshake_ack_ns, c.tcp_handshake_ns) == (0, None, None)


def test_connection_without_any_time():
    rows = [(r[:9] + (U,)) for r in handshake() + [up(0, 5, 0), down(0, 5, 0)]]
    assert_same(rows)
    [c] = build_connections(table_from(rows))
    assert (c.syn_ns, c.synack_ns, c.handshake_ack_ns, c.first_ns, c.last_ns) == (None,) * 5
    assert c.tcp_handshake_ns is None and c.end == "open"
    assert list(c.to_server.times) == [U] and list(c.to_client.times) == [U]
    assert TcpTimeline(c.to_server).first_packet(0) == (None, 4)


def test_untimed_first_copy_of_a_retransmitted_segment_keeps_its_file_place():
    """The untimed copy comes first in the file (after the packet at 30): it carried the bytes
    first, so their time is unknown; the later timed copy is the retransmission."""
    rows = handshake() + [up(0, 10, 30), down(0, 40, U), down(0, 40, 50), down(40, 5, 60)]
    assert_same(rows)
    [c] = build_connections(table_from(rows))
    s = c.to_client
    assert (list(s.starts), list(s.times), list(s.frames)) == ([0, 40], [U, 60], [5, 7])
    assert (s.retransmitted_segments, s.retransmitted_bytes) == (1, 40)


def test_untimed_packet_sorts_after_the_packet_before_it_in_the_file():
    """Out-of-order capture times: the untimed segment stays between its file neighbours."""
    rows = handshake() + [down(10, 10, 50), down(20, 10, U), down(0, 10, 40), down(15, 10, 55)]
    assert_same(rows)
    [c] = build_connections(table_from(rows))
    s = c.to_client
    # time order: [0,10) at 40, [10,20) at 50, [20,30) untimed (after 50), [15,25) at 55 adds
    # nothing new: the untimed packet carried [20,25) first
    # (the delivery rule cuts the pieces at every copy's edges: merged back for the comparison)
    starts, ends, times, _, _ = merged_pieces(s)
    assert (starts, ends, times) == ([0, 10, 20], [10, 20, 30], [40, 50, U])
    assert s.retransmitted_segments == 1


def test_order_key_fills_within_a_group_only():
    ts = np.array([U, 5, U, 3, U, U, U, 9], dtype=np.int64)
    new_group = np.array([1, 0, 0, 0, 0, 1, 1, 0], dtype=bool)
    assert order_key(ts, ts >= 0, new_group).tolist() == [5, 5, 5, 3, 3, U, 9, 9]
    timed = np.array([1, 2], dtype=np.int64)
    assert order_key(timed, timed >= 0, np.array([1, 0], dtype=bool)) is timed


def test_connection_order_is_the_same_in_a_part_of_the_table():
    """The order key of a 4-tuple's rows depends on that 4-tuple only, so connection numbers
    agree between the whole table and a bucket of it (buckets.order_keys uses s_ts too)."""
    other = [(2, 1, 0, 2, ACK, 1, 1, 0, 0, 45)]
    rows = [*other, *handshake(syn=U), up(0, 3, 30), *other, down(0, 3, U)]
    table = table_from(rows)
    whole = PacketGroups(table)
    mine = np.flatnonzero(table.sport != 1)
    part = PacketGroups(table.take(mine))
    rank = np.empty(len(table), dtype=np.int64)
    rank[whole.order] = np.arange(len(table))
    keys_whole = whole.s_ts[np.sort(rank[mine])]
    assert part.s_ts.tolist() == keys_whole.tolist() == [10, 10, 20, 30, 30]
    assert_same(rows)


def test_stream_add_keeps_unknown_times():
    s = DirectionStream(b"x" * 100)
    s.add(0, 10, 10, U, 1, 0)
    s.add(10, 10, 10, 7, 2, 10)
    assert s.time_at(0) is None and s.time_at(15) == 7
