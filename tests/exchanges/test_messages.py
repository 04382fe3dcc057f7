"""Per-message timing of streamed responses (issue 20), on crafted pcaps at exact times.

HTTP/1.1 chunked and Server-Sent Events, HTTP/2 event streams and gRPC streams: each message's
first and last byte at the capture time of the packet that carried it.
"""
import math
import struct

import numpy as np
import pytest

import inferwire
from craft import T0_NS, Conversation, http_request, http_response, write_pcap
from h2craft import grpc_msg, grpc_request_headers, h2_setup

US = 1_000
SSE_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")


def chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def at(us: float) -> float:
    """The table's float seconds of T0 + ``us`` microseconds."""
    return (T0_NS + int(us * US)) / 1e9


def assert_times(values, expected_us):
    assert np.allclose(np.asarray(values, dtype=float), [at(u) for u in expected_us],
                       rtol=0, atol=1e-9), (list(values), expected_us)


def http1_sse(tmp_path, *, cut=False):
    c = Conversation()
    c.handshake(0, 10 * US, 20 * US)
    c.client(1_000 * US, http_request("/v1/completions", b'{"stream": true}', "s1"))
    e1 = b'data: {"t": "a"}\n\n'
    c.server(2_000 * US, SSE_HEAD + chunk(e1))
    e2 = b'data: {"t": "bb"}\r\n\r\n'
    c.server(3_000 * US, chunk(e2)[:12])                  # event 2 split across segments
    c.server(3_500 * US, chunk(e2)[12:])
    e3 = b": keep-alive\n\ndata: c\n\n"                  # a comment, then event 3
    c.server(4_000 * US, b"%x\r\n" % len(e3))            # the chunk-size line alone
    c.server(4_200 * US, e3 + b"\r\n")
    c.server(5_000 * US, chunk(b"data: x"))               # event 4 spans two chunks
    if cut:
        return write_pcap(tmp_path / "cut.pcap", c.packets)
    c.server(5_500 * US, chunk(b"yz\n\n"))
    c.server(6_000 * US, chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
    return write_pcap(tmp_path / "sse.pcap", c.packets)


def test_http1_sse_events_split_across_segments_and_chunks(tmp_path):
    a = inferwire.analyze(http1_sse(tmp_path))
    r = a.requests.iloc[0]
    assert r["response_messages"] == 4 and bool(r["stream_done"])
    assert pd_na(r["request_messages"])
    assert r["ttft_ms"] == pytest.approx(1.0, abs=1e-9)          # 1000 us -> 2000 us
    assert r["last_message_ms"] == pytest.approx(4.5, abs=1e-9)  # -> 5500 us
    # gaps between the events' last bytes: 2000 -> 3500 -> 4200 -> 5500 us
    gaps = np.array([1.5, 0.7, 1.3])
    assert r["message_gap_p50_ms"] == pytest.approx(np.percentile(gaps, 50), abs=1e-9)
    assert r["message_gap_p90_ms"] == pytest.approx(np.percentile(gaps, 90), abs=1e-9)
    assert r["message_gap_max_ms"] == pytest.approx(1.5, abs=1e-9)
    m = a.messages
    assert list(m["kind"]) == ["data", "data", "other", "data", "data", "done"]
    assert list(m["index"]) == list(range(6)) and set(m["direction"]) == {"response"}
    assert_times(m["start"], [2_000, 3_000, 4_200, 4_200, 5_000, 6_000])
    assert_times(m["end"], [2_000, 3_500, 4_200, 4_200, 5_500, 6_000])
    assert list(m["bytes"]) == [18, 21, 14, 9, 11, 14]
    assert m["complete"].all() and (m["request_id"] == "s1").all()
    assert (m["connection"] == 0).all() and (m["stream"] == 1).all()


def pd_na(v) -> bool:
    return v is None or v is np.nan or (isinstance(v, float) and math.isnan(v)) or \
        str(v) == "<NA>"


def test_stream_cut_at_capture_end(tmp_path):
    a = inferwire.analyze(http1_sse(tmp_path, cut=True))
    r = a.requests.iloc[0]
    assert not r["complete"]
    assert r["response_messages"] == 3                 # the cut event is not counted
    assert not bool(r["stream_done"])
    assert r["last_message_ms"] == pytest.approx(3.2, abs=1e-9)     # 1000 -> 4200 us
    m = a.messages
    last = m.iloc[-1]
    assert last["kind"] == "data" and not last["complete"] and math.isnan(last["end"])
    assert last["start"] == pytest.approx(at(5_000), abs=1e-9)


def test_http1_chunks_without_sse(tmp_path):
    c = Conversation()
    c.handshake(0, 10 * US, 20 * US)
    c.client(1_000 * US, http_request("/stream", b"{}", "c1"))
    c.server(2_000 * US, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b"abc"))
    c.server(3_000 * US, b"5\r")                         # size line split inside its CRLF
    c.server(3_100 * US, b"\nhel")
    c.server(3_300 * US, b"lo\r\n0\r\n\r\n")
    a = inferwire.analyze(write_pcap(tmp_path / "chunks.pcap", c.packets))
    r = a.requests.iloc[0]
    assert r["response_messages"] == 2 and not bool(r["stream_done"])
    assert r["ttft_ms"] == pytest.approx(1.0, abs=1e-9)
    assert r["message_gap_max_ms"] == pytest.approx(1.3, abs=1e-9)   # 2000 -> 3300 us
    assert_times(a.messages["start"], [2_000, 3_000])
    assert_times(a.messages["end"], [2_000, 3_300])
    assert list(a.messages["bytes"]) == [3, 5]


