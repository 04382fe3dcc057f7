"""Model export: TF Serving layout, the MNIST example's signatures, training metadata."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from inferwire.errors import InferwireError
from inferwire.serving import signatures as S
from inferwire.serving.digits import generate_digits
from inferwire.serving.model import ExportOptions, export_model, read_model_info
from inferwire.serving.protos import saved_model_pb2, types_pb2


def signature_defs(version_dir):
    sm = saved_model_pb2.SavedModel.FromString((version_dir / "saved_model.pb").read_bytes())
    assert len(sm.meta_graphs) == 1 and list(sm.meta_graphs[0].meta_info_def.tags) == ["serve"]
    return sm.meta_graphs[0].signature_def


def shape(info):
    return [d.size for d in info.tensor_shape.dim]


@pytest.mark.parametrize("name", ["mnist", "mnist_cnn"])
def test_layout_and_signatures_follow_tf_serving_mnist_example(models_dir, name):
    version = models_dir / name / "1"
    assert (version / "saved_model.pb").is_file() and (version / "variables" / "variables.index").is_file()
    sigs = signature_defs(version)
    assert set(sigs) == {S.PREDICT_IMAGES, S.PREDICT_IMAGES_BYTES, S.SERVING_DEFAULT}
    p = sigs[S.PREDICT_IMAGES]
    assert p.method_name == "tensorflow/serving/predict"
    assert (p.inputs["images"].dtype, shape(p.inputs["images"])) == (types_pb2.DT_FLOAT, [-1, 784])
    assert (p.outputs["scores"].dtype, shape(p.outputs["scores"])) == (types_pb2.DT_FLOAT, [-1, 10])
    b = sigs[S.PREDICT_IMAGES_BYTES]
    assert (b.inputs["images_bytes"].dtype, shape(b.inputs["images_bytes"])) == (types_pb2.DT_STRING, [-1])
    c = sigs[S.SERVING_DEFAULT]
    assert c.method_name == "tensorflow/serving/classify"
    assert set(c.inputs) == {"inputs"} and set(c.outputs) == {"classes", "scores"}


def test_model_info_records_training_data_and_accuracy(models_dir):
    info = read_model_info(models_dir / "mnist" / "1")
    assert info["kind"] == "softmax" and info["name"] == "mnist"
    assert info["training_data"].startswith("generated-digits-v1")
    assert info["train_examples"] == 2000 and info["test_examples"] == 500
    assert info["test_accuracy"] > 0.75  # held-out generated digits; 10% would be chance
    assert read_model_info(models_dir / "mnist_cnn" / "1")["kind"] == "cnn"
    assert read_model_info(models_dir) is None


def test_exported_model_classifies_held_out_digits(models_dir, tf_scores):
    test = generate_digits(200, seed=99)
    accuracy = (tf_scores(test.images).argmax(axis=1) == test.labels).mean()
    assert accuracy > 0.7


def _write_idx(path, array):
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape))
        f.write(array.tobytes())


def test_export_from_idx_files_says_so_and_refuses_to_overwrite(tmp_path):
    data = generate_digits(120, seed=5)
    idx = tmp_path / "idx"
    idx.mkdir()
    for split, sl in (("train", slice(0, 100)), ("t10k", slice(100, 120))):
        _write_idx(idx / f"{split}-images-idx3-ubyte.gz", data.images[sl].reshape(-1, 28, 28))
        _write_idx(idx / f"{split}-labels-idx1-ubyte.gz", data.labels[sl])
    opts = ExportOptions(models=("softmax",), mnist_dir=str(idx), train_examples=100, version=7)
    model = export_model("softmax", tmp_path / "out", opts)
    assert model.path.endswith("mnist/7") and model.training_data.startswith("mnist-idx train")
    assert read_model_info(model.path)["training_data"] == model.training_data
    assert [p.name for p in (tmp_path / "out" / "mnist").iterdir()] == ["7"]  # no temp dirs left
    with pytest.raises(InferwireError, match="exists"):
        export_model("softmax", tmp_path / "out", opts)
    with pytest.raises(InferwireError, match="unknown model kind"):
        export_model("rnn", tmp_path / "out", opts)


def test_bytes_signature_equals_float_signature(models_dir):
    import tensorflow as tf
    fns = tf.saved_model.load(str(models_dir / "mnist_cnn" / "1")).signatures
    images = generate_digits(4, seed=2).images
    as_float = fns["predict_images"](images=tf.constant(images / np.float32(255)))["scores"].numpy()
    raw = tf.constant([row.tobytes() for row in images])
    as_bytes = fns["predict_images_bytes"](images_bytes=raw)["scores"].numpy()
    np.testing.assert_allclose(as_float, as_bytes, rtol=1e-5, atol=1e-6)


def test_cached_models_says_it_exports_only_when_it_does(tmp_path):
    """The run's "exporting the MNIST SavedModels" line: printed on a cold cache only."""
    from inferwire.serving.model import cached_models
    said = []
    opts = ExportOptions(models=("softmax",), train_examples=100, test_examples=20,
                         epochs={"softmax": 1})
    first = cached_models(tmp_path, opts, on_export=lambda: said.append("export"))
    assert said == ["export"] and (first / "mnist" / "1").is_dir()
    again = cached_models(tmp_path, opts, on_export=lambda: said.append("export"))
    assert again == first and said == ["export"]
