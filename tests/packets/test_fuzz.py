"""Fuzzing: random bytes and mutated captures give a table or a CaptureFormatError, nothing else,
and the table's invariants hold (columns line up, payload views stay inside the file, every
record is counted once)."""
from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inferwire.errors import CaptureFormatError
from inferwire.packets import read_packets

from . import craft

FUZZ = settings(max_examples=120, deadline=2000, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])

_SEG = craft.tcp(1, 2, payload=b"p" * 40)
_FRAMES = [
    craft.ethernet(craft.ipv4(body=_SEG)),
    craft.ethernet(craft.ipv6(body=_SEG), 0x86DD, vlans=[(0x8100, 3)]),
    craft.ethernet(craft.ipv6(body=_SEG, nh=0, ext=craft.ext_header(6, 1)), 0x86DD),
    craft.ethernet(craft.ipv4(body=b"u" * 12, proto=17)),
    craft.ethernet(craft.ipv4(body=_SEG, frag=0x2000)),
]
PCAP = craft.pcap([(i, i, f) for i, f in enumerate(_FRAMES)])
PCAP_BE_NS = craft.pcap([(i, i, f) for i, f in enumerate(_FRAMES)], order=">", nano=True)
PCAPNG = (craft.shb() + craft.idb(1, 0, tsresol=9, name="lo") + craft.idb(276)
          + b"".join(craft.epb(f, 10**18 + i) for i, f in enumerate(_FRAMES))
          + craft.spb(_FRAMES[0]) + craft.epb(craft.sll2(craft.ipv4(body=_SEG)), 5, iface=1)
          + craft.isb(0, 1, {4: 1, 5: 2}) + craft.shb(">") + craft.idb(0, order=">")
          + craft.epb(craft.null(craft.ipv4(body=_SEG)), 7, order=">"))
VALID = [PCAP, PCAP_BE_NS, PCAPNG]


@pytest.fixture(scope="module")
def capture_path(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "fuzz.cap"


def check(path, data: bytes):
    """Read ``data``: a CaptureFormatError or a table whose invariants hold."""
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            table = read_packets(path)
        except CaptureFormatError as exc:
            assert exc.path == str(path)
            return None
    with table:
        s, n = table.stats, len(table)
        assert all(len(getattr(table, c)) == n for c in
                   ("frame", "ts_ns", "iface", "src_lo", "dport", "seq", "flags", "payload_off"))
        assert s.packets == s.tcp_packets + s.non_tcp + s.fragments + s.header_cut + s.malformed
        assert s.tcp_packets == n and n <= s.packets
        assert np.all(np.diff(table.frame) > 0) and (n == 0 or table.frame[-1] <= s.packets)
        assert np.all((0 <= table.captured_len) & (table.captured_len <= table.payload_len))
        assert np.all(table.payload_off + table.captured_len <= len(data))
        assert np.all(table.sport < 65536) and np.all(table.seq < 2**32)
        assert set(np.unique(table.ip_version)) <= {4, 6}
        for i in range(min(n, 3)):
            assert len(table.payload(i)) == table.captured_len[i]
    return table


def test_valid_seeds_read_fully(capture_path):
    assert [len(check(capture_path, d)) for d in VALID] == [3, 3, 6]


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes(capture_path, data):
    check(capture_path, data)


@FUZZ
@given(st.sampled_from([struct.pack("<I", 0xA1B2C3D4), struct.pack(">I", 0xA1B23C4D),
                        b"\x0a\x0d\x0d\x0a"]), st.binary(max_size=400))
def test_random_bytes_after_a_valid_magic(capture_path, magic, data):
    check(capture_path, magic + data)


@FUZZ
@given(st.sampled_from(VALID), st.integers(0, 2000))
def test_truncations(capture_path, seed, cut):
    check(capture_path, seed[:cut % (len(seed) + 1)])


@FUZZ
@given(st.sampled_from(VALID),
       st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8))
def test_byte_mutations(capture_path, seed, edits):
    data = bytearray(seed)
    for pos, value in edits:
        data[pos % len(data)] = value
    check(capture_path, bytes(data))


@FUZZ
@given(st.sampled_from(VALID), st.integers(0, 10**6), st.sampled_from([0, 1, 0xFF, 0x7FFFFFFF,
                                                                       0xFFFFFFFF, 12, 28]))
def test_length_field_mutations(capture_path, seed, pos, value):
    data = bytearray(seed)
    at = (pos % (len(data) // 4)) * 4
    data[at:at + 4] = struct.pack("<I", value)
    check(capture_path, bytes(data))
