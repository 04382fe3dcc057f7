"""Capture runs over the Open Inference Protocol (``--api v2``) against the embedded server:
real dumpcap capture on loopback, real clients, every request found on the wire by its id."""
import json

import pandas as pd
import pytest

from inferwire.experiment import RunConfig, run_experiment
from inferwire.experiment.cli import config_from_args
from inferwire.errors import InferwireError
from inferwire.serving.ports import free_ports
from needs import need_capture

pytestmark = [pytest.mark.capture, pytest.mark.slow]


@pytest.mark.parametrize("encodings", [("v2_json", "v2_raw"), ("v2_binary", "v2_fp32_contents")])
def test_v2_run_every_request_on_the_wire_with_its_id(tmp_path, encodings):
    need_capture()
    grpc_port, rest_port = free_ports(2)
    result = run_experiment(RunConfig(out=str(tmp_path), api="v2", encoding=encodings,
                                      grpc_port=grpc_port, rest_port=rest_port, requests=30,
                                      duration_s=None, users=2, warmup_requests=3,
                                      progress=False))
    assert result.status == "ok", result.problems
    d = result.run_dir
    assert d.name.endswith("v2-rest-grpc-b1-reuse")
    j = result.joined
    measured = j[j["in_client_log"] & (j["client_phase"] == "measure")]
    assert len(measured) == 60 and measured["in_capture"].all()
    assert measured["client_ok"].all()
    paths = measured.groupby("workload")["path"].unique()
    assert list(paths["rest"]) == ["/v2/models/mnist/infer"]
    assert list(paths["grpc"]) == ["/inference.GRPCInferenceService/ModelInfer"]
    assert (measured["client_ms"] >= measured["total_ms"]).all()
    assert (measured["server_ms"] <= measured["wait_ms"] + 0.05).all()
    # the V2 id field carried the same id as the header / metadata the capture saw
    log = pd.read_json(d / "server_log.jsonl", lines=True)
    infer = log[log["method"].isin(["ModelInfer", "POST /v2/models/mnist/infer"])]
    assert len(infer) == 66 and (infer["v2_id"] == infer["request_id"]).all()
    assert set(infer["request_id"]) >= set(measured["request_id"])
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["config"]["api"] == "v2" and manifest["capture"]["dropped"] == 0
    client = pd.read_csv(d / "client_log_rest.csv")
    sizes = client.loc[client["phase"] == "measure", "request_bytes"]
    # v2_json writes floats as text; v2_binary sends 784 raw float32 plus a JSON header
    assert (sizes > 6000).all() if encodings[0] == "v2_json" else sizes.between(3136, 3536).all()


def test_api_option_reaches_the_config_and_checks_encodings():
    import argparse

    from inferwire.experiment.cli import add_run_arguments
    p = argparse.ArgumentParser()
    add_run_arguments(p)
    cfg = config_from_args(p.parse_args(["--api", "v2", "--encoding", "v2_binary",
                                         "--input-name", "INPUT__0", "--output-name", "OUT"]))
    assert (cfg.api, cfg.encoding_for("rest"), cfg.encoding_for("grpc")) == ("v2", "v2_binary",
                                                                            None)
    assert cfg.client_options() == {"api": "v2", "input_name": "INPUT__0", "output_name": "OUT"}
    with pytest.raises(InferwireError, match="not one of the tfserving API's"):
        config_from_args(p.parse_args(["--encoding", "v2_json"]))
    with pytest.raises(InferwireError, match="not one of the v2 API's"):
        config_from_args(p.parse_args(["--api", "v2", "--encoding", "json_row"]))
