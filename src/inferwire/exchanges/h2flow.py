"""HTTP/2 flow-control stalls (RFC 9113 section 5.2) of one connection, from both directions'
parser records, as capture-time intervals.

A sender may send DATA only while both the connection's window and the stream's window,
granted by the receiver, are above zero.  Both start at 65,535 bytes; the receiver's SETTINGS
INITIAL_WINDOW_SIZE sets (and changes, by the difference) every stream's; its WINDOW_UPDATE
frames enlarge one (stream 0: the connection's).  Every DATA frame's payload (padding
included) uses both up.  Walking the sender's DATA and the receiver's SETTINGS and
WINDOW_UPDATE frames in capture-time order, a stall is:

* the connection's window brought to zero or below by a DATA frame, and more DATA sent on any
  stream after it: from that frame to the WINDOW_UPDATE that reopened the window;
* a stream's window brought to zero or below by a DATA frame that did not end the stream: from
  that frame to the WINDOW_UPDATE (or SETTINGS) that reopened it.

Times are capture times (ns) of the packet carrying the frame's last byte (first copy).
"""
from __future__ import annotations

import numpy as np

from ..protocols.http2.datarows import (SETTINGS_KIND, WINDOW_UPDATE_KIND, data_rows,
                                        window_rows)

INITIAL_WINDOW = 65_535
FRAME_HEADER_LEN = 9


def _time_array(timeline, ends: list) -> tuple[np.ndarray, np.ndarray]:
    """Capture time (ns) of the packet carrying byte ``end - 1`` of each of ``ends``, as arrays:
    the times (int64 ns, -1 where unknown) and whether each is known (bool); one vectorised
    look-up for a TCP stream."""
    stream = getattr(timeline, "stream", None)
    if stream is None or not hasattr(stream, "starts") or not len(stream.starts):
        found = [timeline.last(e) for e in (ends.tolist() if isinstance(ends, np.ndarray)
                                            else ends)]
        return (np.array([-1 if t is None else t for t in found], dtype=np.int64),
                np.array([t is not None for t in found], dtype=bool))
    offsets = np.asarray(ends, dtype=np.int64) - 1
    starts = np.asarray(stream.starts, dtype=np.int64)
    i = np.searchsorted(starts, offsets, side="right") - 1
    ok = (i >= 0) & (offsets < np.asarray(stream.ends, dtype=np.int64)[np.maximum(i, 0)])
    times = np.asarray(stream.times, dtype=np.int64)[np.maximum(i, 0)]
    known = ok & (times >= 0)
    return np.where(known, times, -1), known


def _possible(data, data_t: tuple, grants, grant_t: tuple) -> bool:
    """Whether any window can have run out (vectorised; a stall needs it): the connection's
    DATA beyond its initial window plus the updates granted by then, or a stream's DATA
    reaching the smallest initial stream window announced.  ``data``: the sender's
    :class:`~inferwire.protocols.http2.datarows.DataRows`; ``grants``: the receiver's
    :class:`~inferwire.protocols.http2.datarows.WindowRows`; ``data_t``, ``grant_t``: the
    frames' :func:`_time_array`."""
    if not len(data):
        return False
    t = data_t[0]
    size = data.end - data.start - FRAME_HEADER_LEN
    granted = np.zeros(len(t), dtype=np.int64)
    conn = grant_t[1] & (grants.kind == WINDOW_UPDATE_KIND) & (grants.stream_id == 0)
    if conn.any():
        wt = grant_t[0][conn]
        order = np.argsort(wt, kind="stable")
        cum = np.concatenate(([0], np.cumsum(grants.value[conn][order])))
        granted = cum[np.searchsorted(wt[order], t, side="right")]
    if (INITIAL_WINDOW + granted - np.cumsum(size) <= 0).any():
        return True
    initial = grants.value[grants.kind == SETTINGS_KIND]
    smallest = min(INITIAL_WINDOW, int(initial.min())) if len(initial) else INITIAL_WINDOW
    _, per_stream = np.unique(data.stream_id, return_inverse=True)
    return bool((np.bincount(per_stream, weights=size) >= smallest).any())


