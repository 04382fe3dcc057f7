"""The Open Inference Protocol (KServe V2): clients and the embedded server's V2 endpoints.

Real server (in-process, free ports), real clients; scores checked against TensorFlow itself.
"""
from __future__ import annotations

import http.client
import json

import grpc
import numpy as np
import pytest

from inferwire.errors import LoadError
from inferwire.serving.clients import make_client, sample_images
from inferwire.serving.v2 import codec
from inferwire.serving.v2 import inference_pb2 as pb

V2_ENCODINGS = {"v2_json": "rest", "v2_binary": "rest", "v2_fp32_contents": "grpc",
                "v2_raw": "grpc"}


def _port(server, protocol):
    return server.rest_port if protocol == "rest" else server.grpc_port


def _log_records(server):
    return [json.loads(line) for line in server.log_path.read_text().splitlines()]


@pytest.mark.parametrize("encoding", sorted(V2_ENCODINGS))
def test_every_v2_encoding_gives_tensorflows_scores_and_carries_the_id(server, tf_scores,
                                                                        encoding):
    protocol = V2_ENCODINGS[encoding]
    images = sample_images(5, seed=11)
    rid = f"v2-test-{encoding}"
    with make_client(protocol, port=_port(server, protocol), encoding=encoding) as client:
        assert client.api == "v2"
        result = client.predict(images, rid)
    assert result.ok, result.error
    assert result.status == ("200" if protocol == "rest" else "OK")
    np.testing.assert_allclose(result.outputs, tf_scores(images), rtol=1e-5, atol=1e-6)
    assert result.model_time_ns and 0 < result.model_time_ns <= result.server_time_ns
    # the server saw the id both ways: x-request-id and the V2 body's id field
    record = next(r for r in _log_records(server) if r["request_id"] == rid)
    assert record["v2_id"] == rid and record["status"] == "OK" and record["model"] == "mnist"
    assert record["rows"] == 5
    assert record["method"] in ("POST /v2/models/mnist/infer", "ModelInfer")


def test_v2_request_sizes_follow_the_encoding(server):
    images = sample_images(8, seed=1)
    sizes = {}
    for enc, protocol in V2_ENCODINGS.items():
        with make_client(protocol, port=_port(server, protocol), encoding=enc) as c:
            sizes[enc] = c.predict(images).request_bytes
    raw = 8 * 784 * 4
    assert raw < sizes["v2_binary"] < raw + 400          # raw floats plus a small JSON header
    assert raw < sizes["v2_raw"] < raw + 100
    assert sizes["v2_raw"] <= sizes["v2_fp32_contents"]  # packed repeated float: same payload
    assert sizes["v2_json"] > 2 * raw                     # floats as text


def test_v2_default_encodings_and_bad_combinations():
    assert make_client("rest", port=1, api="v2").encoding == "v2_json"
    assert make_client("grpc", port=1, api="v2").encoding == "v2_raw"
    assert make_client("grpc", port=1, encoding="v2_fp32_contents").api == "v2"
    with pytest.raises(LoadError, match="does not go with rest"):
        make_client("rest", port=1, encoding="v2_raw")
    with pytest.raises(LoadError, match="does not go with rest"):
        make_client("rest", port=1, api="v2", encoding="json_row")
    with pytest.raises(LoadError, match="api='v2' clients only"):
        make_client("rest", port=1, input_name="x")
    with pytest.raises(LoadError, match="api must be"):
        make_client("rest", port=1, api="v3")


@pytest.mark.parametrize("encoding", sorted(V2_ENCODINGS))
def test_v2_errors_are_parsed_per_request(server, encoding):
    protocol = V2_ENCODINGS[encoding]
    images = sample_images(1)
    with make_client(protocol, port=_port(server, protocol), encoding=encoding,
                     model_name="no_such_model") as c:
        missing = c.predict(images)
    with make_client(protocol, port=_port(server, protocol), encoding=encoding,
                     input_name="pixels") as c:
        wrong = c.predict(images)
    assert not missing.ok and not wrong.ok
    assert missing.status == ("404" if protocol == "rest" else "NOT_FOUND")
    assert missing.error == "model 'no_such_model' is not found"
    assert wrong.status == ("400" if protocol == "rest" else "INVALID_ARGUMENT")
    assert wrong.error.startswith("model 'mnist' has no signature taking inputs {pixels}")


