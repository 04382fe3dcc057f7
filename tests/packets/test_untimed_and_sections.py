"""Packets without a usable time stamp (pcapng simple packet blocks, time stamps out of the
int64-ns range), captures that are not regular files, and pcapng files of many sections."""
import os
import stat
import struct
import threading

import numpy as np
import pytest

from inferwire.errors import CaptureFormatError
from inferwire.packets import pcapng, reader
from inferwire.packets.pcapng import ticks_to_ns

from . import craft

T = 1_700_000_000                                   # s since the epoch
INT64_MAX = 2**63 - 1


def pkt(sport: int, payload: bytes = b"data") -> bytes:
    return craft.ethernet(craft.ipv4(body=craft.tcp(sport=sport, payload=payload)))


def pb(data: bytes, ticks: int, iface=0) -> bytes:
    """An obsolete Packet Block (type 2)."""
    return craft.block(2, struct.pack("<HHIIII", iface, 0, ticks >> 32, ticks & 0xFFFFFFFF,
                                      len(data), len(data)) + data)


# -- packets without a usable time -------------------------------------------------------------

def test_simple_packet_blocks_have_no_time_and_one_warning(read_bytes):
    data = craft.shb() + craft.idb(1) + b"".join(craft.spb(pkt(p)) for p in (1, 2, 3))
    table = read_bytes(data, ".pcapng")
    assert table.sport.tolist() == [1, 2, 3] and table.ts_ns.tolist() == [-1, -1, -1]
    assert table.stats.warnings == [
        f"{table.path}: offset 48: 3 packets without a usable time stamp: 3 in simple packet "
        "blocks, which carry none; their times are left empty (first one here)"]


def test_timed_packets_around_a_simple_packet_block_keep_their_times(read_bytes):
    data = (craft.shb() + craft.idb(1, tsresol=9) + craft.epb(pkt(1), T * 10**9 + 5)
            + craft.spb(pkt(2)) + craft.epb(pkt(3), T * 10**9 + 7))
    table = read_bytes(data, ".pcapng")
    assert table.ts_ns.tolist() == [T * 10**9 + 5, -1, T * 10**9 + 7]
    assert table.frame.tolist() == [1, 2, 3]
    [warning] = table.stats.warnings
    assert "1 packet without a usable time stamp: 1 in simple packet blocks" in warning
    assert "its time is left empty" in warning


def test_time_stamp_past_2262_is_unknown(read_bytes):
    data = (craft.shb() + craft.idb(1) + craft.epb(pkt(1), T * 10**6)
            + craft.epb(pkt(2), 2**64 - 1) + craft.epb(pkt(3), T * 10**6 + 1))
    table = read_bytes(data, ".pcapng")
    assert table.ts_ns.tolist() == [T * 10**9, -1, T * 10**9 + 1000]
    off = len(craft.shb() + craft.idb(1) + craft.epb(pkt(1), 0))
    assert table.stats.warnings == [
        f"{table.path}: offset {off}: 1 packet without a usable time stamp: 1 whose time falls "
        "before 1970 or after 2262 (check the interface's if_tsresol and if_tsoffset options); "
        "its time is left empty (first one here)"]


@pytest.mark.parametrize("tsoffset", [-2**40, -T - 1, 2**62, -2**63])
def test_tsoffset_out_of_range_leaves_every_time_unknown(read_bytes, tsoffset):
    data = craft.shb() + craft.idb(1, tsoffset=tsoffset) + craft.epb(pkt(1), T * 10**6)
    table = read_bytes(data, ".pcapng")
    assert table.ts_ns.tolist() == [-1]
    assert "1 whose time falls before 1970 or after 2262" in table.stats.warnings[0]


def test_negative_tsoffset_in_range_is_exact(read_bytes):
    data = (craft.shb() + craft.idb(1, tsresol=9, tsoffset=-T)
            + craft.epb(pkt(1), 2 * T * 10**9 + 3))
    table = read_bytes(data, ".pcapng")
    assert table.ts_ns.tolist() == [T * 10**9 + 3] and table.stats.warnings == []


def test_both_reasons_in_one_warning_obsolete_packet_block_too(read_bytes):
    data = (craft.shb() + craft.idb(1) + craft.epb(pkt(1), 2**64 - 1) + craft.spb(pkt(2))
            + pb(pkt(3), 2**63) + pb(pkt(4), T * 10**6))
    table = read_bytes(data, ".pcapng")
    assert table.ts_ns.tolist() == [-1, -1, -1, T * 10**9]
    assert table.stats.warnings == [
        f"{table.path}: offset 48: 3 packets without a usable time stamp: 1 in simple packet "
        "blocks, which carry none; 2 whose time falls before 1970 or after 2262 (check the "
        "interface's if_tsresol and if_tsoffset options); their times are left empty "
        "(first one here)"]


@pytest.mark.parametrize("ticks, tsresol, tsoffset, expected", [
    (INT64_MAX, 9, 0, INT64_MAX),                    # the last ns an int64 holds
    (INT64_MAX + 1, 9, 0, -1),
    (INT64_MAX - 10**9, 9, 1, INT64_MAX),
    (INT64_MAX - 10**9 + 1, 9, 1, -1),
    (5, 0, -5, 0),                                   # the epoch itself
    (4, 0, -5, -1),                                  # before it
    (2**63 + T, 0, -2**63, T * 10**9),               # ticks past int64, offset brings them back
    (2**64 - 1, 0, -2**63, -1),
    (T, 0, 2**63 - 1, -1),
    (5 * 2**40 + 2**39, 0x80 | 40, T, T * 10**9 + 5_500_000_000),   # exact Python path
    (1, 0x80 | 40, -1, -1),                          # exact Python path, before the epoch
])
def test_ticks_to_ns_range(ticks, tsresol, tsoffset, expected):
    got = ticks_to_ns(np.array([ticks], dtype=np.uint64), tsresol, tsoffset)
    assert got.dtype == np.int64 and got.tolist() == [expected]


