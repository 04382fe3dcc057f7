"""``pip install inferwire`` alone (issue 17 item 6): a fresh venv gets the core and nothing of
the extras, analyzes a sample capture, makes a report, and says which extra a missing feature
needs.  Installs from the local tree (the pip cache or the registry for the dependencies)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = {"numpy", "pandas", "pyarrow", "hpack", "cryptography", "matplotlib", "tqdm"}
EXTRAS_ONLY = {"tensorflow", "tensorflow-serving-api", "grpcio", "locust", "psutil", "dask",
               "distributed", "scapy", "pyshark", "requests", "dpkt", "h2", "pytest"}

pytestmark = [pytest.mark.slow]


def _run(argv, **kw):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, **kw)


@pytest.mark.timeout(1200)
def test_core_install_analyzes_and_reports(tmp_path):
    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], timeout=120)
    assert made.returncode == 0, made.stderr
    pip = _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(ROOT)],
               timeout=1100)
    assert pip.returncode == 0, pip.stderr[-3000:]
    listed = _run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"])
    names = {line.split("==")[0].lower() for line in listed.stdout.splitlines()}
    assert CORE <= names
    assert not names & EXTRAS_ONLY, names & EXTRAS_ONLY

    inferwire = str(venv / "bin" / "inferwire")
    out = _run([inferwire, "analyze", "captures/run-b1/capture.pcapng", "--out",
                str(tmp_path / "tables"), "--quiet"], timeout=300)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "tables" / "requests.parquet").is_file()
    rep = _run([inferwire, "report", "captures/run-b1", "--out", str(tmp_path / "rep"),
                "--quiet"], timeout=300)
    assert rep.returncode == 0, rep.stderr
    for name in ("report.html", "summary.md", "requests.har", "annotated.pcapng",
                 "figures/phases.png"):
        assert (tmp_path / "rep" / name).is_file(), name
    code = ("import inferwire, inferwire.packets, inferwire.protocols, inferwire.tcp.segments\n"
            "a = inferwire.analyze('captures/tls-rest.pcapng',"
            " tls_keylog='captures/tls-rest.keylog')\n"
            "print(len(a.requests), inferwire.packets.accelerated(),"
            " inferwire.protocols.accelerated(), inferwire.tcp.segments.accelerated())\n")
    py = _run([str(venv / "bin" / "python"), "-c", code], timeout=300)
    assert py.returncode == 0, py.stderr
    n, walk, scan, segments = py.stdout.split()
    assert int(n) > 0 and walk == scan == segments == "True"    # the C extensions were built too

    # a feature of an extra: a one-line error naming the extra, never a traceback
    for argv, extra in (([inferwire, "serve", "--model_base_path", "x"], "serve"),
                        ([inferwire, "run", "--duration", "1", "--out", str(tmp_path / "r")],
                         "load"),
                        ([inferwire, "analyze", "--parallel", "captures/run-b1"], "parallel")):
        got = _run(argv, timeout=120)
        assert got.returncode == 1, (argv, got.stderr)
        assert f"pip install 'inferwire[{extra}]'" in got.stderr, got.stderr
        assert "Traceback" not in got.stderr
