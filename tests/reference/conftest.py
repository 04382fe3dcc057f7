"""Fixtures of the reference-tool tests: one embedded model server for the session (a real
``inferwire serve`` process on free ports) and capture runs against it.

Capture runs here attach to that server as an external one (``RunConfig(server="127.0.0.1")``),
so each run costs the capture and the load, not a model server start.
"""
from __future__ import annotations

import pytest

from needs import need_capture  # noqa: F401  (used by the tests here)


@pytest.fixture(scope="session")
def model_server():
    """A running ``inferwire serve`` (softmax MNIST) on free ports: ``.grpc_port``,
    ``.rest_port``."""
    from inferwire.serving.launch import ServerProcess
    from inferwire.serving.model import cached_models
    from inferwire.serving.ports import free_ports
    base = cached_models() / "mnist"
    # two distinct free ports (REST port 0 would mean "no REST", as in TF Serving)
    grpc, rest = free_ports(2)
    server = ServerProcess(["--model_base_path", str(base), "--model_name", "mnist",
                            "--port", str(grpc), "--rest_api_port", str(rest)]).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def capture_run(model_server, tmp_path_factory):
    """``capture_run(engine, protocol, **config)``: a capture run against the session's server
    in a new folder; returns the RunResult (status asserted ok)."""
    from inferwire.experiment import RunConfig, run_experiment

    def run(engine, protocol, **config):
        need_capture()
        config.setdefault("users", 2)
        config.setdefault("warmup_requests", 5)
        result = run_experiment(RunConfig(
            out=str(tmp_path_factory.mktemp(f"{engine}-{protocol}")), server="127.0.0.1",
            grpc_port=model_server.grpc_port, rest_port=model_server.rest_port,
            protocols=(protocol,), engine=engine, progress=False, **config))
        assert result.status == "ok", result.problems
        return result
    return run