def _http(server, method, path, body=b"", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def test_v2_health_metadata_and_ready_endpoints(server):
    assert _http(server, "GET", "/v2/health/live")[::2] == (200, b'{"live":true}')
    assert _http(server, "GET", "/v2/health/ready")[::2] == (200, b'{"ready":true}')
    status, _, body = _http(server, "GET", "/v2")
    assert status == 200 and "binary_tensor_data" in json.loads(body)["extensions"]
    status, _, body = _http(server, "GET", "/v2/models/mnist")
    meta = json.loads(body)
    assert status == 200 and meta["name"] == "mnist" and meta["versions"] == ["1"]
    assert meta["inputs"] == [{"name": "images", "datatype": "FP32", "shape": [-1, 784]}]
    assert meta["outputs"] == [{"name": "scores", "datatype": "FP32", "shape": [-1, 10]}]
    assert _http(server, "GET", "/v2/models/mnist/versions/1/ready")[0] == 200
    status, _, body = _http(server, "GET", "/v2/models/mnist/versions/9/ready")
    assert status == 404 and json.loads(body) == {"error": "version 9 of model 'mnist' is not found"}
    status, _, body = _http(server, "GET", "/v2/models/mnist/infer")
    assert status == 405 and "use POST" in json.loads(body)["error"]
    assert _http(server, "GET", "/v2/nothing")[0] == 404


def test_v2_binary_response_is_split_by_its_header(server, tf_scores):
    images = sample_images(2, seed=3)
    body, headers = codec.rest_request("v2_binary", images, "bin-1")
    status, resp_headers, data = _http(server, "POST", "/v2/models/mnist/infer", body, headers)
    assert status == 200 and resp_headers["Content-Type"] == "application/octet-stream"
    n = int(resp_headers[codec.HEADER_LENGTH])
    head = json.loads(data[:n])
    assert head["id"] == "bin-1" and head["model_version"] == "1"
    assert head["outputs"][0]["parameters"] == {"binary_data_size": 2 * 10 * 4}
    assert len(data) == n + 80
    scores = np.frombuffer(data[n:], "<f4").reshape(2, 10)
    np.testing.assert_allclose(scores, tf_scores(images), rtol=1e-5, atol=1e-6)


_SHORT_HEAD = (b'{"inputs": [{"name": "images", "shape": [1, 2], "datatype": "FP32", '
               b'"parameters": {"binary_data_size": 8}}]}')


@pytest.mark.parametrize("body, headers, message", [
    (b"{not json", {}, "body is not JSON"),
    (b'{"inputs": [{"name": "images", "shape": [1, 784], "datatype": "FP32", "data": [1, 2]}]}',
     {}, "inputs[0].data: 2 values for shape [1, 784] (784 expected)"),
    (b'{"inputs": [{"name": "images", "shape": [1, 784], "datatype": "FP99", "data": []}]}',
     {}, "inputs[0].datatype: 'FP99' is not a numeric V2 datatype"),
    (_SHORT_HEAD + b"abcd", {codec.HEADER_LENGTH: str(len(_SHORT_HEAD))},
     "binary_data_size: 8 does not fit the 4 binary bytes left"),
    (b'{"inputs": []}', {codec.HEADER_LENGTH: "999"}, "999 outside the body's 14 bytes"),
    (b'{"inputs": [{"name": "images", "shape": [1, 784], "datatype": "INT32", "data": '
     + json.dumps([0] * 784).encode() + b'}]}', {},
     "input 'images': datatype INT32 where model 'mnist' expects FP32"),
])
def test_v2_rest_bad_requests_get_400_naming_the_field(server, body, headers, message):
    status, _, data = _http(server, "POST", "/v2/models/mnist/infer", body, headers)
    assert status == 400
    assert message in json.loads(data)["error"]


def test_v2_grpc_health_metadata_and_malformed_infer(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        def call(method, req, resp_cls):
            fn = ch.unary_unary(f"/inference.GRPCInferenceService/{method}",
                                request_serializer=lambda m: m.SerializeToString(),
                                response_deserializer=resp_cls.FromString)
            return fn(req, timeout=10)
        assert call("ServerLive", pb.ServerLiveRequest(), pb.ServerLiveResponse).live
        assert call("ServerReady", pb.ServerReadyRequest(), pb.ServerReadyResponse).ready
        assert call("ModelReady", pb.ModelReadyRequest(name="mnist"), pb.ModelReadyResponse).ready
        assert not call("ModelReady", pb.ModelReadyRequest(name="x"), pb.ModelReadyResponse).ready
        meta = call("ModelMetadata", pb.ModelMetadataRequest(name="mnist_cnn"),
                    pb.ModelMetadataResponse)
        assert meta.name == "mnist_cnn" and list(meta.inputs[0].shape) == [-1, 784]
        bad = pb.ModelInferRequest(model_name="mnist", id="x")
        bad.inputs.add(name="images", datatype="FP32", shape=[1, 784])
        bad.raw_input_contents.append(b"\0" * 12)
        with pytest.raises(grpc.RpcError) as err:
            call("ModelInfer", bad, pb.ModelInferResponse)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "inputs[0]: 12 bytes of data for shape [1, 784] (3136 expected)" in err.value.details()
        with pytest.raises(grpc.RpcError) as err:
            call("ModelMetadata", pb.ModelMetadataRequest(name="nope"), pb.ModelMetadataResponse)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_v2_cnn_model_by_name(server, models_dir):
    images = sample_images(3, seed=5)
    with make_client("grpc", port=server.grpc_port, api="v2", model_name="mnist_cnn") as a, \
            make_client("rest", port=server.rest_port, api="v2", model_name="mnist_cnn",
                        encoding="v2_binary") as b:
        ra, rb = a.predict(images), b.predict(images)
    assert ra.ok and rb.ok
    np.testing.assert_allclose(ra.outputs, rb.outputs, rtol=1e-6)
    assert ra.outputs.shape == (3, 10)
