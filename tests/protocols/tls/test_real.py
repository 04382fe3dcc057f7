"""TLS parsing and decryption on real TLS traffic made here on 127.0.0.1.

A tiny HTTP/1.1-over-TLS server and client (Python's ``ssl``, self-signed certificate made with
``cryptography``) talk through a TCP relay that records each direction's exact bytes; the client
writes an SSLKEYLOGFILE.  Decrypted plaintext must equal what each application wrote, exactly.
TLS 1.3 suites other than OpenSSL's defaults are selected through an OpenSSL config file in a
subprocess (Python cannot set TLS 1.3 suites); this file doubles as that subprocess' script.
"""
from __future__ import annotations

import datetime
import json
import os
import re
import select
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from inferwire.protocols import tls
from inferwire.protocols.tls import TlsRecordParser, assemble_tls
from inferwire.protocols.tls.decrypt import decrypt_connection
from inferwire.protocols.tls.keyschedule import hkdf_expand_label
from inferwire.protocols.tls.keylog import parse_keylog

TIMEOUT_S = 10
SNI = "mnist.inferwire.test"


# ------------------------------------------------------------------------------- the harness

def make_cert(directory: Path, kind: str = "ec") -> tuple[Path, Path]:
    """Self-signed certificate + key (PEM files) for SNI."""
    key = ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else \
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SNI)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(SNI)]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / f"cert-{kind}.pem", directory / f"key-{kind}.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def http_request(path: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: {SNI}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def http_response(body: bytes) -> bytes:
    return (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


# Request/response bodies: small ones, and one of each that spans several TLS records.
DEFAULT_EXCHANGES = [
    ("/v1/models/mnist:predict", b'{"instances": [[0.0, 0.5]]}', b'{"predictions": [[0.1]]}'),
    ("/v1/models/mnist:predict", b'{"instances": [' + b"0.25, " * 6000 + b"1.0]}",
     b'{"predictions": [' + b"0.125, " * 7000 + b"1.0]}"),
    ("/v1/models/mnist", b"", b'{"model_version_status": []}'),
]


def _read_request(conn) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += conn.recv(65536)
    return body


def _read_response(conn) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


def _relay(listener: socket.socket, server_port: int, record: dict) -> None:
    """Accept one client, connect to the server, copy both ways, record each direction."""
    down, _ = listener.accept()
    up = socket.create_connection(("127.0.0.1", server_port), timeout=TIMEOUT_S)
    peers = {down: (up, "client"), up: (down, "server")}
    open_ = {down, up}
    while open_:
        ready, _, _ = select.select(list(open_), [], [], TIMEOUT_S)
        if not ready:
            break
        for s in ready:
            data = s.recv(65536)
            other, direction = peers[s]
            if data:
                start = len(record[direction])
                record[direction] += data
                record["chunks"].append((direction, start, start + len(data),
                                         time.monotonic_ns()))
                other.sendall(data)
            else:
                open_.discard(s)
                try:
                    other.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
    down.close()
    up.close()


@dataclass
class Session:
    client_bytes: bytes
    server_bytes: bytes
    keylog: Path
    client_app: bytes       # exactly what the client application wrote
    server_app: bytes       # exactly what the server application wrote
    info: dict = field(default_factory=dict)
    tls_session: object = None  # the client's ssl.SSLSession, for resumption
    chunks: list = field(default_factory=list)  # (direction, start, end, t_ns) seen by the relay

    def timed(self, direction: str, records) -> list[tuple[int, int, int, int, int]]:
        """(start, end, length) records with the relay's receive times of first/last byte."""
        mine = [c for c in self.chunks if c[0] == direction]

        def t(offset):
            return next(c[3] for c in mine if c[1] <= offset < c[2])
        return [(a, b, n, t(a), t(b - 1)) for a, b, n in records]


def run_session(tmp: Path, *, cert: tuple[Path, Path], version: str = "1.3",
                ciphers: str | None = None, client_alpn=("http/1.1",), server_alpn=("http/1.1",),
                exchanges=DEFAULT_EXCHANGES, resume=None, on_server_port=None,
                keylog_name: str = "keys.log") -> Session:
    """One TLS connection client -> relay -> server on 127.0.0.1; returns both byte streams."""
    tls_version = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(*cert)
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.load_verify_locations(cert[0])
    for ctx in (sctx, cctx):
        ctx.minimum_version = ctx.maximum_version = tls_version
        if ciphers:
            ctx.set_ciphers(ciphers)
    if server_alpn:
        sctx.set_alpn_protocols(list(server_alpn))
    if client_alpn:
        cctx.set_alpn_protocols(list(client_alpn))
    keylog = tmp / keylog_name
    cctx.keylog_filename = str(keylog)

    server_sock = socket.create_server(("127.0.0.1", 0))
    relay_sock = socket.create_server(("127.0.0.1", 0))
    for s in (server_sock, relay_sock):
        s.settimeout(TIMEOUT_S)
    if on_server_port is not None:
        on_server_port(server_sock.getsockname()[1])
    record = {"client": bytearray(), "server": bytearray(), "chunks": []}
    served: dict = {"app": b"", "error": None}

    def serve():
        try:
            raw, _ = server_sock.accept()
            raw.settimeout(TIMEOUT_S)
            conn = sctx.wrap_socket(raw, server_side=True)
            for _, _, reply in exchanges:
                if _read_request(conn) is None:
                    break
                conn.sendall(http_response(reply))
                served["app"] += http_response(reply)
            if conn.recv(1) == b"":   # the client's close_notify
                conn.unwrap().close()
        except Exception as exc:  # reported by the test thread
            served["error"] = exc

    threads = [threading.Thread(target=serve, daemon=True),
               threading.Thread(target=_relay, args=(relay_sock, server_sock.getsockname()[1],
                                                     record), daemon=True)]
    for t in threads:
        t.start()
    client_app, info = b"", {}
    raw = socket.create_connection(relay_sock.getsockname(), timeout=TIMEOUT_S)
    conn = cctx.wrap_socket(raw, server_hostname=SNI, session=resume)
    info.update(alpn=conn.selected_alpn_protocol(), cipher=conn.cipher()[0],
                version=conn.version())
    for path, body, _ in exchanges:
        conn.sendall(http_request(path, body))
        client_app += http_request(path, body)
        _read_response(conn)
    info["session_reused"] = conn.session_reused
    tls_session = conn.session
    conn.unwrap().close()
    for t in threads:
        t.join(TIMEOUT_S)
    server_sock.close()
    relay_sock.close()
    if served["error"] is not None:
        raise served["error"]
    return Session(bytes(record["client"]), bytes(record["server"]), keylog, client_app,
                   served["app"], info, tls_session, record["chunks"])


def run_session_subprocess(tmp: Path, cert, suite: str) -> Session:
    """run_session in a fresh interpreter whose OpenSSL config allows only TLS 1.3 ``suite``."""
    conf = tmp / "openssl.cnf"
    conf.write_text("openssl_conf = default_conf\n[default_conf]\nssl_conf = ssl_sect\n"
                    "[ssl_sect]\nsystem_default = system_default_sect\n"
                    f"[system_default_sect]\nCiphersuites = {suite}\n")
    env = {**os.environ, "OPENSSL_CONF": str(conf)}
    args = json.dumps({"tmp": str(tmp), "cert": [str(c) for c in cert]})
    subprocess.run([sys.executable, __file__, args], env=env, check=True, timeout=60)
    info = json.loads((tmp / "info.json").read_text())
    return Session((tmp / "client.bin").read_bytes(), (tmp / "server.bin").read_bytes(),
                   tmp / "keys.log", (tmp / "client_app.bin").read_bytes(),
                   (tmp / "server_app.bin").read_bytes(), info)


def parse_both(session: Session, *, keep: bool = True):
    """(client parser, client records, server parser, server records), each fed in one piece."""
    cp = TlsRecordParser("client", keep_application_data=keep)
    sp = TlsRecordParser("server", keep_application_data=keep)
    return cp, cp.feed(session.client_bytes, 0), sp, sp.feed(session.server_bytes, 0)


# ----------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    return {"ec": make_cert(d, "ec"), "rsa": make_cert(d, "rsa")}


def records_of(records, ctype):
    return [r for r in records if r.content_type == ctype]


def first_after_ccs(records):
    i = next(i for i, r in enumerate(records) if r.content_type == tls.CHANGE_CIPHER_SPEC)
    return records[i + 1]


def check_contiguous(records, stream: bytes) -> None:
    assert records[0].start == 0 and records[-1].end == len(stream)
    for a, b in zip(records, records[1:]):
        assert a.end == b.start
    for r in records:
        assert r.end - r.start == r.length + 5
        assert stream[r.start] == r.content_type


def check_plaintext(dc, session: Session) -> None:
    assert dc.client.ok and dc.server.ok
    assert dc.client.plaintext.data() == session.client_app
    assert dc.server.plaintext.data() == session.server_app


# ------------------------------------------------------------------------- record layer, 1.2/1.3

@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_records_tile_each_stream_and_do_not_depend_on_chunking(tmp_path, certs, version):
    s = run_session(tmp_path, cert=certs["ec"], version=version)
    cp, cr, sp, sr = parse_both(s, keep=False)
    check_contiguous(cr, s.client_bytes)
    check_contiguous(sr, s.server_bytes)
    assert all(r.payload is None for r in cr + sr if r.content_type == tls.APPLICATION_DATA)
    # Fed like TCP segments of 1448 bytes: the same records and messages.
    chunked = TlsRecordParser("server")
    got = []
    for off in range(0, len(s.server_bytes), 1448):
        got += chunked.feed(s.server_bytes[off:off + 1448], off)
    assert got == sr and chunked.messages == sp.messages and not chunked.incomplete


# ------------------------------------------------------------------------------------ TLS 1.3

def test_tls13_session_handshake_and_decryption(tmp_path, certs):
    s = run_session(tmp_path, cert=certs["ec"], version="1.3")
    cp, cr, sp, sr = parse_both(s)
    keylog = parse_keylog(s.keylog)

    plain = assemble_tls(cr, sr, cp.messages, sp.messages)
    assert (plain.version, plain.cipher_suite_name) == ("TLS 1.3", "TLS_AES_256_GCM_SHA384")
    assert plain.sni == SNI and plain.resumed is False and not plain.hello_retry
    assert plain.client_random in keylog
    assert plain.handshake_start == 0 == cr[0].start
    first_protected = records_of(cr, tls.APPLICATION_DATA)[0]
    assert (plain.handshake_end, plain.handshake_end_dir) == (first_protected.end, "client")
    assert plain.handshake_end_inferred
    assert (plain.alpn, plain.alpn_inferred) == ("http/1.1", True)  # the only offer
    assert plain.app_records_server_inferred

    dc = decrypt_connection(cr, sr, cp.messages, sp.messages, keylog)
    exact = dc.session
    check_plaintext(dc, s)
    assert (exact.handshake_end, exact.handshake_end_inferred) == (first_protected.end, False)
    assert (exact.alpn, exact.alpn_inferred) == ("http/1.1", False)
    assert [m.name for m in dc.server.messages][:4] == [
        "encrypted_extensions", "certificate", "certificate_verify", "finished"]
    assert any(m.name == "new_session_ticket" for m in dc.server.messages)
    # Application records: exactly the records that carried the plaintext.
    for direction, records in (("client", exact.app_records_client),
                               ("server", exact.app_records_server)):
        carried = sorted({(p.record_start, p.record_end) for p in
                          getattr(dc, direction).plaintext.pieces})
        assert [(a, b) for a, b, _ in records] == carried
    assert not exact.app_records_server_inferred
    assert len(plain.app_records_server) > len(exact.app_records_server)  # flight + tickets
    assert {(a.direction, a.name, a.level) for a in exact.alerts} == {
        ("client", "close_notify", 1), ("server", "close_notify", 1)}
    # Without keys the closing alerts are recognised by size only, and flagged.
    assert [(a.direction, a.level, a.inferred) for a in plain.alerts] == [
        ("client", None, True), ("server", None, True)]
    assert [(a.start, a.end) for a in plain.alerts] == [(a.start, a.end) for a in exact.alerts]


def test_tls13_to_record_span_maps_every_plaintext_byte(tmp_path, certs):
    s = run_session(tmp_path, cert=certs["ec"], version="1.3")
    cp, cr, sp, sr = parse_both(s)
    dc = decrypt_connection(cr, sr, cp.messages, sp.messages, parse_keylog(s.keylog))
    stream = dc.server.plaintext
    starts = {r.start: r for r in sr}
    for p in stream.pieces:
        for off in (p.plain_start, p.plain_end - 1):
            a, b = stream.to_record_span(off)
            assert starts[a].end == b and starts[a].content_type == tls.APPLICATION_DATA
    assert b"".join(c for _, c in stream.chunks()) == s.server_app
    assert [o for o, _ in stream.chunks()] == [p.plain_start for p in stream.pieces]
    # The big response spans several records: its last byte maps to a later record.
    big = s.server_app.index(b"0.125")
    assert stream.to_record_span(big) != stream.to_record_span(big + 30000)


def run_suite_13(tmp_path, certs, suite):
    s = run_session_subprocess(tmp_path, certs["ec"], suite)
    cp, cr, sp, sr = parse_both(s)
    dc = decrypt_connection(cr, sr, cp.messages, sp.messages, parse_keylog(s.keylog))
    assert s.info["cipher"] == suite and dc.session.cipher_suite_name == suite
    check_plaintext(dc, s)
    assert dc.session.handshake_end == records_of(cr, tls.APPLICATION_DATA)[0].end


@pytest.mark.parametrize("suite", ["TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256",
                                   "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"])
def test_tls13_other_suites_via_openssl_config(tmp_path, certs, suite):
    run_suite_13(tmp_path, certs, suite)


# ------------------------------------------------------------------------------------ TLS 1.2

TLS12_SUITES = [  # (OpenSSL name, certificate, IANA name)
    ("ECDHE-ECDSA-AES128-GCM-SHA256", "ec", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
    ("ECDHE-ECDSA-AES256-GCM-SHA384", "ec", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
    ("ECDHE-ECDSA-CHACHA20-POLY1305", "ec", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
    ("ECDHE-ECDSA-AES128-CCM", "ec", "TLS_ECDHE_ECDSA_WITH_AES_128_CCM"),
    ("ECDHE-ECDSA-AES256-CCM8", "ec", "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8"),
    ("ECDHE-RSA-AES256-GCM-SHA384", "rsa", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    ("ECDHE-RSA-CHACHA20-POLY1305", "rsa", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
    ("AES128-GCM-SHA256", "rsa", "TLS_RSA_WITH_AES_128_GCM_SHA256"),
]


@pytest.mark.parametrize("openssl_name,cert,iana", TLS12_SUITES)
def test_tls12_suites_decrypt_exactly(tmp_path, certs, openssl_name, cert, iana):
    s = run_session(tmp_path, cert=certs[cert], version="1.2", ciphers=openssl_name)
    assert s.info["cipher"] == openssl_name
    cp, cr, sp, sr = parse_both(s)
    dc = decrypt_connection(cr, sr, cp.messages, sp.messages, parse_keylog(s.keylog))
    ses = dc.session
    assert (ses.version, ses.cipher_suite_name, ses.resumed) == ("TLS 1.2", iana, False)
    check_plaintext(dc, s)
    # Full handshake: the last Finished is the server's record right after its CCS.
    finished = first_after_ccs(sr)
    assert (ses.handshake_end, ses.handshake_end_dir) == (finished.end, "server")
    assert not ses.handshake_end_inferred
    assert [m.name for m in dc.server.messages] == ["finished"]
    assert dc.server.messages[0].start == finished.start
    assert dc.server.messages[0].fields["verify_data_length"] == 12
    assert [m.name for m in cp.messages] == ["client_hello", "client_key_exchange",
                                             "encrypted_handshake"]


def test_tls12_without_keys_still_gives_the_handshake(tmp_path, certs):
    s = run_session(tmp_path, cert=certs["ec"], version="1.2",
                    ciphers="ECDHE-ECDSA-AES128-GCM-SHA256")
    cp, cr, sp, sr = parse_both(s, keep=False)
    ses = assemble_tls(cr, sr, cp.messages, sp.messages)
    assert (ses.alpn, ses.alpn_inferred, ses.sni) == ("http/1.1", False, SNI)
    assert ses.handshake_end == first_after_ccs(sr).end
    assert [m.name for m in sp.messages] == ["server_hello", "certificate", "server_key_exchange",
                                             "server_hello_done", "new_session_ticket",
                                             "encrypted_handshake"]
    assert [a for a, _, _ in ses.app_records_client] == [
        r.start for r in records_of(cr, tls.APPLICATION_DATA)]
    assert [(a.level, a.encrypted) for a in ses.alerts] == [(None, True), (None, True)]


# --------------------------------------------------------------------------------------- ALPN

@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_alpn_h2_negotiated(tmp_path, certs, version):
    s = run_session(tmp_path, cert=certs["ec"], version=version, client_alpn=("h2", "http/1.1"),
                    server_alpn=("h2", "http/1.1"))
    assert s.info["alpn"] == "h2"
    cp, cr, sp, sr = parse_both(s)
    plain = assemble_tls(cr, sr, cp.messages, sp.messages)
    assert plain.alpn_offered == ("h2", "http/1.1")
    # TLS 1.2: ServerHello says it; TLS 1.3: hidden in EncryptedExtensions, two offers, unknown.
    assert plain.alpn == ("h2" if version == "1.2" else None)
    dc = decrypt_connection(cr, sr, cp.messages, sp.messages, parse_keylog(s.keylog))
    assert (dc.session.alpn, dc.session.alpn_inferred) == ("h2", False)


def test_no_alpn_when_the_server_ignores_it(tmp_path, certs):
    s = run_session(tmp_path, cert=certs["ec"], version="1.3", client_alpn=("h2", "http/1.1"),
                    server_alpn=None)
    cp, cr, sp, sr = parse_both(s)
    dc = decrypt_connection(cr, sr, cp.messages, sp.messages, parse_keylog(s.keylog))
    assert s.info["alpn"] is None and dc.session.alpn is None


# --------------------------------------------------------------------------------- resumption

@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_resumed_session(tmp_path, certs, version):
    first = run_session(tmp_path, cert=certs["ec"], version=version, keylog_name="k1.log")
    # Same contexts are needed for resumption: rerun with the ticket of the first connection.
    again = run_session_resumed(tmp_path, certs["ec"], version)
    assert again.info["session_reused"]
    cp, cr, sp, sr = parse_both(again)
    dc = decrypt_connection(cr, sr, cp.messages, sp.messages, parse_keylog(again.keylog))
    ses = dc.session
    assert ses.resumed is True
    check_plaintext(dc, again)
    if version == "1.2":  # abbreviated: the client's Finished ends the handshake
        assert (ses.handshake_end, ses.handshake_end_dir) == (first_after_ccs(cr).end, "client")
        assert "certificate" not in [m.name for m in sp.messages]
    else:
        assert ses.handshake_end == records_of(cr, tls.APPLICATION_DATA)[0].end
        assert "certificate" not in [m.name for m in dc.server.messages]
    assert first.client_bytes != again.client_bytes


def run_session_resumed(tmp: Path, cert, version: str) -> Session:
    """Two connections sharing one client and one server context; returns the second."""
    tls_version = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(*cert)
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.load_verify_locations(cert[0])
    for ctx in (sctx, cctx):
        ctx.minimum_version = ctx.maximum_version = tls_version
    cctx.keylog_filename = str(tmp / "resumed.log")
    return _two_connections(sctx, cctx, tmp / "resumed.log")


def _one_connection(sctx, cctx, resume, record_out):
    server_sock = socket.create_server(("127.0.0.1", 0))
    relay_sock = socket.create_server(("127.0.0.1", 0))
    for s in (server_sock, relay_sock):
        s.settimeout(TIMEOUT_S)
    record = {"client": bytearray(), "server": bytearray(), "chunks": []}
    ex = DEFAULT_EXCHANGES[:1]
    served = {"app": b""}

    def serve():
        raw, _ = server_sock.accept()
        raw.settimeout(TIMEOUT_S)
        conn = sctx.wrap_socket(raw, server_side=True)
        _read_request(conn)
        conn.sendall(http_response(ex[0][2]))
        served["app"] = http_response(ex[0][2])
        if conn.recv(1) == b"":
            conn.unwrap().close()

    threads = [threading.Thread(target=serve, daemon=True),
               threading.Thread(target=_relay, args=(relay_sock, server_sock.getsockname()[1],
                                                     record), daemon=True)]
    for t in threads:
        t.start()
    raw = socket.create_connection(relay_sock.getsockname(), timeout=TIMEOUT_S)
    conn = cctx.wrap_socket(raw, server_hostname=SNI, session=resume)
    conn.sendall(http_request(ex[0][0], ex[0][1]))
    _read_response(conn)
    reused, tls_session = conn.session_reused, conn.session
    conn.unwrap().close()
    for t in threads:
        t.join(TIMEOUT_S)
    server_sock.close()
    relay_sock.close()
    record_out.update(record, app=served["app"], reused=reused,
                      client_app=http_request(ex[0][0], ex[0][1]))
    return tls_session


def _two_connections(sctx, cctx, keylog: Path) -> Session:
    first: dict = {}
    ticket = _one_connection(sctx, cctx, None, first)
    second: dict = {}
    _one_connection(sctx, cctx, ticket, second)
    return Session(bytes(second["client"]), bytes(second["server"]), keylog,
                   second["client_app"], second["app"], {"session_reused": second["reused"]})


# -------------------------------------------------------------------- HelloRetryRequest (openssl)

def _openssl_server(cert, *args) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([_require("openssl"), "s_server", "-accept", "127.0.0.1:0",
                             "-cert", str(cert[0]), "-key", str(cert[1]), "-naccept", "1", *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        if line.startswith("ACCEPT"):
            return proc, int(line.rsplit(":", 1)[1])
    proc.kill()
    raise AssertionError("openssl s_server did not start")


def test_hello_retry_request_real(tmp_path, certs):
    # Python's client sends an X25519 key share; a P-256-only server must ask again (HRR).
    _require("openssl")
    server, port = _openssl_server(certs["ec"], "-groups", "P-256", "-www")
    relay_sock = socket.create_server(("127.0.0.1", 0))
    relay_sock.settimeout(TIMEOUT_S)
    record = {"client": bytearray(), "server": bytearray(), "chunks": []}
    relay = threading.Thread(target=_relay, args=(relay_sock, port, record), daemon=True)
    relay.start()
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.load_verify_locations(certs["ec"][0])
    cctx.keylog_filename = str(tmp_path / "hrr.log")
    request = b"GET / HTTP/1.0\r\n\r\n"
    received = b""
    try:
        with cctx.wrap_socket(socket.create_connection(relay_sock.getsockname(),
                                                       timeout=TIMEOUT_S),
                              server_hostname=SNI) as conn:
            conn.sendall(request)
            while chunk := conn.recv(65536):
                received += chunk
        relay.join(TIMEOUT_S)
    finally:
        server.kill()
        server.wait()
        relay_sock.close()
    s = Session(bytes(record["client"]), bytes(record["server"]), tmp_path / "hrr.log", request,
                received)
    cp, cr, sp, sr = parse_both(s)
    assert [m.name for m in sp.messages] == ["hello_retry_request", "server_hello"]
    assert [m.name for m in cp.messages] == ["client_hello", "client_hello"]
    assert sp.messages[0].fields["key_share_group"] == 23  # secp256r1
    dc = decrypt_connection(cr, sr, cp.messages, sp.messages, parse_keylog(s.keylog))
    ses = dc.session
    assert ses.hello_retry and ses.version == "TLS 1.3" and ses.handshake_start == 0
    assert ses.handshake_end == records_of(cr, tls.APPLICATION_DATA)[0].end
    assert received.startswith(b"HTTP/1.0 200 ok")
    check_plaintext(dc, s)


# --------------------------------------------------------------------- KeyUpdate (openssl client)

def test_key_update_both_directions_real(tmp_path, certs):
    """openssl s_client's "K" command sends a KeyUpdate asking the server to update too."""
    _require("openssl")
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(*certs["ec"])
    server_sock = socket.create_server(("127.0.0.1", 0))
    relay_sock = socket.create_server(("127.0.0.1", 0))
    for sock in (server_sock, relay_sock):
        sock.settimeout(TIMEOUT_S)
    record = {"client": bytearray(), "server": bytearray(), "chunks": []}
    got, first_line = bytearray(), threading.Event()

    def serve():
        raw, _ = server_sock.accept()
        raw.settimeout(TIMEOUT_S)
        conn = sctx.wrap_socket(raw, server_side=True)
        while b"two\n" not in got and (data := conn.recv(100)):
            got.extend(data)
            first_line.set()
        conn.sendall(b"reply\n")
        conn.unwrap().close()

    threads = [threading.Thread(target=serve, daemon=True),
               threading.Thread(target=_relay, args=(relay_sock, server_sock.getsockname()[1],
                                                     record), daemon=True)]
    for t in threads:
        t.start()
    keylog = tmp_path / "ku.log"
    client = subprocess.Popen(["openssl", "s_client", "-connect",
                               f"127.0.0.1:{relay_sock.getsockname()[1]}", "-servername", SNI,
                               "-keylogfile", str(keylog)],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        # s_client reads one command per read(): pace the lines.
        client.stdin.write(b"one\n")
        client.stdin.flush()
        assert first_line.wait(TIMEOUT_S)
        sent = len(record["client"])
        client.stdin.write(b"K\n")
        client.stdin.flush()
        deadline = time.monotonic() + TIMEOUT_S
        while len(record["client"]) == sent and time.monotonic() < deadline:
            time.sleep(0.01)
        client.stdin.write(b"two\n")
        client.stdin.flush()
        for t in threads:
            t.join(TIMEOUT_S)
        client.communicate(timeout=TIMEOUT_S)
    finally:
        client.kill()
        server_sock.close()
        relay_sock.close()
    s = Session(bytes(record["client"]), bytes(record["server"]), keylog, b"one\ntwo\n",
                b"reply\n")
    cp, cr, sp, sr = parse_both(s)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # OpenSSL's *_TRAFFIC_SECRET_N lines are accepted
        kl = parse_keylog(keylog)
    dc = decrypt_connection(cr, sr, cp.messages, sp.messages, kl)
    check_plaintext(dc, s)
    assert len(dc.client.key_updates) == 1 and len(dc.server.key_updates) == 1
    updates = [m for m in dc.client.messages if m.name == "key_update"]
    assert updates[0].fields["request_update"] is True
    # The derived next-generation secrets equal what OpenSSL logged.
    secrets = kl.secrets(dc.session.client_random)
    size = 48 if dc.session.cipher_suite == 0x1302 else 32
    hash_name = "sha384" if size == 48 else "sha256"
    for side in ("CLIENT", "SERVER"):
        assert hkdf_expand_label(secrets[f"{side}_TRAFFIC_SECRET_0"], b"traffic upd", b"", size,
                                 hash_name) == secrets[f"{side}_TRAFFIC_SECRET_N"]


# ------------------------------------------------------------------------ failures and inference

def test_wrong_key_warns_with_offset_and_falls_back(tmp_path, certs):
    s = run_session(tmp_path, cert=certs["ec"], version="1.3")
    cp, cr, sp, sr = parse_both(s)
    text = s.keylog.read_text()
    bad = "\n".join(line if "SERVER_TRAFFIC_SECRET_0" not in line else
                    line[:-4] + ("0000" if not line.endswith("0000") else "1111")
                    for line in text.splitlines())
    dc = decrypt_connection(cr, sr, cp.messages, sp.messages, parse_keylog(bad))
    first_app = next(r for r in sr if r.content_type == tls.APPLICATION_DATA and
                     r.start >= max(m.end for m in dc.server.messages if m.name == "finished"))
    assert dc.server.failed_at == first_app.start and not dc.server.ok
    assert [p.offset for p in dc.server.problems] == [first_app.start]
    assert f"stream offset {first_app.start}" in dc.server.problems[0].message
    assert dc.server.plaintext.data() == b""  # nothing invented
    check_client = dc.client.plaintext.data() == s.client_app
    assert check_client and dc.client.ok
    assert dc.session.alpn == "http/1.1"  # the handshake keys were right: EE was read


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_infer_exchanges_on_real_timing(tmp_path, certs, version):
    cipher = "ECDHE-ECDSA-AES128-GCM-SHA256" if version == "1.2" else None
    s = run_session(tmp_path, cert=certs["ec"], version=version, ciphers=cipher)
    cp, cr, sp, sr = parse_both(s, keep=False)
    ses = assemble_tls(cr, sr, cp.messages, sp.messages)
    exchanges = tls.infer_exchanges(s.timed("client", ses.app_records_client),
                                    s.timed("server", ses.app_records_server),
                                    version=ses.version, cipher_suite=ses.cipher_suite)
    requests = [http_request(p, b) for p, b, _ in DEFAULT_EXCHANGES]
    responses = [http_response(r) for _, _, r in DEFAULT_EXCHANGES]
    # The close_notify alerts are not application data (TLS 1.3: recognised by size).
    assert len(exchanges) == 3 and all(e.inferred and e.plaintext_sizes for e in exchanges)
    assert [e.request_bytes for e in exchanges] == [len(r) for r in requests]
    if version == "1.2":
        assert [e.response_bytes for e in exchanges] == [len(r) for r in responses]
    else:
        # TLS 1.3 without keys: session tickets sent after the request arrived join the first
        # response (documented); sent before it, they are dropped as a leading server burst.
        cp2, cr2, sp2, sr2 = parse_both(s)
        dc = decrypt_connection(cr2, sr2, cp2.messages, sp2.messages, parse_keylog(s.keylog))
        fin = next(m.end for m in dc.server.messages if m.name == "finished")
        tickets = [r.length - 17 for r in dc.server.records
                   if r.inner_type == tls.HANDSHAKE and r.start >= fin]
        joined = {sum(tickets[k:]) for k in range(len(tickets) + 1)}  # the later ones join
        assert tickets and exchanges[0].response_bytes - len(responses[0]) in joined
        assert [e.response_bytes for e in exchanges[1:]] == [len(r) for r in responses[1:]]
    for e in exchanges:
        assert e.req_t_first_ns <= e.req_t_last_ns <= e.resp_t_first_ns <= e.resp_t_last_ns


# ---------------------------------------------------------------- cross-check with Wireshark

def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{tool} is required when CI=true")
        pytest.skip(f"{tool} is not installed")
    return path


class Dumpcap:
    """dumpcap on loopback for one TCP port, started for real before the session begins."""

    def __init__(self, pcap: Path):
        self.pcap, self.proc = pcap, None
        self.probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.probe.bind(("127.0.0.1", 0))

    def start(self, port: int) -> None:
        self.port = port
        probe_port = self.probe.getsockname()[1]
        self.proc = subprocess.Popen([_require("dumpcap"), "-i", "lo", "-f",
                                      f"tcp port {port} or udp port {probe_port}",
                                      "-w", str(self.pcap)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # "Capturing on" comes before the filter is live: wait until probes reach the file.
        deadline, first_size = time.monotonic() + TIMEOUT_S, None
        while time.monotonic() < deadline and self.proc.poll() is None:
            self.probe.sendto(b"probe", ("127.0.0.1", probe_port))
            size = self.pcap.stat().st_size if self.pcap.exists() else None
            if first_size is None:
                first_size = size
            elif size is not None and size > first_size:
                return
            time.sleep(0.02)
        err = self.proc.stderr.read().decode() if self.proc.poll() is not None else "timeout"
        self.stop()
        if os.environ.get("CI") == "true":
            pytest.fail(f"dumpcap could not capture on lo: {err}")
        pytest.skip(f"no capture privileges on lo here: {err}")

    def drain(self) -> None:
        """Until a probe sent now is in the file, so every packet sent before it is too (they
        reached the capture socket before it); a fixed wait was 0.6 s, which a loaded host's
        dumpcap can take longer than."""
        marker = b"drain-%d" % time.monotonic_ns()
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            self.probe.sendto(marker, ("127.0.0.1", self.probe.getsockname()[1]))
            time.sleep(0.02)
            if marker in self.pcap.read_bytes():
                return
        raise AssertionError(f"dumpcap never wrote a probe sent {TIMEOUT_S} s ago")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.communicate(timeout=TIMEOUT_S)
        self.probe.close()


def tshark_fields(pcap: Path, port: int, fields: list[str], keylog: Path | None = None):
    """Rows (one per frame carrying TLS) of tshark's fields, aggregated per frame with ','."""
    cmd = [_require("tshark"), "-r", str(pcap), "-d", f"tcp.port=={port},tls", "-Y", "tls",
           "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"]
    if keylog is not None:
        cmd += ["-o", f"tls.keylog_file:{keylog}"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def _ints(cell: str) -> list[int]:
    return [int(x) for x in cell.split(",") if x]


@pytest.mark.tshark
@pytest.mark.capture
@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_matches_wireshark(tmp_path, certs, version):
    _require("tshark")
    cap = Dumpcap(tmp_path / "tls.pcapng")
    try:
        s = run_session(tmp_path, cert=certs["ec"], version=version, on_server_port=cap.start)
        cap.drain()      # dumpcap wrote the last packets
    finally:
        cap.stop()
    cp, cr, sp, sr = parse_both(s)
    dc = decrypt_connection(cr, sr, cp.messages, sp.messages, parse_keylog(s.keylog))
    ses = dc.session

    rows = tshark_fields(cap.pcap, cap.port, ["tcp.srcport", "tls.record.content_type",
                                              "tls.record.opaque_type", "tls.record.length",
                                              "tls.handshake.type",
                                              "tls.handshake.extensions_server_name",
                                              "tls.handshake.extensions_alpn_str"])
    theirs = {"client": [], "server": []}
    types = {"client": [], "server": []}
    for src, ctypes, opaque, lengths, hs_types, *_ in rows:
        side = "server" if int(src) == cap.port else "client"
        # Wireshark names a TLS 1.3 protected record's type "opaque_type"; in a frame the
        # plaintext records (hello, CCS) always precede the protected ones.
        theirs[side] += list(zip(_ints(ctypes) + _ints(opaque), _ints(lengths)))
        types[side] += _ints(hs_types)
    assert theirs["client"] == [(r.content_type, r.length) for r in cr]
    assert theirs["server"] == [(r.content_type, r.length) for r in sr]
    for side, parser in (("client", cp), ("server", sp)):
        assert types[side] == [m.msg_type for m in parser.messages if m.msg_type >= 0]
    assert {r[5] for r in rows if r[5]} == {ses.sni}
    alpn_cells = [r[6] for r in rows if r[6]]
    if version == "1.2":
        assert alpn_cells == ["http/1.1", "http/1.1"]  # offered, selected
    else:
        assert alpn_cells == ["http/1.1"]  # offered; the answer is encrypted

    keyed = tshark_fields(cap.pcap, cap.port, ["http.request.uri", "http.response.code",
                                               "tls.handshake.extensions_alpn_str"], s.keylog)
    uris = [u for row in keyed for u in row[0].split(",") if u]
    assert uris == [path for path, _, _ in DEFAULT_EXCHANGES]
    ours = [u.decode() for u in re.findall(rb"POST (\S+) HTTP/1.1\r\n",
                                           dc.client.plaintext.data())]
    assert ours == uris
    assert [c for row in keyed for c in row[1].split(",") if c] == ["200"] * 3
    assert ses.alpn in {c for row in keyed for c in row[2].split(",") if c}


if __name__ == "__main__":  # the subprocess of run_session_subprocess
    a = json.loads(sys.argv[1])
    out = Path(a["tmp"])
    s = run_session(out, cert=tuple(Path(c) for c in a["cert"]), version="1.3")
    for name, data in (("client.bin", s.client_bytes), ("server.bin", s.server_bytes),
                       ("client_app.bin", s.client_app), ("server_app.bin", s.server_app)):
        (out / name).write_bytes(data)
    (out / "info.json").write_text(json.dumps(s.info))
