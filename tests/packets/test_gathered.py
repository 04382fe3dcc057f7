"""The reader copies each decoded chunk into columns reserved for as many rows as the file can
hold (reader._Gathered), and lets the chunk go: the table is the one concatenating every chunk at
the end gives, row for row and type for type, with many chunks and few, with files of the
smallest TCP records (where the reservation is exactly full), non-TCP records between, and on the
fallbacks (no reservation, or one outgrown); and only the rows' pages are touched."""
from __future__ import annotations

import mmap
import threading

import numpy as np
import pytest
from needs import skip_or_fail

from inferwire.packets import pcap, pcapng, reader

from . import craft
from .test_decode_thread import read

RAW_IP = 101            # LINKTYPE_RAW: no link header, the smallest record a TCP packet makes


def gathered(chunks, capacity: int) -> dict:
    """The columns of ``chunks`` put one after another into a reservation of ``capacity``."""
    target = reader._Gathered(capacity)
    for cols in chunks:
        target.put(cols)
    return target.columns()


def concatenated(path, monkeypatch):
    """The table as concatenating the chunks at the end made it."""
    with monkeypatch.context() as m:
        m.setattr(reader, "_reserved", lambda capacity: None)   # (then concatenated)
        return read(path)


def same(a, b) -> None:
    assert len(a) == len(b)
    for name, dtype in reader.COLUMNS.items():
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype == np.dtype(dtype), name
        assert np.array_equal(x, y), name


def smallest_pcap(tmp_path, n: int):
    """``n`` TCP packets of 40 bytes (IPv4 + TCP headers, no payload) in 16-byte pcap records:
    56 bytes a packet after the 24-byte file header, the densest a file can be."""
    records = [(1_000_000 + i, 0, craft.ipv4(body=craft.tcp(sport=1000 + i % 50000, seq=i)))
               for i in range(n)]
    path = tmp_path / "dense.pcap"
    path.write_bytes(craft.pcap(records, linktype=RAW_IP))
    assert (path.stat().st_size - 24) // reader.MIN_TCP_RECORD == n
    return path


@pytest.mark.parametrize("chunk_records", [7, 1000, None])
def test_the_densest_file_fills_its_reservation_exactly(tmp_path, monkeypatch, chunk_records):
    path = smallest_pcap(tmp_path, 2000)
    if chunk_records:
        monkeypatch.setattr(pcap, "CHUNK_RECORDS", chunk_records)
    table = read(path)
    assert len(table) == 2000 and table.seq.tolist() == list(range(2000))
    same(table, concatenated(path, monkeypatch))


def test_pcapng_with_other_records_between_many_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(pcapng, "CHUNK_RECORDS", 5)
    data = craft.shb() + craft.idb(1)
    for i in range(300):
        if i % 7 == 0:          # a UDP packet: a record, but no row
            data += craft.epb(craft.ethernet(craft.ipv4(body=bytes(8), proto=17)), 10 + i)
        data += craft.epb(craft.ethernet(craft.ipv6(body=craft.tcp(sport=i, payload=b"x" * i)),
                                         ethertype=0x86DD),
                          1000 + i)
    path = tmp_path / "mixed.pcapng"
    path.write_bytes(data)
    table = read(path)
    assert len(table) == 300 and table.sport.tolist() == list(range(300))
    same(table, concatenated(path, monkeypatch))


def test_no_reservation_falls_back_to_concatenating(tmp_path, monkeypatch):
    path = smallest_pcap(tmp_path, 500)
    monkeypatch.setattr(pcap, "CHUNK_RECORDS", 64)
    monkeypatch.setattr(reader, "_reserved", lambda capacity: None)
    same(read(path), concatenated(path, monkeypatch))


@pytest.mark.parametrize("capacity", [0, 1, 63, 64, 65, 300])
def test_an_outgrown_reservation_keeps_every_row(capacity):
    """(The bound holds for any file; this is the guard if it did not.)"""
    def chunks():
        for start in range(0, 500, 64):
            n = min(64, 500 - start)
            yield {name: (np.arange(start, start + n) % 200).astype(dtype)
                   for name, dtype in reader.COLUMNS.items()}
    got = gathered(chunks(), capacity)
    want = reader._concatenate(list(chunks()))
    assert set(got) == set(want)
    for name in want:
        assert got[name].dtype == want[name].dtype and np.array_equal(got[name], want[name])


