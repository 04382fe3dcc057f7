"""gRPC conformance: the official tensorflow-serving-api stubs against the embedded server."""
from __future__ import annotations

import grpc
import numpy as np
import pytest

from inferwire.serving.digits import generate_digits
from inferwire.serving.protos import (classification_pb2, get_model_metadata_pb2,
                                      get_model_status_pb2, model_service_pb2_grpc, predict_pb2,
                                      prediction_service_pb2_grpc)
from inferwire.serving.tensors import from_ndarray


@pytest.fixture(scope="module")
def channel(server):
    ch = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}",
                               options=[("grpc.max_send_message_length", 64 << 20)])
    yield ch
    ch.close()


@pytest.fixture(scope="module")
def stub(channel):
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture(scope="module")
def images():
    return generate_digits(5, seed=11).images


def predict_request(images, model="mnist", signature="predict_images", name="images", array=None):
    req = predict_pb2.PredictRequest()
    req.model_spec.name = model
    req.model_spec.signature_name = signature
    from_ndarray(array if array is not None else images.astype(np.float32) / 255, req.inputs[name])
    return req


def test_predict_matches_tensorflow_and_reports_model_time(stub, images, tf_scores):
    resp, call = stub.Predict.with_call(predict_request(images), metadata=[("x-request-id", "r-1")])
    assert resp.model_spec.name == "mnist" and resp.model_spec.version.value == 1
    assert resp.model_spec.signature_name == "predict_images"
    out = resp.outputs["scores"]
    assert [d.size for d in out.tensor_shape.dim] == [5, 10]
    assert len(out.float_val) == 50 and not out.tensor_content  # AsProtoField, like TF Serving
    np.testing.assert_allclose(np.array(out.float_val).reshape(5, 10), tf_scores(images), rtol=1e-5, atol=1e-7)
    md = dict(call.trailing_metadata())
    model_ns, server_ns = int(md["x-inferwire-model-time-ns"]), int(md["x-inferwire-server-time-ns"])
    assert 0 < model_ns < server_ns < 10**9


def test_bytes_signature_and_string_val(stub, images, tf_scores):
    rows = np.empty(len(images), dtype=object)
    rows[:] = [r.tobytes() for r in images]
    resp = stub.Predict(predict_request(images, signature="predict_images_bytes", name="images_bytes",
                                        array=rows))
    np.testing.assert_allclose(np.array(resp.outputs["scores"].float_val).reshape(5, 10),
                               tf_scores(images), rtol=1e-5, atol=1e-7)


def test_classify_serving_default_with_tf_examples(stub, images, tf_scores):
    req = classification_pb2.ClassificationRequest()
    req.model_spec.name = "mnist"  # no signature: serving_default, as in TF Serving's mnist_client
    for img in images:
        req.input.example_list.examples.add().features.feature["x"].float_list.value.extend(img / 255.0)
    resp = stub.Classify(req)
    assert resp.model_spec.signature_name == "serving_default"
    expected = tf_scores(images)
    for row, scores in zip(resp.result.classifications, expected):
        labels = [c.label for c in row.classes]
        assert labels[0] == str(scores.argmax()) and sorted(labels) == [str(i) for i in range(10)]
        assert [c.score for c in row.classes] == sorted((c.score for c in row.classes), reverse=True)
        assert row.classes[0].score == pytest.approx(scores.max(), rel=1e-5)


def test_metadata_and_status(stub, channel):
    req = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    req.model_spec.name = "mnist_cnn"
    resp = stub.GetModelMetadata(req)
    sigs = get_model_metadata_pb2.SignatureDefMap()
    assert resp.metadata["signature_def"].Unpack(sigs)
    assert set(sigs.signature_def) == {"predict_images", "predict_images_bytes", "serving_default"}
    assert resp.model_spec.name == "mnist_cnn" and resp.model_spec.version.value == 1
    status_stub = model_service_pb2_grpc.ModelServiceStub(channel)
    status = status_stub.GetModelStatus(get_model_status_pb2.GetModelStatusRequest(
        model_spec={"name": "mnist"}))
    assert [(s.version, s.state, s.status.error_code) for s in status.model_version_status] == \
        [(1, get_model_status_pb2.ModelVersionStatus.AVAILABLE, 0)]


