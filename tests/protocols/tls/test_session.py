"""assemble_tls (inferwire.protocols.tls.session) on crafted TLS 1.2 and 1.3 flows."""
from __future__ import annotations


from inferwire.protocols import tls
from inferwire.protocols.tls import assemble_tls

from .tlsbytes import (SHD, client_hello, parse, rec, server_hello, session_of, tls12_abbreviated,
                       tls12_full, tls13)


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
    ses, *_ = session_of(*tls13(early=True))
    (problem,) = ses.problems
    assert "0-RTT" in problem.message and problem.direction == "client"
    assert problem.offset is not None and problem.offset < ses.handshake_end
    assert ses.early_data_offered and ses.handshake_end_inferred
    assert session_of(*tls13())[0].problems == []


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
