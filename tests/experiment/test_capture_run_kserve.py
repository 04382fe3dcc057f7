"""Capture runs against KServe's model server (``--server kserve``): a real third-party server
in its own venv, real dumpcap capture, real clients; the TF Serving REST workload (KServe's
"V1") and the V2 workloads unchanged; failures named, nothing left running."""
import json
import socket

import pandas as pd
import psutil
import pytest

from inferwire.errors import InferwireError
from inferwire.experiment import RunConfig, run_experiment
from inferwire.serving.ports import free_ports
from needs import need_capture, skip_or_fail
from runprocs import start_capture_run, wait_for

pytestmark = [pytest.mark.capture, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _need_kserve():
    from inferwire.errors import ServerError
    from inferwire.serving.kserve.launch import kserve_python
    try:
        kserve_python()
    except ServerError as exc:
        skip_or_fail(str(exc))


def _kserve_left() -> list[str]:
    return [" ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"])
            if any("kserve/main.py" in part for part in p.info["cmdline"] or [])]


def _run(tmp_path, **config):
    need_capture()
    grpc_port, rest_port = free_ports(2)
    return run_experiment(RunConfig(out=str(tmp_path), server="kserve", grpc_port=grpc_port,
                                    rest_port=rest_port, duration_s=None, users=2,
                                    warmup_requests=3, progress=False, **config))


@pytest.mark.parametrize("api, protocols, encodings", [
    ("v2", ("rest", "grpc"), ("v2_binary", "v2_raw")),
    ("tfserving", ("rest",), ("json_b64",)),
])
def test_kserve_run_every_request_on_the_wire_joined_to_kserves_log(tmp_path, api, protocols,
                                                                     encodings):
    before = set(_kserve_left())
    result = _run(tmp_path, api=api, protocols=protocols, encoding=encodings, requests=25)
    assert result.status == "ok", result.problems
    d = result.run_dir
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["server"]["kind"] == "kserve" and manifest["server"]["kserve_version"]
    assert manifest["capture"]["dropped"] == 0
    j = result.joined
    measured = j[j["in_client_log"] & (j["client_phase"] == "measure")]
    assert len(measured) == 25 * len(protocols) and measured["in_capture"].all()
    assert measured["client_ok"].all() and measured["error"].isna().all()
    # KServe's log (the model's own line per request) joins by the x-request-id it received
    assert measured["model_ms"].notna().all() and (measured["model_ms"] > 0).all()
    assert (measured["model_ms"] <= measured["wait_ms"]).all()
    log = pd.read_json(d / "server_log.jsonl", lines=True)
    assert set(log["api"]) == {"v2" if api == "v2" else "v1"}
    if api == "v2":
        assert (log["v2_id"] == log["request_id"]).all()
        assert set(measured["path"]) == {"/v2/models/mnist/infer",
                                         "/inference.GRPCInferenceService/ModelInfer"}
    else:
        assert set(measured["path"]) == {"/v1/models/mnist:predict"}
    assert "Uvicorn running on http://127.0.0.1" in (d / "kserve.log").read_text()
    assert set(_kserve_left()) <= before


def test_kserve_failures_are_named_and_leave_nothing(tmp_path, monkeypatch):
    before = set(_kserve_left())
    with socket.socket() as taken:              # a port given and already in use
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        need_capture()
        result = run_experiment(RunConfig(out=str(tmp_path / "a"), server="kserve", api="v2",
                                          rest_port=port, grpc_port=free_ports(1)[0],
                                          requests=5, duration_s=None, progress=False))
    # a port the user gave that is taken fails the run, naming it (never silently another)
    assert result.status == "failed" and result.exit_code == 1
    assert any(f"--rest-port {port} is taken" in p for p in result.problems), result.problems
    monkeypatch.setenv("INFERWIRE_KSERVE_PYTHON", str(tmp_path / "no-python"))
    result = run_experiment(RunConfig(out=str(tmp_path / "b"), server="kserve", api="v2",
                                      requests=5, duration_s=None, progress=False))
    assert result.status == "failed" and result.exit_code == 1
    assert "KServe runs in its own venv" in result.problems[0]
    assert json.loads((result.run_dir / "manifest.json").read_text())["status"] == "failed"
    with pytest.raises(InferwireError, match="KServe has no TF Serving gRPC API"):
        RunConfig(server="kserve", protocols=("rest", "grpc"))
    assert set(_kserve_left()) <= before


