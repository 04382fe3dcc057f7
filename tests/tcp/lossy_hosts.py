"""The two hosts of the lossy-network test, run inside their namespaces:

    python lossy_hosts.py serve ADDRESS PORT BODY_BYTES     # prints "ready"; on SIGTERM, JSON
    python lossy_hosts.py client ADDRESS PORT N BODY_BYTES  # prints JSON, one entry per request
    python lossy_hosts.py grpc ADDRESS PORT N BODY_BYTES    # the same over gRPC (PORT + 1)

The server (HTTP/1.1 keep-alive on PORT, gRPC on PORT + 1) reads each request's body, notes
when it had it all (``got_ns``), sleeps 5 ms, notes ``done_ns`` and only then writes a response
of BODY_BYTES.  The client sends N requests of BODY_BYTES each on one connection and notes
when it started each and when it had the whole response.  Times are time.time_ns() (the namespaces share the
kernel's clock with the capture).
"""
from __future__ import annotations

import http.client
import http.server
import json
import signal
import sys
import threading
import time


def serve(address: str, port: int, size: int) -> None:
    seen = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            got = time.time_ns()
            time.sleep(0.005)
            rid = self.headers.get("X-Request-Id", "")
            seen[rid] = {"got_ns": got, "done_ns": time.time_ns()}
            body = b"r" * size
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    web = http.server.ThreadingHTTPServer((address, port), Handler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    rpc = _grpc_server(address, port + 1, size, seen)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    stop.wait()
    rpc.stop(None)
    web.shutdown()
    print(json.dumps(seen), flush=True)


def _grpc_server(address: str, port: int, size: int, seen: dict):
    import grpc
    from concurrent import futures

    def unary(request, context):
        got = time.time_ns()
        time.sleep(0.005)
        rid = dict(context.invocation_metadata()).get("x-request-id", "")
        seen[rid] = {"got_ns": got, "done_ns": time.time_ns()}
        return b"r" * size

    rpc = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    rpc.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "inferwire.test.Lossy", {"Unary": grpc.unary_unary_rpc_method_handler(unary)}),))
    rpc.add_insecure_port(f"{address}:{port}")
    rpc.start()
    return rpc


def grpc_client(address: str, port: int, n: int, size: int) -> None:
    import grpc
    with grpc.insecure_channel(f"{address}:{port + 1}") as channel:
        call = channel.unary_unary("/inferwire.test.Lossy/Unary")
        out = []
        for i in range(n):
            rid = f"lossy-grpc-{i}"
            start = time.time_ns()
            call(b"q" * size, metadata=(("x-request-id", rid),), timeout=30)
            out.append({"request_id": rid, "start_ns": start, "end_ns": time.time_ns()})
    print(json.dumps(out), flush=True)


def client(address: str, port: int, n: int, size: int) -> None:
    conn = http.client.HTTPConnection(address, port, timeout=30)
    out = []
    for i in range(n):
        rid = f"lossy-{i}"
        start = time.time_ns()
        conn.request("POST", "/", body=b"q" * size, headers={"X-Request-Id": rid})
        resp = conn.getresponse()
        resp.read()
        out.append({"request_id": rid, "start_ns": start, "end_ns": time.time_ns()})
    conn.close()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        (client if sys.argv[1] == "client" else grpc_client)(
            sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
