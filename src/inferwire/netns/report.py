"""The network's cost in one run's summary.md (pure: the manifest and tables in, lines out).

With a network profile the client's mean latency is cut into what the network took and what it
did not: transfer (request_ms + response_ms: moving the bytes at the link's rate), network and
stack inside the wait (wait_ms - server_ms: round trips, queues, kernels), the server, the
client's own work, and, from the per-request TCP columns, the time lost to retransmissions
and to stalls (zero window, HTTP/2 flow control) and the round trips.  Retransmitted segments come
from the connections table; requests slower than Linux's smallest retransmission timeout
(200 ms) are counted as the ones a timeout most likely held up.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..runfolder import MANIFEST

RTO_MIN_MS = 200.0      # Linux's TCP_RTO_MIN: no retransmission timeout is shorter
#: per-request TCP columns (docs/columns.md, "The per-request table") summed into each part, ms
RETRANS_COLUMNS = ("retrans_ms_to_server", "retrans_ms_to_client")
STALL_COLUMNS = ("zero_window_ms", "h2_flow_stall_ms")
#: the round trip near each request, split at the capture point (client side + server side)
ACK_RTT_COLUMNS = ("ack_rtt_client_ms", "ack_rtt_server_ms")
HANDSHAKE_RTT_COLUMNS = ("rtt_client_ms", "rtt_server_ms")


def _mean(frame: pd.DataFrame, col: str) -> float:
    if col not in frame:
        return float("nan")
    v = pd.to_numeric(frame[col], errors="coerce").dropna()
    return float(v.mean()) if len(v) else float("nan")


def _sum_mean(frame: pd.DataFrame, cols) -> float:
    """Mean over rows of the sum of ``cols`` (an empty cell counts 0: not applicable); NaN when
    none of the columns is in the table."""
    cols = [c for c in cols if c in frame]
    if not cols:
        return float("nan")
    return float(sum(pd.to_numeric(frame[c], errors="coerce").fillna(0.0) for c in cols).mean())


def ack_rtt(frame: pd.DataFrame) -> tuple[float, int]:
    """(median ms, samples) of the ACK round trip near the requests: client side + server side
    of the capture point, a missing half counted 0 (captured at one end, that end's half is ~0
    and often has no sample).  Samples are few under loss (only directions without
    retransmissions give them) and include delayed ACKs, hence the median and the count."""
    halves = [pd.to_numeric(frame[c], errors="coerce") for c in ACK_RTT_COLUMNS if c in frame]
    if not halves:
        return float("nan"), 0
    known = pd.concat(halves, axis=1).notna().any(axis=1)
    total = sum(h.fillna(0.0) for h in halves)[known]
    return (float(total.median()) if len(total) else float("nan")), int(len(total))


def _handshake_rtt(frame: pd.DataFrame, mine: pd.DataFrame) -> float:
    """Mean handshake round trip (ms): rtt_client_ms + rtt_server_ms of the requests, else the
    connections' tcp_handshake_ms."""
    if all(c in frame for c in HANDSHAKE_RTT_COLUMNS):
        both = sum(pd.to_numeric(frame[c], errors="coerce") for c in HANDSHAKE_RTT_COLUMNS)
        if both.notna().any():
            return float(both.mean())
    return _mean(mine, "tcp_handshake_ms")


def _fmt(x: float, pct_of: float | None = None) -> str:
    if x is None or np.isnan(x):
        return ""
    if pct_of:
        return f"{x:.3f} ({100 * x / pct_of:.0f} %)"
    return f"{x:.3f}"


def cost_rows(joined: pd.DataFrame, connections: pd.DataFrame | None, ports: dict) -> list[dict]:
    """One dict per workload: the client's mean latency and its parts (ms), retransmitted
    segments, requests held longer than an RTO."""
    rows = []
    for name, g in joined.groupby(joined["workload"].fillna("(not in client log)"), sort=True):
        client = _mean(g, "client_ms")
        row = {"workload": name, "requests": len(g), "client_ms": client,
               "transfer_ms": _mean(g, "request_ms") + _mean(g, "response_ms"),
               "network_and_stack_ms": _mean(g, "network_and_stack_ms"),
               "server_ms": _mean(g, "server_ms"),
               "client_own_ms": _mean(g, "client_before_ms") + _mean(g, "client_after_ms"),
               "retransmission_ms": _sum_mean(g, RETRANS_COLUMNS),
               "stall_ms": _sum_mean(g, STALL_COLUMNS),
               "over_rto": int((pd.to_numeric(g["client_ms"], errors="coerce")
                                >= RTO_MIN_MS).sum())}
        mine = _connections(connections, ports.get(name))
        row["retransmitted_segments"] = (float(mine["retransmissions"].sum())
                                         if "retransmissions" in mine else float("nan"))
        row["rtt_ms"] = _handshake_rtt(g, mine)
        row["ack_rtt_ms"], row["ack_rtt_samples"] = ack_rtt(g)
        rows.append(row)
    return rows


