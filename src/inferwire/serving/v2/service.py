"""The Open Inference Protocol (KServe V2) over the embedded server's :class:`ServingCore`: model
readiness, metadata and infer on numpy arrays.  No sockets: :mod:`.rest` and :mod:`.grpc` call it.

A V2 model is a served model (name, version); its V2 inputs are the inputs of one of its predict
signatures, chosen by the input names a request sends (for MNIST: ``images`` FP32 [-1, 784] runs
``predict_images`` and answers ``scores`` FP32 [-1, 10]).  Metadata describes the first predict
signature (``serving_default`` if it is one, else the first by name).  Errors are
:class:`~inferwire.serving.status.ApiError` (INVALID_ARGUMENT, NOT_FOUND), which the shells turn
into ``{"error": ...}`` with HTTP 400/404 and gRPC status codes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import __version__
from .. import signatures as S
from ..protos import model_pb2
from ..servables import Servable, SignaturePlan
from ..service import ServingCore, Timing
from ..status import NOT_FOUND, ApiError, invalid

#: TensorFlow DataType enum -> V2 datatype
V2_DATATYPES = {1: "FP32", 2: "FP64", 3: "INT32", 4: "UINT8", 5: "INT16", 6: "INT8", 7: "BYTES",
                9: "INT64", 10: "BOOL", 17: "UINT16", 19: "FP16", 22: "UINT32", 23: "UINT64"}
PLATFORM = "tensorflow_savedmodel"
SERVER_NAME = "inferwire"


@dataclass
class InferResult:
    """Outputs of one V2 infer call by name (in the signature's order), and where the time went."""
    model_name: str
    model_version: str
    outputs: dict[str, np.ndarray]
    timing: Timing


class V2Service:
    """V2 calls answered from a :class:`ServingCore`."""

    def __init__(self, core: ServingCore):
        self.core = core

    def servable(self, name: str, version: str | None = None) -> Servable:
        """The servable (latest version unless ``version`` is given); NOT_FOUND naming it."""
        spec = model_pb2.ModelSpec(name=name)
        if version:
            if not version.isdigit():
                raise invalid(f"model version {version!r} of model {name!r} is not a number")
            spec.version.value = int(version)
        try:
            return self.core.registry.resolve(spec)
        except ApiError as exc:
            if exc.code == NOT_FOUND:
                which = f"version {version} of model" if version else "model"
                raise ApiError(NOT_FOUND, f"{which} '{name}' is not found") from None
            raise

    def model_ready(self, name: str, version: str | None = None) -> bool:
        try:
            self.servable(name, version)
        except ApiError:
            return False
        return True

    def server_metadata(self) -> dict:
        return {"name": SERVER_NAME, "version": __version__, "extensions": ["binary_tensor_data"]}

    def model_metadata(self, name: str, version: str | None = None) -> dict:
        """``{name, versions, platform, inputs, outputs}`` as the V2 metadata response has it."""
        servable = self.servable(name, version)
        plan = _described(servable)
        info = servable.signature_defs[plan.name]
        return {"name": servable.name,
                "versions": [str(v) for v in sorted(self.core.registry.models[servable.name])],
                "platform": PLATFORM,
                "inputs": [_tensor_meta(alias, info.inputs[alias]) for alias in plan.inputs],
                "outputs": [_tensor_meta(alias, info.outputs[alias]) for alias in plan.outputs]}

    def infer(self, name: str, version: str | None, inputs: dict[str, np.ndarray],
              outputs: list[str] | None = None) -> InferResult:
        """Run the predict signature that takes exactly ``inputs`` (by name)."""
        servable = self.servable(name, version)
        plan = _signature_for(servable, inputs)
        for alias, array in inputs.items():
            expected = V2_DATATYPES.get(plan.inputs[alias].dtype)
            got = _v2_name(array.dtype)
            if got != expected:
                raise invalid(f"input '{alias}': datatype {got} where model '{name}' expects "
                              f"{expected}")
        pred = self.core.predict_arrays(servable, plan.name, inputs, outputs or None)
        return InferResult(servable.name, str(servable.version), pred.outputs, pred.timing)


def _predict_plans(servable: Servable) -> list[SignaturePlan]:
    plans = [p for p in servable.plans.values() if p.method in ("", S.PREDICT_METHOD)]
    return sorted(plans, key=lambda p: (p.name != S.SERVING_DEFAULT, p.name))


def _described(servable: Servable) -> SignaturePlan:
    plans = _predict_plans(servable)
    if not plans:
        raise ApiError("FAILED_PRECONDITION", f"model '{servable.name}' has no predict signature")
    return plans[0]


def _signature_for(servable: Servable, inputs: dict) -> SignaturePlan:
    names = frozenset(inputs)
    for plan in _predict_plans(servable):
        if plan.input_names == names:
            return plan
    takes = " or ".join("{" + ", ".join(sorted(p.input_names)) + "}"
                        for p in _predict_plans(servable))
    raise invalid(f"model '{servable.name}' has no signature taking inputs "
                  f"{{{', '.join(sorted(names))}}}; it takes {takes or 'no inputs'}")


def _tensor_meta(alias: str, info) -> dict:
    shape = ([d.size for d in info.tensor_shape.dim]
             if info.HasField("tensor_shape") and not info.tensor_shape.unknown_rank else [-1])
    return {"name": alias, "datatype": V2_DATATYPES.get(info.dtype, "BYTES"), "shape": shape}


def _v2_name(dtype: np.dtype) -> str:
    if dtype.kind in "OSU":
        return "BYTES"
    from .codec import DTYPES  # deferred: serving.v2.codec imports google (optional)
    return next((name for name, d in DTYPES.items() if d == dtype), str(dtype))
