"""Cumulative counters sampled over time: wrap-around, unwrapping, values inside a time window.

Pure functions on ints and arrays (no clock, no files).  Energy counters (RAPL ``energy_uj``, NVML
total energy) and CPU-time counters (psutil) are all "cumulative value at time t" series; a window's
share is the interpolated value at its end minus the one at its start.  Times are int nanoseconds.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def counter_delta(start: int, end: int, max_range: int | None) -> int:
    """How much a counter advanced from ``start`` to ``end``, allowing one wrap-around.

    RAPL's ``energy_uj`` counts up to ``max_energy_range_uj`` and starts again from 0; a reading
    lower than the previous one therefore means one wrap (the polling period is chosen so that two
    wraps between readings are impossible).  ``max_range`` None means the counter never wraps, so
    a decrease is an error (a reset), reported by raising ValueError.
    """
    if end >= start:
        return end - start
    if max_range is None or max_range <= 0:
        raise ValueError(f"counter went down from {start} to {end} and cannot wrap")
    if start > max_range:
        raise ValueError(f"counter value {start} is above its range {max_range}")
    return (max_range - start) + end


def unwrap(values: Sequence[int], max_range: int | None) -> tuple[np.ndarray, int]:
    """Cumulative advance since the first reading (int64 array, same length) and the wrap count."""
    out = np.zeros(len(values), dtype=np.int64)
    wraps = 0
    for i in range(1, len(values)):
        if values[i] < values[i - 1]:
            wraps += 1
        out[i] = out[i - 1] + counter_delta(int(values[i - 1]), int(values[i]), max_range)
    return out, wraps


def value_at(times_ns: np.ndarray, cumulative: np.ndarray, t_ns: int) -> float | None:
    """The cumulative value at ``t_ns`` by linear interpolation; None outside the sampled span
    (never extrapolated: a window the samples do not cover has no certain value)."""
    if len(times_ns) == 0 or t_ns < times_ns[0] or t_ns > times_ns[-1]:
        return None
    return float(np.interp(t_ns, times_ns, cumulative))


def window_delta(times_ns: np.ndarray, cumulative: np.ndarray, start_ns: int,
                 end_ns: int) -> float | None:
    """The counter's advance between ``start_ns`` and ``end_ns``, or None if not covered."""
    if end_ns < start_ns:
        raise ValueError(f"window ends ({end_ns}) before it starts ({start_ns})")
    a, b = value_at(times_ns, cumulative, start_ns), value_at(times_ns, cumulative, end_ns)
    return None if a is None or b is None else b - a
