"""Before/after: today's code makes byte-identical tables, row order, warnings and summaries on
the golden sample captures (tests/analysis/golden: crafted captures, the fuzz corpus, and the
real REST+gRPC and TLS captures in captures/), whose expected files the code before issue 18's
refactoring wrote (golden/make_golden.py).  The tables are also the same with several processes
and with buckets spilled to disk."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "golden"))

from cases import CASES, VARIANTS, expected_dir, outputs  # noqa: E402

BY_NAME = {c[0]: c for c in CASES}


def _expected(name: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(expected_dir(name).iterdir())}


def _assert_same(got: dict, want: dict) -> None:
    assert sorted(got) == sorted(want)
    for fname in want:
        if got[fname] != want[fname]:
            g, w = got[fname].splitlines(), want[fname].splitlines()
            first = next((i for i, (a, b) in enumerate(zip(g, w)) if a != b), min(len(g), len(w)))
            pytest.fail(f"{fname} differs at line {first + 1} ({len(g)} lines, expected "
                        f"{len(w)}):\n got: {g[first:first + 1]}\nwant: {w[first:first + 1]}")


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_same_tables_as_before(name):
    _, kind, paths, kwargs = BY_NAME[name]
    _assert_same(outputs(kind, paths, kwargs), _expected(name))


@pytest.mark.parametrize("name,extra", VARIANTS, ids=[f"{n}-{'-'.join(e)}" for n, e in VARIANTS])
def test_same_tables_whatever_the_reading(name, extra):
    _, kind, paths, kwargs = BY_NAME[name]
    got = outputs(kind, paths, {**kwargs, **extra})
    want = _expected(name)
    _assert_same({k: v for k, v in got.items() if k != "summary.txt"},
                 {k: v for k, v in want.items() if k != "summary.txt"})


def test_the_golden_set_is_small_and_covers_each_table():
    folder = Path(__file__).resolve().parent / "golden"
    assert sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) < 2 * 1024 * 1024
    names = {p.name for p in (folder / "expected").rglob("*")}
    assert {"requests.csv", "connections.csv", "messages.csv", "warnings.txt",
            "two_point.csv", "joined.csv"} <= names
    assert any(expected_dir(c[0]).joinpath("warnings.txt").stat().st_size for c in CASES
               if expected_dir(c[0]).joinpath("warnings.txt").exists())


def test_same_tables_with_every_http2_connection_read_as_columns(monkeypatch):
    """A connection of many HTTP/2 exchanges has its rows made as columns
    (analysis.rows._column_rows); with the threshold at one exchange, every plain-TCP HTTP/2
    connection of the golden set that can be (not lossy, not streamed) is: the same tables,
    warnings and summaries as the row by row path wrote."""
    from inferwire.analysis import rows
    taken = []
    column_rows = rows._column_rows

    def counted(c, r):
        taken.append(len(r.exchanges))
        return column_rows(c, r)
    monkeypatch.setattr(rows, "ROW_COLUMNS_MIN", 1)
    monkeypatch.setattr(rows, "_column_rows", counted)
    for name, kind, paths, kwargs in CASES:
        _assert_same(outputs(kind, paths, kwargs), _expected(name))
    assert len(taken) >= 5 and max(taken) > 1, taken
