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
from inferwire.ports import free_ports
from needs import need_capture, skip_or_fail

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
    with socket.socket() as taken:              # a port already in use: KServe's own error
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        need_capture()
        result = run_experiment(RunConfig(out=str(tmp_path / "a"), server="kserve", api="v2",
                                          rest_port=port, grpc_port=free_ports(1)[0],
                                          requests=5, duration_s=None, progress=False))
    # the run picks another free port when the asked one is taken, as for the embedded server
    assert result.status == "ok", result.problems
    monkeypatch.setenv("INFERWIRE_KSERVE_PYTHON", str(tmp_path / "no-python"))
    result = run_experiment(RunConfig(out=str(tmp_path / "b"), server="kserve", api="v2",
                                      requests=5, duration_s=None, progress=False))
    assert result.status == "failed" and result.exit_code == 1
    assert "KServe runs in its own venv" in result.problems[0]
    assert json.loads((result.run_dir / "manifest.json").read_text())["status"] == "failed"
    with pytest.raises(InferwireError, match="KServe has no TF Serving gRPC API"):
        RunConfig(server="kserve", protocols=("rest", "grpc"))
    assert set(_kserve_left()) <= before
