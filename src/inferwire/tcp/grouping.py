"""Vectorised TCP bookkeeping: packets -> connections -> directions, as numpy columns.

:class:`PacketGroups` sorts the packet rows by connection 4-tuple (file order within one) and
splits 4-tuples reused by a new SYN; :func:`connection_facts` reduces each connection's rows to
its handshake, roles and end; :func:`directions` gives every packet its stream offset and cuts
each direction's payload into pieces for :class:`~inferwire.tcp.stream.DirectionStream`.

Rules (the same as packet-by-packet reassembly, see :mod:`inferwire.tcp.stream`): a pure SYN (SYN
without ACK) with a sequence number other than the previous pure SYN of the same 4-tuple starts a
new connection; the client is the sender of the first pure SYN, else the receiver of the first
SYN-ACK, else (roles inferred) the higher port; a direction's offsets count from its ISN + 1, or,
without a SYN, from the lowest sequence number carrying payload; segments are taken in capture
time order and every byte keeps the time of the first packet that carried it (which copy the
receiver got is decided after, in :mod:`inferwire.tcp.delivery`, for the directions that need it).

Packets without a usable time (``ts_ns`` -1: a pcapng simple packet block, a time stamp out of
range) keep an unknown time everywhere: their bytes' times are -1 (the timelines say None), and
the connection's times are the minima/maxima of its known times only.  For ordering alone, such a
packet stands right after the packet before it in the file (of its 4-tuple; before the 4-tuple's
first timed packet when none precedes it): see :func:`order_key`.
"""
from __future__ import annotations

import numpy as np

from .delivery import OOO_DEFAULT_NS, AckEvidence, deliver
from . import netstats
from .options import header_starts, sack_blocks, timestamps
from .segments import Segments, reassembled
from .sorting import stable_order
from .stream import DirectionStream, int64s

try:              # the headers' walk in C (_segments.c); _header_marks_py is the reference
    from ._segments import header_marks as _c_header_marks
except ImportError:
    _c_header_marks = None

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
MASK32 = 0xFFFFFFFF
HALF = 1 << 31
NO_ROW = np.iinfo(np.int64).max      # "no such packet" in per-connection minima
# Per-direction running maxima are computed on one array by spacing directions apart; beyond
# this the spacing could overflow int64 and the exact per-segment path is used instead.
MAX_SPACED = 1 << 62


class PacketGroups:
    """The table's rows sorted by (canonical 4-tuple, file order), with connection boundaries.

    Arrays named ``s_*`` are in that sorted order.  ``conn`` is the connection number of each
    sorted row, ``starts`` the sorted position of each connection's first row.  ``s_time`` is
    each row's capture time (ns; -1: unknown), ``s_known`` where it is known, and ``s_ts`` the
    time order key (:func:`order_key`: ``s_time`` where known), which every "first"/"in time
    order" decision uses.
    """

    def __init__(self, table):
        self.table = table
        n = len(table)
        src_key, dst_key = _endpoint_keys(table)
        self.src_is_a = _key_le(src_key, dst_key)           # is the source the canonical side A
        same = _key_eq(src_key, dst_key)
        a_key = [np.where(self.src_is_a, s, d) for s, d in zip(src_key, dst_key)]
        b_key = [np.where(self.src_is_a, d, s) for s, d in zip(src_key, dst_key)]
        # a stable sort: rows of one 4-tuple stay in file order
        self.order = stable_order(*a_key, *b_key)
        o = self.order
        new_tuple = np.ones(n, dtype=bool)
        for k in a_key + b_key:
            sk = k[o]
            new_tuple[1:] &= sk[1:] == sk[:-1]
        new_tuple[1:] = ~new_tuple[1:]
        self.new_tuple = new_tuple
        self.s_flags = table.flags[o]
        self.s_seq = table.seq[o]
        self.s_time = table.ts_ns[o]
        self.s_known = self.s_time >= 0
        self.all_known = bool(self.s_known.all())
        self.s_ts = order_key(self.s_time, self.s_known, new_tuple)
        self.s_src_is_a = self.src_is_a[o]
        self.s_dst_is_a = (~self.src_is_a | same)[o]
        self.s_sport = table.sport[o]
        self.s_dport = table.dport[o]
        pure_syn = ((self.s_flags & SYN) != 0) & ((self.s_flags & ACK) == 0)
        self.s_pure_syn = pure_syn
        self.s_synack = ((self.s_flags & SYN) != 0) & ((self.s_flags & ACK) != 0)
        new_conn = new_tuple | _reused(pure_syn, new_tuple, self.s_seq)
        self.starts = np.flatnonzero(new_conn)
        self.conn = np.cumsum(new_conn) - 1
        self.ends = np.append(self.starts[1:], n)

    def tuple_rows(self) -> list[np.ndarray]:
        """Row indices of each 4-tuple, groups in first-appearance order."""
        if len(self.order) == 0:
            return []
        groups = np.split(self.order, np.flatnonzero(self.new_tuple)[1:])
        groups.sort(key=lambda g: g[0])
        return groups


def order_key(ts: np.ndarray, known: np.ndarray, new_group: np.ndarray) -> np.ndarray:
    """Time order key of rows in groups of consecutive rows (``new_group`` marks each group's
    first row), file order within a group: ``ts`` where ``known``, else the time of the
    group's last known row before it, else of the group's first known row, else -1.

    So a packet without a time keeps its file position among its neighbours (sorts are
    stable), and the key of a group depends on that group's rows only (the same in a bucket of
    the table as in the whole table).  ``ts`` itself (no copy) when every time is known.
    """
    if known.all():
        return ts
    n = len(ts)
    idx = np.arange(n)
    group = np.cumsum(new_group) - 1
    starts = np.flatnonzero(new_group)
    ends = np.append(starts[1:], n)[group]
    prev = np.maximum.accumulate(np.where(known, idx, -1))
    nxt = np.minimum.accumulate(np.where(known, idx, n)[::-1])[::-1]
    use_prev = prev >= starts[group]
    use_next = ~use_prev & (nxt < ends)
    return np.where(use_prev, ts[np.maximum(prev, 0)],
                    np.where(use_next, ts[np.minimum(nxt, n - 1)], -1))


