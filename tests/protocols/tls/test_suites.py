"""The cipher-suite table (inferwire.protocols.tls.suites)."""
from __future__ import annotations

from inferwire.protocols import tls


def test_cipher_names_and_overheads():
    assert tls.cipher_suite_name(0x1303) == "TLS_CHACHA20_POLY1305_SHA256"
    assert tls.cipher_suite_name(0xABCD) == "0xABCD" and tls.cipher_suite_name(None) is None
    assert tls.record_overhead("TLS 1.3", 0x1301) == 17
    assert tls.record_overhead(0x0304, 0x1305) == 9          # CCM_8: 8-byte tag
    assert tls.record_overhead("TLS 1.2", 0xC02F) == 24      # explicit nonce + tag
    assert tls.record_overhead("TLS 1.2", 0xCCA8) == 16      # ChaCha20: no explicit nonce
    assert tls.record_overhead("TLS 1.2", 0xC013) is None    # CBC: unknown
    assert tls.record_overhead(None, None) is None
