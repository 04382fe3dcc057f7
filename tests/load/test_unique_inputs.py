"""PredictWorkload(inputs="unique") sends a different batch every request, across threads.

The requests go over real HTTP to a small TF Serving-shaped REST server that records each body.
"""
import hashlib
import http.server
import json
import threading

import pytest

from inferwire.errors import LoadError
from inferwire.load.workloads import UNIQUE_POOL, PredictWorkload


class _Recording(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    bodies: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        rows = len(json.loads(body)["instances"])
        self.bodies.append(hashlib.sha1(body).hexdigest())
        reply = json.dumps({"predictions": [[0.1] * 10] * rows}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Recording.bodies = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recording)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()


def _drive(workload, threads, each):
    def work(t):
        for i in range(each):
            result = workload(f"t{t}-{i}")
            assert result.ok, result.error
    ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    workload.close()


def test_unique_inputs_never_repeat_within_the_pool(server):
    w = PredictWorkload("rest", "127.0.0.1", server.server_address[1], batch_size=3,
                        encoding="json_row", inputs="unique")
    _drive(w, threads=3, each=40)
    assert len(_Recording.bodies) == 120 and len(set(_Recording.bodies)) == 120
    assert UNIQUE_POOL >= 120


def test_repeated_inputs_are_the_same(server):
    w = PredictWorkload("rest", "127.0.0.1", server.server_address[1], batch_size=3,
                        encoding="json_row")
    _drive(w, threads=1, each=10)
    assert len(_Recording.bodies) == 10 and len(set(_Recording.bodies)) == 1


def test_bad_inputs_choice_is_refused():
    with pytest.raises(LoadError, match="inputs"):
        PredictWorkload("rest", "127.0.0.1", 9, inputs="sometimes")


def test_rest_and_grpc_draw_from_different_pools():
    """A run sends REST then gRPC to one server: gRPC's unique inputs must be new to a server
    that caches by input (Triton's response cache), so each protocol has its own pool."""
    rest = PredictWorkload("rest", "127.0.0.1", 1, inputs="unique")
    grpc = PredictWorkload("grpc", "127.0.0.1", 1, inputs="unique")
    seen = {hashlib.sha1(row.tobytes()).digest() for row in rest._pool}
    assert len(seen) == UNIQUE_POOL
    assert not seen & {hashlib.sha1(row.tobytes()).digest() for row in grpc._pool}
