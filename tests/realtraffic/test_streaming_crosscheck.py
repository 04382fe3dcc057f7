"""Streamed completions on real loopback traffic (issue 20 item 3): the embedded server's
``/v1/completions`` (SSE, one chunk per token) driven by the load generator's streaming
workload, closed and open loop, captured with dumpcap and cross-checked: per request the wire's
message count is the number of tokens the client received, the wire's time to first token is
at most the client's, every message starts and ends at a frame time of its connection, and the
chunk sizes are the ones tshark's HTTP dissector reports (``http.chunk_size``)."""
from __future__ import annotations

import pytest

from inferwire.load import LoadListener, LoadOptions, run_load
from inferwire.load.streaming import CompletionsWorkload

from . import wireshark
from .conftest import run_captured

pytestmark = [pytest.mark.tshark, pytest.mark.capture]

TOKENS = 8
TOKEN_MS = 5.0


class Records(LoadListener):
    def __init__(self):
        self.records = []

    def on_request(self, record) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def stream_server():
    from inferwire.serving import ModelConfig, ModelServer, ServerConfig, cached_models
    base = cached_models()
    with ModelServer(ServerConfig(models=(ModelConfig("mnist", str(base / "mnist")),),
                                  grpc_port=None, rest_port=0,
                                  token_time_ms=TOKEN_MS)) as server:
        yield server


def _load(port: int) -> list:
    listener = Records()
    for options, prefix in ((LoadOptions(mode="closed", users=2, requests=10), "c"),
                            (LoadOptions(mode="open", rate=40.0, requests=10, max_in_flight=8),
                             "o")):
        workload = CompletionsWorkload("127.0.0.1", port, max_tokens=TOKENS)
        try:
            run_load(workload, LoadOptions(**{**options.__dict__, "id_prefix": prefix}),
                     [listener])
        finally:
            workload.close()
    return listener.records


def test_streamed_completions_wire_against_client_and_tshark(stream_server, out_dir):
    port = stream_server.rest_port
    cap = run_captured(out_dir, "stream", (port,), lambda: _load(port))
    records = {r.request_id: r for r in cap.records}
    assert len(records) == 20 and all(r.ok and r.tokens == TOKENS for r in records.values())
    a = cap.analysis
    req = a.requests.set_index("request_id")
    assert set(records) <= set(req.index)
    for rid, rec in records.items():
        row = req.loc[rid]
        assert row["response_messages"] == rec.tokens == TOKENS, rid
        assert bool(row["stream_done"]), rid
        # the client's clock starts before it sends and stops after it parsed: never less
        assert row["ttft_ms"] <= rec.ttft_ms + 1e-3, (rid, row["ttft_ms"], rec.ttft_ms)
        assert row["ttft_ms"] >= TOKEN_MS * 0.9, (rid, row["ttft_ms"])
        assert row["message_gap_max_ms"] >= row["message_gap_p50_ms"] > 0
    m = a.messages
    per = m.groupby("request_id").size()
    assert (per.loc[list(records)] == TOKENS + 1).all()           # the tokens and [DONE]
    frame_times = {t / 1e9 for t in cap.times.values()}
    assert all(round(t, 9) in {round(f, 9) for f in frame_times} for t in m["start"])
    assert all(round(t, 9) in {round(f, 9) for f in frame_times} for t in m["end"])
    # tshark: the chunk sizes of each response, in connection order
    packets = wireshark.tshark_fields(cap.path, ["tcp.stream", "http.chunk_size"],
                                      f"http.response && {wireshark.exclude(cap.probe_port)}",
                                      wireshark.decode_args((port,), "http")
                                      + wireshark.REASSEMBLE_OUT_OF_ORDER)
    theirs = {}
    for p in packets:
        sizes = [int(s) for s in p.get("http.chunk_size", [])]
        theirs.setdefault(int(wireshark.one(p, "tcp.stream")), []).append(
            [s for s in sizes if s])
    ours = {}
    for (conn, stream), g in m.groupby(["connection", "stream"], sort=True):
        ours.setdefault(int(conn), []).append(g.sort_values("index")["bytes"].tolist())
    assert ours == theirs
