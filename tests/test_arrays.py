"""The tables' columns without pandas (inferwire.arrays): each kind becomes exactly the pandas
array the tables held before (dtype, values, the data under missing values); Arrow arrays made
from numpy buffers and by StringBuilder are those ``pa.array`` makes; an Analysis keeps its
tables as columns until read, and its files and summary are byte for byte the same from the
columns as from the DataFrames (sample captures, one of them streamed)."""
from __future__ import annotations

import filecmp
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from inferwire import arrays, tablefiles
from inferwire.analysis import analyze
from inferwire.errors import InferwireError
from inferwire.analysis.tables import typed
from inferwire.tablefiles import arrow_table

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = [ROOT / "captures" / "run-b1" / "capture.pcapng",
           ROOT / "captures" / "tls-rest.pcapng"]
GOLDEN = ROOT / "tests" / "analysis" / "golden" / "captures"


@pytest.mark.parametrize("seed", range(4))
def test_each_kind_is_the_pandas_array_pd_array_makes(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 300))
    missing = rng.random(n) < 0.3
    ints = rng.integers(-2**62, 2**62, n)
    cases = [
        (arrays.Masked(np.where(missing, 1, ints), missing, "Int64"),
         pd.array([None if m else int(v) for v, m in zip(ints, missing)], dtype="Int64")),
        (arrays.Masked(np.where(missing, False, ints > 0), missing, "boolean"),
         pd.array([None if m else bool(v > 0) for v, m in zip(ints, missing)], dtype="boolean")),
        (arrays.instants(ints, ~missing),
         pd.array(pd.to_datetime([pd.NaT if m else int(v) for v, m in zip(ints, missing)],
                                 utc=True))),
        (typed([None if m else f"t{v}" for v, m in zip(ints, missing)], "string"),
         pd.array([None if m else f"t{v}" for v, m in zip(ints, missing)], dtype="string")),
    ]
    for column, want in cases:
        got = arrays.pandas_array(column)
        assert type(got) is type(want) and got.dtype == want.dtype
        assert got.equals(want)
        if hasattr(want, "_mask"):
            assert (got._mask == want._mask).all()
            assert (np.asarray(got._data) == np.asarray(want._data)).all()
        order = rng.permutation(n)
        taken = arrays.pandas_array(arrays.take(column, order))
        assert taken.equals(want.take(order))
        cut = n // 3
        joined = arrays.pandas_array(arrays.concatenated([column[:cut], column[cut:]]))
        assert joined.equals(want)


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "uint16", "uint64", "float64",
                                   "bool"])