def _error(fn, req) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        fn(req)
    return info.value.code(), info.value.details()


def test_errors_have_tf_serving_codes_and_messages(stub, channel, images):
    assert _error(stub.Predict, predict_request(images, model="nope")) == \
        (grpc.StatusCode.NOT_FOUND, "Servable not found for request: Latest(nope)")
    req = predict_request(images)
    req.model_spec.version.value = 9
    assert _error(stub.Predict, req) == \
        (grpc.StatusCode.NOT_FOUND, "Servable not found for request: Specific(mnist, 9)")
    assert _error(stub.Predict, predict_request(images, signature="nope")) == \
        (grpc.StatusCode.FAILED_PRECONDITION, 'Serving signature key "nope" not found.')
    code, msg = _error(stub.Predict, predict_request(images, name="pixels"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and msg.startswith(
        "input size does not match signature: 1!=1 len({pixels}) != len({images}). "
        "Sent extra: {pixels}. Missing but required: {images}.")
    code, msg = _error(stub.Predict, predict_request(images, array=images))  # uint8, not float
    assert code == grpc.StatusCode.INVALID_ARGUMENT and msg == "Expects arg[0] to be float but uint8 is provided"
    code, msg = _error(stub.Predict, predict_request(images, array=np.zeros((2, 783), np.float32)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "[2, 783]" in msg
    rows = np.array([b"\x00" * 783], dtype=object)  # the model's own shape check answers
    code, msg = _error(stub.Predict, predict_request(images, signature="predict_images_bytes",
                                                     name="images_bytes", array=rows))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "[1,783]" in msg
    assert _error(stub.Predict, predict_pb2.PredictRequest()) == \
        (grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")
    huge = predict_request(images)
    huge.inputs["images"].ClearField("tensor_content")
    huge.inputs["images"].tensor_shape.dim[0].size = 1 << 30  # 4 bytes of message, 3 TB of tensor
    code, msg = _error(stub.Predict, huge)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "elements" in msg
    req = predict_request(images)
    req.output_filter.append("logits")
    code, msg = _error(stub.Predict, req)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and msg.startswith("output tensor alias not found")
    meta = get_model_metadata_pb2.GetModelMetadataRequest(model_spec={"name": "mnist"})
    assert _error(stub.GetModelMetadata, meta)[1] == \
        "GetModelMetadataRequest must specify at least one metadata_field"
    status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus
    assert _error(status, get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "x"})) == \
        (grpc.StatusCode.NOT_FOUND, "Could not find any versions of model x")
    classify = classification_pb2.ClassificationRequest(model_spec={"name": "mnist",
                                                                    "signature_name": "predict_images"})
    classify.input.example_list.examples.add()
    assert _error(stub.Classify, classify)[1].startswith("Expected classification signature method_name")


def test_garbage_and_oversized_messages_are_refused(channel, server, images):
    raw = channel.unary_unary("/tensorflow.serving.PredictionService/Predict",
                              request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.RpcError) as info:
        raw(b"\xff\xff\xff\xff")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    big = predict_request(images, array=np.zeros((3000, 784), np.float32))  # 9.4 MB > 8 MiB limit
    with pytest.raises(grpc.RpcError) as info:
        prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(big)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(grpc.RpcError) as info:
        channel.unary_unary("/tensorflow.serving.PredictionService/Nope")(b"")
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    # and the server still serves
    assert prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(predict_request(images))


def test_request_log_joins_by_request_id(stub, server_log, images):
    stub.Predict(predict_request(images[:2]), metadata=[("x-request-id", "join-me")])
    rec = [r for r in server_log() if r["request_id"] == "join-me"]
    assert len(rec) == 1
    rec = rec[0]
    assert rec["protocol"] == "grpc" and rec["method"] == "Predict" and rec["status"] == "OK"
    assert rec["model"] == "mnist" and rec["signature"] == "predict_images" and rec["rows"] == 2
    assert 0 < rec["model_time_ns"] < rec["server_time_ns"] and rec["peer"].startswith("127.0.0.1:")
    assert rec["request_bytes"] > 2 * 784 * 4 and rec["response_bytes"] > 80
