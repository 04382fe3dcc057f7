"""pcapng files: sections, interfaces and their time stamp resolutions, SPB, ISB, odd blocks."""
from __future__ import annotations

import struct
from decimal import Decimal

import numpy as np
import pytest
from scapy.all import IP, TCP, Ether, Raw
from scapy.utils import PcapNgWriter

from inferwire.errors import CaptureFormatError, InferwireWarning
from inferwire.packets import read_packets
from inferwire.packets.pcapng import ticks_to_ns

from . import craft
from .conftest import row


def pkt(sport: int, payload: bytes = b"data", src="10.0.0.1") -> bytes:
    return craft.ethernet(craft.ipv4(src, "10.0.0.2", craft.tcp(sport, 80, payload=payload)))


def test_scapy_written_pcapng(tmp_path, read_bytes):
    path = str(tmp_path / "s.pcapng")
    writer = PcapNgWriter(path)
    for i in range(3):
        p = Ether() / IP(src="192.168.0.1", dst="192.168.0.2", id=i) / \
            TCP(sport=1000 + i, dport=8501, seq=10 * i, ack=7, flags="A") / Raw(b"z" * i)
        p.time = Decimal(f"1700000000.{i:06d}")
        writer.write(p)
    writer.close()
    table = read_bytes((tmp_path / "s.pcapng").read_bytes(), ".pcapng")
    assert table.stats.file_format == "pcapng" and table.stats.packets == 3
    assert table.frame.tolist() == [1, 2, 3]
    assert table.ts_ns.tolist() == [1_700_000_000_000_000_000 + i * 1000 for i in range(3)]
    assert table.sport.tolist() == [1000, 1001, 1002] and table.seq.tolist() == [0, 10, 20]
    assert table.ip_id.tolist() == [0, 1, 2] and table.payload_len.tolist() == [0, 1, 2]
    assert [bytes(table.payload(i)) for i in range(3)] == [b"", b"z", b"zz"]


def test_two_interfaces_with_different_tsresol_and_tsoffset(read_bytes):
    data = (craft.shb()
            + craft.idb(1, 65535, name="eth0")                       # default: µs
            + craft.idb(101, 0, tsresol=0x80 | 20, tsoffset=1_600_000_000, name="tun0")
            + craft.epb(pkt(1), 1_700_000_000_123_456, iface=0)
            + craft.epb(craft.ipv4("10.9.9.9", "10.0.0.2", craft.tcp(2, 80)),
                        (100 << 20) + (1 << 19), iface=1)            # 100.5 s after the offset
            + craft.idb(1, 0, tsresol=9)                             # ns, defined late
            + craft.epb(pkt(3), 1_700_000_000_123_456_789, iface=2))
    table = read_bytes(data, ".pcapng")
    assert table.iface.tolist() == [0, 1, 2] and table.sport.tolist() == [1, 2, 3]
    assert table.ts_ns.tolist() == [1_700_000_000_123_456_000, 1_600_000_100_500_000_000,
                                    1_700_000_000_123_456_789]
    assert row(table, 1)["src"] == "10.9.9.9"
    assert table.stats.interfaces == [
        {"id": 0, "section": 0, "linktype": 1, "name": "eth0", "snaplen": 65535,
         "tsresol": 10**6, "tsoffset_s": 0},
        {"id": 1, "section": 0, "linktype": 101, "name": "tun0", "snaplen": 0,
         "tsresol": 2**20, "tsoffset_s": 1_600_000_000},
        {"id": 2, "section": 0, "linktype": 1, "name": None, "snaplen": 0,
         "tsresol": 10**9, "tsoffset_s": 0}]


@pytest.mark.parametrize("tsresol, ticks, expected", [
    (6, 1_700_000_000_000_001, 1_700_000_000_000_001_000),
    (9, 1_700_000_000_000_000_001, 1_700_000_000_000_000_001),
    (3, 1_700_000_000_123, 1_700_000_000_123_000_000),
    (0, 1_700_000_000, 1_700_000_000_000_000_000),
    (12, 17_000_000_000_001_999, 17_000_000_000_001),  # ps, rounded down to ns
    (0x80 | 0, 5, 5_000_000_000),
    (0x80 | 10, 1024 * 3 + 512, 3_500_000_000),
    (0x80 | 30, (7 << 30) + (1 << 29), 7_500_000_000),
    (0x80 | 40, (7 << 40) + (1 << 39), 7_500_000_000),   # exact Python path
    (25, 10**19 + 999_999, 1_000),                        # 1e19 ticks of 1e-25 s = 1 µs
])
def test_ticks_to_ns(tsresol, ticks, expected):
    assert ticks_to_ns(np.array([ticks], dtype=np.uint64), tsresol, 0).tolist() == [expected]


