"""What runs inside Triton (numpy forward passes) gives the SavedModel's own scores."""
import numpy as np
import pytest

from inferwire.serving import mnist_numpy


@pytest.mark.parametrize("kind,folder", [("softmax", "mnist"), ("cnn", "mnist_cnn")])
def test_numpy_scores_match_the_savedmodel(kind, folder, weights):
    import tensorflow as tf
    from inferwire.serving.digits import generate_digits
    from inferwire.serving.model import cached_models
    images = generate_digits(32, seed=7).images.astype(np.float32) / 255.0
    loaded = tf.saved_model.load(str(cached_models() / folder / "1"))
    want = loaded.signatures["predict_images"](images=tf.constant(images))["scores"].numpy()
    w = mnist_numpy.load(weights[kind])
    assert mnist_numpy.kind_of(w) == kind
    got = mnist_numpy.scores(w, images)
    assert got.shape == (32, 10) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=2e-5)
    assert (got.argmax(1) == want.argmax(1)).all()


def test_softmax_rows_sum_to_one():
    x = np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]], dtype=np.float32)
    s = mnist_numpy.softmax(x)
    np.testing.assert_allclose(s.sum(1), 1.0, rtol=1e-6)
    assert s[1, 0] == pytest.approx(1.0)


def test_triton_weights_are_the_shared_export(tmp_path):
    """repository.export_weights keeps numpy_weights' export in the SavedModel's assets.extra
    (made once), and the shared forward pass reads it."""
    import shutil

    from inferwire.serving.model import cached_models
    from inferwire.serving.numpy_weights import export_weights as export_npz
    from inferwire.serving.triton.repository import export_weights
    version = tmp_path / "mnist" / "1"
    shutil.copytree(cached_models() / "mnist" / "1", version,
                    ignore=shutil.ignore_patterns("assets.extra"))
    made = export_weights(version)
    assert made == version / "assets.extra" / "triton_weights.npz"
    mtime = made.stat().st_mtime_ns
    assert export_weights(version) == made and made.stat().st_mtime_ns == mtime
    shared = mnist_numpy.load(export_npz(version, tmp_path / "shared.npz"))
    got = mnist_numpy.load(made)
    assert got.keys() == shared.keys() == {"w", "b"}
    for name in got:
        np.testing.assert_array_equal(got[name], shared[name])
