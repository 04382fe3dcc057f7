"""The header decode in C (``inferwire.packets._headers``) gives exactly what the numpy decode
gives: the same class for every record and the same TCP columns, on crafted headers of every
kind, on random and mutated header bytes, and on every capture the test suite keeps."""
from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from needs import skip_or_fail

from inferwire.packets import decode, read_packets
from inferwire.packets.linktypes import ETHERTYPE_IPV4, ETHERTYPE_IPV6
from inferwire.tcp.options import header_starts, timestamps

from . import craft
from .test_fuzz import VALID
from .test_walk_c import COLUMNS, read_outcome

TESTS = Path(__file__).resolve().parents[1]
KEPT = sorted(p for p in TESTS.rglob("*.pcap*") if p.suffix in (".pcap", ".pcapng"))
SETTINGS = settings(max_examples=300, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def built() -> None:
    if decode._c_tcp_headers is None:
        skip_or_fail("inferwire.packets._headers is not built (no C compiler at install: "
                     "scripts/setup.sh needs gcc and the Python headers): nothing to compare")


def test_the_extension_is_built_where_ci_runs():
    built()


def both(records: list[tuple[bytes, int, int, bool]]):
    """Decode ``records`` ((IP packet bytes, EtherType, bytes on the wire, link header cut)),
    laid end to end in one buffer, with C and with numpy: the two (classes, columns)."""
    buf = b"".join(r[0] for r in records)
    u8 = np.frombuffer(buf, dtype=np.uint8)
    lens = np.array([len(r[0]) for r in records], dtype=np.int64)
    data_off = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    origlen = np.array([r[2] for r in records], dtype=np.int64)
    etype = np.array([r[1] for r in records], dtype=np.int64)
    link_cut = np.array([r[3] for r in records], dtype=bool)
    out = []
    for use_c in (True, False):
        cls, cols = decode.decode(u8, data_off, lens, origlen, data_off.copy(), etype, link_cut,
                                  use_c=use_c)
        out.append((cls.tolist(), {k: (v.dtype.str, v.tolist()) for k, v in cols.items()}))
    return out


def same(records) -> tuple:
    built()
    c, py = both(records)
    assert c[0] == py[0]
    assert c[1].keys() == py[1].keys()
    for name in py[1]:
        assert c[1][name] == py[1][name], name
    return py


SEG = craft.tcp(80, 40000, seq=0xFFFFFFF0, ack=7, flags=0x12, window=65535,
                options=b"\x02\x04\x05\xb4\x04\x02\x08\x0a" + b"\x01" * 8 + b"\x01\x03\x03\x07",
                payload=b"data")
TS = b"\x08\x0a" + struct.pack(">II", 0xDEADBEEF, 7)          # timestamps: TSval, TSecr
#: TCP option layouts for the timestamps read with the headers (-> TSval 0xDEADBEEF or -1)
TS_LAYOUTS = [
    b"\x01\x01" + TS,                                  # Linux's: NOP NOP TS
    TS + b"\x01\x01",                                  # TS first
    b"\x02\x04\x05\xb4\x04\x02" + TS + b"\x00\x00",   # after MSS and SACK-permitted
    b"\x01\x01\x05\x0a" + b"\x11" * 8 + b"\x01\x01" + TS,   # after a SACK block
    b"\x00" + TS + b"\x00",                             # EOL first: none
    b"\x01\x05\x01" + TS + b"\x00",                   # a length under 2: none
    b"\x01\x01\x13\x20" + TS + b"\x00\x00",             # a length past the end: none
    b"\x08\x08" + TS[2:] + b"\x00\x00",                # kind 8 of length 8: none
    b"\x01\x01\x08\x0a\xff\xff",                       # only 6 option bytes: none
    b"\x01" * 40,                                       # 40 NOPs: none
]
FRAG = struct.pack(">BBHI", 6, 0, 0, 1)       # an atomic fragment header (offset 0, M=0) -> TCP
CRAFTED = [
    (craft.ipv4("1.2.3.4", "5.6.7.8", SEG), ETHERTYPE_IPV4),
    (craft.ipv4(body=SEG, options=b"\x94\x04\0\0" * 10), ETHERTYPE_IPV4),     # IHL 15
    (craft.ipv4(body=SEG, total_len=0), ETHERTYPE_IPV4),                     # offload: wire's
    (craft.ipv4(body=SEG, total_len=21), ETHERTYPE_IPV4),                    # TCP past IP end
    (craft.ipv4(body=SEG, frag=0x2000), ETHERTYPE_IPV4),                     # more fragments
    (craft.ipv4(body=SEG, frag=0x4000), ETHERTYPE_IPV4),                     # DF only: TCP
    (craft.ipv4(body=b"u" * 12, proto=17), ETHERTYPE_IPV4),                  # UDP
    (craft.ipv4(body=craft.tcp(options=b"\x01" * 40)), ETHERTYPE_IPV4),      # data offset 60
    (craft.ipv6(body=SEG), ETHERTYPE_IPV6),
    (craft.ipv6(body=SEG, payload_len=0), ETHERTYPE_IPV6),                   # jumbo / BIG TCP
    (craft.ipv6(body=SEG, nh=0, ext=craft.ext_header(43, 0) + craft.ext_header(60, 1)
                + craft.ext_header(44, 0) + FRAG), ETHERTYPE_IPV6),
    (craft.ipv6(body=SEG, nh=44, ext=struct.pack(">BBHI", 6, 0, 8, 1)), ETHERTYPE_IPV6),
    (craft.ipv6(body=SEG, nh=51, ext=bytes([6, 1]) + b"\0" * 10), ETHERTYPE_IPV6),   # AH
    (craft.ipv6(body=SEG, nh=0, ext=b"".join(craft.ext_header(0) for _ in range(15))
                + craft.ext_header(6)), ETHERTYPE_IPV6),                     # 16: too many
    (craft.ipv6(body=SEG, nh=0, ext=b"".join(craft.ext_header(0) for _ in range(15))
                + craft.ext_header(0)), ETHERTYPE_IPV6),
    (craft.ipv6(body=SEG, nh=0, ext=b"".join(craft.ext_header(0) for _ in range(14))
                + craft.ext_header(6)), ETHERTYPE_IPV6),                     # 15: fine
    (craft.ipv6(body=b"", nh=0, ext=craft.ext_header(6, 3)[:12]), ETHERTYPE_IPV6),
    (craft.ipv4(body=SEG), 0x0806),                                         # not IP
] + [(craft.ipv4(body=craft.tcp(options=o + b"\x00" * (-len(o) % 4), payload=b"x")),
      ETHERTYPE_IPV4) for o in TS_LAYOUTS]


@pytest.mark.parametrize("i", range(len(CRAFTED)))
def test_crafted_headers_decode_the_same(i):
    ip, etype = CRAFTED[i]
    records = [(ip, etype, len(ip), False), (ip, etype, len(ip) + 100, False),
               (ip, etype, len(ip), True)]
    records += [(ip[:cut], etype, len(ip), False) for cut in range(0, len(ip), 3)]
    classes, cols = same(records)
    assert len(set(classes)) >= 2                     # the cuts make some records HEADER_CUT


def test_every_class_is_reached_by_the_crafted_headers():
    classes = set()
    for ip, etype in CRAFTED:
        classes.update(same([(ip, etype, len(ip), False), (ip[:30], etype, len(ip), False)])[0])
    assert classes == {decode.TCP, decode.NON_TCP, decode.FRAGMENT, decode.HEADER_CUT,
                       decode.MALFORMED}


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(range(len(CRAFTED))),
                          st.lists(st.tuples(st.integers(0, 79), st.integers(0, 255)),
                                   max_size=6),
                          st.integers(0, 120), st.integers(-8, 2000), st.booleans()),
                min_size=1, max_size=12))
