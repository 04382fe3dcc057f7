"""PredictWorkload against the embedded TF Serving–compatible server (real model, both protocols)."""
import json

import pytest

from inferwire.errors import LoadError
from inferwire.load import LoadListener, LoadOptions, PredictWorkload, run_load

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from inferwire.serving.model import ExportOptions, export_models
    from inferwire.serving.servables import ModelConfig
    from inferwire.serving.server import ModelServer, ServerConfig
    models = tmp_path_factory.mktemp("models")
    export_models(models, ExportOptions(train_examples=2000, test_examples=500))
    log = tmp_path_factory.mktemp("log") / "requests.jsonl"
    srv = ModelServer(ServerConfig(models=(ModelConfig("mnist", str(models / "mnist")),),
                                   grpc_port=0, rest_port=0, request_log=str(log))).start()
    srv.log_path = log
    yield srv
    srv.stop()


class Collect(LoadListener):
    def __init__(self):
        self.records = []

    def on_request(self, record):
        self.records.append(record)


@pytest.mark.parametrize("protocol,connection", [("rest", "reuse"), ("grpc", "reuse"),
                                                 ("rest", "new")])
def test_predict_workload_one_client_per_worker(server, protocol, connection):
    port = server.rest_port if protocol == "rest" else server.grpc_port
    seen = Collect()
    workload = PredictWorkload(protocol, "127.0.0.1", port, batch_size=4, connection=connection)
    summary = run_load(workload, LoadOptions(users=2, requests=20, warmup_requests=2), [seen])
    assert summary.ok == summary.requests == 20
    assert len(workload._state._made) == 0                  # closed after the run
    r = seen.records[-1]
    assert r.request_bytes > 4 * 784 and r.response_bytes > 0 and r.serialize_ns > 0
    assert r.status in ("200", "OK")
    with open(server.log_path) as f:
        logged = {json.loads(line).get("request_id") for line in f if line.strip()}
    assert {rec.request_id for rec in seen.records} <= logged      # ids reached the server


def test_predict_workload_validates_early():
    with pytest.raises(LoadError, match="batch_size"):
        PredictWorkload("rest", "127.0.0.1", 1, batch_size=0)
    with pytest.raises(LoadError, match="does not go with grpc"):
        PredictWorkload("grpc", "127.0.0.1", 1, encoding="json_row")
    with pytest.raises(LoadError, match="connection must be"):
        PredictWorkload("rest", "127.0.0.1", 1, connection="sometimes")
