"""TCP options (MSS, window scale, SACK permitted, timestamps, SACK blocks) read from the
capture's bytes.

The reader reads each header's length, its SYN options (packed) and its timestamps with the
headers (``packets/_headers.c``; :func:`packed_syn_options` and :func:`header_timestamps` are
that decode's numpy reference).  For a table without those columns, a row's TCP header is found
by trying every header length (20 to 60 bytes) for the one whose data-offset field says that
length and whose ports are the row's (:func:`header_starts`).  SACK blocks are read only for the
few ACKs of directions with retransmissions (:func:`sack_blocks`), one row at a time.
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
    fits (then its options are not read): one gather per header length tried.  For tables
    without the ``tcp_hlen`` column (the reader fills it: the header begins at
    ``payload_off - tcp_hlen``)."""
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
    (SYN or SYN-ACK rows): from the table's ``syn_options`` column when it has one (read with
    the headers, :func:`packed_syn_options`), else from the capture's bytes."""
    packed = getattr(table, "syn_options", None)
    if packed is not None:
        return unpack_syn_options(packed[rows])
    start = header_starts(table, rows)
    stop = np.where(start >= 0, table.payload_off[rows].astype(np.int64) - start - 20, 0)
    return parse_options(_u8(table), np.maximum(start, 0) + 20, stop)


def packed_syn_options(u8: np.ndarray, tcp_off: np.ndarray, doff: np.ndarray,
                       flags: np.ndarray) -> np.ndarray:
    """Per TCP header (at ``tcp_off``, ``doff`` bytes long): its SYN options packed in one
    int32 (see :func:`unpack_syn_options`), -1 where it is not a SYN."""
    out = np.full(len(tcp_off), -1, dtype=np.int32)
    syn = np.flatnonzero((flags & 0x02) != 0)
    if len(syn):
        o = parse_options(u8, tcp_off[syn] + 20, doff[syn] - 20)
        out[syn] = ((o["mss"] + 1) | ((o["wscale"] + 1) << 17)
                    | (o["sack_ok"].astype(np.int64) << 22)).astype(np.int32)
    return out


def unpack_syn_options(packed: np.ndarray) -> dict:
    """:func:`packed_syn_options`' values back as the dict :func:`parse_options` gives."""
    p = packed.astype(np.int64)
    known = p >= 0
    return {"mss": np.where(known, (p & 0x1FFFF) - 1, -1),
            "wscale": np.where(known, ((p >> 17) & 0x1F) - 1, -1),
            "sack_ok": known & (((p >> 22) & 1) == 1)}


def parse_options(u8: np.ndarray, first: np.ndarray, stop: np.ndarray) -> dict:
    """MSS, window scale and SACK permitted of the options at ``first`` (offsets in ``u8``),
    ``stop`` bytes long each (0: none), vectorised: the option bytes as a matrix, one step per
    option."""
    n = len(first)
    mss, wscale, sack_ok = (np.full(n, -1, dtype=np.int64), np.full(n, -1, dtype=np.int64),
                            np.zeros(n, dtype=bool))
    width = MAX_OPTIONS + 2
    if not n or len(u8) < width:
        return {"mss": mss, "wscale": wscale, "sack_ok": sack_ok}
    # each row's option bytes: whole rows of a sliding view (a copy per row, not per byte)
    windows = np.lib.stride_tricks.sliding_window_view(u8, width)
    stop = np.where(first < len(windows), np.clip(stop, 0, MAX_OPTIONS), 0)
    opts = windows[np.clip(first, 0, len(windows) - 1)].astype(np.int16)
    opts[np.arange(width)[None, :] >= stop[:, None]] = EOL
    r = np.arange(n)
    pos = np.zeros(n, dtype=np.int64)
    live = stop > 0
    for _ in range(MAX_OPTIONS):
        if not live.any():
            break
        kind = opts[r, pos]
        length = np.where((kind == NOP) | (kind == EOL), 1, opts[r, np.minimum(pos + 1, width - 1)])
        ok = live & (length >= 1) & (pos + length <= stop)
        v2 = opts[r, np.minimum(pos + 2, width - 1)].astype(np.int64)
        v3 = opts[r, np.minimum(pos + 3, width - 1)]
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


TIMESTAMP = 8
#: Linux's (and most stacks') layout: NOP, NOP, kind 8, length 10, TSval, TSecr
_TS_HEAD = (NOP, NOP, TIMESTAMP, 10)


def timestamps(table, rows: np.ndarray, heads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TSval and TSecr (RFC 7323; raw 32-bit values, -1 where absent) of table ``rows``, whose
    TCP headers begin at buffer offsets ``heads`` (:func:`header_starts`; -1: unknown): for
    tables without the ``tsval``/``tsecr`` columns (:func:`header_timestamps`)."""
    return header_timestamps(_u8(table), heads, table.payload_off[rows])


def header_timestamps(u8: np.ndarray, heads: np.ndarray,
                      payload_off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TSval and TSecr (raw 32-bit values, -1 where absent) of the TCP headers that begin at
    offsets ``heads`` of ``u8`` (-1: unknown) and end at ``payload_off``, vectorised: the usual
    layout (NOP NOP TS first) for all, any other one row at a time.  The reader's C decode gives
    the same (``packets/_headers.c``)."""
    n = len(heads)
    tsval, tsecr = np.full(n, -1, dtype=np.int64), np.full(n, -1, dtype=np.int64)
    if not n:
        return tsval, tsecr
    size = np.where(heads >= 0, np.asarray(payload_off, dtype=np.int64) - heads - 20, 0)
    at = np.clip(heads + 20, 0, max(len(u8) - 12, 0))
    usual = size >= 12
    for k, byte in enumerate(_TS_HEAD):
        usual &= u8[np.minimum(at + k, len(u8) - 1)] == byte
    idx = np.flatnonzero(usual)
    for field, out in ((4, tsval), (8, tsecr)):
        v = np.zeros(len(idx), dtype=np.int64)
        for k in range(4):
            v = (v << 8) | u8[at[idx] + field + k]
        out[idx] = v
    _other_layouts(u8, np.flatnonzero(~usual & (size >= 10)), heads, size, tsval, tsecr)
    return tsval, tsecr


def _other_layouts(u8: np.ndarray, idx: np.ndarray, heads, size, tsval, tsecr) -> None:
    """:func:`timestamps` of the rows ``idx`` (options in another layout), one at a time."""
    for i in idx.tolist():
        found = _timestamp_option(u8, int(heads[i]) + 20, int(heads[i]) + 20 + int(size[i]))
        if found is not None:
            tsval[i], tsecr[i] = found


def _timestamp_option(buf, pos: int, stop: int):
    """(TSval, TSecr) of the options in ``buf[pos:stop]`` (bytes-like, or a uint8 array), or
    None."""
    while pos < stop:
        kind = int(buf[pos])
        if kind == EOL:
            return None
        if kind == NOP:
            pos += 1
            continue
        length = int(buf[pos + 1]) if pos + 1 < stop else 0
        if pos + 1 >= stop or length < 2 or pos + length > stop:
            return None
        if kind == TIMESTAMP and length == 10:
            return (int.from_bytes(bytes(buf[pos + 2:pos + 6]), "big"),
                    int.from_bytes(bytes(buf[pos + 6:pos + 10]), "big"))
        pos += length
    return None
