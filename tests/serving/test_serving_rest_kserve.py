"""The REST conformance tests of ``test_serving_rest.py`` (TF Serving's REST API and the HTTP
details curl and ab depend on) run against KServe's model server (``--server kserve``) serving the
same model.  Where KServe differs from TF Serving's documented behaviour the test is expected to
fail (strict: it fails if KServe starts to conform), with the difference as its reason; docs/servers.md
("KServe") lists the same differences."""
from __future__ import annotations

import functools
import os

import pytest

from serving import test_serving_rest as conformance
from needs import skip_or_fail

MESSAGE = "same status and {\"error\"} body, KServe's own message: "
#: test id -> how KServe 0.21 differs from TF Serving (kept in step with the list in docs/servers.md)
DIFFERENCES = {
    "test_model_status_as_documented":
        'GET /v1/models/{m} answers {"name", "ready"}, not TF Serving\'s model_version_status',
    "test_metadata": "no /v1/models/{m}/metadata (404)",
    "test_predict_b64_bytes_and_versioned_url":
        "no /versions/{v} in V1 URLs (404); b64 images themselves work",
    "test_classify_examples": "no :classify (405)",
    "test_error_bodies_and_codes[POST-/v1/models/half:predict-body0-404-Servable not found for "
    "request: Latest(half)]": MESSAGE + "Model with name half does not exist.",
    "test_error_bodies_and_codes[POST-/v1/models/mnist/versions/3:predict-body1-404-Servable not "
    "found for request: Specific(mnist, 3)]": 'no versioned URL: FastAPI\'s {"detail": "Not Found"}',
    "test_error_bodies_and_codes[GET-/v1/models/half-None-404-Could not find any versions of "
    "model half]": MESSAGE + "Model with name half does not exist.",
    "test_error_bodies_and_codes[GET-/v1/models/mnist/versions/3-None-404-Could not find version "
    "3 of model mnist]": 'no versioned URL: FastAPI\'s {"detail": "Not Found"}',
    "test_error_bodies_and_codes[POST-/v1/models/mnist:predict-{not json-400-JSON Parse error: ]":
        MESSAGE + "Unrecognized request format: ...",
    "test_error_bodies_and_codes[POST-/v1/models/mnist:predict-body5-400-Serving signature name: "
    '"nope" not found in signature def]': "signature_name is ignored (the model has one input)",
    "test_error_bodies_and_codes[POST-/v1/models/mnist:predict-body6-400-[1, 783]]":
        MESSAGE + "the model's (instances: expected images of 784 floats ...)",
    "test_error_bodies_and_codes[POST-/v1/models/mnist:predict-body7-400-is not of expected "
    "type: float]": MESSAGE + "the model's (could not convert string to float)",
    "test_error_bodies_and_codes[POST-/v1/models/mnist:predict-body8-400-[1,3]]":
        MESSAGE + "the model's (b64 image of 3 bytes)",
    "test_error_bodies_and_codes[GET-/v1/models-None-400-Missing model name in request.]":
        'GET /v1/models lists the models (200 {"models": [...]})',
    "test_error_bodies_and_codes[GET-/v1/models/mnist:predict-None-400-Malformed request: GET "
    "/v1/models/mnist:predict]": 'unknown routes are FastAPI\'s 404/405 {"detail": ...}',
    "test_error_bodies_and_codes[DELETE-/v1/models/mnist-None-400-Malformed request: DELETE "
    "/v1/models/mnist]": 'unknown routes are FastAPI\'s 404/405 {"detail": ...}',
    "test_error_bodies_and_codes[POST-/v1/models/mnist/labels/stable:predict-body12-400-"
    "Unrecognized servable version label: stable]": "no /labels/{l} in V1 URLs (404)",
    "test_paths_outside_v1_are_404_without_body":
        "other routes exist: /metrics (Prometheus), /, /v2/..., /docs when enabled",
    "test_http10_keep_alive_is_echoed_with_content_length":
        "uvicorn closes HTTP/1.0 connections (no keep-alive for HTTP/1.0)",
    "test_apachebench_keep_alive":
        "ab -k gets no keep-alive (ab speaks HTTP/1.0): a new connection per request",
    "test_expect_100_continue_is_answered":
        "no 100 Continue before the body (curl waits its 1 s timeout, then sends)",
    "test_too_large_body_is_413_before_upload": "no request size limit (no 413)",
    "test_bad_content_length_with_expect_is_400":
        'uvicorn answers 400 "Invalid HTTP request received." in text/plain',
    "test_timing_headers_of_the_embedded_server":
        "no x-inferwire-* timing headers (inferwire's own extension)",
}


@pytest.fixture(scope="module")
def server(models_dir, tmp_path_factory):
    """KServe on free ports serving the session's exported softmax model as "mnist"."""
    from inferwire.errors import ServerError
    from inferwire.serving.ports import free_ports
    from inferwire.serving.kserve.launch import KServeProcess
    from inferwire.serving.numpy_weights import export_weights
    d = tmp_path_factory.mktemp("kserve")
    weights = export_weights(models_dir / "mnist" / "1", d / "mnist.npz")
    grpc_port, rest_port = free_ports(2)
    try:
        proc = KServeProcess(weights, model_name="mnist", http_port=rest_port,
                             grpc_port=grpc_port, log_path=d / "kserve.log",
                             request_log=d / "requests.jsonl").start()
    except ServerError as exc:
        skip_or_fail(f"KServe cannot run here: {exc}")
    proc.rest_port, proc.log_path_requests = rest_port, d / "requests.jsonl"
    yield proc
    proc.stop()


def _test_id() -> str:
    """The running test's name and parameters, e.g. ``test_x[a-b]``."""
    return os.environ["PYTEST_CURRENT_TEST"].split("::")[-1].rsplit(" ", 1)[0]


def _as_kserve_test(fn):
    """``fn`` where a listed difference must show (an expected failure) and where none is
    listed must pass; a listed test that passes fails: KServe conforms there now."""
    @functools.wraps(fn)
    def test(*args, **kwargs):
        difference = DIFFERENCES.get(_test_id())
        if difference is None:
            return fn(*args, **kwargs)
        try:
            fn(*args, **kwargs)
        except (AssertionError, KeyError, TypeError, OSError) as exc:
            pytest.xfail(f"KServe: {difference} ({type(exc).__name__})")
        pytest.fail(f"listed as a KServe difference but conforms now: {difference}")
    return test


for _name in [n for n in dir(conformance) if n.startswith("test_")]:
    globals()[_name] = _as_kserve_test(getattr(conformance, _name))
images = conformance.images
