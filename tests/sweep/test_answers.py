"""The findings' answer tables on small points tables with known values."""
import numpy as np
import pandas as pd
import pytest

from inferwire.findings import answers as A
from inferwire.findings.markdown import cell, table


def point(workload="rest", users=2, encoding=None, batch=1, model="softmax", conn="reuse",
          tput=100.0, run="r", **kw):
    enc = encoding or {"rest": "json_row", "grpc": "grpc_tensor_content"}[workload]
    row = dict(workload=workload, model=model, batch_size=batch, encoding=enc, users=users,
               rate=np.nan, connection=conn, throughput_per_s=tput, run=run, client_p50_ms=1.0,
               server_cpu_cores=0.5, client_cpu_cores=0.5, host_cpu_cores=1.0,
               cpu_s_per_request=0.002, server_cpu_s_per_request=0.001, wire_mb_per_s=1.0,
               median_wait_ms=2.0, median_server_ms=1.5, median_model_ms=1.0,
               mean_serialize_ms=0.5, mean_handshake_ms=0.0, mean_client_before_other_ms=0.5,
               mean_request_ms=0.5, mean_model_ms=4.0, mean_server_other_ms=1.0,
               mean_network_ms=1.0, mean_response_ms=0.5, mean_client_after_ms=2.0,
               mean_client_ms=10.0, first_client_ms=50.0, median_client_ms=5.0,
               first_model_ms=30.0, median_request_bytes=100.0, wire_bytes_per_request=200.0,
               median_serialize_ms=0.1, median_total_ms=3.0)
    row.update(kw)
    return row


def test_shares_add_up_to_100_and_transport_is_its_parts():
    t = A.transport_table(pd.DataFrame([point()]))
    row = t.iloc[0]
    parts = ["model_pct", "server_other_pct", "network_and_stack_pct", "transfer_pct",
             "connection_setup_pct", "client_pct"]
    assert sum(row[p] for p in parts) == pytest.approx(100.0)
    assert row["model_pct"] == 40.0 and row["transport_pct"] == 20.0   # 1 + 0.5 + 0.5 of 10
    assert row["model_of_wait_pct"] == 50.0 and row["run"] == "r"


def test_transport_table_keeps_default_encodings_at_two_users_only():
    pts = pd.DataFrame([point(), point(users=4), point(encoding="json_b64")])
    assert len(A.transport_table(pts)) == 1


def test_knee_is_the_last_step_before_gains_fall_under_10_percent():
    rows = [point(users=u, tput=t, run=f"u{u}") for u, t in ((1, 100), (2, 180), (4, 190),
                                                           (8, 185))]
    rows += [point("grpc", users=u, tput=t) for u, t in ((1, 100), (2, 200), (4, 400))]
    table = A.concurrency_table(pd.DataFrame(rows))
    knees = A.knee(table)
    assert knees["rest"]["users"] == 2 and knees["rest"]["run"] == "u2"
    assert knees["grpc"] is None


def test_varying_groups_only_points_differing_in_that_axis():
    pts = pd.DataFrame([point(encoding="json_row", batch=32), point(encoding="json_b64", batch=32),
                        point(encoding="json_columnar", batch=1)])
    t = A.encoding_table(pts)
    assert sorted(t["encoding"]) == ["json_b64", "json_row"]


def probe_rows(repeated_model, unique_model, n=20):
    rng = np.random.default_rng(1)
    rows = [dict(protocol="grpc", kind="first", input_sha1="aaa", client_ms=80.0, model_ms=60.0,
                 server_ms=61.0, ok=True)]
    for i in range(n):
        for kind, base, sha in (("repeated", repeated_model, "aaa"),
                                ("unique", unique_model, f"u{i}")):
            m = base * (1 + 0.05 * rng.standard_normal())
            rows.append(dict(protocol="grpc", kind=kind, input_sha1=sha, client_ms=m + 2,
                             model_ms=m, server_ms=m + 0.2, ok=True))
    return pd.DataFrame(rows)


def test_cache_verdict_sees_a_cache_when_repeats_skip_the_model():
    t = A.cache_table(probe_rows(0.05, 3.0))
    assert "cache is likely" in A.cache_verdict(t)
    model = t[t["measure"] == "model_ms"].iloc[0]
    assert model["repeated_inputs_distinct"] == 1 and model["unique_inputs_distinct"] == 20
    assert model["ci95_low"] > 2.5


def test_cache_verdict_no_cache_when_alike():
    t = A.cache_table(probe_rows(3.0, 3.0))
    assert A.cache_verdict(t).startswith("no sign of a result cache")


def test_probe_cold_against_warm():
    t = A.probe_cold(probe_rows(3.0, 3.0))
    assert t.iloc[0]["first_client_ms"] == 80.0 and t.iloc[0]["warm_model_ms"] == pytest.approx(
        3.0, rel=0.1)


def test_markdown_cells_and_tables():
    assert cell(None) == "" and cell(np.nan) == "" and cell(3.0) == "3"
    assert cell(28.9123) == "28.9" and cell(0.012345) == "0.0123" and cell(12345.6) == "12346"
    md = table(pd.DataFrame({"a": [1.5], "run": ["x-1"]}))
    assert md.splitlines()[2] == "| 1.5 | `x-1` |"
    assert "no rows" in table(pd.DataFrame())


def test_inputs_table_pairs_repeated_and_unique_points():
    pts = pd.DataFrame([point(users=1, inputs="repeated", run="a"),
                        point(users=1, inputs="unique", median_model_ms=3.0, run="b"),
                        point(users=2, inputs="repeated", run="c")])
    t = A.inputs_table(pts)
    assert list(t["inputs"]) == ["repeated", "unique"] and list(t["run"]) == ["a", "b"]
    assert list(t["median_model_ms"]) == [1.0, 3.0]
    assert A.inputs_table(pd.DataFrame([point()])).empty
