"""Capture runs against a real Triton (`--server triton --api v2`), captured with dumpcap on lo.

The wire held against Triton: every request the client sent is on the wire and traced by Triton;
Triton's receive-end and send-start lie inside each request's [request_end, response_start];
wait_ms minus Triton's server time (front end + stack) is reported.  Failures (port taken, model
that does not load, not ready in time, a crash, Ctrl-C, the parent killed) end clearly, keep the
results folder and leave nothing running.
"""
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import psutil
import pytest

from inferwire.experiment import RunConfig, run_experiment
from inferwire.serving.triton import shm
from needs import need_capture
from runprocs import gone_within, processes_naming, run_dir_of, start_capture_run, wait_for

pytestmark = [pytest.mark.capture, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _need_capture(triton_install):
    need_capture()


def _config(tmp_path, **kw):
    base = dict(out=str(tmp_path), server="triton", api="v2", requests=60, duration_s=None,
                users=2, warmup_requests=5, progress=False)
    return RunConfig(**(base | kw))


def test_every_request_on_the_wire_traced_inside_its_wait(tmp_path):
    result = run_experiment(_config(tmp_path))
    assert result.status == "ok", result.problems
    d, j = result.run_dir, result.joined
    for name in ("triton.log", "triton_metrics.csv", "triton_trace.csv", "server_log.jsonl",
                 "triton_repository/mnist/config.pbtxt", "joined.parquet", "summary.md"):
        assert (d / name).exists(), name
    measured = j[j["in_client_log"] & (j["client_phase"] == "measure")]
    assert len(measured) == 120 and measured["in_capture"].all()
    assert set(measured["protocol"]) == {"http/1.1", "grpc"}
    # Triton traced every request on the wire (warm-up included), joined by the V2 id
    on_wire = j[j["in_capture"]]
    assert on_wire["triton_trace_id"].notna().all()
    assert on_wire["triton_trace_id"].is_unique
    assert (on_wire["triton_joined_by"] == "request_id").all()
    # on loopback Triton's receive-end / send-start lie inside the wire's wait
    assert (on_wire["request_end"] <= on_wire["triton_recv_end"]).all()
    assert (on_wire["triton_recv_end"] < on_wire["triton_send_start"]).all()
    assert (on_wire["triton_send_start"] <= on_wire["response_start"]).all()
    # wait_ms - Triton's server time: the front end's I/O and the stack, reported, >= 0
    stack = on_wire["wait_ms"] - on_wire["triton_server_ms"]
    assert (stack >= 0).all()
    assert on_wire["network_and_stack_ms"].to_numpy() == pytest.approx(stack.to_numpy())
    assert (on_wire["server_ms"] == on_wire["triton_server_ms"]).all()
    assert (on_wire["triton_compute_infer_ms"] > 0).all()
    manifest = json.loads((d / "manifest.json").read_text())
    server = manifest["server"]
    assert server["kind"] == "triton" and server["triton_version"].startswith("2.")
    from inferwire.serving.triton.install import find_install
    assert server["triton_venv"] == str(find_install().venv)
    assert server["triton_venv_python"].startswith("3.")
    assert server["model_config"]["backend"] == "python"
    assert server["trace"]["traces"] == len(on_wire) and server["exit_code"] == 0
    # Triton's own counters agree with the trace and the client
    deltas = server["metrics"]["deltas"]
    assert deltas['nv_inference_request_success{model="mnist",version="1"}'] == len(on_wire)
    summary = (d / "summary.md").read_text()
    assert "Where the time went on Triton" in summary and "100.000 %" in summary
    assert not processes_naming(d)


def test_dynamic_batching_two_instances_cnn_batch_32(tmp_path):
    result = run_experiment(_config(tmp_path, model="cnn", batch_size=32, users=4,
                                    enable_batching=True, max_queue_delay_us=2000, instances=2,
                                    protocols=("grpc",), requests=40))
    assert result.status == "ok", result.problems
    server = json.loads((result.run_dir / "manifest.json").read_text())["server"]
    cfg = server["model_config"]
    assert cfg["dynamic_batching"]["max_queue_delay_microseconds"] == 2000
    assert cfg["instance_group"][0]["count"] == 2 and cfg["max_batch_size"] >= 32
    on_wire = result.joined[result.joined["in_capture"]]
    assert on_wire["triton_trace_id"].notna().all()
    deltas = server["metrics"]["deltas"]
    execs = deltas['nv_inference_exec_count{model="mnist",version="1"}']
    assert execs <= len(on_wire)            # batches of requests count one execution each
    assert deltas['nv_inference_count{model="mnist",version="1"}'] == 32 * len(on_wire)


def test_a_taken_port_fails_the_run_with_tritons_line(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_experiment(_config(tmp_path, extra={"triton_metrics_port": port}))
    assert result.status == "failed" and result.exit_code == 1
    assert any("already in use" in p and str(port) in p for p in result.problems), result.problems
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and (result.run_dir / "triton.log").exists()
    assert not processes_naming(result.run_dir)


def _model_repo(root: Path, initialize_body: str) -> Path:
    d = root / "mnist"
    (d / "1").mkdir(parents=True)
    (d / "config.pbtxt").write_text(
        'name: "mnist"\nbackend: "python"\nmax_batch_size: 8\n'
        'input [ { name: "images" data_type: TYPE_FP32 dims: [ 784 ] } ]\n'
        'output [ { name: "scores" data_type: TYPE_FP32 dims: [ 10 ] } ]\n')
    (d / "1" / "model.py").write_text(
        "import time\nclass TritonPythonModel:\n    def initialize(self, args):\n"
        f"        {initialize_body}\n    def execute(self, requests):\n        return []\n")
    return root


def test_a_model_that_fails_to_load_fails_the_run(tmp_path):
    repo = _model_repo(tmp_path / "repo", "raise ValueError('no weights here')")
    result = run_experiment(_config(tmp_path / "out",
                                    extra={"triton_model_repository": str(repo)}))
    assert result.status == "failed" and result.exit_code == 1
    assert any("failed to load 'mnist'" in p and "no weights here" in p
               for p in result.problems), result.problems
    assert json.loads((result.run_dir / "manifest.json").read_text())["status"] == "failed"
    assert not processes_naming(repo) and not processes_naming(result.run_dir)


def test_not_ready_in_time_fails_the_run(tmp_path):
    repo = _model_repo(tmp_path / "repo", "time.sleep(120)")
    regions = shm.regions()
    result = run_experiment(_config(tmp_path / "out", extra={
        "triton_model_repository": str(repo), "triton_ready_timeout_s": 4}))
    assert result.status == "failed" and result.exit_code == 1
    assert any("not ready within 4 s" in p for p in result.problems), result.problems
    assert json.loads((result.run_dir / "manifest.json").read_text())["status"] == "failed"
    assert not processes_naming(repo) and not processes_naming(result.run_dir)
    # the loading stub killed with it: its shared memory in /dev/shm is removed too
    assert shm.regions() - regions == set()


def _start_run(tmp_path, *args):
    return start_capture_run(tmp_path, "--server", "triton", "--api", "v2", "--protocol", "rest",
                             "--duration", "60", *args)


def test_ctrl_c_keeps_what_was_measured_and_stops_triton(tmp_path):
    proc = _start_run(tmp_path)
    wait_for(proc, "measure")
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    d = run_dir_of(tmp_path)
    assert json.loads((d / "manifest.json").read_text())["status"] == "interrupted"
    j = pd.read_parquet(d / "joined.parquet")
    assert j["triton_trace_id"].notna().sum() > 0
    assert not gone_within(d, 5)


def test_triton_killed_mid_run_is_reported_and_nothing_is_left(tmp_path):
    regions = shm.regions()
    proc = _start_run(tmp_path)
    wait_for(proc, "measure")
    d = run_dir_of(tmp_path)
    (server,) = [p for p in psutil.Process(proc.pid).children(recursive=True)
                 if p.name() == "tritonserver"]
    server.kill()
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, out
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["status"] == "server_died", manifest["problems"]
    assert len(pd.read_csv(d / "requests.csv")) > 0 and (d / "summary.md").exists()
    # what Triton traced before it died is kept and joined (a file per request: none lost)
    j = pd.read_parquet(d / "joined.parquet")
    assert manifest["server"]["trace"]["traces"] > 0
    assert j["triton_trace_id"].notna().sum() == manifest["server"]["trace"]["traces"]
    assert not gone_within(d, 5)     # its Python-backend stubs too
    assert shm.regions() - regions == set()       # and their shared memory in /dev/shm


def test_parent_killed_takes_triton_with_it(tmp_path):
    proc = _start_run(tmp_path)
    wait_for(proc, "measure")
    d = run_dir_of(tmp_path)
    proc.kill()
    proc.wait(10)
    try:
        left = [c for c in gone_within(d, 30) if "tritonserver" in c or "triton_python" in c]
        assert left == [], left
        from inferwire.serving.triton.target import SHM, STAGING_PREFIX, trace_staging
        orphan = list(SHM.glob(f"{STAGING_PREFIX}{proc.pid}-*"))
        assert orphan, "the killed run's trace folder"
        remove = trace_staging(tmp_path)          # the next run removes the orphan
        assert not any(o.exists() for o in orphan)
        remove.rmdir()
    finally:
        for p in psutil.process_iter(["cmdline"]):     # the capture tool is not under test here
            if str(d) in " ".join(p.info["cmdline"] or []) and p.pid != os.getpid():
                p.kill()


def test_cli_without_triton_installed_says_how_and_exits_1(tmp_path):
    import os as _os
    env = dict(_os.environ, INFERWIRE_TRITON_VENV=str(tmp_path / "no-such-venv"))
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "capture_run.py"), "--out",
                           str(tmp_path / "out"), "--server", "triton", "--api", "v2",
                           "--requests", "5", "--quiet"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "no Triton venv" in done.stderr and "scripts/setup.sh" in done.stderr
    assert "Traceback" not in done.stderr
    d = run_dir_of(tmp_path / "out")
    assert json.loads((d / "manifest.json").read_text())["status"] == "failed"
