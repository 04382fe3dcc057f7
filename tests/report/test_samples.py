"""The sample data in captures/: small, documented, and what the README says it is."""
from __future__ import annotations

import json

import pytest

from inferwire.report import load_run
from report.data import CAPTURES

MAX_BYTES = 2 * 1024 * 1024
RUNS = {"run-b1": (1, "reuse"), "run-b4": (4, "reuse"), "run-new-conn": (1, "new")}


def test_every_sample_is_small_and_documented():
    readme = (CAPTURES / "README.md").read_text()
    for path in CAPTURES.rglob("*"):
        if path.is_file():
            assert path.stat().st_size < MAX_BYTES, path
    for name in (*RUNS, "tls-rest.pcapng", "tls-rest.keylog", "locust_stats_history.csv",
                 "make_samples.py"):
        assert f"`{name}" in readme, name


@pytest.mark.parametrize("name", sorted(RUNS))
def test_sample_runs_are_what_they_claim(name):
    batch, connection = RUNS[name]
    run = load_run(CAPTURES / name)
    cfg = run.manifest["config"]
    assert (cfg["batch_size"], cfg["connection"]) == (batch, connection)
    assert run.manifest["status"] == "ok" and run.manifest["capture"]["dropped"] == 0
    assert set(run.requests["protocol"]) == {"grpc", "http/1.1"}
    assert run.requests["complete"].all()
    t = run.table()
    assert t["in_capture"].all() and t["in_client_log"].all()   # every request joined
    if connection == "new":
        assert len(run.connections) == len(run.requests)


def test_tls_sample_decrypts_with_its_key_log():
    info = json.loads((CAPTURES / "tls-rest.json").read_text())
    run = load_run(CAPTURES / "tls-rest.pcapng", tls_keylog=CAPTURES / "tls-rest.keylog",
                   ignore_ports=(info["probe_port"],))
    assert len(run.requests) == 8 and run.requests["complete"].all()
    assert run.requests["path"].eq("/v1/models/mnist:predict").all()   # decrypted, not inferred
    assert not run.requests["inferred"].any()
