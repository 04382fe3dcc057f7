"""The findings on real servers from crafted tables (pure): the cache verdicts from the wire,
the trace and the metrics, the CPU verdict, and the side-by-side tables' rows."""
import numpy as np
import pandas as pd

from inferwire.findings import servers as S


def _requests(server, cache, inputs, wait, model, n=40, run=None):
    rng = np.random.default_rng(len(inputs) + cache)
    waits = wait * (1 + 0.05 * rng.random(n))
    return pd.DataFrame({
        "server_kind": server, "response_cache": cache, "inputs": inputs, "workload": "rest",
        "users": 1, "batch_size": 1, "model": "softmax", "client_phase": "measure",
        "in_capture": True, "complete": True, "wait_ms": waits, "server_ms": waits / 2,
        "model_ms": model, "server_join": "id", "run": run or f"{server}-{cache}-{inputs}"})


def _both(server, cache, rep_wait, rep_model, uni_wait=1.0, uni_model=0.5):
    return pd.concat([_requests(server, cache, "repeated", rep_wait, rep_model),
                      _requests(server, cache, "unique", uni_wait, uni_model)],
                     ignore_index=True)


def test_a_cache_is_seen_on_the_wire_in_the_trace_and_in_the_metrics():
    requests = pd.concat([_both("triton", 0, 1.0, 0.5), _both("triton", 16, 0.3, np.nan)],
                         ignore_index=True)
    hits = {"triton-16-repeated": {"hits": 41.0, "requests": 42.0},
            "triton-0-repeated": {"hits": 0.0, "requests": 42.0}}
    v = S.cache_verdicts(requests, hits).set_index("response_cache")
    off, on = v.loc[0], v.loc[16]
    assert not off["wire_says_cached"] and not off["trace_says_cached"]
    assert not off["metrics_say_cached"] and off["agree"]
    assert on["wire_says_cached"] and on["trace_says_cached"] and on["metrics_say_cached"]
    assert on["agree"] and on["repeated_model_skipped_pct"] == 100
    assert 0.6 < on["unique_minus_repeated_p10_wait_ms"] < 0.8 and on["ci95_low"] > 0


def test_verdicts_that_differ_are_flagged():
    # faster on the wire, but the server says the model ran every time: not a cache
    requests = _both("embedded", 0, 0.5, 0.5)
    v = S.cache_verdicts(requests, {})
    row = v.iloc[0]
    assert row["wire_says_cached"] and not row["trace_says_cached"] and not row["agree"]
    assert row["metrics_say_cached"] is None


def test_a_slower_median_alone_is_not_a_cache():
    """Load on a shared machine slows a run's median and upper tail, not its fast tail."""
    rep = _requests("triton", 0, "repeated", 0.5, 0.2)
    uni = _requests("triton", 0, "unique", 0.5, 0.2)
    uni.loc[uni.index[:30], "wait_ms"] *= 3                # 3/4 of the run disturbed
    v = S.cache_verdicts(pd.concat([rep, uni], ignore_index=True), {})
    assert not v.iloc[0]["wire_says_cached"] and v.iloc[0]["agree"]


def test_rows_not_joined_to_the_server_log_do_not_count_as_skipped():
    requests = _both("kserve", 0, 1.0, 0.5)
    requests["server_join"] = None
    t = S.cache_wire(requests)
    assert t["model_ran_pct"].isna().all()


def test_cpu_verdict_finds_the_knee():
    rows = pd.DataFrame({"users": [1, 2, 4], "throughput_per_s": [400.0, 800.0, 790.0],
                         "host_cpu_cores": [1.2, 1.9, 1.95]})
    assert S.bound(rows, 2).startswith("CPU-bound: throughput stopped growing after 2 users")
    assert "after 1 user with" in S.bound(rows.assign(throughput_per_s=[800.0, 790.0, 780.0]), 2)
    idle = rows.assign(host_cpu_cores=[0.5, 0.6, 0.7])
    assert S.bound(idle, 2).startswith("neither CPU nor wire")
    growing = rows.assign(throughput_per_s=[100.0, 200.0, 400.0])
    assert S.bound(growing, 2) == "still scaling at the largest user count"


def test_cache_hits_from_a_manifest():
    manifest = {"server": {"metrics": {"deltas": {
        'nv_cache_num_hits_per_model{model="mnist",version="1"}': 31.0,
        'nv_inference_request_success{model="mnist",version="1"}': 32.0}}}}
    assert S.cache_hits(manifest) == {"hits": 31.0, "requests": 32.0}
    assert S.cache_hits({"server": {}}) is None


def test_tables_keep_plain_points_in_server_order():
    base = {"workload": "rest", "model": "softmax", "batch_size": 1, "users": 2,
            "encoding": "v2_json", "inputs": "repeated", "response_cache": 0,
            "mean_client_ms": 1.8, "median_wait_ms": 1.0, "median_server_ms": 0.5,
            "median_model_ms": 0.25, "throughput_per_s": 100.0, "run": "r"}
    parts = {f"mean_{p}_ms": 0.2 for p in ("model", "server_other", "network", "request",
                                           "response", "handshake", "serialize",
                                           "client_before_other", "client_after")}
    points = pd.DataFrame([{**base, **parts, "server_kind": s} for s in
                           ("kserve", "triton", "embedded")]
                          + [{**base, **parts, "server_kind": "triton", "inputs": "unique"}])
    t = S.transport(points)
    assert list(t["server_kind"]) == ["embedded", "triton", "kserve"]
    assert (t["model_pct"] == 11.1).all() and (t["model_of_wait_pct"] == 25.0).all()
    # server outside the model + network and stack = 0.2 + 0.2 of the nine 0.2 ms parts
    assert (t["wait_not_model_pct"] == 22.2).all()
