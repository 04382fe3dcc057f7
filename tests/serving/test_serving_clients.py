"""The predict clients: every encoding, request ids, connection policy, TLS, failures."""
from __future__ import annotations

import socket
import subprocess
import sys
import warnings

import numpy as np
import pytest

from inferwire.errors import InferwireWarning, LoadError
from inferwire.serving.clients import (ENCODINGS, PredictResult, make_client, new_request_id,
                                       sample_images)


def protocol_of(encoding):
    return "rest" if encoding.startswith("json") else "grpc"


def port_of(server, encoding):
    return server.rest_port if protocol_of(encoding) == "rest" else server.grpc_port


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_every_encoding_gives_tensorflows_scores(server, tf_scores, encoding):
    images = sample_images(4, seed=7)
    with make_client(protocol_of(encoding), port=port_of(server, encoding), encoding=encoding) as client:
        result = client.predict(images)
    assert isinstance(result, PredictResult) and result.ok, result.error
    assert result.status in ("200", "OK") and result.error is None
    np.testing.assert_allclose(result.outputs, tf_scores(images), rtol=1e-5, atol=1e-6)
    assert result.model_time_ns and 0 < result.model_time_ns <= result.server_time_ns
    assert result.queue_time_ns is None  # no batching on this server
    assert result.request_bytes > 4 * 784 and result.response_bytes > 4 * 10
    assert result.serialize_ns > 0 and len(result.request_id) == 32


def test_float_input_and_binary_encodings_agree(server):
    images = sample_images(3, seed=8)
    with make_client("grpc", port=server.grpc_port, encoding="grpc_string_val") as a, \
            make_client("rest", port=server.rest_port, encoding="json_b64") as b:
        as_float = a.predict(images.astype(np.float32) / 255)  # floats are scaled back to bytes
        as_bytes = b.predict(images)
    np.testing.assert_allclose(as_float.outputs, as_bytes.outputs, rtol=1e-5, atol=1e-7)


def test_request_sizes_differ_by_encoding_as_expected(server):
    images = sample_images(8, seed=1)
    sizes = {}
    for enc in ENCODINGS:
        with make_client(protocol_of(enc), port=port_of(server, enc), encoding=enc) as c:
            sizes[enc] = c.predict(images).request_bytes
    # raw bytes < packed floats < per-value floats < text
    assert sizes["grpc_string_val"] < sizes["grpc_tensor_content"] <= sizes["grpc_float_val"]
    assert sizes["json_b64"] < sizes["json_row"]
    assert sizes["grpc_tensor_content"] > 8 * 784 * 4


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_request_ids_reach_the_server_log_and_connection_policy(server, server_log, protocol):
    port = server.rest_port if protocol == "rest" else server.grpc_port
    peers = {}
    for policy in ("reuse", "new"):
        ids = [new_request_id() for _ in range(3)]
        with make_client(protocol, port=port, connection=policy) as client:
            for rid in ids:
                assert client.predict(sample_images(1), request_id=rid).request_id == rid
        records = {r["request_id"]: r for r in server_log()}
        assert all(records[rid]["protocol"] == protocol for rid in ids)
        peers[policy] = {records[rid]["peer"] for rid in ids}
    assert len(peers["reuse"]) == 1 and len(peers["new"]) == 3


@pytest.mark.parametrize("protocol, status", [("rest", "404"), ("grpc", "NOT_FOUND")])
def test_server_errors_are_results(server, protocol, status):
    port = server.rest_port if protocol == "rest" else server.grpc_port
    with make_client(protocol, port=port, model_name="nope") as client:
        result = client.predict(sample_images(1))
    assert not result.ok and result.status == status and result.outputs is None
    assert result.error == "Servable not found for request: Latest(nope)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("protocol, status", [("rest", "CONNECTION_ERROR"), ("grpc", "UNAVAILABLE")])
def test_nothing_listening_is_a_failed_result(protocol, status):
    with make_client(protocol, port=free_port(), timeout_s=2) as client:
        result = client.predict(sample_images(1))
    assert not result.ok and result.status == status and result.error


def test_make_client_validates_options():
    with pytest.raises(LoadError, match="does not go with rest"):
        make_client("rest", encoding="grpc_float_val")
    with pytest.raises(LoadError, match="protocol must be"):
        make_client("http2")
    with pytest.raises(LoadError, match="connection must be"):
        make_client("grpc", connection="sometimes")
    with pytest.raises(LoadError, match="ca_cert given without tls"):
        make_client("rest", ca_cert="x.pem")
    with make_client("grpc") as c:
        assert c.encoding == "grpc_tensor_content" and c.signature_name == "predict_images"
    with make_client("rest", encoding="json_b64") as c:
        assert c.signature_name == "predict_images_bytes"
    with make_client("rest") as c, pytest.raises(ValueError, match=r"\[n, 784\]"):
        c.predict(np.zeros((2, 100), np.uint8))


