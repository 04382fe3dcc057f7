"""Generated digits and the MNIST IDX reader."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from inferwire.serving.digits import (DataFormatError, generate_digits, load_mnist_idx, parse_idx,
                                      read_idx)


def test_generated_digits_are_deterministic_mnist_shaped_and_balanced():
    a, b = generate_digits(300, seed=3), generate_digits(300, seed=3)
    assert a.images.shape == (300, 784) and a.images.dtype == np.uint8
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, generate_digits(300, seed=4).images)
    assert set(np.unique(a.labels)) == set(range(10))
    assert np.bincount(a.labels, minlength=10).min() >= 10
    assert a.source.startswith("generated-digits-v1 seed=3")


def test_generated_digit_is_centred_like_mnist():
    img = generate_digits(50, seed=0).images.reshape(-1, 28, 28).astype(float)
    mass = img.sum(axis=(1, 2))
    assert (mass > 0).all()
    cy = (img.sum(axis=2) * np.arange(28)).sum(axis=1) / mass
    cx = (img.sum(axis=1) * np.arange(28)).sum(axis=1) / mass
    # centre of mass within a few pixels of the image centre, the 4-pixel border mostly blank
    assert np.all(np.abs(cy - 13.5) < 4) and np.all(np.abs(cx - 13.5) < 4)
    assert img[:, :2, :].mean() < 5


def _idx(array: np.ndarray, code: int) -> bytes:
    return struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + \
        array.astype(array.dtype.newbyteorder(">")).tobytes()


def test_parse_idx_reads_declared_shape_and_big_endian_values():
    arr = np.arange(12, dtype=np.int32).reshape(3, 4) - 5
    out = parse_idx(_idx(arr, 0x0C))
    assert out.shape == (3, 4) and np.array_equal(out, arr)


@pytest.mark.parametrize("data, field, offset", [
    (b"\x00\x00", "magic", 0),
    (b"\x01\x00\x08\x01\x00\x00\x00\x01\x00", "magic", 0),
    (b"\x00\x00\x08\x03\x00\x00", "dims", 4),
    (b"\x00\x00\x08\x01\x00\x00\x00\x05abc", "data", 8),
])
def test_parse_idx_errors_name_offset_and_field(data, field, offset):
    with pytest.raises(DataFormatError) as info:
        parse_idx(data, path="x.idx")
    assert info.value.field == field and info.value.offset == offset
    assert "x.idx" in str(info.value)


def test_load_mnist_idx_from_gz_files(tmp_path):
    d = generate_digits(20, seed=1)
    for stem, arr, code in (("train-images-idx3-ubyte", d.images.reshape(-1, 28, 28), 0x08),
                            ("train-labels-idx1-ubyte", d.labels, 0x08)):
        with gzip.open(tmp_path / f"{stem}.gz", "wb") as f:
            f.write(_idx(arr, code))
    out = load_mnist_idx(tmp_path, "train")
    assert np.array_equal(out.images, d.images) and np.array_equal(out.labels, d.labels)
    assert out.source.startswith("mnist-idx train")
    with pytest.raises(DataFormatError, match="missing MNIST file t10k-images"):
        load_mnist_idx(tmp_path, "test")
    with pytest.raises(DataFormatError, match="cannot read"):
        read_idx(tmp_path / "nope")
