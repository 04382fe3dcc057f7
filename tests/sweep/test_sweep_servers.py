"""The sweep against managed real servers: the caching probe and capture points start and stop
Triton and KServe themselves and speak the Open Inference Protocol (V2); Triton's response cache
off and on is told apart by its trace (no COMPUTE stamps on a hit) and its cache-hit metrics."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from inferwire.sweep import Plan, Point, run_sweep
from inferwire.sweep.cacheprobe import run_cache_probe
from needs import need_capture, skip_or_fail
from runprocs import processes_naming

pytestmark = [pytest.mark.slow]
CACHE = 1 << 20


def _need_triton():
    from inferwire.errors import ServerError
    from inferwire.serving.triton.install import find_install
    try:
        find_install()
    except ServerError as exc:
        skip_or_fail(f"Triton is not installed: {exc}")


def _need_kserve():
    from inferwire.errors import ServerError
    from inferwire.serving.kserve.launch import kserve_python
    try:
        kserve_python()
    except ServerError as exc:
        skip_or_fail(f"KServe is not installed: {exc}")


def _deltas(setup: dict) -> dict:
    """{metric name: summed change over the setup} from the manifest's metrics facts."""
    out = {}
    for key, value in (setup.get("metrics") or {}).get("deltas", {}).items():
        name = key.split("{")[0]
        out[name] = out.get(name, 0) + value
    return out


@pytest.fixture(scope="module")
def triton_probe(tmp_path_factory):
    _need_triton()
    d = tmp_path_factory.mktemp("probe-triton")
    plan = Plan(points=(), server="triton", cache_probe=4, cache_model="softmax",
                cache_bytes=CACHE)
    return d, run_cache_probe(d, plan), pd.read_csv(d / "probe.csv")


def test_probe_starts_triton_twice_and_speaks_v2(triton_probe):
    d, manifest, probe = triton_probe
    assert manifest["status"] == "ok", manifest["problems"]
    assert manifest["config"]["api"] == "v2" and manifest["config"]["server"] == "triton"
    off, on = manifest["setups"]
    assert (off["response_cache_bytes"], on["response_cache_bytes"]) == (0, CACHE)
    assert f"--cache-config=local,size={CACHE}" in " ".join(on["argv"]) or \
        f"local,size={CACHE}" in on["argv"]
    assert not any("cache-config" in a for a in off["argv"])
    assert "response_cache" in json.dumps(on["model_config"])
    assert len(probe) == 2 * 2 * (1 + 2 * 4) and probe["ok"].all()
    assert (d / "cache-off" / "triton_trace.csv").exists()
    assert (d / "cache-on" / "triton_metrics.csv").exists()
    assert processes_naming(d) == []


def test_every_probe_request_is_joined_to_tritons_trace(triton_probe):
    d, manifest, probe = triton_probe
    assert manifest["server_log_rows_matched"] == len(probe)
    assert probe["server_ms"].notna().all()


def test_cache_hits_skip_compute_in_the_trace_and_agree_with_the_metrics(triton_probe):
    _, manifest, probe = triton_probe
    off, on = probe[probe["response_cache_bytes"] == 0], probe[probe["response_cache_bytes"] > 0]
    assert off["model_ran"].all() and off["model_ms"].notna().all()
    # with the cache: every repeated input (and gRPC's first, REST's batch again) is a hit ...
    again = on[(on["kind"] == "repeated") | ((on["kind"] == "first") & (on["protocol"] == "grpc"))]
    assert not again["model_ran"].any() and again["model_ms"].isna().all()
    # ... and every unique one (and the very first request) ran the model
    assert on.drop(again.index)["model_ran"].all()
    hits = _deltas(manifest["setups"][1])
    assert hits["nv_cache_num_hits_per_model"] == len(again)
    assert hits["nv_cache_num_misses_per_model"] == len(on) - len(again)
    assert hits["nv_inference_exec_count"] == len(on) - len(again)
    assert "nv_cache_num_hits_per_model" not in _deltas(manifest["setups"][0])


def test_probe_starts_kserve_and_speaks_v2(tmp_path):
    _need_kserve()
    plan = Plan(points=(), server="kserve", cache_probe=2, cache_model="softmax")
    manifest = run_cache_probe(tmp_path, plan)
    assert manifest["status"] == "ok", manifest["problems"]
    assert manifest["server"]["kind"] == "kserve" and manifest["config"]["api"] == "v2"
    probe = pd.read_csv(tmp_path / "probe.csv")
    assert len(probe) == 2 * 5 and probe["ok"].all()
    assert set(probe["protocol"]) == {"rest", "grpc"}
    assert processes_naming(tmp_path) == []


REQUESTS = 300          # a point's measured requests in the cache sweep test below


