"""Classic pcap files: magics, byte orders, time stamps, cut files, bad headers."""
from __future__ import annotations

import struct
from decimal import Decimal

import pytest
from scapy.all import ARP, IP, TCP, UDP, Ether, IPv6, Raw
from scapy.utils import wrpcap

from inferwire.errors import CaptureFormatError, InferwireWarning
from inferwire.packets import read_packets

from . import craft
from .conftest import row

PKT = craft.ethernet(craft.ipv4("10.1.2.3", "10.4.5.6", craft.tcp(
    40000, 8501, seq=0xFFFFFFF0, ack=0x80000001, flags=0x18, window=0xFFFF, payload=b"hello")))


def test_scapy_written_pcap_every_column(tmp_path, read_bytes):
    pkts = [
        Ether() / IP(src="127.0.0.1", dst="127.0.0.2", id=4242) /
        TCP(sport=51000, dport=8500, seq=1000, ack=2000, flags="PA", window=300) / Raw(b"abc"),
        Ether() / ARP(),
        Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=53, dport=53) / Raw(b"x"),
        Ether() / IPv6(src="2001:db8::1", dst="::1") /
        TCP(sport=443, dport=60000, seq=4294967295, ack=0, flags="SEC", window=65535),
    ]
    times = ["1700000000.000001", "1700000000.5", "1700000001.25", "1800000000.999999"]
    for p, t in zip(pkts, times):
        p.time = Decimal(t)
    wrpcap(str(tmp_path / "s.pcap"), pkts)
    table = read_bytes((tmp_path / "s.pcap").read_bytes())
    assert len(table) == 2
    assert row(table, 0) == {
        "frame": 1, "ts_ns": 1_700_000_000_000_001_000, "iface": 0, "ip_version": 4,
        "sport": 51000, "dport": 8500, "seq": 1000, "ack": 2000, "flags": 0x18, "window": 300,
        "ip_id": 4242, "payload_len": 3, "captured_len": 3, "payload_off": 24 + 16 + 54,
        "src": "127.0.0.1", "dst": "127.0.0.2", "payload": b"abc"}
    r = row(table, 1)
    assert (r["frame"], r["ts_ns"], r["ip_version"], r["src"], r["dst"]) == (
        4, 1_800_000_000_999_999_000, 6, "2001:db8::1", "::1")
    assert (r["sport"], r["dport"], r["seq"], r["ack"], r["flags"], r["window"], r["ip_id"],
            r["payload_len"], r["captured_len"]) == (443, 60000, 4294967295, 0, 0xC2, 65535, -1,
                                                     0, 0)
    s = table.stats
    assert (s.file_format, s.packets, s.tcp_packets, s.non_tcp, s.fragments, s.truncated) == (
        "pcap", 4, 2, 2, 0, 0)
    assert s.interfaces == [{"id": 0, "section": 0, "linktype": 1, "name": None,
                             "snaplen": 65535, "tsresol": 10**6, "tsoffset_s": 0}]
    assert s.drops == {} and s.warnings == []


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_magic_byte_order_and_resolution(read_bytes, order, nano):
    frac = 123456789 if nano else 123456
    data = craft.pcap([(1700000000, frac, PKT), (4000000000, 0, PKT)], order=order, nano=nano)
    table = read_bytes(data)
    assert table.ts_ns.tolist() == [1_700_000_000_123_456_789 if nano else
                                    1_700_000_000_123_456_000, 4_000_000_000 * 10**9]
    assert table.stats.interfaces[0]["tsresol"] == (10**9 if nano else 10**6)
    r = row(table, 0)
    assert (r["src"], r["dst"], r["sport"], r["dport"], r["seq"], r["ack"], r["window"]) == (
        "10.1.2.3", "10.4.5.6", 40000, 8501, 0xFFFFFFF0, 0x80000001, 0xFFFF)
    assert r["payload"] == b"hello" and table.frame.tolist() == [1, 2]


def test_modified_pcap_24_byte_record_headers(read_bytes):
    header = struct.pack("<IHHiIII", 0xA1B2CD34, 2, 4, 0, 0, 65535, 1)
    rec = struct.pack("<IIII", 5, 6, len(PKT), len(PKT)) + b"\x00" * 8 + PKT
    table = read_bytes(header + rec + rec)
    assert table.ts_ns.tolist() == [5_000_006_000] * 2
    assert row(table, 1)["payload"] == b"hello"


