"""TF Serving's REST JSON: request bodies to numpy inputs, outputs to response bodies.

Follows ``tensorflow_serving/util/json_tensor.cc``: ``instances`` (row) or ``inputs`` (columnar),
``{"b64": ...}`` for binary strings, NaN/Infinity accepted, floats written as TF writes them (6
significant digits when that round-trips the float32, else 9) and laid out as TF's rapidjson
PrettyWriter lays them out, so response sizes match the real server's.  Errors are
:class:`~.status.ApiError` with TF Serving's messages.
"""
from __future__ import annotations

import base64
import binascii
import json

import numpy as np

from .protos import example_pb2, input_pb2, types_pb2
from .status import ApiError, invalid
from .tensors import DTYPES, dtype_name

_FLOAT = (types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE, types_pb2.DT_HALF)
_JSON_TYPES = {type(None): "Null", bool: "Bool", dict: "Object", list: "Array", str: "String",
               int: "Number", float: "Number"}


def _short(value, limit: int = 200) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit] + "..."


def parse_body(body: bytes) -> dict:
    """The request's top-level JSON object; INVALID_ARGUMENT with TF's wording otherwise."""
    if not body:
        raise invalid("JSON Parse error: The document is empty")
    try:
        doc = json.loads(body, parse_float=_finite_float, parse_int=_bounded_int)
    except UnicodeDecodeError as exc:
        raise invalid(f"JSON Parse error: Invalid encoding in string. at offset: {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise invalid(f"JSON Parse error: {exc.msg} at offset: {exc.pos}") from None
    except _NumberTooBig as exc:
        at = body.find(exc.text.encode("ascii"))
        raise invalid("JSON Parse error: Number too big to be stored in double. at offset: "
                      f"{max(at, 0)}") from None
    except RecursionError:
        raise invalid("JSON Parse error: nesting too deep") from None
    if not isinstance(doc, dict):
        raise invalid(f"JSON Value: {_short(doc)} Is not object")
    return doc


class _NumberTooBig(ValueError):
    """A JSON number no double holds (TF Serving's rapidjson refuses it: ``1e999`` is not
    infinity; the literals ``Infinity`` and ``NaN`` are what it accepts)."""

    def __init__(self, text: str):
        super().__init__(text[:40])
        self.text = text


# a double holds integers up to ~1.8e308 (309 digits); Python's int() stops at 4,300 digits
_MAX_INT_DIGITS = 309


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _NumberTooBig(text)
    return value


def _bounded_int(text: str) -> int:
    if len(text) - text.startswith("-") > _MAX_INT_DIGITS:
        raise _NumberTooBig(text)
    return int(text)


def signature_name(doc: dict) -> str:
    name = doc.get("signature_name", "")
    if not isinstance(name, str):
        raise invalid(f"JSON Value: {_short(doc)} not formatted correctly. 'signature_name' key "
                      f"must be a string value.")
    return name


# --- request -> arrays -----------------------------------------------------------------------------

def predict_inputs(doc: dict, input_dtypes: dict[str, int]) -> tuple[dict[str, np.ndarray], str]:
    """Inputs by alias from a predict body, and its format ("row" or "columnar")."""
    if not input_dtypes:
        raise invalid("Failed to get input map for signature")
    has_rows, has_cols = "instances" in doc, "inputs" in doc
    if has_rows and has_cols:
        raise invalid(f"JSON Value: {_short(doc)} Not formatted correctly expecting only one of "
                      f"'inputs' or 'instances' keys to exist ")
    if has_rows:
        rows = doc["instances"]
        if not isinstance(rows, list):
            raise invalid(f"JSON Value: {_short(doc)} Excepting 'instances' to be an list/array")
        if not rows:
            raise invalid(f"JSON Value: {_short(doc)} No values in 'instances' array")
        return _from_rows(rows, input_dtypes), "row"
    if has_cols:
        return _from_columns(doc["inputs"], input_dtypes), "columnar"
    raise invalid("Missing 'inputs' or 'instances' key")


def _is_b64(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _is_named(value) -> bool:
    return isinstance(value, dict) and not _is_b64(value)


def _from_rows(rows: list, dtypes: dict[str, int]) -> dict[str, np.ndarray]:
    if not _is_named(rows[0]):
        if len(dtypes) > 1:
            raise invalid("instances is a plain list, but expecting list of objects as multiple "
                          "input tensors required as per tensorinfo_map")
        name = next(iter(dtypes))
        for i, row in enumerate(rows):
            if _is_named(row):
                raise invalid(f"Expecting value/list but got object at item {i} of input list")
        return {name: _tensor(rows, dtypes[name], "'instances' list", batched=True)}
    columns: dict[str, list] = {name: [] for name in dtypes}
    for i, row in enumerate(rows):
        if not _is_named(row):
            raise invalid(f"Expecting object but got list at item {i} of input list")
        if set(row) != set(dtypes):
            unknown = sorted(set(row) - set(dtypes))
            if unknown:
                raise invalid(f"Failed to process element: {i} key: {unknown[0]} of 'instances' "
                              f"list. Error: INVALID_ARGUMENT: JSON object: does not have named "
                              f"input: {unknown[0]}")
            raise invalid(f"Failed to process element: {i} of 'instances' list. JSON object: "
                          f"{_short(row)} keys must be equal to: {','.join(sorted(dtypes))}")
        for name, value in row.items():
            columns[name].append(value)
    return {name: _tensor(values, dtypes[name], f"key: {name} of 'instances' list", batched=True)
            for name, values in columns.items()}


def _from_columns(value, dtypes: dict[str, int]) -> dict[str, np.ndarray]:
    if not _is_named(value):
        if len(dtypes) > 1:
            raise invalid("inputs is a plain value/list, but expecting an object as multiple "
                          "input tensors required as per tensorinfo_map")
        name = next(iter(dtypes))
        return {name: _tensor(value, dtypes[name], "'inputs'", batched=False)}
    out = {}
    for name, dtype in dtypes.items():
        if name not in value:
            raise invalid(f"Missing named input: {name} in 'inputs' object.")
        out[name] = _tensor(value[name], dtype, f"input {name}", batched=False)
    return out


def _tensor(value, dtype: int, where: str, batched: bool) -> np.ndarray:
    """A dense array of TF type ``dtype`` from nested JSON lists; ``batched``: value is a list of
    per-instance values that must share one shape."""
    if dtype == types_pb2.DT_STRING:
        return _string_tensor(value, where, batched)
    if dtype not in DTYPES:
        raise ApiError("UNIMPLEMENTED", f"Conversion of JSON Value: {_short(value)} to type: "
                                        f"{dtype_name(dtype)}")
    target = DTYPES[dtype][0]
    try:
        arr = np.array(value)
    except (ValueError, TypeError):
        arr = None
    if arr is None or arr.dtype == object:
        raise invalid(_shape_error(value, where, batched))
    kind_ok = {"f": "fiu", "i": "iu", "u": "iu", "b": "b"}[target.kind]
    if arr.dtype.kind not in kind_ok:
        bad = _first_bad_leaf(value, kind_ok)
        raise invalid(f"Failed to process element of {where}. Error: JSON Value: {_short(bad)} "
                      f"Type: {_JSON_TYPES.get(type(bad), 'Unknown')} is not of expected type: "
                      f"{dtype_name(dtype)}")
    if target.kind == "f" and arr.dtype.kind in "iu" and arr.size and \
            np.abs(arr).max() > (1 << np.finfo(target).nmant + 1) - 1:
        raise invalid(f"Cannot convert JSON value: {int(np.abs(arr).max())} to {dtype_name(dtype)} "
                      f"without loss of precision.")
    if target.kind in "iu" and arr.size and (arr.min() < np.iinfo(target).min or
                                             arr.max() > np.iinfo(target).max):
        raise invalid(f"JSON value in {where} out of range for {dtype_name(dtype)}")
    with np.errstate(over="ignore"):
        out = arr.astype(target)
    if target.kind == "f" and arr.dtype.kind == "f" and np.isinf(out).sum() != np.isinf(arr).sum():
        raise invalid(f"Cannot convert JSON value in {where} to {dtype_name(dtype)} without loss "
                      f"of precision.")
    return out


def _first_bad_leaf(value, kinds: str):
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, list):
            stack.extend(reversed(v))
        elif isinstance(v, bool):
            if "b" not in kinds:
                return v
        elif isinstance(v, float):
            if "f" not in kinds:
                return v
        elif not isinstance(v, int) or "i" not in kinds:
            return v
    return value


def _shape_of(value) -> list[int]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0] if value else None
    return shape


