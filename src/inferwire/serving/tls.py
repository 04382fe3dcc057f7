"""TLS for the embedded server: a self-signed certificate generator and the server contexts.

The generated certificate names ``localhost``, ``127.0.0.1`` and ``::1`` (so clients verify it by IP)
and is its own CA: pass the certificate file as the client's ``ca_cert``.  Key: ECDSA P-256.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from ..errors import ServerError
from ..files import open_private


@dataclass(frozen=True)
class TLSConfig:
    """Server certificate and key (PEM files); ``keylog_file`` makes the REST side write TLS
    secrets in SSLKEYLOGFILE format (gRPC's TLS stack cannot)."""
    cert_file: str
    key_file: str
    keylog_file: str | None = None


def generate_self_signed(directory: str | os.PathLike, *, common_name: str = "inferwire",
                         days: int = 30) -> TLSConfig:
    """Write ``server.crt`` and ``server.key`` (mode 0600) into ``directory``; returns their paths."""
    from cryptography import x509  # deferred: cryptography is heavy to import
    from cryptography.hazmat.primitives import hashes, serialization  # deferred: cryptography is heavy to import
    from cryptography.hazmat.primitives.asymmetric import ec  # deferred: cryptography is heavy to import
    from cryptography.x509.oid import NameOID  # deferred: cryptography is heavy to import

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    san = x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                       x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                       x509.IPAddress(ipaddress.ip_address("::1"))])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(san, critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = out / "server.crt", out / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return TLSConfig(str(cert_path), str(key_path))


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ServerError(f"cannot read TLS {what} {path}: {exc}") from exc


def rest_context(tls: TLSConfig) -> ssl.SSLContext:
    """Server-side SSLContext for the REST port (HTTP/1.1 only, as TF Serving's REST is)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ServerError(f"cannot load TLS certificate {tls.cert_file} / key {tls.key_file}: {exc}") from exc
    ctx.set_alpn_protocols(["http/1.1"])
    if tls.keylog_file:
        _private_keylog(tls.keylog_file)
        ctx.keylog_filename = tls.keylog_file
    return ctx


def _private_keylog(path: str) -> None:
    """Create the key log 0600 (or make an existing one 0600) before ssl appends secrets to it:
    whoever reads it can decrypt the captured traffic."""
    try:
        open_private(path, "ab").close()
    except OSError as exc:
        raise ServerError(f"cannot write the TLS key log {path}: {exc}") from exc


def grpc_credentials(tls: TLSConfig):
    """grpcio server credentials from the PEM files."""
    import grpc  # deferred: grpc is optional (serve/load)
    return grpc.ssl_server_credentials([(_read(tls.key_file, "key"), _read(tls.cert_file, "certificate"))])