def test_only_the_rows_pages_are_touched():
    """A reservation for a million rows (136 MB of columns) holding 1,000: the process's memory
    grows by the rows' pages (a page or so per column), not by the reservation."""
    def resident_kib() -> int:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    before = resident_kib()
    chunk = {name: np.ones(1000, dtype) for name, dtype in reader.COLUMNS.items()}
    got = gathered(iter([chunk]), 1_000_000)
    grew = resident_kib() - before
    assert len(got["frame"]) == 1000 and got["frame"].sum() == 1000
    assert isinstance(got["frame"].base, (mmap.mmap, np.ndarray))
    assert grew < 4 * 1024, f"resident memory grew by {grew} KiB"


def test_the_decoding_thread_copies_each_chunk_in_order(tmp_path, monkeypatch):
    """The copies into the reserved columns are the decoding thread's (beside the walk of the
    next chunk), one chunk after another in file order; the table is the concatenated one."""
    path = smallest_pcap(tmp_path, 1000)
    monkeypatch.setattr(pcap, "CHUNK_RECORDS", 100)
    seen = []
    put = reader._Gathered.put

    def watched(self, cols):
        seen.append((threading.current_thread().name, int(cols["seq"][0])))
        put(self, cols)
    monkeypatch.setattr(reader._Gathered, "put", watched)
    table = read(path)
    assert [name for name, _ in seen] == ["inferwire-decode"] * 10
    assert [first for _, first in seen] == list(range(0, 1000, 100))
    same(table, concatenated(path, monkeypatch))


def test_a_copy_that_fails_surfaces_and_leaves_no_thread(tmp_path, monkeypatch):
    path = smallest_pcap(tmp_path, 1000)
    monkeypatch.setattr(pcap, "CHUNK_RECORDS", 100)

    def failing(self, cols):
        raise MemoryError("no room for the columns")
    monkeypatch.setattr(reader._Gathered, "put", failing)
    with pytest.raises(MemoryError, match="no room"):
        read(path)
    assert [t for t in threading.enumerate() if t.name == "inferwire-decode"] == []


