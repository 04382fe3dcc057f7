"""PacketTable helpers: addresses, payload views, closing and releasing the map."""
from __future__ import annotations

import mmap

import pytest

from inferwire.packets import PacketTable, format_address, read_packets

from . import craft


@pytest.mark.parametrize("hi, lo, text", [
    (0, 0x0000FFFF_7F000001, "127.0.0.1"),
    (0, 0x0000FFFF_00000000, "0.0.0.0"),
    (0, 1, "::1"),
    (0x20010DB8 << 32, 1, "2001:db8::1"),
    (0, 0x0000FFFE_7F000001, "::fffe:7f00:1"),
])
def test_format_address(hi, lo, text):
    assert format_address(hi, lo) == text


def test_table_is_a_context_manager_and_close_tolerates_live_views(tmp_path):
    path = tmp_path / "a.pcap"
    frame = craft.ethernet(craft.ipv4(body=craft.tcp(payload=b"ab")))
    path.write_bytes(craft.pcap([(1, 0, frame)]))
    with read_packets(path) as table:
        assert isinstance(table, PacketTable) and len(table) == 1
        view = table.payload(0)
        assert isinstance(table.buffer, mmap.mmap)
    assert bytes(view) == b"ab"                 # still readable: the map lives while views do
    del view
    table.close()                               # closing twice is harmless
    with read_packets(path) as table:
        pass
    assert table.buffer.closed


def test_release_keeps_payloads_readable(tmp_path):
    path = tmp_path / "r.pcap"
    payloads = [bytes([65 + i % 26]) * 3000 for i in range(20)]
    path.write_bytes(craft.pcap([(1, i, craft.ethernet(craft.ipv4(body=craft.tcp(payload=p))))
                                 for i, p in enumerate(payloads)]))
    with read_packets(path) as table:
        table.release()
        assert [bytes(table.payload(i)) for i in range(20)] == payloads
        table.release(30000)
        assert bytes(table.payload(19)) == payloads[19]
