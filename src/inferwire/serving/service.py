"""The serving APIs behind both protocols: Predict, Classify, Regress, GetModelMetadata,
GetModelStatus, on request/response protos (gRPC) or numpy inputs (REST), with TF Serving's checks
and error messages.  No sockets here: the gRPC and REST shells call :class:`ServingCore`.

Every call returns a :class:`Timing`: ``model_ns`` is the time inside the TensorFlow session call
(for a batched request: its batch's call), ``queue_ns`` the time waiting for a batch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import signatures as S
from .batching import Batcher, BatchingOptions
from .protos import (classification_pb2, example_pb2, get_model_metadata_pb2,
                     get_model_status_pb2, predict_pb2, regression_pb2, types_pb2)
from .servables import InputPlan, ModelRegistry, Servable, SignaturePlan
from .status import FAILED_PRECONDITION, INVALID_ARGUMENT, NOT_FOUND, ApiError, invalid
from .tensors import DTYPES, dtype_name, from_ndarray, to_ndarray

_ALLOWED_METHODS = (S.PREDICT_METHOD, S.CLASSIFY_METHOD, S.REGRESS_METHOD)


@dataclass
class Timing:
    """Where a request's server time went, in nanoseconds; ``rows`` = instances in the request,
    ``batch_rows`` = rows in the TF call it ran in (more when batched with others)."""
    model_ns: int = 0
    queue_ns: int = 0
    batch_rows: int = 0
    rows: int = 0


@dataclass
class Prediction:
    """Outputs of one Predict call, before encoding for the wire."""
    servable: Servable
    signature_name: str
    outputs: dict[str, np.ndarray]   # alias -> array, in signature order
    timing: Timing


class ServingCore:
    """The APIs over a :class:`ModelRegistry`, with optional server-side batching."""

    def __init__(self, registry: ModelRegistry, batching: BatchingOptions | None = None):
        self.registry = registry
        self.batcher = Batcher(batching) if batching else None

    def close(self) -> None:
        if self.batcher:
            self.batcher.stop()
        self.registry.close()

    # --- Predict ---------------------------------------------------------------------------------

    def _resolve(self, request) -> Servable:
        if not request.HasField("model_spec"):
            raise invalid("Missing ModelSpec")
        return self.registry.resolve(request.model_spec)

    def signature(self, servable: Servable, name: str) -> tuple[str, SignaturePlan]:
        """(name, plan of the signature); FAILED_PRECONDITION if the model has no such signature."""
        name = name or S.SERVING_DEFAULT
        plan = servable.plans.get(name)
        if plan is None:
            raise ApiError(FAILED_PRECONDITION, f'Serving signature key "{name}" not found.')
        if plan.method and plan.method not in _ALLOWED_METHODS:
            raise ApiError("INTERNAL", "Expected prediction signature method_name to be one of "
                           f"{{{', '.join(_ALLOWED_METHODS)}}}. Was: {plan.method}")
        return name, plan

    def predict(self, request: predict_pb2.PredictRequest) -> tuple[predict_pb2.PredictResponse, Timing]:
        """gRPC Predict: the response carries outputs as typed value fields, as TF Serving's does."""
        servable = self._resolve(request)
        sig_name, plan = self.signature(servable, request.model_spec.signature_name)
        inputs = request.inputs
        _check_input_names(plan, inputs.keys())
        arrays = {alias: to_ndarray(inputs[alias], alias) for alias in plan.inputs}
        pred = self._predict_plan(servable, plan, arrays, request.output_filter)
        response = predict_pb2.PredictResponse()
        _fill_spec(response.model_spec, servable, sig_name)
        for alias, array in pred.outputs.items():
            from_ndarray(array, response.outputs[alias], content=False)
        return response, pred.timing

    def predict_arrays(self, servable: Servable, sig_name: str, inputs: dict[str, np.ndarray],
                       output_filter: list[str] | None = None) -> Prediction:
        """Run a signature on numpy inputs (already named by alias)."""
        _, plan = self.signature(servable, sig_name)
        _check_input_names(plan, inputs.keys())
        return self._predict_plan(servable, plan, inputs, output_filter)

    def _predict_plan(self, servable: Servable, plan: SignaturePlan, inputs, output_filter) -> Prediction:
        feeds = [(spec.tensor, _conform(spec, inputs[alias])) for alias, spec in plan.inputs.items()]
        out_aliases = _output_aliases(plan, output_filter)
        fetches = [plan.outputs[a] for a in out_aliases]
        outputs, timing = self._run(servable, plan.name, feeds, fetches)
        return Prediction(servable, plan.name, dict(zip(out_aliases, outputs)), timing)

    def _run(self, servable: Servable, sig_name: str, feeds, fetches) -> tuple[list, Timing]:
        rows = _batch_rows(feeds)
        if self.batcher is None or rows is None:
            outputs, model_ns = servable.run(feeds, fetches)
            return outputs, Timing(model_ns, 0, rows or 0, rows or 0)
        names = [name for name, _ in feeds]
        key = (servable.name, servable.version, sig_name, tuple(names), tuple(fetches))
        runner = lambda arrays: servable.run(list(zip(names, arrays)), fetches)  # noqa: E731
        task = self.batcher.run(key, runner, [value for _, value in feeds], rows)
        if task.error is not None:
            raise task.error
        return task.outputs, Timing(task.model_ns, task.queue_ns, task.batch_rows, rows)

    # --- Classify / Regress ----------------------------------------------------------------------

    def classify(self, request) -> tuple[classification_pb2.ClassificationResponse, Timing]:
        servable = self._resolve(request)
        sig_name, sig = self._method_signature(servable, request.model_spec.signature_name,
                                               S.CLASSIFY_METHOD, "classification")
        outputs, timing = self._run_examples(servable, sig_name, sig, request.input)
        classes, scores = outputs.get(S.CLASSIFY_CLASSES), outputs.get(S.SCORES)
        n = len(classes if classes is not None else scores)
        response = classification_pb2.ClassificationResponse()
        _fill_spec(response.model_spec, servable, sig_name)
        for i in range(n):
            row = response.result.classifications.add()
            width = (classes if classes is not None else scores).reshape(n, -1).shape[1]
            for j in range(width):
                cls = row.classes.add()
                if classes is not None:
                    cls.label = _text(classes.reshape(n, -1)[i, j])
                if scores is not None:
                    cls.score = float(scores.reshape(n, -1)[i, j])
        return response, timing

    def regress(self, request) -> tuple[regression_pb2.RegressionResponse, Timing]:
        servable = self._resolve(request)
        sig_name, sig = self._method_signature(servable, request.model_spec.signature_name,
                                               S.REGRESS_METHOD, "regression")
        outputs, timing = self._run_examples(servable, sig_name, sig, request.input)
        values = outputs["outputs"].reshape(-1)
        response = regression_pb2.RegressionResponse()
        _fill_spec(response.model_spec, servable, sig_name)
        for v in values:
            response.result.regressions.add(value=float(v))
        return response, timing

    def _method_signature(self, servable, name, method, kind):
        sig_name, plan = self.signature(servable, name)
        if plan.method != method:
            raise invalid(f"Expected {kind} signature method_name to be {method}. "
                          f"Was: {plan.method}")
        if len(plan.inputs) != 1 or next(iter(plan.inputs.values())).dtype != types_pb2.DT_STRING:
            raise invalid(f"Expected one input Tensor of type string in the {kind} signature")
        return sig_name, plan

    def _run_examples(self, servable, sig_name, plan, model_input) -> tuple[dict, Timing]:
        examples = serialized_examples(model_input)
        alias = next(iter(plan.inputs))
        wanted = [a for a in plan.outputs if a in (S.CLASSIFY_CLASSES, S.SCORES, "outputs")]
        pred = self._predict_plan(servable, plan, {alias: examples}, wanted)
        return pred.outputs, pred.timing

    # --- metadata and status ---------------------------------------------------------------------

    def get_model_metadata(self, request) -> get_model_metadata_pb2.GetModelMetadataResponse:
        if not request.HasField("model_spec"):
            raise invalid("Missing ModelSpec")
        if not request.metadata_field:
            raise invalid("GetModelMetadataRequest must specify at least one metadata_field")
        for field in request.metadata_field:
            if field != "signature_def":
                raise invalid(f"Metadata field {field} is not supported")
        servable = self.registry.resolve(request.model_spec)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        sigs = get_model_metadata_pb2.SignatureDefMap()
        for name, sig in servable.signature_defs.items():
            sigs.signature_def[name].CopyFrom(sig)
        response.metadata["signature_def"].Pack(sigs)
        return response

    def get_model_status(self, request) -> get_model_status_pb2.GetModelStatusResponse:
        if not request.HasField("model_spec"):
            raise invalid("Missing ModelSpec")
        spec = request.model_spec
        versions = self.registry.models.get(spec.name, {})
        if spec.HasField("version"):
            if spec.version.value not in versions:
                raise ApiError(NOT_FOUND, f"Could not find version {spec.version.value} of model {spec.name}")
            wanted = [spec.version.value]
        else:
            if not versions:
                raise ApiError(NOT_FOUND, f"Could not find any versions of model {spec.name}")
            wanted = sorted(versions)
        response = get_model_status_pb2.GetModelStatusResponse()
        for v in wanted:
            status = response.model_version_status.add(
                version=v, state=get_model_status_pb2.ModelVersionStatus.AVAILABLE)
            status.status.error_code = 0
        return response


