"""inferwire.protocols.http2.events: the two forms of an event (object and record) and their
round trip, on the events a real parse produces."""
from __future__ import annotations

import dataclasses
import struct

import hpack
import pytest

from inferwire.protocols.grpc import WHOLE_MESSAGE, GrpcMessage
from inferwire.protocols.http2 import H2Parser
from inferwire.protocols.http2.events import (Data, Headers, Preface, Settings, Truncated,
                                              UnknownFrame, event_objects, event_records)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(ftype: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    return struct.pack(">BHBBL", n >> 16, n & 0xFFFF, ftype, flags, sid) + payload


def client_bytes() -> bytes:
    block = hpack.Encoder().encode([(":method", "POST"), (":path", "/p"),
                                    ("content-type", "application/grpc")])
    return (PREFACE + frame(4, 0, 0) + frame(1, 0x4, 1, block)
            + frame(0, 0x1, 1, b"\x00\x00\x00\x00\x02hi") + frame(0xFA, 0, 0, b"xyz"))


def test_records_are_class_then_fields_in_declaration_order():
    records = H2Parser("client", records=True).feed(client_bytes(), 100)
    assert [r[0] for r in records] == [Preface, Settings, Headers, Data, UnknownFrame]
    assert records[0] == (Preface, 100, 124)
    assert records[1] == (Settings, 124, 133, False, {})
    data = records[3]
    assert data[:6] == (Data, 1, data[2], data[2] + 9 + 7, 7, True)
    assert data[6] is WHOLE_MESSAGE[0]          # the payload is one whole message: its marker
    assert event_objects([data])[0].grpc_messages == (GrpcMessage(False, 2, data[2] + 9,
                                                                  data[2] + 16),)
    assert records[4] == (UnknownFrame, 0xFA, 0, 0, data[3], data[3] + 12)


def test_objects_and_records_round_trip():
    records = H2Parser("client", records=True).feed(client_bytes(), 0)
    objects = H2Parser("client").feed(client_bytes(), 0)
    assert event_objects(records) == objects
    # a DATA record's WHOLE_MESSAGE marker comes back as the tuple of its one message
    tupled = event_records(objects)
    assert [r[6] for r in tupled if r[0] is Data] == [(GrpcMessage(False, 2, 9 + r[2],
                                                                   16 + r[2]),)
                                                      for r in records if r[0] is Data]
    assert [r for r in tupled if r[0] is not Data] == [r for r in records if r[0] is not Data]
    assert event_objects(tupled) == objects
    for ev, rec in zip(objects, tupled):
        assert tuple(getattr(ev, f.name) for f in dataclasses.fields(ev)) == rec[1:]


def test_events_are_frozen_and_a_foreign_object_becomes_its_class_alone():
    ev = Truncated(5, 9, "frame header", None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.start = 6
    assert event_records([ev, "other"]) == [(Truncated, 5, 9, "frame header", None), (str,)]