def _endpoint_keys(table) -> tuple[list, list]:
    """Source and destination endpoints as lists of uint64 key columns (most significant first).

    IPv4 addresses are stored IPv4-mapped (48 significant bits), so address and port fit one
    uint64: one key column instead of three makes the sort several times faster.
    """
    sport = table.sport.astype(np.uint64)
    dport = table.dport.astype(np.uint64)
    fits = (len(table) == 0 or (not table.src_hi.any() and not table.dst_hi.any()
                                and int(table.src_lo.max()) < 1 << 48
                                and int(table.dst_lo.max()) < 1 << 48))
    if fits:
        sixteen = np.uint64(16)
        return [(table.src_lo << sixteen) | sport], [(table.dst_lo << sixteen) | dport]
    return [table.src_hi, table.src_lo, sport], [table.dst_hi, table.dst_lo, dport]


def _key_le(a: list, b: list) -> np.ndarray:
    """Row-wise lexicographic a <= b over key columns."""
    le = a[-1] <= b[-1]
    for x, y in zip(a[-2::-1], b[-2::-1]):
        le = (x < y) | ((x == y) & le)
    return le


def _key_eq(a: list, b: list) -> np.ndarray:
    eq = np.ones(len(a[0]), dtype=bool)
    for x, y in zip(a, b):
        eq &= x == y
    return eq