def test_mutated_headers_decode_the_same(records):
    """Crafted records with bytes overwritten in their headers, cut anywhere and with any wire
    length (shorter, longer, unrelated): the classes and columns match."""
    out = []
    for i, edits, cut, extra, link_cut in records:
        ip, etype = CRAFTED[i]
        data = bytearray(ip)
        for pos, value in edits:
            if pos < len(data):
                data[pos] = value
        data = bytes(data[:len(data) - min(cut, len(data))] if cut < 100 else data)
        out.append((data, etype, max(0, len(data) + extra), link_cut and extra % 3 == 0))
    same(out)


@SETTINGS
@given(st.lists(st.tuples(st.binary(max_size=90), st.sampled_from((ETHERTYPE_IPV4, ETHERTYPE_IPV6)),
                          st.integers(0, 200)), min_size=1, max_size=10))
def test_random_bytes_decode_the_same(records):
    same([(data, etype, wire, False) for data, etype, wire in records])


@pytest.mark.parametrize("path", KEPT, ids=lambda p: str(p.relative_to(TESTS)))
def test_kept_captures_read_the_same(path, monkeypatch):
    built()
    assert read(path) == read(path, monkeypatch)


@pytest.mark.parametrize("data", VALID, ids=["pcap", "pcap-be-ns", "pcapng"])
def test_valid_seed_files_read_the_same(tmp_path, data, monkeypatch):
    built()
    path = tmp_path / "x.cap"
    path.write_bytes(data)
    assert read(path) == read(path, monkeypatch)


