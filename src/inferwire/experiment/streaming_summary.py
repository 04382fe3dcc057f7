"""summary.md's streaming section: time to first token and between tokens, split into the
client's share, the network's and the server's (issue 20), from the wire's message columns
joined by request id to the client log's streamed-request columns."""
from __future__ import annotations

import numpy as np
import pandas as pd
from ..runfolder.logs import read_client_logs

#: (label, column of the per-request frame :func:`streamed_requests` makes), in reading order.
TTFT_ROWS = (
    ("client TTFT (client started -> first token parsed)", "client_ttft_ms"),
    ("  client before the wire (started -> request's first byte)", "client_before_ms"),
    ("  sending the request (request_ms)", "request_ms"),
    ("  wire TTFT (request's last byte -> first token's first byte)", "ttft_ms"),
    ("    network round trip (handshake RTT)", "rtt_ms"),
    ("    server to first token (wire TTFT - RTT)", "server_ttft_ms"),
    ("  client after the wire (first token's packet -> parsed)", "client_after_ms"),
)
ITL_ROWS = (
    ("client inter-token gap, p50 per request", "itl_p50_ms"),
    ("wire inter-message gap, p50 per request", "message_gap_p50_ms"),
    ("wire inter-message gap, largest per request", "message_gap_max_ms"),
)


def streamed_requests(requests: pd.DataFrame, client_log: pd.DataFrame | None) -> pd.DataFrame:
    """The streamed requests of the wire (``response_messages`` known) with the client log's
    view (by request id) and the derived splits, all in ms."""
    wire = requests[requests["response_messages"].notna()].copy()
    if client_log is not None and "ttft_ms" in client_log and len(wire):
        client = client_log[["request_id", "phase", "started_ns", "ttft_ms", "itl_p50_ms",
                             "tokens"]]
        client = client.rename(columns={"ttft_ms": "client_ttft_ms"})
        wire = wire.merge(client, on="request_id", how="left")
        wire = wire[wire["phase"].fillna("measure") != "warmup"].copy()   # unmeasured
        started_s = wire["started_ns"].astype("Float64").astype(float) / 1e9
        wire["client_before_ms"] = (wire["request_start"] - started_s) * 1e3
    else:
        for col in ("client_ttft_ms", "itl_p50_ms", "tokens", "client_before_ms"):
            wire[col] = np.nan
    wire["rtt_ms"] = wire["rtt_client_ms"].fillna(0) + wire["rtt_server_ms"].fillna(0)
    wire.loc[wire["rtt_client_ms"].isna() & wire["rtt_server_ms"].isna(), "rtt_ms"] = np.nan
    wire["server_ttft_ms"] = wire["ttft_ms"] - wire["rtt_ms"]
    wire["client_after_ms"] = (wire["client_ttft_ms"].astype(float) - wire["client_before_ms"]
                               - wire["request_ms"] - wire["ttft_ms"])
    return wire


def streaming_table(requests: pd.DataFrame, client_log: pd.DataFrame | None
                    ) -> pd.DataFrame | None:
    """The section's table (what, p50 ms, p90 ms, requests), None when nothing streamed."""
    if "response_messages" not in requests or not requests["response_messages"].notna().any():
        return None
    s = streamed_requests(requests, client_log)
    rows = []
    for label, col in TTFT_ROWS + ITL_ROWS:
        v = s[col].astype(float).dropna() if col in s else pd.Series(dtype=float)
        rows.append({"what": label.strip(), "p50_ms": _pct(v, 50), "p90_ms": _pct(v, 90),
                     "requests": len(v)})
    return pd.DataFrame(rows)


def streaming_section(requests: pd.DataFrame, client_log: pd.DataFrame | None,
                      token_time_ms: float | None) -> list[str]:
    """The section's lines (empty when no request was streamed)."""
    if "response_messages" not in requests or not requests["response_messages"].notna().any():
        return []
    s = streamed_requests(requests, client_log)
    lines = ["", "## Streaming: time to first token and between tokens (ms)", "",
             f"{len(s)} streamed requests; tokens (data messages) per request on the wire: "
             f"median {_pct(s['response_messages'].astype(float), 50):.0f}; ended (`[DONE]`, gRPC "
             f"trailers) in {int(s['stream_done'].fillna(False).sum())}."
             + ("" if token_time_ms is None else
                f" The server was set to {token_time_ms:g} ms per token."), "",
             "| | p50 | p90 | requests |", "|---|---|---|---|"]
    for label, col in TTFT_ROWS + ITL_ROWS:
        v = s[col].astype(float).dropna() if col in s else pd.Series(dtype=float)
        lines.append(f"| {label} | {_f(_pct(v, 50))} | {_f(_pct(v, 90))} | {len(v)} |")
    gap = (s["client_ttft_ms"].astype(float) - s["ttft_ms"]).dropna()
    if len(gap):
        lines += ["", f"The client's TTFT exceeds the wire's by {_f(_pct(gap, 50))} ms (median "
                  f"of {len(gap)}; never less: {int((gap >= -1e-3).sum())} of {len(gap)}): "
                  "its own time before the request's first byte, sending the request, and "
                  "receiving and parsing the first token after its packet was captured. The "
                  "wire's TTFT holds the network round trip and the server's time to its "
                  "first token" + ("" if token_time_ms is None else
                                    f" (one token: {token_time_ms:g} ms)") + "."]
    return lines


def run_streaming_section(run_dir, manifest: dict, requests: pd.DataFrame) -> list[str]:
    """:func:`streaming_section` of a run folder (its client logs read only when a request was
    streamed)."""
    if "response_messages" not in requests or not requests["response_messages"].notna().any():
        return []
    config = manifest.get("config") or {}
    return streaming_section(requests, read_client_logs(run_dir),
                             config.get("token_time_ms") if config.get("stream_tokens") else None)


def _pct(v: pd.Series, q: float) -> float:
    v = np.asarray(v.dropna(), dtype=float)
    return float(np.percentile(v, q)) if len(v) else float("nan")


def _f(x: float) -> str:
    return "" if np.isnan(x) else f"{x:.3f}"
