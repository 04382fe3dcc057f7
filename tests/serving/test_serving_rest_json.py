"""TF Serving's REST JSON mapping: request parsing, error wording, response layout."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from inferwire.serving import rest_json as R
from inferwire.serving.protos import types_pb2
from inferwire.serving.status import ApiError

F, S, I32 = types_pb2.DT_FLOAT, types_pb2.DT_STRING, types_pb2.DT_INT32


def err(fn, *args) -> str:
    with pytest.raises(ApiError) as info:
        fn(*args)
    assert info.value.code == "INVALID_ARGUMENT"
    return info.value.message


def test_row_and_columnar_single_input():
    rows, fmt = R.predict_inputs({"instances": [[1, 2.5], [3, 4]]}, {"x": F})
    assert fmt == "row" and rows["x"].dtype == np.float32 and rows["x"].tolist() == [[1, 2.5], [3, 4]]
    cols, fmt = R.predict_inputs({"inputs": [[1, 2.5], [3, 4]]}, {"x": F})
    assert fmt == "columnar" and np.array_equal(cols["x"], rows["x"])
    named, _ = R.predict_inputs({"inputs": {"x": [1.0]}}, {"x": F})
    assert named["x"].tolist() == [1.0]


def test_doc_example_multiple_named_inputs_row_equals_columnar():
    # the example of TF Serving's api_rest.md, "Specifying input tensors in row format"
    sig = {"tag": S, "signal": I32, "sensor": I32}
    row = {"instances": [{"tag": "foo", "signal": [1, 2, 3, 4, 5], "sensor": [[1, 2], [3, 4]]},
                         {"tag": "bar", "signal": [3, 4, 1, 2, 5], "sensor": [[4, 5], [6, 8]]}]}
    col = {"inputs": {"tag": ["foo", "bar"], "signal": [[1, 2, 3, 4, 5], [3, 4, 1, 2, 5]],
                      "sensor": [[[1, 2], [3, 4]], [[4, 5], [6, 8]]]}}
    a, _ = R.predict_inputs(row, sig)
    b, _ = R.predict_inputs(col, sig)
    for name in sig:
        assert a[name].shape == b[name].shape and a[name].tolist() == b[name].tolist()
    assert a["tag"].tolist() == [b"foo", b"bar"] and a["sensor"].shape == (2, 2, 2)


def test_b64_values_and_nan_infinity():
    raw = bytes(range(256))
    out, _ = R.predict_inputs({"instances": [{"b64": base64.b64encode(raw).decode()}]}, {"b": S})
    assert out["b"].tolist() == [raw]
    doc = R.parse_body(b'{"instances": [[NaN, Infinity, -Infinity]]}')
    x = R.predict_inputs(doc, {"x": F})[0]["x"]
    assert np.isnan(x[0, 0]) and x[0, 1] == np.inf and x[0, 2] == -np.inf


@pytest.mark.parametrize("body, message", [
    (b"", "JSON Parse error: The document is empty"),
    (b"{bad", "JSON Parse error: Expecting property name enclosed in double quotes at offset: 1"),
    (b"[1]", "JSON Value: [1] Is not object"),
    (b'{"instances": [1], "inputs": [1]}', "expecting only one of 'inputs' or 'instances'"),
    (b'{"instances": 5}', "Excepting 'instances' to be an list/array"),
    (b'{"instances": []}', "No values in 'instances' array"),
    (b'{"foo": 1}', "Missing 'inputs' or 'instances' key"),
    (b'{"instances": [["a"]]}', 'JSON Value: "a" Type: String is not of expected type: float'),
    (b'{"instances": [[1], [1, 2]]}', "Failed to process element: 1 of 'instances' list. Error: "
                                      "Expecting shape [1] but got: [2]"),
    (b'{"instances": [[16777217]]}', "Cannot convert JSON value: 16777217 to float without loss"),
    (b'{"instances": [[1e39]]}', "without loss of precision"),
    (b'{"instances": [{"x": [1.0]}, [2.0]]}', "Expecting object but got list at item 1"),
    (b'{"instances": ' + b"[" * 100000 + b"]" * 100000 + b"}", "JSON Parse error: nesting too deep"),
])
def test_request_errors_use_tf_serving_wording(body, message):
    def run():
        R.predict_inputs(R.parse_body(body), {"x": F})
    assert message in err(run)


def test_named_object_errors():
    assert "keys must be equal to: a,b" in err(
        R.predict_inputs, {"instances": [{"a": 1.0}]}, {"a": F, "b": F})
    assert "does not have named input: z" in err(
        R.predict_inputs, {"instances": [{"a": 1.0, "z": 2.0}]}, {"a": F})
    assert "Missing named input: b in 'inputs' object." == err(
        R.predict_inputs, {"inputs": {"a": [1.0]}}, {"a": F, "b": F})
    assert "instances is a plain list, but expecting list of objects" in err(
        R.predict_inputs, {"instances": [1.0]}, {"a": F, "b": F})
    assert "not formatted correctly for base64 data" in err(
        R.predict_inputs, {"inputs": [{"b64": "x", "y": 1}]}, {"a": S})
    assert err(R.predict_inputs, {"inputs": [{"b64": "!!!"}]}, {"a": S}) == "Unable to base64 decode"
    assert "'signature_name' key must be a string value" in err(R.signature_name, {"signature_name": 3})


def test_tf_float_format():
    values = np.array([0.1, 0.123456789, 1e-5, 3.4567e-08, 1234567.0, 1.0, 0.0, 0.5, -2.25e10],
                      np.float32)
    text = json.dumps(R.tf_floats(values).tolist())
    # 6 significant digits when they round-trip the float32, else 9 (absl StrCat / %.9g)
    assert text == "[0.1, 0.123456791, 1e-05, 3.4567e-08, 1234567.0, 1.0, 0.0, 0.5, -22500000000.0]"
    assert np.array_equal(np.array(R.tf_floats(values), np.float32), values)


def test_response_layouts_match_rapidjson_pretty_writer():
    assert R.predict_body({"y": np.array([3.5, 4.0, 5.5], np.float32)}, "row") == \
        b'{\n    "predictions": [3.5, 4.0, 5.5\n    ]\n}'
    two = {"classes": np.array([[b"1"]], object), "scores": np.array([[0.5]], np.float32)}
    assert json.loads(R.predict_body(two, "row")) == {"predictions": [{"classes": ["1"], "scores": [0.5]}]}
    assert R.predict_body({"y": np.array([[1.0]], np.float32)}, "columnar") == \
        b'{\n    "outputs": [\n        [\n            1.0\n        ]\n    ]\n}'
    assert json.loads(R.predict_body(two, "columnar")) == {"outputs": {"classes": [["1"]], "scores": [[0.5]]}}
    out_bytes = R.predict_body({"img_bytes": np.array([b"\x00\x01"], object)}, "row")
    assert json.loads(out_bytes) == {"predictions": [{"b64": "AAE="}]}
    assert R.error_body('a "quoted" msg') == b'{\n    "error": "a \\"quoted\\" msg"\n}'


def test_classify_examples_input():
    doc = {"context": {"c": 1}, "examples": [{"x": [1.0, 2.0], "s": "a", "b": {"b64": "AAE="}}]}
    model_input = R.examples_input(doc)
    ex = model_input.example_list_with_context.examples[0].features.feature
    assert list(ex["x"].float_list.value) == [1.0, 2.0] and list(ex["b"].bytes_list.value) == [b"\x00\x01"]
    assert list(model_input.example_list_with_context.context.features.feature["c"].int64_list.value) == [1]
    assert "Unexpected element type in feature: x expecting type: float" in err(
        R.examples_input, {"examples": [{"x": [1.0, "a"]}]})
    assert "'examples' value is an empty array" in err(R.examples_input, {"examples": []})
    assert "key 'examples' is expected" in err(R.examples_input, {})
