"""build_connections (vectorised) against the per-packet reference on generated packet tables:
handshakes, 4-tuple reuse, no SYN seen, sequence wrap, retransmissions, reordering, snaplen cuts,
equal timestamps, a self-connected socket, IPv4 and IPv6 mixed."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inferwire.packets.table import V4_MAPPED, CaptureStats, PacketTable
from inferwire.tcp import build_connections
from inferwire.tcp.grouping import MAX_SPACED

from .reference_connections import reference_build_connections

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
HOSTS = [(0, V4_MAPPED | 0x0A000001), (0, V4_MAPPED | 0x0A000002), (0x20010DB8 << 32, 1)]
BUFFER = bytes(range(256)) * 8


def table_from(rows: list[tuple]) -> PacketTable:
    """rows: (src host, sport, dst host, dport, flags, seq, ack, payload, captured, ts)."""
    n = len(rows)
    col = lambda i, dtype: np.array([r[i] for r in rows], dtype=dtype)  # noqa: E731
    src = [HOSTS[r[0]] for r in rows]
    dst = [HOSTS[r[2]] for r in rows]
    u64 = lambda v: np.array(v, dtype=np.uint64)  # noqa: E731
    return PacketTable(
        path="gen", buffer=BUFFER, frame=np.arange(1, n + 1, dtype=np.int64),
        ts_ns=col(9, np.int64), iface=np.zeros(n, np.int32),
        ip_version=np.array([6 if h[0] else 4 for h in src], dtype=np.uint8),
        src_hi=u64([h[0] for h in src]), src_lo=u64([h[1] for h in src]),
        dst_hi=u64([h[0] for h in dst]), dst_lo=u64([h[1] for h in dst]),
        sport=col(1, np.int32), dport=col(3, np.int32), seq=col(5, np.int64),
        ack=col(6, np.int64), flags=col(4, np.int32), window=np.full(n, 100, np.int32),
        ip_id=np.zeros(n, np.int32), payload_len=col(7, np.int32),
        captured_len=col(8, np.int32), payload_off=np.arange(n, dtype=np.int64) * 3 % 1500,
        stats=CaptureStats("gen", "pcap"))


def describe(conns) -> list[dict]:
    out = []
    for c in conns:
        d = {k: getattr(c, k) for k in ("index", "syn_ns", "synack_ns", "handshake_ack_ns",
                                         "first_ns", "last_ns", "packets", "syn_seen",
                                         "roles_inferred", "end", "fin_ns", "rst_ns",
                                         "syn_untimed", "tcp_handshake_ns")}
        d["ends"] = (str(c.client), str(c.server))
        for name in ("to_server", "to_client"):
            s = getattr(c, name)
            d[name] = (*merged_pieces(s), s.fin_offset,
                       s.uncaptured,
                       s.retransmitted_segments, s.retransmitted_bytes, s.nbytes,
                       s.contiguous_end(), [(g.start, g.end) for g in s.gaps()])
        out.append(d)
    return out


def merged_pieces(s) -> tuple:
    """The stream's pieces with neighbours carried by the same packet joined: the delivery rule
    (inferwire.tcp.delivery) cuts the pieces of directions with retransmissions at every copy's
    edges, which changes no byte's first packet, time or place in the file."""
    cols = [[] for _ in range(5)]
    for st_, en, t, f, src in zip(s.starts, s.ends, s.times, s.frames, s.srcs):
        if cols[0] and cols[1][-1] == st_ and cols[2][-1] == t and cols[3][-1] == f \
                and cols[4][-1] + (cols[1][-1] - cols[0][-1]) == src:
            cols[1][-1] = en
            continue
        for c, v in zip(cols, (st_, en, t, f, src)):
            c.append(v)
    return tuple(cols)


def assert_same(rows):
    table = table_from(rows)
    assert describe(build_connections(table)) == describe(reference_build_connections(table))


FLAGS = [SYN, SYN | ACK, ACK, PSH | ACK, FIN | ACK, RST, RST | ACK, FIN | PSH | ACK, 0]


