"""TCP's own numbers per connection, vectorised over every packet: what the handshake offered
(MSS, window scale, SACK), duplicate ACKs, bytes in flight, zero windows and ACK round trips.

Names follow Wireshark's ``tcp.analysis`` where one fits.  Directions are numbered as in
:mod:`inferwire.tcp.grouping` (2k: connection k's client -> server, 2k+1: back); "file order"
within a connection is the capture's order of its packets.

* duplicate ACK (``tcp.analysis.duplicate_ack``): a packet without payload, SYN, FIN or RST
  whose ACK number and window are those of the previous packet of the same direction;
* bytes in flight (``tcp.analysis.bytes_in_flight``): after a data segment, the highest byte
  its sender has sent minus the highest ACK its receiver had sent before it (file order);
* zero window (``tcp.analysis.zero_window``): a window of 0 advertised in a packet without SYN
  or RST; the sender of the other direction is stalled from it to the same side's next packet
  with a window above 0 (:func:`zero_window_stalls`);
* ACK round trip (``tcp.analysis.ack_rtt``): from a data segment sent once (Karn's rule) to the
  first ACK covering its last byte, when that ACK carries no payload (a reply's ACK would add
  the peer's own time), as captured: the round trip between the capture point and the
  segment's receiver.  Only directions without retransmissions or reordering give samples.
"""
from __future__ import annotations

import numpy as np

from .options import syn_options
from .sorting import stable_argsort

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
MASK32, HALF = 0xFFFFFFFF, 1 << 31
MAX_SPACED = 1 << 62
NO_ROW = np.iinfo(np.int64).max


