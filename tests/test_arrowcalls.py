"""inferwire.arrowcalls: each kernel called by name gives what the pyarrow.compute function of
the same name gives, on arrays with nulls, odd text and both string kinds; and the module does
not import pyarrow.compute (the point of it)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from inferwire import arrowcalls as ac

ROOT = Path(__file__).resolve().parents[1]


def texts(seed: int, large: bool) -> pa.Array:
    rng = np.random.default_rng(seed)
    pool = ["", "a", 'say "hi"', "x,y", "X,Y", "line\nbreak", "ünï", "0.5", "-0.0"]
    values = [None if rng.random() < 0.2 else pool[rng.integers(len(pool))]
              for _ in range(200)]
    return pa.array(values, pa.large_string() if large else pa.string())


@pytest.mark.parametrize("large", [False, True], ids=["string", "large_string"])
@pytest.mark.parametrize("seed", range(3))
def test_each_kernel_is_pyarrow_computes(seed, large):
    s = texts(seed, large)
    rng = np.random.default_rng(100 + seed)
    nums = pa.array(rng.integers(-5, 5, 200), mask=rng.random(200) < 0.3)
    floats = pa.array(rng.normal(size=200) * 10.0 ** rng.integers(-8, 12, 200),
                      mask=rng.random(200) < 0.1)
    mask = pa.array(rng.random(200) < 0.4)
    indices = pa.array(rng.integers(0, 200, 300))
    empty, comma = pa.scalar("", pa.string()), pa.scalar(",", s.type)
    pairs = [
        (ac.cast(nums, pa.string()), pc.cast(nums, pa.string())),
        (ac.cast(floats, pa.string()), pc.cast(floats, pa.string())),
        (ac.cast(s, pa.large_string()), pc.cast(s, pa.large_string())),
        (ac.take(s, indices), pc.take(s, indices)),
        (ac.fill_null(s, empty), pc.fill_null(s, empty)),          # (a string scalar on
        (ac.fill_null(nums, pa.scalar(7)), pc.fill_null(nums, pa.scalar(7))),   # large text)
        (ac.if_else(mask, s, ac.fill_null(s, empty)),
         pc.if_else(mask, s, pc.fill_null(s, empty))),
        (ac.join(s, s, comma), pc.binary_join_element_wise(s, s, comma)),
        (ac.replace_with_mask(s, mask, ac.take(s, pa.array(np.arange(pc.sum(mask).as_py())))),
         pc.replace_with_mask(s, mask, pc.take(s, pa.array(np.arange(pc.sum(mask).as_py()))))),
        (ac.matches(s, '[,"\n]'), pc.match_substring_regex(s, '[,"\n]')),
        (ac.matches(s, "x,y"), pc.match_substring_regex(s, "x,y")),
        (ac.replace_substring(s, '"', '""'), pc.replace_substring(s, '"', '""')),
        (ac.unique(s), pc.unique(s)),
        (ac.drop_null(s), pc.drop_null(s)),
        (ac.equal(s, pa.scalar("a")), pc.equal(s, pa.scalar("a"))),
    ]
    for i, (got, want) in enumerate(pairs):
        assert got.type == want.type and got.equals(want), i
    assert ac.any_true(ac.matches(s, "x,y")) is pc.any(pc.match_substring_regex(s, "x,y")).as_py()
    assert ac.any_true(pa.array([False, None])) is False


def test_out_of_range_rows_and_failing_casts_raise_as_pyarrow_computes():
    with pytest.raises(IndexError):
        ac.take(pa.array(["a", "b"]), pa.array([0, 5]))     # bounds checked, as pc.take's
    with pytest.raises(IndexError):
        pc.take(pa.array(["a", "b"]), pa.array([0, 5]))
    with pytest.raises(pa.ArrowInvalid):
        ac.cast(pa.array([300]), pa.int8())          # a safe cast, as pc.cast's default
    with pytest.raises(pa.ArrowInvalid):
        pc.cast(pa.array([300]), pa.int8())


def test_the_module_does_not_import_pyarrow_compute():
    code = ("import sys, numpy as np, pyarrow as pa\n"
            "from inferwire import arrowcalls as ac\n"
            "from inferwire.arrays import arrow_of, texts_of\n"   # (pa.array imports pandas)
            "col = arrow_of(np.array([1, 2]), np.array([False, True]))\n"
            "ac.cast(ac.take(col, arrow_of(np.array([1, 0]))), pa.string())\n"
            "ac.fill_null(texts_of(['a', None]), texts_of([''], large=False)[0])\n"
            "print('pyarrow.compute' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(ROOT / "src")}).stdout.strip()
    assert out == "False"