@st.composite
def conversation(draw, untimed=False):
    """Packets of one or two connections on a few 4-tuples, with realistic sequence numbers;
    ``untimed``: some packets have no time (ts -1, as a pcapng simple packet block)."""
    rows = []
    for _ in range(draw(st.integers(1, 3))):
        a, b = draw(st.sampled_from([(0, 1), (1, 0), (2, 2), (0, 0)]))
        ports = draw(st.sampled_from([(40000, 8500), (8500, 40000), (5000, 5000), (40001, 80)]))
        isn = [draw(st.sampled_from([0, 1000, 0xFFFFFF00, 0x7FFFFFF0])),
               draw(st.integers(0, 0xFFFFFFFF))]
        sent = [0, 0]
        for _ in range(draw(st.integers(0, 12))):
            side = draw(st.integers(0, 1))
            flags = draw(st.sampled_from(FLAGS))
            plen = draw(st.sampled_from([0, 0, 1, 10, 100]))
            back = draw(st.sampled_from([0, 0, 0, 5, 50, 200]))    # retransmit / reorder
            off = max(sent[side] - back, 0) if not flags & SYN else -1
            seq = (isn[side] + 1 + off) & 0xFFFFFFFF
            ack = (isn[1 - side] + 1 + sent[1 - side]) & 0xFFFFFFFF
            cap = draw(st.sampled_from([plen, plen, plen // 2, 0]))
            src, dst = (a, b) if side == 0 else (b, a)
            sp, dp = ports if side == 0 else ports[::-1]
            ts = draw(st.integers(-4 if untimed else 0, 40)) * 1000
            ts = -1 if ts < 0 else ts
            rows.append((src, sp, dst, dp, flags, seq, ack, plen, cap, ts))
            sent[side] = max(sent[side], off + plen)
    return rows


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversation())
def test_generated_conversations(rows):
    assert_same(rows)


random_row = st.tuples(st.integers(0, 2), st.sampled_from([1, 2, 80]), st.integers(0, 2),
                       st.sampled_from([1, 2, 80]), st.sampled_from(FLAGS),
                       st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF),
                       st.sampled_from([0, 1, 7]), st.sampled_from([0, 1, 7]),
                       st.integers(0, 5))


@settings(max_examples=250, deadline=None)
@given(st.lists(random_row, min_size=1, max_size=25))
def test_random_packets(rows):
    rows = [r[:8] + (min(r[8], r[7]), r[9]) for r in rows]
    assert_same(rows)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversation(untimed=True))
def test_generated_conversations_with_untimed_packets(rows):
    assert_same(rows)


@settings(max_examples=250, deadline=None)
@given(st.lists(random_row, min_size=1, max_size=25), st.lists(st.booleans(), max_size=25))
def test_random_packets_some_untimed(rows, untimed):
    rows = [r[:8] + (min(r[8], r[7]), -1 if i < len(untimed) and untimed[i] else r[9])
            for i, r in enumerate(rows)]
    assert_same(rows)
    for c in build_connections(table_from(rows)):
        times = [c.syn_ns, c.synack_ns, c.handshake_ack_ns, c.first_ns, c.last_ns, c.fin_ns,
                 c.rst_ns]
        assert all(t is None or t >= 0 for t in times)


def test_handshake_request_response_fin():
    c, s = 1000, 0xFFFFFFF0                        # the server's sequence numbers wrap
    rows = [(0, 40000, 1, 8500, SYN, c, 0, 0, 0, 0),
            (1, 8500, 0, 40000, SYN | ACK, s, c + 1, 0, 0, 10),
            (0, 40000, 1, 8500, ACK, c + 1, s + 1, 0, 0, 20),
            (0, 40000, 1, 8500, PSH | ACK, c + 1, s + 1, 100, 100, 30),
            (1, 8500, 0, 40000, PSH | ACK, s + 1, c + 101, 40, 40, 50),
            (1, 8500, 0, 40000, PSH | ACK, (s + 41) & 0xFFFFFFFF, c + 101, 40, 40, 60),
            (0, 40000, 1, 8500, FIN | ACK, c + 101, 0, 0, 0, 70)]
    assert_same(rows)
    [conn] = build_connections(table_from(rows))
    assert conn.tcp_handshake_ns == 20 and conn.end == "fin" and conn.to_client.nbytes == 80
    assert list(conn.to_client.starts) == [0, 40] and conn.to_server.fin_offset == 100


def test_ties_in_first_time_keep_the_order_of_4_tuples_then_file():
    """A reused 4-tuple's second connection sorts with its 4-tuple, not by its own first row."""
    rows = [(0, 40000, 1, 8500, SYN, 1, 0, 0, 0, 0),
            (0, 40001, 1, 8500, SYN, 7, 0, 0, 0, 5),
            (0, 40000, 1, 8500, SYN, 999, 0, 0, 0, 5)]
    assert_same(rows)
    conns = build_connections(table_from(rows))
    assert [(c.client.port, c.first_ns) for c in conns] == [(40000, 0), (40000, 5), (40001, 5)]


def test_overflowing_spacing_falls_back_to_the_exact_path(monkeypatch):
    rows = [(0, 1, 1, 2, PSH | ACK, 10, 0, 5, 5, 0), (0, 1, 1, 2, PSH | ACK, 12, 0, 5, 5, 1),
            (1, 2, 0, 1, PSH | ACK, 7, 0, 5, 5, 2)]
    monkeypatch.setattr("inferwire.tcp.grouping.MAX_SPACED", 1)
    assert_same(rows)
    assert MAX_SPACED == 1 << 62