def _events(sender_records: list, receiver_records: list, sender, receiver,
            data=None, prune: bool = True) -> list:
    """``(time, order, kind, fields)`` of the sender's DATA and the receiver's SETTINGS and
    WINDOW_UPDATE frames, sorted by time (ties: the receiver's first); empty when no window
    can have run out (:func:`_possible`; ``prune=False`` walks them anyway, the same stalls).
    ``data``: the sender's records' :func:`~inferwire.protocols.http2.datarows.data_rows`
    (read here when None)."""
    data = data_rows(sender_records) if data is None else data
    grants = window_rows(receiver_records)
    data_t, grant_t = _time_array(sender, data.end), _time_array(receiver, grants.end)
    if prune and not _possible(data, data_t, grants, grant_t):
        return []
    out = []
    for t, known, sid, size, ended in zip(
            data_t[0].tolist(), data_t[1].tolist(), data.stream_id.tolist(),
            (data.end - data.start - FRAME_HEADER_LEN).tolist(), data.end_stream.tolist()):
        if known:
            out.append((t, 1, "data", (sid, size, ended)))
    for t, known, kind, sid, value in zip(grant_t[0].tolist(), grant_t[1].tolist(),
                                          grants.kind.tolist(), grants.stream_id.tolist(),
                                          grants.value.tolist()):
        if not known:
            continue
        if kind == WINDOW_UPDATE_KIND:
            out.append((t, 0, "update", (sid, value)))
        else:
            out.append((t, 0, "settings", (value,)))
    out.sort(key=lambda e: (e[0], e[1]))
    return out


def stalls(sender_records: list, receiver_records: list, sender, receiver,
           data=None, prune: bool = True) -> tuple[list, dict]:
    """The sender's stalls: ``(connection-window stalls, {stream id: stream-window stalls})``,
    each a list of ``(from, to)`` ns intervals (see the module); ``data``: the sender's
    :func:`~inferwire.protocols.http2.datarows.data_rows`, when already read; ``prune``: see
    :func:`_events`."""
    conn_window, initial = INITIAL_WINDOW, INITIAL_WINDOW
    windows: dict = {}
    conn_stall, conn_out = None, []
    open_stalls: dict = {}
    by_stream: dict = {}
    for t, _, kind, f in _events(sender_records, receiver_records, sender, receiver,
                                 data, prune):
        if kind == "data":
            sid, size, ended = f
            if conn_stall is not None and conn_stall[1] is not None:
                conn_out.append((conn_stall[0], conn_stall[1]))   # more DATA after the reopening
                conn_stall = None
            conn_window -= size
            windows[sid] = windows.get(sid, initial) - size
            if conn_window <= 0 and conn_stall is None:
                conn_stall = [t, None]
            if windows[sid] <= 0 and not ended and sid not in open_stalls:
                open_stalls[sid] = t
        elif kind == "update":
            sid, increment = f
            if sid == 0:
                conn_window += increment
                if conn_stall is not None and conn_window > 0 and conn_stall[1] is None:
                    conn_stall[1] = t
            else:
                windows[sid] = windows.get(sid, initial) + increment
                _reopen(open_stalls, by_stream, windows, sid, t)
        else:
            delta = f[0] - initial
            initial = f[0]
            for sid in windows:
                windows[sid] += delta
            for sid in list(open_stalls):
                _reopen(open_stalls, by_stream, windows, sid, t)
    return conn_out, by_stream


def _reopen(open_stalls: dict, by_stream: dict, windows: dict, sid: int, t: int) -> None:
    if sid in open_stalls and windows[sid] > 0:
        by_stream.setdefault(sid, []).append((open_stalls.pop(sid), t))


def connection_stalls(client_records: list, server_records: list, up, down,
                      client_data=None, server_data=None) -> tuple:
    """``(client's connection stalls, server's connection stalls, client's per stream, server's
    per stream)`` of one HTTP/2 connection (``up``/``down``: the timelines; ``*_data``: the
    records' :func:`~inferwire.protocols.http2.datarows.data_rows`, when already read)."""
    conn_up, streams_up = stalls(client_records, server_records, up, down, client_data)
    conn_down, streams_down = stalls(server_records, client_records, down, up, server_data)
    return conn_up, conn_down, streams_up, streams_down