def test_ethernet_padding_is_not_payload(read_bytes):
    syn = craft.ethernet(craft.ipv4(body=craft.tcp(flags=0x02)))
    table = read_bytes(craft.pcap([(1, 0, syn + b"\x00" * 6)]))
    assert (table.payload_len[0], table.captured_len[0]) == (0, 0)


def test_snaplen_cut_payload_and_cut_headers(read_bytes):
    data = craft.pcap([
        (1, 0, PKT[:-2], len(PKT)),            # payload cut: 3 of 5 bytes
        (2, 0, PKT[:14 + 20 + 10], len(PKT)),   # TCP header cut
        (3, 0, PKT[:14 + 8], len(PKT)),         # IP header cut
        (4, 0, PKT[:10], len(PKT)),             # Ethernet header cut
        (5, 0, PKT),
    ], snaplen=64)
    table = read_bytes(data)
    assert table.frame.tolist() == [1, 5]
    assert table.payload_len.tolist() == [5, 5] and table.captured_len.tolist() == [3, 5]
    assert bytes(table.payload(0)) == b"hel"
    s = table.stats
    assert (s.packets, s.tcp_packets, s.truncated, s.header_cut, s.non_tcp) == (5, 2, 1, 3, 0)
    second_record = 24 + 16 + len(PKT) - 2 + 16
    assert s.warnings == [f"{table.path}: offset {second_record}: 3 packets skipped: "
                          "link/IP/TCP headers cut by the snaplen (first one here)"]


@pytest.mark.parametrize("cut", [1, 15, 16, 30])
def test_file_cut_mid_record_keeps_complete_records(tmp_path, cut):
    data = craft.pcap([(1, 0, PKT), (2, 0, PKT)])
    second = 24 + 16 + len(PKT)
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[:second + cut])
    with pytest.warns(InferwireWarning, match=f"offset {second}: file ends inside a record"):
        table = read_packets(path)
    assert table.frame.tolist() == [1] and table.stats.packets == 1
    assert table.stats.warnings[0].startswith(f"{path}: offset {second}:")
    table.close()


def test_header_only_file_is_empty_table(read_bytes):
    table = read_bytes(craft.pcap([]))
    assert len(table) == 0 and table.stats.packets == 0 and table.stats.warnings == []
    assert table.ts_ns.dtype.name == "int64" and table.src_hi.dtype.name == "uint64"


@pytest.mark.parametrize("data, offset, field", [
    (b"", 0, "magic"),
    (b"\x00" * 100, 0, "magic"),
    (b"GET / HTTP/1.1\r\n\r\n", 0, "magic"),
    (b"\x1f\x8b\x08\x00" + b"\x00" * 40, 0, "magic"),
    (struct.pack("<I", 0xA1B2C3D4) + b"\x02\x00", 6, "file header"),
    (struct.pack("<IHHiIII", 0xA1B2C3D4, 3, 0, 0, 0, 65535, 1), 4, "version_major"),
    (craft.pcap([]) + struct.pack("<IIII", 1, 0, 2**28 + 1, 60) + PKT, 24 + 8, "caplen"),
])
def test_bad_files_raise_capture_format_error(tmp_path, data, offset, field):
    path = tmp_path / "bad.pcap"
    path.write_bytes(data)
    with pytest.raises(CaptureFormatError) as info:
        read_packets(path)
    assert (info.value.path, info.value.offset, info.value.field) == (str(path), offset, field)
    assert str(path) in str(info.value)


def test_impossible_caplen_after_the_start_warns_and_stops(read_bytes):
    data = craft.pcap([(1, 0, PKT)]) + struct.pack("<IIII", 1, 0, 2**30, 60) + PKT
    table = read_bytes(data)
    assert len(table) == 1
    assert "exceeds" in table.stats.warnings[0]
    assert f"offset {24 + 16 + len(PKT) + 8}:" in table.stats.warnings[0]


def test_missing_file_is_a_capture_format_error(tmp_path):
    with pytest.raises(CaptureFormatError, match="cannot read"):
        read_packets(tmp_path / "nope.pcap")
