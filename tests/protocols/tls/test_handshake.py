"""TLS handshake messages (inferwire.protocols.tls.handshake): fields, reassembly across
records, malformed and over-long bodies, fuzz."""
from __future__ import annotations


from hypothesis import given, settings
from hypothesis import strategies as st

from inferwire.protocols import tls
from inferwire.protocols.tls import (ENCRYPTED_HANDSHAKE, HandshakeReassembler, TlsRecordParser,
                                     assemble_tls)

from .tlsbytes import (CERTIFICATE, NST12, SHD, client_hello, hs, parse, rec, server_hello,
                       session_of, tls12_full, tls13)


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


def test_malformed_hello_body_warns_and_keeps_records():
    bad = hs(1, b"\x03\x03" + b"\x11" * 32 + b"\x00" + b"\x00\x40" + b"\x13\x01")  # suites cut
    p = TlsRecordParser("client")
    records = p.feed(rec(22, bad) + rec(23, b"x" * 10), 0)
    (problem,) = p.problems
    assert problem.message.startswith("malformed TLS handshake message: ")
    assert (problem.direction, problem.offset, problem.field) == (
        "client", 0, "client_hello.cipher_suites")
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
    (problem,) = p.problems
    assert problem.message == (f"TLS certificate at stream offset 0 declares {length} bytes, "
                               f"more than the {tls.MAX_HANDSHAKE_MESSAGE} kept: its fields are "
                               "not read")
    assert (problem.direction, problem.offset, problem.field) == ("server", 0,
                                                                  "certificate.length")
    assert (big.start, big.end) == (0, records[-2].end)
    assert done.name == "server_hello_done" and done.start == records[-1].start


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=200), msg_type=st.sampled_from([1, 2, 4, 8, 11, 20, 24, 99]),
       tls13_layout=st.booleans())
def test_fuzz_handshake_bodies_never_crash(body, msg_type, tls13_layout):
    r = HandshakeReassembler(tls13=tls13_layout)
    (m,) = r.feed(hs(msg_type, body), 0, 10)
    client, server = ([], [m]) if msg_type == 2 else ([m], [])
    assemble_tls([], [], client, server)
    assert len(r.problems) == ("malformed" in m.fields)
    assert m.fields["length"] == len(body)
