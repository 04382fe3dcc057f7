"""The findings on real servers, as tables (pure: DataFrames in and out): the four questions per
server, side by side, from the points and requests of one sweep per server.

``points``: the sweeps' ``points.csv`` rows (column ``server_kind``); ``requests``: their joined
rows (``requests.parquet``), also with ``server_kind``.  Times are ms, sizes bytes, CPU in cores
or CPU-ms.
A point is "plain" when it sent repeated inputs without a response cache: the transport, CPU and
encoding answers use only plain points.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .answers import bootstrap_diff, shares
from ..sweep.plan import V2_DEFAULT_ENCODING

SERVERS = ("embedded", "triton", "kserve")
#: the wire tells a cache when the fast tail (10th percentile) of repeated inputs' waits is below
#: unique ones' by at least this share (and the 95 % bootstrap interval of the difference is above
#: 0): the fast tail is what the server does when undisturbed, where medians and upper quantiles
#: of separate runs on a shared machine move with the other work on it
CACHED_GAIN = 0.35
FAST_TAIL = 0.10
#: the trace/metrics tell a cache when at least this share of repeated requests skipped the model
CACHED_SHARE = 0.5


def _plain(points: pd.DataFrame) -> pd.DataFrame:
    p = points
    return p[(p["inputs"].fillna("repeated") == "repeated") & (p["response_cache"].fillna(0) == 0)]


def _default_encoding(points: pd.DataFrame) -> pd.Series:
    return points["encoding"] == points["workload"].map(V2_DEFAULT_ENCODING)


def _order(df: pd.DataFrame, *cols: str) -> pd.DataFrame:
    rank = {s: i for i, s in enumerate(SERVERS)}
    df = df.assign(_s=df["server_kind"].map(rank)).sort_values(["_s", *cols])
    return df.drop(columns="_s") \
        .reset_index(drop=True)


def transport(points: pd.DataFrame) -> pd.DataFrame:
    """Question 1: per server, protocol, model and batch (default V2 encodings, 2 users): the
    parts of the client's mean latency (%), and the wire's median wait against the server's and
    the model's own times."""
    p = _plain(points)
    base = p[_default_encoding(p) & (p["users"] == 2)]
    parts = shares(base)
    t = base[["server_kind", "workload", "model", "batch_size", "mean_client_ms"]].join(
        parts.round(1))
    # the server outside the model + network and stack, known even where the server logs no
    # time of its own (KServe logs only the model's): what the other parts leave
    t["wait_not_model_pct"] = (100 - parts["model_pct"] - parts["transfer_pct"]
                               - parts["connection_setup_pct"] - parts["client_pct"]).round(1)
    for c in ("median_wait_ms", "median_server_ms", "median_model_ms", "throughput_per_s"):
        t[c] = base[c]
    t["model_of_wait_pct"] = (100 * base["median_model_ms"] / base["median_wait_ms"]).round(1)
    t["run"] = base["run"]
    return _order(t, "workload", "model", "batch_size")


def concurrency(points: pd.DataFrame) -> pd.DataFrame:
    """Question 2: throughput, latency and CPU against users (softmax, batch 1, default
    encodings)."""
    p = _plain(points)
    rows = p[_default_encoding(p) & (p["model"] == "softmax") & (p["batch_size"] == 1)]
    t = rows[["server_kind", "workload", "users", "throughput_per_s", "client_p50_ms",
              "server_cpu_cores", "client_cpu_cores", "host_cpu_cores", "wire_mb_per_s",
              "run"]].copy()
    t.insert(7, "server_cpu_ms_per_request", rows["server_cpu_s_per_request"] * 1000)
    return _order(t, "workload", "users")


def _users(row) -> str:
    n = int(row["users"])
    return f"{n} user{'s' if n != 1 else ''}"


