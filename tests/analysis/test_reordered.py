"""A joined table's column put into connection order from its runs of consecutive rows
(``schedule._reordered``) against ``take`` of the same order: the same values and dtype for
every kind of column the tables hold (float, int, nullable int and bool, Arrow strings with
nulls, UTC times), whatever the runs (one row each: taken instead; none)."""
import numpy as np
import pandas as pd
import pytest

from inferwire.analysis import schedule
from inferwire.analysis.tables import coded_strings


def columns(n: int, rng) -> dict:
    ints = rng.integers(-5, 10**12, n)
    return {
        "float": rng.random(n),
        "int": ints,
        "nullable": pd.arrays.IntegerArray(ints, rng.random(n) < 0.2),
        "bool": pd.array(rng.random(n) < 0.5, dtype="boolean"),
        "text": coded_strings(["a", "bb", "ccc"], rng.integers(0, 3, n)),
        "text_nulls": pd.array([None if x < 0.1 else f"r{x:.3f}" for x in rng.random(n)],
                               dtype="string"),
        "utc": pd.array(pd.to_datetime(ints, utc=True)),
    }


def block_order(rng, n: int, blocks: int) -> np.ndarray:
    """Row indices putting ``blocks`` runs of consecutive rows in a shuffled order."""
    cuts = np.sort(rng.choice(np.arange(1, n), blocks - 1, replace=False))
    runs = np.split(np.arange(n), cuts)
    rng.shuffle(runs)
    return np.concatenate(runs)


@pytest.mark.parametrize("blocks", [1, 2, 16, 300])
def test_runs_give_what_take_gives(blocks):
    rng = np.random.default_rng(blocks)
    n = 5000
    order = block_order(rng, n, blocks)
    runs = schedule._runs(order)
    assert runs is not None and len(runs) <= blocks     # (blocks shuffled next to each other join)
    for name, column in columns(n, rng).items():
        got, want = schedule._reordered(column, order, runs), column.take(order)
        assert type(got) is type(want) and got.dtype == want.dtype, name
        assert len(got) == n
        if isinstance(want, np.ndarray):
            np.testing.assert_array_equal(got, want)
        else:
            pd.testing.assert_extension_array_equal(got, want)


def test_many_short_runs_are_taken():
    rng = np.random.default_rng(0)
    assert schedule._runs(rng.permutation(5000)) is None          # runs of about one row
    assert schedule._runs(block_order(rng, 5000, schedule.RUNS_MAX + 1)) is None
    assert schedule._runs(np.zeros(0, np.int64)) is None
