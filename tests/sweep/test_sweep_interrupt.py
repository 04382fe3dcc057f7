"""Ctrl-C in the middle of a sweep point: the run is stopped, analyzed and kept as
"interrupted", the sweep exits 130 and says how to resume; the point is not counted as done."""
import json
import signal
import subprocess
import sys
import time

import pytest

from inferwire.sweep import finished_runs
from needs import need_capture

pytestmark = [pytest.mark.capture, pytest.mark.slow]


def test_sigint_stops_the_sweep_and_leaves_the_point_to_do(tmp_path):
    need_capture()
    d = tmp_path / "sweep"
    proc = subprocess.Popen([sys.executable, "-m", "inferwire.cli", "sweep", "--out", str(d),
                             "--batch-size", "1", "--protocol", "rest", "--duration", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while not list(d.glob("runs/*/client_log_rest.csv")):     # the load has started
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the load never started"
            time.sleep(0.2)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "--resume" in err
    (run,) = d.glob("runs/*")
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert (run / "joined.csv").exists()               # what was measured was analyzed and kept
    assert finished_runs(d) == {}                      # so --resume will run the point again
