"""The load engines over the Open Inference Protocol (``api="v2"``) under a real capture against
the embedded server: locust's V2 users (joined by id), ab with the binary tensor extension (by
count) and h2load with V2 gRPC ModelInfer and V2 REST (by time); every request on the wire at a
V2 path and answered OK."""
import pytest

from inferwire.compare import id_pairs, time_pairs, window_requests
from inferwire.runfolder import read_run_tables
from inferwire.reference.locust import read_request_logs
from inferwire.reference.bodies import v2_grpc_message

pytestmark = [pytest.mark.capture, pytest.mark.slow]
V2_GRPC = "/inference.GRPCInferenceService/ModelInfer"
V2_REST = "/v2/models/mnist/infer"


def test_locust_v2_grpc_users_every_request_in_the_capture_by_id(capture_run):
    result = capture_run("locust", "grpc", api="v2", duration_s=2, batch_size=3,
                         encoding=("v2_fp32_contents",))
    d = result.run_dir
    events = read_request_logs([d / "v2_grpc_batch_requests.csv"])
    assert len(events) > 30 and events["ok"].all()
    assert (events["name"] == "v2 grpc infer b3").all()
    rid = events["request_id"].iloc[0]
    assert set(events["request_bytes"]) == {len(v2_grpc_message(3, "v2_fp32_contents",
                                                                "mnist", rid))}
    pairs, missing = id_pairs(read_run_tables(d), "grpc")
    assert missing == 0 and len(pairs) == len(events)
    assert (pairs["wire_ms"] <= pairs["tool_ms"] + 0.001).all()
    j = result.joined
    measured = j[j["client_phase"] == "measure"]
    assert (measured["path"] == V2_GRPC).all() and (measured["grpc_status"] == 0).all()


def test_ab_v2_binary_every_request_in_the_capture(capture_run):
    result = capture_run("ab", "rest", api="v2", encoding=("v2_binary",), requests=200,
                         duration_s=None)
    tables = read_run_tables(result.run_dir)
    load = tables.manifest["loads"]["rest"]
    wire = window_requests(tables, "rest")
    assert load["requests"] == load["ok"] == len(wire) == 200
    assert (wire["path"] == V2_REST).all() and (wire["status"] == 200).all()
    body = (result.run_dir / "ab_rest_body.json").read_bytes()
    assert (wire["request_bytes"] == len(body)).all() and len(body) > 784 * 4


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_h2load_v2_every_request_in_the_capture(capture_run, protocol):
    result = capture_run("h2load", protocol, api="v2", requests=150, duration_s=None)
    tables = read_run_tables(result.run_dir)
    match = time_pairs(tables, protocol)
    assert match.complete, (match.unmatched_tool[:5], match.unmatched_wire[:5])
    assert len(match.pairs) == tables.manifest["loads"][protocol]["requests"] == 150
    wire = window_requests(tables, protocol)
    if protocol == "grpc":   # h2load sees only HTTP 200: the call itself must have worked
        assert (wire["path"] == V2_GRPC).all() and (wire["grpc_status"] == 0).all()
    else:
        assert (wire["path"] == V2_REST).all() and (wire["status"] == 200).all()
