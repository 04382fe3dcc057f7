"""A capture that shrinks while it is read (rotated, truncated, rewritten by another program)
gives a clear error naming the file and both sizes, in every mode (one process, forked
workers, spill to disk), instead of a silent SIGBUS death (exit 135)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from bigcapture import write_big_pcap

CONNECTIONS = 200_000          # ~120 MB, several seconds of analysis: time to truncate it


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shrink")
    path = folder / "big.pcap"
    size = write_big_pcap(path, CONNECTIONS)
    return path, size


def mapped(pid: int, path) -> bool:
    try:
        with open(f"/proc/{pid}/maps") as f:
            return str(path) in f.read()
    except OSError:
        return False


@pytest.mark.parametrize("mode", [[], ["--workers", "2"], ["--spill", "yes"]],
                         ids=["one-process", "workers", "spill"])
def test_truncated_while_analyzed_is_a_clear_error(big, tmp_path, mode):
    source, size = big
    path = tmp_path / "rotating.pcap"
    path.write_bytes(source.read_bytes())
    proc = subprocess.Popen([sys.executable, "-m", "inferwire.cli", "analyze", "--quiet",
                             *mode, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 60
    while not mapped(proc.pid, path) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "the analysis ended before the file was mapped"
    os.truncate(path, size // 3)              # what a rotating or rewriting writer does
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != -signal.SIGBUS, "killed by SIGBUS"
    assert proc.returncode == 1, err
    assert f"inferwire: error: {path}" in err
    assert f"it was {size} bytes and is now {size // 3}" in err
    assert "Traceback" not in err and out == ""


def test_guard_reads_zeros_and_counts(tmp_path):
    """In one process, deterministically: the file is cut after it is mapped and before the
    walk; the walk survives and the reader names the change."""
    path = tmp_path / "cut.pcap"
    size = write_big_pcap(path, 2_000)
    script = f"""
import os, sys
from inferwire.errors import CaptureFormatError
from inferwire.packets import guard, reader
real = reader.map_capture
def map_then_cut(p):
    got = real(p)
    os.truncate(p, 4096)
    return got
reader.map_capture = map_then_cut
before = guard.faults()
try:
    reader.read_packets({str(path)!r})
except CaptureFormatError as exc:
    print(guard.faults() > before, exc)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert done.stdout.startswith(f"True {path}, offset 4096: the file changed while it was "
                                  f"read (it was {size} bytes and is now 4096")
