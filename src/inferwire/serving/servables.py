"""Loaded SavedModels ("servables", in TF Serving's words) and the registry that finds them.

A :class:`Servable` is one version of one model, loaded into its own TensorFlow graph and
``tf.compat.v1.Session`` the way TF Serving runs SavedModels (a session run per request or batch,
fed and fetched by the signature's tensor names).  ``Session.run`` is thread-safe, so one servable
serves every request thread.  TensorFlow is imported when models are loaded, not before.
"""
from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ServerError
from .model import read_model_info
from .protos import model_pb2
from .status import CODE_NUMBERS, INVALID_ARGUMENT, NOT_FOUND, ApiError, invalid

_VERSION_DIR = re.compile(r"^\d+$")


@dataclass(frozen=True)
class ModelConfig:
    """One model to serve: ``base_path`` holds numeric version directories (TF Serving layout).

    ``versions``: "latest" (TF Serving's default: only the highest), "all", or a tuple of versions.
    """
    name: str
    base_path: str
    versions: str | tuple[int, ...] = "latest"


@dataclass(frozen=True)
class SessionOptions:
    """TensorFlow thread pools (0 = TensorFlow's default), like TF Serving's
    ``--tensorflow_intra_op_parallelism`` / ``--tensorflow_inter_op_parallelism``."""
    intra_op_threads: int = 0
    inter_op_threads: int = 0


@dataclass(frozen=True)
class InputPlan:
    """One signature input, read out of its TensorInfo once (protobuf access is slow per call)."""
    alias: str
    index: int                      # position in the sorted input names (TF's arg[i])
    tensor: str                     # graph tensor name, e.g. "x:0"
    dtype: int                      # DataType enum
    shape: tuple[int, ...] | None   # -1 for unknown dimensions; None for unknown rank


@dataclass(frozen=True)
class SignaturePlan:
    """A SignatureDef as plain Python: inputs by alias, outputs alias -> tensor name (in order)."""
    name: str
    method: str
    inputs: dict[str, InputPlan]
    input_names: frozenset
    outputs: dict[str, str]


def _plan(name: str, sig) -> SignaturePlan:
    inputs = {}
    for i, alias in enumerate(sorted(sig.inputs)):
        info = sig.inputs[alias]
        shape = None
        if info.HasField("tensor_shape") and not info.tensor_shape.unknown_rank:
            shape = tuple(d.size for d in info.tensor_shape.dim)
        inputs[alias] = InputPlan(alias, i, info.name, info.dtype, shape)
    return SignaturePlan(name, sig.method_name, inputs, frozenset(inputs),
                         {alias: sig.outputs[alias].name for alias in sig.outputs})


class Servable:
    """One loaded model version.  ``signature_defs`` maps names to SignatureDef protos."""

    def __init__(self, name: str, version: int, path: str, session, signature_defs: dict,
                 info: dict | None):
        self.name, self.version, self.path = name, version, path
        self.session = session
        self.signature_defs = signature_defs
        self.info = info
        self._callables: dict[tuple, object] = {}
        self._lock = threading.Lock()
        self.plans = {name: _plan(name, sig) for name, sig in signature_defs.items()}

    def run(self, feeds: list[tuple[str, np.ndarray]], fetches: list[str]) -> tuple[list, int]:
        """Run the session on tensor names; returns (output arrays, ns spent in the TF call)."""
        import tensorflow as tf  # deferred: tensorflow is optional (serve)
        key = (tuple(name for name, _ in feeds), tuple(fetches))
        fn = self._callables.get(key)
        if fn is None:
            with self._lock:  # make_callable prunes the graph once per feed/fetch combination
                fn = self._callables.get(key) or self.session.make_callable(list(fetches), list(key[0]))
                self._callables[key] = fn
        t0 = time.perf_counter_ns()
        try:
            out = fn(*(value for _, value in feeds))
        except tf.errors.OpError as exc:
            raise ApiError(_tf_code_name(exc.error_code), _first_line(exc.message)) from None
        except (ValueError, TypeError) as exc:  # client-side feed checks in the TF Python layer
            raise invalid(str(exc)) from None
        return list(out), time.perf_counter_ns() - t0

    def close(self) -> None:
        self.session.close()


