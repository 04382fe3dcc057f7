"""The MNIST models' forward passes in numpy: what runs inside Triton's Python backend and
KServe's model server, which have no TensorFlow.

The same graphs as :func:`inferwire.serving.model._logits` (softmax regression; two 5x5 SAME
convolutions with ReLU and 2x2 max-pooling, then two dense layers), on the weights the SavedModel
holds (a ``.npz`` written by :func:`inferwire.serving.numpy_weights.export_weights`, with the
variables' names ``w``, ``b`` / ``conv1_w`` ...), so both servers answer with the embedded
server's scores.  Pure numpy and no inferwire imports: Triton's model repository gets a copy of
this file, imported there by ``model.py``; KServe's ``main.py`` loads it by path in its own venv.
"""
import numpy as np

PIXELS = 784
CLASSES = 10


def load(path):
    """The weights of a ``.npz`` written by ``numpy_weights.export_weights`` (float32)."""
    with np.load(path) as npz:
        return {k: npz[k].astype(np.float32) for k in npz.files}


def kind_of(weights):
    """"softmax" or "cnn", from the variables the weights hold."""
    return "softmax" if "w" in weights else "cnn"


def softmax(logits):
    """Row-wise softmax of float32 [n, k]."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def _conv_relu_pool(h, w, b):
    """5x5 SAME convolution (stride 1) + bias + ReLU, then 2x2 max-pool (stride 2) on NHWC."""
    n, height, width, _ = h.shape
    padded = np.pad(h, ((0, 0), (2, 2), (2, 2), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (5, 5), axis=(1, 2))
    # windows: [n, H, W, c_in, 5, 5]; weights: [5, 5, c_in, c_out]
    out = np.tensordot(windows, w, axes=([3, 4, 5], [2, 0, 1])) + b
    out = np.maximum(out, 0.0)
    return out.reshape(n, height // 2, 2, width // 2, 2, -1).max(axis=(2, 4))


def logits(weights, x):
    """Logits float32 [n, 10] from images ``x`` float32 [n, 784] in [0, 1]."""
    if kind_of(weights) == "softmax":
        return x @ weights["w"] + weights["b"]
    h = x.reshape(-1, 28, 28, 1)
    h = _conv_relu_pool(h, weights["conv1_w"], weights["conv1_b"])
    h = _conv_relu_pool(h, weights["conv2_w"], weights["conv2_b"])
    h = np.maximum(h.reshape(len(x), -1) @ weights["fc1_w"] + weights["fc1_b"], 0.0)
    return h @ weights["fc2_w"] + weights["fc2_b"]


def scores(weights, images):
    """Softmax scores float32 [n, 10] (the ``scores`` output of ``predict_images``) of images
    float32 [n, 784] in [0, 1]."""
    x = np.asarray(images, dtype=np.float32).reshape(-1, PIXELS)
    return softmax(logits(weights, x))
