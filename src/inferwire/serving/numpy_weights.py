"""The MNIST SavedModels' weights as ``.npz`` files, for servers that run them without
TensorFlow (Triton's Python backend and KServe: :mod:`.mnist_numpy`)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import InferwireError
from . import signatures as S
from .model import cached_models


def export_weights(version_dir: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write the variables of the SavedModel at ``version_dir`` (``.../mnist/1``) to ``out``
    (a ``.npz``, written whole or not at all); returns ``out``."""
    import tensorflow as tf  # deferred: tensorflow is optional (serve)
    prefix = Path(version_dir) / "variables" / "variables"
    try:
        reader = tf.train.load_checkpoint(str(prefix))
    except (tf.errors.OpError, ValueError) as exc:
        raise InferwireError(f"{version_dir}: cannot read the SavedModel's variables: {exc}") \
            from None
    names = [n for n in reader.get_variable_to_shape_map() if "/" not in n]
    weights = {n: reader.get_tensor(n).astype(np.float32) for n in names}
    if not ({"w", "b"} <= weights.keys() or "conv1_w" in weights):
        raise InferwireError(f"{version_dir}: not an inferwire MNIST model (variables: "
                             f"{', '.join(sorted(weights)) or 'none'})")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **weights)
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise
    return out


def cached_weights(kind: str = "softmax") -> Path:
    """The ``.npz`` of the cached export of ``kind`` ("softmax"/"cnn"), made on first use."""
    base = cached_models() / S.MODEL_NAMES[kind]
    version = max(int(p.name) for p in base.iterdir() if p.name.isdigit())
    out = cached_models() / "numpy" / f"{S.MODEL_NAMES[kind]}-{version}.npz"
    if not out.exists():
        export_weights(base / str(version), out)
    return out