def _tf_code_name(code: int) -> str:
    return next((name for name, num in CODE_NUMBERS.items() if num == code), "UNKNOWN")


def _first_line(message: str) -> str:
    # TF appends graph-construction tracebacks; the first line carries the reason.
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(("[[", "Detected at node", "Node:",
                                                       "Graph execution error"))]
    return (useful or lines or [message])[0]


def discover_versions(base_path: str, policy: str | tuple[int, ...] = "latest") -> list[int]:
    """Version numbers to load from ``base_path`` under a version policy (ascending)."""
    base = Path(base_path)
    if not base.is_dir():
        raise ServerError(f"model base path {base_path} is not a directory")
    found = sorted(int(p.name) for p in base.iterdir()
                   if _VERSION_DIR.match(p.name) and (p / "saved_model.pb").exists())
    if not found:
        raise ServerError(f"no versions of the model found under base path {base_path} "
                          f"(expected {base_path}/<version>/saved_model.pb; "
                          f"create one with: inferwire model export DIR)")
    if policy == "latest":
        return found[-1:]
    if policy == "all":
        return found
    missing = sorted(set(policy) - set(found))
    if missing:
        raise ServerError(f"versions {missing} not found under {base_path} (found {found})")
    return sorted(set(policy))


def load_servable(name: str, version: int, path: str, opts: SessionOptions) -> Servable:
    """Load one SavedModel version (tag "serve") into a fresh graph and session."""
    import tensorflow as tf  # deferred: tensorflow is optional (serve)
    config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=opts.intra_op_threads,
                                      inter_op_parallelism_threads=opts.inter_op_threads)
    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph, config=config)
    logger, level = tf.get_logger(), tf.get_logger().level
    logger.setLevel("ERROR")  # the TF1 loader's deprecation notice is noise for a TF1-style server
    try:
        with graph.as_default():
            meta = tf.compat.v1.saved_model.load(session, ["serve"], path)
    except Exception as exc:  # TF raises many types for unreadable SavedModels
        session.close()
        raise ServerError(f"cannot load SavedModel {path}: {exc}") from exc
    finally:
        logger.setLevel(level)
    return Servable(name, version, path, session, dict(meta.signature_def), read_model_info(path))


class ModelRegistry:
    """The served models: name -> version -> :class:`Servable`."""

    def __init__(self, models: dict[str, dict[int, Servable]]):
        self.models = models

    @classmethod
    def load(cls, configs, opts: SessionOptions | None = None) -> "ModelRegistry":
        opts = opts or SessionOptions()
        names = [c.name for c in configs]
        if len(set(names)) != len(names):
            raise ServerError(f"model names must be unique, got {names}")
        models: dict[str, dict[int, Servable]] = {}
        try:
            for cfg in configs:
                models[cfg.name] = {}
                for v in discover_versions(cfg.base_path, cfg.versions):
                    path = os.path.join(cfg.base_path, str(v))
                    models[cfg.name][v] = load_servable(cfg.name, v, path, opts)
        except BaseException:
            cls(models).close()
            raise
        return cls(models)

    def resolve(self, spec: model_pb2.ModelSpec) -> Servable:
        """The servable a ModelSpec names (latest version if none given); NOT_FOUND otherwise."""
        versions = self.models.get(spec.name)
        if spec.HasField("version"):
            v = spec.version.value
            if versions is None or v not in versions:
                raise ApiError(NOT_FOUND, f"Servable not found for request: Specific({spec.name}, {v})")
            return versions[v]
        if spec.version_label:
            raise ApiError(INVALID_ARGUMENT, f"Unrecognized servable version label: {spec.version_label}")
        if not versions:
            raise ApiError(NOT_FOUND, f"Servable not found for request: Latest({spec.name})")
        return versions[max(versions)]

    def describe(self) -> str:
        """``name@v1,name@v2,...`` for log lines."""
        return ",".join(f"{n}@{v}" for n, vs in self.models.items() for v in sorted(vs))

    def close(self) -> None:
        for versions in self.models.values():
            for servable in versions.values():
                servable.close()
