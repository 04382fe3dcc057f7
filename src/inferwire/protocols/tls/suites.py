"""TLS cipher suites: the IANA numbers inferwire knows, the record protection each implies
(:class:`CipherSuite`), and the bytes a protected record adds to its plaintext."""
from __future__ import annotations

from typing import NamedTuple

from .records import VERSION_CODES

class CipherSuite(NamedTuple):
    """An IANA cipher suite and the record protection it implies.

    ``aead`` is "AES-GCM", "AES-CCM", "CHACHA20-POLY1305" or None (CBC and others: not
    decryptable here).  ``key_len``/``iv_len`` are bytes (``iv_len``: the fixed IV / salt),
    ``explicit_nonce_len`` the per-record nonce sent in TLS 1.2 records, ``tag_len`` the AEAD tag,
    ``hash`` the PRF/HKDF hash ("sha256" or "sha384").
    """

    code: int
    name: str
    aead: str | None
    key_len: int
    iv_len: int
    explicit_nonce_len: int
    tag_len: int
    hash: str
    tls13: bool


def _suites() -> dict[int, CipherSuite]:
    t13 = [(0x1301, "TLS_AES_128_GCM_SHA256", "AES-GCM", 16, 16, "sha256"),
           (0x1302, "TLS_AES_256_GCM_SHA384", "AES-GCM", 32, 16, "sha384"),
           (0x1303, "TLS_CHACHA20_POLY1305_SHA256", "CHACHA20-POLY1305", 32, 16, "sha256"),
           (0x1304, "TLS_AES_128_CCM_SHA256", "AES-CCM", 16, 16, "sha256"),
           (0x1305, "TLS_AES_128_CCM_8_SHA256", "AES-CCM", 16, 8, "sha256")]
    out = {c: CipherSuite(c, n, a, k, 12, 0, t, h, True) for c, n, a, k, t, h in t13}
    aead12 = [
        (0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256", "AES-GCM", 16, 16, "sha256"),
        (0x009D, "TLS_RSA_WITH_AES_256_GCM_SHA384", "AES-GCM", 32, 16, "sha384"),
        (0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "AES-GCM", 16, 16, "sha256"),
        (0x009F, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "AES-GCM", 32, 16, "sha384"),
        (0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "AES-GCM", 16, 16, "sha256"),
        (0xC02C, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "AES-GCM", 32, 16, "sha384"),
        (0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "AES-GCM", 16, 16, "sha256"),
        (0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "AES-GCM", 32, 16, "sha384"),
        (0xC09C, "TLS_RSA_WITH_AES_128_CCM", "AES-CCM", 16, 16, "sha256"),
        (0xC09D, "TLS_RSA_WITH_AES_256_CCM", "AES-CCM", 32, 16, "sha256"),
        (0xC09E, "TLS_DHE_RSA_WITH_AES_128_CCM", "AES-CCM", 16, 16, "sha256"),
        (0xC09F, "TLS_DHE_RSA_WITH_AES_256_CCM", "AES-CCM", 32, 16, "sha256"),
        (0xC0A0, "TLS_RSA_WITH_AES_128_CCM_8", "AES-CCM", 16, 8, "sha256"),
        (0xC0A1, "TLS_RSA_WITH_AES_256_CCM_8", "AES-CCM", 32, 8, "sha256"),
        (0xC0AC, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM", "AES-CCM", 16, 16, "sha256"),
        (0xC0AD, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM", "AES-CCM", 32, 16, "sha256"),
        (0xC0AE, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", "AES-CCM", 16, 8, "sha256"),
        (0xC0AF, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8", "AES-CCM", 32, 8, "sha256"),
    ]
    out.update({c: CipherSuite(c, n, a, k, 4, 8, t, h, False) for c, n, a, k, t, h in aead12})
    chacha12 = [(0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
                (0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
                (0xCCAA, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256")]
    out.update({c: CipherSuite(c, n, "CHACHA20-POLY1305", 32, 12, 0, 16, "sha256", False)
                for c, n in chacha12})
    cbc = [(0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA"), (0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA"),
           (0x003C, "TLS_RSA_WITH_AES_128_CBC_SHA256"),
           (0x003D, "TLS_RSA_WITH_AES_256_CBC_SHA256"),
           (0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
           (0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA"),
           (0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA"),
           (0xC009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"),
           (0xC00A, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"),
           (0xC013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
           (0xC014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"),
           (0xC023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"),
           (0xC024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"),
           (0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"),
           (0xC028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384")]
    out.update({c: CipherSuite(c, n, None, 0, 0, 0, 0, "sha256", False) for c, n in cbc})
    return out


CIPHER_SUITES: dict[int, CipherSuite] = _suites()


def cipher_suite_name(code: int | None) -> str | None:
    """IANA name of a cipher suite code, ``"0x...."`` when unknown, None for None."""
    if code is None:
        return None
    suite = CIPHER_SUITES.get(code)
    return suite.name if suite else f"0x{code:04X}"


def record_overhead(version: str | int | None, cipher_suite: int | None) -> int | None:
    """Bytes each protected record adds to its plaintext, or None when unknown (CBC, no cipher).

    TLS 1.3: AEAD tag + 1 byte inner content type (padding is assumed absent: most stacks send
    none).  TLS 1.2: explicit nonce (8 for AES-GCM/CCM, 0 for ChaCha20-Poly1305) + tag.
    """
    suite = CIPHER_SUITES.get(cipher_suite) if cipher_suite is not None else None
    if suite is None or suite.aead is None:
        return None
    code = VERSION_CODES.get(version, version) if isinstance(version, str) else version
    if suite.tls13 or code == 0x0304:
        return suite.tag_len + 1
    return suite.explicit_nonce_len + suite.tag_len
