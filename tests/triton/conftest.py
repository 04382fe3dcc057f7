"""Shared fixtures for the Triton tests: the MNIST weights, a started server (the install,
``triton_install``, is in tests/conftest.py: the lossy network tests start Triton too)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def weights():
    """{"softmax": npz path, "cnn": npz path}: the weights `inferwire model export` made."""
    from inferwire.serving.model import cached_models
    from inferwire.serving.triton.repository import export_weights
    models = cached_models()
    return {"softmax": export_weights(models / "mnist" / "1"),
            "cnn": export_weights(models / "mnist_cnn" / "1")}


@pytest.fixture
def start_triton(tmp_path, triton_install):
    """``start_triton(repository, **TritonOptions fields)``: a started TritonProcess on free
    ports (log in tmp_path); stopped after the test whatever happens."""
    from inferwire.serving.ports import free_ports
    from inferwire.serving.triton.install import backend_directory
    from inferwire.serving.triton.process import TritonOptions, TritonProcess
    started = []

    def start(repository, **kw):
        ports = dict(zip(("http_port", "grpc_port", "metrics_port"), free_ports(3)))
        opts = TritonOptions(**(ports | kw))
        proc = TritonProcess(triton_install, repository,
                             backend_directory(triton_install, tmp_path / "backends"), opts,
                             tmp_path / "triton.log")
        started.append(proc)
        return proc.start()

    yield start
    for proc in started:
        proc.stop()
