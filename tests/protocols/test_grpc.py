"""GrpcMessageSplitter byte-level tests, and the HTTP/2 parsers on bytes recorded between a real
grpcio client and server on 127.0.0.1."""
from __future__ import annotations

import selectors
import socket
import struct
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inferwire.errors import ProtocolError
from inferwire.protocols.grpc import GrpcMessage, GrpcMessageSplitter, is_grpc_content_type
from inferwire.protocols.http2 import H2Parser, assemble_h2


def lp(body: bytes, flag: int = 0) -> bytes:
    return struct.pack(">BI", flag, len(body)) + body


def split_all(data: bytes, cuts=(), base: int = 0) -> tuple[list[GrpcMessage], GrpcMessageSplitter]:
    splitter = GrpcMessageSplitter()
    bounds = [0, *sorted(set(cuts)), len(data)]
    out = []
    for a, b in zip(bounds, bounds[1:]):
        out += splitter.feed(data[a:b], base + a)
    return out, splitter


# ---------------------------------------------------------------- splitter

STREAM = lp(b"a" * 10) + lp(b"") + lp(b"z" * 300, flag=1) + lp(b"q")


def test_messages_with_offsets():
    msgs, splitter = split_all(STREAM, base=1000)
    assert msgs == [GrpcMessage(False, 10, 1000, 1015), GrpcMessage(False, 0, 1015, 1020),
                    GrpcMessage(True, 300, 1020, 1325), GrpcMessage(False, 1, 1325, 1331)]
    assert (splitter.messages, splitter.message_bytes, splitter.in_message) == (4, 311, False)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, len(STREAM)), max_size=20))
def test_any_split_gives_identical_messages(cuts):
    assert split_all(STREAM, cuts, base=1000)[0] == split_all(STREAM, base=1000)[0]


def test_offsets_follow_the_caller_across_gaps():
    # DATA payload chunks are not contiguous in the TCP stream (frame headers in between): the
    # splitter uses each chunk's own offset.
    splitter = GrpcMessageSplitter()
    assert splitter.feed(lp(b"xyz")[:2], 100) == []
    assert splitter.in_message and splitter.pending_start == 100
    assert splitter.feed(lp(b"xyz")[2:6], 111) == []
    assert splitter.feed(b"yz", 200) == [GrpcMessage(False, 3, 100, 202)]
    assert not splitter.in_message and splitter.pending_start is None


def test_bad_compressed_flag():
    splitter = GrpcMessageSplitter()
    with pytest.raises(ProtocolError) as info:
        splitter.feed(lp(b"ok") + lp(b"x", flag=2), 40)
    assert (info.value.offset, info.value.field) == (47, "grpc.compressed_flag")
    with pytest.raises(ProtocolError):
        splitter.feed(b"", 60)


def test_big_message_is_counted_not_kept():
    splitter = GrpcMessageSplitter()
    body = memoryview(bytes(4_000_000))
    assert splitter.feed(struct.pack(">BI", 0, 4_000_000), 0) == []
    out = []
    for i in range(0, len(body), 65536):
        out += splitter.feed(body[i:i + 65536], 5 + i)
    assert out == [GrpcMessage(False, 4_000_000, 0, 4_000_005)]
    assert len(splitter._prefix) == 0


@pytest.mark.parametrize("value, expected", [
    ("application/grpc", True), ("application/grpc+proto", True),
    ("Application/GRPC; charset=x", True), ("application/grpc-web+proto", False),
    ("application/json", False), (None, False), ("", False)])
def test_content_type(value, expected):
    assert is_grpc_content_type(value) is expected


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_random_payload(data):
    try:
        msgs, _ = split_all(data)
    except ProtocolError:
        return
    assert all(m.end - m.start == m.length + 5 for m in msgs)


# ---------------------------------------------------------------- real grpcio traffic

