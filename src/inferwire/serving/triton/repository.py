"""A Triton model repository for inferwire's MNIST models: ``<root>/<name>/config.pbtxt`` and
``<root>/<name>/1/{model.py, mnist_numpy.py, weights.npz}`` (Python backend, numpy on CPU).

:func:`config_pbtxt` is pure (options in, text out); :func:`write_repository` writes the files;
:func:`export_weights` reads a SavedModel's variables (TensorFlow, in inferwire's own venv) into
the .npz the backend loads, so Triton serves the very weights ``inferwire model export`` made.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ...errors import InferwireError

HERE = Path(__file__).resolve().parent
WEIGHTS_FILE = "triton_weights.npz"


@dataclass(frozen=True)
class TritonModelOptions:
    """One served model.  ``kind`` softmax | cnn; ``max_batch_size``: most images in one
    execution (a request's batch must fit); ``instances``: model instances (CPU), each a Python
    stub process; ``dynamic_batching`` with ``max_queue_delay_us`` microseconds of waiting for
    more requests; ``response_cache``: Triton's response cache for this model (needs the server's
    ``--cache-config``)."""

    name: str = "mnist"
    kind: str = "softmax"
    max_batch_size: int = 256
    instances: int = 1
    dynamic_batching: bool = False
    max_queue_delay_us: int = 0
    response_cache: bool = False

    def __post_init__(self):
        if self.kind not in ("softmax", "cnn"):
            raise InferwireError(f"model kind must be softmax or cnn, got {self.kind!r}")
        if self.instances < 1 or self.max_batch_size < 1 or self.max_queue_delay_us < 0:
            raise InferwireError(f"Triton model options out of range: {self}")

    def to_dict(self) -> dict:
        return asdict(self)


def config_pbtxt(opts: TritonModelOptions, weights: str = "weights.npz") -> str:
    """The model's config.pbtxt (protobuf text format)."""
    lines = [f'name: "{opts.name}"', 'backend: "python"', f"max_batch_size: {opts.max_batch_size}",
             'input [ { name: "images" data_type: TYPE_FP32 dims: [ 784 ] } ]',
             'output [ { name: "scores" data_type: TYPE_FP32 dims: [ 10 ] } ]',
             f"instance_group [ {{ count: {opts.instances} kind: KIND_CPU }} ]",
             f'parameters: {{ key: "kind" value: {{ string_value: "{opts.kind}" }} }}',
             f'parameters: {{ key: "weights" value: {{ string_value: "{weights}" }} }}']
    if opts.dynamic_batching:
        lines.append(f"dynamic_batching {{ max_queue_delay_microseconds: "
                     f"{opts.max_queue_delay_us} }}")
    if opts.response_cache:
        lines.append("response_cache { enable: true }")
    return "\n".join(lines) + "\n"


def write_repository(root: Path, opts: TritonModelOptions, weights: Path) -> Path:
    """Write the repository for ``opts`` under ``root`` (created); returns the model's folder."""
    model_dir = Path(root) / opts.name
    version = model_dir / "1"
    version.mkdir(parents=True, exist_ok=True)
    (model_dir / "config.pbtxt").write_text(config_pbtxt(opts))
    shutil.copyfile(HERE / "backend_model.py", version / "model.py")
    shutil.copyfile(HERE / "mnist_numpy.py", version / "mnist_numpy.py")
    shutil.copyfile(weights, version / "weights.npz")
    return model_dir


def export_weights(version_dir: Path) -> Path:
    """The SavedModel's variables as ``<version_dir>/assets.extra/triton_weights.npz`` (made
    once; TF Serving ignores assets.extra).  Needs TensorFlow."""
    target = Path(version_dir) / "assets.extra" / WEIGHTS_FILE
    if target.is_file():
        return target
    import tensorflow as tf  # deferred: tensorflow is optional (serve)
    prefix = Path(version_dir) / "variables" / "variables"
    try:
        reader = tf.train.load_checkpoint(str(prefix))
    except (ValueError, tf.errors.OpError) as exc:
        raise InferwireError(f"{prefix}: cannot read the SavedModel's variables: {exc}") from exc
    arrays = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    target.parent.mkdir(exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".npz", dir=target.parent)
    with os.fdopen(fd, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, target)
    return target