def _signed(values: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``values - ref`` as signed 32-bit sequence distances."""
    return ((values - ref + HALF) & MASK32) - HALF


def handshake_options(g, facts: dict) -> dict:
    """Per connection: ``mss_client``/``mss_server`` and ``wscale_client``/``wscale_server``
    (-1: not offered or no SYN seen) and ``sack_permitted`` (both SYNs offered it; None
    unknown) from the first SYN and SYN-ACK."""
    n = len(g.starts)
    out = {}
    seen = {"client": facts["syn_pos"] != NO_ROW, "server": facts["synack_pos"] != NO_ROW}
    both = np.concatenate((facts["syn_pos"][seen["client"]], facts["synack_pos"][seen["server"]]))
    opts = syn_options(g.table, g.order[both])          # one pass for SYNs and SYN-ACKs
    cut = int(seen["client"].sum())
    for side, part in (("client", slice(0, cut)), ("server", slice(cut, None))):
        for name in ("mss", "wscale"):
            col = np.full(n, -1, dtype=np.int64)
            col[seen[side]] = opts[name][part]
            out[f"{name}_{side}"] = col
        ok = np.zeros(n, dtype=bool)
        ok[seen[side]] = opts["sack_ok"][part]
        out[f"sack_{side}"], out[f"seen_{side}"] = ok, seen[side]
    out["sack_permitted"] = out["sack_client"] & out["sack_server"]
    out["sack_known"] = out["seen_client"] & out["seen_server"]
    return out


def per_direction_order(g, up: np.ndarray) -> np.ndarray:
    """Sorted positions grouped by direction (2k client -> server, 2k+1 back), file order
    within each."""
    key = 2 * g.conn + (~up).astype(np.int64)
    return stable_argsort(key)


def dup_acks(g, up: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Duplicate ACKs per connection (both directions); ``order``: :func:`per_direction_order`."""
    t = g.table
    rows = g.order[order]
    key = 2 * g.conn[order] + (~up[order]).astype(np.int64)
    fl = g.s_flags[order]
    ack, win = t.ack[rows], t.window[rows]
    dup = np.zeros(len(order), dtype=bool)
    dup[1:] = ((key[1:] == key[:-1]) & (ack[1:] == ack[:-1]) & (win[1:] == win[:-1])
               & (t.payload_len[rows][1:] == 0) & ((fl[1:] & (SYN | FIN | RST)) == 0)
               & ((fl[1:] & ACK) != 0))
    return np.bincount(g.conn[order][dup], minlength=len(g.starts))


def refs(g, facts: dict, order: np.ndarray) -> np.ndarray:
    """Per direction, the raw sequence number of its stream offset 0: ISN + 1, else the first
    sequence number the direction used in file order (``order``: :func:`per_direction_order`)."""
    n = len(g.starts)
    ref = np.zeros(2 * n, dtype=np.int64)
    if len(order):
        key = 2 * g.conn[order] + (~facts["up"][order]).astype(np.int64)
        head = np.ones(len(key), dtype=bool)
        head[1:] = key[1:] != key[:-1]
        ref[key[head]] = g.s_seq[order[head]]
    ref[0::2] = np.where(facts["has_client_isn"], (facts["client_isn"] + 1) & MASK32, ref[0::2])
    ref[1::2] = np.where(facts["has_server_isn"], (facts["server_isn"] + 1) & MASK32, ref[1::2])
    return ref


class Acks:
    """Every ACK of the packets, grouped by the direction it acknowledges (file order within):
    ``d`` that direction, ``pos`` the packet's sorted position, ``off`` the ACK as a stream
    offset of ``d``, ``key`` = ``d * rows + pos`` (sorted) and ``reach`` = ``d * span + the
    highest ACK so far`` (sorted), for vectorised look-ups; ``ok`` False when offsets are too
    large to space (then no look-up is made)."""

    def __init__(self, g, facts: dict, ref: np.ndarray, max_off: int):
        t = g.table
        pos = np.flatnonzero((g.s_flags & ACK) != 0)     # SYN-ACKs too: they ACK offset 0
        d = 2 * g.conn[pos] + facts["up"][pos].astype(np.int64)    # a client's ACK: 2k+1
        o = stable_argsort(d)
        self.pos, self.d = pos[o], d[o]
        self.off = _signed(t.ack[g.order[self.pos]], ref[self.d])
        self.rows = max(len(g.s_flags), 1)
        self.key = self.d * self.rows + self.pos
        span = int(max(np.abs(self.off).max() if len(self.off) else 0, max_off)) + 2
        self.span = 2 * span
        self.ok = len(ref) * self.span < MAX_SPACED and len(self.pos) > 0
        self.reach = (np.maximum.accumulate(self.d * self.span + np.maximum(self.off, 0))
                      if self.ok else None)


def in_flight(seg: dict, acks: Acks, n_dirs: int) -> np.ndarray:
    """Per direction, the most bytes in flight (see the module), -1 where never measured."""
    out = np.full(n_dirs, -1, dtype=np.int64)
    data = np.flatnonzero(seg["plen"] > 0)
    if not acks.ok or not len(data):
        return out
    d, pos = seg["d"][data], seg["pos"][data]
    end = np.maximum(seg["off"][data] + seg["plen"][data], 0)
    sent = np.maximum.accumulate(d * acks.span + end) - d * acks.span
    j = np.searchsorted(acks.key, d * acks.rows + pos, side="left") - 1
    jj = np.maximum(j, 0)
    ok = (j >= 0) & (acks.d[jj] == d)
    flight = np.where(ok, sent - (acks.reach[jj] - d * acks.span), -1)
    heads = np.flatnonzero(np.concatenate(([True], d[1:] != d[:-1])))   # d is sorted
    out[d[heads]] = np.maximum.reduceat(flight, heads)
    return out


def zero_windows(g, up: np.ndarray) -> np.ndarray:
    """Sorted positions of zero-window advertisements (window 0, no SYN or RST)."""
    return np.flatnonzero((g.table.window[g.order] == 0) & ((g.s_flags & (SYN | RST)) == 0))


def zero_window_stalls(g, up: np.ndarray, k: int) -> tuple[list, list]:
    """Connection ``k``'s zero-window stalls as ``(from, to)`` ns intervals: of the client's
    sending (the server advertised 0) and of the server's.  A stall still open at the end of
    the capture ends at the connection's last packet."""
    pos = np.arange(g.starts[k], g.ends[k])
    pos = pos[g.s_known[pos]]
    pos = pos[np.argsort(g.s_ts[pos], kind="stable")]
    win = g.table.window[g.order[pos]]
    zero = (win == 0) & ((g.s_flags[pos] & (SYN | RST)) == 0)
    times = g.s_time[pos].tolist()
    stalls = ([], [])            # client's sending, server's sending
    for side in (False, True):   # the advertiser: server (False), client (True)
        start = None
        for i in np.flatnonzero(up[pos] == side).tolist():
            if zero[i] and start is None:
                start = times[i]
            elif not zero[i] and start is not None:
                stalls[int(side)].append((start, times[i]))
                start = None
        if start is not None and times:
            stalls[int(side)].append((start, max(times)))
    return stalls


def ack_rtt_samples(seg: dict, g, acks: Acks, fast: np.ndarray):
    """ACK round trip samples (see the module) of the data segments ``seg`` (grouping's
    columns) whose direction is in ``fast`` (bool per direction): ``(d, t, rtt)`` arrays,
    sorted by direction then time."""
    empty = (np.zeros(0, np.int64),) * 3
    d = seg["d"]
    use = fast[d] & (seg["plen"] > 0) & (seg["ts"] >= 0) & (seg["off"] >= 0)
    if not use.any() or not acks.ok:
        return empty
    sd, st = d[use], seg["ts"][use]
    end = seg["off"][use] + seg["plen"][use]
    j = np.searchsorted(acks.reach, sd * acks.span + end, side="left")
    jj = np.minimum(j, len(acks.reach) - 1)
    ok = (j < len(acks.reach)) & (acks.d[jj] == sd)
    a_row = g.order[acks.pos[jj]]
    a_time = g.s_time[acks.pos[jj]]
    ok &= (g.table.payload_len[a_row] == 0) & (a_time >= st)
    return sd[ok], st[ok], (a_time - st)[ok]


def control_retransmissions(g, up: np.ndarray) -> np.ndarray:
    """Per connection, repeated SYNs, SYN-ACKs and payload-free FINs (each one after the first
    of its direction, and the first too when a segment past it came before it): retransmissions
    too (tcp.analysis.retransmission), which the stream reassembly, counting payload, does not
    see."""
    n = len(g.starts)
    plen = g.table.payload_len[g.order]
    fin = ((g.s_flags & FIN) != 0) & ((g.s_flags & (SYN | RST)) == 0) & (plen == 0)
    d = 2 * g.conn + (~up).astype(np.int64)
    out = np.zeros(n, dtype=np.int64)
    for mask, key, size in ((g.s_pure_syn, g.conn, n), (g.s_synack, g.conn, n),
                            (fin, d, 2 * n)):
        extra = np.maximum(np.bincount(key[mask], minlength=size) - 1, 0)
        out += extra if size == n else extra[0::2] + extra[1::2]
    late = _first_fins_after_their_ack(g, fin, d, plen)
    out += np.bincount(late // 2, minlength=n)[:n]
    return out


def _first_fins_after_their_ack(g, fin: np.ndarray, d: np.ndarray, plen) -> np.ndarray:
    """Directions (``d``) whose first FIN in time order came after a pure ACK of theirs at the
    FIN's sequence number + 1 (sent after the FIN): its first copy was not captured, so the one
    captured repeats it (as tshark flags it: seen on a lossy veth, the server's side).  The
    ACKs are looked up in the FINs' few keys (no sort of the whole table)."""
    at = np.flatnonzero(fin)
    if not len(at):
        return np.zeros(0, dtype=np.int64)
    at = at[np.lexsort((g.s_ts[at], d[at]))]
    at = at[np.r_[True, d[at][1:] != d[at][:-1]]]          # each direction's first FIN
    wanted = d[at] * (1 << 32) + ((g.s_seq[at].astype(np.int64) + 1) & 0xFFFFFFFF)
    by = np.argsort(wanted)
    at, wanted = at[by], wanted[by]
    has_fin = np.zeros(int(d.max()) + 1, dtype=bool)
    has_fin[d[at]] = True
    ack = np.flatnonzero(has_fin[d] & (plen == 0) & ((g.s_flags & (SYN | FIN | RST)) == 0))
    key = d[ack] * (1 << 32) + g.s_seq[ack].astype(np.int64)
    j = np.minimum(np.searchsorted(wanted, key), len(wanted) - 1)
    hit = wanted[j] == key
    earliest = np.full(len(at), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(earliest, j[hit], g.s_ts[ack[hit]].astype(np.int64))
    return d[at][earliest < g.s_ts[at]]
