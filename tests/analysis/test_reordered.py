"""The buckets' columns joined into connection order (``schedule.joined``: slices of the
buckets' pieces copied once, in order, where the order has few runs of consecutive rows)
against concatenating them and ``take`` of the same order: the same values and dtype for every
kind of column the tables hold (float, int, nullable int and bool, Arrow strings with nulls, UTC
times; as :mod:`inferwire.arrays` holds them, and as pandas arrays, which the odd values of
``tables.typed`` become), whatever the runs and wherever the buckets' pieces end (one row each:
taken instead; none)."""
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from inferwire import arrays
from inferwire.analysis import schedule
from inferwire.analysis.tables import coded_strings, typed


def columns(n: int, rng) -> dict:
    ints = rng.integers(-5, 10**12, n)
    texts = [None if x < 0.1 else f"r{x:.3f}" for x in rng.random(n)]
    return {
        "float": rng.random(n),
        "int": ints,
        "nullable": arrays.Masked(ints, rng.random(n) < 0.2, "Int64"),
        "bool": arrays.Masked(rng.random(n) < 0.5, rng.random(n) < 0.1, "boolean"),
        "text": coded_strings(["a", "bb", "ccc"], rng.integers(0, 3, n)),
        "text_nulls": typed(texts, "string"),
        "utc": arrays.instants(ints, rng.random(n) < 0.9),
        "pd_nullable": pd.arrays.IntegerArray(ints, rng.random(n) < 0.2),
        "pd_bool": pd.array(rng.random(n) < 0.5, dtype="boolean"),
        "pd_text_nulls": pd.array(texts, dtype="string"),
        "pd_utc": pd.array(pd.to_datetime(ints, utc=True)),
    }


def block_order(rng, n: int, blocks: int) -> np.ndarray:
    """Row indices putting ``blocks`` runs of consecutive rows in a shuffled order."""
    cuts = np.sort(rng.choice(np.arange(1, n), blocks - 1, replace=False))
    runs = np.split(np.arange(n), cuts)
    rng.shuffle(runs)
    return np.concatenate(runs)


def joined(cols: dict, order: np.ndarray, sizes: list) -> pd.DataFrame:
    """``schedule.joined`` of ``cols`` cut into pieces of ``sizes`` rows, with the connection
    numbers that put their rows (laid end to end) in ``order``."""
    pos = np.empty(len(order), np.int64)
    pos[order] = np.arange(len(order))
    bounds = np.cumsum([0] + list(sizes)).tolist()
    parts = [{name: c[a:b] for name, c in cols.items()} for a, b in zip(bounds, bounds[1:])]
    positions = [pos[a:b] for a, b in zip(bounds, bounds[1:])]
    spec = [SimpleNamespace(name=name, dtype=None) for name in cols]
    return schedule.joined(parts, positions, spec)


def same_as_take(cols: dict, order: np.ndarray, sizes: list) -> None:
    table = joined(cols, order, sizes)
    assert isinstance(table, arrays.Table) and table.names == list(cols)
    got = table.frame()
    for name, column in cols.items():
        assert arrays.is_plain(table[name]) == arrays.is_plain(column), name
        want = arrays.pandas_array(arrays.take(column, order))
        assert got[name].dtype == want.dtype, name
        if isinstance(want, np.ndarray):
            np.testing.assert_array_equal(got[name].to_numpy(), want)
        else:
            assert type(got[name].array) is type(want), name
            pd.testing.assert_extension_array_equal(got[name].array, want)


def sizes_of(rng, n: int, parts: int) -> list:
    cuts = np.sort(rng.choice(np.arange(1, n), parts - 1, replace=False)).astype(np.int64)
    return np.diff(np.concatenate([[0], cuts, [n]])).tolist()


@pytest.mark.parametrize("parts", [1, 3, 40])
@pytest.mark.parametrize("blocks", [1, 2, 16, 300])
def test_joined_in_order_as_take_gives(blocks, parts):
    rng = np.random.default_rng(blocks * 100 + parts)
    n = 5000
    order = block_order(rng, n, blocks)
    sizes = sizes_of(rng, n, parts)
    runs = schedule._runs(order, sizes)
    assert runs is not None and len(runs) <= blocks + parts
    assert all(0 <= a < b <= sizes[k] for k, a, b in runs)       # each inside one piece
    same_as_take(columns(n, rng), order, sizes)


def test_a_run_that_crosses_two_pieces_is_cut_there():
    order = np.concatenate([np.arange(16, 32), np.arange(16)])
    assert schedule._runs(order, [24, 8]) == [(0, 16, 24), (1, 0, 8), (0, 0, 16)]
    same_as_take(columns(32, np.random.default_rng(1)), order, [24, 8])


def test_rows_already_in_order_are_not_copied():
    rng = np.random.default_rng(2)
    cols = columns(100, rng)
    got = joined(cols, np.arange(100), [100])
    assert np.shares_memory(got["float"], cols["float"])
    assert np.shares_memory(got["nullable"].values, cols["nullable"].values)
    assert np.shares_memory(got.frame()["float"].to_numpy(), cols["float"])


def test_many_short_runs_are_taken():
    rng = np.random.default_rng(0)
    order = rng.permutation(5000)
    assert schedule._runs(order, [5000]) is None          # runs of about one row
    assert schedule._runs(block_order(rng, 5000, schedule.RUNS_MAX + 1), [5000]) is None
    assert schedule._runs(np.zeros(0, np.int64), []) is None
    same_as_take(columns(5000, rng), order, [2000, 3000])
