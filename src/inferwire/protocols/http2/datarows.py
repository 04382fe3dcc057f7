"""The DATA frames of one HTTP/2 direction, and the frames that grant flow-control window, as
columns (pure: parser records in, arrays out).

:class:`~.frames.H2Parser` (``records=True``) gives one tuple per frame, ``(Data, stream id,
start, end, payload length, END_STREAM, gRPC messages)`` for a DATA frame (the messages a tuple,
None, or a :data:`~inferwire.protocols.grpc.WHOLE_MESSAGE` marker: the payload is one whole
message).  A streamed gRPC
call has a DATA frame per message, so a busy connection holds a million of them; readers that
want only their numbers (the streamed messages, the flow-control windows) take them from
:func:`data_rows` in one pass (in C, ``_frames.data_rows``; :func:`data_rows_py` is the Python
reading, the same columns) instead of walking the records one by one.  The WINDOW_UPDATE
frames (a gRPC peer sends two per message) and the SETTINGS that set the initial window are
read likewise by :func:`window_rows` (``_frames.window_rows``; :func:`window_rows_py`).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..grpc import WHOLE_MESSAGE, frame_messages
from .events import Data, Settings, WindowUpdate
from .frames import FRAME_HEADER_LEN

try:              # the records read in C (_frames.c); data_rows_py is the Python reading
    from ._frames import data_rows as _c_data_rows
    from ._frames import window_rows as _c_window_rows
except ImportError:
    _c_data_rows = _c_window_rows = None

#: SETTINGS_INITIAL_WINDOW_SIZE (RFC 9113 section 6.5.2): every stream's initial window.
SETTINGS_INITIAL_WINDOW_SIZE = 0x4
#: WindowRows.kind of a WINDOW_UPDATE and of a SETTINGS frame setting the initial window.
WINDOW_UPDATE_KIND, SETTINGS_KIND = 0, 1


class DataRows(NamedTuple):
    """One direction's DATA frames in record order and their gRPC messages.

    Per frame: ``record`` (its index in the records), ``stream_id``, ``start`` and ``end``
    (stream offsets of the frame, header included; end exclusive), ``data_len`` (payload
    bytes, padding excluded) and ``end_stream`` (bool); all int64 but ``end_stream``.  Per gRPC
    message, in order: ``msg_row`` (the number of its frame among these rows),
    ``msg_compressed`` (bool), ``msg_length`` (bytes after the 5-byte prefix), ``msg_start``
    and ``msg_end`` (stream offsets, as :class:`~inferwire.protocols.grpc.GrpcMessage`)."""
    record: np.ndarray
    stream_id: np.ndarray
    start: np.ndarray
    end: np.ndarray
    data_len: np.ndarray
    end_stream: np.ndarray
    msg_row: np.ndarray
    msg_compressed: np.ndarray
    msg_length: np.ndarray
    msg_start: np.ndarray
    msg_end: np.ndarray

    def __len__(self) -> int:            # the number of DATA frames (not of fields)
        return len(self.record)

    def payloads(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(offsets, lengths)`` of the non-empty payloads of the frames ``rows`` (indices,
        in order): each payload's stream offset (after the frame header and, in a padded
        frame, the pad length byte) and its length."""
        start, end, size = self.start[rows], self.end[rows], self.data_len[rows]
        keep = size > 0
        padded = (end - start - FRAME_HEADER_LEN) != size
        return (start + FRAME_HEADER_LEN + padded)[keep], size[keep]


def data_rows(records: list, use_c: bool = True) -> DataRows:
    """The DATA frames of ``records`` (one direction's parser records) as columns (in C when
    built and ``use_c``, else :func:`data_rows_py`: the same columns)."""
    if _c_data_rows is None or not use_c:
        return data_rows_py(records)
    rows, msgs = _c_data_rows(records, Data, WHOLE_MESSAGE)
    return _columns(np.frombuffer(rows, np.int64).reshape(-1, 6),
                    np.frombuffer(msgs, np.int64).reshape(-1, 5))


def data_rows_py(records: list) -> DataRows:
    """:func:`data_rows` read in Python."""
    rows, msgs = [], []
    for i, record in enumerate(records):
        if record[0] is not Data:
            continue
        _, sid, start, end, data_len, end_stream, messages = record
        for m in frame_messages(messages, end - data_len, end) or ():
            msgs.append((len(rows), bool(m[0]), m[1], m[2], m[3]))
        rows.append((i, sid, start, end, data_len, bool(end_stream)))
    return _columns(np.array(rows, np.int64).reshape(-1, 6),
                    np.array(msgs, np.int64).reshape(-1, 5))


def _columns(rows: np.ndarray, msgs: np.ndarray) -> DataRows:
    return DataRows(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3], rows[:, 4],
                    rows[:, 5].astype(bool), msgs[:, 0], msgs[:, 1].astype(bool), msgs[:, 2],
                    msgs[:, 3], msgs[:, 4])


class WindowRows(NamedTuple):
    """One direction's frames that grant flow-control window, in record order: each
    WINDOW_UPDATE, and each SETTINGS frame (not an ACK) that sets
    SETTINGS_INITIAL_WINDOW_SIZE.  Per frame: ``record`` (its index in the records), ``kind``
    (:data:`WINDOW_UPDATE_KIND` or :data:`SETTINGS_KIND`), ``stream_id`` (0 for SETTINGS and a
    connection-wide WINDOW_UPDATE), ``end`` (stream offset one past the frame) and ``value``
    (the increment, or the new initial window, in bytes); all int64."""
    record: np.ndarray
    kind: np.ndarray
    stream_id: np.ndarray
    end: np.ndarray
    value: np.ndarray

    def __len__(self) -> int:            # the number of frames (not of fields)
        return len(self.record)


def window_rows(records: list, use_c: bool = True) -> WindowRows:
    """The window-granting frames of ``records`` (one direction's parser records) as columns
    (in C when built and ``use_c``, else :func:`window_rows_py`: the same columns)."""
    if _c_window_rows is None or not use_c:
        return window_rows_py(records)
    return _window_columns(np.frombuffer(_c_window_rows(records, WindowUpdate, Settings),
                                         np.int64).reshape(-1, 5))


def window_rows_py(records: list) -> WindowRows:
    """:func:`window_rows` read in Python."""
    rows = []
    for i, r in enumerate(records):
        if r[0] is WindowUpdate:            # (WindowUpdate, sid, start, end, increment)
            rows.append((i, WINDOW_UPDATE_KIND, r[1], r[3], r[4]))
        elif r[0] is Settings and not r[3] and SETTINGS_INITIAL_WINDOW_SIZE in r[4]:
            # (Settings, start, end, ack, params)
            rows.append((i, SETTINGS_KIND, 0, r[2], r[4][SETTINGS_INITIAL_WINDOW_SIZE]))
    return _window_columns(np.array(rows, np.int64).reshape(-1, 5))


def _window_columns(rows: np.ndarray) -> WindowRows:
    return WindowRows(*(rows[:, k] for k in range(5)))
