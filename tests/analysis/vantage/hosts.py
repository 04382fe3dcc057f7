"""The two hosts of the network-namespace test, run inside their namespaces:

    python hosts.py serve ADDRESS HTTP_PORT GRPC_PORT SLEEP_S   # prints "ready", serves on
    python hosts.py client ADDRESS HTTP_PORT GRPC_PORT N        # prints the request ids (JSON)

The server sleeps SLEEP_S in every request before it answers (HTTP/1.1 keep-alive and a unary
gRPC method), so the server's own time is known.
"""
from __future__ import annotations

import http.client
import http.server
import json
import signal
import sys
import threading
import time
from concurrent import futures

METHOD = "/inferwire.test.Sleep/Unary"


def serve(address: str, http_port: int, grpc_port: int, sleep_s: float) -> None:
    import grpc

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(sleep_s)
            body = b"slept"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Request-Id", self.headers.get("X-Request-Id", ""))
            self.end_headers()
            self.wfile.write(body)

    web = http.server.ThreadingHTTPServer((address, http_port), Handler)
    threading.Thread(target=web.serve_forever, daemon=True).start()

    def unary(request, context):
        time.sleep(sleep_s)
        return request

    rpc = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    rpc.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "inferwire.test.Sleep", {"Unary": grpc.unary_unary_rpc_method_handler(unary)}),))
    rpc.add_insecure_port(f"{address}:{grpc_port}")
    rpc.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    stop.wait()
    rpc.stop(None)
    web.shutdown()


def client(address: str, http_port: int, grpc_port: int, n: int) -> None:
    import grpc
    ids = []
    web = http.client.HTTPConnection(address, http_port, timeout=10)
    for i in range(n):
        rid = f"h{i}"
        web.request("POST", "/v1/models/mnist:predict", body=b"x" * 1000,
                    headers={"X-Request-Id": rid})
        assert web.getresponse().read() == b"slept"
        ids.append(rid)
    web.close()
    options = [("grpc.enable_http_proxy", 0)]
    with grpc.insecure_channel(f"{address}:{grpc_port}", options=options) as channel:
        call = channel.unary_unary(METHOD)
        for i in range(n):
            rid = f"g{i}"
            assert call(b"y" * 1000, metadata=(("x-request-id", rid),), timeout=10) == b"y" * 1000
            ids.append(rid)
    print(json.dumps(ids), flush=True)


if __name__ == "__main__":
    mode, address, a, b, c = sys.argv[1:6]
    if mode == "serve":
        serve(address, int(a), int(b), float(c))
    else:
        client(address, int(a), int(b), int(c))