def bound(rows: pd.DataFrame, cpus: int) -> str:
    """One server+workload's verdict from its concurrency rows: the knee is the first user count
    after which one more step adds less than 10 % throughput; CPU-bound when the host's cores
    were (nearly) all busy there, else bound by round trips or locks; "still scaling" without
    a knee."""
    rows = rows.sort_values("users").reset_index(drop=True)
    for i in range(1, len(rows)):
        if rows.loc[i, "throughput_per_s"] < 1.10 * rows.loc[i - 1, "throughput_per_s"]:
            knee = rows.loc[i - 1]
            if rows.loc[i - 1:, "host_cpu_cores"].max() >= 0.8 * cpus:
                return (f"CPU-bound: throughput stopped growing after {_users(knee)} with "
                        f"the host's {cpus} cores saturated")
            return (f"neither CPU nor wire saturated after {_users(knee)}: bound by round "
                    "trips or locks")
    return "still scaling at the largest user count"


def encodings(points: pd.DataFrame) -> pd.DataFrame:
    """Question 4: bytes on the wire, serialization and latency per V2 encoding at batch 32."""
    p = _plain(points)
    rows = p[(p["batch_size"] == 32) & (p["model"] == "softmax") & (p["users"] == 2)]
    cols = ["server_kind", "workload", "encoding", "median_request_bytes",
            "wire_bytes_per_request",
            "median_serialize_ms", "median_wait_ms", "median_server_ms", "median_model_ms",
            "median_client_ms", "throughput_per_s", "run"]
    return _order(rows[cols], "workload", "encoding")


def measured(requests: pd.DataFrame) -> pd.DataFrame:
    """The measured requests found complete in the capture."""
    r = requests
    return r[(r["client_phase"] == "measure") & r["in_capture"].fillna(False).astype(bool)
             & r["complete"].fillna(False).astype(bool)]


def _ran_pct(rows: pd.DataFrame) -> float:
    """% of the rows joined to the server's log (``server_join`` set) that have a model time."""
    joined = rows[rows["server_join"].notna()] if "server_join" in rows else \
        rows[rows["server_ms"].notna()]
    return 100 * joined["model_ms"].notna().mean() if len(joined) else np.nan


def cache_wire(requests: pd.DataFrame) -> pd.DataFrame:
    """Question 3 per server, response cache setup, protocol and inputs (batch 1, one user): the
    wire's wait (median, p10, p90) and the share of requests the server's log says ran the model
    (Triton: a trace with COMPUTE stamps; a cache hit has none)."""
    m = measured(requests)
    m = m[(m["users"] == 1) & (m["batch_size"] == 1) & (m["model"] == "softmax")]
    rows = []
    keys = ["server_kind", "response_cache", "workload", "inputs"]
    for key, g in m.groupby(keys, sort=False):
        w = g["wait_ms"].astype(float)
        rows.append({**dict(zip(keys, key)), "requests": len(g),
                     "median_wait_ms": w.median(), "p10_wait_ms": w.quantile(0.1),
                     "p90_wait_ms": w.quantile(0.9),
                     "median_model_ms": g["model_ms"].astype(float).median(),
                     "model_ran_pct": _ran_pct(g),
                     "run": g["run"].iloc[0]})
    if not rows:
        return pd.DataFrame()
    return _order(pd.DataFrame(rows), "response_cache", "workload", "inputs")


def bootstrap_quantile_diff(a: np.ndarray, b: np.ndarray, q: float, n: int = 2000,
                            seed: int = 0):
    """(quantile q of b - quantile q of a, its 95 % bootstrap interval); NaNs when a side is
    empty."""
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) == 0 or len(b) == 0:
        return np.nan, (np.nan, np.nan)
    rng = np.random.default_rng(seed)
    diffs = (np.quantile(rng.choice(b, (n, len(b))), q, axis=1)
             - np.quantile(rng.choice(a, (n, len(a))), q, axis=1))
    return float(np.quantile(b, q) - np.quantile(a, q)), tuple(np.percentile(diffs, [2.5, 97.5]))


