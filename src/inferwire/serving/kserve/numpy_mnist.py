"""The MNIST networks of :mod:`inferwire.serving.model` as a numpy forward pass.

Standalone (numpy only, no inferwire import): the KServe venv loads this file by path.  Same
graph as ``model._logits`` + softmax: softmax regression, or two 5x5 SAME convolutions (ReLU,
2x2 max-pool) and two dense layers; the weights come from the SavedModel (``weights.py``) in a
``.npz`` with the variables' names (``w``, ``b`` / ``conv1_w`` ...).
"""
from __future__ import annotations

import numpy as np

PIXELS = 784
CLASSES = 10


def load(path: str) -> dict[str, np.ndarray]:
    """The weights of a ``.npz`` written by ``weights.export_weights`` (float32)."""
    with np.load(path) as npz:
        return {k: npz[k].astype(np.float32) for k in npz.files}


def kind_of(weights: dict) -> str:
    return "softmax" if "w" in weights else "cnn"


def scores(weights: dict, images: np.ndarray) -> np.ndarray:
    """Softmax scores float32 [n, 10] of images float32 [n, 784] in [0, 1]."""
    x = np.asarray(images, dtype=np.float32).reshape(-1, PIXELS)
    return _softmax(_logits(weights, x))


def _logits(w: dict, x: np.ndarray) -> np.ndarray:
    if "w" in w:
        return x @ w["w"] + w["b"]
    h = x.reshape(-1, 28, 28, 1)
    for layer in ("conv1", "conv2"):
        h = _max_pool2(np.maximum(_conv_same(h, w[f"{layer}_w"]) + w[f"{layer}_b"], 0))
    h = np.maximum(h.reshape(len(h), -1) @ w["fc1_w"] + w["fc1_b"], 0)
    return h @ w["fc2_w"] + w["fc2_b"]


def _conv_same(h: np.ndarray, k: np.ndarray) -> np.ndarray:
    """2-D convolution, stride 1, SAME padding; h [n, H, W, cin], k [kh, kw, cin, cout]."""
    kh, kw, cin, cout = k.shape
    padded = np.pad(h, ((0, 0), ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(1, 2))
    n, height, width = windows.shape[:3]          # windows: [n, H, W, cin, kh, kw]
    cols = windows.transpose(0, 1, 2, 4, 5, 3).reshape(n * height * width, kh * kw * cin)
    return (cols @ k.reshape(kh * kw * cin, cout)).reshape(n, height, width, cout)


def _max_pool2(h: np.ndarray) -> np.ndarray:
    """2x2 max-pool, stride 2 (the sizes here, 28 and 14, are even: SAME = VALID)."""
    n, height, width, c = h.shape
    return h.reshape(n, height // 2, 2, width // 2, 2, c).max(axis=(2, 4))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
