"""inferwire.protocols.tls.keyschedule on published vectors: RFC 8448's TLS 1.3 traffic keys, the
TLS WG's TLS 1.2 PRF outputs, and a TLS 1.2 key block opening a record sealed with its parts."""
from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from inferwire.protocols.tls import CIPHER_SUITES, TlsRecord
from inferwire.protocols.tls.keyschedule import Keys13, hkdf_expand_label, tls12_keys, tls12_prf

H = bytes.fromhex


# ----------------------------------------------------------------------- published vectors

# RFC 8448 section 3 (TLS_AES_128_GCM_SHA256): traffic secret -> write key, write IV.
RFC8448 = [
    ("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38",
     "3fce516009c21727d0f2e4e86ee403bc", "5d313eb2671276ee13000b30"),     # server handshake
    ("b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21",
     "dbfaa693d1762c5b666af5d950258d01", "5bd3c71b836e0b76bb73265f"),     # client handshake
    ("a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643",
     "9f02283b6c9c07efc26bb9f2ac92e356", "cf782b88dd83549aadf1e984"),     # server application
]


@pytest.mark.parametrize("secret,key,iv", RFC8448)
def test_hkdf_expand_label_matches_rfc8448(secret, key, iv):
    assert hkdf_expand_label(H(secret), b"key", b"", 16, "sha256") == H(key)
    assert hkdf_expand_label(H(secret), b"iv", b"", 12, "sha256") == H(iv)


def test_tls12_prf_matches_published_vectors():
    # The TLS WG's P_SHA256 / P_SHA384 vectors (mail-archive tls/current/msg03416).
    out = tls12_prf(H("9bbe436ba940f017b17652849a71db35"), b"test label",
                    H("a0ba9f936cda311827a6f796ffd5198c"), 100, "sha256")
    assert out == H("e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a"
                    "6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab"
                    "4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701"
                    "87347b66")
    out = tls12_prf(H("b80b733d6ceefcdc71566ea48e5567df"), b"test label",
                    H("cd665cf6a8447dd6ff8b27555edb7465"), 148, "sha384")
    assert out[:64] == H("7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cd"
                         "e9ca0faa60be9fe34f82b1233c9146a0e534cb400fed2700884f9dc236f80edd")
    assert len(out) == 148


def test_tls12_key_block_is_cut_client_key_server_key_client_iv_server_iv():
    suite = CIPHER_SUITES[0xC02F]                       # AES-128-GCM: 16-byte keys, 4-byte salts
    master, cr, sr = b"\x01" * 48, b"\x02" * 32, b"\x03" * 32
    block = tls12_prf(master, b"key expansion", sr + cr, 2 * 16 + 2 * 4, "sha256")
    client, server = tls12_keys(suite, master, cr, sr)
    assert (client.iv, server.iv) == (block[32:36], block[36:40])
    explicit, plain = b"\x00" * 7 + b"\x05", b"GET / HTTP/1.1\r\n\r\n"
    aad = (0).to_bytes(8, "big") + bytes([23]) + b"\x03\x03" + len(plain).to_bytes(2, "big")
    sealed = explicit + AESGCM(block[:16]).encrypt(block[32:36] + explicit, plain, aad)
    record = TlsRecord(0, 5 + len(sealed), 23, 0x0303, len(sealed), sealed)
    assert client.open(record) == plain
    with pytest.raises(Exception):
        server.open(record)                             # the other direction's key


def test_tls13_key_update_derives_the_next_secret():
    suite, secret = CIPHER_SUITES[0x1301], b"\x07" * 32
    keys = Keys13(suite, secret)
    assert keys.updated().secret == hkdf_expand_label(secret, b"traffic upd", b"", 32, "sha256")
