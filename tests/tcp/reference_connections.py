"""The per-packet TCP bookkeeping that the vectorised :mod:`inferwire.tcp.grouping` replaced,
kept as the reference it is tested against (``test_grouping.py``): simple enough to check by
reading, one Python step per packet.  Same rules, see :mod:`inferwire.tcp.grouping`.

A packet without a time (ts -1) sorts, for "first"/"time order" only, with the time of the
packet before it in its 4-tuple (file order), else of the 4-tuple's first timed packet, else -1;
the times reported are those of timed packets only."""
from __future__ import annotations

import numpy as np

from inferwire.tcp.connections import Connection, Endpoint, format_address
from inferwire.tcp.stream import DirectionStream, unwrap32

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10


def reference_build_connections(table) -> list[Connection]:
    """All TCP connections of ``table``, ordered by their first packet."""
    cols = _Columns(table)
    conns: list[Connection] = []
    first_key: dict[int, int] = {}
    for rows in group_rows(table):
        cols.fill_keys(rows.tolist())
        for part in _split_reuse(rows.tolist(), cols):
            conns.append(_build_one(len(conns), part, cols, table))
            first_key[id(conns[-1])] = min(cols.key[r] for r in part)
    conns.sort(key=lambda c: first_key[id(c)])
    for i, c in enumerate(conns):
        c.index = i
    return conns


def group_rows(table) -> list[np.ndarray]:
    """Row indices of each 4-tuple, in first-appearance order; rows within a group in file order."""
    n = len(table)
    if n == 0:
        return []
    src = (table.src_hi, table.src_lo, table.sport.astype(np.uint64))
    dst = (table.dst_hi, table.dst_lo, table.dport.astype(np.uint64))
    # canonical order of the two endpoints so both directions share one key
    src_first = (src[0] < dst[0]) | ((src[0] == dst[0]) & (
        (src[1] < dst[1]) | ((src[1] == dst[1]) & (src[2] <= dst[2]))))
    keys = [np.where(src_first, a, b) for a, b in zip(src, dst)]
    keys += [np.where(src_first, b, a) for a, b in zip(src, dst)]
    order = np.lexsort([np.arange(n)] + keys[::-1])
    sorted_keys = np.stack([k[order] for k in keys])
    boundary = np.ones(n, dtype=bool)
    boundary[1:] = np.any(sorted_keys[:, 1:] != sorted_keys[:, :-1], axis=0)
    starts = np.flatnonzero(boundary)
    groups = np.split(order, starts[1:])
    groups.sort(key=lambda g: g[0])
    return groups


class _Columns:
    """The packet columns as Python lists: per-packet work below is a tight pure-Python loop."""

    def __init__(self, t):
        self.ts = t.ts_ns.tolist()
        self.frame = t.frame.tolist()
        self.flags = t.flags.tolist()
        self.seq = t.seq.tolist()
        self.ack = t.ack.tolist()
        self.sport = t.sport.tolist()
        self.dport = t.dport.tolist()
        self.src_hi = t.src_hi.tolist()
        self.src_lo = t.src_lo.tolist()
        self.dst_hi = t.dst_hi.tolist()
        self.dst_lo = t.dst_lo.tolist()
        self.plen = t.payload_len.tolist()
        self.clen = t.captured_len.tolist()
        self.poff = t.payload_off.tolist()
        self.key = list(self.ts)          # time order key, see fill_keys

    def fill_keys(self, rows: list[int]) -> None:
        """The order keys of one 4-tuple's rows (file order): an untimed row takes the time of
        the timed row before it, else of the first timed row, else -1."""
        timed = [self.ts[r] for r in rows if self.ts[r] >= 0]
        last = timed[0] if timed else -1
        for r in rows:
            if self.ts[r] >= 0:
                last = self.ts[r]
            self.key[r] = last

    def known(self, rows) -> list[int]:
        """The times of the timed ones of ``rows``."""
        return [self.ts[r] for r in rows if self.ts[r] >= 0]

    def first_in_time(self, rows: list[int]) -> int:
        """The row of ``rows`` (file order) with the smallest key, the earliest of equals."""
        return min(rows, key=lambda r: self.key[r])


def _split_reuse(rows: list[int], c: _Columns) -> list[list[int]]:
    """Split one 4-tuple's rows where a new connection reuses it (a SYN with a new ISN)."""
    parts, current, isn = [], [], None
    for r in rows:
        f = c.flags[r]
        if f & SYN and not f & ACK:
            if isn is not None and c.seq[r] != isn and current:
                parts.append(current)
                current = []
            isn = c.seq[r]
        current.append(r)
    if current:
        parts.append(current)
    return parts


