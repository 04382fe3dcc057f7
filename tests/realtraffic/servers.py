"""Small real servers on 127.0.0.1 for the cross-checks: HTTP/1.1 (Content-Length or chunked),
HTTP/1.0, and a generic-handler gRPC unary service.  Each is a context manager that stops it."""
from __future__ import annotations

import contextlib
import http.server
import threading
import time
from concurrent import futures

#: Bytes of the large responses: more than one 64 KiB loopback segment, so they are reassembled.
BIG = 150_000
GRPC_SERVICE = "inferwire.test.Echo"
GRPC_METHOD = f"/{GRPC_SERVICE}/Unary"


class _Quiet(http.server.BaseHTTPRequestHandler):
    """A handler that answers GET/POST with a body sized by the path, echoing x-request-id."""

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _body(self) -> bytes:
        size = BIG if self.path.startswith("/big") else 64
        return (self.path.encode() + b"|" * size)[:size]

    def _read_request_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        """A chunked request body (the stdlib server leaves decoding to the handler)."""
        body = b""
        while True:
            size = int(self.rfile.readline().split(b";")[0], 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b""):   # trailers, then CRLF
                    pass
                return body
            body += self.rfile.read(size)
            self.rfile.readline()

    def _status(self) -> int:
        if self.path.startswith("/nocontent"):
            return 204
        return 404 if self.path.startswith("/missing") else 200

    def do_GET(self):
        self._answer(self._body())

    def do_HEAD(self):
        self._answer(self._body(), head=True)

    def do_POST(self):
        self._answer(b"got %d bytes" % len(self._read_request_body()))

    def _answer(self, body: bytes, head: bool = False) -> None:
        status = self._status()
        self.send_response(status)
        self._common_headers()
        if status != 204:      # a 204 has neither body nor Content-Length
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and status != 204:
            self.wfile.write(body)

    def _common_headers(self) -> None:
        self.send_header("Content-Type", "text/plain")
        if self.headers.get("X-Request-Id"):
            self.send_header("X-Request-Id", self.headers["X-Request-Id"])


class Http11Handler(_Quiet):
    """HTTP/1.1 keep-alive with Content-Length; Expect: 100-continue answered by the stdlib."""

    protocol_version = "HTTP/1.1"


class ChunkedHandler(_Quiet):
    """HTTP/1.1 keep-alive; responses in three chunks, each flushed in its own write."""

    protocol_version = "HTTP/1.1"

    def _answer(self, body: bytes, head: bool = False) -> None:
        status = self._status()
        self.send_response(status)
        self._common_headers()
        if status != 204:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if head or status == 204:
            return
        third = max(1, len(body) // 3)
        for piece in (body[:third], body[third:2 * third], body[2 * third:]):
            if piece:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


class Http10Handler(_Quiet):
    """HTTP/1.0: one request per connection, the server closes after the response."""

    protocol_version = "HTTP/1.0"


class Http10CloseHandler(_Quiet):
    """HTTP/1.0 without Content-Length: the body ends where the server closes the connection.

    The close comes a few ms after the last byte, so the FIN is a packet of its own (a bare FIN).
    """

    protocol_version = "HTTP/1.0"

    def _answer(self, body: bytes, head: bool = False) -> None:
        self.send_response(self._status())
        self._common_headers()
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        time.sleep(0.005)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64


@contextlib.contextmanager
def http_server(handler):
    """Serve ``handler`` on 127.0.0.1 (free port) in a thread; yields the server (``.port``)."""
    server = _Server(("127.0.0.1", 0), handler)
    server.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _unary(request: bytes, context) -> bytes:
    """Echo; payloads starting with b"fail" end with INVALID_ARGUMENT, b"big" get BIG bytes."""
    import grpc
    if request.startswith(b"fail"):
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "asked to fail")
    if request.startswith(b"big"):
        return b"B" * BIG
    return request


@contextlib.contextmanager
def grpc_server():
    """A grpcio server with one generic unary method (bytes in, bytes out); yields its port."""
    import grpc
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.method_handlers_generic_handler(
        GRPC_SERVICE, {"Unary": grpc.unary_unary_rpc_method_handler(_unary)})
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield port
    finally:
        server.stop(grace=None).wait(5)


#: Body of the h2c server's /big responses: several 16 KiB DATA frames, within one flow window.
H2_BIG = 40_000


class _H2cConnection:
    """One server-side h2c connection driven by python-hyper's ``h2`` (sans-IO) over a socket.

    Answers every request with 200, a body of H2_BIG bytes for /big paths (else 32), and echoes
    x-request-id; bodies wait for flow-control credit when the client's window is short.
    """

    def __init__(self, sock):
        import h2.config
        import h2.connection
        self.sock = sock
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        self.pending: dict[int, bytes] = {}

    def serve(self) -> None:
        import h2.events
        self.conn.initiate_connection()
        self.sock.sendall(self.conn.data_to_send())
        while True:
            data = self.sock.recv(65536)
            if not data:
                return
            for ev in self.conn.receive_data(data):
                if isinstance(ev, h2.events.RequestReceived):
                    self._respond(ev.stream_id, dict(ev.headers))
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    return
            self._flush_bodies()
            self.sock.sendall(self.conn.data_to_send())

    def _respond(self, sid: int, headers: dict) -> None:
        body = b"b" * (H2_BIG if headers.get(":path", "").startswith("/big") else 32)
        out = [(":status", "200"), ("content-length", str(len(body)))]
        if "x-request-id" in headers:
            out.append(("x-request-id", headers["x-request-id"]))
        self.conn.send_headers(sid, out)
        self.pending[sid] = body

    def _flush_bodies(self) -> None:
        for sid, body in list(self.pending.items()):
            while body:
                n = min(len(body), self.conn.local_flow_control_window(sid),
                        self.conn.max_outbound_frame_size)
                if n <= 0:
                    break
                self.conn.send_data(sid, body[:n], end_stream=(n == len(body)))
                body = body[n:]
            if body:
                self.pending[sid] = body
            else:
                del self.pending[sid]


@contextlib.contextmanager
def h2c_server():
    """A small HTTP/2 cleartext (prior knowledge) server on 127.0.0.1; yields its port."""
    import socket
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)

    def accept_loop():
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:          # the listener was closed: stop serving
                return
            threading.Thread(target=_serve_h2c, args=(sock,), daemon=True).start()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        try:
            listener.shutdown(socket.SHUT_RDWR)   # wakes the blocked accept() (close alone won't)
        except OSError:
            pass
        listener.close()
        thread.join(5)


def _serve_h2c(sock) -> None:
    with sock:
        try:
            _H2cConnection(sock).serve()
        except OSError:  # the client went away mid-exchange: nothing left to serve
            pass
