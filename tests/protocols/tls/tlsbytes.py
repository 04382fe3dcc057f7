"""TLS bytes for the byte-level tests: records, handshake messages, whole flights."""
from __future__ import annotations

import struct

from inferwire.protocols.tls import HRR_RANDOM, TlsRecordParser, assemble_tls


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
