"""KServe's model server serving the MNIST model (``inferwire.serving.kserve``): the numpy
network equals TensorFlow's, every TF Serving REST and V2 encoding of inferwire's clients works
against it, its errors reach the clients, and its failures are named with its own log line and
leave no process (also when the process that started it is killed)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import psutil
import pytest

from inferwire.serving.clients import make_client, sample_images
from needs import skip_or_fail

ENCODINGS = {"json_row": "rest", "json_columnar": "rest", "json_b64": "rest", "v2_json": "rest",
             "v2_binary": "rest", "v2_raw": "grpc", "v2_fp32_contents": "grpc"}


@pytest.fixture(scope="module")
def weights(models_dir, tmp_path_factory):
    from inferwire.serving.numpy_weights import export_weights
    d = tmp_path_factory.mktemp("kserve-weights")
    return {kind: export_weights(models_dir / name / "1", d / f"{name}.npz")
            for kind, name in (("softmax", "mnist"), ("cnn", "mnist_cnn"))}


def _process(weights_path, tmp_path, **kw):
    from inferwire.errors import ServerError
    from inferwire.serving.ports import free_ports
    from inferwire.serving.kserve.launch import KServeProcess
    grpc_port, rest_port = free_ports(2)
    options = dict(model_name="mnist", http_port=rest_port, grpc_port=grpc_port,
                   log_path=tmp_path / "kserve.log", request_log=tmp_path / "requests.jsonl")
    options.update(kw)
    try:
        return KServeProcess(weights_path, **options)
    except ServerError as exc:      # the KServe venv is missing
        skip_or_fail(str(exc))


@pytest.fixture(scope="module")
def kserve(weights, tmp_path_factory):
    proc = _process(weights["softmax"], tmp_path_factory.mktemp("kserve")).start()
    yield proc
    proc.stop()


def test_numpy_network_is_tensorflows(weights, models_dir):
    import tensorflow as tf

    from inferwire.serving import mnist_numpy
    images = sample_images(20, seed=9).astype(np.float32) / 255.0
    for kind, name in (("softmax", "mnist"), ("cnn", "mnist_cnn")):
        fn = tf.saved_model.load(str(models_dir / name / "1")).signatures["predict_images"]
        ref = fn(images=tf.constant(images))["scores"].numpy()
        got = mnist_numpy.scores(mnist_numpy.load(weights[kind]), images)
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_every_encoding_against_kserve(kserve, tf_scores, encoding):
    protocol = ENCODINGS[encoding]
    port = kserve.http_port if protocol == "rest" else kserve.grpc_port
    images = sample_images(4, seed=2)
    with make_client(protocol, port=port, encoding=encoding) as client:
        result = client.predict(images, f"ks-{encoding}")
    assert result.ok, result.error
    np.testing.assert_allclose(result.outputs, tf_scores(images), rtol=1e-5, atol=1e-6)
    lines = (kserve.request_log.read_text().splitlines())
    assert any(f'"request_id":"ks-{encoding}"' in line for line in lines)


@pytest.mark.parametrize("protocol, encoding", [("rest", "v2_json"), ("grpc", "v2_raw"),
                                                ("rest", "json_row")])
def test_kserve_errors_reach_the_client(kserve, protocol, encoding):
    port = kserve.http_port if protocol == "rest" else kserve.grpc_port
    with make_client(protocol, port=port, encoding=encoding, model_name="nope") as client:
        result = client.predict(sample_images(1))
    assert result.status in ("404", "NOT_FOUND")
    assert result.error == "Model with name nope does not exist."
    if encoding.startswith("v2"):
        with make_client(protocol, port=port, encoding=encoding, input_name="px") as client:
            result = client.predict(sample_images(1))
        assert result.status in ("400", "INVALID_ARGUMENT")
        assert result.error == "expected one input named 'images', got ['px']"


def test_kserve_binds_loopback_only(kserve):
    conns = psutil.Process(kserve.proc.pid).net_connections(kind="tcp")
    listening = {c.laddr.port: c.laddr.ip for c in conns if c.status == psutil.CONN_LISTEN}
    assert listening[kserve.http_port] == "127.0.0.1"
    assert listening[kserve.grpc_port] in ("127.0.0.1", "::ffff:127.0.0.1")


def test_a_port_in_use_is_named_with_kserves_own_line(weights, tmp_path):
    from inferwire.errors import ServerError
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = _process(weights["softmax"], tmp_path, http_port=taken.getsockname()[1])
        with pytest.raises(ServerError, match="(?s)KServe exited with code .*address already in use"):
            proc.start()
    assert proc.proc.poll() is not None


def test_a_model_that_fails_to_load_is_named(tmp_path):
    from inferwire.errors import ServerError
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a numpy file")
    proc = _process(bad, tmp_path)
    with pytest.raises(ServerError, match="(?s)exited with code 1 before it was ready.*"
                                          "cannot load the model weights .*bad.npz"):
        proc.start()
    assert proc.proc.poll() is not None


def test_kserve_exits_when_the_process_that_started_it_is_killed(weights, tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        from inferwire.serving.kserve.launch import KServeProcess
        from inferwire.serving.ports import free_ports
        g, r = free_ports(2)
        p = KServeProcess({str(weights['softmax'])!r}, model_name="mnist", http_port=r,
                          grpc_port=g, log_path={str(tmp_path / 'k.log')!r}).start()
        print(p.proc.pid, flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ))
    try:
        line = parent.stdout.readline()
        if not line.strip():
            skip_or_fail("KServe did not start in the child: " + (tmp_path / "k.log").read_text()
                         if (tmp_path / "k.log").exists() else "no log")
        server_pid = int(line)
        assert psutil.pid_exists(server_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and psutil.pid_exists(server_pid):
            try:
                if psutil.Process(server_pid).status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.NoSuchProcess:
                break
            time.sleep(0.2)
        alive = psutil.pid_exists(server_pid) and \
            psutil.Process(server_pid).status() != psutil.STATUS_ZOMBIE
        assert not alive, "KServe outlived the process that started it"
    finally:
        if parent.poll() is None:
            parent.kill()
