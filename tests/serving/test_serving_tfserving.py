"""Client conformance tests that run against the embedded server and, when
``INFERWIRE_TFSERVING=host:grpcport:restport`` is set, against that real TF Serving too.

Serve the exported model with docker, for example::

    inferwire model export /tmp/models
    docker run --rm -p 8500:8500 -p 8501:8501 -v /tmp/models/mnist:/models/mnist \\
        -e MODEL_NAME=mnist tensorflow/serving
    INFERWIRE_TFSERVING=127.0.0.1:8500:8501 pytest tests/serving/test_serving_tfserving.py
"""
from __future__ import annotations

import http.client
import json
import os

import grpc
import numpy as np
import pytest

from inferwire.serving.clients import ENCODINGS, make_client, sample_images
from inferwire.serving.protos import get_model_status_pb2, model_service_pb2_grpc


@pytest.fixture(params=["embedded", "external"])
def target(request):
    """(host, grpc_port, rest_port) of the server under test."""
    if request.param == "embedded":
        srv = request.getfixturevalue("server")
        return "127.0.0.1", srv.grpc_port, srv.rest_port
    spec = os.environ.get("INFERWIRE_TFSERVING")
    if not spec:
        pytest.skip("INFERWIRE_TFSERVING=host:grpcport:restport not set (no real TF Serving here; "
                    "no docker engine)")
    host, grpc_port, rest_port = spec.rsplit(":", 2)
    return host, int(grpc_port), int(rest_port)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_predict_every_encoding(target, encoding):
    host, grpc_port, rest_port = target
    protocol = "rest" if encoding.startswith("json") else "grpc"
    images = sample_images(3, seed=5)
    with make_client(protocol, host, rest_port if protocol == "rest" else grpc_port,
                     encoding=encoding) as client:
        result = client.predict(images)
    assert result.ok, result.error
    assert result.outputs.shape == (3, 10)
    np.testing.assert_allclose(result.outputs.sum(axis=1), 1.0, rtol=1e-4)


def test_same_scores_over_both_protocols(target):
    host, grpc_port, rest_port = target
    images = sample_images(2, seed=6)
    with make_client("grpc", host, grpc_port) as g, make_client("rest", host, rest_port) as r:
        np.testing.assert_allclose(g.predict(images).outputs, r.predict(images).outputs, rtol=1e-5, atol=1e-6)


def test_status_and_not_found_errors(target):
    host, grpc_port, rest_port = target
    with grpc.insecure_channel(f"{host}:{grpc_port}") as channel:
        status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
            get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "mnist"}))
    assert status.model_version_status[0].state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    conn = http.client.HTTPConnection(host, rest_port, timeout=10)
    conn.request("POST", "/v1/models/half:predict", body=b'{"instances": [1.0, 5.0]}')
    resp = conn.getresponse()
    assert resp.status == 404
    assert json.loads(resp.read()) == {"error": "Servable not found for request: Latest(half)"}
    conn.close()
    with make_client("grpc", host, grpc_port, model_name="half") as client:
        result = client.predict(sample_images(1))
    assert (result.status, result.error) == ("NOT_FOUND", "Servable not found for request: Latest(half)")
