"""The ``error`` column on crafted pcaps: V2 / TF Serving JSON error bodies (split across
segments, chunked, cut by the capture), text bodies, and gRPC grpc-message per stream."""
import pandas as pd

import inferwire
from craft import Conversation, http_request, http_response, write_pcap
from h2craft import grpc_msg, h2_setup

US = 1_000
V2_PATH = "/v2/models/mnist/infer"


def test_http1_error_bodies_per_request(tmp_path):
    c = Conversation()
    c.handshake(0, 10 * US, 20 * US)
    ok = http_response(b'{"model_name": "mnist", "outputs": []}')
    v2 = http_response(b'{"error": "model \'nope\' is not found"}', status=b"404 Not Found")
    text = http_response(b"<html>Bad gateway</html>", status=b"502 Bad Gateway")
    parts = (b'{"error": "shape [1, 2] w', b'rong"}   ')
    chunked_body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    chunked = (b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked_body)
    t = 100 * US
    for i, resp in enumerate((ok, v2, text, chunked)):
        c.client(t, http_request(path=V2_PATH, body=b'{"inputs": []}', request_id=f"r{i}"))
        c.server(t + 200 * US, resp[:len(resp) // 2])    # every body split across segments
        c.server(t + 250 * US, resp[len(resp) // 2:])
        c.ack_from_client(t + 300 * US)
        t += 1_000 * US
    c.fin_from_client(t)
    c.fin_from_server(t + 10 * US)
    r = inferwire.analyze(write_pcap(tmp_path / "e.pcap", c.packets)).requests
    assert list(r["status"]) == [200, 404, 502, 400]
    assert pd.isna(r["error"].iloc[0])
    assert list(r["error"].iloc[1:]) == ["model 'nope' is not found", "<html>Bad gateway</html>",
                                         "shape [1, 2] wrong"]
    assert (r["path"] == V2_PATH).all()


def test_http1_error_body_not_captured_stays_empty(tmp_path):
    c = Conversation()
    c.handshake(0, 10 * US, 20 * US)
    c.client(100 * US, http_request(path=V2_PATH, request_id="cut"))
    resp = http_response(b'{"error": "' + b"x" * 200 + b'"}', status=b"400 Bad Request")
    c.server(300 * US, resp[:-50])                       # the body's end never arrives
    r = inferwire.analyze(write_pcap(tmp_path / "cut.pcap", c.packets)).requests
    assert r["status"].iloc[0] == 400 and not r["complete"].iloc[0]
    assert pd.isna(r["error"].iloc[0])


def _grpc_call(h, c, t, sid, rid, status, message=None):
    h.cli.send_headers(sid, [(":method", "POST"), (":scheme", "http"),
                             (":path", "/inference.GRPCInferenceService/ModelInfer"),
                             (":authority", "x"), ("content-type", "application/grpc"),
                             ("te", "trailers"), ("x-request-id", rid)])
    h.cli.send_data(sid, grpc_msg(b"\x0a\x05mnist"), end_stream=True)
    c.client(t, h.flush_client())
    h.srv.send_headers(sid, [(":status", "200"), ("content-type", "application/grpc")])
    trailers = [("grpc-status", str(status))]
    if message is not None:
        trailers.append(("grpc-message", message))
    if status == 0:
        h.srv.send_data(sid, grpc_msg(b"\x0a\x05mnist"))
    h.srv.send_headers(sid, trailers, end_stream=True)
    c.server(t + 100 * US, h.flush_server())


def test_grpc_v2_errors_per_stream(tmp_path):
    c, h = h2_setup(8001)
    _grpc_call(h, c, 1_000 * US, 1, "ok", 0)
    _grpc_call(h, c, 2_000 * US, 3, "nf", 5, "Request for unknown model: 'x' is not found")
    _grpc_call(h, c, 3_000 * US, 5, "bad", 3, "unexpected shape for input %27images%27")
    _grpc_call(h, c, 4_000 * US, 7, "bare", 13)
    r = inferwire.analyze(write_pcap(tmp_path / "g.pcap", c.packets)).requests
    assert list(r["request_id"]) == ["ok", "nf", "bad", "bare"]
    assert list(r["grpc_status"]) == [0, 5, 3, 13]
    assert (r["path"] == "/inference.GRPCInferenceService/ModelInfer").all()
    assert pd.isna(r["error"].iloc[0])
    assert list(r["error"].iloc[1:]) == ["Request for unknown model: 'x' is not found",
                                         "unexpected shape for input 'images'",
                                         "grpc-status 13"]


def test_the_run_summary_lists_the_errors_seen_on_the_wire(tmp_path):
    from inferwire.experiment.summary import write_summary
    test_grpc_v2_errors_per_stream(tmp_path)
    analysis = inferwire.analyze(tmp_path / "g.pcap")
    text = write_summary(tmp_path, {"status": "ok"}, analysis, None)
    section = text.split("## Errors the server sent, read from the wire")[1].split("##")[0]
    rows = [line for line in section.splitlines() if line.startswith("| grpc")]
    assert rows == ["| grpc | 13 | 1 | grpc-status 13 |",
                    "| grpc | 3 | 1 | unexpected shape for input 'images' |",
                    "| grpc | 5 | 1 | Request for unknown model: 'x' is not found |"]
