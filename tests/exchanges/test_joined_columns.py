"""Message columns joined lazily (``a + b``: a :class:`JoinedColumns`) read as the eager join of
the same parts: every column, the length, the messages iterated, a pickled copy, and the tables'
builders (``concat``, ``many_column_stats``, ``table_columns``) that take the parts of many
requests at once; and the parts are not joined until a column is read."""
import pickle

import numpy as np
import pytest

from inferwire.exchanges import message_columns as mc
from inferwire.exchanges.message_columns import (JoinedColumns, Message, MessageColumns, concat,
                                                 many_column_stats, table_columns)

NAMES = MessageColumns.__slots__


def columns(rng, n: int, direction: int) -> MessageColumns:
    start = np.sort(rng.integers(10**18, 10**18 + 10**9, n))
    return MessageColumns(np.full(n, direction, np.int8), rng.integers(0, 3, n).astype(np.int8),
                          start, start + rng.integers(0, 10**6, n), rng.integers(1, 500, n),
                          rng.random(n) < 0.9)


def eager(parts) -> dict:
    return {name: np.concatenate([getattr(p, name) for p in parts]) for name in NAMES}


def assert_columns(m, want: dict) -> None:
    for name in NAMES:
        got = getattr(m, name)
        assert got.dtype == want[name].dtype, name
        assert np.array_equal(got, want[name]), name


@pytest.mark.parametrize("sizes", [(3, 5), (0, 4), (4, 0), (0, 0), (1, 2, 3)])
def test_a_join_reads_as_the_eager_join(sizes):
    rng = np.random.default_rng(len(sizes) * 10 + sum(sizes))
    parts = [columns(rng, n, k % 2) for k, n in enumerate(sizes)]
    joined = parts[0]
    for p in parts[1:]:
        joined = joined + p
    assert isinstance(joined, JoinedColumns) and isinstance(joined, MessageColumns)
    assert len(joined) == sum(sizes)
    assert len(joined.parts) == len(sizes)          # (a join of a join: flat)
    want = eager(parts)
    assert list(joined) == list(MessageColumns(*(want[n] for n in NAMES)))
    assert_columns(joined, want)
    assert_columns(pickle.loads(pickle.dumps(joined)), want)


def test_nothing_is_joined_until_a_column_is_read(monkeypatch):
    rng = np.random.default_rng(1)
    a, b = columns(rng, 4, 0), columns(rng, 6, 1)
    calls = []
    real = mc.concat
    monkeypatch.setattr(mc, "concat", lambda blocks: calls.append(len(blocks)) or real(blocks))
    joined = a + b
    assert len(joined) == 10 and calls == []
    first = joined.start_ns
    assert calls == [2]
    assert joined.start_ns is first and joined.kind is not None and calls == [2]  # once
    assert np.array_equal(first, np.concatenate([a.start_ns, b.start_ns]))


def test_a_list_of_messages_joins_either_side():
    rng = np.random.default_rng(2)
    a = columns(rng, 3, 1)
    listed = [Message("request", "data", 5, 9, 12, True), Message("request", "data", None,
                                                                    None, 3, False)]
    assert list(listed + a) == listed + list(a)
    assert list(a + listed) == list(a) + listed
    assert list(a + []) == list(a)


def test_the_tables_take_joined_and_plain_requests_alike():
    """The builders over many requests, some joined: the same as over their eager joins."""
    rng = np.random.default_rng(3)
    lazy, plain = [], []
    for k in range(40):
        req, resp = columns(rng, int(rng.integers(0, 3)), 0), columns(rng, int(rng.integers(0, 9)), 1)
        lazy.append(req + resp if k % 3 else resp)
        plain.append(MessageColumns(*(eager([req, resp])[n] for n in NAMES)) if k % 3 else resp)
    assert_columns(concat(lazy), eager(plain))
    ends = [None if k % 5 == 0 else 10**18 + k for k in range(40)]
    grpc, ended = [k % 2 == 0 for k in range(40)], [k % 4 == 0 for k in range(40)]
    assert many_column_stats(lazy, ends, grpc, ended) == \
        many_column_stats(plain, ends, grpc, ended)
    rows = lambda ms: [(k // 7, k, f"r{k}", m) for k, m in enumerate(ms)]  # noqa: E731
    got, want = table_columns(rows(lazy)), table_columns(rows(plain))
    assert got.keys() == want.keys()
    for name in want:
        a, b = got[name], want[name]
        if isinstance(b, tuple):
            assert all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b)), name
        else:
            assert np.array_equal(a, b), name
