"""A real tritonserver: serves the MNIST weights, traces every request, stops leaving nothing;
and fails clearly (Triton's own log line) when a model cannot load, when it is not ready in time,
and when its port is taken."""
import json
import os
import socket
import http.client
import time

import numpy as np
import pytest

from inferwire.errors import ServerError
from inferwire.serving import mnist_numpy
from inferwire.serving.triton.repository import TritonModelOptions, write_repository
from inferwire.serving.triton.trace import parse_entries, read_trace_files
from runprocs import processes_naming

pytestmark = pytest.mark.slow


def _gone(proc) -> bool:
    """The server and every process of its group (the Python-backend stubs) have exited."""
    if proc.proc.poll() is None:
        return False
    try:
        os.killpg(proc.proc.pid, 0)
    except ProcessLookupError:
        return True
    return False


def _infer(port, images, rid, model="mnist"):
    body = json.dumps({"id": rid, "inputs": [{"name": "images", "shape": list(images.shape),
                                              "datatype": "FP32",
                                              "data": images.ravel().tolist()}]})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", f"/v2/models/{model}/infer", body,
                     {"Content-Type": "application/json", "x-request-id": rid})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def _broken_model(root, initialize_body):
    """A Python-backend model whose initialize() runs ``initialize_body``."""
    d = root / "mnist"
    (d / "1").mkdir(parents=True)
    (d / "config.pbtxt").write_text(
        'name: "mnist"\nbackend: "python"\nmax_batch_size: 8\n'
        'input [ { name: "images" data_type: TYPE_FP32 dims: [ 784 ] } ]\n'
        'output [ { name: "scores" data_type: TYPE_FP32 dims: [ 10 ] } ]\n'
        'instance_group [ { count: 1 kind: KIND_CPU } ]\n')
    (d / "1" / "model.py").write_text(
        "import time\nclass TritonPythonModel:\n    def initialize(self, args):\n"
        f"        {initialize_body}\n    def execute(self, requests):\n        return []\n")
    return root


@pytest.mark.parametrize("kind", ["softmax", "cnn"])
def test_triton_serves_the_weights_and_traces_every_request(kind, tmp_path, weights,
                                                             start_triton):
    repo = tmp_path / "repo"
    write_repository(repo, TritonModelOptions(kind=kind, instances=2), weights[kind])
    server = start_triton(repo, trace_file=str(tmp_path / "trace.json"))
    assert server.metadata["version"].startswith("2.")
    assert server.model_config("mnist")["instance_group"][0]["count"] == 2
    images = np.random.default_rng(0).random((4, 784), dtype=np.float32)
    want = mnist_numpy.scores(mnist_numpy.load(weights[kind]), images)
    for i in range(5):
        status, out = _infer(server.opts.http_port, images, f"req-{i}")
        assert status == 200 and out["id"] == f"req-{i}"
        got = np.array(out["outputs"][0]["data"], dtype=np.float32).reshape(4, 10)
        np.testing.assert_allclose(got, want, atol=1e-6)
    status, out = _infer(server.opts.http_port, images[:, :700], "bad")
    assert status == 400 and "error" in out
    status, out = _infer(server.opts.http_port, images, "after-bad")
    assert status == 200
    assert server.stop() == 0 and _gone(server)
    entries, warnings = read_trace_files(tmp_path / "trace.json")
    traces = parse_entries(entries)
    ok = traces[traces["request_id"].str.startswith("req-")]
    assert warnings == [] and sorted(ok["request_id"]) == [f"req-{i}" for i in range(5)]
    # Triton 2.51 never completes the trace of a request it rejects (wrong shape): it is absent,
    # and every request after it is traced all the same (one trace file per request).
    assert "bad" not in set(traces["request_id"].dropna())
    assert "after-bad" in set(traces["request_id"].dropna())
    assert (ok["protocol"] == "rest").all()
    assert (ok["recv_end_ns"] <= ok["queue_start_ns"]).all()
    assert (ok["compute_output_start_ns"] <= ok["infer_response_complete_ns"]).all()
    assert (ok["infer_response_complete_ns"] <= ok["send_start_ns"]).all()


def test_a_model_that_fails_to_load_is_named_with_tritons_line(tmp_path, start_triton):
    repo = _broken_model(tmp_path / "repo", "raise RuntimeError('weights file is corrupt')")
    with pytest.raises(ServerError) as err:
        start_triton(repo)
    text = str(err.value)
    assert "exited with code" in text and "weights file is corrupt" in text
    assert "failed to load" in text or "mnist" in text
    assert processes_naming(tmp_path) == []


def test_not_ready_within_the_timeout_stops_it(tmp_path, start_triton, triton_install):
    repo = _broken_model(tmp_path / "repo", "time.sleep(60)")
    t0 = time.monotonic()
    with pytest.raises(ServerError, match=r"not ready within 3 s") as err:
        start_triton(repo, ready_timeout_s=3)
    assert time.monotonic() - t0 < 40
    assert "/v2/models/mnist/ready" in str(err.value)
    assert processes_naming(tmp_path) == [], "Triton still running after the timeout"


def test_a_taken_port_is_named_with_tritons_line(tmp_path, weights, start_triton):
    repo = tmp_path / "repo"
    write_repository(repo, TritonModelOptions(), weights["softmax"])
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        with pytest.raises(ServerError) as err:
            start_triton(repo, http_port=taken)
    text = str(err.value)
    assert "exited with code" in text and str(taken) in text, text
    assert processes_naming(tmp_path) == []


def test_response_cache_answers_repeats_from_the_cache(tmp_path, weights, start_triton):
    from inferwire.serving.triton.metrics import parse_prometheus
    repo = tmp_path / "repo"
    write_repository(repo, TritonModelOptions(response_cache=True), weights["softmax"])
    server = start_triton(repo, cache_config=("local,size=1048576",))
    images = np.random.default_rng(1).random((2, 784), dtype=np.float32)
    outs = [_infer(server.opts.http_port, images, f"r{i}")[1]["outputs"][0]["data"]
            for i in range(3)]
    assert outs[0] == outs[1] == outs[2]
    conn = http.client.HTTPConnection("127.0.0.1", server.opts.metrics_port, timeout=10)
    conn.request("GET", "/metrics")
    samples = {(m, labels): v for m, _, labels, v in
               parse_prometheus(conn.getresponse().read().decode())}
    conn.close()
    hits = sum(v for (m, _), v in samples.items() if m == "nv_cache_num_hits_per_model")
    execs = sum(v for (m, _), v in samples.items() if m == "nv_inference_exec_count")
    assert hits == 2 and execs == 1
