"""Triton Python-backend model for inferwire's MNIST models (copied as ``model.py``).

Input ``images`` FP32 [batch, 784] (pixels / 255), output ``scores`` FP32 [batch, 10].  The
parameter ``weights`` (an .npz beside this file, whose variables say the model's kind) comes from
config.pbtxt.  With dynamic batching Triton hands several requests to one ``execute``: they are
run as one matrix and split again, as a batching server does.
"""
import json
import os
import sys

import numpy as np
import triton_python_backend_utils as pb_utils

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnist_numpy  # noqa: E402  (beside this file in the repository)


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        here = os.path.dirname(os.path.abspath(__file__))
        self.weights = mnist_numpy.load(os.path.join(here, params["weights"]))

    def execute(self, requests):
        inputs = [pb_utils.get_input_tensor_by_name(r, "images").as_numpy() for r in requests]
        good = [x.ndim == 2 and x.shape[1] == 784 for x in inputs]   # Triton checks it first
        batch = [x for x, ok in zip(inputs, good) if ok]
        out = mnist_numpy.scores(self.weights, np.concatenate(batch)) if batch else None
        responses, start = [], 0
        for x, ok in zip(inputs, good):
            if not ok:
                responses.append(self._error(x))
                continue
            tensor = pb_utils.Tensor("scores", out[start:start + len(x)])
            responses.append(pb_utils.InferenceResponse(output_tensors=[tensor]))
            start += len(x)
        return responses

    @staticmethod
    def _error(x):
        return pb_utils.InferenceResponse(error=pb_utils.TritonError(
            f"images must be [batch, 784], got {list(x.shape)}"))