def test_unary_requests_have_no_messages(tmp_path):
    c = Conversation()
    c.handshake(0, 10 * US, 20 * US)
    c.client(1_000 * US, http_request())
    c.server(2_000 * US, http_response())
    a = inferwire.analyze(write_pcap(tmp_path / "unary.pcap", c.packets))
    r = a.requests.iloc[0]
    for col in ("request_messages", "response_messages", "ttft_ms", "message_gap_p50_ms",
                "stream_done"):
        assert pd_na(r[col]), col
    assert len(a.messages) == 0
    paths = a.save(tmp_path / "out")
    assert "messages.csv" not in paths


def test_h2_sse_events_spanning_data_frames(tmp_path):
    c, h = h2_setup(8000)
    h.cli.send_headers(1, [(":method", "POST"), (":scheme", "http"), (":path", "/v1/completions"),
                           (":authority", "x"), ("content-type", "application/json"),
                           ("x-request-id", "h1")])
    h.cli.send_data(1, b'{"stream": true}', end_stream=True)
    c.client(1_000 * US, h.flush_client())
    h.srv.send_headers(1, [(":status", "200"), ("content-type", "text/event-stream")])
    h.srv.send_data(1, b"data: one\n\ndata: t")     # event 1 whole, event 2 begins
    c.server(2_000 * US, h.flush_server())
    h.srv.send_data(1, b"wo\n")                      # event 2 goes on in a later frame
    c.server(2_500 * US, h.flush_server())
    h.srv.send_data(1, b"\ndata: [DONE]\n\n", end_stream=True)
    c.server(3_000 * US, h.flush_server())
    a = inferwire.analyze(write_pcap(tmp_path / "h2sse.pcap", c.packets))
    r = a.requests.iloc[0]
    assert r["protocol"] == "h2" and r["response_messages"] == 2 and bool(r["stream_done"])
    assert r["ttft_ms"] == pytest.approx(1.0, abs=1e-9)
    assert r["message_gap_max_ms"] == pytest.approx(1.0, abs=1e-9)   # 2000 -> 3000 us
    m = a.messages
    assert list(m["kind"]) == ["data", "data", "done"]
    assert_times(m["start"], [2_000, 2_000, 3_000])
    assert_times(m["end"], [2_000, 3_000, 3_000])
    assert list(m["bytes"]) == [11, 11, 14]


