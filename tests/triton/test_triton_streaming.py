"""Triton's decoupled streaming model (issue 20) on the real ``tritonserver``: the project's
character model streamed one token per response over HTTP ``generate_stream`` (SSE) and gRPC
``ModelStreamInfer`` (bidirectional stream), at the configured time per token; a capture run
(`--server triton --stream-tokens N`) analyzed per message and cross-checked with tshark's
``grpc.message_length`` and ``http.chunk_size``, the client's TTFT never below the wire's."""
from __future__ import annotations

import http.client
import json
import statistics
from unittest.mock import ANY

import pandas as pd
import pytest

from inferwire.load.triton_stream import GenerateStreamWorkload, ModelStreamWorkload
from inferwire.serving.charlm import CharModel
from inferwire.serving.triton.stream_repository import (StreamModelOptions, instance_streams,
                                                        stream_config_pbtxt,
                                                        write_stream_repository)

TOKENS, TOKEN_MS = 6, 5.0
PROMPT = "the server reads the request"


def test_config_is_decoupled_with_the_token_time():
    text = stream_config_pbtxt(StreamModelOptions(token_time_ms=2.5, instances=2))
    assert "model_transaction_policy { decoupled: true }" in text
    assert 'key: "token_time_ms" value: { string_value: "2.5" }' in text
    assert "count: 2 kind: KIND_CPU" in text and "max_batch_size: 0" in text


def test_instance_lines_in_tritons_log():
    log = ("I1205 05:16:40.1 77 server.cc:1] stopping\n"
           "inferwire charlm instance charlm_0_0: 21 streams, 193 decode steps\n"
           "inferwire charlm instance charlm_0_1: 3 streams, 18 decode steps\n")
    assert instance_streams(log) == {"charlm_0_0": {"streams": 21, "decode_steps": 193},
                                     "charlm_0_1": {"streams": 3, "decode_steps": 18}}
    assert instance_streams("killed before unload\n") == {}


@pytest.fixture
def stream_triton(tmp_path, start_triton):
    repo = tmp_path / "repo"
    write_stream_repository(repo, StreamModelOptions(token_time_ms=TOKEN_MS))
    return start_triton(repo, models=("charlm",))