def _side(c: _Columns, r: int) -> tuple:
    return (c.src_hi[r], c.src_lo[r], c.sport[r])


def _build_one(index: int, rows: list[int], c: _Columns, table) -> Connection:
    first = rows[0]
    client_key = _side(c, first)
    syn_rows = [r for r in rows if c.flags[r] & SYN and not c.flags[r] & ACK]
    synack_rows = [r for r in rows if c.flags[r] & SYN and c.flags[r] & ACK]
    roles_inferred = False
    if syn_rows:
        client_key = _side(c, syn_rows[0])
    elif synack_rows:
        client_key = _dst_side(c, synack_rows[0])
    else:
        roles_inferred = True
        # no handshake seen: the lower port is the likelier server; the bytes may override later
        if c.sport[first] < c.dport[first]:
            client_key = _dst_side(c, first)
    up = [r for r in rows if _side(c, r) == client_key]
    down = [r for r in rows if _side(c, r) != client_key]
    r_up = up[0] if up else down[0]
    client = _endpoint(table, c, r_up, source=bool(up))
    server = _endpoint(table, c, r_up, source=not up)
    conn = Connection(index, client, server, DirectionStream(table.buffer),
                      DirectionStream(table.buffer), roles_inferred=roles_inferred)
    times = c.known(rows)
    conn.first_ns, conn.last_ns = (min(times), max(times)) if times else (None, None)
    conn.packets = len(rows)
    client_isn = c.seq[syn_rows[0]] if syn_rows else None
    server_isn = c.seq[synack_rows[0]] if synack_rows else None
    conn.syn_seen = client_isn is not None
    if syn_rows:
        conn.syn_ns = min(c.known(syn_rows), default=None)
        conn.syn_untimed = c.ts[c.first_in_time(syn_rows)] < 0
    if synack_rows:
        conn.synack_ns = min(c.known(synack_rows), default=None)
    _reassemble(conn.to_server, up, client_isn, c)
    _reassemble(conn.to_client, down, server_isn, c)
    _handshake_and_end(conn, up, down, server_isn, c)
    return conn


def _dst_side(c: _Columns, r: int) -> tuple:
    return (c.dst_hi[r], c.dst_lo[r], c.dport[r])


def _endpoint(table, c: _Columns, r: int, source: bool) -> Endpoint:
    if source:
        return Endpoint(format_address(table.src_hi[r], table.src_lo[r]), c.sport[r])
    return Endpoint(format_address(table.dst_hi[r], table.dst_lo[r]), c.dport[r])


def _reassemble(stream: DirectionStream, rows: list[int], isn: int | None, c: _Columns) -> None:
    """Feed one direction's segments to ``stream`` in capture-time order."""
    data = [r for r in rows if c.plen[r] > 0 or c.flags[r] & FIN]
    if not data:
        return
    data.sort(key=lambda r: c.key[r])  # loopback captures are not in strict time order
    if isn is not None:
        ref = (isn + 1) & 0xFFFFFFFF
        offsets = unwrap32([c.seq[r] for r in data], ref)
    else:
        offsets = unwrap32([c.seq[r] for r in data], c.seq[data[0]])
        low = min(o for o, r in zip(offsets, data) if c.plen[r] > 0) if any(
            c.plen[r] > 0 for r in data) else 0
        offsets = [o - low for o in offsets]
    for off, r in zip(offsets, data):
        if c.plen[r] > 0:
            if off < 0:  # bytes before the ISN+1 (SYN data / bogus): not part of the stream
                continue
            stream.add(off, c.plen[r], c.clen[r], c.ts[r], c.frame[r], c.poff[r])
        if c.flags[r] & FIN and stream.fin_offset is None:
            stream.fin_offset = off + c.plen[r]


def _handshake_and_end(conn: Connection, up, down, server_isn, c: _Columns) -> None:
    rows = sorted(up + down)
    synacks = [r for r in rows if c.flags[r] & SYN and c.flags[r] & ACK]
    if synacks and server_isn is not None:
        after = min(c.key[r] for r in synacks)
        want = (server_isn + 1) & 0xFFFFFFFF
        acks = [r for r in sorted(up) if c.flags[r] & ACK and not c.flags[r] & SYN
                and c.ack[r] == want and c.key[r] >= after]
        if acks and c.ts[c.first_in_time(acks)] >= 0:
            conn.handshake_ack_ns = c.ts[c.first_in_time(acks)]
    rst = [r for r in rows if c.flags[r] & RST]
    fin = [r for r in rows if c.flags[r] & FIN]
    if rst:
        conn.end, conn.rst_ns = "rst", min(c.known(rst), default=None)
    elif fin:
        conn.end, conn.fin_ns = "fin", min(c.known(fin), default=None)