def test_grpc_messages_spanning_frames_and_frames_with_several(tmp_path):
    c, h = h2_setup()
    h.cli.send_headers(1, grpc_request_headers("g1"))
    h.cli.send_data(1, grpc_msg(b"q" * 10))
    c.client(1_000 * US, h.flush_client())           # the first request message
    h.srv.send_headers(1, [(":status", "200"), ("content-type", "application/grpc")])
    h.srv.send_data(1, grpc_msg(b"a" * 3) + grpc_msg(b"b" * 4))   # one frame, two messages
    c.server(2_000 * US, h.flush_server())
    third = grpc_msg(b"c" * 30)
    h.srv.send_data(1, third[:12])                  # a message spanning two frames...
    c.server(3_000 * US, h.flush_server())
    h.srv.send_data(1, third[12:])                  # ...in two packets
    c.server(3_400 * US, h.flush_server())
    h.cli.send_data(1, grpc_msg(b"r" * 7), end_stream=True)    # a second request message
    c.client(3_600 * US, h.flush_client())
    h.srv.send_headers(1, [("grpc-status", "0")], end_stream=True)
    c.server(4_000 * US, h.flush_server())
    a = inferwire.analyze(write_pcap(tmp_path / "grpc.pcap", c.packets))
    r = a.requests.iloc[0]
    assert r["protocol"] == "grpc"
    assert r["request_messages"] == 2 and r["response_messages"] == 3
    assert bool(r["stream_done"])                   # the trailers (grpc-status) came
    assert r["ttft_ms"] == pytest.approx(1.0, abs=1e-9)          # first request message's end
    assert r["last_message_ms"] == pytest.approx(2.4, abs=1e-9)
    assert r["message_gap_p50_ms"] == pytest.approx(0.7, abs=1e-9)   # [0, 1.4]: median 0.7
    m = a.messages
    assert list(m["direction"]) == ["request", "request", "response", "response", "response"]
    assert list(m["index"]) == [0, 1, 0, 1, 2]
    assert list(m["bytes"]) == [10, 7, 3, 4, 30]
    assert_times(m["start"], [1_000, 3_600, 2_000, 2_000, 3_000])
    assert_times(m["end"], [1_000, 3_600, 2_000, 2_000, 3_400])


def test_unary_grpc_is_not_split(tmp_path):
    c, h = h2_setup()
    h.cli.send_headers(1, grpc_request_headers("u1"))
    h.cli.send_data(1, grpc_msg(b"q" * 10), end_stream=True)
    c.client(1_000 * US, h.flush_client())
    h.srv.send_headers(1, [(":status", "200"), ("content-type", "application/grpc")])
    h.srv.send_data(1, grpc_msg(b"a" * 3))
    h.srv.send_headers(1, [("grpc-status", "0")], end_stream=True)
    c.server(2_000 * US, h.flush_server())
    a = inferwire.analyze(write_pcap(tmp_path / "unary.pcap", c.packets))
    assert pd_na(a.requests.iloc[0]["response_messages"]) and len(a.messages) == 0


def test_messages_saved(tmp_path):
    a = inferwire.analyze(http1_sse(tmp_path))
    paths = a.save(tmp_path / "out")
    import pandas as pd
    back = pd.read_csv(paths["messages.csv"])
    assert list(back["kind"]) == list(a.messages["kind"])
    assert np.allclose(back["start"], a.messages["start"], rtol=0, atol=1e-6)
    assert pd.read_parquet(paths["messages.parquet"])["bytes"].tolist() == \
        a.messages["bytes"].tolist()


def test_sse_fast_path_agrees_with_the_line_by_line_reading():
    """Bodies with LF line ends only take the fast path; it must give what the general one
    gives (random events: data, [DONE], comments, multi-line data, id fields, extra blank
    lines, a cut last event)."""
    import random

    from inferwire.protocols import sse
    rng = random.Random(7)
    pieces = [b"data: {}\n\n", b"data: [DONE]\n\n", b": ping\n\n", b"data: a\ndata: b\n\n",
              b"id: 3\ndata: x\n\n", b"\n", b"data:[DONE]\n\n", b"event: e\n\n", b"data\n\n",
              b"retry: 5\n\n", b"data: [DONE] \n\n"]
    for _ in range(300):
        body = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        body += rng.choice([b"", b"data: cut", b"data: x\n"])
        assert sse._lf_events(body) == sse._line_events(body), body


def test_gap_percentiles_follow_numpys_rule():
    import random

    from inferwire.exchanges.messages import _percentile
    rng = random.Random(3)
    for n in (1, 2, 3, 7, 64, 101):
        v = sorted(rng.uniform(0, 50) for _ in range(n))
        for q in (50, 90):
            assert _percentile(v, q) == pytest.approx(float(np.percentile(v, q)), abs=1e-12)


def test_a_body_over_the_split_limit_is_left_whole(tmp_path, monkeypatch):
    from inferwire.exchanges import messages
    monkeypatch.setattr(messages, "MAX_SPLIT_BYTES", 40)
    a = inferwire.analyze(http1_sse(tmp_path))
    assert pd_na(a.requests.iloc[0]["response_messages"]) and len(a.messages) == 0
    assert a.requests.iloc[0]["complete"]


