"""Numbers in headers are bounded and ASCII-only: a status or length that is too long or not
ASCII is a warning on its connection, never the end of the whole analysis (crafted captures)."""
from __future__ import annotations

import subprocess
import sys
import warnings

import pandas as pd
import pytest

import inferwire
from inferwire.protocols.numbers import ascii_int
from badcraft import HUGE, grpc_capture, http1_capture


def analyze(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return inferwire.analyze(path)


def test_ascii_int_bounds():
    assert ascii_int("200", 3) == 200 and ascii_int(" 7\t", 10) == 7
    assert [ascii_int(v, 3) for v in ("2000", "", "٣", "²", "-1", "+1", "1_0", None)] == [None] * 8


@pytest.mark.parametrize("grpc_status", [HUGE, "9" * 5000, "٣", "1e3"])
def test_bad_grpc_status_is_a_warning_on_the_stream(tmp_path, grpc_status):
    a = analyze(grpc_capture(tmp_path / "g.pcap", grpc_status=grpc_status))
    row = a.requests.iloc[0]
    assert len(a.requests) == 1 and row["status"] == 200 and pd.isna(row["grpc_status"])
    assert row["wait_ms"] == pytest.approx(0.7)
    assert any("stream 1: grpc-status" in w and "grpc_status left empty" in w for w in a.warnings)


@pytest.mark.parametrize("status", [HUGE, "2000", "٢٠٠"])
def test_bad_status_is_a_warning_on_the_stream(tmp_path, status):
    a = analyze(grpc_capture(tmp_path / "s.pcap", status=status))
    row = a.requests.iloc[0]
    assert len(a.requests) == 1 and pd.isna(row["status"]) and row["grpc_status"] == 0
    assert any("stream 1: :status" in w and "not a 3-digit" in w for w in a.warnings)


@pytest.mark.parametrize("length", [HUGE.encode(), b"9" * 5000, "٢".encode()])
def test_bad_content_length_is_a_warning_on_the_connection(tmp_path, length):
    a = analyze(http1_capture(tmp_path / "h.pcap", length))
    bad = [w for w in a.warnings if "invalid Content-Length" in w]
    assert len(bad) == 1 and "field content-length" in bad[0] and len(bad[0]) < 300


def test_cli_exits_0_with_the_warning(tmp_path):
    path = grpc_capture(tmp_path / "g.pcap", grpc_status=HUGE)
    done = subprocess.run([sys.executable, "-m", "inferwire.cli", "analyze", path],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "grpc-status '99999999999999999999999' is not a number" in done.stderr + done.stdout
    assert "internal error" not in done.stderr
