"""What runs inside Triton (numpy forward passes) gives the SavedModel's own scores."""
import numpy as np
import pytest

from inferwire.serving.triton import mnist_numpy


@pytest.mark.parametrize("kind,folder", [("softmax", "mnist"), ("cnn", "mnist_cnn")])
def test_numpy_scores_match_the_savedmodel(kind, folder, weights):
    import tensorflow as tf
    from inferwire.serving.digits import generate_digits
    from inferwire.serving.model import cached_models
    images = generate_digits(32, seed=7).images.astype(np.float32) / 255.0
    loaded = tf.saved_model.load(str(cached_models() / folder / "1"))
    want = loaded.signatures["predict_images"](images=tf.constant(images))["scores"].numpy()
    with np.load(weights[kind]) as npz:
        got = mnist_numpy.scores(kind, {k: npz[k] for k in npz.files}, images)
    assert got.shape == (32, 10) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=2e-5)
    assert (got.argmax(1) == want.argmax(1)).all()


def test_softmax_rows_sum_to_one():
    x = np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]], dtype=np.float32)
    s = mnist_numpy.softmax(x)
    np.testing.assert_allclose(s.sum(1), 1.0, rtol=1e-6)
    assert s[1, 0] == pytest.approx(1.0)
