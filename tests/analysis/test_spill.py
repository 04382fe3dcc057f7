"""Captures read into buckets on disk (inferwire.analysis.spill): the same tables as in memory, the spill
folder always removed, a full disk a clear error."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import inferwire.analysis.spill as spill_mod
from inferwire import analyze
from inferwire.errors import InferwireError
from inferwire.packets import read_packets
from inferwire.analysis.spill import read_bucketed, spill_wanted
from needs import small_tmpfs

CAPTURES = Path(__file__).resolve().parents[2] / "captures"


def _analyze(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analyze(path, **kw)


@pytest.mark.parametrize("capture, options", [
    ("run-b1/capture.pcapng", {}),                     # REST and gRPC, reused connections
    ("run-b4/capture.pcapng", {}),
    ("run-new-conn/capture.pcapng", {}),               # a connection per request
    ("tls-rest.pcapng", {"tls_keylog": CAPTURES / "tls-rest.keylog"}),
])
@pytest.mark.parametrize("workers", [1, 2])
def test_spilled_capture_gives_the_same_tables_as_in_memory(capture, options, workers,
                                                            monkeypatch, tmp_path):
    monkeypatch.setattr(spill_mod, "BUCKET_FILE_BYTES", 20_000)    # many small buckets
    memory = _analyze(CAPTURES / capture, workers=1, spill=False, **options)
    disk = _analyze(CAPTURES / capture, workers=workers, spill=True, spill_dir=tmp_path,
                    **options)
    assert len(memory.requests) > 0
    pd.testing.assert_frame_equal(memory.requests, disk.requests)
    pd.testing.assert_frame_equal(memory.connections, disk.connections)
    assert memory.warnings == disk.warnings
    assert list(tmp_path.iterdir()) == []              # the spill folder is gone


def test_buckets_hold_every_packet_once_in_file_order_and_whole_connections(tmp_path):
    path = CAPTURES / "run-b1/capture.pcapng"
    table = read_packets(path)
    with read_bucketed(path, 7, tmp_path) as spilled:
        assert len(spilled) == len(table) and spilled.stats.tcp_packets == len(table)
        seen, owner = [], {}
        for b in range(7):
            sub, rows = spilled.bucket(b)
            assert len(sub) == len(rows) == spilled.counts[b]
            assert np.all(np.diff(rows) > 0)                       # file order
            assert np.array_equal(sub.frame, table.frame[rows])   # the same packets
            assert np.array_equal(sub.payload_off, table.payload_off[rows])
            for r in rows.tolist():
                key = frozenset([(table.src_lo[r], table.sport[r]),
                                 (table.dst_lo[r], table.dport[r])])
                assert owner.setdefault(key, b) == b               # a 4-tuple in one bucket
            seen += rows.tolist()
        assert sorted(seen) == list(range(len(table)))
        folder = spilled.directory
        assert folder.parent == tmp_path and oct(folder.stat().st_mode & 0o777) == "0o700"
    assert not folder.exists()


def test_a_truncated_capture_gives_the_same_warnings_and_rows(tmp_path):
    src = (CAPTURES / "run-b1/capture.pcapng").read_bytes()
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(src[:len(src) * 2 // 3 + 5])                  # killed mid-record
    memory = _analyze(cut, workers=1, spill=False)
    disk = _analyze(cut, workers=1, spill=True, spill_dir=tmp_path)
    assert any("offset" in w for w in memory.warnings)
    assert memory.warnings == disk.warnings
    pd.testing.assert_frame_equal(memory.requests, disk.requests)


def test_bad_input_is_named_and_leaves_no_folder(tmp_path):
    bad = tmp_path / "garbage.pcap"
    bad.write_bytes(b"not a capture at all" * 10)
    spill_dir = tmp_path / "spill"
    spill_dir.mkdir()
    with pytest.raises(InferwireError, match="garbage.pcap"):
        analyze(bad, spill=True, spill_dir=spill_dir)
    assert list(spill_dir.iterdir()) == []
    with pytest.raises(InferwireError, match="spill must be"):
        spill_wanted(bad, "sometimes")


def test_auto_spills_only_big_files(tmp_path, monkeypatch):
    path = CAPTURES / "run-b1/capture.pcapng"
    assert spill_wanted(path, "auto") is False and spill_wanted(path, True) is True
    monkeypatch.setattr(spill_mod, "AUTO_SPILL_BYTES", 1000)
    assert spill_wanted(path, "auto") is True


def test_a_full_disk_is_a_clear_error(tmp_path):
    """A real 4 KiB tmpfs as the spill folder: the spill of 288 packets (about 32 KB) does not fit."""
    small = tmp_path / "small"
    small.mkdir()
    with small_tmpfs(small, "4k"):
        with pytest.raises(InferwireError, match=r"no space left in .*small.* spill"):
            analyze(CAPTURES / "run-b4/capture.pcapng", spill=True, spill_dir=small)
        assert list(small.iterdir()) == []


def test_warnings_made_errors_leave_no_folder(tmp_path):
    src = (CAPTURES / "run-b1/capture.pcapng").read_bytes()
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(src[:len(src) // 2 + 5])                      # a warning: cut mid-record
    spill_dir = tmp_path / "spill"
    spill_dir.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(Warning):
            analyze(cut, spill=True, spill_dir=spill_dir)
    assert list(spill_dir.iterdir()) == []


def test_a_missing_file_is_named_with_or_without_spill(tmp_path):
    from inferwire.errors import CaptureFormatError
    for spill in (True, False):
        with pytest.raises(CaptureFormatError, match="nothing.pcapng"):
            analyze(tmp_path / "nothing.pcapng", spill=spill, spill_dir=tmp_path)
