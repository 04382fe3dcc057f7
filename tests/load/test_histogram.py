"""The load generator's latency histogram against exact percentiles, merges and its fixed size."""
import json
import math
from fractions import Fraction

import numpy as np
import pytest

from inferwire.load.events import RequestRecord
from inferwire.load.histogram import (LIMIT_NS, RELATIVE_ERROR, LatencyHistogram, bucket_of,
                                      histogram_of)
from inferwire.load.stats import ERROR_KINDS, OTHER_ERRORS, LoadTally, summarize

PS = (0, 0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100)


def nearest_rank(values, p):
    """The exact nearest-rank percentile: the k-th smallest, k = ceil(p/100 * n), k >= 1."""
    ordered = sorted(int(v) for v in values)
    k = max(1, math.ceil(Fraction(str(p)) * len(ordered) / 100))
    return ordered[k - 1]


def assert_within_bound(values, ps=PS):
    hist = histogram_of(values)
    for p, got in zip(ps, hist.percentiles(ps)):
        exact = nearest_rank(values, p)
        assert abs(got - exact) <= abs(exact) * RELATIVE_ERROR, (p, got, exact)
    return hist


def test_the_stated_bound_is_0_1_percent_or_better():
    assert RELATIVE_ERROR <= 0.001 and LIMIT_NS >= 3600 * 10**9      # 1 µs .. 1 h and beyond


@pytest.mark.parametrize("seed", range(5))
def test_random_latencies_are_within_the_bound(seed):
    rng = np.random.default_rng(seed)
    lognormal = rng.lognormal(mean=math.log(2e6), sigma=1.5, size=20_000).astype(np.int64)
    wide = np.exp(rng.uniform(math.log(1e3), math.log(3.6e12), size=20_000)).astype(np.int64)
    late = rng.integers(-50_000, 5_000_000, size=5_000)                 # lateness: a few < 0
    for values in (lognormal, wide, late):
        hist = assert_within_bound(values)
        assert hist.max == values.max() and hist.min == values.min()
        assert hist.mean() == pytest.approx(values.mean(), rel=1e-12)


def test_it_is_numpys_inverted_cdf_percentile_within_the_bound():
    values = np.random.default_rng(7).gamma(2.0, 3e6, size=10_001).astype(np.int64)
    hist = histogram_of(values)
    for p, got in zip((50, 90, 99), hist.percentiles((50, 90, 99))):
        exact = np.percentile(values, p, method="inverted_cdf")
        assert abs(got - exact) <= exact * RELATIVE_ERROR


@pytest.mark.parametrize("values", [
    [1234567],                                         # one value: exact (clamped to min/max)
    [5_000_000] * 1000,                                # all equal
    [1, 10**12] * 500,                                 # two clusters far apart: no interpolation
    [0, -1, 1, 2047, 2048, 2049, 4095, 4096],          # around the exact range's end
    [(1 << e) + d for e in range(11, 42) for d in (-1, 0, 1)],          # powers of two
    [((1024 + j) << s) + d for s in (1, 7, 20, 31) for j in (0, 1, 511, 1023)
     for d in (0, (1 << s) - 1)],                      # lowest and highest value of buckets
    [-(10**9), -5, 0, 3, 10**9],                       # negative (a clock stepped back)
    [LIMIT_NS - 1] * 3 + [1000],                       # the top bucket
])
def test_adversarial_values_are_within_the_bound(values):
    hist = assert_within_bound(values)
    assert hist.percentiles([100]) == [max(values)] and hist.percentiles([0]) == [min(values)]


def test_over_range_percentiles_report_the_exact_extreme():
    """Values of 2^42 ns (73 min) or more are counted; a percentile among them is the max."""
    hist = histogram_of([10**6] + [5 * LIMIT_NS] * 3 + [-3 * LIMIT_NS])
    assert hist.percentiles([1, 50, 99]) == [-3 * LIMIT_NS, 5 * LIMIT_NS, 5 * LIMIT_NS]
    hist = histogram_of([999_999_999_999] * 9 + [LIMIT_NS, 2 * LIMIT_NS])
    assert hist.percentiles([50, 90, 100]) == [999_999_999_999, 2 * LIMIT_NS, 2 * LIMIT_NS]
    assert hist.count == 11 and hist.total == 9 * 999_999_999_999 + 3 * LIMIT_NS


def test_the_bound_is_reached_so_it_is_not_loose():
    """Values at a bucket's two ends: the middle reported for the lowest is ~1/2048 off (the
    2nd smallest of 3 is neither the exact min nor the exact max)."""
    lowest = 1024 << 20
    values = [lowest, lowest, lowest + (1 << 20) - 1]
    got = histogram_of(values).percentiles([50])[0]
    error = abs(got - lowest) / lowest
    assert 0.99 * RELATIVE_ERROR < error <= RELATIVE_ERROR


