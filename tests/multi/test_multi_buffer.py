"""MultiBuffer: several files as one read-only address space, mapped in place (or copied)."""
from __future__ import annotations

import gc
import mmap
import sys
import warnings

import pytest

import inferwire
from craft import Conversation, http_request, http_response, write_pcap
from inferwire.packets.multi import MultiBuffer, read_many


def files(tmp_path, sizes):
    paths = []
    for k, size in enumerate(sizes):
        p = tmp_path / f"f{k}.bin"
        p.write_bytes(bytes((k * 7 + i) % 251 for i in range(size)))
        paths.append(str(p))
    return paths


@pytest.mark.parametrize("in_place", [True, False])
def test_each_file_sits_at_its_page_aligned_base(tmp_path, in_place):
    sizes = [10, mmap.PAGESIZE, mmap.PAGESIZE + 1, 3]
    paths = files(tmp_path, sizes)
    buf = MultiBuffer(paths, sizes, in_place=in_place)
    page = mmap.PAGESIZE
    assert buf.bases == [0, page, 2 * page, 4 * page] and len(buf) == 5 * page
    for path, base, size in zip(paths, buf.bases, sizes):
        data = open(path, "rb").read()
        assert bytes(buf[base:base + size]) == data
        assert bytes(memoryview(buf.view)[base:base + size]) == data
    assert buf.file_at(page + 5) == (1, 5)
    assert buf.file_at(4 * page + 2) == (3, 2)
    with pytest.raises(IndexError):
        buf.file_at(20)          # past file 0's end, before file 1's base
    if in_place and sys.platform.startswith("linux"):
        assert buf._region is not None and buf.view.readonly     # mapped, not copied


def test_release_drops_pages_but_bytes_stay_readable(tmp_path):
    sizes = [3 * mmap.PAGESIZE + 17, 5000]
    paths = files(tmp_path, sizes)
    buf = MultiBuffer(paths, sizes)
    before = bytes(buf[0:sizes[0]])
    buf.release(0, len(buf))
    assert bytes(buf[0:sizes[0]]) == before
    assert bytes(buf[buf.bases[1]:buf.bases[1] + 5000]) == open(paths[1], "rb").read()


def test_payload_views_outlive_the_closed_table(tmp_path):
    """The mapping goes only when the last view of it is gone: reading a payload kept after
    close() and after the table is collected is safe (never a crash on unmapped memory)."""
    conv = Conversation()
    conv.handshake(0, 1000, 2000)
    conv.client(10_000, http_request(request_id="keep"))
    conv.server(20_000, http_response(body=b"z" * 500))
    a = write_pcap(tmp_path / "a.pcap", conv.packets[:3])
    b = write_pcap(tmp_path / "b.pcap", conv.packets[3:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", inferwire.InferwireWarning)
        table = read_many([a, b])
    view = table.payload(len(table) - 1)
    expected = http_response(body=b"z" * 500)
    table.close()
    del table
    gc.collect()
    assert bytes(view) == expected
