"""KServe's model server (PyPI ``kserve``) serving an inferwire MNIST model: runs in the KServe
venv (``.venv-kserve/bin/python main.py --weights W.npz --model_name mnist --http_port P
--grpc_port Q --request_log LOG``), started by :mod:`.launch`.

KServe answers TF Serving's REST predict API (its "V1": ``POST /v1/models/{m}:predict``) and the
Open Inference Protocol (V2) over REST and gRPC; this file only adds the model:

* V1: ``{"instances": [[784 floats], ...]}`` (row) or ``{"instances": [{"b64": ...}]}`` (784
  raw bytes per image) -> ``{"predictions": [[10 scores], ...]}``; ``{"inputs": {"images":
  [...]}}`` / ``{"inputs": [...]}`` (columnar) -> ``{"outputs": [...]}``;
* V2: input ``images`` FP32 [n, 784] -> output ``scores`` FP32 [n, 10].

Each request is logged as a JSON line as the embedded server logs it (``request_id`` from
``x-request-id``, ``v2_id``, ``model_time_ns`` = the numpy forward pass, ``rows``).  KServe binds
all interfaces; here its REST and gRPC listeners are bound to ``--host`` (127.0.0.1) instead.
The process exits when its parent does (``--parent_pid``), so it never outlives a killed run.
"""
from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import os
import signal
import sys
import threading
import time

import numpy as np


def _load_by_path(name: str, path: str):
    """Import the file at ``path`` as module ``name``: this venv has no inferwire package."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mnist_numpy = _load_by_path("mnist_numpy", os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "mnist_numpy.py"))

IMAGES, SCORES = "images", "scores"


def _bind_to(host: str) -> None:
    """Make KServe's uvicorn and grpc.aio listeners bind ``host`` (KServe hard-codes 0.0.0.0
    and [::])."""
    import grpc.aio  # deferred: grpc is optional (serve/load)
    import uvicorn  # deferred: uvicorn is optional (kserve venv)

    class Config(uvicorn.Config):
        def __init__(self, *args, **kwargs):
            kwargs["host"] = host
            super().__init__(*args, **kwargs)
    uvicorn.Config = Config
    server_cls = type(grpc.aio.server())
    add = server_cls.add_insecure_port
    server_cls.add_insecure_port = lambda self, address: add(
        self, f"{host}:{address.rsplit(':', 1)[1]}")


def _watch_parent(parent_pid: int) -> None:
    """Exit as soon as the parent is gone (a SIGKILLed run must not leave this server)."""
    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os.kill(os.getpid(), signal.SIGKILL)
    threading.Thread(target=watch, daemon=True).start()


def _v1_images(payload) -> np.ndarray:
    """float32 [n, 784] from a TF Serving-style (V1) predict body."""
    from kserve.errors import InvalidInput  # deferred: kserve is optional (kserve venv)
    if not isinstance(payload, dict):
        raise InvalidInput("expected a JSON object with 'instances' or 'inputs'")
    rows = payload.get("instances", payload.get("inputs"))
    if isinstance(rows, dict):
        rows = rows.get(IMAGES)
    if not isinstance(rows, list) or not rows:
        raise InvalidInput("expected 'instances' (or 'inputs') holding a list of images")
    if isinstance(rows[0], dict):
        try:
            raw = [base64.b64decode(r["b64"]) for r in rows]
            return np.frombuffer(b"".join(raw), dtype=np.uint8).reshape(
                len(rows), mnist_numpy.PIXELS).astype(np.float32) / 255.0
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"instances: expected {{\"b64\": <784 bytes>}} each: {exc}") \
                from None
    try:
        return np.asarray(rows, dtype=np.float32).reshape(-1, mnist_numpy.PIXELS)
    except ValueError as exc:
        raise InvalidInput(f"instances: expected images of {mnist_numpy.PIXELS} floats: {exc}") \
            from None


def _v2_images(request) -> np.ndarray:
    from kserve.errors import InvalidInput  # deferred: kserve is optional (kserve venv)
    names = [i.name for i in request.inputs]
    if names != [IMAGES]:
        raise InvalidInput(f"expected one input named '{IMAGES}', got {names}")
    tensor = request.inputs[0]
    if tensor.datatype != "FP32":
        raise InvalidInput(f"input '{IMAGES}': datatype {tensor.datatype}, expected FP32")
    array = tensor.as_numpy()
    if array.ndim != 2 or array.shape[1] != mnist_numpy.PIXELS:
        raise InvalidInput(f"input '{IMAGES}': shape {list(array.shape)}, expected "
                           f"[-1, {mnist_numpy.PIXELS}]")
    return array


def make_model(name: str, weights_path: str, log_path: str | None):
    from kserve import Model  # deferred: kserve is optional (kserve venv)
    from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse  # deferred: kserve is optional (kserve venv)

    class MnistModel(Model):
        def __init__(self):
            super().__init__(name)
            self.log = open(log_path, "a", buffering=1, encoding="utf-8") if log_path else None
            self.lock = threading.Lock()

        def load(self) -> bool:
            self.weights = mnist_numpy.load(weights_path)
            self.ready = True
            return True

        def predict(self, payload, headers=None):
            v2 = isinstance(payload, InferRequest)
            images = _v2_images(payload) if v2 else _v1_images(payload)
            t0 = time.perf_counter_ns()
            scores = mnist_numpy.scores(self.weights, images)
            model_ns = time.perf_counter_ns() - t0
            self._log(headers, payload.id if v2 else None, len(images), model_ns, v2)
            if not v2:   # as TF Serving answers: row format in, row out; columnar, columnar
                key = "predictions" if "instances" in payload else "outputs"
                return {key: scores.tolist()}
            out = InferOutput(name=SCORES, shape=list(scores.shape), datatype="FP32")
            out.set_data_from_numpy(scores, binary_data=False)
            return InferResponse(response_id=payload.id, model_name=name, infer_outputs=[out],
                                 use_binary_outputs=payload.use_binary_outputs,
                                 requested_outputs=payload.request_outputs,
                                 from_grpc=payload.from_grpc)

        def _log(self, headers, v2_id, rows, model_ns, v2) -> None:
            if self.log is None:
                return
            rid = (headers or {}).get("x-request-id")
            line = json.dumps({"ts_ns": time.time_ns(), "server": "kserve",
                               "api": "v2" if v2 else "v1", "request_id": rid, "v2_id": v2_id,
                               "model": name, "status": "OK", "rows": rows,
                               "model_time_ns": model_ns}, separators=(",", ":"))
            with self.lock:
                self.log.write(line + "\n")

    return MnistModel()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", required=True)
    p.add_argument("--model_name", default="mnist")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--http_port", type=int, required=True)
    p.add_argument("--grpc_port", type=int, required=True)
    p.add_argument("--request_log")
    p.add_argument("--parent_pid", type=int)
    args, _ = p.parse_known_args(argv)
    if args.parent_pid:
        _watch_parent(args.parent_pid)
    _bind_to(args.host)
    from kserve import ModelServer  # deferred: kserve is optional (kserve venv)
    model = make_model(args.model_name, args.weights, args.request_log)
    try:
        model.load()
    except (OSError, ValueError, KeyError) as exc:   # one line naming the cause, no traceback
        print(f"inferwire kserve: cannot load the model weights {args.weights}: {exc}",
              file=sys.stderr, flush=True)
        sys.exit(1)
    ModelServer(http_port=args.http_port, grpc_port=args.grpc_port, workers=1,
                enable_docs_url=False).start([model])


if __name__ == "__main__":
    main()
