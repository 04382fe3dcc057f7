"""Link layers: Ethernet with VLAN stacks, Linux cooked v1/v2, raw IP, BSD loopback."""
from __future__ import annotations

import pytest

from . import craft
from .conftest import row

SEG = craft.tcp(5555, 8500, seq=77, payload=b"xyz")
V4 = craft.ipv4("192.0.2.1", "192.0.2.2", SEG)
V6 = craft.ipv6("2001:db8::a", "2001:db8::b", SEG)


def read_one(read_bytes, linktype: int, frame: bytes, header_len: int):
    """Read a one-record pcap; check the TCP row points at the right payload bytes."""
    table = read_bytes(craft.pcap([(1, 0, frame)], linktype=linktype))
    assert len(table) == 1, table.stats
    ip_len = 20 if table.ip_version[0] == 4 else 40
    assert table.payload_off[0] == 24 + 16 + header_len + ip_len + 20
    assert bytes(table.payload(0)) == b"xyz" and table.seq[0] == 77
    return row(table, 0)


@pytest.mark.parametrize("vlans", [
    [(0x8100, 10)],
    [(0x88A8, 100), (0x8100, 10)],
    [(0x88A8, 1), (0x8100, 2), (0x8100, 3)],
    [(0x9100, 5)],
])
def test_ethernet_vlan_stacks(read_bytes, vlans):
    r = read_one(read_bytes, 1, craft.ethernet(V4, vlans=vlans), 14 + 4 * len(vlans))
    assert (r["src"], r["dst"]) == ("192.0.2.1", "192.0.2.2")


def test_ethernet_ipv6_and_non_ip(read_bytes):
    assert read_one(read_bytes, 1, craft.ethernet(V6, 0x86DD), 14)["src"] == "2001:db8::a"
    table = read_bytes(craft.pcap([(1, 0, craft.ethernet(b"\0" * 28, 0x0806)),      # ARP
                                   (1, 0, craft.ethernet(V4, 0x0035)),              # 802.3 length
                                   (1, 0, craft.ethernet(V4, 0x88CC))]))            # LLDP
    assert (len(table), table.stats.non_tcp) == (0, 3)


def test_vlan_tag_cut_by_snaplen(read_bytes):
    frame = craft.ethernet(V4, vlans=[(0x88A8, 1), (0x8100, 2)])
    table = read_bytes(craft.pcap([(1, 0, frame[:16], len(frame)), (1, 0, frame[:20])]))
    assert (len(table), table.stats.header_cut) == (0, 2)


@pytest.mark.parametrize("linktype, build, header_len", [
    (113, lambda ip, et: craft.sll(ip, et), 16),
    (276, lambda ip, et: craft.sll2(ip, et), 20),
])
def test_linux_cooked(read_bytes, linktype, build, header_len):
    assert read_one(read_bytes, linktype, build(V4, 0x0800), header_len)["ip_version"] == 4
    assert read_one(read_bytes, linktype, build(V6, 0x86DD), header_len)["ip_version"] == 6
    tagged = build(b"\x00\x0a\x08\x00" + V4, 0x8100)    # VLAN 10, then IPv4
    assert read_one(read_bytes, linktype, tagged, header_len + 4)["src"] == "192.0.2.1"


@pytest.mark.parametrize("linktype", [101, 12, 14])
def test_raw_ip_either_version(read_bytes, linktype):
    assert read_one(read_bytes, linktype, V4, 0)["ip_version"] == 4
    assert read_one(read_bytes, linktype, V6, 0)["ip_version"] == 6


def test_raw_ipv4_and_ipv6_only_link_types(read_bytes):
    assert read_one(read_bytes, 228, V4, 0)["src"] == "192.0.2.1"
    assert read_one(read_bytes, 229, V6, 0)["src"] == "2001:db8::a"
    table = read_bytes(craft.pcap([(1, 0, V6)], linktype=228))   # claims IPv4: a bad header
    assert (len(table), table.stats.malformed) == (0, 1)


@pytest.mark.parametrize("linktype", [0, 108])
@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("family, ip", [(2, V4), (24, V6), (28, V6), (30, V6)])
def test_bsd_loopback_both_byte_orders(read_bytes, linktype, order, family, ip):
    r = read_one(read_bytes, linktype, craft.null(ip, family, order), 4)
    assert r["ip_version"] == (4 if family == 2 else 6)


def test_bsd_loopback_unknown_family_is_not_tcp(read_bytes):
    table = read_bytes(craft.pcap([(1, 0, craft.null(V4, 17))], linktype=0))
    assert (len(table), table.stats.non_tcp) == (0, 1)


def test_unsupported_link_type_is_counted_and_warned(read_bytes):
    table = read_bytes(craft.pcap([(1, 0, V4), (2, 0, V4)], linktype=147))
    assert (len(table), table.stats.packets, table.stats.non_tcp) == (0, 2, 2)
    assert table.stats.warnings == [
        f"{table.path}: offset 40: link type 147 is not supported (inferwire reads Ethernet 1, "
        "Linux cooked 113 and 276, raw IP 101, 12, 14, 228 and 229, BSD loopback 0 and 108); "
        "2 records skipped"]


def test_interfaces_of_different_link_types_keep_file_order(read_bytes):
    data = craft.shb() + craft.idb(1) + craft.idb(101) + craft.idb(276)
    for i in range(6):
        ip = craft.ipv4(body=craft.tcp(1000 + i))
        frame = [craft.ethernet(ip), ip, craft.sll2(ip)][i % 3]
        data += craft.epb(frame, 10 + i, iface=i % 3)
    table = read_bytes(data, ".pcapng")
    assert table.sport.tolist() == [1000, 1001, 1002, 1003, 1004, 1005]
    assert table.iface.tolist() == [0, 1, 2, 0, 1, 2] and table.frame.tolist() == list(range(1, 7))
    assert table.ts_ns.tolist() == [(10 + i) * 1000 for i in range(6)]
