"""A bounded, mergeable latency histogram (HdrHistogram-style log-linear buckets).

Values are integer nanoseconds.  Below 2,048 ns every nanosecond has its own bucket (exact);
from 2,048 ns on, each power-of-two range [2^e, 2^(e+1)) is split into 1,024 equal buckets, so a
bucket is at most 1/1024 of the values it holds wide.  Buckets reach 2^42 ns (73 minutes), which
covers 1 µs .. 1 h; negative values (a wall clock stepped back between two stamps) have mirrored
buckets.  Counts are int64; 67,586 buckets = 528 KiB per histogram, however many values it holds.
Values of 2^42 ns or more (either sign) are counted as over range.

One percentile definition (nearest rank): the p-th percentile of n values is the k-th smallest,
k = ceil(p/100 * n) (at least 1), computed exactly with fractions.  The histogram reports the
middle of the bucket holding the k-th smallest value, clamped to the exact min and max seen, so
``percentile(100)`` is the exact max and ``percentile(0)`` the exact min.  Error bound: the
reported value is within 1/2048 (0.049 %) of the exact nearest-rank value, relative to that
value (exact below 2,048 ns); a percentile among over-range values reports the exact max (or,
for negative ones, the exact min).  ``numpy.percentile(..., method="inverted_cdf")`` is the same
definition without the bucketing.

Merging adds counts: ``a.merge(b)`` equals the histogram of a's and b's values together, so
worker processes or runs combine exactly (:meth:`to_state` / :meth:`from_state` carry one across
a process boundary as plain JSON-able data).  Pure: no clock, no I/O.  Written here rather than
taken from the ``hdrhistogram`` package because the percentile definition, the negative values
and the exact min/max/mean are what the load summary needs, in 100 lines of numpy.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from fractions import Fraction

import numpy as np

SUB_BITS = 10
SUB = 1 << SUB_BITS                  # buckets per power of two (above the exact range)
LIMIT_NS = 1 << 42                   # first value over range (73.3 min)
SIDE = SUB * (42 - SUB_BITS + 1)     # buckets per sign: 33,792
RELATIVE_ERROR = 1 / (2 * SUB)       # 0.049 %: half a bucket's width over its lowest value


def bucket_of(value: int) -> int:
    """The bucket of 0 <= value < LIMIT_NS (exact below 2 * SUB)."""
    shift = max(0, value.bit_length() - SUB_BITS - 1)
    return (shift << SUB_BITS) + (value >> shift)


def bucket_middles() -> np.ndarray:
    """float64 [SIDE]: the middle of each non-negative bucket, (lowest + highest) / 2 in ns."""
    index = np.arange(SIDE, dtype=np.int64)
    shift = np.maximum(0, index // SUB - 1)
    lowest = (index - (shift << SUB_BITS)) << shift
    return lowest + ((np.int64(1) << shift) - 1) / 2


class LatencyHistogram:
    """Counts of int ns values in log-linear buckets; exact count, min, max and sum.

    Layout of ``counts`` (int64, 2 * SIDE + 2): [negative over range, negative buckets from the
    most negative, non-negative buckets from 0, positive over range], i.e. in value order.
    """

    def __init__(self):
        self.counts = np.zeros(2 * SIDE + 2, dtype=np.int64)
        self.count = 0
        self.total = 0                                   # exact sum (a Python int)
        self.min: int | None = None
        self.max: int | None = None

    def add(self, value: int) -> None:
        """Count one value (int ns)."""
        value = int(value)
        if value >= LIMIT_NS:
            index = 2 * SIDE + 1
        elif value >= 0:
            index = SIDE + 1 + bucket_of(value)
        elif value > -LIMIT_NS:
            index = SIDE - bucket_of(-value)
        else:
            index = 0
        self.counts[index] += 1
        self.count += 1
        self.total += value
        self.min = value if self.min is None else min(self.min, value)
        self.max = value if self.max is None else max(self.max, value)

    def add_many(self, values: Iterable[int]) -> None:
        """Count each value (int ns, any iterable or integer array; vectorised)."""
        arr = np.asarray(values if hasattr(values, "__array__") else list(values),
                         dtype=np.int64).ravel()
        if arr.size == 0:
            return
        mag = np.abs(np.clip(arr, 1 - LIMIT_NS, LIMIT_NS - 1))
        bits = np.frexp(mag.astype(np.float64))[1]     # = bit_length: mag < 2^42 is exact
        shift = np.maximum(0, bits - SUB_BITS - 1)
        bucket = (shift << SUB_BITS) + (mag >> shift)
        index = np.where(arr < 0, SIDE - bucket, SIDE + 1 + bucket)
        index[arr >= LIMIT_NS] = 2 * SIDE + 1
        index[arr <= -LIMIT_NS] = 0
        self.counts += np.bincount(index, minlength=len(self.counts))
        self.count += int(arr.size)
        self.total += sum(arr.tolist())
        low, high = int(arr.min()), int(arr.max())
        self.min = low if self.min is None else min(self.min, low)
        self.max = high if self.max is None else max(self.max, high)

    def merge(self, other: LatencyHistogram) -> LatencyHistogram:
        """Add ``other``'s values to this one (in place); returns self."""
        self.counts += other.counts
        self.count += other.count
        self.total += other.total
        for bound, pick in (("min", min), ("max", max)):
            mine, theirs = getattr(self, bound), getattr(other, bound)
            setattr(self, bound, theirs if mine is None else mine if theirs is None
                    else pick(mine, theirs))
        return self

    def percentiles(self, ps: Sequence[float]) -> list[int | float] | None:
        """Nearest-rank percentiles (ns, see the module docstring); None if empty."""
        if self.count == 0:
            return None
        cumulative = np.cumsum(self.counts)
        middles = bucket_middles()
        out = []
        for p in ps:
            if not 0 <= p <= 100:
                raise ValueError(f"percentile {p} is not within 0..100")
            rank = max(1, math.ceil(Fraction(str(p)) * self.count / 100))
            index = int(np.searchsorted(cumulative, rank))
            if index == 0 or rank == 1:
                value = self.min
            elif index == 2 * SIDE + 1 or rank == self.count:
                value = self.max
            elif index <= SIDE:
                value = -middles[SIDE - index]
            else:
                value = middles[index - SIDE - 1]
            out.append(min(max(value, self.min), self.max))
        return out

    def mean(self) -> float | None:
        """The exact mean (ns), None if empty."""
        return self.total / self.count if self.count else None

    def to_state(self) -> dict:
        """Plain data (ints and lists) for another process: the non-zero buckets only."""
        nonzero = np.flatnonzero(self.counts)
        return {"buckets": nonzero.tolist(), "counts": self.counts[nonzero].tolist(),
                "count": self.count, "total": self.total, "min": self.min, "max": self.max}

    @classmethod
    def from_state(cls, state: dict) -> LatencyHistogram:
        """The histogram :meth:`to_state` described."""
        hist = cls()
        hist.counts[np.asarray(state["buckets"], dtype=np.int64)] = state["counts"]
        hist.count, hist.total = state["count"], state["total"]
        hist.min, hist.max = state["min"], state["max"]
        return hist


def histogram_of(values: Iterable[int]) -> LatencyHistogram:
    """A histogram holding ``values`` (int ns)."""
    hist = LatencyHistogram()
    hist.add_many(values)
    return hist