def test_sample_images_are_deterministic_copies():
    a = sample_images(5, seed=3)
    a[:] = 0
    b = sample_images(5, seed=3)
    assert b.shape == (5, 784) and b.dtype == np.uint8 and b.any()


def test_clients_import_without_tensorflow():
    code = ("import sys, inferwire.serving.clients, inferwire.serving.cli; "
            "print(any(m.startswith('tensorflow.python') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr and out.stdout.strip() == "False"
    assert out.stdout.strip() == "False"


@pytest.fixture(scope="module")
def tls_server(models_dir, tmp_path_factory):
    from inferwire.serving.servables import ModelConfig
    from inferwire.serving.server import ModelServer, ServerConfig
    from inferwire.serving.tls import generate_self_signed
    tls = generate_self_signed(tmp_path_factory.mktemp("tls"))
    srv = ModelServer(ServerConfig(models=(ModelConfig("mnist", str(models_dir / "mnist")),),
                                   grpc_port=0, rest_port=0, tls=tls)).start()
    srv.cert = tls.cert_file
    yield srv
    srv.stop()


def test_tls_rest_with_key_log(tls_server, tmp_path, tf_scores):
    keylog = tmp_path / "keys.log"
    images = sample_images(2)
    with make_client("rest", port=tls_server.rest_port, tls=True, ca_cert=tls_server.cert,
                     keylog_file=str(keylog), connection="new") as client:
        results = [client.predict(images) for _ in range(2)]
    assert all(r.ok for r in results)
    np.testing.assert_allclose(results[0].outputs, tf_scores(images), rtol=1e-5, atol=1e-7)
    lines = keylog.read_text().splitlines()
    # TLS 1.3 secrets, one set per connection, in SSLKEYLOGFILE format
    traffic = [ln for ln in lines if ln.startswith("CLIENT_TRAFFIC_SECRET_0 ")]
    assert len(traffic) == 2 and all(len(ln.split()) == 3 for ln in traffic)


def test_tls_grpc_and_verification(tls_server):
    with make_client("grpc", port=tls_server.grpc_port, tls=True, ca_cert=tls_server.cert) as client:
        assert client.predict(sample_images(1)).ok
    with make_client("rest", port=tls_server.rest_port, tls=True, timeout_s=5) as client:
        failed = client.predict(sample_images(1))  # no CA: the self-signed cert must not verify
    assert not failed.ok and failed.status == "CONNECTION_ERROR" and "CERTIFICATE_VERIFY_FAILED" in failed.error
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_client("grpc", port=tls_server.grpc_port, tls=True, ca_cert=tls_server.cert,
                    keylog_file="/tmp/never-written").close()
    assert any(issubclass(w.category, InferwireWarning) for w in caught)


def test_server_tls_key_log_is_private(tmp_path):
    """``serve --tls-keylog``: the secrets file is 0600 when created, and an existing one is
    made 0600 before any secret is appended (issue 16 item 11)."""
    import os
    import socket
    import ssl
    import stat
    import threading

    from inferwire.serving.tls import TLSConfig, generate_self_signed, rest_context
    tls = generate_self_signed(tmp_path / "tls")
    keylog = tmp_path / "existing.keylog"
    keylog.write_text("")
    os.chmod(keylog, 0o644)
    ctx = rest_context(TLSConfig(tls.cert_file, tls.key_file, str(keylog)))
    assert stat.S_IMODE(os.stat(keylog).st_mode) == 0o600
    client_ctx = ssl.create_default_context(cafile=tls.cert_file)
    a, b = socket.socketpair()
    server = threading.Thread(target=lambda: ctx.wrap_socket(b, server_side=True).close())
    server.start()
    client_ctx.wrap_socket(a, server_hostname="localhost").close()
    server.join(5)
    assert "CLIENT_HANDSHAKE_TRAFFIC_SECRET" in keylog.read_text()
    assert stat.S_IMODE(os.stat(keylog).st_mode) == 0o600
    fresh = tmp_path / "new.keylog"
    rest_context(TLSConfig(tls.cert_file, tls.key_file, str(fresh)))
    assert stat.S_IMODE(os.stat(fresh).st_mode) == 0o600
