"""`inferwire analyze` with several files, a directory, --parallel and --client/--server."""
from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from craft import Conversation, http_request, http_response, write_pcap

MS = 1_000_000


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "inferwire.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def conversation(port: int, n: int) -> list:
    c = Conversation(client=("10.0.0.1", port))
    c.handshake(0, 100_000, 200_000)
    for i in range(n):
        c.client((i + 1) * 10 * MS, http_request(request_id=f"{port}-{i}"))
        c.server((i + 1) * 10 * MS + 2 * MS, http_response())
    return c.packets


@pytest.fixture
def parts(tmp_path):
    packets = conversation(40000, 4)
    d = tmp_path / "ring"
    d.mkdir()
    return [write_pcap(d / "cap_00001_20240101000000.pcap", packets[:6]),
            write_pcap(d / "cap_00002_20240101000001.pcap", packets[6:])]


def test_several_files_and_a_directory_are_one_capture(parts, tmp_path):
    for args in (parts, [str(tmp_path / "ring")]):
        r = run_cli("analyze", *args, "--quiet", "--out", tmp_path / "out")
        assert r.returncode == 0, r.stderr
        assert "http/1.1: 4 requests (4 complete)" in r.stdout
        df = pd.read_csv(tmp_path / "out" / "requests.csv")
        assert df["request_id"].tolist() == [f"40000-{i}" for i in range(4)]
        assert df["connection"].nunique() == 1       # stitched across the two files


def test_parallel_analyzes_each_capture_and_writes_one_folder_each(tmp_path):
    a = write_pcap(tmp_path / "a.pcap", conversation(40001, 2))
    b = write_pcap(tmp_path / "b.pcapng", conversation(40002, 3))
    bad = tmp_path / "c.pcap"
    bad.write_bytes(b"not a capture at all, just words")
    r = run_cli("analyze", "--parallel", "--workers", 2, a, b, bad, "--out", tmp_path / "out")
    # the bad capture fails on its own (exit 1, one line); the others are still written
    assert r.returncode == 1 and "Traceback" not in r.stdout + r.stderr
    assert "not a pcap or pcapng" in r.stdout and str(bad) in r.stdout
    assert "1 of 3 captures could not be analyzed" in r.stdout
    assert "http/1.1: 2 requests" in r.stdout and "http/1.1: 3 requests" in r.stdout
    assert len(pd.read_csv(tmp_path / "out" / "a" / "requests.csv")) == 2
    assert len(pd.read_csv(tmp_path / "out" / "b" / "requests.csv")) == 3
    assert not (tmp_path / "out" / "c").exists()


def test_client_and_server_captures(tmp_path):
    from analysis.vantage.twopoint import TwoPoints      # crafted two-point captures
    c, s = TwoPoints(offset_ns=-250 * MS).captures(tmp_path)
    r = run_cli("analyze", "--client", c, "--server", s, "--out", tmp_path / "two")
    assert r.returncode == 0, r.stderr
    assert "server clock - client clock = -249.900 ms ± 0.200 ms" in r.stdout
    assert "server's own time" in r.stdout
    df = pd.read_parquet(tmp_path / "two" / "two_point.parquet")
    assert df["server_own_ms"].round(6).tolist() == [20.0, 20.0, 20.0]
    offset = json.loads((tmp_path / "two" / "clock_offset.json").read_text())
    assert offset["lower_ns"] <= -250 * MS <= offset["upper_ns"]


@pytest.mark.parametrize("args, words", [
    (["--client", "x.pcap"], "--client and --server go together"),
    (["a.pcap", "--client", "x.pcap", "--server", "y.pcap"], "do not also give"),
    ([], "no capture given"),
    (["a.pcap", "--nat"], "--nat applies"),
    (["a.pcap", "--workers", "0"], "give a positive number"),
])
def test_option_clashes_get_one_clear_line(args, words):
    r = run_cli("analyze", *args)
    assert r.returncode == 1 and words in r.stderr and "Traceback" not in r.stderr



def test_sigterm_during_parallel_removes_the_spool_folder(tmp_path):
    """SIGTERM while the workers analyze unwinds like Ctrl-C: exit 130, no traceback, and the
    folder the workers leave their results in (up to ~100 MB a capture) is gone."""
    import os
    import signal
    import time

    from bigcapture import write_big_pcap
    caps = [tmp_path / f"big{k}.pcap" for k in range(3)]
    for cap in caps:
        write_big_pcap(cap, 60_000)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "inferwire.cli", "analyze", "--parallel",
                             "--workers", "2", *map(str, caps)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(scratch)})
    deadline = time.monotonic() + 60
    while not any(p.name.startswith("inferwire-many-") for p in scratch.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in out + err
    assert not [p for p in scratch.iterdir() if p.name.startswith("inferwire-many-")]
