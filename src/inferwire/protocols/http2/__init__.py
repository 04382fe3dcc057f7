"""HTTP/2 (RFC 9113), sans-IO, in h2's shape: one concern per module.

* :mod:`.frames`: the frame wire format (header struct, types, flags) and :class:`H2Parser`,
  which turns one direction's stream bytes into events;
* :mod:`.events`: the events (frozen dataclasses with stream offsets) and their record form;
* :mod:`.streams`: :func:`assemble_h2` and friends, joining both directions' events into an
  :class:`H2Conversation` of :class:`H2Stream` s;
* :mod:`.datarows`: one direction's DATA frames and their gRPC messages as columns, for the
  readers of a streamed answer's million frames.

HPACK is :mod:`inferwire.protocols.hpackdecode`'s.  The names below are the package's public
surface: ``from inferwire.protocols.http2 import H2Parser, assemble_h2`` keeps working.
"""
from .events import (Data, GoAway, GrpcFramingError, Headers, Ping, Preface, Priority,
                     PushPromise, RstStream, Settings, Truncated, UnknownFrame, WindowUpdate,
                     event_objects, event_records)
from .frames import (CONTINUATION, DATA, FLAG_ACK, FLAG_END_HEADERS, FLAG_END_STREAM,
                     FLAG_PADDED, FLAG_PRIORITY, FRAME_HEADER, FRAME_HEADER_LEN, GOAWAY, HEADERS,
                     PING, PRIORITY, PUSH_PROMISE, RST_STREAM, SETTINGS,
                     SETTINGS_HEADER_TABLE_SIZE, SETTINGS_MAX_FRAME_SIZE, WINDOW_UPDATE, H2Parser)
from .streams import (H2_STREAM_FIELDS, H2Conversation, H2Stream, assemble_h2, assemble_records,
                      assemble_rows)

__all__ = [
    "Data", "GoAway", "GrpcFramingError", "Headers", "Ping", "Preface", "Priority", "PushPromise",
    "RstStream", "Settings", "Truncated", "UnknownFrame", "WindowUpdate", "event_objects",
    "event_records", "CONTINUATION", "DATA", "FLAG_ACK", "FLAG_END_HEADERS", "FLAG_END_STREAM",
    "FLAG_PADDED", "FLAG_PRIORITY", "FRAME_HEADER", "FRAME_HEADER_LEN", "GOAWAY", "HEADERS",
    "PING", "PRIORITY", "PUSH_PROMISE", "RST_STREAM", "SETTINGS", "SETTINGS_HEADER_TABLE_SIZE",
    "SETTINGS_MAX_FRAME_SIZE", "WINDOW_UPDATE", "H2Parser", "H2_STREAM_FIELDS", "H2Conversation",
    "H2Stream", "assemble_h2", "assemble_records", "assemble_rows",
]