def _reused(pure_syn: np.ndarray, new_tuple: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """Sorted rows where a reused 4-tuple starts a new connection: a pure SYN whose sequence
    number differs from the previous pure SYN of the same 4-tuple."""
    out = np.zeros(len(pure_syn), dtype=bool)
    syn = np.flatnonzero(pure_syn)
    if len(syn) < 2:
        return out
    tuple_id = np.cumsum(new_tuple)[syn]
    split = (tuple_id[1:] == tuple_id[:-1]) & (seq[syn[1:]] != seq[syn[:-1]])
    out[syn[1:][split]] = True
    return out


# ---------------------------------------------------------------- per connection

def _first(mask: np.ndarray, g: PacketGroups) -> np.ndarray:
    """Sorted position of each connection's first row where ``mask``, or NO_ROW."""
    pos = np.where(mask, np.arange(len(mask)), NO_ROW)
    return np.minimum.reduceat(pos, g.starts)


def _min_ts(mask: np.ndarray, g: PacketGroups) -> np.ndarray:
    """Earliest known capture time (ns) among each connection's rows where ``mask``, or NO_ROW
    (no such row, or none with a time)."""
    timed = mask if g.all_known else mask & g.s_known
    return np.minimum.reduceat(np.where(timed, g.s_time, NO_ROW), g.starts)


def _max_ts(g: PacketGroups) -> np.ndarray:
    """Latest known capture time (ns) of each connection's rows, or -1 (none has a time)."""
    return np.maximum.reduceat(g.s_time if g.all_known else np.where(g.s_known, g.s_time, -1),
                               g.starts)


def _first_in_time(mask: np.ndarray, g: PacketGroups) -> np.ndarray:
    """Sorted position of each connection's row where ``mask`` that comes first in time order
    (smallest order key, then file order), or NO_ROW."""
    least = np.minimum.reduceat(np.where(mask, g.s_ts, NO_ROW), g.starts)
    return _first(mask & (g.s_ts == least[g.conn]), g)


def _time_at(g: PacketGroups, pos: np.ndarray) -> np.ndarray:
    """The capture time of the rows at ``pos``: NO_ROW where pos is NO_ROW or has no time."""
    return np.where(_at(g.s_known, pos, False), _at(g.s_time, pos), NO_ROW)


def _at(values: np.ndarray, pos: np.ndarray, fill=0) -> np.ndarray:
    """``values[pos]`` where pos is a row, ``fill`` where it is NO_ROW."""
    found = pos != NO_ROW
    out = np.full(len(pos), fill, dtype=values.dtype)
    out[found] = values[pos[found]]
    return out


def connection_facts(g: PacketGroups) -> dict:
    """Per connection (in grouping order): roles, handshake, end, and the final order.

    Returns a dict of numpy columns plus ``"lists"`` (the same as Python lists, None for "not
    seen") and ``"order"`` (connection numbers sorted by first packet time, then file order).
    """
    fl, starts = g.s_flags, g.starts
    syn_pos, synack_pos = _first(g.s_pure_syn, g), _first(g.s_synack, g)
    has_syn, has_synack = syn_pos != NO_ROW, synack_pos != NO_ROW
    client_is_a = _client_is_a(g, syn_pos, synack_pos, has_syn, has_synack)
    up = g.s_src_is_a == client_is_a[g.conn]
    facts = {
        "client_is_a": client_is_a, "up": up,
        "syn_pos": syn_pos, "synack_pos": synack_pos,
        "client_isn": _at(g.s_seq, syn_pos), "has_client_isn": has_syn,
        "server_isn": _at(g.s_seq, synack_pos), "has_server_isn": has_synack,
        "first_ns": _min_ts(np.ones(len(fl), dtype=bool), g), "last_ns": _max_ts(g),
        "packets": g.ends - starts,
        "syn_ns": _min_ts(g.s_pure_syn, g), "synack_ns": _min_ts(g.s_synack, g),
        "rst_ns": _min_ts((fl & RST) != 0, g), "fin_ns": _min_ts((fl & FIN) != 0, g),
        "has_rst": _any((fl & RST) != 0, g), "has_fin": _any((fl & FIN) != 0, g),
        # the first SYN has no time: no handshake time, whatever other SYNs say
        "syn_untimed": (np.zeros(len(starts), dtype=bool) if g.all_known else
                        has_syn & ~_at(g.s_known, _first_in_time(g.s_pure_syn, g), False)),
    }
    facts["handshake_ack_ns"] = _handshake_ack(g, facts)
    facts["answered_synack_ns"] = _answered_synack(g, facts)
    facts["answered_syn_ns"] = _answered_syn(g, facts)
    facts["syn_answer_ns"] = _syn_answer(g, facts)
    facts["rtt_server_ns"], facts["rtt_client_ns"] = handshake_round_trips(facts)
    facts.update(_endpoints(g, client_is_a))
    first_row = g.order[starts]
    tuple_first = first_row[np.maximum.accumulate(np.where(g.new_tuple[starts],
                                                           np.arange(len(starts)), 0))]
    first_key = np.minimum.reduceat(g.s_ts, starts)     # = first_ns when every time is known
    facts["order"] = np.lexsort((first_row, tuple_first, first_key))
    facts["lists"] = _as_lists(facts, has_syn, has_synack)
    return facts


def _any(mask: np.ndarray, g: PacketGroups) -> np.ndarray:
    """Has each connection a row where ``mask``."""
    return np.logical_or.reduceat(mask, g.starts)


def _client_is_a(g, syn_pos, synack_pos, has_syn, has_synack) -> np.ndarray:
    """Is the client the canonical side A: sender of the first pure SYN, else receiver of the
    first SYN-ACK, else the side with the higher port in the connection's first packet."""
    first = g.starts
    inferred = np.where(g.s_sport[first] < g.s_dport[first], g.s_dst_is_a[first],
                        g.s_src_is_a[first])
    from_synack = _at(g.s_dst_is_a, synack_pos, False)
    return np.where(has_syn, _at(g.s_src_is_a, syn_pos, False),
                    np.where(has_synack, from_synack, inferred))


def _handshake_ack(g: PacketGroups, facts: dict) -> np.ndarray:
    """Time of the client's first ACK of the server's ISN + 1 sent after the first SYN-ACK (in
    time order), or NO_ROW: none, or that ACK has no time."""
    c = g.conn
    ack = g.table.ack[g.order]
    want = (facts["server_isn"] + 1) & MASK32
    synack_key = np.minimum.reduceat(np.where(g.s_synack, g.s_ts, NO_ROW), g.starts)
    mask = (facts["up"] & ((g.s_flags & ACK) != 0) & ((g.s_flags & SYN) == 0)
            & facts["has_server_isn"][c] & (ack == want[c]) & (g.s_ts >= synack_key[c]))
    return _time_at(g, _first_in_time(mask, g))


def _answered_synack(g: PacketGroups, facts: dict) -> np.ndarray:
    """Time of the latest timed SYN-ACK captured at or before the client's handshake ACK (the
    one that ACK answered when the first SYN-ACK was lost: the server repeats it a second
    later, and answers the client's repeated SYN), else the first SYN-ACK's (``synack_ns``)."""
    ack = facts["handshake_ack_ns"]
    timed = g.s_synack if g.all_known else g.s_synack & g.s_known
    before = timed & (g.s_time <= ack[g.conn])
    latest = np.maximum.reduceat(np.where(before, g.s_time, -1), g.starts)
    return np.where((latest >= 0) & (ack != NO_ROW), latest, facts["synack_ns"])


def _answered_syn(g: PacketGroups, facts: dict) -> np.ndarray:
    """Time of the latest timed pure SYN captured at or before the SYN-ACK the handshake's ACK
    answered (:func:`_answered_synack`; the one that SYN-ACK answered when the first SYN was
    lost: a SYN retransmitted a second later), or NO_ROW: no SYN-ACK, or no timed SYN before
    it."""
    synack = facts["answered_synack_ns"]
    timed = g.s_pure_syn if g.all_known else g.s_pure_syn & g.s_known
    before = timed & (g.s_time <= synack[g.conn])
    latest = np.maximum.reduceat(np.where(before, g.s_time, -1), g.starts)
    return np.where((latest >= 0) & (synack != NO_ROW), latest, NO_ROW)


def _syn_answer(g: PacketGroups, facts: dict) -> np.ndarray:
    """Time of the first timed SYN-ACK captured at or after the answered SYN
    (:func:`_answered_syn`): the one that answered it, or NO_ROW.  Usually the SYN-ACK the
    handshake's ACK answered; not when the server's first SYN-ACK was lost and the client's
    repeated SYN was lost too: the SYN-ACK the ACK answered is then the server's own repeat a
    second later, and the SYN before it the first one, so that SYN to that SYN-ACK is the
    server's retransmission timer, not a round trip (seen at the server's side of a lossy
    veth run: a 1.03 s "round trip", a 515 ms guard, a D-SACK naming the wrong copy)."""
    syn = facts["answered_syn_ns"]
    timed = g.s_synack if g.all_known else g.s_synack & g.s_known
    after = timed & (g.s_time >= syn[g.conn])
    first = np.minimum.reduceat(np.where(after, g.s_time, NO_ROW), g.starts)
    return np.where(syn != NO_ROW, first, NO_ROW)


def handshake_round_trips(facts: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per connection, the handshake's round trips (ns, NO_ROW where unknown or negative, or
    where the first SYN has no time stamp): the server's, SYN to SYN-ACK, from the answered
    SYN (:func:`_answered_syn`; the first SYN where none) to the SYN-ACK that answered it
    (:func:`_syn_answer`; else the answered one); the client's, from the SYN-ACK the ACK
    answered (:func:`_answered_synack`) to that ACK.  A first SYN or SYN-ACK lost and repeated
    a second later is not counted in them (``tcp_handshake_ms`` counts from the first SYN).
    (:func:`guards` takes its own from the same facts, 0 where unknown.)"""
    syn = np.where(facts["answered_syn_ns"] != NO_ROW, facts["answered_syn_ns"],
                   facts["syn_ns"])
    synack = facts["answered_synack_ns"]
    answer = np.where(facts["syn_answer_ns"] != NO_ROW, facts["syn_answer_ns"], synack)
    ack = facts["handshake_ack_ns"]
    timed = (synack != NO_ROW) & ~facts["syn_untimed"]
    server = timed & (syn != NO_ROW) & (answer >= syn)
    client = timed & (ack != NO_ROW) & (ack >= synack)
    return (np.where(server, answer - syn, NO_ROW), np.where(client, ack - synack, NO_ROW))


def _endpoints(g: PacketGroups, client_is_a: np.ndarray) -> dict:
    """Client and server address halves and ports, from each connection's first row."""
    t, first = g.table, g.order[g.starts]
    client_is_src = g.s_src_is_a[g.starts] == client_is_a
    pick = (lambda a, b: np.where(client_is_src, a[first], b[first]))
    return {"client_hi": pick(t.src_hi, t.dst_hi), "client_lo": pick(t.src_lo, t.dst_lo),
            "client_port": pick(t.sport, t.dport), "server_hi": pick(t.dst_hi, t.src_hi),
            "server_lo": pick(t.dst_lo, t.src_lo), "server_port": pick(t.dport, t.sport)}


def _as_lists(facts: dict, has_syn, has_synack) -> dict:
    out = {name: facts[name].tolist() for name in (
        "packets", "client_hi", "client_lo", "client_port", "server_hi", "server_lo",
        "server_port", "has_rst", "has_fin", "syn_untimed")}
    for name in ("first_ns", "syn_ns", "synack_ns", "rst_ns", "fin_ns", "handshake_ack_ns",
                 "rtt_server_ns", "rtt_client_ns"):
        out[name] = [None if v == NO_ROW else v for v in facts[name].tolist()]
    out["last_ns"] = [None if v < 0 else v for v in facts["last_ns"].tolist()]
    out["syn_seen"] = has_syn.tolist()
    out["roles_inferred"] = (~has_syn & ~has_synack).tolist()
    return out


# ---------------------------------------------------------------- per direction

class Directions:
    """Each direction's pieces (direction 2k: connection k's client -> server, 2k+1: back).

    Directions whose segments all arrive in order without overlap ("fast") get their pieces as
    list slices; the others replay their segments through :meth:`DirectionStream.add`.
    """

    def __init__(self, n_dirs: int):
        self.n_dirs = n_dirs
        self.piece_bounds = [0] * (n_dirs + 1)
        self.cols: dict = {k: int64s() for k in ("starts", "ends", "times", "frames", "srcs")}
        self.fin_offset: list = [None] * n_dirs
        self.uncaptured: dict = {}           # direction -> [(start, end), ...]
        self.replay: dict = {}               # direction -> its Segments, replayed through add()
        self.marks: dict = {}                # replayed direction -> header-only hole marks
        self.nbytes: list = [0] * n_dirs     # of the fast directions: distinct bytes ...
        self.contiguous: list = [0] * n_dirs  # ... and the end of the gap-free prefix
        self.evidence: dict = {}             # replayed direction -> its receiver's AckEvidence
        # ACK round trip samples (netstats.ack_rtt_samples): times and ns, direction by direction
        self.rtt_bounds: list = [0] * (n_dirs + 1)
        self.rtt_t: list = []
        self.rtt_ns: list = []
        self.ref = np.zeros(n_dirs, dtype=np.int64)   # each direction's raw seq of offset 0
        self.dir_order = None                # netstats.per_direction_order of the packets
        self.in_flight: list = [-1] * n_dirs  # most bytes in flight (-1: never measured)

    def rtt_samples(self, d: int) -> tuple[list, list]:
        """Direction ``d``'s ACK round trip samples: data capture times and round trips, ns."""
        a, b = self.rtt_bounds[d], self.rtt_bounds[d + 1]
        return self.rtt_t[a:b], self.rtt_ns[a:b]

    def first_rtt(self, d: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """For each query, the round trip (ns) of direction ``d``'s first sample whose data was
        captured in ``[start, stop]``, or -1 (none, or a bound is -1: unknown); vectorised."""
        out = np.full(len(d), -1, dtype=np.int64)
        t = np.asarray(self.rtt_t, dtype=np.int64)
        if not len(t) or not len(d):
            return out
        bounds = np.asarray(self.rtt_bounds, dtype=np.int64)
        sample_d = np.repeat(np.arange(self.n_dirs), np.diff(bounds))
        t0, span = int(t.min()), int(t.max() - t.min()) + 2
        if self.n_dirs * span >= MAX_SPACED:                  # one query at a time
            for i, (di, a, b) in enumerate(zip(d.tolist(), start.tolist(), stop.tolist())):
                times, rtts = self.rtt_samples(di)
                j = np.searchsorted(times, a) if a >= 0 else len(times)
                if j < len(times) and 0 <= times[j] <= b:
                    out[i] = rtts[j]
            return out
        key = sample_d * span + (t - t0)
        q = d * span + np.clip(start - t0, 0, span - 1)
        i = np.minimum(np.searchsorted(key, q), len(t) - 1)
        ok = (start >= 0) & (stop >= 0) & (sample_d[i] == d) & (t[i] >= start) & (t[i] <= stop)
        out[ok] = np.asarray(self.rtt_ns, dtype=np.int64)[i[ok]]
        return out

    def stream(self, d: int, buffer) -> DirectionStream:
        """The reassembled DirectionStream of direction ``d``."""
        if d in self.replay:
            s = reassembled(buffer, self.replay[d])
            s.fin_offset = self.fin_offset[d]
            if d in self.evidence:
                s.delivery = deliver(s, self.replay[d], self.evidence[d],
                                     self.marks.get(d, ()))
            return s
        a, b = self.piece_bounds[d], self.piece_bounds[d + 1]
        c = self.cols
        return DirectionStream(buffer, c["starts"][a:b], c["ends"][a:b], c["times"][a:b],
                               c["frames"][a:b], c["srcs"][a:b], 0, 0, self.fin_offset[d],
                               self.uncaptured.get(d) or [],
                               known_summary=(b - a, self.nbytes[d], self.contiguous[d]))


def directions(g: PacketGroups, facts: dict, vantage: str = "auto") -> Directions:
    """Stream offsets of every segment and the pieces of every direction; for the directions
    with retransmissions or reordering, their receivers' ACKs (:mod:`~inferwire.tcp.delivery`;
    ``vantage``: see :func:`guards`)."""
    t = g.table
    n_dirs = 2 * len(g.starts)
    out = Directions(n_dirs)
    o = g.order
    plen = t.payload_len[o]
    fin = (g.s_flags & FIN) != 0
    rows = np.flatnonzero((plen > 0) | fin)            # sorted positions of data/FIN segments
    if len(rows) == 0:
        return out
    d = 2 * g.conn[rows] + (~facts["up"][rows]).astype(np.int64)
    by_time = stable_order(d, g.s_ts[rows])            # equal times stay in file order
    rows, d = rows[by_time], d[by_time]
    off = _offsets(g, facts, rows, d, plen[rows], n_dirs)
    seg = {"off": off, "plen": plen[rows], "clen": t.captured_len[o][rows], "ts": g.s_time[rows],
           "frame": t.frame[o][rows], "src": t.payload_off[o][rows], "fin": fin[rows], "d": d,
           "seq": g.s_seq[rows], "pos": rows}
    _fins(out, seg)
    _pieces(out, seg, _header_marks(g, facts, seg, plen))
    if out.replay:
        guard, fields = guards(facts, vantage), None
        for di in out.replay:                   # (direction order: 2k and 2k + 1 together)
            if fields is None or fields[0] != g.starts[di // 2]:
                fields = _header_fields(g, di // 2)
            out.evidence[di] = _evidence(g, facts, seg, di, guard, fields)
    _rtt(out, g, facts, seg)
    return out


def _rtt(out: Directions, g: PacketGroups, facts: dict, seg: dict) -> None:
    """The ACK round trip samples of the directions without retransmissions or reordering."""
    fast = np.ones(out.n_dirs, dtype=bool)
    fast[list(out.replay)] = False
    out.dir_order = netstats.per_direction_order(g, facts["up"])
    out.ref = netstats.refs(g, facts, out.dir_order)
    acks = netstats.Acks(g, facts, out.ref, int((seg["off"] + seg["plen"]).max()))
    out.in_flight = netstats.in_flight(seg, acks, out.n_dirs).tolist()
    d, t, rtt = netstats.ack_rtt_samples(seg, g, acks, fast)
    out.rtt_bounds = np.searchsorted(d, np.arange(out.n_dirs + 1)).tolist()
    out.rtt_t, out.rtt_ns = t.tolist(), rtt.tolist()


#: Capture-point vantages :func:`guards` knows.
VANTAGES = ("auto", "client", "server")


def guards(facts: dict, vantage: str = "auto") -> dict:
    """Per connection (grouping order): ``"to_server"``/``"to_client"``, half the round trip
    (ns) between the capture point and the receiver of that direction, and ``"ooo"``, the
    out-of-order threshold (the handshake's round trip, :data:`OOO_DEFAULT_NS` without one).

    From the handshake as captured: SYN to SYN-ACK is the round trip between the capture point
    and the server, SYN-ACK to the client's ACK the one to the client (0 where unknown).  The
    SYN-ACK is the one the ACK answered, the latest before it (``answered_synack_ns``), the
    SYN the one that SYN-ACK answered, the latest before it (``answered_syn_ns``; the first
    SYN where that is not known), and the server's round trip ends at the first SYN-ACK after
    that SYN (``syn_answer_ns``: not a repeat the server's timer sent): a lost SYN (or SYN-ACK)
    repeated a second later made the round trip a second long, and the guard half that, so
    that every copy looked too late for its ACK (and a D-SACK named a copy a second before it,
    not the repeat it answered).
    ``vantage`` "client" or "server" says the capture was taken on that host: the round trip to
    that side is then 0 and to the other the whole handshake's."""
    syn = facts.get("answered_syn_ns")
    syn = facts["syn_ns"] if syn is None else np.where(syn != NO_ROW, syn, facts["syn_ns"])
    synack = facts.get("answered_synack_ns", facts["synack_ns"])
    answer = facts.get("syn_answer_ns")
    answer = synack if answer is None else np.where(answer != NO_ROW, answer, synack)
    known = (syn != NO_ROW) & (answer != NO_ROW)
    server = np.where(known, answer - syn, 0)
    acked = known & (facts["handshake_ack_ns"] != NO_ROW)
    client = np.where(acked, facts["handshake_ack_ns"] - synack, 0)
    server, client = np.maximum(server, 0), np.maximum(client, 0)
    if vantage == "client":
        server, client = server + client, np.zeros_like(client)
    elif vantage == "server":
        server, client = np.zeros_like(server), server + client
    elif vantage != "auto":
        raise ValueError(f"vantage {vantage!r}: use one of {VANTAGES}")
    rtt = np.where(acked, facts["handshake_ack_ns"] - syn, 0)
    return {"to_server": server // 2, "to_client": client // 2,
            "ooo": np.where(rtt > 0, rtt, OOO_DEFAULT_NS)}


def _header_fields(g: PacketGroups, k: int) -> tuple:
    """``(first sorted position, TCP header offsets, TSvals, TSecrs)`` of connection ``k``'s
    rows, for both directions at once (each packet is an ACK of one direction and a copy of
    the other): the table's columns read with the headers when it has them, else read from
    the buffer (:func:`header_starts`, :func:`timestamps`)."""
    rows = g.order[g.starts[k]:g.ends[k]]
    table = g.table
    if table.tsval is not None and table.tcp_hlen is not None:     # read with the headers
        heads = table.payload_off[rows].astype(np.int64) - table.tcp_hlen[rows]
        return int(g.starts[k]), heads, table.tsval[rows], table.tsecr[rows]
    heads = header_starts(table, rows)
    return (int(g.starts[k]), heads, *timestamps(table, rows, heads))


def _evidence(g: PacketGroups, facts: dict, seg: dict, di: int, guard: dict,
              fields: tuple) -> AckEvidence:
    """The ACKs (and SACK blocks) that direction ``di``'s receiver sent, in ``di``'s offsets;
    ``fields``: :func:`_header_fields` of its connection."""
    k, to_server = di // 2, di % 2 == 0
    first = int(np.searchsorted(seg["d"], di))
    seq0, off0 = int(seg["seq"][first]), int(seg["off"][first])
    pos = np.arange(g.starts[k], g.ends[k])
    flags = g.s_flags[pos]
    mine = (facts["up"][pos] != to_server) & ((flags & ACK) != 0) & g.s_known[pos]
    pos = pos[mine]
    pos = pos[np.argsort(g.s_ts[pos], kind="stable")]
    rows = g.order[pos]
    table = g.table
    to_off = (lambda raw: off0 + (((raw - seq0 + HALF) & MASK32) - HALF))
    acks = to_off(table.ack[rows].astype(np.int64))
    sacks = []
    heads = fields[1][pos - fields[0]]
    # a SACK needs 10 option bytes: more than 12 of them, or 12 laid out NOP NOP SACK (12 are
    # usually NOP NOP timestamps, parsed for nothing; with a timestamp, the 10 bytes it takes
    # leave no room: the option byte is read only where there is none)
    size = table.payload_off[rows] - heads - 20
    u8 = np.frombuffer(table.buffer, dtype=np.uint8)
    sack12 = (size == 12) & (fields[2][pos - fields[0]] < 0) & (heads >= 0)
    at = np.flatnonzero(sack12)
    sack12[at] = u8[np.minimum(heads[at] + 22, len(u8) - 1)] == 5
    roomy = np.flatnonzero((heads >= 0) & ((size > 12) | sack12))
    for i in roomy.tolist():
        blocks = sack_blocks(table, int(rows[i]), int(heads[i]))
        t = int(g.s_time[pos[i]])
        for j, (left, right) in enumerate(blocks):
            lo, hi = to_off(left), to_off(right)
            dsack = j == 0 and (hi <= acks[i] or (len(blocks) > 1 and
                                to_off(blocks[1][0]) <= lo and hi <= to_off(blocks[1][1])))
            sacks.append((t, lo, hi, bool(dsack), int(acks[i])))
    side = "to_server" if to_server else "to_client"
    return AckEvidence(g.s_time[pos], acks, sacks, int(guard[side][k]), int(guard["ooo"][k]),
                       tsecr=fields[3][pos - fields[0]],
                       copy_tsval=_copy_tsvals(seg, di, fields))


def _copy_tsvals(seg: dict, di: int, fields: tuple) -> np.ndarray:
    """TSval (-1: none) of each of direction ``di``'s copies, in the order of
    ``Directions.replay[di]`` (its segments with payload at offset 0 or later, time order);
    ``fields``: :func:`_header_fields` of its connection."""
    a, b = np.searchsorted(seg["d"], [di, di + 1])
    idx = a + np.flatnonzero((seg["plen"][a:b] > 0) & (seg["off"][a:b] >= 0))
    return fields[2][seg["pos"][idx] - fields[0]]


def _offsets(g, facts, rows, d, plen, n_dirs) -> np.ndarray:
    """Stream offset of each segment (rows grouped by direction, time-ordered within)."""
    seq = g.s_seq[rows]
    is_up = d % 2 == 0
    k = d // 2
    has_isn = np.where(is_up, facts["has_client_isn"][k], facts["has_server_isn"][k])
    isn = np.where(is_up, facts["client_isn"][k], facts["server_isn"][k])
    head = np.ones(len(d), dtype=bool)
    head[1:] = d[1:] != d[:-1]
    head_idx = np.maximum.accumulate(np.where(head, np.arange(len(d)), 0))
    ref = np.where(has_isn, (isn + 1) & MASK32, seq[head_idx])
    rel = (seq - ref) & MASK32
    step = np.zeros(len(d), dtype=np.int64)
    step[1:] = rel[1:] - rel[:-1]            # (a step into a direction's head row cancels out)
    wraps = np.where(step < -HALF, 1 << 32, np.where(step > HALF, -(1 << 32), 0))
    base = np.cumsum(wraps)
    off = rel + base - base[head_idx]
    # Without a SYN, offsets count from the lowest sequence number that carried payload.
    lowest = np.full(n_dirs, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(lowest, d[plen > 0], off[plen > 0])
    low = np.where(lowest == np.iinfo(np.int64).max, 0, lowest)[d]
    return np.where(has_isn, off, off - low)


def _fins(out: Directions, seg: dict) -> None:
    """The first FIN of each direction (in time order) marks its end: offset + payload length.
    A FIN on a segment whose payload lies before the stream start is ignored, as its payload."""
    usable = seg["fin"] & ~((seg["plen"] > 0) & (seg["off"] < 0))
    idx = np.flatnonzero(usable)
    if len(idx) == 0:
        return
    dirs, first = np.unique(seg["d"][idx], return_index=True)
    ends = (seg["off"] + seg["plen"])[idx[first]]
    fin_offset = np.full(out.n_dirs, None, dtype=object)   # (Python ints in, None elsewhere)
    fin_offset[dirs] = ends.tolist()
    out.fin_offset = fin_offset.tolist()


def _header_marks(g: PacketGroups, facts: dict, seg: dict, plen: np.ndarray,
                  use_c: bool = True) -> dict:
    """The segments without payload (pure ACKs, FINs; not SYN or RST) whose sequence number is
    past every byte of their direction captured before them: ``{"d", "off", "t", "frame"}``
    arrays, time order within a direction (known times only).  Such a segment shows that bytes
    were sent and not captured (Wireshark's "previous segment not captured" on a frame of
    length 0); the copy that later fills the hole is a repeat (:func:`delivery.classify`).

    A header's stream offset comes from the nearest data or FIN segment of its direction in
    time (its sequence number minus theirs, modulo 2**32), so wrapping streams stay exact.
    The walk over the headers and segments merged in time is made in C when built
    (``_segments.header_marks``, one pass; ``use_c`` False: :func:`_header_marks_py`, numpy,
    the reference: ``tests/tcp/test_header_marks.py`` compares them)."""
    h = np.flatnonzero((plen == 0) & ((g.s_flags & (SYN | RST | FIN)) == 0) & g.s_known)
    h = np.concatenate((h, seg["pos"][seg["fin"] & (seg["plen"] == 0) & (seg["ts"] >= 0)]))
    if not len(h) or not len(seg["d"]):
        return _no_marks()
    head_d = 2 * g.conn[h] + (~facts["up"][h]).astype(np.int64)
    head_ts = g.s_ts[h]
    if _c_header_marks is None or not use_c:
        return _header_marks_py(g, seg, h, head_d, head_ts)
    by_time = stable_order(head_d, head_ts)          # equal times stay in their order in h
    h, head_d = h[by_time], head_d[by_time]
    got, offs = _c_header_marks(
        seg["d"], g.s_ts[seg["pos"]], seg["seq"], seg["off"], seg["plen"].astype(np.int64),
        seg["fin"].astype(np.int64), head_d, head_ts[by_time], g.s_seq[h],
        ((g.s_flags[h] & FIN) != 0).astype(np.int64))
    got = np.frombuffer(got, np.int64)
    if not len(got):
        return _no_marks()
    rows = h[got]
    return {"d": head_d[got], "off": np.frombuffer(offs, np.int64).copy(), "t": g.s_time[rows],
            "frame": g.table.frame[g.order[rows]]}


def _no_marks() -> dict:
    """:func:`_header_marks`' result where no header reveals a hole."""
    return {k: np.zeros(0, dtype=np.int64) for k in ("d", "off", "t", "frame")}


def _header_marks_py(g: PacketGroups, seg: dict, h: np.ndarray, head_d: np.ndarray,
                     head_ts: np.ndarray) -> dict:
    """:func:`_header_marks` in numpy (``h``: the headers' sorted positions, ``head_d`` their
    directions, ``head_ts`` their times): the headers and the segments merged in time."""
    n = len(seg["d"])
    d = np.concatenate((seg["d"], head_d))
    ts = np.concatenate((g.s_ts[seg["pos"]], head_ts))
    is_head = np.arange(len(d)) >= n
    order = stable_order(d, ts, is_head.astype(np.int64))   # data before a header at one time
    d, is_head = d[order], is_head[order]
    idx = np.arange(len(d))
    prev = np.maximum.accumulate(np.where(is_head, -1, idx))
    nxt = np.minimum.accumulate(np.where(is_head, len(d), idx)[::-1])[::-1]
    ref = np.where((prev >= 0) & (d[np.maximum(prev, 0)] == d), prev, nxt)
    ok = is_head & (ref < len(d))
    ok[ok] &= d[ref[ok]] == d[ok]
    ref_seg = order[np.minimum(ref, len(d) - 1)]        # (a data row: index into seg)
    head_row = h[np.maximum(order - n, 0)]
    rel = ((g.s_seq[head_row].astype(np.int64)
            - seg["seq"][np.minimum(ref_seg, n - 1)].astype(np.int64) + HALF) & MASK32) - HALF
    off = seg["off"][np.minimum(ref_seg, n - 1)] + rel
    # the end of the sequence space used before each header, per direction (a FIN takes one
    # number: the ACKs after it carry its sequence number + 1); a payload-free FIN counts as
    # a header, so that it does not hide itself
    at = np.minimum(order, n - 1)
    head_fin = (g.s_flags[head_row] & FIN) != 0
    used = np.where(is_head, np.where(head_fin, off + 1, -1),
                    np.where(seg["plen"][at] == 0, -1,
                             (seg["off"] + seg["plen"])[at] + seg["fin"][at]))
    before = _running_max_by(d, used)
    reveal = ok & (off > np.maximum(before, 0))
    if not reveal.any():
        return _no_marks()
    rows = head_row[reveal]
    return {"d": d[reveal], "off": off[reveal], "t": g.s_time[rows],
            "frame": g.table.frame[g.order[rows]]}


def _running_max_by(d: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per row (rows grouped by ``d``), the maximum of ``values`` of the rows before it in its
    group (-1: none)."""
    out = np.full(len(d), -1, dtype=np.int64)
    if len(d) < 2:
        return out
    heads = np.flatnonzero(np.concatenate(([True], d[1:] != d[:-1])))
    span = int(max(values.max(), 0)) + 2
    if (int(d.max()) + 1) * span < MAX_SPACED:
        spaced = np.maximum.accumulate(d * span + values + 1)   # + 1: -1 stays in its group
        out[1:] = spaced[:-1] - d[1:] * span - 1
        out[heads] = -1
        return np.maximum(out, -1)
    for a, b in zip(heads.tolist(), np.append(heads[1:], len(d)).tolist()):
        out[a + 1:b] = np.maximum.accumulate(values[a:b - 1])
    return out


def _pieces(out: Directions, seg: dict, marks: dict) -> None:
    """Split directions into fast (pieces in order, no overlap) and replayed ones (also those
    with a hole revealed by a header-only segment: ``marks``, :func:`_header_marks`)."""
    off, clen, plen, d = seg["off"], seg["clen"], seg["plen"], seg["d"]
    valid = (plen > 0) & (off >= 0)                  # segments that reach DirectionStream.add
    piece = valid & (clen > 0)
    slow_dirs = _overlapping_directions(off[piece], (off + clen)[piece], d[piece], out.n_dirs)
    slow_dirs = _distinct(np.concatenate((slow_dirs, marks["d"])))        # np.union1d
    for i in range(len(marks["d"])):
        out.marks.setdefault(int(marks["d"][i]), []).append(
            (int(marks["off"][i]), int(marks["t"][i]), int(marks["frame"][i])))
    slow = np.isin(d, slow_dirs) & valid
    _replays(out, seg, np.flatnonzero(slow))
    fast = valid & ~slow
    cut = fast & (clen < plen)
    for i in np.flatnonzero(cut).tolist():
        out.uncaptured.setdefault(int(d[i]), []).append((int(off[i] + clen[i]),
                                                          int(off[i] + plen[i])))
    take = fast & (clen > 0)
    bounds = np.searchsorted(d[take], np.arange(out.n_dirs + 1))
    out.piece_bounds = bounds.tolist()
    starts, ends = off[take], off[take] + clen[take]
    out.cols = {"starts": _int64s(starts), "ends": _int64s(ends),
                "times": _int64s(seg["ts"][take]), "frames": _int64s(seg["frame"][take]),
                "srcs": _int64s(seg["src"][take])}
    _summaries(out, bounds, starts, ends)


def _replays(out: Directions, seg: dict, idx: np.ndarray) -> None:
    """``out.replay``: the segments at ``idx`` (grouped by direction, time order within) as one
    :class:`~inferwire.tcp.segments.Segments` per direction."""
    if not len(idx):
        return
    cols = [seg[k][idx].astype(np.int64, copy=False)
            for k in ("off", "plen", "clen", "ts", "frame", "src")]
    d = seg["d"][idx]
    heads = np.flatnonzero(np.concatenate(([True], d[1:] != d[:-1])))
    for a, b in zip(heads.tolist(), np.append(heads[1:], len(d)).tolist()):
        out.replay[int(d[a])] = Segments(*(c[a:b] for c in cols))


def _summaries(out: Directions, bounds: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> None:
    """Distinct bytes and gap-free prefix end of every fast direction (its pieces are in order
    and never overlap), as :meth:`DirectionStream._summary` would count them one by one."""
    n = len(starts)
    heads = bounds[:-1][bounds[:-1] < bounds[1:]]      # first piece of each direction with any
    if n == 0:
        return
    prev_end = np.empty(n, dtype=np.int64)
    prev_end[0] = 0
    prev_end[1:] = ends[:-1]
    prev_end[heads] = 0                                 # a direction starts at offset 0
    gap_at = np.where(starts > prev_end, np.arange(n), n)
    first_gap = np.minimum.reduceat(gap_at, heads)      # n: no gap in that direction
    last = np.append(heads[1:], n) - 1
    contiguous = np.where(first_gap == n, ends[last],
                          np.where(first_gap == heads, 0, ends[np.maximum(first_gap - 1, 0)]))
    nbytes = np.add.reduceat(ends - starts, heads)
    dirs = np.searchsorted(bounds, heads, side="right") - 1
    for name, values in (("nbytes", nbytes), ("contiguous", contiguous)):
        column = np.zeros(out.n_dirs, dtype=np.int64)
        column[dirs] = values
        setattr(out, name, column.tolist())


def _int64s(values: np.ndarray):
    """A numpy column as the array("q") DirectionStream keeps (one memory copy)."""
    out = int64s()
    out.frombytes(np.ascontiguousarray(values, dtype=np.int64).tobytes())
    return out


def _overlapping_directions(start, end, d, n_dirs: int) -> np.ndarray:
    """Directions where some piece starts before the end of an earlier piece (time order)."""
    if len(start) == 0:
        return np.zeros(0, dtype=np.int64)
    span = int(end.max()) + 1
    if n_dirs * span >= MAX_SPACED:
        return _distinct(d)
    spaced_end = d * span + end
    prev_max = np.empty(len(start), dtype=np.int64)
    prev_max[0] = -1
    prev_max[1:] = np.maximum.accumulate(spaced_end)[:-1]
    return _distinct(d[(d * span + start) < prev_max])


def _distinct(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)`` of integers (sorted, each once), without ``np.unique``: its first
    call imports ``numpy.ma`` (12 ms, in each worker process of an ``inferwire analyze``)."""
    values = np.sort(values)
    return values[np.concatenate(([True], values[1:] != values[:-1]))] if len(values) else values
