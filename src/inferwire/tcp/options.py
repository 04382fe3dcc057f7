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


def _u8(table) -> np.ndarray:
    return np.frombuffer(table.buffer, dtype=np.uint8)


def header_starts(table, rows: np.ndarray) -> np.ndarray:
    """Offset in the buffer of the TCP header of each of ``rows``, or -1 where no header length
    fits (then its options are not read)."""
    u8 = _u8(table)
    end = table.payload_off[rows].astype(np.int64)
    out = np.full(len(rows), -1, dtype=np.int64)
    sport, dport = table.sport[rows], table.dport[rows]
    for words in range(5, 16):
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
    (SYN or SYN-ACK rows), read vectorised: one step per option, at most 40."""
    u8 = _u8(table)
    n = len(rows)
    mss, wscale, sack_ok = (np.full(n, -1, dtype=np.int64), np.full(n, -1, dtype=np.int64),
                            np.zeros(n, dtype=bool))
    start = header_starts(table, rows)
    pos = np.where(start >= 0, start + 20, 0)
    stop = np.where(start >= 0, table.payload_off[rows].astype(np.int64), 0)
    live = pos < stop
    for _ in range(MAX_OPTIONS):
        idx = np.flatnonzero(live)
        if not len(idx):
            break
        p = pos[idx]
        kind = u8[p]
        has_len = (kind != NOP) & (kind != EOL) & (p + 1 < stop[idx])
        length = np.where(has_len, u8[np.minimum(p + 1, len(u8) - 1)], 1).astype(np.int64)
        bad = has_len & ((length < 2) | (p + length > stop[idx]))
        m = has_len & ~bad & (kind == MSS) & (length == 4)
        mss[idx[m]] = (u8[p[m] + 2].astype(np.int64) << 8) | u8[p[m] + 3]
        w = has_len & ~bad & (kind == WSCALE) & (length == 3)
        wscale[idx[w]] = np.minimum(u8[p[w] + 2], 14)
        sack_ok[idx[has_len & ~bad & (kind == SACK_OK)]] = True
        pos[idx] = p + length
        live[idx] = (kind != EOL) & ~bad & (pos[idx] < stop[idx])
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
