"""Byte-level tests of the TLS record parser, handshake messages, assembler and inference."""
from __future__ import annotations

import struct
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inferwire.errors import InferwireWarning, ProtocolError
from inferwire.protocols import tls
from inferwire.protocols.tls import (ENCRYPTED_HANDSHAKE, HRR_RANDOM, HandshakeReassembler,
                                     TlsRecordParser, assemble_tls, infer_exchanges)


# ------------------------------------------------------------------------------------ builders

def rec(ctype: int, payload: bytes, version: int = 0x0303) -> bytes:
    return struct.pack(">BHH", ctype, version, len(payload)) + payload


def hs(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


def vec(n: int, data: bytes) -> bytes:
    return len(data).to_bytes(n, "big") + data


def ext(ext_type: int, data: bytes) -> bytes:
    return ext_type.to_bytes(2, "big") + vec(2, data)


def u16s(values) -> bytes:
    return b"".join(v.to_bytes(2, "big") for v in values)


def client_hello(*, random=b"\x11" * 32, session_id=b"", suites=(0x1301, 0xC02F),
                 sni="mnist.example", alpn=("h2", "http/1.1"), versions=(0x0304, 0x0303),
                 groups=(29,), psk=False, early=False) -> bytes:
    exts = b""
    if sni:
        exts += ext(0, vec(2, b"\x00" + vec(2, sni.encode())))
    if alpn:
        exts += ext(16, vec(2, b"".join(vec(1, p.encode()) for p in alpn)))
    if versions:
        exts += ext(43, vec(1, u16s(versions)))
    if groups:
        exts += ext(51, vec(2, b"".join(g.to_bytes(2, "big") + vec(2, b"\x07" * 32)
                                        for g in groups)))
    if early:
        exts += ext(42, b"")
    if psk:  # pre_shared_key comes last
        exts += ext(41, vec(2, vec(2, b"ticket") + b"\x00" * 4) + vec(2, vec(1, b"\x00" * 32)))
    body = (b"\x03\x03" + random + vec(1, session_id) + vec(2, u16s(suites)) + b"\x01\x00" +
            vec(2, exts))
    return hs(1, body)


def server_hello(*, random=b"\x22" * 32, suite=0x1301, version=0x0304, alpn=None, group=29,
                 psk=False, session_id=b"") -> bytes:
    exts = b""
    if version == 0x0304:
        exts += ext(43, b"\x03\x04")
        exts += ext(51, group.to_bytes(2, "big") + vec(2, b"\x08" * 32))
    if alpn:
        exts += ext(16, vec(2, vec(1, alpn.encode())))
    if psk:
        exts += ext(41, b"\x00\x00")
    body = (b"\x03\x03" + random + vec(1, session_id) + suite.to_bytes(2, "big") + b"\x00" +
            vec(2, exts))
    return hs(2, body)


def hello_retry(group: int = 23) -> bytes:
    body = (b"\x03\x03" + HRR_RANDOM + vec(1, b"") + (0x1301).to_bytes(2, "big") + b"\x00" +
            vec(2, ext(43, b"\x03\x04") + ext(51, group.to_bytes(2, "big"))))
    return hs(2, body)


CERTIFICATE = hs(11, vec(3, vec(3, b"A" * 300) + vec(3, b"B" * 200)))
SKE = hs(12, b"\x03\x00\x17" + vec(1, b"\x04" * 65) + b"\x04\x03" + vec(2, b"s" * 70))
SHD = hs(14, b"")
NST12 = hs(4, b"\x00\x00\x1c\x20" + vec(2, b"t" * 160))
CKE = hs(16, vec(1, b"\x04" * 65))
CCS = rec(20, b"\x01")


def tls12_full():
    """(client stream, server stream) of a full TLS 1.2 handshake and one exchange."""
    client = (rec(22, client_hello(versions=(), groups=()), version=0x0301) + rec(22, CKE) +
              CCS + rec(22, b"\x00" * 40) + rec(23, b"q" * 124) + rec(21, b"\x00" * 26))
    server = (rec(22, server_hello(version=0x0303, suite=0xC02F, alpn="h2", session_id=b"S" * 32)
                  + CERTIFICATE + SKE + SHD) + rec(22, NST12) + CCS + rec(22, b"\x00" * 40) +
              rec(23, b"r" * 1024) + rec(23, b"r" * 500) + rec(21, b"\x00" * 26))
    return client, server


def tls12_abbreviated():
    client = (rec(22, client_hello(versions=(), groups=(), session_id=b"S" * 32)) + CCS +
              rec(22, b"\x00" * 40) + rec(23, b"q" * 124))
    server = (rec(22, server_hello(version=0x0303, suite=0xC02F, session_id=b"S" * 32)) + CCS +
              rec(22, b"\x00" * 40) + rec(23, b"r" * 224))
    return client, server


def tls13(*, alpn=("h2",), early=False, hrr=False):
    client = rec(22, client_hello(alpn=alpn, early=early), version=0x0301) + CCS
    server = b""
    if hrr:
        server += rec(22, hello_retry()) + CCS
        client += rec(22, client_hello(alpn=alpn, groups=(23,)))
    client += rec(23, b"F" * 53) + rec(23, b"q" * 217) + rec(23, b"a" * 19)
    server += (rec(22, server_hello()) + (b"" if hrr else CCS) + rec(23, b"e" * 40) +
               rec(23, b"c" * 800) + rec(23, b"v" * 90) + rec(23, b"f" * 53) +
               rec(23, b"t" * 250) + rec(23, b"r" * 317) + rec(23, b"a" * 19))
    return client, server


def parse(stream: bytes, role: str = "client", keep: bool = False):
    p = TlsRecordParser(role, keep_application_data=keep)
    return p, p.feed(stream, 0)


def session_of(client: bytes, server: bytes):
    cp, cr = parse(client, "client")
    sp, sr = parse(server, "server")
    return assemble_tls(cr, sr, cp.messages, sp.messages), cr, sr, cp, sp


# ----------------------------------------------------------------------------- record layer

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


def test_several_messages_in_one_record_share_its_offsets():
    _, server = tls12_full()
    p, records = parse(server, "server")
    first = records[0]
    assert [m.name for m in p.messages[:4]] == ["server_hello", "certificate",
                                                "server_key_exchange", "server_hello_done"]
    assert all((m.start, m.end) == (first.start, first.end) for m in p.messages[:4])
    assert p.messages[1].fields["cert_lengths"] == [300, 200]
    assert p.messages[4].name == "new_session_ticket"
    assert p.messages[4].fields == {"length": len(NST12) - 4, "lifetime_s": 7200,
                                    "ticket_length": 160}
    # After ChangeCipherSpec the handshake record is the encrypted Finished.
    assert (p.messages[5].msg_type, p.messages[5].start) == (ENCRYPTED_HANDSHAKE, records[3].start)


def test_one_message_split_across_three_records():
    msg = client_hello()
    cut1, cut2 = 10, 100
    stream = rec(22, msg[:cut1]) + rec(22, msg[cut1:cut2]) + rec(22, msg[cut2:])
    p, records = parse(stream)
    assert len(records) == 3 and len(p.messages) == 1
    m = p.messages[0]
    assert (m.start, m.end) == (0, len(stream))
    assert m.fields["sni"] == "mnist.example" and m.fields["alpn"] == ["h2", "http/1.1"]


def test_message_ending_mid_record_then_next_message_starts_there():
    sh = server_hello(version=0x0303, suite=0xC02F)
    stream = rec(22, sh[:20]) + rec(22, sh[20:] + CERTIFICATE[:30]) + rec(22, CERTIFICATE[30:])
    p, records = parse(stream, "server")
    (a, b) = p.messages
    assert (a.start, a.end) == (records[0].start, records[1].end)
    assert (b.start, b.end) == (records[1].start, records[2].end)


def test_client_hello_fields():
    ch = client_hello(session_id=b"\x05" * 32, suites=(0x1301, 0x1302, 0xC02B), groups=(29, 23),
                      psk=True, early=True)
    p, _ = parse(rec(22, ch))
    f = p.messages[0].fields
    assert f["random"] == b"\x11" * 32 and f["session_id"] == b"\x05" * 32
    assert f["cipher_suites"] == [0x1301, 0x1302, 0xC02B]
    assert f["supported_versions"] == [0x0304, 0x0303]
    assert f["key_share_groups"] == [29, 23]
    assert f["psk"] is True and f["early_data"] is True
    assert f["extensions"][-1] == 41


def test_server_hello_versions_and_alpn():
    p, _ = parse(rec(22, server_hello(version=0x0303, suite=0xC030, alpn="h2")), "server")
    f = p.messages[0].fields
    assert (f["selected_version"], f["cipher_suite"], f["alpn"]) == (0x0303, 0xC030, "h2")
    p, _ = parse(rec(22, server_hello(psk=True)), "server")
    f = p.messages[0].fields
    assert (f["legacy_version"], f["selected_version"], f["psk_selected"]) == (0x0303, 0x0304,
                                                                               True)
    assert f["key_share_group"] == 29 and not f["hello_retry_request"]


def test_hello_retry_request_then_plaintext_hellos_after_ccs():
    client, server = tls13(hrr=True)
    ses, cr, sr, cp, sp = session_of(client, server)
    assert [m.name for m in sp.messages] == ["hello_retry_request", "server_hello"]
    # The client's compatibility CCS precedes its second (plaintext) ClientHello.
    assert [m.name for m in cp.messages] == ["client_hello", "client_hello"]
    assert sp.messages[0].fields["key_share_group"] == 23
    assert ses.hello_retry and ses.version == "TLS 1.3"
    assert ses.handshake_end == [r for r in cr if r.content_type == 23][0].end


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


# ------------------------------------------------------------------------------- bad input

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


def test_malformed_hello_body_warns_and_keeps_records():
    bad = hs(1, b"\x03\x03" + b"\x11" * 32 + b"\x00" + b"\x00\x40" + b"\x13\x01")  # suites cut
    p = TlsRecordParser("client")
    with pytest.warns(InferwireWarning, match="client_hello.cipher_suites"):
        records = p.feed(rec(22, bad) + rec(23, b"x" * 10), 0)
    assert len(records) == 2
    assert "malformed" in p.messages[0].fields
    ses = assemble_tls(records, [], p.messages, [])
    assert ses.client_random is None and ses.handshake_start == 0


def test_over_long_handshake_message_is_counted_not_kept():
    length = tls.MAX_HANDSHAKE_MESSAGE + 10
    msg = hs(11, b"C" * length)
    stream = b"".join(rec(22, msg[i:i + 16384]) for i in range(0, len(msg), 16384))
    stream += rec(22, SHD)
    p = TlsRecordParser("server")
    records = p.feed(stream, 0)
    big, done = p.messages
    assert big.fields == {"length": length, "truncated": True}
    assert (big.start, big.end) == (0, records[-2].end)
    assert done.name == "server_hello_done" and done.start == records[-1].start


# ------------------------------------------------------------------- chunking and fuzzing

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


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=200), msg_type=st.sampled_from([1, 2, 4, 8, 11, 20, 24, 99]),
       tls13_layout=st.booleans())