# -- not a regular file -------------------------------------------------------------------------

def _read_in_thread(path) -> BaseException | None:
    """read_packets(path) in a thread (a blocking open must fail the test, not hang it)."""
    got = []

    def run():
        try:
            reader.read_packets(path)
            got.append(None)
        except BaseException as exc:   # noqa: BLE001  (handed to the test)
            got.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(10)
    assert got, f"read_packets({path}) blocked"
    return got[0]


def test_fifo_is_refused_before_opening(tmp_path):
    fifo = tmp_path / "cap.pcapng"
    os.mkfifo(fifo)
    exc = _read_in_thread(fifo)
    assert isinstance(exc, CaptureFormatError) and exc.path == str(fifo)
    assert str(exc) == (f"{fifo}: not a regular file (a FIFO or pipe): save the capture to a "
                        "file first, e.g. tcpdump -w capture.pcap")


def test_pipe_with_data_is_refused_not_called_empty(tmp_path):
    r, w = os.pipe()
    try:
        os.write(w, craft.pcap([(1, 0, pkt(1))]))
        exc = _read_in_thread(f"/dev/fd/{r}")
        assert isinstance(exc, CaptureFormatError)
        assert "not a regular file (a FIFO or pipe)" in str(exc) and "empty" not in str(exc)
    finally:
        os.close(r)
        os.close(w)


def test_device_is_refused():
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    exc = _read_in_thread("/dev/null")
    assert isinstance(exc, CaptureFormatError)
    assert "/dev/null: not a regular file (a device)" in str(exc)


def test_directory_and_missing_file_keep_their_messages(tmp_path):
    assert "cannot read the file: Is a directory" in str(_read_in_thread(tmp_path))
    missing = _read_in_thread(tmp_path / "nope.pcap")
    assert isinstance(missing, CaptureFormatError)
    assert "cannot read the file: No such file or directory" in str(missing)


# -- many sections ------------------------------------------------------------------------------

def many_sections(n: int) -> bytes:
    """``n`` sections (SHB + IDB + one EPB each), alternating byte order and link type
    (Ethernet, raw IPv4) and time resolution (µs, ns)."""
    out = []
    for i in range(n):
        order = "<>"[i % 2]
        ip = craft.ipv4(body=craft.tcp(sport=1 + i % 60000, seq=i, payload=b"x"))
        if i % 3 == 2:
            out.append(craft.shb(order) + craft.idb(101, tsresol=9, order=order)
                       + craft.epb(ip, T * 10**9 + i, order=order))
        else:
            out.append(craft.shb(order) + craft.idb(1, order=order)
                       + craft.epb(craft.ethernet(ip), T * 10**6 + i, order=order))
    return b"".join(out)


def expected_times(n: int) -> list[int]:
    return [T * 10**9 + i if i % 3 == 2 else T * 10**9 + i * 1000 for i in range(n)]


@pytest.fixture
def decode_calls(monkeypatch) -> list:
    """The length of every chunk the reader decodes, in order."""
    calls = []
    decode_chunk = reader._decode_chunk
    monkeypatch.setattr(reader, "_decode_chunk",
                        lambda buf, chunk, *a: calls.append(len(chunk)) or decode_chunk(
                            buf, chunk, *a))
    return calls


def test_three_thousand_sections_are_read_in_one_decode(read_bytes, decode_calls):
    calls = decode_calls
    n = 3000
    table = read_bytes(many_sections(n), ".pcapng")
    assert len(table) == n and table.stats.packets == n and table.stats.warnings == []
    assert table.frame.tolist() == list(range(1, n + 1))
    assert table.iface.tolist() == list(range(n))           # one interface per section
    assert table.seq.tolist() == list(range(n))
    assert table.ts_ns.tolist() == expected_times(n)
    assert [i["section"] for i in table.stats.interfaces] == list(range(n))
    assert calls == [n]              # the sections' packets are decoded together, not one by one


def test_sections_joined_up_to_the_chunk_size(read_bytes, decode_calls, monkeypatch):
    calls = decode_calls
    monkeypatch.setattr(pcapng, "CHUNK_RECORDS", 7)
    n = 100
    table = read_bytes(many_sections(n), ".pcapng")
    assert calls == [7] * 14 + [2]
    assert table.ts_ns.tolist() == expected_times(n) and table.seq.tolist() == list(range(n))


def test_link_types_are_looked_up_once_per_interface():
    interfaces = [{"linktype": 1}, {"linktype": 101}]
    lts = reader.LinkTypes(interfaces)
    types, distinct = lts.of(np.array([1, 0, 1], dtype=np.int32))
    assert types.tolist() == [101, 1, 101] and distinct.tolist() == [1, 101]
    interfaces.append({"linktype": 276})
    interfaces[0] = None             # already known: not read again
    types, distinct = lts.of(np.array([2, 0], dtype=np.int32))
    assert types.tolist() == [276, 1] and distinct.tolist() == [1, 276]
    types, distinct = lts.of(np.array([2, 2], dtype=np.int32))     # one interface: no sort
    assert types.tolist() == [276, 276] and distinct.tolist() == [276]
