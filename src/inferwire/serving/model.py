"""Export the MNIST SavedModels (softmax and CNN) in TF Serving's layout: ``DIR/<name>/<version>/``.

Each model has the signatures of TF Serving's MNIST example (see :mod:`.signatures`) plus
``predict_images_bytes`` (raw uint8 pixels as DT_STRING).  Training is short (seconds): on real MNIST
when local IDX files are given, otherwise on digits generated now (:mod:`.digits`).  What the model
was trained on, and its accuracy on held-out images, is written to
``DIR/<name>/<version>/assets.extra/inferwire_model.json`` (TF Serving ignores ``assets.extra``
except for warm-up files) and returned by :func:`read_model_info`.

TensorFlow is imported inside the functions that need it, never at module import.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
import time

import numpy as np

from .. import __version__
from ..errors import InferwireError
from . import signatures as S
from .digits import DigitSet, generate_digits, load_mnist_idx

RECIPE_VERSION = 1  # bump when the graph or training changes, so cached exports are rebuilt
INFO_FILE = "inferwire_model.json"


@dataclass(frozen=True)
class ExportOptions:
    """What to export and how long to train (defaults take a few seconds per model on 2 cores)."""
    models: tuple[str, ...] = ("softmax", "cnn")
    mnist_dir: str | None = None     # directory with MNIST IDX files; None = generated digits
    train_examples: int = 6000       # at most this many training images are used
    test_examples: int = 1000
    batch_size: int = 64
    epochs: dict = field(default_factory=lambda: {"softmax": 3, "cnn": 1})
    seed: int = 0
    version: int = 1
    overwrite: bool = False


@dataclass(frozen=True)
class ExportedModel:
    """One exported model: ``path`` is the version directory; accuracy is on held-out images."""
    kind: str
    name: str
    version: int
    path: str
    training_data: str
    train_examples: int
    test_examples: int
    test_accuracy: float
    train_seconds: float


def _datasets(opts: ExportOptions) -> tuple[DigitSet, DigitSet]:
    if opts.mnist_dir:
        train, test = load_mnist_idx(opts.mnist_dir, "train"), load_mnist_idx(opts.mnist_dir, "test")
        cut = lambda d, n: DigitSet(d.images[:n], d.labels[:n], d.source)  # noqa: E731
        return cut(train, opts.train_examples), cut(test, opts.test_examples)
    both = generate_digits(opts.train_examples + opts.test_examples, seed=opts.seed)
    n = opts.train_examples
    return (DigitSet(both.images[:n], both.labels[:n], both.source),
            DigitSet(both.images[n:], both.labels[n:], both.source))


# --- graph ---------------------------------------------------------------------------------------

def _weight_shapes(kind: str) -> dict[str, tuple[int, ...]]:
    if kind == "softmax":
        return {"w": (S.PIXELS, S.CLASSES), "b": (S.CLASSES,)}
    if kind == "cnn":
        return {"conv1_w": (5, 5, 1, 16), "conv1_b": (16,), "conv2_w": (5, 5, 16, 32),
                "conv2_b": (32,), "fc1_w": (7 * 7 * 32, 128), "fc1_b": (128,),
                "fc2_w": (128, S.CLASSES), "fc2_b": (S.CLASSES,)}
    raise InferwireError(f"unknown model kind {kind!r}; use one of {sorted(S.MODEL_NAMES)}")


def _logits(tf, kind: str, w: dict, x):
    """Logits [n, 10] from images x float32 [n, 784] in [0, 1]."""
    if kind == "softmax":
        return tf.matmul(x, w["w"]) + w["b"]
    h = tf.reshape(x, [-1, 28, 28, 1])
    for layer in ("conv1", "conv2"):
        h = tf.nn.relu(tf.nn.conv2d(h, w[f"{layer}_w"], 1, "SAME") + w[f"{layer}_b"])
        h = tf.nn.max_pool2d(h, 2, 2, "SAME")
    h = tf.nn.relu(tf.matmul(tf.reshape(h, [-1, 7 * 7 * 32]), w["fc1_w"]) + w["fc1_b"])
    return tf.matmul(h, w["fc2_w"]) + w["fc2_b"]


def _init_weights(shapes: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    out = {}
    for name, shape in shapes.items():
        fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        out[name] = (rng.normal(0, np.sqrt(2.0 / fan_in), shape) if len(shape) > 1
                     else np.zeros(shape)).astype(np.float32)
    return out


def _train(kind: str, train: DigitSet, test: DigitSet, opts: ExportOptions) -> tuple[dict, float]:
    """Trained weights and held-out accuracy; plain TF1 graph + Adam, a few epochs."""
    import tensorflow as tf  # deferred: tensorflow is optional (serve)
    rng = np.random.default_rng(opts.seed)
    init = _init_weights(_weight_shapes(kind), rng)
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.set_random_seed(opts.seed)
        x = tf.compat.v1.placeholder(tf.float32, [None, S.PIXELS])
        y = tf.compat.v1.placeholder(tf.int64, [None])
        w = {k: tf.compat.v1.Variable(v, name=k) for k, v in init.items()}
        logits = _logits(tf, kind, w, x)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        step = tf.compat.v1.train.AdamOptimizer(3e-3 if kind == "softmax" else 1e-3).minimize(loss)
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, 1), y), tf.int32))
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            images = train.images.astype(np.float32) / 255.0
            for _ in range(opts.epochs.get(kind, 1)):
                order = rng.permutation(len(images))
                for i in range(0, len(order), opts.batch_size):
                    idx = order[i:i + opts.batch_size]
                    sess.run(step, {x: images[idx], y: train.labels[idx]})
            hits = sum(sess.run(correct, {x: test.images[i:i + 500].astype(np.float32) / 255.0,
                                          y: test.labels[i:i + 500]})
                       for i in range(0, len(test.images), 500))
            return sess.run(w), float(hits) / max(1, len(test.images))


def _serving_graph(tf, kind: str, weights: dict):
    """The serving graph: tensors for the three signatures, weights as variables (as TF Serving's
    example has), returned as (graph, {name: tensor})."""
    graph = tf.Graph()
    with graph.as_default():
        serialized = tf.compat.v1.placeholder(tf.string, [None], name="tf_example")
        parsed = tf.io.parse_example(serialized, {
            S.EXAMPLE_FEATURE: tf.io.FixedLenFeature([S.PIXELS], tf.float32)})
        # As in mnist_saved_model.py, "images" is the parsed tensor, fed directly by Predict.
        x = tf.identity(parsed[S.EXAMPLE_FEATURE], name="x")
        raw = tf.compat.v1.placeholder(tf.string, [None], name="images_bytes")
        pixels = tf.ensure_shape(tf.io.decode_raw(raw, tf.uint8), [None, S.PIXELS])
        x_bytes = tf.cast(pixels, tf.float32) / 255.0
        w = {k: tf.compat.v1.Variable(v, name=k) for k, v in weights.items()}
        scores = tf.nn.softmax(_logits(tf, kind, w, x), name="y")
        scores_bytes = tf.nn.softmax(_logits(tf, kind, w, x_bytes), name="y_bytes")
        top_scores, top_idx = tf.nn.top_k(scores, S.CLASSES)
        classes = tf.gather(tf.constant([str(i) for i in range(S.CLASSES)]), top_idx)
    return graph, dict(serialized=serialized, x=x, raw=raw, scores=scores,
                       scores_bytes=scores_bytes, top_scores=top_scores, classes=classes)


def _signature_defs(tf, t: dict) -> dict:
    info = tf.compat.v1.saved_model.utils.build_tensor_info
    build = tf.compat.v1.saved_model.signature_def_utils.build_signature_def
    return {
        S.PREDICT_IMAGES: build({S.IMAGES: info(t["x"])}, {S.SCORES: info(t["scores"])},
                                S.PREDICT_METHOD),
        S.PREDICT_IMAGES_BYTES: build({S.IMAGES_BYTES: info(t["raw"])},
                                      {S.SCORES: info(t["scores_bytes"])}, S.PREDICT_METHOD),
        S.SERVING_DEFAULT: build({S.CLASSIFY_INPUTS: info(t["serialized"])},
                                 {S.CLASSIFY_CLASSES: info(t["classes"]),
                                  S.SCORES: info(t["top_scores"])}, S.CLASSIFY_METHOD),
    }


def _save(kind: str, weights: dict, version_dir: Path) -> None:
    import tensorflow as tf  # deferred: tensorflow is optional (serve)
    graph, tensors = _serving_graph(tf, kind, weights)
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        builder = tf.compat.v1.saved_model.Builder(str(version_dir))
        builder.add_meta_graph_and_variables(
            sess, [tf.compat.v1.saved_model.tag_constants.SERVING],
            signature_def_map=_signature_defs(tf, tensors), strip_default_attrs=True)
        builder.save()


# --- export --------------------------------------------------------------------------------------

def export_model(kind: str, out_dir: str | os.PathLike, opts: ExportOptions | None = None,
                 data: tuple[DigitSet, DigitSet] | None = None) -> ExportedModel:
    """Train and export one model to ``out_dir/<name>/<version>/``; returns what was exported."""
    opts = opts or ExportOptions()
    name = S.MODEL_NAMES.get(kind)
    if name is None:
        raise InferwireError(f"unknown model kind {kind!r}; use one of {sorted(S.MODEL_NAMES)}")
    base = Path(out_dir) / name
    final = base / str(opts.version)
    if final.exists() and not opts.overwrite:
        raise InferwireError(f"{final} exists; choose another directory or version, or overwrite")
    train, test = data or _datasets(opts)
    t0 = time.perf_counter()
    weights, accuracy = _train(kind, train, test, opts)
    seconds = time.perf_counter() - t0
    base.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename: TF Serving polls the base path and must never see a
    # half-written version directory.
    tmp = Path(tempfile.mkdtemp(prefix=f".{opts.version}.tmp", dir=base))
    shutil.rmtree(tmp)
    _save(kind, weights, tmp)
    model = ExportedModel(kind, name, opts.version, str(final), train.source, len(train.images),
                          len(test.images), round(accuracy, 4), round(seconds, 2))
    _write_info(tmp, model)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return model


def _write_info(version_dir: Path, model: ExportedModel) -> None:
    import tensorflow as tf  # deferred: tensorflow is optional (serve)
    info = asdict(model) | {"inferwire_version": __version__, "tensorflow_version": tf.__version__,
                            "recipe_version": RECIPE_VERSION,
                            "signatures": [S.PREDICT_IMAGES, S.PREDICT_IMAGES_BYTES,
                                           S.SERVING_DEFAULT]}
    info.pop("path")
    extra = version_dir / "assets.extra"
    extra.mkdir(exist_ok=True)
    (extra / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")


def export_models(out_dir: str | os.PathLike, opts: ExportOptions | None = None) -> list[ExportedModel]:
    """Export every model kind in ``opts.models`` (sharing one training set)."""
    opts = opts or ExportOptions()
    data = _datasets(opts)
    return [export_model(kind, out_dir, opts, data) for kind in opts.models]


def read_model_info(version_dir: str | os.PathLike) -> dict | None:
    """The ``inferwire_model.json`` written at export (None for models exported elsewhere)."""
    path = Path(version_dir) / "assets.extra" / INFO_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise InferwireError(f"{path}: unreadable model info: {exc}") from exc


def default_cache_dir() -> Path:
    """``$INFERWIRE_CACHE`` or ``~/.cache/inferwire``."""
    return Path(os.environ.get("INFERWIRE_CACHE") or Path.home() / ".cache" / "inferwire")


def cached_models(cache_dir: str | os.PathLike | None = None,
                  opts: ExportOptions | None = None, *, on_export=None) -> Path:
    """A directory holding the exported models for ``opts``, exporting them once if missing.

    Safe to call from several processes at once (a file lock serialises the export).  Returns the
    models directory: serve ``<it>/mnist`` or ``<it>/mnist_cnn``.  ``on_export()`` is called
    just before an export really starts (e.g. to say so), never when the cache holds them.
    """
    opts = opts or ExportOptions()
    key = (f"r{RECIPE_VERSION}-{'-'.join(opts.models)}-n{opts.train_examples}-s{opts.seed}"
           f"-{'mnist' if opts.mnist_dir else 'gen'}")
    root = Path(cache_dir) if cache_dir else default_cache_dir() / "models"
    target = root / key
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "complete").exists():
            return target
        if target.exists():
            shutil.rmtree(target)
        if on_export is not None:
            on_export()
        export_models(target, opts)
        (target / "complete").write_text("ok\n")
    return target
