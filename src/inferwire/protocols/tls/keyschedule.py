"""TLS key schedules and record protection (pure: secrets in, keys out; records in, plaintext out).

TLS 1.3 (RFC 8446 7.1-7.3, 5.2-5.3): HKDF-Expand-Label over a traffic secret gives key and IV;
each record's nonce is the IV XOR its sequence number; the additional data is the record header;
a KeyUpdate moves to HKDF-Expand-Label(secret, "traffic upd").  TLS 1.2 AEAD suites: the key
block is PRF(master secret, "key expansion", server_random + client_random) with the suite's hash
(RFC 5246 6.3); AES-GCM/CCM nonces are the 4-byte salt + the 8-byte explicit nonce sent in the
record (RFC 5288, 6655), ChaCha20-Poly1305 nonces the 12-byte IV XOR the sequence number
(RFC 7905).
"""
from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from .records import TlsRecord
from .suites import CipherSuite

_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384}


def hkdf_expand_label(secret: bytes, label: bytes, context: bytes, length: int,
                      hash_name: str) -> bytes:
    """RFC 8446 7.1 HKDF-Expand-Label(secret, label, context, length)."""
    full = b"tls13 " + label
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + bytes([len(context)]) + context
    return HKDFExpand(_HASHES[hash_name](), length, info).derive(secret)


def tls12_prf(secret: bytes, label: bytes, seed: bytes, length: int, hash_name: str) -> bytes:
    """RFC 5246 5 PRF: P_hash(secret, label + seed) truncated to ``length`` bytes."""
    digest = getattr(hashlib, hash_name)
    seed = label + seed
    out, a = b"", seed
    while len(out) < length:
        a = hmac.new(secret, a, digest).digest()
        out += hmac.new(secret, a + seed, digest).digest()
    return out[:length]


def _aead(suite: CipherSuite, key: bytes):
    if suite.aead == "AES-GCM":
        return AESGCM(key)
    if suite.aead == "AES-CCM":
        return AESCCM(key, tag_length=suite.tag_len)
    return ChaCha20Poly1305(key)


def _xor_nonce(iv: bytes, seq: int) -> bytes:
    return (int.from_bytes(iv, "big") ^ seq).to_bytes(len(iv), "big")


class Keys13:
    """One TLS 1.3 traffic secret's record protection and its sequence number."""

    def __init__(self, suite: CipherSuite, secret: bytes):
        self.suite, self.secret, self.seq = suite, secret, 0
        self.aead = _aead(suite, hkdf_expand_label(secret, b"key", b"", suite.key_len, suite.hash))
        self.iv = hkdf_expand_label(secret, b"iv", b"", 12, suite.hash)

    def open(self, r: TlsRecord) -> bytes:
        aad = bytes([r.content_type]) + r.version.to_bytes(2, "big") + r.length.to_bytes(2, "big")
        inner = self.aead.decrypt(_xor_nonce(self.iv, self.seq), r.payload, aad)
        self.seq += 1
        return inner

    def updated(self) -> "Keys13":
        """The keys after a KeyUpdate (RFC 8446 7.2)."""
        size = 48 if self.suite.hash == "sha384" else 32
        return Keys13(self.suite, hkdf_expand_label(self.secret, b"traffic upd", b"", size,
                                                     self.suite.hash))


class Keys12:
    """One TLS 1.2 direction's AEAD record protection and its sequence number."""

    def __init__(self, suite: CipherSuite, key: bytes, iv: bytes):
        self.suite, self.iv, self.seq = suite, iv, 0
        self.aead = _aead(suite, key)

    def open(self, r: TlsRecord) -> bytes:
        s, payload = self.suite, r.payload
        if s.explicit_nonce_len:
            nonce, body = self.iv + payload[:s.explicit_nonce_len], payload[s.explicit_nonce_len:]
        else:
            nonce, body = _xor_nonce(self.iv, self.seq), payload
        plain_len = len(body) - s.tag_len
        if plain_len < 0:
            raise ValueError("record shorter than its nonce and tag")
        aad = (self.seq.to_bytes(8, "big") + bytes([r.content_type]) +
               r.version.to_bytes(2, "big") + plain_len.to_bytes(2, "big"))
        plain = self.aead.decrypt(nonce, body, aad)
        self.seq += 1
        return plain


def tls12_keys(suite: CipherSuite, master_secret: bytes, client_random: bytes,
               server_random: bytes) -> tuple[Keys12, Keys12]:
    """(client write, server write) protections from the TLS 1.2 key block (no MAC keys: AEAD)."""
    k, n = suite.key_len, suite.iv_len
    block = tls12_prf(master_secret, b"key expansion", server_random + client_random,
                      2 * k + 2 * n, suite.hash)
    return (Keys12(suite, block[:k], block[2 * k:2 * k + n]),
            Keys12(suite, block[k:2 * k], block[2 * k + n:2 * k + 2 * n]))
