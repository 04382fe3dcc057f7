"""TensorFlow Serving's API protobuf modules, loaded without importing TensorFlow.

The official ``tensorflow_serving.apis`` stubs import ``tensorflow.core.framework.tensor_pb2`` and
friends; importing those normally runs ``tensorflow/__init__.py`` (several seconds, hundreds of MB),
which a load-generator worker or ``inferwire --help`` must not pay.  Only the generated ``*_pb2``
files are needed, so while loading them the ``tensorflow`` package (and its ``core`` sub-packages) are
stood in for by empty package modules with the real ``__path__``; afterwards the stand-ins are removed
and only the ``*_pb2`` modules stay in ``sys.modules``.  A later ``import tensorflow`` then runs the
real package and reuses these very modules (same classes, same descriptor pool).  If TensorFlow is
already imported, the stubs are imported the ordinary way.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
import types

_lock = threading.Lock()
_STUB_PACKAGES = ("tensorflow", "tensorflow.core", "tensorflow.core.framework",
                  "tensorflow.core.protobuf", "tensorflow.core.example")
_MODULES = ("tensorflow_serving.apis.predict_pb2", "tensorflow_serving.apis.classification_pb2",
            "tensorflow_serving.apis.regression_pb2", "tensorflow_serving.apis.inference_pb2",
            "tensorflow_serving.apis.input_pb2", "tensorflow_serving.apis.model_pb2",
            "tensorflow_serving.apis.get_model_metadata_pb2",
            "tensorflow_serving.apis.get_model_status_pb2",
            "tensorflow_serving.apis.prediction_service_pb2_grpc",
            "tensorflow_serving.apis.model_service_pb2_grpc",
            "tensorflow_serving.config.model_server_config_pb2",
            "tensorflow.core.framework.tensor_pb2", "tensorflow.core.framework.types_pb2",
            "tensorflow.core.framework.tensor_shape_pb2", "tensorflow.core.example.example_pb2",
            "tensorflow.core.example.feature_pb2", "tensorflow.core.protobuf.meta_graph_pb2",
            "tensorflow.core.protobuf.saved_model_pb2")


def _import_all() -> dict[str, types.ModuleType]:
    return {name: importlib.import_module(name) for name in _MODULES}


def _import_without_tensorflow() -> dict[str, types.ModuleType]:
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("tensorflow is not installed (tensorflow-serving-api needs its protos)")
    root = list(spec.submodule_search_locations)[0]
    before = set(sys.modules)
    for name in _STUB_PACKAGES:
        stub = types.ModuleType(name)
        stub.__path__ = [os.path.join(root, *name.split(".")[1:])]
        sys.modules[name] = stub
    try:
        return _import_all()
    finally:
        # Keep only generated *_pb2 modules; any package module created under a stand-in parent
        # (tensorflow.compiler..., the stand-ins themselves) goes, so the real ones load later.
        for name in set(sys.modules) - before:
            if name.startswith("tensorflow.") and not name.endswith(("_pb2", "_pb2_grpc")):
                del sys.modules[name]
        for name in _STUB_PACKAGES:
            sys.modules.pop(name, None)


def _load() -> dict[str, types.ModuleType]:
    with _lock:
        if "tensorflow" in sys.modules:
            return _import_all()
        return _import_without_tensorflow()


_mods = _load()
predict_pb2 = _mods["tensorflow_serving.apis.predict_pb2"]
classification_pb2 = _mods["tensorflow_serving.apis.classification_pb2"]
regression_pb2 = _mods["tensorflow_serving.apis.regression_pb2"]
inference_pb2 = _mods["tensorflow_serving.apis.inference_pb2"]
input_pb2 = _mods["tensorflow_serving.apis.input_pb2"]
model_pb2 = _mods["tensorflow_serving.apis.model_pb2"]
get_model_metadata_pb2 = _mods["tensorflow_serving.apis.get_model_metadata_pb2"]
get_model_status_pb2 = _mods["tensorflow_serving.apis.get_model_status_pb2"]
prediction_service_pb2_grpc = _mods["tensorflow_serving.apis.prediction_service_pb2_grpc"]
model_service_pb2_grpc = _mods["tensorflow_serving.apis.model_service_pb2_grpc"]
model_server_config_pb2 = _mods["tensorflow_serving.config.model_server_config_pb2"]
tensor_pb2 = _mods["tensorflow.core.framework.tensor_pb2"]
types_pb2 = _mods["tensorflow.core.framework.types_pb2"]
tensor_shape_pb2 = _mods["tensorflow.core.framework.tensor_shape_pb2"]
example_pb2 = _mods["tensorflow.core.example.example_pb2"]
feature_pb2 = _mods["tensorflow.core.example.feature_pb2"]
meta_graph_pb2 = _mods["tensorflow.core.protobuf.meta_graph_pb2"]
saved_model_pb2 = _mods["tensorflow.core.protobuf.saved_model_pb2"]
del _mods
