"""join_requests: capture rows ⨝ client log ⨝ server log by request id (pure, small frames)."""
import pandas as pd
import pytest

approx = lambda v: pytest.approx(v, abs=1e-3)  # float epoch seconds hold ~0.2 µs at 1.7e9 s

from inferwire.columns import JOINED_COLUMNS, REQUEST_COLUMNS
from inferwire.join import join_requests

T = 1_700_000_000.0


def _frame(rows: list[dict], columns) -> pd.DataFrame:
    """Rows as a table typed like the analysis's (each column its contract dtype)."""
    return pd.DataFrame({c.name: pd.Series([r[c.name] for r in rows], dtype=object).astype(c.dtype)
                         for c in columns})


def capture_rows():
    base = {c.name: None for c in REQUEST_COLUMNS}
    rows = []
    for rid, start in (("a", 0.010), ("b", 0.020), (None, 0.030)):
        r = dict(base, connection=0, client="c", server="s", protocol="grpc", tls=False,
                 inferred=False, request_id=rid, request_start=T + start,
                 request_end=T + start + 0.001, response_start=T + start + 0.004,
                 response_end=T + start + 0.005, request_ms=1.0, wait_ms=3.0, response_ms=1.0,
                 total_ms=5.0, complete=True)
        rows.append(r)
    return _frame(rows, REQUEST_COLUMNS)


def client_log():
    return pd.DataFrame({
        "request_id": ["a", "b", "z"], "phase": ["measure", "measure", "warmup"],
        "scheduled_ns": pd.array([None, None, None], dtype="Int64"),
        "started_ns": pd.array([int((T + 0.009) * 1e9), int((T + 0.0195) * 1e9),
                                int(T * 1e9)], dtype="Int64"),
        "finished_ns": pd.array([int((T + 0.016) * 1e9), int((T + 0.026) * 1e9),
                                 int((T + 0.001) * 1e9)], dtype="Int64"),
        "ok": [True, True, False], "status": ["OK", "OK", "UNAVAILABLE"],
        "serialize_ns": pd.array([100_000, 200_000, None], dtype="Int64"),
        "workload": ["grpc", "grpc", "grpc"]})


def test_outer_join_keeps_everything_and_derives_client_times():
    server = pd.DataFrame({"request_id": ["a"], "model_time_ns": [1_500_000],
                           "queue_time_ns": [0], "server_time_ns": [2_000_000]})
    j = join_requests(capture_rows(), client_log(), server).set_index("request_id", drop=False)
    assert list(j.columns) == [c.name for c in REQUEST_COLUMNS + JOINED_COLUMNS]
    a = j.loc["a"]
    assert a["client_ms"] == approx(7.0)
    assert a["client_before_ms"] == approx(1.0)
    assert a["client_after_ms"] == approx(1.0)
    assert a["client_overhead_ms"] == approx(2.0)
    assert a["model_ms"] == pytest.approx(1.5) and a["server_ms"] == pytest.approx(2.0)
    assert a["network_and_stack_ms"] == pytest.approx(1.0)
    assert a["serialize_ms"] == pytest.approx(0.1)
    assert bool(a["in_capture"]) and bool(a["in_client_log"])
    z = j.loc["z"]                                  # logged by the client, not in the capture
    assert not bool(z["in_capture"]) and z["client_phase"] == "warmup"
    assert pd.isna(j.loc["b"]["model_ms"])
    assert j["request_id"].isna().sum() == 1        # the capture row without an id is kept
    assert len(j) == 4


def test_join_without_logs_is_the_capture_table_plus_empty_columns():
    j = join_requests(capture_rows())
    assert len(j) == 3 and j["in_capture"].all() and not j["in_client_log"].any()
    assert j["client_ms"].isna().all()
