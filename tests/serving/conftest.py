"""Shared fixtures for the serving tests: models exported once per session, servers in-process."""
from __future__ import annotations


import pytest
from needs import need_tool

SMALL_EXPORT = dict(train_examples=2000, test_examples=500)


require_tool = need_tool


@pytest.fixture
def tool():
    """``tool("ab")``: the tool's path; skips without it, fails without it under CI=true."""
    return require_tool


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory):
    """DIR with mnist/1 (softmax) and mnist_cnn/1 (CNN), trained briefly on generated digits."""
    from inferwire.serving.model import ExportOptions, export_models
    out = tmp_path_factory.mktemp("models")
    export_models(out, ExportOptions(**SMALL_EXPORT))
    return out


def _server(models_dir, log_path, **kw):
    from inferwire.serving.servables import ModelConfig
    from inferwire.serving.server import ModelServer, ServerConfig
    cfg = ServerConfig(models=(ModelConfig("mnist", str(models_dir / "mnist")),
                               ModelConfig("mnist_cnn", str(models_dir / "mnist_cnn"))),
                       grpc_port=0, rest_port=0, request_log=str(log_path), **kw)
    return ModelServer(cfg).start()


@pytest.fixture(scope="session")
def server(models_dir, tmp_path_factory):
    """The embedded server on free ports (no batching); ``server.log_path`` is its request log."""
    log_path = tmp_path_factory.mktemp("log") / "requests.jsonl"
    srv = _server(models_dir, log_path, max_request_bytes=8 << 20)
    srv.log_path = log_path
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def tf_scores(models_dir):
    """Reference scores computed by TensorFlow itself on the exported SavedModel."""
    import tensorflow as tf
    loaded = tf.saved_model.load(str(models_dir / "mnist" / "1"))
    fn = loaded.signatures["predict_images"]

    def scores(images_uint8):
        x = tf.constant(images_uint8.astype("float32") / 255.0)
        return fn(images=x)["scores"].numpy()
    return scores


@pytest.fixture
def server_log(server):
    """A function returning the server's request-log records so far."""
    import json

    def read():
        with open(server.log_path) as f:
            return [json.loads(line) for line in f if line.strip()]
    return read
