"""TensorProto <-> numpy, by hand.

``tf.make_tensor_proto`` / ``tf.make_ndarray`` need TensorFlow imported and cost tens of microseconds
per call in Python; this module needs only the generated protobuf classes and takes the fast path for
``tensor_content``.  The semantics follow TensorFlow's ``Tensor::FromProto``: ``tensor_content`` must
hold exactly the shape's bytes; typed value fields (``float_val``, ...) may hold fewer values than the
shape, the last one then repeats (one value fills the tensor), none means zeros; more is an error.
"""
from __future__ import annotations

import math

import numpy as np

from .protos import tensor_pb2, tensor_shape_pb2, types_pb2
from .status import invalid

# dtype enum -> (numpy dtype, typed value field)
DTYPES: dict[int, tuple[np.dtype, str]] = {
    types_pb2.DT_FLOAT: (np.dtype(np.float32), "float_val"),
    types_pb2.DT_DOUBLE: (np.dtype(np.float64), "double_val"),
    types_pb2.DT_INT32: (np.dtype(np.int32), "int_val"),
    types_pb2.DT_UINT8: (np.dtype(np.uint8), "int_val"),
    types_pb2.DT_INT16: (np.dtype(np.int16), "int_val"),
    types_pb2.DT_INT8: (np.dtype(np.int8), "int_val"),
    types_pb2.DT_UINT16: (np.dtype(np.uint16), "int_val"),
    types_pb2.DT_INT64: (np.dtype(np.int64), "int64_val"),
    types_pb2.DT_BOOL: (np.dtype(np.bool_), "bool_val"),
    types_pb2.DT_HALF: (np.dtype(np.float16), "half_val"),
    types_pb2.DT_UINT32: (np.dtype(np.uint32), "uint32_val"),
    types_pb2.DT_UINT64: (np.dtype(np.uint64), "uint64_val"),
    types_pb2.DT_STRING: (np.dtype(object), "string_val"),
}
_BY_NUMPY = {np.dtype(np.float32): types_pb2.DT_FLOAT, np.dtype(np.float64): types_pb2.DT_DOUBLE,
             np.dtype(np.int32): types_pb2.DT_INT32, np.dtype(np.uint8): types_pb2.DT_UINT8,
             np.dtype(np.int16): types_pb2.DT_INT16, np.dtype(np.int8): types_pb2.DT_INT8,
             np.dtype(np.uint16): types_pb2.DT_UINT16, np.dtype(np.int64): types_pb2.DT_INT64,
             np.dtype(np.bool_): types_pb2.DT_BOOL, np.dtype(np.float16): types_pb2.DT_HALF,
             np.dtype(np.uint32): types_pb2.DT_UINT32, np.dtype(np.uint64): types_pb2.DT_UINT64}
# A few bytes of typed values can declare a huge tensor (values repeat to fill the shape), so the
# element count is bounded before anything is allocated: 16M elements (64 MB of float32).
MAX_ELEMENTS = 1 << 24


def dtype_name(dtype: int) -> str:
    """TensorFlow's name for a DataType enum value: ``float``, ``string``, ``uint8``..."""
    name = types_pb2.DataType.Name(dtype) if dtype in types_pb2.DataType.values() else f"type{dtype}"
    return {"DT_FLOAT": "float", "DT_DOUBLE": "double", "DT_HALF": "half", "DT_BOOL": "bool"}.get(
        name, name[3:].lower() if name.startswith("DT_") else name)


def shape_of(proto: tensor_pb2.TensorProto, name: str = "") -> tuple[int, ...]:
    """The declared shape of a tensor; unknown rank or negative sizes are INVALID_ARGUMENT."""
    if proto.tensor_shape.unknown_rank:
        raise invalid(f"tensor {name!r}: unknown rank in tensor_shape")
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    if any(s < 0 for s in shape):
        raise invalid(f"tensor {name!r}: negative dimension in tensor_shape {list(shape)}")
    if math.prod(shape) > MAX_ELEMENTS:
        raise invalid(f"tensor {name!r}: shape {list(shape)} has more than {MAX_ELEMENTS} elements")
    return shape


def to_ndarray(proto: tensor_pb2.TensorProto, name: str = "") -> np.ndarray:
    """The numpy array a TensorProto holds (object array of bytes for DT_STRING)."""
    if proto.dtype not in DTYPES:
        raise invalid(f"tensor {name!r}: unsupported dtype {dtype_name(proto.dtype)}")
    np_dtype, field = DTYPES[proto.dtype]
    shape = shape_of(proto, name)
    count = math.prod(shape)
    if proto.tensor_content and proto.dtype != types_pb2.DT_STRING:
        return _from_content(proto.tensor_content, np_dtype, shape, count, name)
    values = getattr(proto, field)
    n = len(values)
    if n > count:
        raise invalid(f"tensor {name!r}: {n} values in {field} for shape {list(shape)} "
                      f"({count} elements)")
    if proto.dtype == types_pb2.DT_STRING:
        flat = np.empty(count, dtype=object)
        flat[:n] = list(values)
        flat[n:] = values[-1] if n else b""
        return flat.reshape(shape)
    if proto.dtype == types_pb2.DT_HALF:
        flat = np.array(values, dtype=np.uint16).view(np.float16)
    else:
        flat = np.array(values, dtype=np_dtype)
    if n == count:
        return flat.reshape(shape)
    full = np.zeros(count, np_dtype)
    full[:n] = flat
    if n:
        full[n:] = flat[-1]
    return full.reshape(shape)


def _from_content(content: bytes, np_dtype: np.dtype, shape, count: int, name: str) -> np.ndarray:
    need = count * np_dtype.itemsize
    if len(content) != need:
        raise invalid(f"tensor {name!r}: tensor_content has {len(content)} bytes, shape "
                      f"{list(shape)} of {np_dtype.name} needs {need}")
    return np.frombuffer(content, np_dtype.newbyteorder("<")).reshape(shape)


def _set_shape(proto: tensor_pb2.TensorProto, shape) -> None:
    proto.tensor_shape.CopyFrom(tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=int(s)) for s in shape]))


def from_ndarray(array, proto: tensor_pb2.TensorProto | None = None, *,
                 content: bool = True) -> tensor_pb2.TensorProto:
    """Fill (or create) a TensorProto from an array.

    ``content=True`` writes ``tensor_content`` (raw little-endian bytes, the compact form);
    ``content=False`` writes the typed value field (``float_val``...), as TF Serving's own responses
    do (``Tensor::AsProtoField``).  Arrays of bytes/str objects become DT_STRING ``string_val``.
    """
    proto = tensor_pb2.TensorProto() if proto is None else proto
    arr = np.asarray(array)
    if arr.dtype == object or arr.dtype.kind in "SU":
        proto.dtype = types_pb2.DT_STRING
        _set_shape(proto, arr.shape)
        proto.string_val.extend(v.encode() if isinstance(v, str) else bytes(v) for v in arr.ravel())
        return proto
    if arr.dtype not in _BY_NUMPY:
        raise TypeError(f"no TensorFlow dtype for numpy {arr.dtype}")
    proto.dtype = _BY_NUMPY[arr.dtype]
    _set_shape(proto, arr.shape)
    if content:
        proto.tensor_content = np.ascontiguousarray(arr, arr.dtype.newbyteorder("<")).tobytes()
    elif arr.dtype == np.float16:
        proto.half_val.extend(arr.ravel().view(np.uint16).tolist())
    else:
        getattr(proto, DTYPES[proto.dtype][1]).extend(arr.ravel().tolist())
    return proto
