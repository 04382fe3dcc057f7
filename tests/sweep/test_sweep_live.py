"""A real, tiny sweep: embedded server, dumpcap on loopback, real load; stopped after its first
point and resumed; then combined and turned into findings and a notebook that runs."""
import json
import re
import subprocess
import sys

import pandas as pd
import pytest

from inferwire.sweep import Plan, Point, run_sweep
from needs import need_capture

pytestmark = [pytest.mark.capture, pytest.mark.slow]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    need_capture()
    d = tmp_path_factory.mktemp("sweep")
    plan = Plan(points=(Point(batch_size=2, users=2),), duration_s=None, requests=15,
                warmup_requests=2, cache_probe=3, cache_model="softmax")
    first = run_sweep(d, plan, progress=False, max_points=1)      # "stopped" after one point
    second = run_sweep(d, None, resume=True, progress=False)
    return d, plan, first, second


def test_first_call_ran_one_point_and_left_the_probe(sweep):
    d, plan, first, _ = sweep
    assert not first.interrupted and not first.failed, first.failed
    assert len(first.ran) == 1 and first.remaining == 1
    run = first.ran[0]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["config"]["name"] == plan.points[0].id
    assert json.loads((run / "point.json").read_text())["batch_size"] == 2


def test_resume_skipped_the_done_point_and_ran_the_probe(sweep):
    _, _, first, second = sweep
    assert second.skipped == first.ran and len(second.ran) == 1 and second.exit_code == 0
    probe = pd.read_csv(second.ran[0] / "probe.csv")
    assert len(probe) == 2 * (1 + 2 * 3) and probe["ok"].all()
    rep, uni = probe[probe["kind"] != "unique"], probe[probe["kind"] == "unique"]
    assert rep["input_sha1"].nunique() == 1                  # the same batch every time
    # 3 unique batches per protocol, each protocol its own (new to a server caching by input)
    assert uni["input_sha1"].nunique() == 6 and not set(uni["input_sha1"]) & set(rep["input_sha1"])
    assert all(uni.groupby("protocol")["input_sha1"].nunique() == 3)
    assert probe["model_ms"].notna().all()


def test_energy_json_says_no_meter_and_gives_cpu_seconds(sweep):
    _, _, first, _ = sweep
    energy = json.loads((first.ran[0] / "energy.json").read_text())
    if energy["meter"] == "none":
        assert energy["reason"].startswith("no energy meter on this host")
        assert energy["all"]["joules_per_request"] is None
    for w in ("rest", "grpc"):
        win = energy["workloads"][w]
        assert win["requests"] == 15
        assert win["cpu_seconds"]["server"] > 0
        assert 0 < win["cpu_seconds_per_request"]["total"] < 1


def test_combined_tables(sweep):
    d, plan, first, _ = sweep
    points = pd.read_csv(d / "points.csv")
    assert sorted(points["workload"]) == ["grpc", "rest"]
    assert (points["found_in_capture"] == 15).all()
    assert set(points["encoding"]) == {"json_row", "grpc_tensor_content"}
    # the mean decomposition adds up to the client's mean latency
    # (mean_retrans_ms and mean_stall_ms are time inside the transfer parts, not parts of it)
    parts = [c for c in points if c.startswith("mean_") and c not in (
        "mean_client_ms", "mean_retrans_ms", "mean_stall_ms")]
    assert (points[parts].sum(axis=1) - points["mean_client_ms"]).abs().max() < 0.01
    requests = pd.read_parquet(d / "requests.parquet")
    assert set(requests["point"]) == {plan.points[0].id}
    assert set(requests["run"]) == {first.ran[0].name}


def test_findings_name_real_run_folders_and_the_notebook_runs(sweep, tmp_path):
    from inferwire.findings import generate
    d = sweep[0]
    written = generate(d, doc=tmp_path / "findings.md", notebook=tmp_path / "findings.ipynb")
    text = (tmp_path / "findings.md").read_text()
    runs = set(re.findall(r"`(\d{8}-\d{6}-[^`]+)`", text))
    assert runs and all((d / "runs" / r).is_dir() for r in runs)
    assert "shared 2-core machine" in text and "## 3. Caching" in text
    assert (tmp_path / "findings" / "phase_shares.png") in written
    nb = json.loads((tmp_path / "findings.ipynb").read_text())
    ns = {"display": lambda obj: None}
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            exec("".join(cell["source"]), ns)
    assert len(ns["transport"]) == 2


def test_cli_resume_of_a_finished_sweep_runs_nothing(sweep):
    d = sweep[0]
    out = subprocess.run([sys.executable, "-m", "inferwire.cli", "sweep", "--out", str(d),
                          "--resume", "--quiet"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "0 run now, 2 already done" in out.stdout
