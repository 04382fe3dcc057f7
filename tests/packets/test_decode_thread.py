"""The reader decodes chunks in a second thread while the walk goes on (reader._Decoder): the
table, the counters and the warnings (in their order) are those of walking and decoding in
turn, whatever the thread's pace; an error or Ctrl-C in either thread surfaces as itself; and
no thread is left once the read is over (forked workers need a single-threaded process)."""
from __future__ import annotations

import threading
import time
import warnings

import pytest

from inferwire.packets import pcapng, reader

from . import craft

LINK_147 = "link type 147 is not supported"
CUT = "impossible block_total_length 13"


def section(linktype: int, first_port: int, n: int = 3) -> bytes:
    """One pcapng section of ``n`` packets on one interface of ``linktype`` (1: Ethernet)."""
    out = craft.shb() + craft.idb(linktype)
    for i in range(n):
        ip = craft.ipv4(body=craft.tcp(sport=first_port + i, payload=b"data"))
        out += craft.epb(craft.ethernet(ip) if linktype == 1 else ip, 1000 + first_port + i)
    return out


def sections_file(tmp_path, linktypes, cut: bool, last: int = 3):
    """Sections of 3 packets (the last one of ``last``), then maybe a block cut short."""
    data = b"".join(section(lt, 100 * k, last if k == len(linktypes) - 1 else 3)
                    for k, lt in enumerate(linktypes))
    if cut:             # a block of an impossible length: the walk stops there
        data += craft.struct.pack("<II", 6, 13) + bytes(16)
    path = tmp_path / "sections.pcapng"
    path.write_bytes(data)
    return path


def read(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = reader.read_packets(path)
    table.close()
    return table


def kinds(messages: list[str]) -> list[str]:
    return [LINK_147 if LINK_147 in m else CUT if CUT in m else m for m in messages]


@pytest.mark.parametrize("slow_decode", [False, True])
def test_warnings_keep_the_order_of_walking_and_decoding_in_turn(tmp_path, monkeypatch,
                                                                 slow_decode):
    """One chunk per section (CHUNK_RECORDS 3).  In turn, a chunk is decoded when the walk
    hands it over: the last section's only once the walk has met the impossible block after
    it, so that block's warning sits between the two link-type warnings.  A slow decode (the walk
    done long before) must not move the decode's warnings after the walk's."""
    monkeypatch.setattr(pcapng, "CHUNK_RECORDS", 3)
    if slow_decode:
        decode_chunk = reader._decode_chunk

        def slow(*args):
            time.sleep(0.05)
            return decode_chunk(*args)
        monkeypatch.setattr(reader, "_decode_chunk", slow)
    table = read(sections_file(tmp_path, [147, 1, 147], cut=True))
    assert kinds(table.stats.warnings) == [LINK_147, CUT, LINK_147]
    offsets = [int(m.split("offset ")[1].split(":")[0]) for m in table.stats.warnings]
    assert offsets[0] < offsets[2] < offsets[1]         # not in offset order: in walk order
    assert table.sport.tolist() == [100, 101, 102]            # the Ethernet section's
    assert (table.stats.packets, table.stats.non_tcp, table.stats.tcp_packets) == (9, 6, 3)


def test_no_thread_is_left_after_a_read(tmp_path):
    before = threading.active_count()
    read(sections_file(tmp_path, [1, 1], cut=False))
    assert threading.active_count() == before


def test_walk_closed_early_stops_the_thread(tmp_path, monkeypatch):
    monkeypatch.setattr(pcapng, "CHUNK_RECORDS", 3)
    before = threading.active_count()
    buf, stats = reader.map_capture(sections_file(tmp_path, [1] * 20, cut=False))
    chunks = reader.decoded_chunks(buf, stats)
    first = next(chunks)
    assert first["sport"].tolist() == [0, 1, 2]
    assert threading.active_count() == before + 1
    chunks.close()
    assert threading.active_count() == before
    first = chunks = None
    buf.close()


@pytest.mark.parametrize("error", [KeyboardInterrupt, MemoryError, ValueError])
def test_an_error_in_the_decoding_thread_is_raised_by_the_read(tmp_path, monkeypatch, error):
    """The second chunk's decode fails: the read raises that very error, no thread is left."""
    monkeypatch.setattr(pcapng, "CHUNK_RECORDS", 3)
    decode_chunk, calls = reader._decode_chunk, []

    def failing(*args):
        calls.append(1)
        if len(calls) == 2:
            raise error("chunk 2")
        return decode_chunk(*args)
    monkeypatch.setattr(reader, "_decode_chunk", failing)
    before = threading.active_count()
    with pytest.raises(error, match="chunk 2"):
        read(sections_file(tmp_path, [1] * 6, cut=False))
    assert threading.active_count() == before
    assert len(calls) == 2            # nothing decoded after the error


def test_ctrl_c_in_the_walk_stops_the_thread(tmp_path, monkeypatch):
    monkeypatch.setattr(pcapng, "CHUNK_RECORDS", 3)
    runs = pcapng._runs

    def interrupted(*args):
        for k, chunk in enumerate(runs(*args)):
            if k == 3:
                raise KeyboardInterrupt
            yield chunk
    monkeypatch.setattr(pcapng, "_runs", interrupted)
    before = threading.active_count()
    with pytest.raises(KeyboardInterrupt):
        read(sections_file(tmp_path, [1] * 6, cut=False))
    assert threading.active_count() == before
