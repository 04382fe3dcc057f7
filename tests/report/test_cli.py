"""``inferwire report``: the files it writes, the flags that choose them, its errors."""
from __future__ import annotations

import json
import subprocess
import sys

from inferwire.cli import main
from inferwire.report.build import build_report, default_out


def test_run_folder_gets_every_output(sample_run, tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["report", str(sample_run), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    for name in ("report.html", "summary.md", "requests.har", "annotated.pcapng"):
        assert (out / name).is_file(), name
        assert str(out / name) in printed
    assert sorted(p.name for p in (out / "figures").iterdir()) == [
        "cdf.png", "cpu.png", "phases.png", "timeline.png", "waterfall.png"]
    assert (out / "summary.md").read_text() == (sample_run / "summary.md").read_text()
    page = (out / "report.html").read_text()
    assert 'href="requests.har"' in page and 'href="annotated.pcapng"' in page
    assert json.loads((out / "requests.har").read_text())["log"]["version"] == "1.2"


def test_flags_choose_outputs(sample_run, tmp_path):
    out = tmp_path / "har-only"
    assert main(["report", str(sample_run), "--out", str(out), "--har", "--quiet"]) == 0
    assert not (out / "report.html").exists() and not (out / "annotated.pcapng").exists()
    assert not (out / "figures").exists()
    assert sorted(p.name for p in out.iterdir()) == ["requests.har", "summary.md"]


def test_capture_file_report(tls_sample, tmp_path):
    written = build_report(tls_sample["pcap"], tmp_path / "tls", tls_keylog=tls_sample["keylog"],
                           ignore_ports=(tls_sample["probe_port"],))
    summary = written["summary.md"].read_text()
    assert "tls_handshake_ms" in summary and "8 requests on 8 connections" in summary
    har = json.loads(written["har"].read_text())
    assert len(har["log"]["entries"]) == 8
    assert all(e["timings"]["ssl"] > 0 for e in har["log"]["entries"])
    assert "annotated pcapng" in written


def test_default_out(tmp_path, sample_run, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert default_out(sample_run) == sample_run / "report"
    assert default_out(sample_run / "capture.pcapng") == tmp_path / "capture-report"


def test_bad_target_is_an_error_not_a_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "inferwire.cli", "report",
                           str(tmp_path / "missing.pcap"), "--quiet"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "inferwire: error:" in proc.stderr and "no such run folder or capture file" in \
        proc.stderr
    assert "Traceback" not in proc.stderr
    garbage = tmp_path / "garbage.pcap"
    garbage.write_bytes(b"\x00" * 64)
    assert main(["report", str(garbage), "--out", str(tmp_path / "g"), "--quiet"]) == 1


def test_report_of_a_capture_writes_owner_only_files(sample_run, tmp_path):
    """``inferwire report CAP --annotate`` (issue 16 item 11): the annotated pcapng holds every
    payload: 0600, in a new folder 0700; into an existing folder only what it writes changes."""
    import os
    import stat
    out = tmp_path / "new" / "rep"
    assert main(["report", str(sample_run / "capture.pcapng"), "--out", str(out),
                 "--quiet"]) == 0
    modes = {p.relative_to(out).as_posix(): stat.S_IMODE(os.stat(p).st_mode)
             for p in [out, *out.rglob("*")]}
    assert modes["annotated.pcapng"] == 0o600 and modes["requests.har"] == 0o600
    assert {p: oct(m) for p, m in modes.items()
            if m != (0o700 if (out / p).is_dir() else 0o600)} == {}
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    (shared / "theirs.txt").write_text("x")
    os.chmod(shared / "theirs.txt", 0o644)
    assert main(["report", str(sample_run / "capture.pcapng"), "--out", str(shared),
                 "--annotate", "--quiet"]) == 0
    assert stat.S_IMODE(os.stat(shared / "annotated.pcapng").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(shared).st_mode) == 0o755          # not ours to change
    assert stat.S_IMODE(os.stat(shared / "theirs.txt").st_mode) == 0o644