@pytest.mark.capture
def test_sweep_on_triton_tells_repeated_from_unique_inputs_with_the_cache_on(tmp_path):
    """Two capture points (V2 REST, cache on), repeated and unique inputs: the wire rows joined
    to Triton's trace show compute only for unique inputs; the metrics count the hits.

    The wire's verdict compares the fastest tenth of the waits of two runs made one after the
    other: the model's compute saved by the cache is 0.1-0.3 ms here, and 30 requests (about
    0.1 s) could all fall inside one burst of other work on the machine (CI failed once so).
    REQUESTS requests a point spread each run over about a second, so its fast tenth is real."""
    need_capture()
    _need_triton()
    points = tuple(Point(protocols=("rest",), api="v2", users=1, inputs=i, response_cache=CACHE)
                   for i in ("repeated", "unique"))
    plan = Plan(points=points, server="triton", duration_s=None, requests=REQUESTS,
                warmup_requests=2)
    result = run_sweep(tmp_path, plan, progress=False)
    assert result.exit_code == 0, result.failed
    table = pd.read_csv(tmp_path / "points.csv").set_index("inputs")
    assert set(table["response_cache"]) == {CACHE} and set(table["server_kind"]) == {"triton"}
    assert (table["found_in_capture"] == REQUESTS).all()
    for run_dir in result.ran:
        manifest = json.loads((run_dir / "manifest.json").read_text())
        unique = manifest["config"]["inputs"] == "unique"
        hits = _deltas(manifest["server"])["nv_cache_num_hits_per_model"]
        joined = pd.read_parquet(run_dir / "joined.parquet") if (
            run_dir / "joined.parquet").exists() else pd.read_csv(run_dir / "joined.csv")
        measured = joined[joined["client_phase"] == "measure"]
        computed = measured["triton_compute_infer_ms"].notna()
        if unique:
            assert hits == 0 and computed.all()
        else:                                   # the first warm-up request filled the cache
            assert hits == REQUESTS + 2 - 1 and not computed.any()
    assert processes_naming(tmp_path) == []
    # the findings on servers: wire, trace and metrics all say "cached"
    from inferwire.findings.servers_doc import generate_servers
    written = generate_servers([tmp_path], doc=tmp_path / "doc" / "servers.md")
    verdicts = pd.read_csv(tmp_path / "doc" / "servers" / "cache.csv")
    assert len(verdicts) == 1, verdicts
    row = verdicts.iloc[0]
    assert row["wire_says_cached"] and row["trace_says_cached"] and row["metrics_say_cached"], \
        row.to_dict()
    assert row["agree"] and row["cache_hits"] == REQUESTS + 2 - 1
    text = written[0].read_text()
    assert "TF Serving itself could not run here" in text and "all agree" in text
    assert all(p.exists() for p in written)


def test_a_response_cache_needs_triton():
    from inferwire.errors import InferwireError
    with pytest.raises(InferwireError, match="Triton"):
        Plan(points=(Point(response_cache=CACHE),), server="embedded")


@pytest.mark.capture
def test_a_kserve_sweep_point_gets_free_ports_when_the_plans_are_taken(tmp_path):
    """Other servers on a shared machine hold the plan's ports (8500/8501 by default): each
    managed KServe point is given free ones, as embedded points are."""
    import socket
    need_capture()
    _need_kserve()
    with socket.socket() as a, socket.socket() as b:
        for s in (a, b):
            s.bind(("127.0.0.1", 0))
            s.listen()
        plan = Plan(points=(Point(protocols=("rest",), api="v2", users=1),), server="kserve",
                    grpc_port=a.getsockname()[1], rest_port=b.getsockname()[1],
                    duration_s=None, requests=10, warmup_requests=2)
        result = run_sweep(tmp_path, plan, progress=False)
    assert result.exit_code == 0, result.failed
    manifest = json.loads((result.ran[0] / "manifest.json").read_text())
    assert manifest["server"]["kind"] == "kserve"
    assert manifest["server"]["rest_port"] != plan.rest_port
    assert processes_naming(tmp_path) == []


def test_probe_against_a_running_server_by_host_leaves_it_running(tmp_path):
    """``--server HOST``: the probe attaches to a server it did not start (here inferwire's,
    which also speaks V2), speaks the API asked for, and does not stop it."""
    from inferwire.serving.ports import free_ports
    from inferwire.serving.launch import ServerProcess
    from inferwire.serving.model import cached_models
    grpc_port, rest_port = free_ports(2)
    server = ServerProcess(["--model_base_path", str(cached_models() / "mnist"),
                            "--model_name", "mnist", "--port", str(grpc_port),
                            "--rest_api_port", str(rest_port)]).start()
    try:
        plan = Plan(points=(), server="127.0.0.1", grpc_port=grpc_port, rest_port=rest_port,
                    cache_probe=2, cache_model="softmax", cache_api="v2")
        manifest = run_cache_probe(tmp_path, plan)
        assert manifest["status"] == "ok", manifest["problems"]
        assert manifest["server"]["kind"] == "external" and manifest["config"]["api"] == "v2"
        probe = pd.read_csv(tmp_path / "probe.csv")
        assert len(probe) == 2 * 5 and probe["ok"].all()
        assert server.proc.poll() is None               # still running: not the probe's
    finally:
        server.stop()
