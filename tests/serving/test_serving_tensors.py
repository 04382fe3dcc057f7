"""TensorProto <-> numpy, held against TensorFlow's own make_tensor_proto / make_ndarray."""
from __future__ import annotations

import numpy as np
import pytest

from inferwire.serving.protos import tensor_pb2, types_pb2
from inferwire.serving.status import ApiError
from inferwire.serving.tensors import dtype_name, from_ndarray, to_ndarray

ARRAYS = [np.arange(6, dtype=np.float32).reshape(2, 3) / 7, np.arange(4, dtype=np.float64),
          np.array([[1, 255]], np.uint8), np.array([-3, 7], np.int64), np.array([True, False]),
          np.array([1.5, -2], np.float16), np.array([-1, 2 ** 31 - 1], np.int32),
          np.zeros((0, 784), np.float32)]


@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: f"{a.dtype}{list(a.shape)}")
@pytest.mark.parametrize("content", [True, False])
def test_roundtrip_and_tensorflow_agrees(array, content):
    import tensorflow as tf
    proto = from_ndarray(array, content=content)
    assert np.array_equal(to_ndarray(proto), array) and to_ndarray(proto).dtype == array.dtype
    assert np.array_equal(tf.make_ndarray(proto), array)          # TF reads what we write
    theirs = tf.make_tensor_proto(array)
    assert np.array_equal(to_ndarray(theirs), array)              # we read what TF writes


def test_strings():
    import tensorflow as tf
    arr = np.array([b"\x00\xff", b"abc"], dtype=object)
    proto = from_ndarray(arr)
    assert proto.dtype == types_pb2.DT_STRING and list(proto.string_val) == list(arr)
    assert list(to_ndarray(tf.make_tensor_proto([b"x", b"yz"]))) == [b"x", b"yz"]


def test_fewer_values_repeat_the_last_as_tensorflow_does():
    import tensorflow as tf
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[1.0, 2.0])
    proto.tensor_shape.dim.add(size=4)
    assert to_ndarray(proto).tolist() == [1.0, 2.0, 2.0, 2.0] == tf.make_ndarray(proto).tolist()
    empty = tensor_pb2.TensorProto(dtype=types_pb2.DT_INT32)
    empty.tensor_shape.dim.add(size=3)
    assert to_ndarray(empty).tolist() == [0, 0, 0]


@pytest.mark.parametrize("mutate, message", [
    (lambda p: setattr(p, "tensor_content", b"\x00" * 5), "tensor_content has 5 bytes"),
    (lambda p: p.float_val.extend([1.0] * 7), "7 values in float_val"),
    (lambda p: p.tensor_shape.dim.add(size=-2), "negative dimension"),
    (lambda p: setattr(p, "dtype", types_pb2.DT_RESOURCE), "unsupported dtype"),
    (lambda p: p.tensor_shape.dim.add(size=1 << 40), "more than 16777216 elements"),
    (lambda p: setattr(p.tensor_shape, "unknown_rank", True), "unknown rank"),
])
def test_bad_protos_are_invalid_argument(mutate, message):
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT)
    proto.tensor_shape.dim.add(size=2)
    proto.tensor_shape.dim.add(size=3)
    mutate(proto)
    with pytest.raises(ApiError, match=message) as info:
        to_ndarray(proto, "images")
    assert info.value.code == "INVALID_ARGUMENT" and "'images'" in info.value.message


def test_dtype_names_are_tensorflows_cpp_names():
    # DataTypeString() in tensorflow/core/framework/types.cc, as TF Serving's messages print them
    expected = {types_pb2.DT_FLOAT: "float", types_pb2.DT_STRING: "string", types_pb2.DT_UINT8: "uint8",
                types_pb2.DT_INT64: "int64", types_pb2.DT_DOUBLE: "double", types_pb2.DT_BOOL: "bool",
                types_pb2.DT_HALF: "half"}
    assert {dt: dtype_name(dt) for dt in expected} == expected
