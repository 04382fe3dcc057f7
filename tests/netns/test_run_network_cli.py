"""``scripts/capture_run.py --network``: Ctrl-C in the middle of the load and a profile that
cannot be made here both end with everything torn down and a clear word, never a traceback."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from needs import need_capture

from .live import kernel_has_netem, namespaces_of, need_netns

pytestmark = [pytest.mark.capture, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _need():
    need_netns()
    need_capture()


def _cli(out: Path, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "scripts" / "capture_run.py"),
                             "--out", str(out), *args], cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT / "src")),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _left_running(run_dir: Path) -> list:
    return [p.info["cmdline"] for p in psutil.process_iter(["cmdline"])
            if str(run_dir) in " ".join(p.info["cmdline"] or [])]


def test_ctrl_c_during_the_load_tears_everything_down(tmp_path):
    cli = _cli(tmp_path, "--network", "lossy-lan", "--network-capture", "both",
               "--protocol", "rest", "--duration", "60")
    run_dir = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and run_dir is None:
        logs = list(tmp_path.glob("*/client_log_rest.csv"))
        if logs and logs[0].stat().st_size > 2000:      # requests are being logged
            run_dir = logs[0].parent
        time.sleep(0.2)
    assert run_dir is not None, "the load never started"
    assert len(namespaces_of(cli.pid)) == 3
    cli.send_signal(signal.SIGINT)
    stdout, stderr = cli.communicate(timeout=90)
    assert cli.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert manifest["loads"]["rest"]["ok"] > 0
    assert manifest["analysis"]["requests"] > 0         # what was measured is kept, analyzed
    assert all(e["exit_code"] == 0 for e in manifest["network"]["teardown"])
    assert manifest["network"]["server_capture"]["packets"] > 0
    assert namespaces_of(cli.pid) == []
    assert _left_running(run_dir) == []


def test_delay_without_netem_is_refused_clearly(tmp_path):
    """Without sch_netem (this machine's kernel) a profile with delay is refused, naming it;
    where the kernel has netem, the delay is applied instead."""
    cli = _cli(tmp_path, "--network", "wan", "--protocol", "rest", "--requests", "5")
    stdout, stderr = cli.communicate(timeout=120)
    if kernel_has_netem():
        assert cli.returncode == 0, stderr[-2000:]
        (run_dir,) = list(tmp_path.iterdir())
        assert json.loads((run_dir / "manifest.json").read_text())["network"]["delay_applied"]
        return
    assert cli.returncode == 1
    assert "sch_netem" in stderr and "--network-allow-missing delay" in stderr
    assert "Traceback" not in stderr
    (run_dir,) = list(tmp_path.iterdir())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "server" not in manifest
    assert all(e["exit_code"] == 0 for e in manifest["network"]["teardown"])
    assert namespaces_of(cli.pid) == []


def test_bad_knob_is_one_line_not_a_traceback(tmp_path):
    cli = _cli(tmp_path, "--network", "lan", "--bandwidth", "fast")
    stdout, stderr = cli.communicate(timeout=60)
    assert cli.returncode != 0
    assert "bandwidth 'fast'" in stderr and "Traceback" not in stderr