def read(path, monkeypatch=None):
    """(columns, stats) of ``path`` read with the C decode, or (``monkeypatch`` given) without."""
    if monkeypatch is not None:
        monkeypatch.setattr(decode, "_c_tcp_headers", None)
    try:
        return read_outcome(path, (*COLUMNS, "syn_options", "tcp_hlen", "tsval", "tsecr"))
    finally:
        if monkeypatch is not None:
            monkeypatch.undo()


def test_a_record_outside_the_buffer_is_an_error_not_a_read():
    """The C decode checks each record against the buffer (the walk never makes such a record;
    a caller that did gets a ValueError naming it, not a read past the map)."""
    built()
    u8 = np.frombuffer(CRAFTED[0][0], dtype=np.uint8)
    n = len(u8)
    args = [np.array([0, 10], np.int64), np.array([n, n], np.int64), np.array([n, n], np.int64),
            np.array([0, 10], np.int64), np.array([ETHERTYPE_IPV4] * 2, np.int64),
            np.zeros(2, bool)]
    with pytest.raises(ValueError, match=r"record 1: bytes \[10, %d\) outside" % (n + 10)):
        decode.decode(u8, *args)


@pytest.mark.parametrize("use_c", [True, False])
def test_timestamps_of_every_layout(use_c):
    """The timestamps read with the headers, in C and in numpy, on each layout of
    :data:`TS_LAYOUTS`: found where the option is whole and reachable, -1 where it is not."""
    if use_c:
        built()
    records = [(ip, etype, len(ip), False) for ip, etype in CRAFTED[-len(TS_LAYOUTS):]]
    _, cols = both(records)[0 if use_c else 1]
    assert cols["tsval"][1] == [0xDEADBEEF] * 4 + [-1] * 6
    assert cols["tsecr"][1] == [7] * 4 + [-1] * 6
    assert cols["tcp_hlen"][1] == [20 + len(o) + (-len(o) % 4) for o in TS_LAYOUTS]


@pytest.mark.parametrize("path", KEPT, ids=lambda p: str(p.relative_to(TESTS)))
def test_header_fields_read_with_the_headers_are_those_read_later(path):
    """The table's TCP header lengths and timestamps (read by the decode) against the analysis'
    own reading of the buffer (:func:`~inferwire.tcp.options.header_starts` finds each header
    by its data offset and ports; :func:`~inferwire.tcp.options.timestamps`, numpy and the
    Python option walk), on every capture the tests keep."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = read_packets(path)
    with table:
        rows = np.arange(len(table))
        heads = header_starts(table, rows)
        assert (heads == table.payload_off - table.tcp_hlen).all()
        tsval, tsecr = timestamps(table, rows, heads)
        assert tsval.tolist() == table.tsval.tolist()
        assert tsecr.tolist() == table.tsecr.tolist()