def _shape_error(value, where: str, batched: bool) -> str:
    if batched and isinstance(value, list) and value:
        first = _shape_of(value[0])
        for i, item in enumerate(value):
            if _shape_of(item) != first:
                return (f"Failed to process element: {i} of {where}. Error: Expecting shape "
                        f"{first} but got: {_shape_of(item)}")
    return (f"Failed to process {where}: the nested lists are ragged or hold values of mixed "
            f"types (expected a dense tensor of shape {_shape_of(value)})")


def _string_tensor(value, where: str, batched: bool) -> np.ndarray:
    shape = _shape_of(value)
    flat: list[bytes] = []

    def walk(v, level: int) -> None:
        if isinstance(v, list):
            if level >= len(shape) or len(v) != shape[level]:
                raise invalid(f"Encountered list at unexpected size: {len(v)} at level: {level} "
                              f"in {where}")
            for item in v:
                walk(item, level + 1)
            return
        if level != len(shape):
            raise invalid(f"JSON Value: {_short(v)} found at incorrect level: {level + 1} in the "
                          f"JSON DOM. Expected at level: {len(shape)}")
        if isinstance(v, str):
            flat.append(v.encode())
        elif isinstance(v, dict):
            flat.append(_b64decode(v))
        else:
            raise invalid(f"JSON Value: {_short(v)} Type: {_JSON_TYPES.get(type(v), 'Unknown')} "
                          f"is not of expected type: string")

    walk(value, 0)
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(shape)