def test_arrow_of_is_pa_array(dtype):
    rng = np.random.default_rng(len(dtype))
    for n in (0, 1, 7, 8, 9, 1000):
        values = (rng.random(n) < 0.5 if dtype == "bool"
                  else (rng.random(n) * 100).astype(dtype))
        for mask in (None, rng.random(n) < 0.2, np.zeros(n, bool), np.ones(n, bool)):
            got = arrays.arrow_of(values, mask)
            want = pa.array(values, mask=mask)
            assert got.type == want.type and got.equals(want), (n, mask)
            if mask is None or not mask.any():
                assert np.array_equal(arrays.numpy_of(got), values)
        sliced = arrays.arrow_of(values)[n // 2:]
        assert np.array_equal(arrays.numpy_of(sliced), values[n // 2:])


def test_texts_built_without_pandas_are_what_pa_array_makes(monkeypatch):
    values = ["", "a", None, "ünïcode", "x" * 300, None, "a,b\"c\n"]
    monkeypatch.setattr(arrays, "pandas_loaded", lambda: False)      # StringBuilder's way
    built = arrays.texts_of(values)
    small = arrays.texts_of(values, large=False)
    with pytest.raises((TypeError, pa.ArrowTypeError, pa.ArrowInvalid)):
        arrays.texts_of(["a", 1])
    assert built.equals(pa.array(values, pa.large_string()))
    assert small.equals(pa.array(values, pa.string()))
    assert arrays.text_scalar("a,") == pa.scalar("a,", pa.string())


def test_a_string_column_of_odd_values_falls_back_to_pandas():
    """Values that are not all str (an int among them) are converted as pd.array does."""
    got = typed(["a", 1, None], "string")
    assert not arrays.is_plain(got)
    assert got.equals(pd.array(["a", 1, None], dtype="string"))


def _analysis(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analyze(str(path))


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.parent.name + "/" + p.name)
def test_files_and_summary_from_the_columns_are_those_from_the_dataframes(path, tmp_path):
    columns = _analysis(path)
    for name in ("requests", "connections", "messages"):
        assert isinstance(columns.table(name), arrays.Table), name
    summary = columns.summary_text()
    paths = columns.save(tmp_path / "columns")
    assert all(isinstance(columns.table(n), arrays.Table) for n in ("requests", "connections"))

    frames = _analysis(path)
    read = {name: getattr(frames, name) for name in ("requests", "connections", "messages")}
    for name, df in read.items():
        assert frames.table(name) is df and isinstance(df, pd.DataFrame)
        arrow = arrow_table(columns.table(name))
        assert arrow.schema.equals(pa.Table.from_pandas(df, preserve_index=False).schema,
                                   check_metadata=True), name
    assert frames.summary_text() == summary
    assert frames.save(tmp_path / "frames").keys() == paths.keys()
    for file in paths:
        assert filecmp.cmp(tmp_path / "columns" / file, tmp_path / "frames" / file,
                           shallow=False), file


@pytest.mark.parametrize("name", ["http1_sse.pcap", "h2_sse.pcap", "grpc_streamed.pcap"])
def test_a_streamed_capture_writes_its_messages_alike(tmp_path, name):
    """Captures of streamed responses (SSE on HTTP/1.1 and HTTP/2, a gRPC stream): their
    messages tables too."""
    path = GOLDEN / name
    columns = _analysis(path)
    assert len(columns.table("messages")) > 0
    paths = columns.save(tmp_path / "columns")
    frames = _analysis(path)
    frames.messages, frames.requests, frames.connections      # noqa: B018 -- read them
    assert frames.save(tmp_path / "frames").keys() == paths.keys()
    assert "messages.parquet" in paths
    for file in paths:
        assert filecmp.cmp(tmp_path / "columns" / file, tmp_path / "frames" / file,
                           shallow=False), file


def test_the_tables_become_dataframes_when_read_and_stay_set_ones():
    a = _analysis(SAMPLES[0])
    df = a.requests
    assert isinstance(df, pd.DataFrame) and a.requests is df
    other = df.head(2)
    a.requests = other
    assert a.requests is other and a.table("requests") is other


@pytest.mark.parametrize("name", ["_requests", "request", "Requests", "frames"])
def test_an_unknown_table_name_is_named_with_the_three(name):
    a = _analysis(SAMPLES[0])
    with pytest.raises(InferwireError, match="use one of requests, connections, messages"):
        a.table(name)


def test_joined_strings_stay_arrow_whatever_their_pieces():
    """Buckets' string pieces come as arrays or as chunked arrays (a worker's own joins): joined,
    they stay Arrow (chunks, no copy), never the pandas fallback."""
    one = typed(["a", None], "string")
    two = arrays.concatenated([typed(["b"], "string"), typed(["c", "d"], "string")])
    assert isinstance(two, pa.ChunkedArray)
    for pieces in ([one, two], [two, one], [two, two], [one, one]):
        got = arrays.concatenated(pieces)
        assert arrays.is_plain(got) and isinstance(got, pa.ChunkedArray)
        assert got.to_pylist() == sum((p.to_pylist() for p in pieces), [])
        taken = arrays.take(got, np.arange(len(got))[::-1])
        assert arrays.is_plain(taken) and taken.to_pylist() == got.to_pylist()[::-1]


@pytest.mark.parametrize("path", [SAMPLES[0], GOLDEN / "grpc_streamed.pcap"],
                         ids=["run-b1", "grpc_streamed"])
def test_the_command_on_several_buckets_and_workers_imports_no_pandas(path, tmp_path):
    """``inferwire analyze --workers 2`` cuts even a small capture into 8 buckets shared by two
    processes: their columns, joined, still never need pandas; nor does any step import
    ``pyarrow.compute`` (inferwire.arrowcalls) or, where the compiled Parquet writer is used,
    ``pyarrow.parquet`` (tablefiles.write_arrow_parquet)."""
    script = ("import json, sys\n"
              "from inferwire.cli import main\n"
              "code = main(sys.argv[1:])\n"
              "print(json.dumps({'code': code, 'pandas': 'pandas' in sys.modules,\n"
              "                  'compute': 'pyarrow.compute' in sys.modules,\n"
              "                  'parquet': 'pyarrow.parquet' in sys.modules}))\n")
    proc = subprocess.run([sys.executable, "-c", script, "analyze", str(path), "--workers", "2",
                           "--out", str(tmp_path / "out")], capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT / "src")}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    compiled = tablefiles._compiled_writer() is not None
    assert report == {"code": 0, "pandas": False, "compute": False, "parquet": not compiled}
    assert (tmp_path / "out" / "requests.parquet").is_file()


def test_importing_the_analysis_does_not_import_pandas():
    code = ("import sys, inferwire.analysis.pipeline, inferwire.tablefiles, "
            "inferwire.analysis.cli; print('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(ROOT / "src")}).stdout.strip()
    assert out == "False"
