"""The fixed request bodies ab, h2load and ghz send: framing, content, never overwritten."""
import json

import numpy as np
import pytest

from inferwire.errors import LoadError
from inferwire.reference import bodies
from inferwire.serving import encodings as E
from inferwire.serving.clients import sample_images
from inferwire.serving.protos import predict_pb2


@pytest.mark.parametrize("encoding", ["grpc_tensor_content", "grpc_float_val", "grpc_string_val"])
def test_grpc_body_is_one_length_prefixed_predict_request(encoding):
    body = bodies.grpc_body(3, encoding, "mnist")
    assert body[0] == 0 and int.from_bytes(body[1:5], "big") == len(body) - 5
    request = predict_pb2.PredictRequest.FromString(bodies.unframe(body))
    assert request.model_spec.name == "mnist"
    assert request.model_spec.signature_name == E.default_signature(encoding)
    tensor = next(iter(request.inputs.values()))
    assert tensor.tensor_shape.dim[0].size == 3
    # the same images inferwire's own client sends
    expected = E.grpc_request(encoding, sample_images(3), "mnist").SerializeToString()
    assert bodies.grpc_message(3, encoding, "mnist") == expected


def test_rest_body_carries_the_batch():
    doc = json.loads(bodies.rest_body(4))
    assert doc["signature_name"] == "predict_images" and len(doc["instances"]) == 4
    np.testing.assert_allclose(np.array(doc["instances"][0]), sample_images(4)[0] / 255.0)
    assert bodies.rest_path("mnist_cnn") == "/v1/models/mnist_cnn:predict"


@pytest.mark.parametrize("body, field", [(b"\x00\x00", "shorter"),
                                         (b"\x01\x00\x00\x00\x00", "compressed-flag"),
                                         (b"\x00\x00\x00\x00\x05abc", "length")])
def test_unframe_names_the_bad_field(body, field):
    with pytest.raises(LoadError, match=field):
        bodies.unframe(body)


def test_wrong_encoding_and_batch_are_clear_errors():
    with pytest.raises(LoadError, match="not a gRPC encoding"):
        bodies.grpc_body(1, "json_row")
    with pytest.raises(LoadError, match="not a REST encoding"):
        bodies.rest_body(1, "grpc_float_val")
    with pytest.raises(LoadError, match="batch size"):
        bodies.rest_body(0)


def test_write_new_never_overwrites(tmp_path):
    path = bodies.write_new(tmp_path / "b.bin", b"one")
    with pytest.raises(LoadError, match="never overwritten"):
        bodies.write_new(path, b"two")
    assert path.read_bytes() == b"one"
