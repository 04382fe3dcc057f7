"""Triton's Prometheus text read into samples; counters' run deltas (pure)."""
import pandas as pd

from inferwire.serving.triton.metrics import counter_deltas, parse_prometheus

TEXT = """# HELP nv_inference_request_success Number of successful inference requests
# TYPE nv_inference_request_success counter
nv_inference_request_success{model="mnist",version="1"} 7
# TYPE nv_cpu_utilization gauge
nv_cpu_utilization 0.5
# TYPE other_metric counter
other_metric 3
nv_broken{model="x"} not-a-number
"""


def test_parse_keeps_nv_samples_with_their_type():
    assert parse_prometheus(TEXT) == [
        ("nv_inference_request_success", "counter", 'model="mnist",version="1"', 7.0),
        ("nv_cpu_utilization", "gauge", "", 0.5)]


def test_counter_deltas_are_last_minus_first_and_skip_gauges():
    rows = [(t, *s) for t, text in ((1, TEXT), (2, TEXT.replace("} 7", "} 19")
                                                .replace("0.5", "0.9")))
            for s in parse_prometheus(text)]
    df = pd.DataFrame(rows, columns=["ts_ns", "metric", "type", "labels", "value"])
    assert counter_deltas(df) == {
        'nv_inference_request_success{model="mnist",version="1"}': 12.0}