def test_kserve_killed_mid_run_is_reported_and_measured_data_kept(tmp_path):
    import signal
    import threading
    import time
    need_capture()

    def kill_kserve_soon():
        """SIGKILL KServe once the measured load has sent a few hundred requests."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            logs = list(tmp_path.glob("*/client_log_rest.csv"))
            if logs and logs[0].stat().st_size > 20_000:
                for p in psutil.process_iter(["cmdline"]):
                    cmd = " ".join(p.info["cmdline"] or [])
                    if "kserve/main.py" in cmd and str(tmp_path) in cmd:
                        p.send_signal(signal.SIGKILL)
                        return
            time.sleep(0.1)
    killer = threading.Thread(target=kill_kserve_soon, daemon=True)
    killer.start()
    grpc_port, rest_port = free_ports(2)
    result = run_experiment(RunConfig(out=str(tmp_path), server="kserve", api="v2",
                                      grpc_port=grpc_port, rest_port=rest_port, duration_s=20,
                                      users=2, warmup_requests=2, progress=False))
    killer.join(5)
    assert result.status == "server_died" and result.exit_code == 1, result.problems
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "server_died"
    # the load stopped when KServe died, not at its 20 s (the run's wall time, KServe's start
    # and the analysis included, was held to 40 s: a loaded host's start alone can take that)
    load = manifest["loads"]["rest"]
    assert load["stopped_early"] and load["duration_s"] < 20 / 2, load
    assert (result.run_dir / "requests.csv").exists() and len(result.analysis.requests) > 0
    assert not [c for c in _kserve_left() if str(tmp_path) in c]


def _start_script(tmp_path, *args):
    grpc_port, rest_port = free_ports(2)
    return start_capture_run(tmp_path, "--server", "kserve", "--api", "v2", "--protocol", "rest",
                             "--grpc-port", str(grpc_port), "--rest-port", str(rest_port), *args)


@pytest.mark.parametrize("sig, code, status", [("SIGINT", 130, "interrupted")])
def test_ctrl_c_stops_kserve_and_keeps_what_was_measured(tmp_path, sig, code, status):
    import signal
    import time
    need_capture()
    proc = _start_script(tmp_path, "--duration", "60")
    try:
        wait_for(proc, "measure")              # the load's progress line: requests flow
        proc.send_signal(getattr(signal, sig))
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, out
    (d,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert json.loads((d / "manifest.json").read_text())["status"] == status
    assert len(pd.read_csv(d / "requests.csv")) > 0
    time.sleep(0.5)
    assert not [c for c in _kserve_left() if str(d) in c]


def test_parent_killed_leaves_no_kserve(tmp_path):
    """SIGKILL of the run itself: KServe notices its parent is gone and exits."""
    import signal
    import time
    need_capture()
    proc = _start_script(tmp_path, "--duration", "60")
    try:
        wait_for(proc, "measure")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and [c for c in _kserve_left() if str(tmp_path) in c]:
        time.sleep(0.2)
    assert not [c for c in _kserve_left() if str(tmp_path) in c]


def test_a_users_own_kserve_is_reached_with_server_host(tmp_path):
    """``--server HOST`` with ``--api v2``: a KServe this run did not start (as a user's own
    deployment would be) is loaded and captured like any server."""
    from inferwire.serving.kserve.launch import KServeProcess
    from inferwire.serving.numpy_weights import cached_weights
    need_capture()
    grpc_port, rest_port = free_ports(2)
    with KServeProcess(cached_weights("softmax"), model_name="digits", http_port=rest_port,
                       grpc_port=grpc_port, log_path=tmp_path / "own-kserve.log"):
        result = run_experiment(RunConfig(out=str(tmp_path / "runs"), server="127.0.0.1",
                                          api="v2", model_name="digits", grpc_port=grpc_port,
                                          rest_port=rest_port, requests=20, duration_s=None,
                                          warmup_requests=2, progress=False))
    assert result.status == "ok", result.problems
    j = result.joined
    measured = j[j["client_phase"] == "measure"]
    assert len(measured) == 40 and measured["in_capture"].all() and measured["client_ok"].all()
    assert "/v2/models/digits/infer" in set(measured["path"])
