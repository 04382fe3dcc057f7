"""Serving: the MNIST models, an embedded TF Serving-compatible server, and predict clients.

Submodules load lazily (TensorFlow only where a model is trained or loaded):

* :mod:`.model` - ``export_models(DIR)`` -> ``DIR/mnist/1``, ``DIR/mnist_cnn/1``
* :mod:`.server` - ``ModelServer(ServerConfig(...))`` (in-process), :mod:`.launch` (subprocess)
* :mod:`.clients` - ``make_client("rest"|"grpc", ...)``, ``PredictResult``, ``sample_images``
* :mod:`.encodings` - the six request encodings
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "make_client": "clients", "PredictClient": "clients", "PredictResult": "clients",
    "new_request_id": "clients", "sample_images": "clients", "ENCODINGS": "encodings",
    "ModelServer": "server", "ServerConfig": "server", "ModelConfig": "servables",
    "BatchingOptions": "batching", "TLSConfig": "tls", "generate_self_signed": "tls",
    "ServerProcess": "launch", "wait_ready": "launch", "export_models": "model",
    "ExportOptions": "model", "cached_models": "model", "read_model_info": "model",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'inferwire.serving' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