def test_ticks_to_ns_offset_and_overflow():
    ticks = np.array([1, 2**63], dtype=np.uint64)
    assert ticks_to_ns(ticks, 9, 10).tolist() == [10_000_000_001, -1]
    assert ticks_to_ns(np.array([2**64 - 1], dtype=np.uint64), 6, 0).tolist() == [-1]


def test_simple_packet_block_uses_snaplen_of_interface_0(read_bytes):
    full = pkt(7, b"0123456789")
    data = (craft.shb() + craft.idb(1, snaplen=len(full) - 4)
            + craft.spb(full[:-4], origlen=len(full))
            + craft.epb(pkt(8), 1_000_000, iface=0))
    table = read_bytes(data, ".pcapng")
    assert table.frame.tolist() == [1, 2] and table.sport.tolist() == [7, 8]
    assert table.ts_ns.tolist() == [-1, 1_000_000_000]   # an SPB has no time stamp
    assert (table.payload_len[0], table.captured_len[0]) == (10, 6)
    assert bytes(table.payload(0)) == b"012345" and table.stats.truncated == 1
    assert table.stats.warnings == [
        f"{table.path}: offset 48: 1 packet without a usable time stamp: 1 in simple packet "
        "blocks, which carry none; its time is left empty (first one here)"]


def test_interface_statistics_last_block_wins(read_bytes):
    data = (craft.shb() + craft.idb() + craft.idb(113)
            + craft.epb(pkt(1), 5)
            + craft.isb(0, 6, {4: 10, 5: 1, 6: 9, 7: 2})
            + craft.isb(0, 7, {4: 20, 5: 3, 6: 19, 7: 4})
            + craft.isb(1, 7, {5: 0}))
    table = read_bytes(data, ".pcapng")
    assert len(table) == 1 and table.stats.packets == 1
    assert table.stats.drops == {
        0: {"ifrecv": 20, "ifdrop": 3, "filteraccept": 19, "osdrop": 4},
        1: {"ifrecv": None, "ifdrop": 0, "filteraccept": None, "osdrop": None}}


def test_several_sections_with_both_byte_orders(read_bytes):
    data = (craft.shb("<") + craft.idb(1, tsresol=6, order="<")
            + craft.epb(pkt(1), 1_000_001, order="<")
            + craft.shb(">") + craft.idb(1, tsresol=9, order=">") + craft.idb(101, order=">")
            + craft.epb(pkt(2), 2_000_000_002, order=">")
            + craft.epb(craft.ipv4(body=craft.tcp(3)), 3_000_003, iface=1, order=">")
            + craft.block(0x0BAD, b"unknown block body", order=">")
            + craft.shb("<") + craft.idb(1, order="<")
            + craft.epb(pkt(4), 4_000_000, iface=0, order="<"))
    table = read_bytes(data, ".pcapng")
    assert table.sport.tolist() == [1, 2, 3, 4] and table.frame.tolist() == [1, 2, 3, 4]
    assert table.iface.tolist() == [0, 1, 2, 3]
    assert table.ts_ns.tolist() == [1_000_001_000, 2_000_000_002, 3_000_003_000, 4_000_000_000]
    assert [i["section"] for i in table.stats.interfaces] == [0, 1, 1, 2]
    assert table.stats.warnings == []


def test_skipped_blocks_nrb_dsb_custom_and_obsolete_packet_block(read_bytes):
    nrb = craft.block(4, struct.pack("<HH4s", 1, 4, bytes([10, 0, 0, 1])) + b"\0" * 4)
    dsb = craft.block(0x0A, struct.pack("<II", 0x544C534B, 4) + b"keys")
    custom = craft.block(0x00000BAD, struct.pack("<I", 32473) + b"custom")
    pb = craft.block(2, struct.pack("<HHIIII", 0, 0, 0, 2_000_000, len(pkt(9)), len(pkt(9)))
                     + pkt(9))
    data = craft.shb() + craft.idb() + nrb + dsb + custom + craft.epb(pkt(1), 1) + pb
    table = read_bytes(data, ".pcapng")
    assert table.sport.tolist() == [1, 9] and table.frame.tolist() == [1, 2]
    assert table.ts_ns.tolist() == [1000, 2_000_000_000]


def test_epb_with_unknown_interface_or_bad_caplen_is_malformed(read_bytes):
    bad_caplen = bytearray(craft.epb(pkt(2), 1))
    struct.pack_into("<I", bad_caplen, 20, 4000)
    data = craft.shb() + craft.idb() + craft.epb(pkt(1), 1, iface=5) + bad_caplen \
        + craft.epb(pkt(3), 1)
    table = read_bytes(data, ".pcapng")
    assert table.sport.tolist() == [3] and table.frame.tolist() == [3]
    assert table.stats.malformed == 2 and table.stats.packets == 3
    first = len(craft.shb() + craft.idb())
    assert table.stats.warnings == [
        f"{table.path}: offset {first}: enhanced packet block with unknown interface id or "
        "caplen past its end (2 blocks like this)"]