def _generate_stream(port: int, body: dict) -> tuple[int, list[dict]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/v2/models/charlm/generate_stream", json.dumps(body),
                     {"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read().decode()
    finally:
        conn.close()
    events = [e.removeprefix("data: ") for e in data.split("\n\n") if e.strip()]
    return resp.status, [json.loads(e) for e in events]


def test_generate_stream_sends_one_event_per_token(stream_triton):
    expected = CharModel().generate(PROMPT, TOKENS)
    status, events = _generate_stream(stream_triton.opts.http_port, {
        "id": "r1", "text_input": PROMPT, "parameters": {"max_tokens": TOKENS}})
    assert status == 200
    assert [e["text_output"] for e in events] == expected     # the embedded server's text too
    assert {e["id"] for e in events} == {"r1"} and {e["model_name"] for e in events} == {"charlm"}
    status, events = _generate_stream(stream_triton.opts.http_port, {
        "text_input": PROMPT, "parameters": {"max_tokens": 0}})
    assert status == 400       # the first response is the error: it sets the status
    assert "max_tokens must be an integer from 1 to 4096, got 0" in events[-1]["error"]


def test_workloads_time_each_token_at_the_model_step(stream_triton):
    opts = stream_triton.opts
    for workload in (GenerateStreamWorkload("127.0.0.1", opts.http_port, "charlm",
                                            max_tokens=TOKENS),
                     ModelStreamWorkload("127.0.0.1", opts.grpc_port, "charlm",
                                         max_tokens=TOKENS)):
        try:
            results = [workload(f"w-{k}") for k in range(5)]
        finally:
            workload.close()
        assert all(r.ok and r.tokens == TOKENS for r in results), results
        # one decode step per token: the gaps' median is the step (the machine is shared and the
        # schedule absolute, so a late step is followed by a quick one: medians, loosely)
        assert TOKEN_MS * 0.5 < statistics.median(r.itl_p50_ms for r in results) < TOKEN_MS * 3
        spans = [(r.last_token_ns - r.first_token_ns) / 1e6 for r in results]
        assert statistics.median(spans) > (TOKENS - 1) * TOKEN_MS * 0.6
    bad = ModelStreamWorkload("127.0.0.1", opts.grpc_port, "charlm", max_tokens=5000)
    try:
        result = bad("w-bad")
    finally:
        bad.close()
    assert not result.ok and "max_tokens must be an integer from 1 to 4096" in result.error


def test_concurrent_streams_share_the_decode_step(stream_triton):
    """Four streams at once on one model instance: each still gets a token per step."""
    from concurrent.futures import ThreadPoolExecutor
    workload = ModelStreamWorkload("127.0.0.1", stream_triton.opts.grpc_port, "charlm",
                                   max_tokens=12)
    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(workload, [f"c-{k}" for k in range(4)]))
    finally:
        workload.close()
    assert all(r.ok and r.tokens == 12 for r in results)
    assert statistics.median(r.itl_p50_ms for r in results) < TOKEN_MS * 2


@pytest.mark.capture
@pytest.mark.slow
@pytest.mark.tshark
def test_streamed_capture_run_per_message_against_tshark(tmp_path):
    from needs import need_capture, need_tool

    from inferwire.experiment import RunConfig, run_experiment
    need_capture()
    need_tool("tshark", "tshark")
    result = run_experiment(RunConfig(out=str(tmp_path), server="triton", api="v2",
                                      stream_tokens=TOKENS, token_time_ms=TOKEN_MS, users=2,
                                      requests=12, duration_s=None, warmup_requests=2,
                                      progress=False))
    assert result.status == "ok", result.problems
    d = result.run_dir
    requests = pd.read_parquet(d / "requests.parquet")
    messages = pd.read_parquet(d / "messages.parquet")
    assert len(requests) == 28 and (requests["response_messages"] == TOKENS).all()
    grpc = requests[requests["protocol"] == "grpc"]
    assert len(grpc) == 14 and (grpc["request_messages"] == 1).all()
    assert (requests[requests["protocol"] == "http/1.1"]["path"]
            == "/v2/models/charlm/generate_stream").all()
    # the client's TTFT (request started -> token parsed) is never below the wire's
    for protocol in ("rest", "grpc"):
        client = pd.read_csv(d / f"client_log_{protocol}.csv")
        assert len(client) == 14 and (client["tokens"] == TOKENS).all()   # warm-up included
        merged = client.merge(requests, on="request_id", suffixes=("_client", ""))
        assert len(merged) == 14
        assert (merged["ttft_ms"] <= merged["ttft_ms_client"] + 1e-3).all()
    # Triton's first response leaves before the first token is on the wire (gRPC: stamped)
    joined = pd.read_parquet(d / "joined.parquet")
    g = joined[(joined["protocol"] == "grpc") & joined["triton_send_start"].notna()]
    assert len(g) == 14
    first = messages[(messages["direction"] == "response") & (messages["index"] == 0)]
    first = first.set_index("request_id")["start"]
    assert (g["triton_send_start"].to_numpy() <= first.loc[g["request_id"]].to_numpy()).all()
    server = json.loads((d / "manifest.json").read_text())["server"]
    assert server["model_config"]["instance_group"][0]["count"] == 1   # Triton's own answer
    assert server["stream_instances"] == {"charlm_0_0": {"streams": 28, "decode_steps": ANY}}
    summary = (d / "summary.md").read_text()
    assert "## Streaming: time to first token and between tokens (ms)" in summary
    assert "28 streamed requests" not in summary and "24 streamed requests" in summary
    assert "These requests streamed from Triton's decoupled model" in summary
    _against_tshark(d, result, messages, requests)


def _against_tshark(d, result, messages, requests):
    """Every message's size as tshark's dissectors report it, per connection (client port) and
    stream, in order; every message time a frame time."""
    from realtraffic import wireshark      # tests/ is on sys.path, as for needs
    manifest = json.loads((d / "manifest.json").read_text())
    rest, grpc = manifest["server"]["rest_port"], manifest["server"]["grpc_port"]
    pcap = d / "capture.pcapng"
    times, _ = wireshark.frame_table(pcap)
    frame_times = {round(t / 1e9, 9) for t in times.values()}
    assert {round(t, 9) for t in messages["start"]} <= frame_times
    assert {round(t, 9) for t in messages["end"]} <= frame_times
    by_id = requests.set_index("request_id")
    client_port = by_id["client"].str.rsplit(":", n=1).str[-1].astype(int)
    ours_grpc, ours_http = {}, {}
    for (rid, direction), part in messages.groupby(["request_id", "direction"]):
        sizes = part.sort_values("index")["bytes"].tolist()
        if by_id.loc[rid, "protocol"] == "grpc":
            key = (client_port[rid], int(part["stream"].iloc[0]), direction == "request")
            ours_grpc[key] = sizes
        else:
            ours_http.setdefault(client_port[rid], []).append(sizes)
    packets = wireshark.tshark_fields(
        pcap, ["tcp.srcport", "tcp.dstport", "http2.streamid", "http2.type",
               "grpc.message_length"],
        f"grpc && tcp.port == {grpc}",
        wireshark.decode_args((grpc,), "http2") + wireshark.REASSEMBLE_OUT_OF_ORDER)
    theirs = {}
    for p in packets:
        to_server = int(wireshark.one(p, "tcp.dstport")) == grpc
        port = int(wireshark.one(p, "tcp.srcport" if to_server else "tcp.dstport"))
        sid = wireshark.data_stream(p)
        for n in p.get("grpc.message_length", []):
            theirs.setdefault((port, sid, to_server), []).append(int(n))
    assert ours_grpc == theirs and len(theirs) == 2 * (requests["protocol"] == "grpc").sum()
    packets = wireshark.tshark_fields(pcap, ["tcp.dstport", "http.chunk_size"],
                                      f"http.response && tcp.port == {rest}",
                                      wireshark.decode_args((rest,), "http")
                                      + wireshark.REASSEMBLE_OUT_OF_ORDER)
    theirs = {}
    for p in packets:
        sizes = [int(s) for s in p.get("http.chunk_size", []) if int(s)]
        theirs.setdefault(int(wireshark.one(p, "tcp.dstport")), []).append(sizes)
    assert {k: sorted(v) for k, v in ours_http.items()} == {k: sorted(v) for k, v in
                                                          theirs.items()}
    assert sum(len(v) for v in theirs.values()) == (requests["protocol"] == "http/1.1").sum()


@pytest.mark.capture
@pytest.mark.slow
@pytest.mark.tshark
def test_locust_streams_from_triton_per_request_against_the_wire(tmp_path):
    """``--engine locust`` with ``--server triton --stream-tokens N``: the shipped locustfiles
    stream over generate_stream and ModelStreamInfer; every measured stream is in locust's own
    request log with its client-side token times, joins the wire by id with N messages each,
    its TTFT is at least the wire's and its last token no earlier than the wire's; the
    messages' sizes equal tshark's."""
    from locuststreams import check_locust_streams
    from needs import need_capture, need_tool

    from inferwire.experiment import RunConfig, run_experiment
    need_capture()
    need_tool("tshark", "tshark")
    result = run_experiment(RunConfig(out=str(tmp_path), server="triton", api="v2",
                                      engine="locust", stream_tokens=TOKENS,
                                      token_time_ms=TOKEN_MS, users=2, duration_s=2,
                                      warmup_requests=2, progress=False))
    assert result.status == "ok", result.problems
    d = result.run_dir
    requests = pd.read_parquet(d / "requests.parquet")
    assert (requests["response_messages"] == TOKENS).all()
    for protocol, name in (("rest", "triton_generate_stream"), ("grpc", "triton_model_stream")):
        check_locust_streams(d, name, protocol, TOKENS, requests)
    summary = (d / "summary.md").read_text()
    assert "The client's TTFT exceeds the wire's by" in summary
    assert "never less" in summary
    _against_tshark(d, result, pd.read_parquet(d / "messages.parquet"), requests)


@pytest.mark.capture
@pytest.mark.slow
def test_two_instances_reach_tritons_config_and_share_the_streams(tmp_path):
    """``instances=2`` (``--instances 2``): the running Triton's
    ``/v2/models/charlm/config`` (kept in the manifest) has an instance group of 2, and both
    instances' decode loops served streams, together every request of the run."""
    from needs import need_capture

    from inferwire.experiment import RunConfig, run_experiment
    need_capture()
    result = run_experiment(RunConfig(out=str(tmp_path), server="triton", api="v2",
                                      protocols=("grpc",), stream_tokens=TOKENS,
                                      token_time_ms=TOKEN_MS, users=4, requests=24,
                                      duration_s=None, warmup_requests=2, instances=2,
                                      progress=False))
    assert result.status == "ok", result.problems
    server = json.loads((result.run_dir / "manifest.json").read_text())["server"]
    assert server["model_config"]["instance_group"][0]["count"] == 2
    assert server["model_options"]["instances"] == 2
    instances = server["stream_instances"]
    assert sorted(instances) == ["charlm_0_0", "charlm_0_1"], instances
    assert all(i["streams"] >= 1 and i["decode_steps"] >= TOKENS for i in instances.values())
    assert sum(i["streams"] for i in instances.values()) == 26      # warm-up included
    requests = pd.read_parquet(result.run_dir / "requests.parquet")
    assert len(requests) == 26 and (requests["response_messages"] == TOKENS).all()


@pytest.mark.capture
@pytest.mark.slow
def test_a_run_asking_more_than_the_default_limit_streams_every_token(tmp_path):
    """``--stream-tokens 5000``, above the model's default ``max_tokens_limit`` (4096, which
    refused every request of such a run, warm-up included): the run's model allows the run's N
    (Triton's own ``/v2/models/charlm/config`` says so) and every stream has all its tokens."""
    from needs import need_capture

    from inferwire.experiment import RunConfig, run_experiment
    need_capture()
    tokens = 5000
    result = run_experiment(RunConfig(out=str(tmp_path), server="triton", api="v2",
                                      protocols=("grpc",), stream_tokens=tokens,
                                      token_time_ms=0.2, users=1, requests=2, duration_s=None,
                                      warmup_requests=1, progress=False))
    assert result.status == "ok", result.problems
    server = json.loads((result.run_dir / "manifest.json").read_text())["server"]
    limit = server["model_config"]["parameters"]["max_tokens_limit"]["string_value"]
    assert int(limit) == tokens
    requests = pd.read_parquet(result.run_dir / "requests.parquet")
    assert len(requests) == 3 and (requests["response_messages"] == tokens).all()
    assert requests["stream_done"].all()


def test_a_request_joins_the_running_batch_at_the_next_step(tmp_path, start_triton):
    """With a 100 ms step and a long stream running, a new request's first token comes out of the
    next step: 0 to 100 ms after it was sent, plus Triton's way in and out.  A loop that took
    newcomers only after the next step's tokens gives 100 to 200 ms.  The bar is a request to
    the idle model, measured just before on this host as loaded as it is: its first token comes
    one whole step after it arrives, plus the same way in and out (a bar of 100 ms alone failed
    whenever a loaded host's way in and out grew).  Most, not all, must be under it (a sample
    can stall for 100 ms), and their median a quarter step under it."""
    import threading
    import time
    step_ms = 100.0
    repo = tmp_path / "repo100"
    write_stream_repository(repo, StreamModelOptions(token_time_ms=step_ms))
    triton = start_triton(repo, models=("charlm",))
    port = triton.opts.grpc_port
    long = ModelStreamWorkload("127.0.0.1", port, "charlm", max_tokens=60)
    short = ModelStreamWorkload("127.0.0.1", port, "charlm", max_tokens=1)
    background = threading.Thread(target=long, args=("long",))
    try:
        idle = []
        for k in range(3):
            sent = time.time_ns()
            result = short(f"idle-{k}")
            assert result.ok and result.tokens == 1
            idle.append((result.first_token_ns - sent) / 1e6)
        bar_ms = statistics.median(idle)
        background.start()
        time.sleep(0.25)
        ttft = []
        for k in range(8):
            time.sleep(0.037 * k)                # arrive at different points of a step
            sent = time.time_ns()
            result = short(f"s-{k}")
            assert result.ok and result.tokens == 1
            ttft.append((result.first_token_ns - sent) / 1e6)
        background.join(10)
    finally:
        long.close()
        short.close()
    print(f"\nfirst token, idle model: {idle} ms; joining a running batch: {ttft} ms")
    # joining: the way in and out + 0..100 ms (median ~50 under the bar); the late loop's
    # 100..200 ms would put the median ~50 over it
    assert sum(t < bar_ms for t in ttft) >= 5, (ttft, idle)
    assert statistics.median(ttft) < bar_ms - step_ms / 4, (ttft, idle)


def test_a_cancelled_stream_stops_at_the_next_step(tmp_path, start_triton):
    """A client that cancels its ModelStreamInfer call after 3 of 200 tokens (50 ms steps):
    the model ends the request at its next step (Triton completes and writes its trace within
    a second on a quiet host), instead of sending the other 197 tokens to nobody for 10 s.
    The bound is half of those 9.85 s, so that a loaded host's slower trace does not fail it."""
    import time

    import grpc

    from inferwire.load.triton_stream import STREAM_METHOD
    from inferwire.serving.triton.trace import read_trace_files
    repo = tmp_path / "repo"
    write_stream_repository(repo, StreamModelOptions(token_time_ms=50))
    (tmp_path / "trace").mkdir()
    triton = start_triton(repo, models=("charlm",), trace_file=str(tmp_path / "trace" / "t.json"))
    workload = ModelStreamWorkload("127.0.0.1", triton.opts.grpc_port, "charlm", max_tokens=200)
    with grpc.insecure_channel(f"127.0.0.1:{triton.opts.grpc_port}") as channel:
        call = channel.stream_stream(STREAM_METHOD, request_serializer=None,
                                     response_deserializer=None)
        responses = call(iter([workload.request("cancelled")]), timeout=30)
        for k, _ in enumerate(responses):
            if k == 2:
                responses.cancel()
                break
        cancelled_at = time.monotonic()
        seen = []
        rest_s = (200 - 3) * 0.050 / 2
        while time.monotonic() - cancelled_at < rest_s and not seen:
            time.sleep(0.05)
            entries, _ = read_trace_files(tmp_path / "trace" / "t.json")
            seen = [e for e in entries if e.get("request_id") == "cancelled"]
    assert seen, f"the cancelled request was still running {rest_s:.1f} s later"
    workload.close()
    short = ModelStreamWorkload("127.0.0.1", triton.opts.grpc_port, "charlm", max_tokens=3)
    after = short("after")             # the model still serves
    short.close()
    assert after.ok and after.tokens == 3


@pytest.mark.capture
@pytest.mark.slow
def test_open_loop_streams_from_triton(tmp_path):
    """Open loop (a constant 40 requests/s, streams overlapping) over both protocols: every
    stream complete on the wire, the client's TTFT never below the wire's."""
    from needs import need_capture

    from inferwire.experiment import RunConfig, run_experiment
    need_capture()
    result = run_experiment(RunConfig(out=str(tmp_path), server="triton", api="v2",
                                      stream_tokens=TOKENS, token_time_ms=TOKEN_MS, mode="open",
                                      rate=40, requests=16, duration_s=None, warmup_requests=0,
                                      progress=False))
    assert result.status == "ok", result.problems
    requests = pd.read_parquet(result.run_dir / "requests.parquet")
    assert len(requests) == 32 and (requests["response_messages"] == TOKENS).all()
    for protocol in ("rest", "grpc"):
        client = pd.read_csv(result.run_dir / f"client_log_{protocol}.csv")
        merged = client.merge(requests, on="request_id", suffixes=("_client", ""))
        assert len(merged) == 16 and (merged["tokens"] == TOKENS).all()
        assert (merged["ttft_ms"] <= merged["ttft_ms_client"] + 1e-3).all()
