"""REST conformance: TF Serving's REST API examples and error bodies, and the HTTP details that
curl and ApacheBench depend on, against the embedded server."""
from __future__ import annotations

import base64
import http.client
import json
import socket
import subprocess

import numpy as np
import pytest

from inferwire.serving.digits import generate_digits


@pytest.fixture(scope="module")
def images():
    return generate_digits(3, seed=21).images


def call(server, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=30)
    try:
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        conn.request(method, path, body=data, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()   # headers: case-insensitive
    finally:
        conn.close()


def raw_exchange(port, request: bytes, until: bytes = b"}\n", timeout=10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while until not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def test_model_status_as_documented(server):
    status, headers, body = call(server, "GET", "/v1/models/mnist")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    assert body.startswith(b'{\n "model_version_status": [\n  {\n   "version": "1",')
    assert call(server, "GET", "/v1/models/mnist/versions/1")[0] == 200


def test_metadata(server):
    status, _, body = call(server, "GET", "/v1/models/mnist/metadata")
    doc = json.loads(body)
    assert status == 200 and doc["model_spec"] == {"name": "mnist", "version": "1", "signature_name": ""}
    sig = doc["metadata"]["signature_def"]["signature_def"]["predict_images"]
    assert sig["method_name"] == "tensorflow/serving/predict"
    assert sig["inputs"]["images"]["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in sig["inputs"]["images"]["tensor_shape"]["dim"]] == ["-1", "784"]


@pytest.mark.parametrize("fmt", ["row", "columnar"])
def test_predict_row_and_columnar(server, images, tf_scores, fmt):
    x = (images / 255.0).tolist()
    body = {"signature_name": "predict_images", "instances": x} if fmt == "row" else \
        {"signature_name": "predict_images", "inputs": {"images": x}}
    status, headers, data = call(server, "POST", "/v1/models/mnist:predict", body,
                                 {"x-request-id": f"rest-{fmt}"})
    assert status == 200
    doc = json.loads(data)
    scores = np.array(doc["predictions"] if fmt == "row" else doc["outputs"], np.float32)
    np.testing.assert_allclose(scores, tf_scores(images), rtol=1e-5, atol=1e-7)
    assert int(headers["Content-Length"]) == len(data)


def test_timing_headers_of_the_embedded_server(server, images):
    """inferwire's own extension (not TF Serving's API): the model and handler times."""
    body = {"signature_name": "predict_images", "instances": (images / 255.0).tolist()}
    status, headers, _ = call(server, "POST", "/v1/models/mnist:predict", body)
    assert status == 200 and int(headers["x-inferwire-model-time-ns"]) > 0
    assert int(headers["x-inferwire-server-time-ns"]) >= int(headers["x-inferwire-model-time-ns"])


def test_predict_b64_bytes_and_versioned_url(server, images, tf_scores):
    body = {"signature_name": "predict_images_bytes",
            "instances": [{"b64": base64.b64encode(r.tobytes()).decode()} for r in images]}
    status, _, data = call(server, "POST", "/v1/models/mnist/versions/1:predict", body)
    assert status == 200
    np.testing.assert_allclose(json.loads(data)["predictions"], tf_scores(images), rtol=1e-5, atol=1e-7)


def test_classify_examples(server, images, tf_scores):
    body = {"examples": [{"x": (img / 255.0).tolist()} for img in images]}
    status, _, data = call(server, "POST", "/v1/models/mnist:classify", body)
    assert status == 200
    results = json.loads(data)["results"]
    assert len(results) == 3 and all(len(r) == 10 for r in results)
    for row, scores in zip(results, tf_scores(images)):
        assert row[0][0] == str(scores.argmax()) and row[0][1] == pytest.approx(scores.max(), rel=1e-5)
    assert data.startswith(b'{\n    "results": [[["')


@pytest.mark.parametrize("method, path, body, status, message", [
    # the 404 example of TF Serving's REST API page
    ("POST", "/v1/models/half:predict", {"instances": [1.0, 5.0]}, 404,
     "Servable not found for request: Latest(half)"),
    ("POST", "/v1/models/mnist/versions/3:predict", {"instances": [[0.0] * 784]}, 404,
     "Servable not found for request: Specific(mnist, 3)"),
    ("GET", "/v1/models/half", None, 404, "Could not find any versions of model half"),
    ("GET", "/v1/models/mnist/versions/3", None, 404, "Could not find version 3 of model mnist"),
    ("POST", "/v1/models/mnist:predict", b"{not json", 400, "JSON Parse error: "),
    ("POST", "/v1/models/mnist:predict", {"signature_name": "nope", "instances": [1]}, 400,
     'Serving signature name: "nope" not found in signature def'),
    ("POST", "/v1/models/mnist:predict", {"signature_name": "predict_images", "instances": [[0.5] * 783]},
     400, "[1, 783]"),
    ("POST", "/v1/models/mnist:predict", {"signature_name": "predict_images", "instances": [["a"] * 784]},
     400, "is not of expected type: float"),
    ("POST", "/v1/models/mnist:predict", {"signature_name": "predict_images_bytes",
                                          "instances": [{"b64": "AAAA"}]}, 400, "[1,3]"),
    ("GET", "/v1/models", None, 400, "Missing model name in request."),
    ("GET", "/v1/models/mnist:predict", None, 400, "Malformed request: GET /v1/models/mnist:predict"),
    ("DELETE", "/v1/models/mnist", None, 400, "Malformed request: DELETE /v1/models/mnist"),
    ("POST", "/v1/models/mnist/labels/stable:predict", {"instances": [1]}, 400,
     "Unrecognized servable version label: stable"),
])
def test_error_bodies_and_codes(server, method, path, body, status, message):
    got, headers, data = call(server, method, path, body)
    assert got == status and headers["Content-Type"] == "application/json"
    doc = json.loads(data)
    assert list(doc) == ["error"] and message in doc["error"]


def test_paths_outside_v1_are_404_without_body(server):
    status, _, data = call(server, "GET", "/metrics")
    assert status == 404 and data == b""


def test_http10_keep_alive_is_echoed_with_content_length(server):
    req = (b"GET /v1/models/mnist HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=10) as sock:
        for _ in range(2):  # the same connection answers twice
            sock.sendall(req)
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(1)
            headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:] if ": " in line)
            assert headers["Connection"] == "keep-alive"
            body = b""
            while len(body) < int(headers["Content-Length"]):
                body += sock.recv(65536)
            assert json.loads(body)["model_version_status"][0]["state"] == "AVAILABLE"
    plain = raw_exchange(server.rest_port, b"GET /v1/models/mnist HTTP/1.0\r\n\r\n")
    assert b"Connection: close" in plain


def test_expect_100_continue_is_answered(server):
    body = json.dumps({"signature_name": "predict_images", "instances": [[0.0] * 784]}).encode()
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=10) as sock:
        sock.sendall(b"POST /v1/models/mnist:predict HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        interim = sock.recv(100)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(body)
        reply = interim + sock.recv(65536)
        while b"\n}" not in reply:
            reply += sock.recv(65536)
        assert b"HTTP/1.1 200 OK" in reply and b'"predictions"' in reply


def test_too_large_body_is_413_before_upload(server):
    head = b"POST /v1/models/mnist:predict HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n" \
           b"Content-Length: %d\r\n\r\n" % (9 << 20)
    reply = raw_exchange(server.rest_port, head)
    assert reply.startswith(b"HTTP/1.1 413") and b"exceeds the limit" in reply
    assert b"Connection: close" in reply


def test_bad_content_length_with_expect_is_400(server):
    reply = raw_exchange(server.rest_port, b"POST /v1/models/mnist:predict HTTP/1.1\r\nHost: x\r\n"
                         b"Expect: 100-continue\r\nContent-Length: -5\r\n\r\n", until=b"}")
    assert reply.startswith(b"HTTP/1.1 400") and b"bad Content-Length" in reply


def test_chunked_request_body(server):
    body = json.dumps({"signature_name": "predict_images", "instances": [[0.0] * 784]}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 1000]), body[i:i + 1000])
                      for i in range(0, len(body), 1000))
    reply = raw_exchange(server.rest_port, b"POST /v1/models/mnist:predict HTTP/1.1\r\nHost: x\r\n"
                         b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks + b"0\r\n\r\n",
                         until=b"\n    ]\n}")
    assert reply.startswith(b"HTTP/1.1 200 OK") and b'"predictions"' in reply


def test_garbage_request_line_gets_an_error_not_a_hang(server):
    reply = raw_exchange(server.rest_port, b"\x16\x03\x01 not http at all\r\n\r\n", until=b"}")
    assert reply.startswith(b"HTTP/1.1 400")


def test_curl_with_expect_100_continue(server, tool):
    curl = tool("curl")
    body = json.dumps({"signature_name": "predict_images", "instances": [[0.0] * 784] * 2})
    out = subprocess.run([curl, "-sS", "-H", "Expect: 100-continue", "-H", "Content-Type: application/json",
                          "--data-binary", body, f"http://127.0.0.1:{server.rest_port}/v1/models/mnist:predict"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and len(json.loads(out.stdout)["predictions"]) == 2


def test_apachebench_keep_alive(server, tmp_path, tool):
    ab = tool("ab")
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"signature_name": "predict_images", "instances": [[0.0] * 784]}))
    out = subprocess.run([ab, "-k", "-n", "40", "-c", "2", "-s", "10", "-p", str(body), "-T",
                          "application/json", f"http://127.0.0.1:{server.rest_port}/v1/models/mnist:predict"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Complete requests:      40" in out.stdout and "Failed requests:        0" in out.stdout
    assert "Keep-Alive requests:    40" in out.stdout