def _b64decode(value: dict) -> bytes:
    if not _is_b64(value):
        raise invalid(f"JSON Value: {_short(value)} not formatted correctly for base64 data")
    try:
        return base64.b64decode(value["b64"], validate=True)
    except (binascii.Error, ValueError):
        try:  # TF's decoder also takes the URL-safe alphabet
            return base64.b64decode(value["b64"], altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise invalid("Unable to base64 decode") from None


# --- classify/regress request ----------------------------------------------------------------------

def examples_input(doc: dict) -> input_pb2.Input:
    """The ``tensorflow.serving.Input`` of a classify/regress body (``examples`` + ``context``)."""
    model_input = input_pb2.Input()
    if "context" in doc:
        _fill_example(doc["context"], model_input.example_list_with_context.context)
        target = model_input.example_list_with_context.examples
    else:
        target = model_input.example_list.examples
    examples = doc.get("examples")
    if examples is None:
        raise invalid(f"JSON Value: {_short(doc)} When method is classify, key 'examples' is "
                      f"expected and was not found")
    if not isinstance(examples, list):
        raise invalid(f"JSON Value: {_short(doc)} Expecting 'examples' value to be an list/array")
    if not examples:
        raise invalid(f"JSON Value: {_short(doc)} 'examples' value is an empty array")
    for item in examples:
        _fill_example(item, target.add())
    return model_input


def _fill_example(obj, example: example_pb2.Example) -> None:
    if not isinstance(obj, dict):
        raise invalid(f"Example must be JSON object but got JSON {_JSON_TYPES.get(type(obj), 'Unknown')}")
    for name, content in obj.items():
        feature = example.features.feature[name]
        for v in content if isinstance(content, list) else [content]:
            _add_feature_value(name, v, feature)


def _add_feature_value(name: str, v, feature) -> None:
    kind = feature.WhichOneof("kind")

    def need(expected: str):
        if kind not in (None, expected):
            raise invalid(f"Unexpected element type in feature: {name} expecting type: "
                          f"{kind.replace('_list', '')}")
    if isinstance(v, bool):
        need("int64_list")
        feature.int64_list.value.append(int(v))
    elif isinstance(v, float):
        need("float_list")
        feature.float_list.value.append(v)
    elif isinstance(v, int):
        need("int64_list")
        if not -(1 << 63) <= v < (1 << 63):
            raise invalid(f"Feature: {name} has uint64 element. Only int64 is supported.")
        feature.int64_list.value.append(v)
    elif isinstance(v, str):
        need("bytes_list")
        feature.bytes_list.value.append(v.encode())
    elif _is_b64(v):
        need("bytes_list")
        feature.bytes_list.value.append(_b64decode(v))
    else:
        raise invalid(f"Feature: {name} has element with unexpected JSON type: "
                      f"{_JSON_TYPES.get(type(v), 'Unknown')}")


# --- arrays -> response ------------------------------------------------------------------------------

def tf_floats(array: np.ndarray) -> np.ndarray:
    """float64 values whose Python repr is what TF Serving writes for these floats: 6 significant
    digits if they round-trip the value at its precision, else 9 (17 for doubles)."""
    a = np.asarray(array)
    narrow = a.dtype if a.dtype in (np.float16, np.float32) else np.float64
    x = a.astype(np.float64)
    out = x.copy()
    finite = np.isfinite(x) & (x != 0)
    if not finite.any():
        return out
    xf = x[finite]
    exp10 = np.floor(np.log10(np.abs(xf)))
    y = _round_sig(xf, exp10, 6)
    if narrow == np.float64:
        bad = y != xf
    else:
        bad = y.astype(narrow) != xf.astype(narrow)
    if bad.any():
        y[bad] = _round_sig(xf[bad], exp10[bad], 9 if narrow != np.float64 else 17)
    out[finite] = y
    return out


def _round_sig(x: np.ndarray, exp10: np.ndarray, digits: int) -> np.ndarray:
    scale = digits - 1 - exp10
    with np.errstate(over="ignore", invalid="ignore"):
        pos = scale >= 0
        p = np.power(10.0, np.abs(scale))
        # Division/multiplication by an exact power of ten rounds once: the nearest double to
        # the decimal, whose repr is that decimal.
        y = np.where(pos, np.round(x * p) / p, np.round(x / p) * p)
    y = np.where(np.isfinite(y), y, x)
    return y


def _json_values(array: np.ndarray, as_bytes: bool):
    """Nested Python lists (or a scalar) for json.dumps, TF-formatted."""
    if array.dtype.kind == "f":
        return tf_floats(array).tolist()
    if array.dtype == object or array.dtype.kind in "SU":
        conv = (lambda b: {"b64": base64.b64encode(b).decode()}) if as_bytes else \
            (lambda b: b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b))
        flat = [conv(v) for v in array.ravel()]
        return np.array(flat + [None], dtype=object)[:-1].reshape(array.shape).tolist() \
            if array.ndim else flat[0]
    return array.tolist()


