"""The record walk in C (``inferwire.packets._walk``) gives exactly what the pure-Python loop gives:
same tables, same statistics, same warnings, same errors, on valid, cut and mutated files, with
chunk limits small enough to stop the C runs everywhere."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from needs import skip_or_fail

from inferwire.errors import CaptureFormatError
from inferwire.packets import accelerated, pcap, pcapng, read_packets

from .test_fuzz import FUZZ, PCAP, PCAP_BE_NS, PCAPNG, VALID
from . import craft

COLUMNS = ("frame", "ts_ns", "iface", "ip_version", "src_hi", "src_lo", "dst_hi", "dst_lo",
           "sport", "dport", "seq", "ack", "flags", "window", "ip_id", "payload_len",
           "captured_len", "payload_off")


def test_the_extension_is_built_where_ci_runs():
    if not accelerated():
        skip_or_fail("inferwire.packets._walk is not built (no C compiler at install: scripts/setup.sh "
                     "needs gcc and the Python headers): nothing to compare")


def outcome(path, data: bytes, use_c: bool, monkeypatch):
    """(error text) or (columns, stats) of reading ``data`` with or without the C walk."""
    if use_c and not accelerated():
        skip_or_fail("the C walk is not built here")
    saved = pcapng._cwalk, pcap._cwalk
    monkeypatch.setattr(pcapng, "_cwalk", saved[0] if use_c else None)
    monkeypatch.setattr(pcap, "_cwalk", saved[1] if use_c else None)
    path.write_bytes(data)
    try:
        return read_outcome(path)
    finally:
        monkeypatch.setattr(pcapng, "_cwalk", saved[0])
        monkeypatch.setattr(pcap, "_cwalk", saved[1])


def read_outcome(path, columns=COLUMNS):
    """("error", text, offset, field) or (columns, stats) of reading the capture at ``path``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            table = read_packets(path)
        except CaptureFormatError as exc:
            return ("error", str(exc), exc.offset, exc.field)
    with table:
        return ({c: getattr(table, c).tolist() for c in columns}, vars(table.stats).copy())


def same(tmp_path, data: bytes, monkeypatch):
    c = outcome(tmp_path / "x.cap", data, True, monkeypatch)
    py = outcome(tmp_path / "x.cap", data, False, monkeypatch)
    assert c == py
    return c


@pytest.fixture(params=[None, (3, 200)], ids=["chunks-default", "chunks-tiny"])
def chunking(request, monkeypatch):
    """Default chunk limits, or 3 records / 200 bytes per chunk (C runs stop at every limit)."""
    if request.param:
        records, nbytes = request.param
        for mod in (pcap, pcapng):
            monkeypatch.setattr(mod, "CHUNK_RECORDS", records)
            monkeypatch.setattr(mod, "CHUNK_BYTES", nbytes)
    return request.param


@pytest.mark.parametrize("data", VALID, ids=["pcap", "pcap-be-ns", "pcapng"])
def test_valid_files_read_the_same(tmp_path, monkeypatch, chunking, data):
    columns, stats = same(tmp_path, data, monkeypatch)
    assert len(columns["frame"]) >= 3 and stats["packets"] >= 5


def test_many_records_across_chunks(tmp_path, monkeypatch, chunking):
    seg = craft.ethernet(craft.ipv4(body=craft.tcp(1, 2, payload=b"x" * 7)))
    blocks = [craft.epb(seg, 10**18 + i) for i in range(300)]
    data = (craft.shb() + craft.idb(1, 0, tsresol=9) + b"".join(blocks[:150])
            + craft.isb(0, 1, {4: 1}) + craft.spb(seg) + b"".join(blocks[150:]))
    columns, stats = same(tmp_path, data, monkeypatch)
    assert columns["frame"] == list(range(1, 302))
    columns, _ = same(tmp_path, craft.pcap([(i, i, seg) for i in range(300)]), monkeypatch)
    assert len(columns["frame"]) == 300


@FUZZ
@given(seed=st.sampled_from(VALID), cut=st.integers(0, 400))
def test_cut_files_read_the_same(tmp_path_factory, seed, cut):
    with pytest.MonkeyPatch.context() as mp:
        same(tmp_path_factory.mktemp("cut"), seed[:len(seed) - cut], mp)


@FUZZ
@given(seed=st.sampled_from(VALID), edits=st.lists(
    st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=6))
def test_mutated_files_read_the_same(tmp_path_factory, seed, edits):
    data = bytearray(seed)
    for pos, value in edits:
        data[pos % len(data)] = value
    with pytest.MonkeyPatch.context() as mp:
        same(tmp_path_factory.mktemp("mut"), bytes(data), mp)


def test_the_c_walk_checks_its_arguments():
    if not accelerated():
        skip_or_fail("the C walk is not built here")
    from inferwire.packets import _walk
    with pytest.raises(ValueError, match="rec_len"):
        _walk.pcap_run(b"", 0, 0, 1, 4, 100, False)
    assert _walk.pcapng_epb_run(b"\x06\x00\x00\x00", 0, 10, 5, 1000, False) == (b"", 0)
    assert _walk.pcapng_epb_run(b"", -5, 10, 5, 1000, False) == (b"", 0)
    offs, nxt = _walk.pcapng_epb_run(PCAPNG, 0, len(PCAPNG), 99, 1 << 20, False)
    assert offs == b"" and nxt == 0                      # an SHB first: left to Python
    first = len(craft.shb() + craft.idb(1, 0, tsresol=9, name="lo") + craft.idb(276))
    offs, nxt = _walk.pcapng_epb_run(PCAPNG, first, len(PCAPNG), 99, 1 << 20, False)
    assert np.frombuffer(offs, np.int64)[0] == first and len(offs) == 5 * 8


def test_epb_headers_read_what_the_gather_reads_and_refuse_offsets_outside():
    """The EPB header fields in C (``_walk.epb_headers``) against the numpy gather, both byte
    orders; an offset whose header would leave the buffer is a ValueError naming it."""
    if not accelerated():
        skip_or_fail("the C walk is not built here")
    from inferwire.packets import _walk
    for order in "<>":
        seg = craft.ethernet(craft.ipv4(body=craft.tcp(1, 2, payload=b"x" * 9)))
        data = craft.shb(order) + craft.idb(1, order=order) + b"".join(
            craft.epb(seg, 10**18 + 7 * i + (i << 40), order=order) for i in range(5))
        first = len(craft.shb(order) + craft.idb(1, order=order))
        offs = np.array([first + i * len(craft.epb(seg, 0, order=order)) for i in range(5)],
                        np.int64)
        f = pcapng._File(data, "x", None)
        f.order = order
        c = pcapng._epb_fields(f, offs)
        py = pcapng._epb_fields(f, offs, use_c=False)
        for a, b in zip(c, py):
            assert a.dtype == b.dtype and a.tolist() == b.tolist()
        assert c[2].tolist() == [10**18 + 7 * i + (i << 40) for i in range(5)]
        with pytest.raises(ValueError, match="block 1 at offset %d" % (len(data) - 20)):
            _walk.epb_headers(data, np.array([first, len(data) - 20], np.int64), order == ">")