def test_scalar_and_vectorised_adds_agree():
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.integers(-LIMIT_NS * 2, LIMIT_NS * 2, 3000),
                             rng.integers(-5000, 5000, 3000),
                             [(1 << e) + d for e in range(1, 43) for d in (-1, 0, 1)]])
    one = LatencyHistogram()
    for v in values.tolist():
        one.add(v)
    many = LatencyHistogram()
    many.add_many(values)
    assert np.array_equal(one.counts, many.counts)
    assert (one.count, one.total, one.min, one.max) == (many.count, many.total, many.min,
                                                        many.max)


def test_buckets_are_monotone_and_as_narrow_as_stated():
    values = sorted({int(v) for v in np.exp(np.linspace(0, math.log(LIMIT_NS - 1), 200_000))})
    buckets = [bucket_of(v) for v in values]
    assert buckets == sorted(buckets)
    first = {}
    for v, b in zip(values, buckets):
        first.setdefault(b, v)
        assert v - first[b] <= max(0, first[b] * 2 * RELATIVE_ERROR)


def test_merge_equals_the_histogram_of_the_concatenation():
    rng = np.random.default_rng(11)
    parts = [rng.lognormal(14, 2, size=n).astype(np.int64) for n in (0, 1, 3000, 7000)]
    parts.append(np.array([-7, LIMIT_NS + 5], dtype=np.int64))
    merged = LatencyHistogram()
    for part in parts:
        merged.merge(histogram_of(part))
    whole = histogram_of(np.concatenate(parts))
    assert np.array_equal(merged.counts, whole.counts)
    assert (merged.count, merged.total, merged.min, merged.max) == (
        whole.count, whole.total, whole.min, whole.max)
    assert merged.percentiles(PS) == whole.percentiles(PS)


def test_state_crosses_a_process_boundary_as_json():
    hist = histogram_of(np.random.default_rng(5).integers(-10, 10**11, 5000))
    back = LatencyHistogram.from_state(json.loads(json.dumps(hist.to_state())))
    assert np.array_equal(back.counts, hist.counts) and back.percentiles(PS) == hist.percentiles(PS)
    assert LatencyHistogram().percentiles([50]) is None and LatencyHistogram().mean() is None


def test_size_does_not_grow_with_the_values():
    hist = LatencyHistogram()
    size = hist.counts.nbytes
    hist.add_many(np.random.default_rng(1).integers(0, LIMIT_NS, 1_000_000))
    assert hist.counts.nbytes == size and hist.counts.dtype == np.int64 and hist.count == 10**6


def record(i, latency_ns, late_ns=0, ok=True, error=None, phase="measure"):
    scheduled = 10**18 + i * 1_000_000
    started = scheduled + late_ns
    return RequestRecord(f"r{i}", 0, phase, scheduled, started,
                         None if latency_ns is None else started + latency_ns, ok, error=error)


def test_summary_percentiles_come_from_the_histogram_within_the_bound():
    rng = np.random.default_rng(2)
    latencies = rng.lognormal(math.log(3e6), 1, 5000).astype(np.int64)
    lateness = rng.integers(0, 400_000, 5000)
    records = [record(i, int(lat), int(late)) for i, (lat, late) in
               enumerate(zip(latencies, lateness))]
    records += [record(-1, 10**6, phase="warmup"), record(5000, None, ok=False, error="x")]
    s = summarize(records, mode="open", target_rate_per_s=1000.0)
    assert (s.requests, s.ok, s.unfinished, s.warmup_requests) == (5001, 5000, 1, 1)
    for key, p in (("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9)):
        exact = nearest_rank(latencies, p) / 1e6
        assert abs(s.latency_ms[key] - exact) <= exact * RELATIVE_ERROR
        exact = nearest_rank(latencies + lateness, p) / 1e6
        assert abs(s.latency_from_scheduled_ms[key] - exact) <= exact * RELATIVE_ERROR
    assert s.latency_ms["max"] == latencies.max() / 1e6
    assert s.latency_ms["mean"] == pytest.approx(latencies.mean() / 1e6, rel=1e-12)
    assert s.send_rate_per_s == pytest.approx(1000, rel=0.01) and s.top_errors == {"x": 1}


def test_the_error_counter_is_bounded():
    tally = LoadTally()
    for i in range(ERROR_KINDS + 50):
        tally.add(record(i, 10**6, ok=False, error=f"failure {i}"))
    assert len(tally.failures) == ERROR_KINDS + 1 and tally.failures[OTHER_ERRORS] == 50
