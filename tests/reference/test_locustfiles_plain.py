"""The shipped locustfiles under plain ``locust -f`` (real locust, real server, no capture):
the seed's four user types and their four V2 (Open Inference Protocol) twins, BATCHSIZE
and SERVER read from the environment, gRPC firing request
events, ids on every request, CSVs under the --csv prefix; grpc_batch also with --processes."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from inferwire.reference.locust import read_locust_csvs, read_locust_json, read_request_logs
from inferwire.locustfiles import SHIPPED, path
from inferwire.reference.bodies import grpc_message, rest_body, v2_grpc_message, v2_rest_body

pytestmark = pytest.mark.slow
LOCUST = str(Path(sys.executable).with_name("locust"))    # the console script, as users run it


def run_plain_locust(name, model_server, tmp_path, *extra, **environ):
    env = dict(os.environ, SERVER="127.0.0.1", REST_PORT=str(model_server.rest_port),
               GRPC_PORT=str(model_server.grpc_port), BATCHSIZE="3",
               INFERWIRE_LOCUST_LOG_DIR=str(tmp_path / "events"), **environ)
    done = subprocess.run([LOCUST, "-f", str(path(name)), "--headless", "-u", "2", "-r", "2",
                           "-t", "2s", "--csv", str(tmp_path / name), "--json-file",
                           str(tmp_path / "final"), *extra],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_locustfile_runs_with_plain_locust(name, model_server, tmp_path):
    extra = ("--processes", "2") if name == "grpc_batch" else ()
    v2 = name.startswith("v2_")
    run_plain_locust(name, model_server, tmp_path, *extra,
                     **({"INFERWIRE_API": "v2"} if v2 else {}))
    # the CSVs are locust's last once-a-second snapshot (it does not rewrite them at exit): they
    # exist under the prefix and parse; the final figures are in the JSON file
    csvs = read_locust_csvs(tmp_path / name)
    assert "p50_ms" in csvs.stats and "users" in csvs.stats_history
    protocol, kind = name.removeprefix("v2_").split("_")
    batch = 1 if kind == "single" else 3
    final = read_locust_json(tmp_path / "final.json")
    assert final["method"].tolist() == ["grpc" if protocol == "grpc" else "POST"]
    label = f"v2 {protocol} infer" if v2 else f"{protocol} predict"
    assert final["name"].tolist() == [f"{label} b{batch}"]
    assert final["num_failures"].tolist() == [0]
    events = read_request_logs(tmp_path / "events")
    assert int(final["num_requests"].sum()) == len(events) > 20
    assert events["ok"].all() and events["request_id"].is_unique
    assert events["request_id"].str.startswith("locust-").all()
    if v2:   # the V2 id field carries each request's id (all ids have the same length)
        rid = events["request_id"].iloc[0]
        body = (v2_rest_body(batch, "v2_json", rid)[0] if protocol == "rest"
                else v2_grpc_message(batch, "v2_raw", "mnist", rid))
    else:
        body = rest_body(batch) if protocol == "rest" else grpc_message(batch)
    assert set(events["request_bytes"]) == {len(body)}
    if name == "grpc_batch":
        assert events["pid"].nunique() == 2          # two forked worker processes
    # locust's own response times are the event log's
    total = sum(final["total_response_time"])
    assert total == pytest.approx(events["response_time_ms"].sum(), rel=1e-9)
