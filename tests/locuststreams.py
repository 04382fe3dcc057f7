"""The checks every capture run of a streaming locustfile must pass (issue 20 item 3), shared by
the embedded server's and Triton's tests."""
from __future__ import annotations

import pandas as pd


def check_locust_streams(run_dir, name: str, protocol: str, tokens: int,
                         requests: pd.DataFrame) -> pd.DataFrame:
    """locust's own request log ``<name>_requests.csv`` (returned): at least 3 streams (a 2 s
    run on a host at load 9 to 13 made only a few: c53b16b), each ok with ``tokens`` tokens,
    first token no later than the last, its id with the run's prefix;
    the client log's measured rows are exactly those streams, each on the wire (``requests``)
    with ``tokens`` messages, its TTFT at least the wire's (which starts at request_end) and
    its last token no earlier than the wire's last message."""
    tool = pd.read_csv(run_dir / f"{name}_requests.csv")
    assert len(tool) >= 3 and tool["ok"].all() and (tool["tokens"] == tokens).all()
    assert (tool["first_token_ns"] <= tool["last_token_ns"]).all()
    assert (tool["request_id"].str.startswith(f"{protocol}-locust-")).all()
    client = pd.read_csv(run_dir / f"client_log_{protocol}.csv")
    measured = client[client["phase"] == "measure"]
    assert set(measured["request_id"]) == set(tool["request_id"])
    merged = measured.merge(requests, on="request_id", suffixes=("_client", ""))
    assert len(merged) == len(tool)                   # every locust stream on the wire
    assert (merged["ttft_ms"] <= merged["ttft_ms_client"] + 1e-3).all()
    last_client_ms = (merged["last_token_ns"] - merged["started_ns"]) / 1e6
    assert (merged["last_message_ms"] <= last_client_ms + 1e-3).all()
    assert (merged["tokens"] == merged["response_messages"]).all()
    return tool
