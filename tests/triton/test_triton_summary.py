"""The summary's Triton section (pure): the parts add up to the client's time; metrics beside."""
import pandas as pd
import pytest

from inferwire.serving.triton.summary import PARTS, triton_section


def _joined():
    return pd.DataFrame({
        "workload": ["rest", "rest"], "triton_trace_id": [1, 2], "in_capture": [True, True],
        "triton_joined_by": ["request_id", "request_id"],
        "client_ms": [3.0, 5.0], "total_ms": [2.0, 3.0], "triton_server_ms": [1.0, 2.0],
        "triton_frontend_ms": [0.2, 0.4], "triton_queue_ms": [0.1, 0.3],
        "triton_compute_input_ms": [0.05, 0.05], "triton_compute_infer_ms": [0.5, 1.0],
        "request_end": [10.0, 20.0], "triton_recv_end": [10.0001, 20.0001],
        "triton_send_start": [10.0009, 20.0019], "response_start": [10.001, 20.002]})


def test_parts_add_up_to_the_clients_mean():
    j = _joined()
    parts = sum(fn(j).mean() for _, fn in PARTS)
    assert parts == pytest.approx(j["client_ms"].mean())
    assert all((fn(j) >= 0).all() for _, fn in PARTS)


def test_section_has_the_table_the_shares_and_the_metrics():
    manifest = {"server": {"metrics": {"deltas": {
        'nv_inference_request_success{model="mnist",version="1"}': 2.0,
        'nv_inference_exec_count{model="mnist",version="1"}': 1.0,
        'nv_inference_queue_duration_us{model="mnist",version="1"}': 400.0,
        'nv_inference_compute_infer_duration_us{model="mnist",version="1"}': 1500.0}}}}
    text = "\n".join(triton_section(_joined(), manifest))
    assert "| rest | 2 | 4.000 | 1.500 | 1.000 | 0.300 | 0.200 | 0.800 | 0.200 |" in text
    assert "of the client's 4.000 ms (mean): client outside the wire 38 %" in text
    assert "(2 joined by request id, the others by time)" in text
    assert "100.000 % have Triton's receive-end and send-start inside" in text
    assert "2 successful requests in 1 executions; per request 0.200 ms queued, 0.750 ms" in text


def test_section_counts_response_cache_hits_only_with_a_cache():
    deltas = {'nv_inference_request_success{model="mnist",version="1"}': 40.0,
              'nv_inference_exec_count{model="mnist",version="1"}': 1.0}
    plain = "\n".join(triton_section(_joined(), {"server": {"metrics": {"deltas": deltas}}}))
    assert "response cache" not in plain
    deltas = {**deltas, 'nv_cache_num_hits_per_model{model="mnist",version="1"}': 39.0,
              'nv_cache_num_misses_per_model{model="mnist",version="1"}': 1.0}
    text = "\n".join(triton_section(_joined(), {"server": {"metrics": {"deltas": deltas}}}))
    assert "Triton's response cache: 39 hits (97.5 % of the successful requests" in text
    assert "and 1 misses" in text


def test_a_streamed_run_says_what_the_parts_mean():
    plain = "\n".join(triton_section(_joined(), {"config": {"stream_tokens": None}}))
    streamed = "\n".join(triton_section(_joined(), {"config": {"stream_tokens": 8}}))
    assert "streamed from Triton's decoupled model" not in plain
    assert "These requests streamed from Triton's decoupled model" in streamed