# --- helpers ---------------------------------------------------------------------------------------

def _fill_spec(spec, servable: Servable, sig_name: str) -> None:
    spec.name = servable.name
    spec.version.value = servable.version
    spec.signature_name = sig_name


def _check_input_names(plan: SignaturePlan, names) -> None:
    names = set(names)
    expected = plan.input_names
    if names != expected:
        raise invalid(
            f"input size does not match signature: {len(names)}!={len(expected)} "
            f"len({{{','.join(sorted(names))}}}) != len({{{','.join(sorted(expected))}}}). "
            f"Sent extra: {{{','.join(sorted(names - expected))}}}. "
            f"Missing but required: {{{','.join(sorted(expected - names))}}}.")


def _conform(spec: InputPlan, value: np.ndarray) -> np.ndarray:
    """Check an input's dtype and shape against the signature's TensorInfo."""
    want_dtype = DTYPES.get(spec.dtype, (None,))[0]
    got = value.dtype
    if want_dtype is None or (got != want_dtype and not (got.kind in "OSU" and want_dtype == object)):
        raise invalid(f"Expects arg[{spec.index}] to be {dtype_name(spec.dtype)} but "
                      f"{_numpy_tf_name(got)} is provided")
    want = spec.shape
    if want is not None and (len(want) != value.ndim or
                             any(w >= 0 and w != g for w, g in zip(want, value.shape))):
        raise invalid(f"input {spec.alias!r}: shape {list(value.shape)} is not compatible with the "
                      f"signature's shape {list(want)}")
    return value


