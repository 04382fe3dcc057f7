"""Inputs the analyzer cannot open: a clear error naming the path (exit 1), never an internal
error; a directory's unreadable file is named in the warnings.  Root reads everything, so the
CLI runs with CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH dropped (setpriv): permissions apply."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from badcraft import grpc_capture

NO_DAC = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]


def analyze_cli(*args) -> subprocess.CompletedProcess:
    prefix = NO_DAC if os.geteuid() == 0 else []
    if prefix and not shutil.which("setpriv"):
        pytest.fail("setpriv (util-linux) is needed to test permissions as root")
    return subprocess.run([*prefix, sys.executable, "-m", "inferwire.cli", "analyze", "--quiet",
                           *map(str, args)], capture_output=True, text=True, timeout=120)


@pytest.fixture
def folder(tmp_path):
    tmp_path.chmod(0o755)
    d = tmp_path / "captures"
    d.mkdir()
    yield d
    d.chmod(0o755)
    for f in d.iterdir():
        f.chmod(0o644)


def test_unreadable_directory(folder):
    grpc_capture(folder / "a.pcap")
    folder.chmod(0o000)
    done = analyze_cli(folder)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == (f"inferwire: error: {folder}: cannot list the directory: "
                                   "Permission denied")


def test_directory_whose_only_capture_is_unreadable(folder):
    grpc_capture(folder / "a.pcap")
    (folder / "a.pcap").chmod(0o000)
    done = analyze_cli(folder)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == (
        f"inferwire: error: {folder}: the directory holds no readable pcap or pcapng file; could "
        f"not open 1 file(s), which may be captures: {folder / 'a.pcap'} (Permission denied)")


def test_directory_with_one_unreadable_capture_reads_the_others(folder):
    grpc_capture(folder / "a.pcap")
    grpc_capture(folder / "b.pcap")
    (folder / "a.pcap").chmod(0o000)
    done = analyze_cli(folder)
    assert done.returncode == 0, done.stderr
    assert "1 requests" in done.stdout
    assert (f"{folder / 'a.pcap'} (Permission denied): cannot be opened, not read (it may be a "
            "capture)") in done.stdout + done.stderr


def test_unreadable_file(folder):
    path = grpc_capture(folder / "a.pcap")
    os.chmod(path, 0)
    done = analyze_cli(path)
    assert (done.returncode, done.stderr.strip()) == (
        1, f"inferwire: error: {path}: cannot read the file: Permission denied")
