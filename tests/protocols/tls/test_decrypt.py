"""Decryptor tests on crafted records (key-schedule vectors: test_keyschedule.py; real traffic:
test_real.py)."""
from __future__ import annotations

import re
import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from inferwire.errors import InferwireError
from inferwire.protocols.tls import TlsRecord, TlsRecordParser, assemble_tls
from inferwire.protocols.tls.decrypt import PlaintextStream, TlsDecryptor, decrypt_connection
from inferwire.protocols.tls.keyschedule import hkdf_expand_label
from inferwire.protocols.tls.keylog import KeyLog

H = bytes.fromhex


# --------------------------------------------------------------------- crafted TLS 1.3 flows

CR = b"\x11" * 32
SECRETS = {label: bytes([i + 1]) * 32 for i, label in enumerate(
    ["CLIENT_EARLY_TRAFFIC_SECRET", "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
     "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"])}


def seal13(secret: bytes, seq: int, inner_type: int, content: bytes, pad: int = 0) -> bytes:
    """A TLS 1.3 AES-128-GCM record, built the RFC 8446 5.2 way."""
    key = hkdf_expand_label(secret, b"key", b"", 16, "sha256")
    iv = hkdf_expand_label(secret, b"iv", b"", 12, "sha256")
    inner = content + bytes([inner_type]) + b"\x00" * pad
    header = bytes([23, 3, 3]) + (len(inner) + 16).to_bytes(2, "big")
    nonce = (int.from_bytes(iv, "big") ^ seq).to_bytes(12, "big")
    return header + AESGCM(key).encrypt(nonce, inner, header)


