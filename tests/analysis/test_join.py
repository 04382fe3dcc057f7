"""join_requests: capture rows ⨝ client log ⨝ server log by request id (pure, small frames)."""
import pandas as pd
import pytest

approx = lambda v: pytest.approx(v, abs=1e-3)  # float epoch seconds hold ~0.2 µs at 1.7e9 s

from inferwire.columns import JOINED_COLUMNS, REQUEST_COLUMNS
from inferwire.analysis.join import join_requests

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


def _anonymous_rows(starts_ms, client="10.0.0.1:4000"):
    """Capture rows without an id, one request at a time on one client endpoint."""
    base = {c.name: None for c in REQUEST_COLUMNS}
    rows = [dict(base, connection=0, client=client, server="10.0.0.2:8501", protocol="http/1.1",
                 tls=False, inferred=False, request_id=None, request_start=T + s / 1e3,
                 request_end=T + (s + 1) / 1e3, response_start=T + (s + 4) / 1e3,
                 response_end=T + (s + 5) / 1e3, request_ms=1.0, wait_ms=3.0,
                 response_ms=1.0, total_ms=5.0, complete=True) for s in starts_ms]
    return _frame(rows, REQUEST_COLUMNS)


def _server_rows(received_ms, model_ms, peer="10.0.0.1:4000"):
    """Server-log rows, 2 ms of handling each (reply ready = received + 2 ms)."""
    return pd.DataFrame({
        "request_id": [None] * len(received_ms), "peer": [peer] * len(received_ms),
        "ts_ns": [int((T + (r + 2) / 1e3) * 1e9) for r in received_ms],
        "server_time_ns": [2_000_000] * len(received_ms),
        "model_time_ns": [int(m * 1e6) for m in model_ms],
        "queue_time_ns": [0] * len(received_ms)})


def test_server_log_without_ids_joins_by_peer_and_order():
    # the log's lines are out of order (threads): paired in the order the replies were ready
    server = _server_rows([21.5, 1.5, 11.5], [3.0, 1.0, 2.0])
    j = join_requests(_anonymous_rows([0, 10, 20]), None, server, workloads={8501: "rest"})
    assert list(j["model_ms"]) == [1.0, 2.0, 3.0]
    assert list(j["server_join"]) == ["peer order"] * 3
    assert list(j["workload"]) == ["rest"] * 3                  # from the server port
    assert list(j["network_and_stack_ms"]) == [approx(1.0)] * 3


def test_peer_order_join_refuses_what_it_cannot_be_sure_of():
    # one more request in the log than on the wire: no pairing on that endpoint
    j = join_requests(_anonymous_rows([0, 10]), None, _server_rows([1.5, 11.5, 21.5], [1, 2, 3]))
    assert j["model_ms"].isna().all() and j["server_join"].isna().all()
    # overlapping requests (multiplexed streams): the server's order may not be the wire's
    j = join_requests(_anonymous_rows([0, 2]), None, _server_rows([1.5, 3.5], [1, 2]))
    assert j["model_ms"].isna().all()
    # another endpoint's log lines never join
    j = join_requests(_anonymous_rows([0]), None, _server_rows([1.5], [1], peer="10.0.0.9:1"))
    assert j["model_ms"].isna().all()
    # with no server port named, the workload comes from the wire protocol
    assert list(j["workload"]) == ["rest"]


def test_requests_a_stopping_server_refused_at_the_end_do_not_cost_the_peer_order_join():
    # seen in a real h2load run: the last request of a connection got grpc-status 14 from the
    # gRPC layer of a server being stopped (no handler ran, no log line): the ones before join
    wire = _anonymous_rows([0, 10, 20, 30])
    wire["protocol"] = pd.Series(["grpc"] * 4, dtype=wire["protocol"].dtype)
    wire["status"] = pd.array([200] * 4, dtype=wire["status"].dtype)
    wire["grpc_status"] = pd.array([0, 0, 0, 14], dtype=wire["grpc_status"].dtype)
    j = join_requests(wire, None, _server_rows([1.5, 11.5, 21.5], [1, 2, 3]))
    assert list(j["model_ms"][:3]) == [1.0, 2.0, 3.0] and pd.isna(j["model_ms"][3])
    assert list(j["server_join"][:3]) == ["peer order"] * 3 and pd.isna(j["server_join"][3])
    # HTTP: a 503 at the end is refused the same way
    wire = _anonymous_rows([0, 10, 20])
    wire["status"] = pd.array([200, 200, 503], dtype=wire["status"].dtype)
    j = join_requests(wire, None, _server_rows([1.5, 11.5], [1, 2]))
    assert list(j["model_ms"][:2]) == [1.0, 2.0]
    # but an extra request that was answered (or refused anywhere but at the end) is not
    # explained by a stop: the order is not certain and nothing on that endpoint joins
    wire = _anonymous_rows([0, 10, 20])
    wire["status"] = pd.array([200, 503, 200], dtype=wire["status"].dtype)
    j = join_requests(wire, None, _server_rows([1.5, 21.5], [1, 3]))
    assert j["model_ms"].isna().all() and j["server_join"].isna().all()


def test_summary_says_which_requests_have_no_server_times():
    from inferwire.experiment.summary import _unjoined
    server = _server_rows([1.5, 3.5], [1, 2])        # overlapping requests: left unjoined
    j = join_requests(_anonymous_rows([0, 2]), None, server, workloads={8501: "rest"})
    assert _unjoined(j) == []                       # nothing joined at all: nothing to compare
    j = join_requests(_anonymous_rows([0, 10]), None, _server_rows([1.5, 11.5], [1, 2]),
                      workloads={8501: "rest"})
    assert _unjoined(j) == []                       # every one joined
    both = pd.concat([j, join_requests(_anonymous_rows([0, 2], client="10.0.0.1:4001"), None,
                                       _server_rows([1.5, 3.5], [1, 2], peer="10.0.0.1:4001"),
                                       workloads={8501: "rest"})], ignore_index=True)
    (line,) = _unjoined(both)
    assert line.startswith("- **rest**: 2 of 4 requests on the wire have no server-log times")