def test_epb_before_the_idb_of_its_interface_is_malformed(read_bytes):
    data = (craft.shb() + craft.idb() + craft.epb(pkt(1), 1, iface=1) + craft.idb(101)
            + craft.epb(craft.ipv4(body=craft.tcp(2)), 1, iface=1))
    table = read_bytes(data, ".pcapng")
    assert table.sport.tolist() == [2] and table.frame.tolist() == [2]
    assert table.stats.malformed == 1


def test_too_short_epb_is_malformed(read_bytes):
    data = craft.shb() + craft.idb() + craft.block(6, b"\0" * 8) + craft.epb(pkt(1), 1)
    table = read_bytes(data, ".pcapng")
    assert table.frame.tolist() == [2] and table.stats.malformed == 1
    assert "enhanced packet block too short (20 bytes)" in table.stats.warnings[0]


@pytest.mark.parametrize("cut", [2, 8, 20, 40])
def test_file_cut_mid_block(tmp_path, cut):
    head = craft.shb() + craft.idb() + craft.epb(pkt(1), 1)
    path = tmp_path / "cut.pcapng"
    path.write_bytes(head + craft.epb(pkt(2), 2)[:cut])
    with pytest.warns(InferwireWarning, match=f"offset {len(head)}: file ends inside a block"):
        table = read_packets(path)
    assert table.sport.tolist() == [1]
    table.close()


@pytest.mark.parametrize("blen", [8, 30, 2**29])
def test_impossible_block_length_later_warns_and_stops(read_bytes, blen):
    head = craft.shb() + craft.idb() + craft.epb(pkt(1), 1)
    data = head + struct.pack("<II", 6, blen) + b"\0" * 64 + craft.epb(pkt(2), 2)
    table = read_bytes(data, ".pcapng")
    assert table.sport.tolist() == [1]
    assert table.stats.warnings == [f"{table.path}: offset {len(head)}: impossible "
                                    f"block_total_length {blen}; stopped reading there"]


def test_second_section_with_bad_byte_order_magic_stops(read_bytes):
    bad = bytearray(craft.shb())
    bad[8:12] = b"\xde\xad\xbe\xef"
    head = craft.shb() + craft.idb() + craft.epb(pkt(1), 1)
    table = read_bytes(head + bytes(bad) + craft.idb() + craft.epb(pkt(2), 2), ".pcapng")
    assert table.sport.tolist() == [1]
    assert "bad byte-order magic deadbeef" in table.stats.warnings[0]


@pytest.mark.parametrize("mutate, offset, field", [
    (lambda b: b[:20], 20, "block_total_length"),
    (lambda b: b[:8] + b"\xde\xad\xbe\xef" + b[12:], 0, "byte_order_magic"),
    (lambda b: b[:4] + struct.pack("<I", 13) + b[8:], 0, "block_total_length"),
    (lambda b: b[:4] + struct.pack("<I", 2**30) + b[8:], 0, "block_total_length"),
    (lambda b: b[:4] + struct.pack("<I", 4000) + b[8:], 0, "block_total_length"),
    (lambda b: b[:12] + struct.pack("<H", 2) + b[14:], 0, "major_version"),
])
def test_bad_section_header_raises(tmp_path, mutate, offset, field):
    path = tmp_path / "bad.pcapng"
    path.write_bytes(mutate(craft.shb() + craft.idb()))
    with pytest.raises(CaptureFormatError) as info:
        read_packets(path)
    assert (info.value.path, info.value.offset, info.value.field) == (str(path), offset, field)


def test_bad_option_length_is_a_warning(read_bytes):
    idb = bytearray(craft.idb(tsresol=9))
    struct.pack_into("<H", idb, 18, 200)      # the if_tsresol option claims 200 bytes
    table = read_bytes(craft.shb() + bytes(idb) + craft.epb(pkt(1), 1_000), ".pcapng")
    assert table.ts_ns.tolist() == [1_000_000]   # default µs resolution kept
    assert "option 9 length 200 runs past its block" in table.stats.warnings[0]


def test_section_comments_are_kept_in_file_order(read_bytes):
    seg = craft.ethernet(craft.ipv4(body=craft.tcp(1, 2, payload=b"x")))
    end = craft.option(0, b"")
    data = (craft.shb(options=craft.option(1, b"inferwire probe port 4321") + end)
            + craft.idb(1) + craft.epb(seg, 1)
            + craft.shb(">", options=craft.option(1, "zweite Sektion ü".encode(), ">")
                        + craft.option(0, b"", ">"))
            + craft.idb(1, order=">") + craft.epb(seg, 2, order=">"))
    table = read_bytes(data, ".pcapng")
    assert table.stats.comments == ["inferwire probe port 4321", "zweite Sektion ü"]
    assert len(table) == 2
