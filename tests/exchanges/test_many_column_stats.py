"""The requests' message columns found for all requests at once (``many_column_stats``) against
the per-request reference (``column_stats``, itself held to ``messages._stats`` on Message lists):
the same tuples, value for value, over random streams of every shape (no messages, no data, times
unknown, incomplete messages, SSE [DONE], gRPC calls with and without request messages and
trailers, equal gaps, one data message)."""
import math

import numpy as np
import pytest

from inferwire.exchanges.message_columns import MessageColumns, column_stats, many_column_stats
from inferwire.exchanges.messages import _stats, message_stats


def random_request(rng) -> tuple:
    n = int(rng.choice([0, 1, 2, 5, 40]))
    direction = (rng.random(n) < 0.15).astype(np.int8)
    kind = rng.choice([0, 0, 0, 1, 2], n).astype(np.int8)
    start = np.sort(rng.integers(10**18, 10**18 + 10**9, n))
    end = start + rng.choice([0, 5, 1000, 1000, 77_000], n)     # equal gaps are common
    start[rng.random(n) < 0.1] = -1
    end[rng.random(n) < 0.1] = -1
    complete = rng.random(n) < 0.9
    m = MessageColumns(direction, kind, start, end, rng.integers(1, 500, n), complete)
    req_end = None if rng.random() < 0.2 else int(10**18 + rng.integers(-10**6, 10**8))
    return m, req_end, bool(rng.random() < 0.4), bool(rng.random() < 0.5)


def same(a, b) -> bool:
    return all(x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y))
               for x, y in zip(a, b)) and len(a) == len(b) and \
        all(type(x) is type(y) for x, y in zip(a, b))


@pytest.mark.parametrize("seed", range(20))
def test_all_at_once_equals_one_by_one(seed):
    rng = np.random.default_rng(seed)
    requests = [random_request(rng) for _ in range(int(rng.integers(1, 60)))]
    ms, ends, grpc, ended = (list(x) for x in zip(*requests))
    got = many_column_stats(ms, ends, grpc, ended)
    want = [column_stats(m, e, g, d) for m, e, g, d in requests]
    assert len(got) == len(want)
    for k, (a, b) in enumerate(zip(got, want)):
        assert same(a, b), (k, a, b)
        assert same(b, _stats(list(requests[k][0]), *requests[k][1:])), k


def test_message_stats_mixes_lists_and_columns():
    """Requests given as Message lists and as columns, and ones without messages, in one call:
    each gets what it would alone."""
    rng = np.random.default_rng(7)
    requests = [random_request(rng) for _ in range(30)]
    messages = [m if k % 3 else list(m) for k, (m, *_) in enumerate(requests)]
    messages[4] = None
    out = message_stats(messages, [r[1] for r in requests],
                        ["grpc" if r[2] else "http/1.1" for r in requests],
                        [0 if r[3] else None for r in requests])
    for k, (m, req_end, grpc, ended) in enumerate(requests):
        row = tuple(out[name][k] for name in out)
        if k == 4:
            assert row == (None,) * len(out)
            continue
        assert same(row, column_stats(m, req_end, grpc, ended)), k


@pytest.mark.parametrize("scale", [10, 10**9, 2**61])
def test_values_sorted_within_owners_as_lexsort_sorts_them(scale):
    """The one-sort path (values and owners packed in 62 bits) and the lexsort fallback (values
    too spread to pack: the 2**61 case) give what a lexsort gives, negative values included."""
    from inferwire.exchanges.message_columns import _sorted_by_owner
    rng = np.random.default_rng(scale % 1000)
    owner = np.sort(rng.integers(0, 3000, 50_000))
    values = rng.integers(-scale, scale, 50_000)
    want = values[np.lexsort((values, owner))]
    assert _sorted_by_owner(values, owner).tolist() == want.tolist()