def cache_verdicts(requests: pd.DataFrame, hits: dict[str, dict]) -> pd.DataFrame:
    """Per server, cache setup and protocol: does the wire alone say "cached" (repeated inputs'
    fast-tail wait below unique ones' by CACHED_GAIN, bootstrap interval above 0), does the
    server's trace (share of repeated requests without model time), and do the cache metrics
    (``hits``: run folder -> {"hits", "requests"}, Triton's nv_cache_num_hits_per_model change
    and the run's requests)?  ``agree``: the three (or two, without metrics) say the same."""
    m = measured(requests)
    m = m[(m["users"] == 1) & (m["batch_size"] == 1) & (m["model"] == "softmax")]
    rows = []
    for (server, cache, workload), g in m.groupby(["server_kind", "response_cache", "workload"],
                                                  sort=False):
        rep, uni = g[g["inputs"] == "repeated"], g[g["inputs"] == "unique"]
        if rep.empty or uni.empty:
            continue
        diff, (lo, hi) = bootstrap_quantile_diff(rep["wait_ms"].to_numpy(float),
                                                 uni["wait_ms"].to_numpy(float), FAST_TAIL)
        wire = bool(lo > 0 and diff > CACHED_GAIN * uni["wait_ms"].quantile(FAST_TAIL))
        skipped = 100 - _ran_pct(rep)
        trace = bool(skipped >= 100 * CACHED_SHARE)
        h = hits.get(rep["run"].iloc[0])
        metric = None if h is None else bool(h["hits"] >= CACHED_SHARE * h["requests"])
        says = [wire, trace] + ([] if metric is None else [metric])
        rows.append({"server_kind": server, "response_cache": cache, "workload": workload,
                     "unique_minus_repeated_p10_wait_ms": diff, "ci95_low": lo, "ci95_high": hi,
                     "wire_says_cached": wire, "repeated_model_skipped_pct": skipped,
                     "trace_says_cached": trace,
                     "cache_hits": None if h is None else h["hits"],
                     "run_requests": None if h is None else h["requests"],
                     "metrics_say_cached": metric, "agree": len(set(says)) == 1,
                     "run_repeated": rep["run"].iloc[0], "run_unique": uni["run"].iloc[0]})
    return _order(pd.DataFrame(rows), "response_cache", "workload") if rows else pd.DataFrame()


def cache_hits(manifest: dict) -> dict | None:
    """{"hits", "requests"} of a Triton run from its manifest's metrics deltas and loads (all
    requests Triton saw, warm-up included, as the counters count them); None without them."""
    deltas = ((manifest.get("server") or {}).get("metrics") or {}).get("deltas") or {}
    hits = [v for k, v in deltas.items() if k.startswith("nv_cache_num_hits_per_model")]
    ok = [v for k, v in deltas.items() if k.startswith("nv_inference_request_success")]
    if not ok:
        return None
    return {"hits": float(sum(hits)), "requests": float(sum(ok))}


def probe_table(probe: pd.DataFrame) -> pd.DataFrame:
    """The caching probe per server, cache setup and protocol: repeated vs unique inputs, one
    request at a time (client latency and the server's model time, medians)."""
    ok = probe[probe["ok"].astype(str).str.lower() == "true"]
    rows = []
    keys = ["server_kind", "response_cache_bytes", "protocol"]
    for key, g in ok.groupby(keys, sort=False):
        rep, uni = g[g["kind"] == "repeated"], g[g["kind"] == "unique"]
        diff, (lo, hi) = bootstrap_diff(rep["client_ms"].to_numpy(float),
                                        uni["client_ms"].to_numpy(float))
        ran = g["model_ran"].astype(str).str.lower()
        rows.append({**dict(zip(keys, key)), "n_per_kind": len(rep),
                     "repeated_client_ms": rep["client_ms"].median(),
                     "unique_client_ms": uni["client_ms"].median(),
                     "repeated_server_ms": rep["server_ms"].median(),
                     "unique_server_ms": uni["server_ms"].median(),
                     "unique_minus_repeated_ms": diff, "ci95_low": lo, "ci95_high": hi,
                     "repeated_model_ms": rep["model_ms"].median(),
                     "unique_model_ms": uni["model_ms"].median(),
                     "repeated_model_ran_pct": 100 * (ran[rep.index] == "true").mean(),
                     "run": g["run"].iloc[0]})
    return pd.DataFrame(rows)
