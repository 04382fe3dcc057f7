"""End to end on real TLS traffic captured on loopback: exact rows with a key log, inferred without.

Python's ssl writes the key log (SSLKEYLOGFILE format); dumpcap captures; tshark, given the same key
log, says which frames carry the ClientHello and the requests.
"""
import http.server
import socket
import ssl
import subprocess
import threading

import pytest

import inferwire
from inferwire.capture import CaptureOptions, CaptureSession
from inferwire.serving.tls import generate_self_signed
from needs import need_capture, need_tool

pytestmark = [pytest.mark.capture, pytest.mark.tshark]

N_REQUESTS = 6


def _need_tools():
    need_tool("tshark", "tshark")
    need_capture("dumpcap")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        reply = b'{"predictions": [' + str(len(body)).encode() + b"]}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


def _serve_tls(tmp_path, version):
    tls = generate_self_signed(tmp_path / "certs")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls.cert_file, tls.key_file)
    ctx.minimum_version = ctx.maximum_version = version
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, tls


def _client_requests(port, keylog, cafile, version):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.keylog_filename = str(keylog)
    ctx.minimum_version = ctx.maximum_version = version
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            f = s.makefile("rb")
            for i in range(N_REQUESTS):
                body = b'{"instances": [' + b"1," * (50 * (i + 1)) + b"1]}"
                s.sendall(b"POST /v1/models/mnist:predict HTTP/1.1\r\nHost: localhost\r\n"
                          b"x-request-id: tls-" + str(i).encode() + b"\r\nContent-Length: "
                          + str(len(body)).encode() + b"\r\n\r\n" + body)
                status = f.readline()
                assert status.startswith(b"HTTP/1.1 200")
                length = 0
                while (line := f.readline()) != b"\r\n":
                    if line.lower().startswith(b"content-length"):
                        length = int(line.split(b":")[1])
                f.read(length)


@pytest.fixture(params=[ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["tls12", "tls13"])
def tls_capture(request, tmp_path):
    _need_tools()
    version = request.param
    server, tls = _serve_tls(tmp_path, version)
    port = server.server_address[1]
    keylog = tmp_path / "keys.log"
    session = CaptureSession(CaptureOptions(output=tmp_path / "tls.pcapng", ports=(port,)))
    session.start()
    try:
        _client_requests(port, keylog, tls.cert_file, version)
    finally:
        result = session.stop()
        server.shutdown()
    return result, keylog, port, version


def _tshark(path, keylog, display_filter, *fields):
    argv = ["tshark", "-r", str(path), "-o", f"tls.keylog_file:{keylog}", "-Y", display_filter,
            "-T", "fields"] + [x for f in fields for x in ("-e", f)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def test_tls_with_keylog_gives_exact_http_rows(tls_capture):
    result, keylog, port, version = tls_capture
    a = inferwire.analyze(result.path, tls_keylog=keylog, ignore_ports=(result.probe_port,))
    r = a.requests
    assert list(r["request_id"]) == [f"tls-{i}" for i in range(N_REQUESTS)]
    assert set(r["protocol"]) == {"http/1.1"} and r["tls"].all() and not r["inferred"].any()
    assert list(r["status"]) == [200] * N_REQUESTS
    assert list(r["request_bytes"]) == [len(b'{"instances": [' + b"1," * (50 * (i + 1)) + b"1]}")
                                        for i in range(N_REQUESTS)]
    assert r["complete"].all() and (r["wait_ms"] >= 0).all()
    conn = a.connections.iloc[0]
    assert conn["tls_version"] == ("TLS 1.3" if version == ssl.TLSVersion.TLSv1_3 else "TLS 1.2")
    assert conn["sni"] == "localhost"
    # Wireshark decrypts with the same key log: the frames carrying each request line agree
    rows = _tshark(result.path, keylog, "http.request", "frame.number", "http.request.uri")
    tshark_frames = [int(f) for f, _ in rows]
    assert list(r["request_frame"]) == tshark_frames
    # the TLS handshake starts at the ClientHello frame tshark names
    hello = _tshark(result.path, keylog, "tls.handshake.type == 1", "frame.time_epoch")
    first = r.iloc[0]
    assert first["tls_handshake_ms"] > 0
    syn_to_hello = float(hello[0][0]) - a.connections.iloc[0]["syn_time"]
    assert syn_to_hello >= 0
    assert first["request_start"] >= float(hello[0][0]) + first["tls_handshake_ms"] / 1e3 - 1e-6


def test_tls_without_keys_infers_one_exchange_per_request(tls_capture):
    result, _, _, version = tls_capture
    a = inferwire.analyze(result.path, ignore_ports=(result.probe_port,))
    r = a.requests
    assert set(r["protocol"]) == {"tls"} and r["inferred"].all() and r["tls"].all()
    # sequential keep-alive requests: one client burst and one server burst each (TLS 1.3 session
    # tickets may ride along with the first response, as docs/formats.md says)
    assert len(r) == N_REQUESTS
    assert (r["request_bytes"] > 0).all() and r["complete"].all()
    with_keys = inferwire.analyze(result.path, tls_keylog=result.path.replace(
        "tls.pcapng", "keys.log"), ignore_ports=(result.probe_port,)).requests
    # request starts agree with the exact (decrypted) ones, frame for frame
    assert list(r["request_frame"]) == list(with_keys["request_frame"])