def _connections(connections: pd.DataFrame | None, port) -> pd.DataFrame:
    """The connections to the server's ``port`` (empty if unknown)."""
    if connections is None or port is None or "server" not in connections:
        return pd.DataFrame()
    return connections[connections["server"].astype(str).str.endswith(f":{port}")]


def _two_point_lines(two: dict | None) -> list[str]:
    """The client's wait split by the two vantage points (medians, ms)."""
    if not two or not two.get("summary"):
        return []
    out = ["", f"Seen from both ends ({two['offset']}; {two['matched_segments']} segments "
           "matched), the client's wait (p50 ms):", "",
           "| protocol | requests | wait at the client | server's own | network both ways |",
           "|---|---|---|---|---|"]
    for r in two["summary"]:
        out.append(f"| {r['protocol']} | {r['requests']} | {_fmt(r['c_wait_ms_p50'])} | "
                   f"{_fmt(r['server_own_ms_p50'])} | {_fmt(r['network_ms_p50'])} |")
    return out


def section(manifest: dict, joined: pd.DataFrame | None, connections) -> list[str]:
    """The "network" section of summary.md; [] without a network profile."""
    net = manifest.get("network")
    if not net:
        return []
    topo = net.get("topology") or {}
    out = ["", "## The network", "",
           f"- profile: **{net.get('description')}**, between the client's namespace "
           f"`{topo.get('client_ns')}` ({topo.get('client_addr')}) and the server's "
           f"`{topo.get('server_ns')}` ({topo.get('server_addr')}) through the router "
           f"`{topo.get('router_ns')}` (shaping and loss there, between the two capture points)"]
    out += [f"- {note}" for note in net.get("notes", [])]
    bad = [e for e in net.get("teardown", []) if e.get("exit_code") != 0]
    steps = (len(net.get("commands", [])), len(net.get("teardown", [])))
    out.append(f"- {steps[0]} set-up commands and {steps[1]} teardown steps in {MANIFEST} "
               "(`network`); teardown: "
               + ("all ok" if not bad else f"**{len(bad)} FAILED**"))
    if net.get("server_capture"):
        out.append("- second vantage point: capture_server.pcapng, on the server's veth; both "
                   "analyzed together in two_point/ (`inferwire.analysis.vantage.analyze_two`)")
    out += _two_point_lines(net.get("two_point"))
    if joined is None or joined.empty:
        return out
    ports = {p: (manifest.get("server") or {}).get(f"{p}_port") for p in ("rest", "grpc")}
    rows = cost_rows(joined, connections, ports)
    out += ["", "Where the client's mean latency went on this network (ms, % of the client's "
            "mean):", "",
            "| workload | requests | client | transfer | network and stack in the wait | "
            "server | client's own | retransmission | stalls | handshake RTT | "
            "ACK RTT (median, samples) | retransmitted segments | requests >= 200 ms |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c = r["client_ms"]
        out.append(
            f"| {r['workload']} | {r['requests']} | {_fmt(c)} | {_fmt(r['transfer_ms'], c)} | "
            f"{_fmt(r['network_and_stack_ms'], c)} | {_fmt(r['server_ms'], c)} | "
            f"{_fmt(r['client_own_ms'], c)} | {_fmt(r['retransmission_ms'], c)} | "
            f"{_fmt(r['stall_ms'], c)} | {_fmt(r['rtt_ms'])} | "
            f"{_fmt(r['ack_rtt_ms'])} ({r['ack_rtt_samples']}) | "
            f"{'' if np.isnan(r['retransmitted_segments']) else int(r['retransmitted_segments'])}"
            f" | {r['over_rto']} |")
    out += ["", "Transfer, network and stack, server and the client's own work add up to the "
            "client's mean; retransmission and stalls are the parts of the transfer spent "
            "waiting for a retransmitted copy (`retrans_ms_to_server` + `retrans_ms_to_client`)"
            " or for a window (`zero_window_ms` + `h2_flow_stall_ms`); handshake RTT: "
            "`rtt_client_ms + rtt_server_ms` (mean); ACK RTT: `ack_rtt_client_ms + "
            "ack_rtt_server_ms` near each request (median; few samples under loss, delayed "
            "ACKs included)."]
    streamed = pd.to_numeric(joined["response_messages"], errors="coerce") \
        if "response_messages" in joined else pd.Series(dtype=float)
    if streamed.notna().any():
        out += ["", f"{int(streamed.notna().sum())} requests were streamed: their transfer "
                "holds the whole streamed response (`response_ms`), which the server paces "
                "as it makes its tokens, so it is mostly the server's token time, not the "
                "link's; the server column is its time until the response's first bytes "
                "(`server_ms`). The streaming section has the split per token."]
    if all(np.isnan(r["retransmission_ms"]) for r in rows):
        out += ["", "(This analysis gave no per-request TCP columns: those cells are empty.)"]
    return out
