"""The stable sorts of :mod:`inferwire.tcp.sorting` give numpy's own (``lexsort``, a stable
``argsort``): random keys of 16-bit ranges and wider, signed and unsigned 64-bit values near
their limits, keys of one value, and keys too wide to combine."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from inferwire.tcp.sorting import stable_argsort, stable_order

DTYPES = [np.int64, np.uint64, np.int32, np.uint8]


@st.composite
def keys(draw, size: int):
    """A key of ``size`` values: a dtype, a base near its limits or 0, and a range of 1 value
    to 2**40."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    info = np.iinfo(dtype)
    span = min(draw(st.sampled_from([1, 2, 40, 1 << 16, (1 << 16) + 1, 1 << 40])),
               int(info.max) - int(info.min))
    base = draw(st.sampled_from([int(info.min), max(int(info.min), min(0, int(info.max) - span)),
                                 int(info.max) - span]))
    values = [base + draw(st.integers(0, span)) for _ in range(size)]
    return np.array(values, dtype=dtype)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 80).flatmap(lambda n: st.lists(keys(n), min_size=1, max_size=4)))
def test_stable_order_is_lexsort(columns):
    assert stable_order(*columns).tolist() == np.lexsort(columns[::-1]).tolist()


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 200).flatmap(keys))
def test_stable_argsort_is_a_stable_argsort(key):
    assert stable_argsort(key).tolist() == np.argsort(key, kind="stable").tolist()


def test_a_16_bit_range_far_from_zero_is_sorted_by_its_offsets():
    """Keys of a 16-bit range around 2**40 (by radix) and one of a wider range: the same
    order as numpy's, ties in index order."""
    rng = np.random.default_rng(3)
    near = (1 << 40) + rng.integers(0, 1 << 16, 50_000)
    wide = rng.integers(0, 1 << 17, 50_000)
    for key in (near, wide, near.astype(np.uint64)):
        assert np.array_equal(stable_argsort(key), np.argsort(key, kind="stable"))
