"""Hostile REST requests against the real embedded server: each gets a 4xx answer (never a 500,
a traceback or a silently closed connection), the body limit holds for chunked bodies too, and
connections are bounded in number and in the time their request head may take (slowloris)."""
from __future__ import annotations

import json
import socket
import subprocess
import time

import pytest

from inferwire.serving.launch import ServerProcess

PREDICT = b"POST /v1/models/mnist:predict HTTP/1.1\r\nHost: x\r\n"


@pytest.fixture(scope="module")
def tight(models_dir, tmp_path_factory):
    """A server with small limits: 4 connections, 1.5 s for a request head, 1 MiB bodies."""
    from inferwire.serving.servables import ModelConfig
    from inferwire.serving.server import ModelServer, ServerConfig
    cfg = ServerConfig(models=(ModelConfig("mnist", str(models_dir / "mnist")),), grpc_port=0,
                       rest_port=0, max_request_bytes=1 << 20, rest_max_connections=4,
                       rest_head_timeout_s=1.5, rest_idle_timeout_s=30)
    srv = ModelServer(cfg).start()
    yield srv
    srv.stop()


def exchange(port: int, data: bytes, timeout: float = 10) -> bytes:
    """Send ``data``, half-close, and read the answer until the server closes (or times out)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except OSError:
            pass                     # refused mid-upload: the answer is still there to read
        return read_all(sock)


def read_all(sock) -> bytes:
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return out


def body_of(reply: bytes) -> dict:
    return json.loads(reply.split(b"\r\n\r\n", 1)[1])


def predict(body: bytes) -> bytes:
    return PREDICT + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body


@pytest.mark.parametrize("size", [b"-1", b"-10000000000", b"+5", b"0x10", b"\xd9\xa3",
                                  b"f" * 40, b"1" * 5000])
def test_bad_chunk_sizes_are_400_at_once(tight, size):
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", tight.rest_port), timeout=10) as sock:
        sock.sendall(PREDICT + b"Transfer-Encoding: chunked\r\n\r\n" + size + b"\r\n" + b"x" * 4096)
        reply = read_all(sock)      # the client keeps its side open: no waiting for its close
    assert time.monotonic() - start < 5
    assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n") or reply.startswith(b"HTTP/1.1 413")
    if size in (b"-1", b"-10000000000", b"+5", b"0x10", b"\xd9\xa3"):
        assert body_of(reply) == {"error": "malformed chunk size line"}


def test_chunked_body_over_the_limit_is_413(tight):
    reply = exchange(tight.rest_port, PREDICT + b"Transfer-Encoding: chunked\r\n\r\n"
                     b"100001\r\n" + b"x" * 1000)
    assert reply.startswith(b"HTTP/1.1 413 Payload Too Large\r\n")


@pytest.mark.parametrize("length", [b"9" * 30, b"9" * 5000])
def test_huge_content_length_is_413(tight, length):
    reply = exchange(tight.rest_port, PREDICT + b"Content-Length: " + length + b"\r\n\r\n{}")
    assert reply.startswith(b"HTTP/1.1 413 Payload Too Large\r\n")
    assert len(reply) < 1000


@pytest.mark.parametrize("length", [b"\xd9\xa3", b"1e3", b"-5"])
def test_non_ascii_or_signed_content_length_is_400(tight, length):
    reply = exchange(tight.rest_port, PREDICT + b"Content-Length: " + length + b"\r\n\r\n{}")
    assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n") and b"bad Content-Length" in reply


@pytest.mark.parametrize("number", ["9" * 5000, "1" + "0" * 400, "1e999", "-1e999",
                                    "1" + "0" * 5000 + ".5"])
def test_huge_json_numbers_are_400(tight, number):
    body = ('{"signature_name": "predict_images", "instances": [[' + number + "]]}").encode()
    reply = exchange(tight.rest_port, predict(body))
    assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n"), reply[:200]
    message = body_of(reply)["error"]
    assert message.startswith("JSON Parse error: Number too big to be stored in double. at offset")


def test_infinity_literal_is_still_accepted_as_tf_serving_does(tight):
    body = b'{"signature_name": "predict_images", "instances": [[' + b", ".join(
        [b"Infinity"] + [b"0.0"] * 783) + b"]]}"
    reply = exchange(tight.rest_port, predict(body))
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n")


@pytest.mark.parametrize("version", ["9" * 5000, "99999999999999999999", "\u0663"])
def test_huge_or_non_ascii_url_versions_are_400(tight, version):
    path = f"/v1/models/mnist/versions/{version}".encode()
    reply = exchange(tight.rest_port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n"
                     b"Connection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n"), reply[:200]


def test_status_lines_name_their_reason(tight):
    long_line = exchange(tight.rest_port, b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n")
    assert long_line.startswith(b"HTTP/1.1 414 URI Too Long\r\n")
    many = b"".join(b"X-%d: y\r\n" % i for i in range(120))
    headers = exchange(tight.rest_port, b"GET /v1/models/mnist HTTP/1.1\r\n" + many + b"\r\n")
    assert headers.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    version = exchange(tight.rest_port, b"GET /v1/models/mnist HTTP/2.0\r\n\r\n")
    assert version.startswith(b"HTTP/1.1 505 HTTP Version Not Supported\r\n")


def test_slowloris_head_is_cut_with_408(tight):
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", tight.rest_port), timeout=10) as sock:
        sock.sendall(b"GET /v1/models/mnist HTTP/1.1\r\n")
        reply = b""
        for i in range(40):               # a header byte every 0.1 s: each recv is in time
            try:
                sock.sendall(b"X-slow-%d: y\r\n" % i)
            except OSError:
                break
            time.sleep(0.1)
        reply = read_all(sock)
    took = time.monotonic() - start
    assert reply.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), reply[:200]
    assert "not received within 1.5 s" in body_of(reply)["error"]
    assert took < 6


def test_idle_keep_alive_connection_is_not_cut_by_the_head_deadline(tight):
    """The head deadline runs from the first byte of a request, not while idle."""
    with socket.create_connection(("127.0.0.1", tight.rest_port), timeout=10) as sock:
        time.sleep(2.5)
        sock.sendall(b"GET /v1/models/mnist HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 200 OK\r\n")


def test_connections_over_the_cap_get_503_and_the_server_recovers(tight):
    held = [socket.create_connection(("127.0.0.1", tight.rest_port), timeout=10)
            for _ in range(4)]
    try:     # once the server accepted and counted them (not within 0.3 s on a loaded host)
        deadline = time.monotonic() + 30
        while True:
            reply = exchange(tight.rest_port, b"GET /v1/models/mnist HTTP/1.1\r\n\r\n")
            if reply.startswith(b"HTTP/1.1 503 ") or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert reply.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), reply[:200]
        assert body_of(reply)["error"].startswith("too many connections (limit 4)")
    finally:
        for s in held:
            s.close()
    time.sleep(0.5)
    ok = exchange(tight.rest_port, b"GET /v1/models/mnist HTTP/1.1\r\nHost: x\r\n"
                  b"Connection: close\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 200 OK\r\n")


def test_host_0000_binds_ipv4_only_and_the_ready_line_says_so(models_dir):
    args = ["--model_base_path", str(models_dir / "mnist"), "--model_name", "mnist",
            "--port", "auto", "--rest_api_port", "auto", "--host", "0.0.0.0"]
    with ServerProcess(args) as proc:
        assert proc.ready_line.startswith(f"ready grpc=0.0.0.0:{proc.grpc_port} "
                                          f"rest=0.0.0.0:{proc.rest_port} ")
        listening = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
        for port in (proc.grpc_port, proc.rest_port):
            local = {line.split()[3] for line in listening.splitlines()
                     if line.split()[3].rsplit(":", 1)[1] == str(port)}
            assert local == {f"0.0.0.0:{port}"}, (port, local)
