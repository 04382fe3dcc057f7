"""inferwire.runfolder: the one owner of a run folder's files, on the sample run and on crafted
folders (a missing, broken or foreign manifest; logs cut by a crash)."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from inferwire.columns import REQUEST_COLUMNS
from inferwire.errors import InferwireError
from inferwire.runfolder import (MANIFEST, client_log_path, load_manifest, probe_port,
                                 read_client_logs, read_manifest, read_raw_table,
                                 read_run_tables, read_server_log, read_stats_histories,
                                 read_table, run_probe_ports, write_manifest)

CAPTURES = Path(__file__).resolve().parents[2] / "captures"
RUN = CAPTURES / "run-b1"


def test_the_sample_run_through_the_owner():
    manifest = read_manifest(RUN)
    assert manifest["status"] == "ok" and load_manifest(RUN) == manifest
    probe = manifest["capture"]["probe_port"]
    assert probe_port(manifest) == probe and isinstance(probe, int)
    assert run_probe_ports(RUN) == run_probe_ports(RUN / "capture.pcapng") == (probe,)
    clients = read_client_logs(RUN)
    assert sorted(clients["workload"].unique()) == ["grpc", "rest"]
    assert client_log_path(RUN, "rest").is_file()
    server = read_server_log(RUN)
    assert server is not None and len(server) == len(read_server_log(RUN / "server_log.jsonl"))
    typed, raw = read_table(RUN, "requests", REQUEST_COLUMNS), read_raw_table(RUN, "requests")
    assert len(typed) == len(raw) == 86
    assert typed["request_start_utc"].dtype == "datetime64[ns, UTC]"
    tables = read_run_tables(RUN)
    assert tables.manifest == manifest and len(tables.joined) == 86


def test_a_folder_without_a_manifest(tmp_path):
    assert read_manifest(tmp_path) is None and load_manifest(tmp_path) == {}
    assert run_probe_ports(tmp_path) == () and read_client_logs(tmp_path) is None
    assert read_server_log(tmp_path) is None and read_stats_histories(tmp_path) is None
    with pytest.raises(InferwireError, match=f"no readable {MANIFEST}"):
        load_manifest(tmp_path, required=True)
    with pytest.raises(InferwireError, match=f"no readable {MANIFEST}"):
        read_run_tables(tmp_path)
    (tmp_path / MANIFEST).write_text("{}")
    with pytest.raises(InferwireError, match="no requests table"):
        read_run_tables(tmp_path)


@pytest.mark.parametrize("text, error", [("{not json", "cannot read the run's manifest"),
                                         ("[1, 2]", "the manifest is not a JSON object")])
def test_a_broken_manifest_is_named(tmp_path, text, error):
    (tmp_path / MANIFEST).write_text(text)
    assert read_manifest(tmp_path) is None            # lenient: "not a finished run"
    with pytest.raises(InferwireError, match=error) as got:
        load_manifest(tmp_path)
    assert str(tmp_path / MANIFEST) in str(got.value)


def test_write_manifest_replaces_the_file_whole(tmp_path):
    write_manifest(tmp_path, {"status": "running", "capture": {"probe_port": 40001}})
    write_manifest(tmp_path, {"status": "ok", "capture": {"probe_port": 40001,
                                                          "path": "capture.pcapng"}})
    assert sorted(os.listdir(tmp_path)) == [MANIFEST]          # no .tmp left behind
    assert json.loads((tmp_path / MANIFEST).read_text())["status"] == "ok"
    (tmp_path / "capture.pcapng").write_bytes(b"")
    (tmp_path / "other.pcapng").write_bytes(b"")
    assert run_probe_ports(tmp_path / "capture.pcapng") == (40001,)
    assert run_probe_ports(tmp_path / "other.pcapng") == ()    # not the run's capture
    assert run_probe_ports([tmp_path]) == ()
    write_manifest(tmp_path, {"capture": {"probe_port": "40001"}})
    assert run_probe_ports(tmp_path) == ()                      # not a port number


def test_a_server_log_line_cut_by_a_crash_is_skipped(tmp_path):
    lines = (RUN / "server_log.jsonl").read_text().splitlines()
    (tmp_path / "server_log.jsonl").write_text("\n".join(lines[:3]) + "\n" + lines[3][:17])
    assert len(read_server_log(tmp_path)) == 3


def test_locust_histories_of_a_folder_carry_their_file(tmp_path):
    shutil.copy(CAPTURES / "locust_stats_history.csv", tmp_path / "a_stats_history.csv")
    shutil.copy(CAPTURES / "locust_stats_history.csv", tmp_path / "b_stats_history.csv")
    h = read_stats_histories(tmp_path)
    assert sorted(h["source"].unique()) == ["a_stats_history.csv", "b_stats_history.csv"]
    assert {"time", "users", "total_requests", "aggregated"} <= set(h.columns)
    assert isinstance(h, pd.DataFrame) and h["aggregated"].any()