def test_zero_chunks_of_the_often_zero_columns_are_left_unwritten_and_read_as_zeros(tmp_path,
                                                                                   monkeypatch):
    """IPv4 packets' address high halves and a single interface's id are zeros: such chunks
    are not copied (the reservation reads as zeros), chunks that are not are; the table is the
    concatenated one either way, with IPv4 and IPv6 chunks, and two interfaces, in turn."""
    monkeypatch.setattr(pcapng, "CHUNK_RECORDS", 4)
    data = craft.shb() + craft.idb(1) + craft.idb(1)
    for i in range(40):
        v6 = (i // 8) % 2 == 1                      # runs of IPv4, then IPv6, packets
        tcp = craft.tcp(sport=2000 + i, payload=b"y")
        frame = (craft.ethernet(craft.ipv6(body=tcp), ethertype=0x86DD) if v6
                 else craft.ethernet(craft.ipv4(body=tcp)))
        data += craft.epb(frame, 5000 + i, iface=1 if 16 <= i < 24 else 0)
    path = tmp_path / "mixed.pcapng"
    path.write_bytes(data)
    seen = []
    put = reader._Gathered.put

    def watched(self, cols):
        put(self, cols)
        seen.append({name: bool(cols[name].any()) for name in reader._OFTEN_ZERO})
    monkeypatch.setattr(reader._Gathered, "put", watched)
    table = read(path)
    assert table.ip_version.tolist() == [6 if (i // 8) % 2 else 4 for i in range(40)]
    assert table.iface.tolist() == [1 if 16 <= i < 24 else 0 for i in range(40)]
    assert any(s["src_hi"] for s in seen) and not all(s["src_hi"] for s in seen)
    same(table, concatenated(path, monkeypatch))


def test_zero_address_halves_are_not_faulted_in():
    """A million IPv4 rows: the reservation's pages of the two high halves (16 MB) are not
    brought in, the others are."""
    def resident_kib() -> int:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    n = 1_000_000
    target = reader._Gathered(n)
    chunk = {name: np.ones(n, dtype) for name, dtype in reader.COLUMNS.items()}
    for name in reader._OFTEN_ZERO:
        chunk[name][:] = 0
    before = resident_kib()
    target.put(chunk)
    grew = (resident_kib() - before) * 1024
    written = sum(np.dtype(d).itemsize for name, d in reader.COLUMNS.items()
                  if name not in reader._OFTEN_ZERO) * n
    assert written <= grew < written + 4 * 1024 * 1024
    got = target.columns()
    assert not got["src_hi"].any() and got["frame"].sum() == n


def resident_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_the_rows_pages_are_brought_in_ahead_of_the_copy():
    """prefault(records) populates the reserved pages of that many more rows (the often-zero
    columns left out) in one call per column; the copy of those rows then adds no memory."""
    n = 200_000
    target = reader._Gathered(1_000_000)
    before = resident_kib()
    target.prefault(n)
    if target.populate_failed:
        skip_or_fail("this kernel cannot populate a range (MADV_POPULATE_WRITE is Linux 5.14+); "
                    "the copy faults the pages in instead (the test below)")
    grew = (resident_kib() - before) * 1024
    written = sum(np.dtype(d).itemsize for name, d in reader.COLUMNS.items()
                  if name not in reader._OFTEN_ZERO) * n
    assert written <= grew < written + 4 * 1024 * 1024
    assert target.promised == n
    chunk = {name: np.ones(n, dtype) for name, dtype in reader.COLUMNS.items()}
    for name in reader._OFTEN_ZERO:
        chunk[name][:] = 0
    more = resident_kib()
    target.put(chunk)                          # (the chunk itself is already resident)
    assert (resident_kib() - more) * 1024 < 1024 * 1024
    target.prefault(10**9)                     # never past the reservation
    assert target.promised == 1_000_000


@pytest.mark.parametrize("how", ["populated", "no madvise", "madvise refused"])
def test_the_walk_populates_as_it_hands_chunks_over_and_the_table_is_the_same(tmp_path,
                                                                              monkeypatch, how):
    """The walking thread populates the rows of each chunk it hands to the decoding thread
    (records of the whole file, in all); without madvise, or when the kernel refuses it, the
    copies fault the pages in: the same table every way."""
    path = smallest_pcap(tmp_path, 1000)
    monkeypatch.setattr(pcap, "CHUNK_RECORDS", 100)
    want = concatenated(path, monkeypatch)
    calls = []
    if how == "no madvise":
        monkeypatch.setattr(reader, "_madvise", lambda: None)
    elif how == "madvise refused":
        monkeypatch.setattr(reader, "_madvise", lambda: lambda *a: calls.append(a) or -1)
    prefault = reader._Gathered.prefault

    def watched(self, records):
        calls.append((threading.current_thread().name, records))
        prefault(self, records)
    monkeypatch.setattr(reader._Gathered, "prefault", watched)
    same(read(path), want)
    handed = [c for c in calls if len(c) == 2]
    assert handed == [(threading.current_thread().name, 100)] * 10
    if how == "madvise refused":               # tried once, then left to the copies
        assert len([c for c in calls if len(c) == 3]) == 1


def test_a_file_of_mostly_other_records_populates_only_a_few_chunks_ahead():
    """Records are a bound on the rows to come: with none of them TCP the rows written stay
    at 0, and the rows populated stop a few chunks' records past them."""
    target = reader._Gathered(10_000_000)
    for _ in range(50):
        target.prefault(10_000)
    if target.populate_failed:
        skip_or_fail("this kernel cannot populate a range (MADV_POPULATE_WRITE is Linux 5.14+)")
    assert target.at == 0
    assert target.promised == (reader.DECODE_AHEAD + 2) * 10_000
