"""Capture runs end to end: embedded server, real dumpcap capture on loopback, real load.

Acceptance of the capture-run issue: every client-log request is found in the capture by id, the
client's time is at least the wire time, a new-connection-per-request run shows a TCP handshake on
every request, Ctrl-C and a server crash keep and analyze what was measured and leave no process.
"""
import json
import os
import signal
import stat
import time

import pandas as pd
import psutil
import pytest

from inferwire.experiment import RunConfig, run_experiment
from inferwire.serving.ports import free_ports
from needs import need_capture
from runprocs import processes_naming, run_dir_of, start_capture_run, wait_for

pytestmark = [pytest.mark.capture, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _need_capture():
    need_capture()


def test_both_protocols_every_request_found_and_client_time_covers_wire(tmp_path):
    result = run_experiment(RunConfig(out=str(tmp_path), requests=40, duration_s=None, users=2,
                                      warmup_requests=5, progress=False, **_ports()))
    assert result.status == "ok", result.problems
    d = result.run_dir
    for name in ("capture.pcapng", "client_log_rest.csv", "client_log_grpc.csv",
                 "server_log.jsonl", "requests.csv", "connections.csv", "joined.csv",
                 "resources.csv", "manifest.json", "summary.md"):
        assert (d / name).exists(), name
    assert stat.S_IMODE(os.stat(d / "capture.pcapng").st_mode) == 0o600
    j = result.joined
    measured = j[j["in_client_log"] & (j["client_phase"] == "measure")]
    assert len(measured) == 80
    assert measured["in_capture"].all(), "client-log requests missing from the capture"
    assert (measured.groupby("workload").size() == 40).all()
    assert (measured["client_ms"] >= measured["total_ms"]).all()
    assert set(measured["protocol"]) == {"http/1.1", "grpc"}
    assert measured["model_ms"].notna().all() and (measured["model_ms"] > 0).all()
    # the server's own handling fits inside the wait the wire shows
    assert (measured["server_ms"] <= measured["wait_ms"] + 0.05).all()
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["capture"]["dropped"] == 0
    assert manifest["environment"]["tensorflow"] and manifest["environment"]["tshark"]
    assert "Where the time went" in (d / "summary.md").read_text()
    assert not processes_naming(d)


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_new_connection_per_request_shows_handshakes(tmp_path, protocol):
    result = run_experiment(RunConfig(out=str(tmp_path), protocols=(protocol,), requests=15,
                                      duration_s=None, users=1, warmup_requests=2,
                                      connection="new", progress=False, **_ports()))
    assert result.status == "ok", result.problems
    j = result.joined
    measured = j[j["in_client_log"] & (j["client_phase"] == "measure")]
    assert len(measured) == 15 and measured["in_capture"].all()
    assert measured["tcp_handshake_ms"].notna().all()
    assert (measured["tcp_handshake_ms"] > 0).all()
    assert measured["connection"].nunique() == 15
    if protocol == "grpc":
        assert measured["h2_setup_ms"].notna().all()


def _ports() -> dict:
    """Free ports for the embedded server (8500/8501 may be another server's here)."""
    grpc, rest = free_ports(2)
    return {"grpc_port": grpc, "rest_port": rest}


def _start_run(tmp_path, *args):
    grpc, rest = free_ports(2)
    return start_capture_run(tmp_path, "--protocol", "rest", "--grpc-port", str(grpc),
                             "--rest-port", str(rest), *args)


def test_ctrl_c_keeps_and_analyzes_what_was_measured(tmp_path):
    proc = _start_run(tmp_path, "--duration", "60")
    wait_for(proc, "measure")            # the load's progress line: requests are flowing
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    d = run_dir_of(tmp_path)
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    requests = pd.read_csv(d / "requests.csv")
    log = pd.read_csv(d / "client_log_rest.csv")
    assert len(requests) > 0 and len(log) > 0
    finished = log[log["finished_ns"].notna() & (log["phase"] == "measure")]
    assert set(finished["request_id"]) <= set(requests["request_id"])
    time.sleep(0.5)
    assert not processes_naming(d)


def test_server_crash_mid_run_is_reported_and_measured_data_kept(tmp_path):
    proc = _start_run(tmp_path, "--duration", "60")
    wait_for(proc, "measure")
    d = run_dir_of(tmp_path)
    servers = [p for p in psutil.Process(proc.pid).children(recursive=True)
               if "inferwire.cli serve" in " ".join(p.cmdline())]
    assert servers
    for s in servers:
        s.kill()
    t_kill = time.monotonic()
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, out
    assert time.monotonic() - t_kill < 30, "a dead server must end the run, not the duration"
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["status"] == "server_died", manifest.get("problems")
    assert len(pd.read_csv(d / "requests.csv")) > 0
    assert (d / "summary.md").exists()
    time.sleep(0.5)
    assert not processes_naming(d)