def test_fuzz_handshake_bodies_never_crash(body, msg_type, tls13_layout):
    r = HandshakeReassembler(tls13=tls13_layout)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InferwireWarning)
        (m,) = r.feed(hs(msg_type, body), 0, 10)
        client, server = ([], [m]) if msg_type == 2 else ([m], [])
        assemble_tls([], [], client, server)
    assert m.fields["length"] == len(body)


# -------------------------------------------------------------------------------- assembly

def test_assemble_tls12_full_handshake():
    client, server = tls12_full()
    ses, cr, sr, cp, sp = session_of(client, server)
    assert (ses.version, ses.version_code) == ("TLS 1.2", 0x0303)
    assert (ses.cipher_suite, ses.cipher_suite_name) == (
        0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
    assert (ses.sni, ses.alpn, ses.alpn_offered) == ("mnist.example", "h2", ("h2", "http/1.1"))
    assert ses.client_random == b"\x11" * 32 and ses.server_random == b"\x22" * 32
    assert ses.resumed is False and ses.handshake_start == 0
    assert (ses.handshake_end, ses.handshake_end_dir) == (sr[3].end, "server")
    assert not ses.handshake_end_inferred
    assert ses.app_records_client == [(cr[4].start, cr[4].end, 124)]
    assert ses.app_records_server == [(sr[4].start, sr[4].end, 1024), (sr[5].start, sr[5].end, 500)]
    assert [(a.direction, a.encrypted, a.level) for a in ses.alerts] == [
        ("client", True, None), ("server", True, None)]


def test_assemble_tls12_abbreviated_handshake():
    ses, cr, sr, *_ = session_of(*tls12_abbreviated())
    assert ses.resumed is True
    assert (ses.handshake_end, ses.handshake_end_dir) == (cr[2].end, "client")


def test_assemble_tls12_incomplete_handshake():
    client, server = tls12_full()
    cut = server.index(SHD) + len(SHD)
    ses, *_ = session_of(client[:300], server[:cut])
    assert ses.version == "TLS 1.2" and ses.resumed is False and ses.handshake_end is None


def test_assemble_tls13_without_keys_is_inferred():
    ses, cr, sr, *_ = session_of(*tls13())
    assert (ses.version, ses.cipher_suite_name, ses.resumed) == ("TLS 1.3",
                                                                 "TLS_AES_128_GCM_SHA256", False)
    assert (ses.handshake_end, ses.handshake_end_dir, ses.handshake_end_inferred) == (
        cr[2].end, "client", True)
    assert (ses.alpn, ses.alpn_inferred) == ("h2", True)
    # Client Finished excluded; the trailing 19-byte records (2 + 17) are taken for alerts.
    assert ses.app_records_client == [(cr[3].start, cr[3].end, 217)]
    assert ses.app_records_server_inferred
    assert [r[2] for r in ses.app_records_server] == [40, 800, 90, 53, 250, 317]
    assert [(a.direction, a.inferred) for a in ses.alerts] == [("client", True), ("server", True)]


def test_assemble_tls13_alpn_unknown_with_two_offers_and_resumption():
    client = rec(22, client_hello(alpn=("h2", "http/1.1"), psk=True)) + rec(23, b"F" * 53)
    server = rec(22, server_hello(psk=True)) + rec(23, b"e" * 40)
    ses, *_ = session_of(client, server)
    assert ses.alpn is None and not ses.alpn_inferred and ses.resumed is True


def test_assemble_tls13_early_data_offer_warns():
    with pytest.warns(InferwireWarning, match="0-RTT"):
        ses, *_ = session_of(*tls13(early=True))
    assert ses.early_data_offered and ses.handshake_end_inferred


def test_assemble_tls13_uses_decrypted_finished_and_inner_types():
    client, server = tls13()
    cp, cr = parse(client)
    sp, sr = parse(server, "server")
    # As the decryptor would annotate them: client Finished in record 2, tickets at 7.
    cr2 = [r._replace(inner_type=22 if i == 2 else 23) if r.content_type == 23 else r
           for i, r in enumerate(cr)]
    sr2 = [r._replace(inner_type=22 if i in (2, 3, 4, 5, 6) else 23) if r.content_type == 23
           else r for i, r in enumerate(sr)]
    fin = tls.HandshakeMessage(20, cr[2].start, cr[2].end, {"length": 32})
    ee = tls.HandshakeMessage(8, sr[2].start, sr[2].end, {"alpn": "h2"})
    ses = assemble_tls(cr2, sr2, [*cp.messages, fin], [*sp.messages, ee])
    assert (ses.handshake_end, ses.handshake_end_inferred) == (cr[2].end, False)
    assert (ses.alpn, ses.alpn_inferred) == ("h2", False)
    assert [r[2] for r in ses.app_records_server] == [317, 19]
    assert not ses.app_records_server_inferred and ses.decrypted


def test_assemble_mid_connection_capture():
    ses, cr, sr, *_ = session_of(rec(23, b"q" * 30), rec(23, b"r" * 40) + rec(23, b"r" * 10))
    assert ses.version is None and ses.handshake_start is None
    assert len(ses.app_records_client) == 1 and len(ses.app_records_server) == 2


def test_cipher_names_and_overheads():
    assert tls.cipher_suite_name(0x1303) == "TLS_CHACHA20_POLY1305_SHA256"
    assert tls.cipher_suite_name(0xABCD) == "0xABCD" and tls.cipher_suite_name(None) is None
    assert tls.record_overhead("TLS 1.3", 0x1301) == 17
    assert tls.record_overhead(0x0304, 0x1305) == 9          # CCM_8: 8-byte tag
    assert tls.record_overhead("TLS 1.2", 0xC02F) == 24      # explicit nonce + tag
    assert tls.record_overhead("TLS 1.2", 0xCCA8) == 16      # ChaCha20: no explicit nonce
    assert tls.record_overhead("TLS 1.2", 0xC013) is None    # CBC: unknown
    assert tls.record_overhead(None, None) is None


# ------------------------------------------------------------------------------- inference

MS = 1_000_000


def test_infer_exchanges_pairs_bursts_and_subtracts_overhead():
    client = [(100, 229, 124, 10 * MS, 10 * MS),                # request 1
              (229, 16642, 16408, 30 * MS, 30 * MS), (16642, 17000, 353, 31 * MS, 32 * MS),
              (17000, 17100, 95, 90 * MS, 90 * MS)]              # request 3, no answer yet
    server = [(50, 100, 45, 1 * MS, 1 * MS),                    # before any request: dropped
              (900, 1929, 1024, 12 * MS, 13 * MS), (1929, 2434, 500, 14 * MS, 14 * MS),
              (2434, 2534, 95, 40 * MS, 41 * MS)]
    ex = infer_exchanges(client, server, version="TLS 1.2", cipher_suite=0xC02F)
    assert len(ex) == 3
    e1, e2, e3 = ex
    assert (e1.req_start, e1.req_end, e1.resp_start, e1.resp_end) == (100, 229, 900, 2434)
    assert (e1.req_t_first_ns, e1.resp_t_first_ns, e1.resp_t_last_ns) == (10 * MS, 12 * MS,
                                                                         14 * MS)
    assert (e1.request_bytes, e1.response_bytes) == (100, 1000 + 476)
    assert (e1.request_records, e1.response_records) == (1, 2)
    assert (e2.request_bytes, e2.req_t_last_ns) == (16384 + 329, 32 * MS)
    assert e3.resp_start is None and e3.response_bytes is None and e3.response_records == 0
    assert all(e.inferred and e.plaintext_sizes for e in ex)


def test_infer_exchanges_unknown_cipher_uses_ciphertext_sizes():
    ex = infer_exchanges([(0, 105, 100, 1, 1)], [(0, 205, 200, 2, 2)], version="TLS 1.2",
                         cipher_suite=0xC013)
    assert (ex[0].request_bytes, ex[0].response_bytes, ex[0].plaintext_sizes) == (100, 200, False)
    assert infer_exchanges([], []) == []


def test_infer_exchanges_equal_times_put_the_client_first():
    ex = infer_exchanges([(0, 50, 45, 5, 5)], [(0, 60, 55, 5, 5)], version="TLS 1.3",
                         cipher_suite=0x1301)
    assert len(ex) == 1 and (ex[0].request_bytes, ex[0].response_bytes) == (28, 38)


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
