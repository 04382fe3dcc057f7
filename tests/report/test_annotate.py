"""Phase-annotated pcapng: comments on the packets that open and close each request, read back
with tshark's frame.comment; every packet and block otherwise unchanged."""
from __future__ import annotations

import struct
import subprocess
import warnings

import numpy as np
import pytest

import inferwire
from inferwire.errors import CaptureFormatError, InferwireWarning
from inferwire.packets import read_packets
from inferwire.report import load_run
from inferwire.report import pcapng_out as out
from inferwire.report.annotate import annotate_capture, comment_text, frame_comments
from report.data import require_tool


def tshark_comments(path) -> dict[int, list[str]]:
    """frame number -> its comments, as tshark reads them (frame.comment, Wireshark >= 3.6)."""
    tshark = require_tool("tshark")
    proc = subprocess.run([tshark, "-r", str(path), "-Y", "frame.comment", "-T", "fields",
                           "-E", "occurrence=a", "-E", "aggregator=\x1f", "-e", "frame.number",
                           "-e", "frame.comment"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    found = {}
    for line in proc.stdout.splitlines():
        number, _, comments = line.partition("\t")
        found[int(number)] = comments.split("\x1f")
    return found


def same_packets(a, b) -> None:
    """Both files hold the same TCP packets: frames, times, lengths and payload bytes."""
    ta, tb = read_packets(a), read_packets(b)
    assert ta.stats.packets == tb.stats.packets
    for col in ("frame", "ts_ns", "captured_len"):
        assert np.array_equal(getattr(ta, col), getattr(tb, col)), col
    for i in range(len(ta.frame)):
        assert bytes(ta.payload(i)) == bytes(tb.payload(i))


def test_comments_name_the_request_and_its_phases(crafted_pcap):
    a = inferwire.analyze(crafted_pcap)
    found = frame_comments(a.requests)
    assert sorted(found) == [4, 5, 6, 9]      # r1 opens 4, closes 5; r2 opens 6, closes 9
    text = found[6][0]
    assert text.startswith("inferwire: request r2 (http/1.1, connection 0, stream 2) first "
                           "request byte;")
    assert "request_ms=0.500 wait_ms=2.500 response_ms=0.200 total_ms=3.200" in text
    assert "tcp_handshake_ms" not in text               # only the first request has it
    assert "tcp_handshake_ms=0.150" in found[4][0]
    assert "last response byte" in found[9][0]


@pytest.mark.tshark
def test_pcap_source_becomes_annotated_pcapng(crafted_pcap, tmp_path):
    a = inferwire.analyze(crafted_pcap)
    dst = tmp_path / "annotated.pcapng"
    result = annotate_capture(crafted_pcap, a.requests, dst)
    assert (result.packets, result.annotated, result.comments) == (11, 4, 4)
    assert result.warnings == []
    assert dst.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    assert tshark_comments(dst) == frame_comments(a.requests)
    same_packets(crafted_pcap, dst)
    # the annotated file analyses to the same table
    again = inferwire.analyze(dst)
    assert again.requests.equals(a.requests)


@pytest.mark.tshark
def test_run_capture_keeps_every_block(sample_run, tmp_path):
    run = load_run(sample_run)
    table = run.table(warmup=True)
    dst = tmp_path / "annotated.pcapng"
    result = annotate_capture(run.capture_path, table, dst)
    expected = frame_comments(table)
    assert result.comments == sum(len(v) for v in expected.values()) == 2 * len(run.requests)
    assert tshark_comments(dst) == expected
    same_packets(run.capture_path, dst)
    src = run.capture_path.read_bytes()
    # only comments were added: the size grows by exactly the option bytes
    grown = sum(len(out.comment(t)) for texts in expected.values() for t in texts)
    had_options = _epb_with_options(src, expected)
    assert len(dst.read_bytes()) == len(src) + grown + 4 * (len(expected) - had_options)
    # the commented packet really opens the request: its TCP payload starts with the POST line
    rest = table[table["protocol"] == "http/1.1"].iloc[0]
    proc = subprocess.run(["tshark", "-r", str(dst), "-Y",
                           f"frame.number == {rest['request_frame']}", "-T", "fields", "-e",
                           "tcp.payload"], capture_output=True, text=True, timeout=60)
    assert bytes.fromhex(proc.stdout.strip().replace(":", "")).startswith(b"POST /v1/models/")


def _epb_with_options(buf: bytes, frames) -> int:
    """How many of the commented frames' EPBs already had options (so already an endofopt)."""
    off, frame, n = 0, 1, 0
    while off < len(buf):
        btype, blen = struct.unpack_from("<II", buf, off)
        if btype == 6:
            if frame in frames:
                caplen = struct.unpack_from("<I", buf, off + 20)[0]
                n += 28 + caplen + (-caplen) % 4 + 4 < blen
            frame += 1
        off += blen
    return n


@pytest.mark.tshark
def test_existing_options_are_kept_and_big_endian_works(tmp_path):
    order = ">"
    pkt = bytes.fromhex("000000000000000000000000080045000028000100004006f97d0a0000010a000002"
                        "9c401f490000000100000000500220008bb70000")
    own = out.options([(out.OPT_COMMENT, b"original note"), (2, struct.pack(">I", 1))], order)
    data = (out.shb(order) + out.idb(1, 65535, 9, order)
            + out.epb(0, 1_700_000_000 * 10**9, pkt, len(pkt), order, own)
            + out.epb(0, 1_700_000_001 * 10**9, pkt, len(pkt), order))
    src = tmp_path / "be.pcapng"
    src.write_bytes(data)
    table = {"request_id": "x", "protocol": "h2", "connection": 0, "stream": 1,
             "request_frame": 1, "response_frame": 2, "total_ms": 1.5}
    import pandas as pd
    dst = tmp_path / "be-annotated.pcapng"
    result = annotate_capture(src, pd.DataFrame([table]), dst)
    assert result.annotated == 2
    got = tshark_comments(dst)
    assert got[1][0] == "original note"
    assert got[1][1] == comment_text(table, "first request byte")
    assert got[2] == [comment_text(table, "last response byte")]
    assert dst.read_bytes()[8:12] == b"\x1a\x2b\x3c\x4d"      # still big-endian


def test_not_a_capture_is_a_clear_error(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_bytes(b"hello, this is not a capture")
    with pytest.raises(CaptureFormatError) as err:
        annotate_capture(bad, _empty_table(), tmp_path / "o.pcapng")
    assert err.value.path == str(bad) and err.value.offset == 0 and err.value.field == "magic"
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    with pytest.raises(CaptureFormatError):
        annotate_capture(empty, _empty_table(), tmp_path / "o.pcapng")


def test_cut_file_keeps_the_blocks_before_the_cut(sample_run, tmp_path):
    run = load_run(sample_run)
    data = run.capture_path.read_bytes()
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(data[:len(data) // 2 + 3])
    with pytest.warns(InferwireWarning, match="block_total_length|not in the file"):
        result = annotate_capture(cut, run.table(warmup=True), tmp_path / "o.pcapng")
    assert 0 < result.packets < read_packets(run.capture_path).stats.packets
    assert any("offset" in w for w in result.warnings)
    # what was written reads back cleanly, to the last whole block
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_packets(tmp_path / "o.pcapng").stats.packets == result.packets


def test_frames_missing_from_the_file_are_reported(crafted_pcap, tmp_path):
    a = inferwire.analyze(crafted_pcap)
    req = a.requests.copy()
    req.loc[1, "response_frame"] = 999
    with pytest.warns(InferwireWarning, match="1 frames of the table are not in the file"):
        result = annotate_capture(crafted_pcap, req, tmp_path / "o.pcapng")
    assert result.comments == 3


def _empty_table():
    import pandas as pd
    return pd.DataFrame({"request_frame": [], "response_frame": []})