# -- the cases of issue 20's second pass ---------------------------------------------------------
def test_h2_data_frames_of_a_plain_body_are_not_messages(tmp_path):
    """An HTTP/2 response that is neither SSE nor gRPC is not split, however many DATA frames
    carry it: its frames are where the sender's HTTP/2 layer cut its buffer (frame size,
    flow-control window, write coalescing), not messages its application chose."""
    c, h = h2_setup(8000)
    h.cli.send_headers(1, [(":method", "POST"), (":scheme", "http"), (":path", "/v2/infer"),
                           (":authority", "x"), ("content-type", "application/json"),
                           ("x-request-id", "p1")], end_stream=True)
    c.client(1_000 * US, h.flush_client())
    h.srv.send_headers(1, [(":status", "200"), ("content-type", "application/json")])
    for k, t in enumerate((2_000, 2_500, 3_000)):
        h.srv.send_data(1, b"[%d," % k)
        c.server(t * US, h.flush_server())
    h.srv.send_data(1, b"0]", end_stream=True)
    c.server(3_200 * US, h.flush_server())
    a = inferwire.analyze(write_pcap(tmp_path / "h2plain.pcap", c.packets))
    r = a.requests.iloc[0]
    assert r["protocol"] == "h2" and r["complete"] and r["response_bytes"] == 11
    assert r["response_end"] == pytest.approx(at(3_200), abs=1e-9)
    for col in ("request_messages", "response_messages", "ttft_ms", "stream_done"):
        assert pd_na(r[col]), col
    assert len(a.messages) == 0


def test_http1_sse_with_a_content_length_body(tmp_path):
    """SSE framed by Content-Length (not chunked): the events are split as in a chunked body;
    the plain path (head within one packet) reads it."""
    events = b"data: a\n\ndata: bb\n\ndata: [DONE]\n\n"
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Content-Length: %d\r\n\r\n" % len(events))
    c = Conversation()
    c.handshake(0, 10 * US, 20 * US)
    c.client(1_000 * US, http_request("/v1/completions", b'{"stream": true}', "L1"))
    c.server(2_000 * US, head + events[:12])       # event 1, event 2's first 3 bytes
    c.server(2_700 * US, events[12:20])             # event 2's end, [DONE]'s first bytes
    c.server(3_000 * US, events[20:])
    a = inferwire.analyze(write_pcap(tmp_path / "sse_cl.pcap", c.packets))
    r = a.requests.iloc[0]
    assert r["complete"] and r["response_messages"] == 2 and bool(r["stream_done"])
    assert r["ttft_ms"] == pytest.approx(1.0, abs=1e-9)
    assert r["message_gap_max_ms"] == pytest.approx(0.7, abs=1e-9)
    m = a.messages
    assert list(m["kind"]) == ["data", "data", "done"] and list(m["bytes"]) == [9, 10, 14]
    assert_times(m["start"], [2_000, 2_000, 2_700])
    assert_times(m["end"], [2_000, 2_700, 3_000])


def test_http1_chunked_request_body(tmp_path):
    """A chunked request body's chunks are request messages (request_messages); the response's
    times still count from request_end (the last chunk's packet)."""
    c = Conversation()
    c.handshake(0, 10 * US, 20 * US)
    c.client(1_000 * US, b"POST /upload HTTP/1.1\r\nHost: x\r\nx-request-id: up1\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n" + chunk(b"abcd"))
    c.client(1_400 * US, chunk(b"ef")[:3])          # the chunk split across segments
    c.client(1_500 * US, chunk(b"ef")[3:])
    c.client(1_800 * US, chunk(b"g" * 20) + b"0\r\n\r\n")
    c.server(2_500 * US, SSE_HEAD.replace(b"text/event-stream", b"text/plain")
             + chunk(b"ok") + b"0\r\n\r\n")
    a = inferwire.analyze(write_pcap(tmp_path / "chunked_req.pcap", c.packets))
    r = a.requests.iloc[0]
    assert r["complete"] and r["request_messages"] == 3 and r["response_messages"] == 1
    assert r["ttft_ms"] == pytest.approx(0.7, abs=1e-9)      # 1800 -> 2500 us
    assert not bool(r["stream_done"])
    m = a.messages
    assert list(m["direction"]) == ["request"] * 3 + ["response"]
    assert list(m["index"]) == [0, 1, 2, 0] and list(m["bytes"]) == [4, 2, 20, 2]
    assert_times(m["start"], [1_000, 1_400, 1_800, 2_500])
    assert_times(m["end"], [1_000, 1_500, 1_800, 2_500])


