"""Loading run folders and captures for reports (report.run)."""
from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from inferwire.columns import JOINED_COLUMNS, REQUEST_COLUMNS
from inferwire.errors import InferwireError
from inferwire.load import read_client_log
from inferwire.report import combined_table, load_run, load_runs
from inferwire.report.run import as_run
from report.data import CAPTURES


def test_run_folder_tables_have_the_contract_dtypes(sample_run):
    run = load_run(sample_run)
    for col in REQUEST_COLUMNS:
        assert str(run.requests[col.name].dtype) == col.dtype, col.name
    for col in JOINED_COLUMNS:
        assert col.name in run.joined
    assert run.manifest["status"] == "ok"
    assert run.capture_path == sample_run / "capture.pcapng"
    assert set(run.resources["role"]) >= {"client", "server"}
    assert run.resources["time"].between(1.6e9, 2.2e9).all()     # seconds since the epoch
    assert run.stats_history is None


def test_table_adds_batch_encoding_and_drops_warmup(sample_run):
    run = load_run(sample_run)
    logs = pd.concat([read_client_log(p) for p in sample_run.glob("client_log_*.csv")])
    measured = int((logs["phase"] == "measure").sum())
    t = run.table()
    assert len(t) == measured
    assert len(run.table(warmup=True)) == len(run.joined)
    assert (t["batch_size"] == 1).all()
    enc = dict(t.groupby("workload")["encoding"].first())
    assert enc == {"rest": "json_row", "grpc": "grpc_tensor_content"}
    assert set(t["run"]) == {"run-b1"}


def test_csv_and_parquet_give_the_same_tables(sample_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(sample_run, copy)
    from_csv = load_run(copy)
    for name in ("requests", "connections", "joined"):
        getattr(from_csv, name).to_parquet(copy / f"{name}.parquet", index=False)
    from_parquet = load_run(copy)
    for name in ("requests", "connections", "joined"):
        pd.testing.assert_frame_equal(getattr(from_csv, name), getattr(from_parquet, name))


def test_missing_tables_are_rebuilt_from_the_capture(sample_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(sample_run, copy)
    for name in ("requests.csv", "connections.csv"):
        (copy / name).unlink()
    run = load_run(copy)
    saved = load_run(sample_run)
    # the manifest's probe port is left out, as the run's own analysis did
    assert len(run.requests) == len(saved.requests)
    assert len(run.connections) == len(saved.connections)


def test_capture_file_gives_a_run_without_manifest(tls_sample):
    run = load_run(tls_sample["pcap"], tls_keylog=tls_sample["keylog"],
                   ignore_ports=(tls_sample["probe_port"],))
    assert run.manifest == {} and run.joined is None
    assert len(run.requests) == 8 and run.requests["tls"].all()
    t = run.table()
    assert t["batch_size"].isna().all() and t["encoding"].isna().all()
    assert (t["workload"] == "rest").all()


def test_bad_inputs_are_clear_errors(tmp_path, sample_run):
    with pytest.raises(InferwireError, match="no such run folder or capture file"):
        load_run(tmp_path / "nothing")
    with pytest.raises(InferwireError, match="not a run folder"):
        load_run(tmp_path)
    copy = tmp_path / "run"
    shutil.copytree(sample_run, copy)
    df = pd.read_csv(copy / "requests.csv").drop(columns=["wait_ms"])
    df.to_csv(copy / "requests.csv", index=False)
    with pytest.raises(InferwireError, match=r"requests.csv: column 'wait_ms' missing"):
        load_run(copy)
    shutil.copy(sample_run / "requests.csv", copy / "requests.csv")
    (copy / "manifest.json").write_text("{not json")
    with pytest.raises(InferwireError, match="manifest.json: cannot read"):
        load_run(copy)
    (copy / "manifest.json").write_text(json.dumps({}))
    (copy / "resources.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InferwireError, match="resources.csv: column 'time_ns' missing"):
        load_run(copy)
    with pytest.raises(InferwireError, match="cannot report on a int"):
        as_run(3)


def test_load_runs_finds_every_run_folder():
    runs = load_runs(CAPTURES)
    assert [r.name for r in runs] == ["run-b1", "run-b4", "run-new-conn"]
    table = combined_table(runs)
    assert set(table["batch_size"]) == {1, 4}
    assert len(table) == sum(len(r.table()) for r in runs)
