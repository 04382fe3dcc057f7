"""A streamed capture run end to end (issue 20 items 3-4): the embedded server's SSE completions
under the load generator (and locust), captured with dumpcap, analyzed per message, and
summary.md's streaming section splitting TTFT into the client's, the network's and the server's
share."""
import re

import pandas as pd
import pytest

from inferwire.errors import InferwireError
from inferwire.experiment import RunConfig, run_experiment
from inferwire.reference.locust import read_locust_json
from inferwire.serving.ports import free_ports
from locuststreams import check_locust_streams
from needs import need_capture

pytestmark = [pytest.mark.capture, pytest.mark.slow]

TOKENS, TOKEN_MS = 6, 5.0


def _ports() -> dict:
    """Free ports for the embedded server (8500/8501 may be another server's here)."""
    grpc, rest = free_ports(2)
    return {"grpc_port": grpc, "rest_port": rest}


def test_streamed_run_summary_and_tables(tmp_path):
    need_capture()
    result = run_experiment(RunConfig(out=str(tmp_path), protocols=("rest",), requests=20,
                                      duration_s=None, users=2, warmup_requests=3,
                                      stream_tokens=TOKENS, token_time_ms=TOKEN_MS,
                                      progress=False, **_ports()))
    assert result.status == "ok", result.problems
    d = result.run_dir
    requests = pd.read_parquet(d / "requests.parquet")
    client = pd.read_csv(d / "client_log_rest.csv")
    streamed = requests[requests["response_messages"].notna()]
    assert len(streamed) == 23 and (streamed["response_messages"] == TOKENS).all()
    assert (client["tokens"] == TOKENS).all()
    merged = streamed.merge(client, on="request_id", suffixes=("", "_client"))
    assert (merged["ttft_ms"] <= merged["ttft_ms_client"] + 1e-3).all()
    messages = pd.read_parquet(d / "messages.parquet")
    assert len(messages) == 23 * (TOKENS + 1)
    text = (d / "summary.md").read_text()
    assert "## Streaming: time to first token and between tokens (ms)" in text
    assert "20 streamed requests" in text           # the 3 warm-up requests left out
    row = re.search(r"\| wire inter-message gap, p50 per request \| ([0-9.]+) \|", text)
    assert row and abs(float(row.group(1)) - TOKEN_MS) < TOKEN_MS    # the server's schedule
    assert "never less: 20 of 20" in text
    from inferwire.report.build import build_report
    written = build_report(d, tmp_path / "report", har=False, annotate=False)
    page = written["html"].read_text()
    assert "<h2>Streaming: time to first token and between tokens</h2>" in page
    assert "wire TTFT (request&#x27;s last byte -&gt; first token&#x27;s first byte)" in page \
        or "wire TTFT (request's last byte -&gt; first token's first byte)" in page


def test_stream_tokens_needs_the_embedded_server_over_rest_or_triton():
    with pytest.raises(InferwireError, match="--stream-tokens"):
        RunConfig(protocols=("rest", "grpc"), stream_tokens=4)
    with pytest.raises(InferwireError, match="--stream-tokens"):
        RunConfig(protocols=("rest",), stream_tokens=4, server="kserve", api="v2")
    with pytest.raises(InferwireError, match="--stream-tokens .* Triton's decoupled model"):
        RunConfig(protocols=("rest",), stream_tokens=4, server="triton", api="v2",
                  engine="h2load")
    # Triton streams over both protocols (generate_stream, ModelStreamInfer), with either engine
    RunConfig(stream_tokens=4, server="triton", api="v2")
    RunConfig(stream_tokens=4, server="triton", api="v2", engine="locust")
    RunConfig(protocols=("rest",), stream_tokens=4, engine="locust")   # the embedded server's
    with pytest.raises(InferwireError, match="--stream-tokens"):    # its completions: REST only
        RunConfig(protocols=("rest", "grpc"), stream_tokens=4, engine="locust")


def test_locust_engine_streams_completions_per_request_against_the_wire(tmp_path):
    """``--engine locust --stream-tokens N`` against the embedded server: the shipped
    stream_completions locustfile, one request event per stream (no token-statistics events);
    every stream in locust's own request log carries its id and client-side token times, joins
    the wire by id with N messages, its TTFT at least the wire's (which starts at request_end,
    after the client started) and its last token no earlier than the wire's last message."""
    need_capture()
    result = run_experiment(RunConfig(out=str(tmp_path), protocols=("rest",), engine="locust",
                                      users=2, duration_s=2, warmup_requests=2,
                                      stream_tokens=TOKENS, token_time_ms=TOKEN_MS,
                                      progress=False, **_ports()))
    assert result.status == "ok", result.problems
    d = result.run_dir
    requests = pd.read_parquet(d / "requests.parquet")
    tool = check_locust_streams(d, "stream_completions", "rest", TOKENS, requests)
    assert set(tool["name"]) == {"completions stream"}    # no token-statistics events
    assert (tool["started_ns"] < tool["first_token_ns"]).all()
    warmup = pd.read_csv(d / "client_log_rest.csv").query("phase == 'warmup'")
    assert len(warmup) == 2 and warmup["ok"].all()                # streams too
    assert len(requests) == len(tool) + 2 and (requests["response_messages"] == TOKENS).all()
    final = read_locust_json(d / "stream_completions_final.json")
    assert set(final["name"]) == {"completions stream"}
    text = (d / "summary.md").read_text()
    assert f"{len(tool)} streamed requests" in text
    assert f"never less: {len(tool)} of {len(tool)}" in text


def test_aiperf_engine_joins_by_request_id(tmp_path):
    """NVIDIA AIPerf from .venv-aiperf with the project's character tokenizer (no download):
    every request it exported is in the capture, its TTFT never below the wire's."""
    from inferwire.engines.aiperf import aiperf_path
    from needs import skip_or_fail
    need_capture()
    try:
        aiperf_path()
    except Exception as exc:             # not installed here: scripts/setup.sh makes it
        skip_or_fail(str(exc))
    result = run_experiment(RunConfig(out=str(tmp_path), protocols=("rest",), requests=12,
                                      duration_s=None, users=2, engine="aiperf",
                                      stream_tokens=TOKENS, token_time_ms=TOKEN_MS,
                                      progress=False, **_ports()))
    assert result.status == "ok", result.problems
    d = result.run_dir
    client = pd.read_csv(d / "client_log_rest.csv")
    requests = pd.read_parquet(d / "requests.parquet")
    assert len(client) == 12 and (client["tokens"] == TOKENS).all()
    merged = requests.merge(client, on="request_id", suffixes=("", "_client"))
    assert len(merged) == 12 and (merged["response_messages"] == TOKENS).all()
    assert (merged["ttft_ms"] <= merged["ttft_ms_client"] + 1e-3).all()
    assert "never less: 12 of 12" in (d / "summary.md").read_text()
