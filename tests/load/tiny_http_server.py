"""A real HTTP/1.1 server for the load tests, run as its own process (its own GIL).

``python tiny_http_server.py`` prints its port, then serves ``GET /?delay_ms=D&status=S`` with
keep-alive, answering after D ms with status S (default 200) in one write (no Nagle stalls).
It records the request ids (x-request-id) and the peak number of requests in progress; ``GET
/stats`` returns them as JSON.
"""
import json
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {"in_progress": 0, "peak": 0, "ids": []}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/stats":
            with LOCK:
                return self.reply(200, json.dumps(STATE).encode())
        query = urllib.parse.parse_qs(url.query)
        with LOCK:
            STATE["in_progress"] += 1
            STATE["peak"] = max(STATE["peak"], STATE["in_progress"])
            STATE["ids"].append(self.headers.get("x-request-id"))
        try:
            time.sleep(float(query.get("delay_ms", ["0"])[0]) / 1000)
            self.reply(int(query.get("status", ["200"])[0]), b"ok")
        finally:
            with LOCK:
                STATE["in_progress"] -= 1

    def reply(self, status, body):
        head = (f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n"
                "Content-Type: text/plain\r\n\r\n").encode()
        self.wfile.write(head + body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()
