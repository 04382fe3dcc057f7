"""Ctrl-C during a locust capture run (``scripts/capture_run.py --engine locust``): the run
stops at once, keeps and analyzes what was measured, keeps locust's outputs, leaves no locust
process behind."""
import json
import signal
import time
from pathlib import Path

import pandas as pd
import pytest

from runprocs import processes_naming, start_capture_run, wait_for

from .conftest import need_capture

pytestmark = [pytest.mark.capture, pytest.mark.slow]


def _wait_for_requests(out: Path, timeout=60):
    """Until a locust worker's request log has flushed rows (it flushes every 50)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = list(out.glob("*/grpc_single_locust_request_logs/requests_*.csv"))
        if logs and logs[0].read_text().count("\n") > 1:
            return
        time.sleep(0.2)
    raise AssertionError("locust sent no request")


def test_ctrl_c_stops_locust_and_keeps_what_was_measured(model_server, tmp_path):
    need_capture()
    proc = start_capture_run(
        tmp_path, "--server", "127.0.0.1", "--grpc-port", str(model_server.grpc_port),
        "--rest-port", str(model_server.rest_port), "--protocol", "grpc", "--engine", "locust",
        "--duration", "60", "--warmup", "3", "--locust-workers", "1")
    try:
        wait_for(proc, "locust: grpc_single.py")
        _wait_for_requests(tmp_path)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    assert time.monotonic() - t0 < 60, "Ctrl-C must not wait for the 60 s duration"
    run_dir = next(p for p in tmp_path.iterdir() if p.is_dir())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert manifest["loads"]["grpc"]["interrupted"] is True
    events = pd.read_csv(run_dir / "grpc_single_requests.csv")
    assert len(events) > 0 and (run_dir / "grpc_single_stats.csv").exists()
    requests = pd.read_csv(run_dir / "requests.csv")
    assert set(events["request_id"]) <= set(requests["request_id"].dropna())
    time.sleep(0.5)
    left = processes_naming(run_dir)
    assert not left, left
