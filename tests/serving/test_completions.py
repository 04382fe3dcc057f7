"""The OpenAI-compatible completions of the embedded server (issue 20 item 2): the project's own
character-level model, streamed as Server-Sent Events or not, on the token schedule."""
from __future__ import annotations

import http.client
import json
import statistics
import time

import pytest

from inferwire.protocols.sse import sse_events
from inferwire.serving import completions as C


def post(port, path, payload, rid="c1", raw=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", path, body=raw if raw is not None else json.dumps(payload),
                  headers={"Content-Type": "application/json", "x-request-id": rid})
    resp = conn.getresponse()
    return conn, resp


def events_of(body: bytes) -> list[dict | str]:
    out = []
    for e in sse_events(body):
        data = body[e.start:e.end].decode().strip()
        assert data.startswith("data: ")
        data = data[len("data: "):]
        out.append(data if data == "[DONE]" else json.loads(data))
    return out


def test_model_is_deterministic_and_from_its_corpus():
    m = C.CharModel()
    a, b = m.generate("the ", 40), m.generate("the ", 40)
    assert a == b and len(a) == 40 and set(a) <= set(C.CORPUS)
    assert m.generate("the ", 40, seed=1) != m.generate("the ", 40, seed=2)


@pytest.mark.parametrize("path,payload,why", [
    ("/v1/completions", {"prompt": 3}, "'prompt' must be a string"),
    ("/v1/completions", {"prompt": "x", "max_tokens": 0}, "'max_tokens' must be"),
    ("/v1/completions", {"prompt": "x", "max_tokens": 5000}, "'max_tokens' must be"),
    ("/v1/chat/completions", {"messages": []}, "'messages' must be"),
])
def test_bad_requests_are_named(path, payload, why):
    with pytest.raises(C.ApiError, match=why):
        C.parse_request(path, json.dumps(payload).encode())


def test_streamed_completion_one_event_per_token(server, server_log):
    conn, resp = post(server.rest_port, "/v1/completions",
                      {"prompt": "the model", "max_tokens": 12, "stream": True}, rid="s-12")
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "text/event-stream"
    assert resp.getheader("Transfer-Encoding") == "chunked"
    body = resp.read()
    conn.close()
    events = events_of(body)
    assert len(events) == 13 and events[-1] == "[DONE]"
    tokens = [e["choices"][0]["text"] for e in events[:-1]]
    assert "".join(tokens) == "".join(C.CharModel().generate("the model", 12))
    assert [e["choices"][0]["finish_reason"] for e in events[:-1]] == [None] * 11 + ["length"]
    assert all(e["object"] == "text_completion" and e["id"] == "cmpl-s-12" for e in events[:-1])
    rec = [r for r in server_log() if r["request_id"] == "s-12"]
    assert rec and rec[0]["model"] == C.MODEL_NAME and rec[0]["status"] == "OK"


def test_streamed_chat_and_unstreamed(server):
    conn, resp = post(server.rest_port, "/v1/chat/completions",
                      {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 5,
                       "stream": True})
    events = events_of(resp.read())
    conn.close()
    deltas = [e["choices"][0]["delta"] for e in events[:-1]]
    assert len(deltas) == 5 and deltas[0]["role"] == "assistant"
    assert all("content" in d and len(d["content"]) == 1 for d in deltas)
    conn, resp = post(server.rest_port, "/v1/chat/completions",
                      {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 5})
    body = json.loads(resp.read())
    conn.close()
    assert resp.getheader("Content-Type") == "application/json"
    assert body["choices"][0]["message"]["content"] == "".join(d["content"] for d in deltas)
    assert body["usage"] == {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}


def test_tokens_arrive_on_the_token_schedule(server):
    """The default 10 ms a token: each SSE chunk is read as it is written, the median gap
    >= 10 ms, and the whole stream takes at least 20 x 10 ms.  (The median, not the mean from
    the first chunk: a reader late for the first chunk on a loaded host reads the next ones
    back to back, which shortens that span without any chunk sent early.)"""
    t0 = time.perf_counter()
    conn, resp = post(server.rest_port, "/v1/completions",
                      {"prompt": "a", "max_tokens": 20, "stream": True})
    arrivals = []
    while True:
        line = resp.fp.readline()                       # chunk-size line
        size = int(line.strip(), 16)
        if size == 0:
            break
        resp.fp.read(size + 2)
        arrivals.append(time.perf_counter())
    conn.close()
    assert len(arrivals) == 21
    assert arrivals[19] - t0 >= 0.2 - 1e-3
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:20])]
    assert statistics.median(gaps) >= 0.010 - 1e-3, gaps


def test_v1_models_routes_unchanged_and_errors(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=30)
    conn.request("GET", "/v1/models/mnist")
    assert conn.getresponse().status == 200
    conn.close()
    conn, resp = post(server.rest_port, "/v1/completions", None, raw=b"{not json")
    assert resp.status == 400
    assert "not JSON" in json.loads(resp.read())["error"]["message"]
    conn.close()
    conn, resp = post(server.rest_port, "/v1/completionsx", {"prompt": "x"})
    assert resp.status == 400          # TF Serving's "Malformed request", as before
    conn.close()