def test_grpc_client_streaming(tmp_path):
    """Many request messages, one response message: request_messages counts them; times
    count from the first request message's last byte."""
    c, h = h2_setup()
    h.cli.send_headers(1, grpc_request_headers("cs1"))
    c.client(1_000 * US, h.flush_client())
    for k, t in enumerate((1_100, 1_300, 1_600, 2_000)):
        h.cli.send_data(1, grpc_msg(b"x" * (k + 1)), end_stream=k == 3)
        c.client(t * US, h.flush_client())
    h.srv.send_headers(1, [(":status", "200"), ("content-type", "application/grpc")])
    h.srv.send_data(1, grpc_msg(b"sum"))
    h.srv.send_headers(1, [("grpc-status", "0")], end_stream=True)
    c.server(2_600 * US, h.flush_server())
    a = inferwire.analyze(write_pcap(tmp_path / "client_stream.pcap", c.packets))
    r = a.requests.iloc[0]
    assert r["request_messages"] == 4 and r["response_messages"] == 1
    assert bool(r["stream_done"])
    assert r["ttft_ms"] == pytest.approx(1.5, abs=1e-9)      # 1100 -> 2600 us
    assert pd_na(r["message_gap_p50_ms"])
    m = a.messages
    assert list(m["direction"]) == ["request"] * 4 + ["response"]
    assert list(m["bytes"]) == [1, 2, 3, 4, 3]
    assert_times(m["end"], [1_100, 1_300, 1_600, 2_000, 2_600])


def test_grpc_message_cut_at_capture_end(tmp_path):
    """A server stream whose last message the capture cut: a row with complete False (its
    first byte's time, the bytes that arrived), not counted; stream_done False (no trailers);
    the request not complete."""
    c, h = h2_setup()
    h.cli.send_headers(1, grpc_request_headers("cut1"))
    h.cli.send_data(1, grpc_msg(b"q"), end_stream=True)
    c.client(1_000 * US, h.flush_client())
    h.srv.send_headers(1, [(":status", "200"), ("content-type", "application/grpc")])
    h.srv.send_data(1, grpc_msg(b"a" * 3) + grpc_msg(b"b" * 4))
    c.server(2_000 * US, h.flush_server())
    h.srv.send_data(1, grpc_msg(b"c" * 40)[:17])     # prefix and 12 of 40 bytes, then the end
    c.server(3_000 * US, h.flush_server())
    a = inferwire.analyze(write_pcap(tmp_path / "grpc_cut.pcap", c.packets))
    r = a.requests.iloc[0]
    assert not r["complete"] and r["protocol"] == "grpc"
    assert r["response_messages"] == 2 and not bool(r["stream_done"])
    assert r["last_message_ms"] == pytest.approx(1.0, abs=1e-9)
    m = a.messages
    assert list(m["direction"]) == ["request", "response", "response", "response"]
    assert list(m["complete"]) == [True, True, True, False]
    assert list(m["bytes"]) == [1, 3, 4, 12]
    assert m.iloc[-1]["start"] == pytest.approx(at(3_000), abs=1e-9)
    assert math.isnan(m.iloc[-1]["end"])


def test_grpc_request_message_cut_is_not_counted(tmp_path):
    """A client stream cut inside its third message: request_messages counts the two whole
    ones; the cut one is listed (complete False)."""
    c, h = h2_setup()
    h.cli.send_headers(1, grpc_request_headers("cut3"))
    h.cli.send_data(1, grpc_msg(b"a") + grpc_msg(b"bb"))
    c.client(1_000 * US, h.flush_client())
    h.srv.send_headers(1, [(":status", "200"), ("content-type", "application/grpc")])
    h.srv.send_data(1, grpc_msg(b"x"))
    c.server(1_500 * US, h.flush_server())
    h.cli.send_data(1, grpc_msg(b"c" * 9)[:8])
    c.client(2_000 * US, h.flush_client())
    a = inferwire.analyze(write_pcap(tmp_path / "grpc_cut3.pcap", c.packets))
    r = a.requests.iloc[0]
    assert r["request_messages"] == 2 and r["response_messages"] == 1
    assert r["ttft_ms"] == pytest.approx(0.5, abs=1e-9)
    m = a.messages
    assert list(m["direction"]) == ["request"] * 3 + ["response"]
    assert list(m["complete"]) == [True, True, False, True] and list(m["bytes"]) == [1, 2, 3, 1]


