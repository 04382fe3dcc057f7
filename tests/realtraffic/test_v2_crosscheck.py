"""The Open Inference Protocol (KServe V2) on real loopback traffic: inferwire's V2 clients
against the embedded server's V2 endpoints (REST JSON and binary extension, gRPC ModelInfer
typed and raw, and failing calls), captured with dumpcap and cross-checked with Wireshark's
dissectors: every call is found by its x-request-id, its boundaries are tshark's, the V2 ``id``
field seen on the wire is the request id, and each failure's error message is the one tshark
shows in the response (JSON body / grpc-message trailer)."""
from __future__ import annotations

import pandas as pd
import pytest

from . import wireshark
from .compare import report, row_mismatches
from .conftest import run_captured

pytestmark = [pytest.mark.tshark, pytest.mark.capture, pytest.mark.slow]

V2_GRPC = "/inference.GRPCInferenceService/ModelInfer"
COLUMNS = ("method", "path", "status", "grpc_status", "request_id", "request_bytes",
           "response_bytes", "request_frame", "response_frame", "request_start", "request_end",
           "response_start", "response_end", "complete")
#: (encoding, model, input name) of each call; the failing ones name a model or an input that
#: does not exist
PLAN = {"rest": [("v2_json", "mnist", "images"), ("v2_binary", "mnist", "images"),
                 ("v2_json", "no_such_model", "images"), ("v2_binary", "mnist", "pixels")],
        "grpc": [("v2_raw", "mnist", "images"), ("v2_fp32_contents", "mnist", "images"),
                 ("v2_raw", "no_such_model", "images"), ("v2_fp32_contents", "mnist", "pixels")]}
ROUNDS = 5


@pytest.fixture(scope="module")
def v2_server():
    from inferwire.serving import ModelConfig, ModelServer, ServerConfig, cached_models
    base = cached_models()
    with ModelServer(ServerConfig(models=(ModelConfig("mnist", str(base / "mnist")),),
                                  grpc_port=0, rest_port=0)) as server:
        yield server


def _traffic(protocol: str, port: int) -> list[dict]:
    """ROUNDS rounds of PLAN's calls, one client (one connection) per kind of call."""
    from inferwire.serving.clients import make_client, sample_images
    images = sample_images(2, seed=4)
    clients = [make_client(protocol, port=port, encoding=enc, model_name=model, input_name=name)
               for enc, model, name in PLAN[protocol]]
    records = []
    try:
        for r in range(ROUNDS):
            for k, client in enumerate(clients):
                res = client.predict(images, f"v2-{protocol}-{r}-{k}")
                records.append({"request_id": res.request_id, "ok": res.ok,
                                "model": client.model_name,
                                "status": res.status, "error": res.error,
                                "request_bytes": res.request_bytes})
    finally:
        for c in clients:
            c.close()
    return records


@pytest.fixture(scope="module")
def rest_cap(out_dir, v2_server):
    port = v2_server.rest_port
    return run_captured(out_dir, "v2-rest", (port,), lambda: _traffic("rest", port))


@pytest.fixture(scope="module")
def grpc_cap(out_dir, v2_server):
    port = v2_server.grpc_port
    return run_captured(out_dir, "v2-grpc", (port,), lambda: _traffic("grpc", port))


def _by_id(cap) -> pd.DataFrame:
    req = cap.analysis.requests
    assert len(req) == len(cap.records) == ROUNDS * 4
    assert req["request_id"].is_unique
    return req.set_index("request_id")


@pytest.mark.parametrize("which", ["rest_cap", "grpc_cap"])
def test_every_v2_call_found_with_its_error(which, request):
    cap = request.getfixturevalue(which)
    req = _by_id(cap)
    for rec in cap.records:
        row = req.loc[rec["request_id"]]
        assert row["path"] == (f"/v2/models/{rec['model']}/infer" if which == "rest_cap"
                               else V2_GRPC)
        assert bool(row["complete"])
        if which == "rest_cap":
            assert str(row["status"]) == rec["status"]
            assert row["request_bytes"] == rec["request_bytes"]
        else:
            assert row["status"] == 200
            assert row["grpc_status"] == {"OK": 0, "NOT_FOUND": 5,
                                          "INVALID_ARGUMENT": 3}[rec["status"]]
            assert row["request_bytes"] == rec["request_bytes"] + 5      # gRPC prefix
        if rec["ok"]:
            assert pd.isna(row["error"])
        else:   # the wire's message is the one the client decoded
            assert row["error"] == rec["error"]
    errors = set(req["error"].dropna())
    assert errors == {"model 'no_such_model' is not found",
                      "model 'mnist' has no signature taking inputs {pixels}; it takes "
                      "{images} or {images_bytes}"}


