"""The column-wise CSV writer (inferwire.tablefiles) writes the bytes pandas' to_csv wrote,
and ``inferwire analyze`` starts without the heavy libraries it does not use."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import inferwire
from inferwire.columns import CONNECTION_COLUMNS, REQUEST_COLUMNS
from inferwire.runfolder.logs import read_client_logs, read_server_log
from inferwire.analysis.join import join_requests, workload_ports
from inferwire.report.run import read_table
from inferwire import tablefiles
from inferwire.tablefiles import csv_ready, float_text, write_csv

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ("run-b1", "run-b4", "run-new-conn")


def pandas_bytes(df: pd.DataFrame) -> bytes:
    """What write_csv wrote before it went column-wise (pandas formatting every cell)."""
    return csv_ready(df).to_csv(index=False).encode()


def written(df: pd.DataFrame, tmp_path: Path) -> bytes:
    write_csv(df, tmp_path / "t.csv")
    return (tmp_path / "t.csv").read_bytes()


def test_floats_are_written_as_python_repr():
    rng = np.random.default_rng(7)
    edges = [0.0, -0.0, 1.0, -3.0, 0.1, 1e-4, 9.999e-5, 1e-5, 2.5e-7, 1e10, 9999999999.0,
             9999999999.5, 1e15, 1e16, 1.2345678901234568e17, 5e-324, 1.7976931348623157e308,
             np.inf, -np.inf, 123.456, 1234567.0, 0.30000000000000004]
    x = np.concatenate([edges, rng.standard_normal(20_000) * 10.0 ** rng.integers(-12, 22, 20_000),
                        rng.integers(0, 10 ** 12, 20_000) / 1e6, np.round(rng.random(5000) * 1e4)])
    assert float_text(x).to_pylist() == [repr(float(v)) for v in x]
    assert float_text(np.array([np.nan, 2.0])).to_pylist() == ["", "2.0"]
    mixed = np.array([np.nan, -0.0, 0.0, -np.nan, np.inf, 1e-300, 7.0, np.nan])
    assert float_text(mixed).to_pylist() == ["", "-0.0", "0.0", "", "inf", "1e-300", "7.0", ""]
    assert float_text(np.full(5, np.nan)).to_pylist() == [""] * 5


def test_crafted_table_with_quoting_and_missing_values_is_byte_identical(tmp_path):
    n = 7
    df = pd.DataFrame({
        "text": pd.array(["plain", "", None, 'say "hi"', "a,b", "two\nlines", "cr\rhere"],
                         dtype="string"),
        "obj": ["x", None, "y", "z,", "", "w", '"'],
        "count": pd.array([1, None, 3, -4, 0, 2 ** 40, None], dtype="Int64"),
        "plain_int": np.arange(n, dtype="int64") * 1_000_000_007,
        "flag": pd.array([True, False, None, True, False, None, True], dtype="boolean"),
        "np_bool": np.array([True, False] * 3 + [True]),
        "ms": [0.25, np.nan, 3.0, 1e-5, 1e16, -0.0, 12345.678],
        "at_utc": pd.Series(pd.to_datetime([1_700_000_000_123_456_789, None, 0, 5, 6, 7, 8],
                                           unit="ns", utc=True)),
    })
    assert written(df, tmp_path) == pandas_bytes(df)
    assert written(df.iloc[:0], tmp_path) == pandas_bytes(df.iloc[:0])


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_large_table_in_blocks_is_byte_identical(tmp_path, monkeypatch, threads):
    """Blocks formatted one at a time or by several threads at once: the same bytes, in order
    (a table cut into a block per thread, or into many, some quoting and some not)."""
    import inferwire.tablefiles as tf
    monkeypatch.setattr(tf, "CSV_THREADS", threads)
    monkeypatch.setattr(tf, "MIN_BLOCK_ROWS", 500)
    rng = np.random.default_rng(3)
    n = 4321
    text = rng.choice(["grpc", "http/1.1", None], n).tolist()
    text[2222] = 'a "quoted", cell'
    df = pd.DataFrame({"a": rng.random(n) * 100, "b": rng.integers(0, 9, n),
                       "c": pd.array(text, dtype="string"),
                       "t": pd.Series(pd.to_datetime(rng.integers(0, 2**62, n), utc=True))})
    want = pandas_bytes(df)
    assert written(df, tmp_path) == want                    # one block per thread
    monkeypatch.setattr(tf, "BLOCK_ROWS", 1000)
    assert written(df, tmp_path) == want                    # five blocks


def test_quoting_found_in_some_blocks_only(tmp_path, monkeypatch):
    """The scan for characters to quote reads each block's own slice of the column's buffer:
    a comma, quote or LF in one block quotes there, not in the blocks around it."""
    import inferwire.tablefiles as tf
    monkeypatch.setattr(tf, "BLOCK_ROWS", 100)
    text = [f"r{i}" for i in range(450)]
    text[150], text[151], text[299], text[300] = "a,b", 'q"', "x\ny", ""
    flags = pd.array([None if i % 7 == 0 else i % 3 == 0 for i in range(450)], dtype="boolean")
    for dtype in ("string", object):
        df = pd.DataFrame({"t": pd.array(text, dtype=dtype) if dtype == "string" else text,
                           "f": flags})
        assert written(df, tmp_path) == pandas_bytes(df)
        assert written(df.iloc[200:], tmp_path) == pandas_bytes(df.iloc[200:])


@pytest.mark.parametrize("share", [0.0, 0.6, 1.0])
def test_float_column_sharing_an_earlier_ones_text_is_byte_identical(tmp_path, share):
    """``end`` written from ``start``'s text where they are the same bits: 0.0 and -0.0, NaN
    and the values of another column around them still written as themselves."""
    rng = np.random.default_rng(11)
    n = 3000
    start = rng.integers(0, 10 ** 12, n) / 1e3
    start[:4] = [0.0, -0.0, np.nan, 1e-7]
    end = np.where(rng.random(n) < share, start, start + rng.random(n))
    end[:4] = [-0.0, 0.0, np.nan, 1e-7]
    df = pd.DataFrame({"start": start, "end": end, "other": end * 3.0, "again": end})
    assert written(df, tmp_path) == pandas_bytes(df)


def test_mixed_object_column_falls_back_to_pandas(tmp_path):
    df = pd.DataFrame({"a": [1, "x", 2.5], "b": [1, 2, 3]})
    assert written(df, tmp_path) == pandas_bytes(df)


@pytest.mark.parametrize("sample", SAMPLES)
def test_sample_capture_tables_byte_identical_and_read_back(sample, tmp_path):
    run = ROOT / "captures" / sample
    a = inferwire.analyze(run / "capture.pcapng", workers=1)
    joined = join_requests(a.requests, read_client_logs(run),
                           read_server_log(run / "server_log.jsonl"),
                           workloads=workload_ports(json.loads((run / "manifest.json").read_text())))
    for name, df in (("requests", a.requests), ("connections", a.connections),
                     ("joined", joined)):
        assert len(df) and written(df, tmp_path) == pandas_bytes(df), name
    paths = a.save(tmp_path / "out")
    for p in paths.values():
        if p.suffix == ".parquet":
            p.unlink()                  # read the CSVs back, as read_table does without Parquet
    for name, df, cols in (("requests", a.requests, REQUEST_COLUMNS),
                           ("connections", a.connections, CONNECTION_COLUMNS)):
        back = read_table(tmp_path / "out", name, cols)[df.columns.tolist()]
        text = [c for c in df.columns if isinstance(df[c].dtype, pd.StringDtype)]
        # CSV has one spelling for "" and NA (empty), as before: text compared with NA as ""
        pd.testing.assert_frame_equal(back.fillna({c: "" for c in text}),
                                      df.fillna({c: "" for c in text}), check_exact=True)


def test_tls_sample_tables_byte_identical(tmp_path):
    a = inferwire.analyze(ROOT / "captures" / "tls-rest.pcapng", workers=1,
                          tls_keylog=ROOT / "captures" / "tls-rest.keylog")
    for df in (a.requests, a.connections):
        assert len(df) and written(df, tmp_path) == pandas_bytes(df)


HEAVY = ("matplotlib", "grpc", "tensorflow", "dask", "distributed", "locust")


def test_analyze_command_imports_no_heavy_library(tmp_path):
    """``inferwire analyze`` on a sample capture, in a fresh interpreter: it wrote its tables
    and none of the libraries analysis does not use was imported, pandas included (the tables
    stay :mod:`inferwire.arrays` columns until a DataFrame is asked for)."""
    script = ("import json, sys\n"
              "from inferwire.cli import main\n"
              "code = main(sys.argv[1:])\n"
              "print(json.dumps({'code': code, 'modules': sorted(sys.modules)}))\n")
    out_dir = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-c", script, "analyze",
                           str(ROOT / "captures" / "run-b1" / "capture.pcapng"),
                           "--out", str(out_dir)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["code"] == 0
    assert (out_dir / "requests.csv").is_file() and (out_dir / "connections.parquet").is_file()
    assert "numpy" in report["modules"]           # the check sees what was imported
    heavy = sorted({m.split(".")[0] for m in report["modules"]} & set(HEAVY + ("pandas",)))
    assert heavy == []                            # pandas neither: inferwire.arrays


@pytest.mark.parametrize("seed", range(3))
def test_iso_times_as_numpy_writes_them(seed):
    """tablefiles.iso_text against numpy's datetime_as_string: random times over the whole
    datetime64[ns] range (1677-2262), days around leap years and month ends, the epoch, times
    before it, and NaT."""
    rng = np.random.default_rng(seed)
    lo, hi = np.iinfo(np.int64).min + 1, np.iinfo(np.int64).max
    edges = [np.datetime64(d, "ns").astype(np.int64) + k for d in
             ("1970-01-01", "2000-02-29", "2000-03-01", "1900-03-01", "2100-02-28", "2024-12-31",
              "2026-12-06T23:59:59.999999999", "1969-12-31T23:59:59.999999999")
             for k in (-1, 0, 1)]
    ns = np.concatenate([rng.integers(lo, hi, 20_000), rng.integers(-10**18, 2 * 10**18, 20_000),
                         np.array(edges, np.int64), [lo, hi]])
    v = ns.view("datetime64[ns]").copy()
    v[rng.random(len(v)) < 0.05] = np.datetime64("NaT")
    want = np.where(np.isnat(v), "", np.datetime_as_string(v, unit="ns", timezone="UTC"))
    assert tablefiles.iso_text(v).to_pylist() == want.tolist()


def test_the_rows_join_extension_is_built_where_ci_runs():
    if not tablefiles.accelerated():
        from needs import skip_or_fail
        skip_or_fail("inferwire._csvrows is not built (no C compiler at install: scripts/setup.sh "
                     "needs gcc and the Python headers): rows are joined by Arrow")


def _need_join():
    if not tablefiles.accelerated():
        from needs import skip_or_fail
        skip_or_fail("inferwire._csvrows is not built here: nothing to compare")


@pytest.mark.parametrize("seed", range(4))
def test_rows_joined_in_c_are_arrows_rows(seed):
    """The C join against Arrow's on columns of random cells (empty ones, an all-empty column,
    sliced and chunked arrays)."""
    import pyarrow as pa
    _need_join()
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    words = ["", "a", "grpc", 'say ""hi""', "é", "x" * 70]
    cols = [pa.array(rng.choice(words, n + 5).tolist(), pa.string()).slice(3, n),
            pa.array([""] * n, pa.string()),
            pa.chunked_array([pa.array(rng.choice(words, k).tolist(), pa.string())
                              for k in (n // 3, n - n // 3)]),
            pa.array([str(v) for v in rng.integers(-10**12, 10**12, n)], pa.string())]
    want = b"".join(buf.to_pybytes() for buf in tablefiles._joined_rows(cols, use_c=False))
    assert b"".join(tablefiles._joined_rows(cols)) == want
    assert len(tablefiles._joined_rows(cols)) == 1                   # joined in C
    # what the C join does not take (64-bit offsets, nulls) is left to Arrow
    assert tablefiles._plain_string(pa.array(["a"], pa.large_string())) is None
    assert tablefiles._plain_string(pa.array(["a", None], pa.string())) is None


def test_rows_join_rejects_offsets_that_do_not_fit():
    from inferwire._csvrows import join
    _need_join()
    ok = np.array([0, 1, 3], np.int32)
    assert join([ok, ok], [b"abc", b"xyz"], 2) == b"a,x\nbc,yz\n"
    assert join([ok], [b"abc"], 0) == b""
    with pytest.raises(ValueError, match="column 1: offsets 0..9 outside its 3 bytes"):
        join([ok, np.array([0, 1, 9], np.int32)], [b"abc", b"xyz"], 2)
    with pytest.raises(ValueError, match="column 0, row 1: offset goes backwards"):
        join([np.array([0, 2, 1], np.int32)], [b"abc"], 2)
    with pytest.raises(ValueError, match="column 0: 3 offsets, need 4"):
        join([ok], [b"abc"], 3)
    with pytest.raises(ValueError, match="one of each per column"):
        join([ok], [b"abc", b"x"], 2)


def _parquet_tables() -> list:
    """Arrow tables as the analysis writes them: a sample capture's three (the streamed one's
    messages among them) and a crafted one with nulls, NaN, timestamps and odd text."""
    out = []
    for path in (ROOT / "captures" / "run-b1" / "capture.pcapng",
                 ROOT / "tests" / "analysis" / "golden" / "captures" / "grpc_streamed.pcap"):
        a = inferwire.analyze(path, workers=1)
        out += [tablefiles.arrow_table(a.table(n)) for n in ("requests", "connections",
                                                              "messages") if len(a.table(n))]
    stamps = np.array([0, -1, 1_700_000_000_123_456_789], dtype=np.int64)
    out.append(pa.table({
        "n": pa.array([1, None, 3], pa.int64()), "x": pa.array([0.5, None, -0.0]),
        "t": pa.array(stamps, pa.timestamp("ns", tz="UTC"), mask=stamps < 0),
        "s": pa.array(['a,"b"', None, "\n"], pa.large_string()),
        "b": pa.array([True, None, False])}))
    return out


def test_parquet_by_the_compiled_writer_is_write_tables_byte_for_byte(tmp_path):
    """tablefiles.write_arrow_parquet writes without importing pyarrow.parquet (where the
    installed pyarrow is one whose write_table it copies) the bytes write_table writes."""
    major = pa.__version__.split(".")[0]
    assert (tablefiles._compiled_writer() is not None) == (major in tablefiles._WRITER_VERSIONS)
    for i, table in enumerate(_parquet_tables()):
        fast, slow = tmp_path / f"fast{i}.parquet", tmp_path / f"slow{i}.parquet"
        tablefiles.write_arrow_parquet(table, fast)
        tablefiles.write_arrow_parquet(table, slow, fast=False)
        assert fast.read_bytes() == slow.read_bytes(), i
        assert pq.read_table(fast).equals(table)


def test_a_parquet_file_the_writer_fails_on_is_removed(tmp_path, monkeypatch):
    if tablefiles._compiled_writer() is None:      # (another pyarrow: its compiled writer)
        from pyarrow._parquet import ParquetWriter
        monkeypatch.setattr(tablefiles, "_compiled_writer", lambda: ParquetWriter)
    monkeypatch.setitem(tablefiles._WRITER_OPTIONS, "compression", "no-such-codec")
    path = tmp_path / "t.parquet"
    with pytest.raises((pa.ArrowException, ValueError, TypeError)):   # (TypeError: options
        tablefiles.write_arrow_parquet(pa.table({"n": [1, 2]}), path)  # another pyarrow lacks)
    assert not path.exists()


def test_the_pandas_version_is_read_beside_the_package_as_importlib_metadata_reads_it(tmp_path):
    """The Parquet files' pandas metadata names the installed pandas, read from the METADATA of
    its wheel's dist-info without importing importlib.metadata (25 ms of every command); a
    folder with no dist-info, or two, is left to importlib.metadata."""
    from importlib import metadata
    from inferwire import tablefiles
    assert tablefiles._version_beside("pandas") == metadata.version("pandas")
    assert tablefiles._version_beside("pyarrow") == metadata.version("pyarrow")
    assert tablefiles._version_beside("no_such_package_here") is None
    for infos in ((), ("fakepkg-1.0.dist-info", "fakepkg-2.0.dist-info")):
        root = tmp_path / str(len(infos))
        (root / "fakepkg").mkdir(parents=True)
        (root / "fakepkg" / "__init__.py").write_text("")
        for info in infos:
            (root / info).mkdir()
            (root / info / "METADATA").write_text(f"Name: fakepkg\nVersion: {info[8:11]}\n\n")
        sys.path.insert(0, str(root))
        try:
            assert tablefiles._version_beside("fakepkg") is None
        finally:
            sys.path.remove(str(root))
            sys.modules.pop("fakepkg", None)
    one = tmp_path / "one"
    (one / "fakepkg2").mkdir(parents=True)
    (one / "fakepkg2" / "__init__.py").write_text("")
    (one / "fakepkg2-0.7.dist-info").mkdir()
    (one / "fakepkg2-0.7.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fakepkg2\nVersion: 0.7rc1\n\nVersion: not this\n")
    sys.path.insert(0, str(one))
    try:
        assert tablefiles._version_beside("fakepkg2") == "0.7rc1"
    finally:
        sys.path.remove(str(one))
