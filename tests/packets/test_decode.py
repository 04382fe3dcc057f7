"""IPv4 / IPv6 / TCP header decoding: options, extension headers, fragments, odd lengths."""
from __future__ import annotations

import struct

import pytest

from . import craft
from .conftest import row

PAYLOAD = b"payload!"


def one(read_bytes, ip: bytes, **kw):
    return read_bytes(craft.pcap([(1, 0, craft.ethernet(ip, **kw))]))


def test_ipv4_options_and_tcp_options(read_bytes):
    ip = craft.ipv4("1.2.3.4", "5.6.7.8", craft.tcp(options=b"\x02\x04\x05\xb4\x01\x01\x04\x02",
                                                     payload=PAYLOAD), options=b"\x94\x04\0\0" * 3)
    table = one(read_bytes, ip)
    assert table.payload_off[0] == 24 + 16 + 14 + 32 + 28
    assert (table.payload_len[0], bytes(table.payload(0))) == (8, PAYLOAD)


@pytest.mark.parametrize("flags", [0x001, 0x002, 0x004, 0x008, 0x010, 0x020, 0x040, 0x080,
                                   0x100, 0x1FF, 0x012])
def test_tcp_flags_including_ns(read_bytes, flags):
    ip = craft.ipv4(body=craft.tcp(flags=flags & 0xFF, ns=bool(flags & 0x100)))
    assert one(read_bytes, ip).flags.tolist() == [flags]


def test_ipv6_extension_headers_are_skipped(read_bytes):
    seg = craft.tcp(80, 9999, seq=3, payload=PAYLOAD)
    ext = (craft.ext_header(43, 0)            # hop-by-hop -> routing
           + craft.ext_header(60, 1)          # routing (16 bytes) -> destination options
           + craft.ext_header(44, 0)          # destination options -> fragment
           + struct.pack(">BBHI", 6, 0, 0, 1))  # atomic fragment (offset 0, M=0) -> TCP
    table = one(read_bytes, craft.ipv6(body=seg, nh=0, ext=ext), ethertype=0x86DD)
    assert len(table) == 1 and table.stats.fragments == 0
    assert table.payload_off[0] == 24 + 16 + 14 + 40 + len(ext) + 20
    assert (table.payload_len[0], bytes(table.payload(0)), table.sport[0]) == (8, PAYLOAD, 80)


def test_ipv6_authentication_header(read_bytes):
    ah = bytes([6, 4]) + b"\0" * 22          # (4 + 2) * 4 = 24 bytes
    table = one(read_bytes, craft.ipv6(body=craft.tcp(payload=PAYLOAD), nh=51, ext=ah),
                ethertype=0x86DD)
    assert bytes(table.payload(0)) == PAYLOAD


@pytest.mark.parametrize("frag", [0x0001, 0x0008, 0x0009])   # M flag, offset 1, both
def test_ipv6_fragments_are_counted_and_skipped(read_bytes, frag):
    ext = struct.pack(">BBHI", 6, 0, frag, 1)
    table = one(read_bytes, craft.ipv6(body=craft.tcp(), nh=44, ext=ext), ethertype=0x86DD)
    assert (len(table), table.stats.fragments, table.stats.non_tcp) == (0, 1, 0)


@pytest.mark.parametrize("frag", [0x2000, 0x0001, 0x2010])    # MF, offset 8 bytes, both
def test_ipv4_fragments_are_counted_and_skipped(read_bytes, frag):
    table = one(read_bytes, craft.ipv4(body=craft.tcp(payload=PAYLOAD), frag=frag))
    assert (len(table), table.stats.fragments) == (0, 1)
    assert "1 IP fragments skipped (not reassembled)" in table.stats.warnings[0]


def test_dont_fragment_flag_is_not_a_fragment(read_bytes):
    assert len(one(read_bytes, craft.ipv4(body=craft.tcp(), frag=0x4000))) == 1


def test_non_tcp_protocols(read_bytes):
    data = craft.pcap([(1, 0, craft.ethernet(craft.ipv4(body=b"\0" * 8, proto=17))),
                       (1, 0, craft.ethernet(craft.ipv4(body=b"\0" * 8, proto=1))),
                       (1, 0, craft.ethernet(craft.ipv6(body=b"\0" * 8, nh=58), 0x86DD)),
                       (1, 0, craft.ethernet(craft.ipv6(body=b"", nh=59), 0x86DD))])
    table = read_bytes(data)
    assert (len(table), table.stats.non_tcp, table.stats.packets) == (0, 4, 4)


@pytest.mark.parametrize("ip", [
    bytes([0x44]) + craft.ipv4(body=craft.tcp())[1:],                                 # ihl 4
    bytes([0x55]) + craft.ipv4(body=craft.tcp())[1:],                                 # version 5
    craft.ipv4(body=craft.tcp(), total_len=30),          # IP length shorter than its TCP header
    craft.ipv4(body=craft.tcp())[:32] + bytes([0x40]) + craft.ipv4(body=craft.tcp())[33:],  # doff 4
])
def test_impossible_headers_are_malformed(read_bytes, ip):
    table = one(read_bytes, ip)
    assert (len(table), table.stats.malformed, table.stats.packets) == (0, 1, 1)
    assert "impossible IP/TCP header fields" in table.stats.warnings[0]


def test_zero_ip_length_from_segmentation_offload_uses_wire_length(read_bytes):
    big = b"B" * 3000
    table = read_bytes(craft.pcap([
        (1, 0, craft.ethernet(craft.ipv4(body=craft.tcp(payload=big), total_len=0))),
        (2, 0, craft.ethernet(craft.ipv6(body=craft.tcp(payload=big), payload_len=0), 0x86DD)),
        (3, 0, craft.ethernet(craft.ipv6(body=craft.tcp(payload=big), payload_len=0),
                              0x86DD)[:1000], 14 + 40 + 20 + 3000)]))
    assert table.payload_len.tolist() == [3000, 3000, 3000]
    assert table.captured_len.tolist() == [3000, 3000, 1000 - 74]


def test_ipv6_extension_header_cut_by_snaplen(read_bytes):
    frame = craft.ethernet(craft.ipv6(body=craft.tcp(), nh=0, ext=craft.ext_header(6, 2)),
                           0x86DD)
    table = read_bytes(craft.pcap([(1, 0, frame[:14 + 40 + 4], len(frame))]))
    assert (len(table), table.stats.header_cut) == (0, 1)


def test_addresses_are_ipv4_mapped_or_full_ipv6(read_bytes):
    table = read_bytes(craft.pcap([
        (1, 0, craft.ethernet(craft.ipv4("255.254.253.252", "0.0.0.1", craft.tcp()))),
        (1, 0, craft.ethernet(craft.ipv6("ffff::1", "fe80::1:2:3:4", craft.tcp()), 0x86DD))]))
    assert (table.src_hi[0], table.src_lo[0]) == (0, 0x0000FFFF_FFFEFDFC)
    assert (table.dst_hi[0], table.dst_lo[0]) == (0, 0x0000FFFF_00000001)
    assert (table.src_hi[1], table.src_lo[1]) == (0xFFFF << 48, 1)
    assert (table.dst_hi[1], table.dst_lo[1]) == (0xFE80 << 48, 0x0001_0002_0003_0004)
    assert [row(table, i)["src"] for i in range(2)] == ["255.254.253.252", "ffff::1"]
    assert table.src_hi.dtype.name == "uint64" and table.ip_version.dtype.name == "uint8"
