"""Where a load tool's own figures and the wire's disagree beyond the tool's resolution
(issue 17 item 2; the real runs of every engine are in tests/report/test_every_engine.py)."""
from inferwire.compare import disagreements, resolution_ms


def row(**kw):
    base = {"tool": "t", "protocol": "rest", "requests_tool": 1000, "requests_wire": 1000,
            "throughput_tool_per_s": 500.0, "throughput_wire_per_s": 500.0,
            "p50_tool_ms": 1.5, "p50_wire_ms": 1.5, "p90_tool_ms": 2.0, "p90_wire_ms": 2.0,
            "p99_tool_ms": 3.0, "p99_wire_ms": 3.0, "latency_source": "h2load --log-file"}
    return {**base, **kw}


def test_resolution_follows_the_tool_and_locusts_rounding():
    assert resolution_ms("ab report (whole ms)", 3.0) == 1.0
    assert resolution_ms("ab -e percentiles (µs resolution)", 3.0) == 0.001
    assert resolution_ms("locust final statistics (ms, locust's rounding)", 40) == 1.0
    assert resolution_ms("locust final statistics (ms, locust's rounding)", 400) == 10.0
    assert resolution_ms("locust final statistics (ms, locust's rounding)", 4000) == 100.0
    assert resolution_ms(None, 1.0) == 1e-6                      # inferwire's ns client log


def test_agreement_within_resolution_is_not_a_disagreement():
    assert disagreements(row()) == []
    # locust says 2 ms where the wire has 1.457: within its whole-ms rounding
    assert disagreements(row(p50_tool_ms=2.0, p50_wire_ms=1.457,
                             latency_source="locust final statistics (ms)")) == []


def test_each_kind_of_disagreement_is_said():
    said = disagreements(row(p50_tool_ms=1.6, p99_tool_ms=2.5, requests_wire=900,
                             throughput_tool_per_s=550.0))
    assert len(said) == 4
    assert said[0].startswith("requests: the tool counted 1000, the capture holds 900")
    assert said[1].startswith("p50") and "0.100 ms more than the wire, beyond its 1 µs resolution" in said[1]
    assert said[2].startswith("p99") and "LESS than the wire's 3.000 ms" in said[2]
    assert said[3].startswith("throughput") and "+10.0 %" in said[3]
