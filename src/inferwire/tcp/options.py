"""TCP options (MSS, window scale, SACK permitted, SACK blocks) read from the capture's bytes.

The packet table keeps no options: a row's TCP header ends where its payload begins
(``payload_off``), and its start is found by trying every header length (20 to 60 bytes) for the
one whose data-offset field says that length and whose ports are the row's.  SYNs are read
vectorised for all connections (:func:`syn_options`); SACK blocks only for the few ACKs of
directions with retransmissions (:func:`sack_blocks`), one row at a time.
"""
from __future__ import annotations

import numpy as np

MSS, WSCALE, SACK_OK, SACK = 2, 3, 4, 5
EOL, NOP = 0, 1
MAX_OPTIONS = 40          # bytes of options a header can hold (60 - 20)
#: Header lengths in 32-bit words, the usual first (Linux: SYNs 10, timestamped segments 8):
#: each try costs a gather over the rows still unplaced.
WORDS_ORDER = (10, 8, 5, 11, 13, 15, 6, 7, 9, 12, 14)


def _u8(table) -> np.ndarray:
    return np.frombuffer(table.buffer, dtype=np.uint8)


def header_starts(table, rows: np.ndarray) -> np.ndarray:
    """Offset in the buffer of the TCP header of each of ``rows``, or -1 where no header length
    fits (then its options are not read)."""
    u8 = _u8(table)
    end = table.payload_off[rows].astype(np.int64)
    out = np.full(len(rows), -1, dtype=np.int64)
    sport, dport = table.sport[rows], table.dport[rows]
    for words in WORDS_ORDER:
        at = end - 4 * words
        ok = (out < 0) & (at >= 0)
        idx = np.flatnonzero(ok)
        if not len(idx):
            continue
        a = at[idx]
        fits = ((u8[a + 12] >> 4) == words) & (
            ((u8[a].astype(np.int32) << 8) | u8[a + 1]) == sport[idx]) & (
            ((u8[a + 2].astype(np.int32) << 8) | u8[a + 3]) == dport[idx])
        out[idx[fits]] = a[fits]
    return out


def syn_options(table, rows: np.ndarray) -> dict:
    """MSS (-1: absent), window scale shift (-1: absent) and SACK permitted of each of ``rows``
    (SYN or SYN-ACK rows), read vectorised: the option bytes as a matrix, one step per
    option."""
    n = len(rows)
    mss, wscale, sack_ok = (np.full(n, -1, dtype=np.int64), np.full(n, -1, dtype=np.int64),
                            np.zeros(n, dtype=bool))
    if not n:
        return {"mss": mss, "wscale": wscale, "sack_ok": sack_ok}
    start = header_starts(table, rows)
    stop = np.where(start >= 0, table.payload_off[rows].astype(np.int64) - start - 20, 0)
    u8 = _u8(table)
    at = np.maximum(start, 0)[:, None] + 20 + np.arange(MAX_OPTIONS + 2)
    opts = u8[np.minimum(at, len(u8) - 1)].astype(np.int64)
    opts[np.arange(MAX_OPTIONS + 2)[None, :] >= stop[:, None]] = EOL
    r = np.arange(n)
    pos = np.zeros(n, dtype=np.int64)
    live = stop > 0
    for _ in range(MAX_OPTIONS):
        if not live.any():
            break
        kind = opts[r, pos]
        length = np.where((kind == NOP) | (kind == EOL), 1, opts[r, np.minimum(pos + 1, MAX_OPTIONS + 1)])
        ok = live & (length >= 1) & (pos + length <= stop)
        v2, v3 = opts[r, np.minimum(pos + 2, MAX_OPTIONS + 1)], opts[r, np.minimum(pos + 3, MAX_OPTIONS + 1)]
        m = ok & (kind == MSS) & (length == 4)
        mss[m] = (v2[m] << 8) | v3[m]
        w = ok & (kind == WSCALE) & (length == 3)
        wscale[w] = np.minimum(v2[w], 14)
        sack_ok |= ok & (kind == SACK_OK)
        live = ok & (kind != EOL) & ((kind == NOP) | (length >= 2))
        pos = np.where(live, pos + length, pos)
        live &= pos < stop
    return {"mss": mss, "wscale": wscale, "sack_ok": sack_ok}


def sack_blocks(table, row: int, start: int) -> list[tuple[int, int]]:
    """The SACK blocks (raw 32-bit left and right edges) of table row ``row``, whose TCP header
    begins at buffer offset ``start`` (:func:`header_starts`)."""
    buf = table.buffer
    pos, stop = start + 20, int(table.payload_off[row])
    while pos < stop:
        kind = buf[pos]
        if kind == EOL:
            break
        if kind == NOP:
            pos += 1
            continue
        if pos + 1 >= stop or buf[pos + 1] < 2 or pos + buf[pos + 1] > stop:
            break
        length = buf[pos + 1]
        if kind == SACK:
            edges = [int.from_bytes(buf[q:q + 4], "big") for q in range(pos + 2, pos + length - 3, 4)]
            return list(zip(edges[0::2], edges[1::2]))
        pos += length
    return []