def hs(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


def rec(ctype: int, payload: bytes) -> bytes:
    return struct.pack(">BHH", ctype, 0x0303, len(payload)) + payload


def ext(t: int, data: bytes) -> bytes:
    return t.to_bytes(2, "big") + len(data).to_bytes(2, "big") + data


def hello(msg_type: int, random: bytes, exts: bytes, suite: int = 0x1301) -> bytes:
    """A ClientHello (offering ``suite``) or ServerHello (choosing it) record."""
    suites = (b"\x00\x02" if msg_type == 1 else b"") + suite.to_bytes(2, "big")
    body = b"\x03\x03" + random + b"\x00" + suites + \
        (b"\x01\x00" if msg_type == 1 else b"\x00") + len(exts).to_bytes(2, "big") + exts
    return rec(22, hs(msg_type, body))


def ee(alpn: bytes = b"h2", early: bool = False) -> bytes:
    data = ext(16, (len(alpn) + 1).to_bytes(2, "big") + bytes([len(alpn)]) + alpn)
    if early:
        data += ext(42, b"")
    return hs(8, len(data).to_bytes(2, "big") + data)


FIN = hs(20, b"\x0f" * 32)
KEY_UPDATE = hs(24, b"\x01")
VERSIONS = ext(43, b"\x02\x03\x04")
SH = hello(2, b"\x22" * 32, ext(43, b"\x03\x04") + ext(51, b"\x00\x1d" + b"\x00\x20" + b"k" * 32))


def flow13(*, early: bool | None = None, key_update: bool = False, pad: int = 0):
    """(client stream, server stream, client app bytes, server app bytes)."""
    S = SECRETS
    ch_exts = VERSIONS + (ext(42, b"") if early is not None else b"")
    client = hello(1, CR, ch_exts)
    server = SH + rec(20, b"\x01")
    server += seal13(S["SERVER_HANDSHAKE_TRAFFIC_SECRET"], 0, 22, ee(early=bool(early)) + FIN)
    server += seal13(S["SERVER_TRAFFIC_SECRET_0"], 0, 22, hs(4, b"\x00" * 12 + b"\x00\x02tt"))
    client_app, server_app = b"GET /a HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n"
    if early is not None:  # 0-RTT data, then EndOfEarlyData only when accepted
        client += seal13(S["CLIENT_EARLY_TRAFFIC_SECRET"], 0, 23, b"GET /0rtt HTTP/1.1\r\n\r\n")
        if early:
            client += seal13(S["CLIENT_EARLY_TRAFFIC_SECRET"], 1, 22, hs(5, b""))
            client_app = b"GET /0rtt HTTP/1.1\r\n\r\n" + client_app
    client += rec(20, b"\x01") + seal13(S["CLIENT_HANDSHAKE_TRAFFIC_SECRET"], 0, 22, FIN)
    app = S["CLIENT_TRAFFIC_SECRET_0"]
    client += seal13(app, 0, 23, b"GET /a HTTP/1.1\r\n\r\n", pad=pad)
    server += seal13(S["SERVER_TRAFFIC_SECRET_0"], 1, 23, server_app)
    if key_update:  # the next generation of the client secret opens what follows
        client += seal13(app, 1, 22, KEY_UPDATE)
        new = hkdf_expand_label(app, b"traffic upd", b"", 32, "sha256")
        client += seal13(new, 0, 23, b"GET /b HTTP/1.1\r\n\r\n")
        client_app += b"GET /b HTTP/1.1\r\n\r\n"
        app = new
    client += seal13(app, 1, 21, b"\x01\x00")  # close_notify
    return client, server, client_app, server_app


def keylog13(**override) -> KeyLog:
    return KeyLog({CR: {**SECRETS, **override}})


def parse(stream: bytes, role: str):
    p = TlsRecordParser(role, keep_application_data=True)
    return p.feed(stream, 0), p.messages


def run13(client: bytes, server: bytes, keylog: KeyLog):
    cr, cm = parse(client, "client")
    sr, sm = parse(server, "server")
    return decrypt_connection(cr, sr, cm, sm, keylog), cr, sr


def test_crafted_tls13_flow_decrypts_with_padding_and_alert():
    client, server, capp, sapp = flow13(pad=7)
    dc, cr, sr = run13(client, server, keylog13())
    assert dc.client.plaintext.data() == capp and dc.server.plaintext.data() == sapp
    assert [m.name for m in dc.server.messages] == ["encrypted_extensions", "finished",
                                                    "new_session_ticket"]
    assert dc.session.alpn == "h2" and not dc.session.alpn_inferred
    fin_record = [r for r in cr if r.content_type == 23][0]
    assert dc.session.handshake_end == fin_record.end and not dc.session.handshake_end_inferred
    (alert,) = [a for a in dc.session.alerts if a.direction == "client"]
    assert (alert.name, alert.level, alert.inferred) == ("close_notify", 1, False)


def test_crafted_key_update_switches_to_the_next_secret():
    client, server, capp, sapp = flow13(key_update=True)
    dc, cr, sr = run13(client, server, keylog13())
    assert dc.client.ok and dc.client.plaintext.data() == capp
    ku_record = [r for r in cr if r.content_type == 23][2]
    assert dc.client.key_updates == [ku_record.start]


def test_accepted_early_data_is_plaintext_and_precedes_the_handshake():
    client, server, capp, sapp = flow13(early=True)
    dc, cr, sr = run13(client, server, keylog13())
    assert dc.client.ok and dc.client.plaintext.data() == capp
    assert [m.name for m in dc.client.messages] == ["end_of_early_data", "finished"]


def test_rejected_early_data_is_skipped_like_the_server_does():
    client, server, capp, sapp = flow13(early=False)
    dc, cr, sr = run13(client, server, keylog13())
    assert dc.client.ok and dc.client.plaintext.data() == capp  # no /0rtt request
    skipped = [r for r in cr if r.content_type == 23][0]
    assert skipped.start < dc.session.handshake_end
    assert skipped.start not in [a for a, _, _ in dc.session.app_records_client]


def test_tampered_record_warns_with_its_offset_and_keeps_earlier_plaintext():
    client, server, capp, sapp = flow13(key_update=True)
    cr, _ = parse(client, "client")
    third = [r for r in cr if r.content_type == 23][3]   # the request after the KeyUpdate
    broken = bytearray(client)
    broken[third.start + 10] ^= 0x40
    dc, _, _ = run13(bytes(broken), server, keylog13())
    (problem,) = dc.client.problems
    assert f"stream offset {third.start}: decryption failed" in problem.message
    assert (problem.direction, problem.offset, problem.field) == ("client", third.start, "record")
    assert dc.server.problems == [] and dc.session.problems == []
    assert (dc.client.ok, dc.client.failed_at) == (False, third.start)
    assert dc.client.plaintext.data() == b"GET /a HTTP/1.1\r\n\r\n"
    assert dc.server.ok


def test_missing_secrets_warn_and_leave_the_direction_inferred():
    client, server, *_ = flow13()
    keylog = KeyLog({CR: {k: v for k, v in SECRETS.items() if not k.startswith("CLIENT_")}})
    dc, cr, _ = run13(client, server, keylog)
    assert "no CLIENT_HANDSHAKE_TRAFFIC_SECRET" in dc.client.problems[0].message
    assert dc.client.problems[0].direction == "client"
    assert not dc.client.ok and dc.client.records == cr and dc.client.plaintext.data() == b""
    assert dc.server.ok and dc.session.handshake_end_inferred  # client Finished not read
    dc, _, _ = run13(client, server, KeyLog({}))
    assert ["key log has no" in p.message for p in dc.server.problems + dc.client.problems] == [
        True, True]


def test_all_zero_inner_plaintext_is_a_failure():
    client = hello(1, CR, VERSIONS) + seal13(SECRETS["CLIENT_HANDSHAKE_TRAFFIC_SECRET"], 0, 0, b"")
    cr, cm = parse(client, "client")
    sr, sm = parse(SH, "server")
    dc = decrypt_connection(cr, sr, cm, sm, keylog13())
    assert "no content type" in dc.client.problems[0].message
    assert dc.client.problems[0].offset == cr[1].start
    assert dc.client.failed_at == cr[1].start


def test_records_without_payload_are_a_usage_error():
    client, server, *_ = flow13()
    p = TlsRecordParser("client")  # keep_application_data=False
    records = p.feed(client, 0)
    sr, sm = parse(server, "server")
    session = assemble_tls(records, sr, p.messages, sm)
    with pytest.raises(InferwireError, match="keep_application_data=True"):
        TlsDecryptor(session, keylog13()).decrypt(records, "client")


def test_decryptor_from_parameters():
    client, server, capp, _ = flow13()
    cr, _ = parse(client, "client")
    d = TlsDecryptor(None, keylog13(), client_random=CR, version="TLS 1.3", cipher_suite=0x1301)
    assert d.problem("client") is None
    assert d.decrypt(cr, "client").plaintext.data() == capp


# ---------------------------------------------------------------------- TLS 1.2 edge cases

def tls12_session(suite: int) -> tuple[list[TlsRecord], KeyLog, object]:
    client = hello(1, CR, b"") + rec(20, b"\x01") + rec(22, b"\x00" * 40) + rec(23, b"x" * 64)
    server = hello(2, b"\x22" * 32, b"", suite=suite)
    cr, cm = parse(client, "client")
    sr, sm = parse(server, "server")
    session = assemble_tls(cr, sr, cm, sm)
    return cr, KeyLog({CR: {"CLIENT_RANDOM": b"\x05" * 48}}), session


def test_cbc_suite_is_reported_unsupported():
    cr, keylog, session = tls12_session(0xC013)
    assert session.version == "TLS 1.2"
    out = TlsDecryptor(session, keylog).decrypt(cr, "client")
    assert re.search("CBC.*not supported", out.problems[0].message)
    assert not out.ok and out.records == cr and out.failed_at is None


def test_tls12_wrong_master_secret_fails_at_the_finished_record():
    cr, keylog, session = tls12_session(0xC02F)
    out = TlsDecryptor(session, keylog).decrypt(cr, "client")
    assert f"stream offset {cr[2].start}" in out.problems[0].message
    assert out.problems[0].offset == cr[2].start
    assert out.failed_at == cr[2].start and out.records == cr


def test_tls12_second_change_cipher_spec_stops_decryption():
    cr, keylog, session = tls12_session(0xC02F)
    twice = [cr[0], cr[1], cr[1]._replace(start=500, end=506)]
    out = TlsDecryptor(session, keylog).decrypt(twice, "client")
    assert "renegotiation" in out.problems[0].message and out.problems[0].offset == 500
    assert out.failed_at == 500


# ------------------------------------------------------------------------------ plaintext map

def test_plaintext_stream_maps_offsets_to_records():
    s = PlaintextStream("server")
    s.append(b"abc", 0, 25)
    s.append(b"", 25, 47)            # an empty record adds nothing
    s.append(b"defgh", 47, 74)
    assert len(s) == 8 and s.data() == b"abcdefgh"
    assert list(s.chunks()) == [(0, b"abc"), (3, b"defgh")]
    assert [s.to_record_span(i) for i in (0, 2, 3, 7)] == [(0, 25), (0, 25), (47, 74), (47, 74)]
    for bad in (-1, 8):
        with pytest.raises(InferwireError, match="outside"):
            s.to_record_span(bad)


# ------------------------------------------------------------------------------------ fuzzing

record_strategy = st.tuples(st.sampled_from([20, 21, 22, 23]), st.binary(max_size=80))


@settings(max_examples=150, deadline=None)
@given(records=st.lists(record_strategy, max_size=8), version=st.sampled_from([0x0303, 0x0304]),
       suite=st.sampled_from([0x1301, 0x1303, 0x1305, 0xC02F, 0xCCA8, 0xC0AE]))
def test_fuzz_decryptor_never_raises_and_invents_nothing(records, version, suite):
    stream = b"".join(rec(t, p) for t, p in records)
    p = TlsRecordParser("client", keep_application_data=True)
    parsed = p.feed(stream, 0)
    keylog = KeyLog({CR: {**SECRETS, "CLIENT_RANDOM": b"\x05" * 48}})
    d = TlsDecryptor(None, keylog, b"\x22" * 32, client_random=CR, version=version,
                     cipher_suite=suite)
    out = d.decrypt(parsed, "client")
    assert out.plaintext.data() == b"" and out.messages == []
    assert [r.start for r in out.records] == [r.start for r in parsed]
