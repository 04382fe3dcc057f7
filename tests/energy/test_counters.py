import numpy as np
import pytest

from inferwire.energy import counter_delta, unwrap, window_delta


def test_delta_without_wrap():
    assert counter_delta(100, 350, 1000) == 250


def test_delta_across_one_wrap():
    # 900 -> max 1000 is 100 more, then 0 -> 50 is 50 more
    assert counter_delta(900, 50, 1000) == 150


def test_decrease_without_range_is_an_error():
    with pytest.raises(ValueError, match="cannot wrap"):
        counter_delta(900, 50, None)


def test_start_above_range_is_an_error():
    with pytest.raises(ValueError, match="above its range"):
        counter_delta(2000, 50, 1000)


def test_unwrap_counts_wraps_and_accumulates():
    cumulative, wraps = unwrap([800, 950, 100, 400, 20], 1000)
    assert wraps == 2
    assert cumulative.tolist() == [0, 150, 300, 600, 1220]


def test_window_interpolates_and_never_extrapolates():
    t = np.array([0, 1_000, 2_000], dtype=np.int64)
    c = np.array([0.0, 10.0, 30.0])
    assert window_delta(t, c, 500, 1_500) == pytest.approx(20.0 - 5.0)
    assert window_delta(t, c, 0, 2_000) == 30.0
    assert window_delta(t, c, -1, 1_000) is None
    assert window_delta(t, c, 1_000, 2_001) is None
    with pytest.raises(ValueError):
        window_delta(t, c, 10, 5)
