"""The V2 codec on bytes alone: bodies as the protocol defines them, and their decoding."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from inferwire.serving.v2 import codec
from inferwire.serving.v2 import inference_pb2 as pb

IMAGES = np.array([[0, 255] + [51] * 782, [255] * 784], dtype=np.uint8)


def test_json_request_is_flat_fp32_with_id_and_output():
    body, headers = codec.rest_request("v2_json", IMAGES, "abc")
    doc = json.loads(body)
    assert headers == {"Content-Type": "application/json"}
    assert doc["id"] == "abc" and doc["outputs"] == [{"name": "scores"}]
    (t,) = doc["inputs"]
    assert (t["name"], t["datatype"], t["shape"]) == ("images", "FP32", [2, 784])
    assert len(t["data"]) == 2 * 784 and t["data"][:3] == [0.0, 1.0, 0.2]


def test_binary_request_layout():
    body, headers = codec.rest_request("v2_binary", IMAGES, "abc", input_name="x",
                                       output_name="y")
    n = int(headers[codec.HEADER_LENGTH])
    assert headers["Content-Type"] == "application/octet-stream"
    doc = json.loads(body[:n])
    assert doc["inputs"][0]["parameters"] == {"binary_data_size": 2 * 784 * 4}
    assert doc["outputs"] == [{"name": "y", "parameters": {"binary_data": True}}]
    assert len(body) - n == 2 * 784 * 4
    assert struct.unpack_from("<3f", body, n) == (0.0, 1.0, pytest.approx(0.2))
    back = codec.rest_tensors(*codec.split_binary(body, n), "inputs")
    np.testing.assert_allclose(back["x"], IMAGES / 255.0, rtol=1e-6)


@pytest.mark.parametrize("encoding", ["v2_fp32_contents", "v2_raw"])
def test_grpc_requests_round_trip(encoding):
    req = codec.grpc_request(encoding, IMAGES, "rid", "mnist", 3)
    again = pb.ModelInferRequest.FromString(req.SerializeToString())
    assert (again.model_name, again.model_version, again.id) == ("mnist", "3", "rid")
    assert bool(again.raw_input_contents) == (encoding == "v2_raw")
    arrays = codec.grpc_tensors(again.inputs, again.raw_input_contents, "input")
    np.testing.assert_allclose(arrays["images"], IMAGES / 255.0, rtol=1e-6)


def test_responses_decode_from_json_binary_typed_and_raw():
    scores = np.arange(20, dtype=np.float32).reshape(2, 10) / 20
    doc = {"outputs": [{"name": "scores", "datatype": "FP32", "shape": [2, 10],
                        "data": scores.ravel().tolist()}]}
    np.testing.assert_array_equal(codec.rest_scores(json.dumps(doc).encode(), None), scores)
    head = json.dumps({"outputs": [{"name": "scores", "datatype": "FP32", "shape": [2, 10],
                                    "parameters": {"binary_data_size": 80}}]}).encode()
    np.testing.assert_array_equal(codec.rest_scores(head + scores.tobytes(), str(len(head))),
                                  scores)
    typed = pb.ModelInferResponse()
    typed.outputs.add(name="scores", datatype="FP32", shape=[2, 10]).contents.fp32_contents \
        .extend(scores.ravel())
    np.testing.assert_array_equal(codec.grpc_scores(typed), scores)
    raw = pb.ModelInferResponse(raw_output_contents=[scores.tobytes()])
    raw.outputs.add(name="scores", datatype="FP32", shape=[2, 10])
    np.testing.assert_array_equal(codec.grpc_scores(raw), scores)


def test_missing_output_and_bad_bodies_name_the_problem():
    with pytest.raises(codec.V2FormatError, match="no output named 'scores' .outputs: probs"):
        codec.rest_scores(b'{"outputs": [{"name": "probs", "datatype": "FP32", "shape": [1], '
                          b'"data": [1]}]}', None)
    with pytest.raises(codec.V2FormatError, match="field 'outputs': expected a list"):
        codec.rest_scores(b'{"error": "x"}', None)
    with pytest.raises(codec.V2FormatError, match="raw_output_contents: 2 entries for 1 outputs"):
        r = pb.ModelInferResponse(raw_output_contents=[b"", b""])
        r.outputs.add(name="scores", datatype="FP32", shape=[0])
        codec.grpc_scores(r)
    with pytest.raises(codec.V2FormatError, match="is not a whole number"):
        codec.split_binary(b"{}", "x")


def test_error_bodies():
    assert codec.rest_error(b'{"error": "model \'m\' is not found"}') == "model 'm' is not found"
    assert codec.rest_error(b"<html>bad gateway</html>") == "<html>bad gateway</html>"


def test_paths():
    assert codec.rest_path("mnist") == "/v2/models/mnist/infer"
    assert codec.rest_path("m", 2) == "/v2/models/m/versions/2/infer"