def test_v2_rest_boundaries_ids_and_error_bodies_agree_with_tshark(rest_cap):
    ref = wireshark.http1_rows(rest_cap.path, rest_cap.ports, rest_cap.probe_port,
                               rest_cap.times, rest_cap.lengths)
    problems = row_mismatches(rest_cap.analysis.requests, ref, COLUMNS)
    assert not problems, report(problems)
    # the V2 id field of each JSON request body, as Wireshark's JSON dissector reads it
    packets = wireshark.tshark_fields(
        rest_cap.path, ["http.request.line", "json.member_with_value", "http.file_data"],
        f"http.request && {wireshark.exclude(rest_cap.probe_port)}",
        wireshark.decode_args(rest_cap.ports, "http"))
    json_ids = {}
    for p in packets:
        rid = wireshark.header(p.get("http.request.line"), "x-request-id")
        members = [m for m in p.get("json.member_with_value", []) if m.startswith("id:")]
        json_ids[rid] = members[0][3:] if members else None
    assert len(json_ids) == ROUNDS * 4
    json_body = {rid: v for rid, v in json_ids.items() if v is not None}
    assert len(json_body) >= ROUNDS * 2         # the v2_json calls at least (binary: no JSON type)
    assert all(v == rid for rid, v in json_body.items())
    # error responses: tshark's JSON "error" member is inferwire's error column
    responses = wireshark.tshark_fields(
        rest_cap.path, ["http.response.code", "json.member_with_value", "http.request_in"],
        f"http.response.code >= 400 && {wireshark.exclude(rest_cap.probe_port)}",
        wireshark.decode_args(rest_cap.ports, "http"))
    assert len(responses) == ROUNDS * 2
    req = rest_cap.analysis.requests
    theirs = sorted(m[len("error:"):] for p in responses
                    for m in p["json.member_with_value"] if m.startswith("error:"))
    assert theirs == sorted(req["error"].dropna())


def test_v2_grpc_streams_and_grpc_messages_agree_with_tshark(grpc_cap):
    frames = wireshark.h2_frames(grpc_cap.path, grpc_cap.ports, grpc_cap.probe_port)
    ref = wireshark.h2_rows(frames, grpc_cap.streams, grpc_cap.times)
    problems = row_mismatches(grpc_cap.analysis.requests, ref, COLUMNS)
    assert not problems, report(problems)
    # grpc-message trailers as tshark decodes them (percent-encoded on the wire)
    from urllib.parse import unquote
    trailers = [f.headers["grpc-message"] for f in frames
                if not f.from_client and f.headers.get("grpc-message")]
    assert len(trailers) == ROUNDS * 2
    assert sorted(unquote(t) for t in trailers) == sorted(grpc_cap.analysis.requests["error"]
                                                         .dropna())
    # the V2 id field inside each ModelInferRequest: the request id's bytes are in the
    # DATA frames of its stream (protobuf field 3, a string)
    data = wireshark.tshark_fields(grpc_cap.path, ["http2.streamid", "http2.data.data"],
                                   f"http2.type == 0 && tcp.dstport in {{{grpc_cap.ports[0]}}}",
                                   [*wireshark.decode_args(grpc_cap.ports, "http2"),
                                    "--disable-protocol", "grpc"])
    payload = "".join(v.replace(":", "") for p in data for v in p.get("http2.data.data", []))
    for rid in grpc_cap.analysis.requests["request_id"]:
        field = bytes([0x1a, len(rid)]) + rid.encode()          # tag 3, wire type 2
        assert field.hex() in payload, rid