def _is_bytes_output(name: str, array: np.ndarray) -> bool:
    return name.endswith("_bytes") and (array.dtype == object or array.dtype.kind == "S")


def _dumps(value) -> str:
    return json.dumps(value, allow_nan=True, ensure_ascii=False)


def predict_body(outputs: dict[str, np.ndarray], fmt: str) -> bytes:
    """``{"predictions": ...}`` (row) or ``{"outputs": ...}`` (columnar), in TF's layout."""
    if not outputs:
        raise invalid("Cannot convert empty tensor map to JSON")
    values = {k: _json_values(v, _is_bytes_output(k, v)) for k, v in outputs.items()}
    if fmt == "columnar":
        body = values if len(values) > 1 else next(iter(values.values()))
        return json.dumps({"outputs": body}, indent=4, allow_nan=True, ensure_ascii=False).encode()
    sizes = set()
    for name, array in outputs.items():
        if array.ndim == 0:
            raise invalid(f"Tensor name: {name} has no shape information ")
        sizes.add(array.shape[0])
    if len(sizes) > 1:
        raise invalid(f"Tensor name: {next(iter(outputs))} has inconsistent batch size: "
                      f"{sorted(sizes)[0]} expecting: {sorted(sizes)[-1]}")
    if len(values) == 1:
        return _single_line_list("predictions", next(iter(values.values())))
    return _object_rows("predictions", values, sizes.pop())


def _single_line_list(key: str, items: list) -> bytes:
    # rapidjson PrettyWriter with kFormatSingleLineArray set per item: the items share one line,
    # the closing bracket of the outer array goes on its own line.
    if not items:
        return f'{{\n    "{key}": []\n}}'.encode()
    inner = _dumps(items)
    return f'{{\n    "{key}": {inner[:-1]}\n    ]\n}}'.encode()


def _object_rows(key: str, values: dict[str, list], n: int) -> bytes:
    parts = []
    for i in range(n):
        members = ",\n".join(f'            {_dumps(name)}: {_dumps(v[i])}' for name, v in values.items())
        parts.append(f"        {{\n{members}\n        }}")
    return (f'{{\n    "{key}": [\n' + ",\n".join(parts) + "\n    ]\n}").encode()


def classify_body(response) -> bytes:
    """``{"results": [[[label, score], ...], ...]}`` from a ClassificationResponse."""
    result = response.result.classifications
    if not result:
        raise invalid("Cannot convert empty ClassificationResults to JSON")
    rows = [[[c.label, float(v)] for c, v in zip(
        row.classes, tf_floats(np.array([c.score for c in row.classes], np.float32)).tolist())]
        for row in result]
    return _single_line_list("results", rows)


def regress_body(response) -> bytes:
    values = [r.value for r in response.result.regressions]
    if not values:
        raise invalid("Cannot convert empty RegressionResults to JSON")
    return f'{{\n    "results": {_dumps(tf_floats(np.array(values, np.float32)).tolist())}\n}}'.encode()


def error_body(message: str) -> bytes:
    """TF Serving's error body (rapidjson PrettyWriter layout)."""
    return f'{{\n    "error": {_dumps(message)}\n}}'.encode()