def _numpy_tf_name(dtype: np.dtype) -> str:
    if dtype.kind in "OSU":
        return "string"
    return {"float32": "float", "float64": "double", "float16": "half", "bool": "bool"}.get(
        dtype.name, dtype.name)


def _output_aliases(plan: SignaturePlan, output_filter) -> list[str]:
    if not output_filter:
        return list(plan.outputs)
    seen = set()
    for alias in output_filter:
        if alias not in plan.outputs:
            raise invalid(f"output tensor alias not found in signature: {alias} Outputs expected "
                          f"to be in the set {{{','.join(sorted(plan.outputs))}}}.")
        if alias in seen:
            raise invalid(f"duplicate output tensor alias: {alias}")
        seen.add(alias)
    return list(output_filter)


def _batch_rows(feeds) -> int | None:
    """The shared 0-th dimension of all inputs, or None when they do not share one."""
    sizes = {value.shape[0] if value.ndim else None for _, value in feeds}
    return sizes.pop() if len(sizes) == 1 and None not in sizes else None


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def serialized_examples(model_input) -> np.ndarray:
    """tensorflow_serving.Input -> object array of serialized tf.Examples (context merged in)."""
    kind = model_input.WhichOneof("kind")
    if kind == "example_list":
        examples = list(model_input.example_list.examples)
        context = None
    elif kind == "example_list_with_context":
        examples = list(model_input.example_list_with_context.examples)
        context = model_input.example_list_with_context.context
    else:
        raise invalid("Input is empty")
    if not examples:
        raise invalid("Input is empty")
    out = np.empty(len(examples), dtype=object)
    for i, ex in enumerate(examples):
        if context is not None:
            merged = example_pb2.Example()
            merged.CopyFrom(context)
            merged.MergeFrom(ex)
            ex = merged
        out[i] = ex.SerializeToString()
    return out


__all__ = ["ServingCore", "Timing", "Prediction", "serialized_examples", "INVALID_ARGUMENT"]