class RecordingProxy:
    """A TCP proxy on 127.0.0.1 recording each connection's client->server and server->client
    bytes, so that the test sees exactly what a real gRPC client and server exchanged."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections: list[tuple[bytearray, bytearray]] = []
        self.threads: list[threading.Thread] = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return                                     # listener closed
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            record = (bytearray(), bytearray())
            self.connections.append(record)
            thread = threading.Thread(target=self._relay, args=(client, upstream, record),
                                      daemon=True)
            self.threads.append(thread)
            thread.start()

    @staticmethod
    def _relay(client: socket.socket, upstream: socket.socket, record) -> None:
        sel = selectors.DefaultSelector()
        peers = {client: (upstream, record[0]), upstream: (client, record[1])}
        for sock in peers:
            sel.register(sock, selectors.EVENT_READ)
        open_ends = 2
        try:
            while open_ends:
                for key, _ in sel.select(timeout=10):
                    sock = key.fileobj
                    peer, buf = peers[sock]
                    data = sock.recv(65536)
                    if data:
                        buf.extend(data)                   # recorded before it is passed on
                        peer.sendall(data)
                    else:                                  # EOF: pass the FIN on
                        sel.unregister(sock)
                        peer.shutdown(socket.SHUT_WR)
                        open_ends -= 1
        except OSError:
            pass          # a peer reset or vanished (server stopped): the record is complete
        finally:
            client.close()
            upstream.close()

    def close(self) -> None:
        self.listener.close()
        for thread in self.threads:
            thread.join(timeout=10)


SERVICE = "tensorflow.serving.PredictionService"


def _handlers():
    def predict(request: bytes, context) -> bytes:
        return b"p" * (len(request) // 10)

    def fail(request: bytes, context):
        context.abort(grpc.StatusCode.NOT_FOUND, "model mnist not found")

    def collect(requests, context) -> bytes:
        return b"".join(requests)[:7]

    def fan_out(request: bytes, context):
        yield b"one"
        yield b"two!"

    return grpc.method_handlers_generic_handler(SERVICE, {
        "Predict": grpc.unary_unary_rpc_method_handler(predict),
        "GetModelMetadata": grpc.unary_unary_rpc_method_handler(fail),
        "Collect": grpc.stream_unary_rpc_method_handler(collect),
        "FanOut": grpc.unary_stream_rpc_method_handler(fan_out),
    })


def record_grpc_calls():
    """Make 5 calls through the proxy; return the recorded connections."""
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((_handlers(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    proxy = RecordingProxy(port)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{proxy.port}",
                                   options=[("grpc.enable_http_proxy", 0)]) as channel:
            call = lambda kind, name: getattr(channel, kind)(f"/{SERVICE}/{name}")  # noqa: E731
            md = lambda i: [("x-request-id", f"req-{i}")]                          # noqa: E731
            small = call("unary_unary", "Predict")(b"x" * 100, metadata=md(1), timeout=10)
            assert small == b"p" * 10
            big = call("unary_unary", "Predict")(b"y" * 100_000, metadata=md(2), timeout=10)
            assert len(big) == 10_000
            with pytest.raises(grpc.RpcError) as info:
                call("unary_unary", "GetModelMetadata")(b"", metadata=md(3), timeout=10)
            assert info.value.code() == grpc.StatusCode.NOT_FOUND
            assert call("stream_unary", "Collect")(iter([b"ab", b"cd", b"efgh"]), metadata=md(4),
                                                   timeout=10) == b"abcdefg"
            assert list(call("unary_stream", "FanOut")(b"", metadata=md(5), timeout=10)) == [
                b"one", b"two!"]
    finally:
        server.stop(None)
        proxy.close()
    return proxy.connections


@pytest.fixture(scope="module")
def recorded():
    return record_grpc_calls()


def test_real_grpc_calls_are_found(recorded):
    streams, warnings = [], []
    for client_bytes, server_bytes in recorded:
        client = H2Parser("client")
        server = H2Parser("server")
        conv = assemble_h2(client.feed(bytes(client_bytes), 0) + client.close(),
                           server.feed(bytes(server_bytes), 0) + server.close())
        streams += conv.streams
        warnings += conv.warnings
        assert conv.preface_end == 24 and conv.client_settings_end is not None
        assert conv.server_settings_end is not None and conv.server_ack_end is not None
    assert warnings == []
    by_id = {s.request_id: s for s in streams}
    assert sorted(by_id) == [f"req-{i}" for i in range(1, 6)]
    expect = {  # request_id: (method, grpc_status, req msgs, req bytes, resp msgs, resp bytes)
        "req-1": ("Predict", 0, 1, 100, 1, 10),
        "req-2": ("Predict", 0, 1, 100_000, 1, 10_000),
        "req-3": ("GetModelMetadata", 5, 1, 0, 0, 0),
        "req-4": ("Collect", 0, 3, 8, 1, 7),
        "req-5": ("FanOut", 0, 1, 0, 2, 7),
    }
    for rid, (name, status, req_n, req_b, resp_n, resp_b) in expect.items():
        s = by_id[rid]
        assert s.path == f"/{SERVICE}/{name}" and s.method == "POST"
        assert (s.status, s.grpc_status) == (200, status)
        assert (s.request_messages, s.request_message_bytes) == (req_n, req_b)
        assert (s.response_messages, s.response_message_bytes) == (resp_n, resp_b)
        assert s.request_bytes == req_b + 5 * req_n
        assert s.complete and s.reset_by is None
        assert s.req_start < s.req_end and s.resp_start < s.resp_end
    assert by_id["req-3"].grpc_message == "model mnist not found"
    assert by_id["req-2"].content_type.startswith("application/grpc")


def test_real_grpc_bytes_any_chunking(recorded):
    """Feeding the recorded bytes in 1-1000 byte pieces gives the same events as in one piece."""
    client_bytes, server_bytes = (bytes(b) for b in recorded[0])
    for role, data in (("client", client_bytes), ("server", server_bytes)):
        whole = H2Parser(role).feed(data, 0)
        parser, pieces, at, size = H2Parser(role), [], 0, 1
        while at < len(data):
            pieces += parser.feed(data[at:at + size], at)
            at += size
            size = size * 7 % 1000 + 1
        assert pieces == whole