def test_grpc_prefix_cut_at_capture_end(tmp_path):
    """The capture ends inside the next message's 5-byte prefix: still a cut message (0 bytes
    after its prefix)."""
    c, h = h2_setup()
    h.cli.send_headers(1, grpc_request_headers("cut2"))
    h.cli.send_data(1, grpc_msg(b"q"), end_stream=True)
    c.client(1_000 * US, h.flush_client())
    h.srv.send_headers(1, [(":status", "200"), ("content-type", "application/grpc")])
    h.srv.send_data(1, grpc_msg(b"a" * 3) + grpc_msg(b"b" * 4) + b"\x00\x00")
    c.server(2_000 * US, h.flush_server())
    a = inferwire.analyze(write_pcap(tmp_path / "grpc_cut2.pcap", c.packets))
    m = a.messages
    assert list(m["complete"]) == [True, True, True, False] and m["bytes"].iloc[-1] == 0
    assert a.requests.iloc[0]["response_messages"] == 2


def test_h2_sse_frame_carrying_several_events(tmp_path):
    """One DATA frame with three whole events and the start of a fourth: all three end at that
    frame's packet; the fourth at the later frame's."""
    c, h = h2_setup(8000)
    h.cli.send_headers(1, [(":method", "POST"), (":scheme", "http"), (":path", "/v1/completions"),
                           (":authority", "x"), ("x-request-id", "m1")], end_stream=True)
    c.client(1_000 * US, h.flush_client())
    h.srv.send_headers(1, [(":status", "200"), ("content-type", "text/event-stream")])
    c.server(1_500 * US, h.flush_server())
    h.srv.send_data(1, b"data: 1\n\ndata: 2\n\n: ping\n\ndata: 3\n\ndata: ")
    c.server(2_000 * US, h.flush_server())
    h.srv.send_data(1, b"4\n\n")
    c.server(2_400 * US, h.flush_server())
    h.srv.send_data(1, b"data: [DONE]\n\n", end_stream=True)
    c.server(2_800 * US, h.flush_server())
    a = inferwire.analyze(write_pcap(tmp_path / "h2multi.pcap", c.packets))
    r = a.requests.iloc[0]
    assert r["response_messages"] == 4 and bool(r["stream_done"])
    assert r["ttft_ms"] == pytest.approx(1.0, abs=1e-9)
    m = a.messages
    assert list(m["kind"]) == ["data", "data", "other", "data", "data", "done"]
    assert_times(m["start"], [2_000] * 5 + [2_800])
    assert_times(m["end"], [2_000] * 4 + [2_400, 2_800])
    # gaps between the data events' last bytes: 0, 0, 0.4 ms
    assert r["message_gap_p50_ms"] == pytest.approx(0.0, abs=1e-9)
    assert r["message_gap_max_ms"] == pytest.approx(0.4, abs=1e-9)


def test_a_token_lost_before_the_capture_starts_at_its_own_retransmission(tmp_path):
    """Captured at the client (behind the loss): token 2's segment was lost before the capture
    point, token 3's arrived, then token 2's retransmission.  Token 2 starts and ends at the
    retransmission (the receiver had none of its bytes before); token 3 starts at its own
    packet and ends at the retransmission (bytes are handed over in order).  Before, token 2's
    start took token 3's earlier packet: a byte of a later message, not of its own (seen on a
    lossy veth run, tests/netns/test_lossy_streaming.py)."""
    c = Conversation()
    c.handshake(0, 10 * US, 20 * US)
    c.client(1_000 * US, http_request("/v1/completions", b'{"stream": true}', "s1"))
    tokens = [chunk(b'data: {"t": "%d"}\n\n' % k) for k in range(4)]
    c.server(2_000 * US, SSE_HEAD + tokens[0])
    lost = c.seq_s
    c.seq_s += len(tokens[1])                               # token 1: lost before the capture
    c.server(4_000 * US, tokens[2])
    c.server(4_500 * US, tokens[1], seq=lost)               # its retransmission
    c.server(6_000 * US, tokens[3])
    c.server(7_000 * US, chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
    a = inferwire.analyze(write_pcap(tmp_path / "lost.pcap", c.packets))
    m = a.messages.sort_values("index")
    assert list(m["kind"]) == ["data"] * 4 + ["done"]
    assert_times(m["start"], [2_000, 4_500, 4_000, 6_000, 7_000])
    assert_times(m["end"], [2_000, 4_500, 4_500, 6_000, 7_000])
    r = a.requests.iloc[0]
    assert r["response_start"] == pytest.approx(at(2_000), abs=1e-9)
    assert r["message_gap_max_ms"] == pytest.approx(2.5, abs=1e-6)        # 2000 -> 4500 us
