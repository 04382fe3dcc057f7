"""Byte-level tests of the TLS record layer (inferwire.protocols.tls.records): offsets, bad
input, every split, fuzz."""
from __future__ import annotations

import struct
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inferwire.errors import InferwireWarning, ProtocolError
from inferwire.protocols import tls
from inferwire.protocols.tls import TlsRecordParser

from .tlsbytes import (CCS, CERTIFICATE, NST12, SHD, SKE, client_hello, parse, rec, server_hello,
                       session_of, tls12_full, tls13)


def test_records_offsets_types_and_payload_policy():
    _, server = tls12_full()
    p, records = parse(server, "server")
    assert [(r.content_type, r.length) for r in records] == [
        (22, len(server_hello(version=0x0303, suite=0xC02F, alpn="h2", session_id=b"S" * 32)) +
         len(CERTIFICATE) + len(SKE) + len(SHD)), (22, len(NST12)), (20, 1), (22, 40),
        (23, 1024), (23, 500), (21, 26)]
    assert records[0].start == 0 and records[-1].end == len(server)
    assert all(a.end == b.start for a, b in zip(records, records[1:]))
    assert [r.payload is None for r in records] == [False] * 4 + [True, True, False]
    _, kept = parse(server, "server", keep=True)
    assert kept[4].payload == b"r" * 1024


def test_plaintext_alert_and_name():
    client = rec(22, client_hello())
    server = rec(21, b"\x02\x28")  # fatal handshake_failure
    ses, *_ = session_of(client, server)
    (alert,) = ses.alerts
    assert (alert.direction, alert.level, alert.name, alert.encrypted) == (
        "server", 2, "handshake_failure", False)
    assert ses.version is None and ses.handshake_end is None and ses.handshake_start == 0


def test_empty_record_is_complete_with_its_header():
    p = TlsRecordParser("client")
    assert p.feed(rec(23, b""), 0) == [tls.TlsRecord(0, 5, 23, 0x0303, 0, None)]
    assert not p.incomplete


@pytest.mark.parametrize("garbage,field", [
    (b"GET / HTTP/1.1\r\n", "content_type"),
    (b"\x80\x2e\x01\x03\x01", "content_type"),          # SSLv2-style ClientHello
    (bytes([23, 0x02, 0x00, 0, 5]) + b"x" * 5, "version"),
    (bytes([23, 0x03, 0x03]) + (2 ** 14 + 2049).to_bytes(2, "big"), "length"),
])
def test_garbage_raises_protocol_error_with_offset(garbage, field):
    prefix = rec(22, client_hello())
    p = TlsRecordParser("client")
    with pytest.raises(ProtocolError) as err:
        p.feed(prefix + garbage, 1000)
    assert (err.value.offset, err.value.field) == (1000 + len(prefix), field)
    assert f"stream offset {1000 + len(prefix)}" in str(err.value)
    assert [(r.start, r.end) for r in err.value.events] == [(1000, 1000 + len(prefix))]
    assert p.messages[0].name == "client_hello"
    with pytest.raises(ProtocolError) as again:  # stays failed
        p.feed(b"\x17\x03\x03\x00\x00", 1000 + len(prefix) + len(garbage))
    assert (again.value.offset, again.value.field, again.value.events) == (
        err.value.offset, field, [])
    assert len(err.value.events) == 1  # the first error keeps its records


def test_largest_legal_record_is_accepted():
    p = TlsRecordParser("client")
    big = rec(23, b"z" * (2 ** 14 + 2048))
    assert p.feed(big, 0)[0].length == 2 ** 14 + 2048


def test_truncated_stream_is_incomplete_not_an_error():
    stream = rec(22, client_hello()) + rec(23, b"q" * 300)
    p = TlsRecordParser("client")
    assert len(p.feed(stream[:-100], 0)) == 1
    assert p.incomplete and p.pending_start == len(rec(22, client_hello()))
    p2 = TlsRecordParser("client")
    assert p2.feed(stream[:3], 0) == [] and p2.incomplete and p2.pending_start == 0
    p3 = TlsRecordParser("client")
    p3.feed(stream[:50], 0)  # inside the ClientHello: no message yet
    assert p3.messages == []


def test_non_contiguous_feed_is_an_error():
    p = TlsRecordParser("client")
    p.feed(b"\x16\x03", 0)
    with pytest.raises(ProtocolError) as err:
        p.feed(b"\x01", 5)
    assert err.value.field == "offset" and err.value.offset == 5


def _stream_variants():
    c12, s12 = tls12_full()
    c13, s13 = tls13(hrr=True)
    sh = server_hello(version=0x0303, suite=0xC02F)
    split = rec(22, sh[:7]) + rec(22, sh[7:] + CERTIFICATE[:3]) + rec(22, CERTIFICATE[3:] + SHD)
    return [c12, s12, c13, s13, split + rec(23, b"")]


STREAMS = _stream_variants()


@settings(max_examples=150, deadline=None)
@given(index=st.integers(0, len(STREAMS) - 1), keep=st.booleans(),
       cuts=st.lists(st.integers(0, 3000), max_size=12))
def test_any_split_gives_identical_records_and_messages(index, keep, cuts):
    stream = STREAMS[index]
    whole = TlsRecordParser("server", keep_application_data=keep)
    expected = whole.feed(stream, 0)
    p = TlsRecordParser("server", keep_application_data=keep)
    got, last = [], 0
    for cut in sorted({c % (len(stream) + 1) for c in cuts}) + [len(stream)]:
        got += p.feed(stream[last:cut], last)
        last = cut
    assert got == expected and p.messages == whole.messages and not p.incomplete


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400), prefix=st.booleans())
def test_fuzz_record_parser_raises_only_protocol_errors(data, prefix):
    stream = (rec(22, client_hello()) if prefix else b"") + data
    p = TlsRecordParser("client")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InferwireWarning)
        try:
            records = p.feed(stream, 0)
        except ProtocolError as exc:
            assert exc.offset is not None and 0 <= exc.offset < len(stream)
            return
    pos = 0
    for r in records:  # records tile the stream from 0, each as long as its header says
        assert (r.start, r.end) == (pos, pos + 5 + r.length)
        pos = r.end
    assert p.incomplete == (pos != len(stream))


def test_tls13_server_hello_lowers_the_record_limit_and_pending_record_names_an_overrun():
    sp = TlsRecordParser("server")
    assert sp.max_length == 2 ** 14 + 2048
    first = rec(22, server_hello()) + CCS
    sp.feed(first, 0)
    assert sp.max_length == 2 ** 14 + 256 and sp.failure is None
    with pytest.raises(ProtocolError) as err:
        sp.feed(rec(23, b"z" * (2 ** 14 + 257)), len(first))
    assert (err.value.offset, err.value.field) == (len(first), "length")
    assert "exceeds the maximum 2^14+256 (TLS 1.3, RFC 8446 5.2)" in str(err.value)
    assert sp.failure is err.value
    cp = TlsRecordParser("client")
    cp.limit_to(sp.max_length)
    cp.limit_to(2 ** 14 + 2048)                       # never raised again
    assert cp.max_length == 2 ** 14 + 256
    assert cp.feed(rec(23, b"z" * (2 ** 14 + 256)), 0)[0].length == 2 ** 14 + 256
    q = TlsRecordParser("client")
    head = rec(22, client_hello())
    q.feed(head + struct.pack(">BHH", 23, 0x0303, 0x4001) + b"q" * 300, 0)
    assert q.pending_record == (len(head), 23, 0x4001) and q.failure is None
    assert TlsRecordParser("client").pending_record is None
