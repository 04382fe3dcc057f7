"""Two vantage points: one capture on the client host, one on the server host, of the same traffic.

The same TCP segment appears in both captures (:func:`match_segments`: same 4-tuple, sequence and
acknowledgement numbers, payload length and IP ID).  Its two capture times differ by the clock
offset plus the one-way delay: for a client->server segment ``d = t_server - t_client = offset +
delay >= offset``, for a server->client segment ``d = offset - delay <= offset``.  So the offset
lies in ``[max d(server->client), min d(client->server)]``; :func:`estimate_offset` takes the
midpoint, and half the width as its uncertainty (a hard bound, not a statistical one, as long as
neither clock drifts during the captures).  :func:`join_two` then puts each request's client-side
and server-side phases side by side on the client's clock: the server's own time (its wait
between the last request byte and the first response byte) and the network's share each way.

Pure core (tables in, tables out) apart from :func:`analyze_two`, which reads the two captures.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..columns import Column
from ..errors import InferwireError
from .pipeline import analyze, read_capture

SYN, ACK = 0x02, 0x10
ENDPOINTS = ["src_hi", "src_lo", "sport", "dst_hi", "dst_lo", "dport"]
SEGMENT = ["seq", "ack", "payload_len", "ip_id"]
MATCH_KEY = ENDPOINTS + SEGMENT
# Behind NAT the addresses (and maybe ports) differ between the two captures: match without them.
NAT_KEY = SEGMENT + ["flags"]


# -- segments seen at both points -----------------------------------------------------------------
def match_segments(client_table, server_table, *, nat: bool = False) -> pd.DataFrame:
    """The TCP segments present in both captures, one row each.

    Columns: ``client_row``, ``server_row`` (rows of the two PacketTables), ``client_ts_ns``,
    ``server_ts_ns`` (each capture's own clock, ns), ``d_ns`` (server_ts_ns - client_ts_ns),
    ``to_server`` (sent by the connection's client: the SYN's sender, else the higher port) and
    the client capture's ENDPOINTS and SEGMENT columns.  Segments whose key occurs more than once
    in either capture (retransmissions, duplicate ACKs) are left out: their pairing is not certain.
    ``nat``: match without addresses and ports (the endpoints were rewritten between the points).
    """
    key = NAT_KEY if nat else MATCH_KEY
    c = _unique_segments(client_table, key)
    s = _unique_segments(server_table, key)[key + ["ts_ns", "row"]]
    m = c.merge(s, on=key, suffixes=("_c", "_s"))
    out = pd.DataFrame({"client_row": m["row_c"].to_numpy(np.int64),
                        "server_row": m["row_s"].to_numpy(np.int64),
                        "client_ts_ns": m["ts_ns_c"].to_numpy(np.int64),
                        "server_ts_ns": m["ts_ns_s"].to_numpy(np.int64)})
    out["d_ns"] = out["server_ts_ns"] - out["client_ts_ns"]
    for name in ENDPOINTS + SEGMENT:
        out[name] = m[name].to_numpy()
    syns = [_client_tuples(client_table)] + ([] if nat else [_client_tuples(server_table)])
    out["to_server"] = _to_server(out, pd.concat(syns).drop_duplicates())
    return out.sort_values("client_ts_ns", kind="stable", ignore_index=True)


def _unique_segments(table, key: list[str]) -> pd.DataFrame:
    """The table's time-stamped rows as a DataFrame (key, ENDPOINTS, ts_ns, row), keeping only
    rows whose key is unique in the table."""
    names = list(dict.fromkeys(key + ENDPOINTS))
    df = pd.DataFrame({name: getattr(table, name) for name in names})
    df["ts_ns"] = table.ts_ns
    df["row"] = np.arange(len(df), dtype=np.int64)
    df = df[df["ts_ns"] >= 0]
    return df[~df.duplicated(key, keep=False)]


def _client_tuples(table) -> pd.DataFrame:
    """(client -> server) ENDPOINTS of every connection whose SYN or SYN-ACK was captured."""
    flags = table.flags
    df = pd.DataFrame({name: getattr(table, name) for name in ENDPOINTS})
    syn = df[((flags & SYN) != 0) & ((flags & ACK) == 0)]
    synack = df[((flags & SYN) != 0) & ((flags & ACK) != 0)]
    reverse = dict(zip(ENDPOINTS, ["dst_hi", "dst_lo", "dport", "src_hi", "src_lo", "sport"]))
    return pd.concat([syn, synack.rename(columns=reverse)[ENDPOINTS]]).drop_duplicates()


def _to_server(m: pd.DataFrame, clients: pd.DataFrame) -> np.ndarray:
    """Whether each segment was sent by its connection's client (the SYN sender; without a
    captured SYN or SYN-ACK: the side with the higher port, as the TCP stage decides)."""
    ends = m[ENDPOINTS].reset_index(drop=True)
    known = clients.assign(_hit=True)
    fwd = ends.merge(known, on=ENDPOINTS, how="left")["_hit"].notna().to_numpy()
    swapped = ends.rename(columns=dict(zip(ENDPOINTS, ["dst_hi", "dst_lo", "dport", "src_hi",
                                                       "src_lo", "sport"])))[ENDPOINTS]
    rev = swapped.merge(known, on=ENDPOINTS, how="left")["_hit"].notna().to_numpy()
    by_port = m["sport"].to_numpy() > m["dport"].to_numpy()
    return np.where(fwd, True, np.where(rev, False, by_port))


# -- the clock offset -----------------------------------------------------------------------------
@dataclass(frozen=True)
class OffsetEstimate:
    """Server clock minus client clock (ns): ``server_ns = client_ns + offset_ns``.

    The offset lies in ``[lower_ns, upper_ns]`` (``lower_ns`` = max over server->client segments of
    t_server - t_client, ``upper_ns`` = the min over client->server ones) if neither clock drifted
    during the captures; ``offset_ns`` is the midpoint and ``uncertainty_ns`` half the width: the
    estimate is off by at most that much.  The bound is as tight as the fastest segment each way
    (``fastest_*_ns``: their one-way delays at most, on the estimate).  ``consistent`` is False
    when the bounds cross (drift, a clock step, or mismatched captures): then ``warnings`` says so
    and the uncertainty is half the crossing.
    """
    offset_ns: int
    uncertainty_ns: int
    lower_ns: int
    upper_ns: int
    to_server_segments: int
    to_client_segments: int
    consistent: bool
    warnings: tuple = ()

    @property
    def fastest_to_server_ns(self) -> int:
        return self.upper_ns - self.offset_ns

    @property
    def fastest_to_client_ns(self) -> int:
        return self.offset_ns - self.lower_ns

    def to_client_clock(self, server_ns):
        """Server-clock times (ns) on the client's clock."""
        return server_ns - self.offset_ns

    def describe(self) -> str:
        """One line: the offset, how sure, from how many segments."""
        sure = (f"± {self.uncertainty_ns / 1e6:.3f} ms (a hard bound if neither clock drifted)"
                if self.consistent else
                f"UNCERTAIN: the bounds cross by {(self.lower_ns - self.upper_ns) / 1e6:.3f} ms")
        return (f"server clock - client clock = {self.offset_ns / 1e6:.3f} ms {sure}, from "
                f"{self.to_server_segments} client->server and {self.to_client_segments} "
                f"server->client segments seen at both points")


def estimate_offset(matches: pd.DataFrame) -> OffsetEstimate:
    """The clock offset from :func:`match_segments`'s rows (``d_ns``, ``to_server``).

    Raises InferwireError when either direction has no matched segment (no bound on that side).
    """
    d = matches["d_ns"].to_numpy(np.int64)
    up = matches["to_server"].to_numpy(bool)
    if not up.any() or up.all():
        raise InferwireError(
            f"{int(up.sum())} client->server and {int((~up).sum())} server->client segments were "
            "seen in both captures; both directions are needed to bound the clock offset. Are the "
            "two captures of the same traffic, at the same time (or behind NAT: use nat=True)?")
    lower, upper = int(d[~up].max()), int(d[up].min())
    notes = []
    if lower > upper:
        notes.append(f"the offset bounds cross by {(lower - upper) / 1e6:.3f} ms: a clock drifted "
                     "or stepped during the captures, or the captures do not match")
    notes += _drift_note(matches)
    return OffsetEstimate(offset_ns=(lower + upper) // 2,
                          uncertainty_ns=(abs(upper - lower) + 1) // 2, lower_ns=lower, upper_ns=upper, to_server_segments=int(up.sum()),
                          to_client_segments=int((~up).sum()), consistent=lower <= upper,
                          warnings=tuple(notes))


def _drift_note(matches: pd.DataFrame) -> list[str]:
    """A warning when the first and second halves of the capture bound disjoint offsets (the
    clocks ran at different rates: one offset cannot describe the whole capture)."""
    if len(matches) < 8:
        return []
    half = matches["client_ts_ns"] <= matches["client_ts_ns"].median()
    bounds = []
    for part in (matches[half], matches[~half]):
        up = part["to_server"].to_numpy(bool)
        if not up.any() or up.all():
            return []
        d = part["d_ns"].to_numpy(np.int64)
        bounds.append((int(d[~up].max()), int(d[up].min())))
    (lo1, hi1), (lo2, hi2) = bounds
    if lo2 > hi1 or lo1 > hi2:
        return [f"the offset moved between the capture's halves ([{lo1}, {hi1}] then "
                f"[{lo2}, {hi2}] ns): the clocks drift; the offset is an average"]
    return []


# -- requests seen at both points -----------------------------------------------------------------
TWO_POINT_COLUMNS: tuple[Column, ...] = (
    Column("request_id", "string", "", "x-request-id / gRPC metadata (the join key when present)"),
    Column("matched_by", "string", "",
           '"request_id", or "connection" (client, server, stream and order on it)'),
    Column("seen_at", "string", "", '"both", "client" (client capture only) or "server"'),
    Column("protocol", "string", "", '"http/1.1", "h2", "grpc" or "tls"'),
    Column("client", "string", "ip:port", "client endpoint as the client capture saw it"),
    Column("server", "string", "ip:port", "server endpoint as the client capture saw it"),
    Column("stream", "Int64", "", "HTTP/2 stream id; HTTP/1.1: position on the connection"),
    Column("method", "string", "", "request method"),
    Column("path", "string", "", "request target / gRPC method"),
    Column("status", "Int64", "", "HTTP status"),
    Column("grpc_status", "Int64", "", "grpc-status"),
    *(Column(f"c_{t}", "float64", "s since epoch, client clock",
             f"`{t}` in the client capture") for t in
      ("request_start", "request_end", "response_start", "response_end")),
    *(Column(f"s_{t}", "float64", "s since epoch, client clock",
             f"`{t}` in the server capture, minus the clock offset") for t in
      ("request_start", "request_end", "response_start", "response_end")),
    *(Column(f"c_{p}", "float64", "ms", f"`{p}` at the client") for p in
      ("request_ms", "wait_ms", "response_ms", "total_ms", "tcp_handshake_ms",
       "tls_handshake_ms", "h2_setup_ms")),
    *(Column(f"s_{p}", "float64", "ms", f"`{p}` at the server") for p in
      ("request_ms", "wait_ms", "response_ms", "total_ms", "tcp_handshake_ms",
       "tls_handshake_ms", "h2_setup_ms")),
    Column("server_own_ms", "float64", "ms",
           "s_wait_ms: last request byte to first response byte at the server, the server's own "
           "time (offset-free)"),
    Column("request_network_ms", "float64", "ms",
           "s_request_end - c_request_end: the last request byte's trip client -> server "
           "(± the offset's uncertainty)"),
    Column("response_network_ms", "float64", "ms",
           "c_response_start - s_response_start: the first response byte's trip server -> "
           "client (± the offset's uncertainty)"),
    Column("network_ms", "float64", "ms",
           "request_network_ms + response_network_ms = c_wait_ms - server_own_ms (offset-free)"),
    Column("complete", "boolean", "", "complete in both captures"),
)
TWO_POINT_COLUMN_NAMES = tuple(c.name for c in TWO_POINT_COLUMNS)
_DESCRIBE = ("protocol", "client", "server", "stream", "method", "path", "status", "grpc_status")
_TIMES = ("request_start", "request_end", "response_start", "response_end")
_PHASES = ("request_ms", "wait_ms", "response_ms", "total_ms", "tcp_handshake_ms",
           "tls_handshake_ms", "h2_setup_ms")


def join_two(client_requests: pd.DataFrame, server_requests: pd.DataFrame,
             offset_ns: int) -> pd.DataFrame:
    """Each request's client-side and server-side phases in one row (TWO_POINT_COLUMNS).

    Rows join on ``request_id`` where it is present and unique on both sides, else on (client,
    server, stream, n-th such request).  Server times are shifted onto the client clock
    (``- offset_ns``).  An outer join: requests seen at one point only are kept (``seen_at``).
    """
    c, s = _keyed(client_requests), _keyed(server_requests)
    j = c.merge(s, on="_key", how="outer", suffixes=("_c", "_s"), indicator=True)
    out = pd.DataFrame(index=j.index)
    out["request_id"] = j["request_id_c"].fillna(j["request_id_s"])
    out["matched_by"] = np.where(j["_key"].str.startswith("id:"), "request_id", "connection")
    out["seen_at"] = j["_merge"].map({"both": "both", "left_only": "client",
                                      "right_only": "server"}).astype(str)
    for name in _DESCRIBE:
        out[name] = j[f"{name}_c"].fillna(j[f"{name}_s"])
    offset_s = offset_ns / 1e9
    for t in _TIMES:
        out[f"c_{t}"] = j[f"{t}_c"]
        out[f"s_{t}"] = j[f"{t}_s"] - offset_s
    for p in _PHASES:
        out[f"c_{p}"], out[f"s_{p}"] = j[f"{p}_c"], j[f"{p}_s"]
    out["server_own_ms"] = j["wait_ms_s"]
    # the difference of the two captures' own times first, then the offset: fewer roundings
    out["request_network_ms"] = ((j["request_end_s"] - j["request_end_c"]) - offset_s) * 1e3
    out["response_network_ms"] = ((j["response_start_c"] - j["response_start_s"]) + offset_s) * 1e3
    out["network_ms"] = j["wait_ms_c"] - j["wait_ms_s"]
    out["complete"] = j["complete_c"].fillna(False) & j["complete_s"].fillna(False)
    out = out.sort_values(["c_request_start", "s_request_start"], kind="stable",
                          ignore_index=True)
    return _typed(out)


def _keyed(requests: pd.DataFrame) -> pd.DataFrame:
    """The requests with a join key: "id:<request_id>" when present and unique, else
    "conn:<client>|<server>|<stream>|<n-th>"."""
    df = requests.reset_index(drop=True).copy()
    rid = df["request_id"]
    unique_id = rid.notna() & ~rid.duplicated(keep=False)
    nth = df.groupby(["client", "server", "stream"], dropna=False).cumcount().astype(str)
    conn = ("conn:" + df["client"].astype(str) + "|" + df["server"].astype(str) + "|"
            + df["stream"].astype(str) + "|" + nth)
    df["_key"] = np.where(unique_id, "id:" + rid.astype(str), conn)
    return df


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({c.name: df[c.name] for c in TWO_POINT_COLUMNS})
    for col in TWO_POINT_COLUMNS:
        if col.dtype == "float64":
            out[col.name] = pd.to_numeric(out[col.name], errors="coerce").astype(float)
        else:
            out[col.name] = out[col.name].astype(col.dtype)
    return out


# -- the whole: two captures in, one table out ----------------------------------------------------
@dataclass
class TwoPointAnalysis:
    """The result of :func:`analyze_two`: ``requests`` (TWO_POINT_COLUMNS), the clock ``offset``,
    how many segments were matched, both captures' own :class:`~inferwire.analysis.Analysis`, and
    every warning."""
    requests: pd.DataFrame
    offset: OffsetEstimate
    matched_segments: int
    client: object
    server: object
    warnings: list = field(default_factory=list)

    def summary(self) -> pd.DataFrame:
        """Per protocol: requests seen at both points and p50/p90 (ms) of the time split."""
        rows = []
        both = self.requests[self.requests["seen_at"] == "both"]
        for proto, g in both.groupby("protocol", sort=True):
            row = {"protocol": proto, "requests": len(g)}
            for col in ("c_wait_ms", "server_own_ms", "network_ms", "request_network_ms",
                        "response_network_ms"):
                v = g[col].dropna().to_numpy(float)
                for q in (50, 90):
                    row[f"{col}_p{q}"] = float(np.percentile(v, q)) if len(v) else np.nan
            rows.append(row)
        return pd.DataFrame(rows)

    def summary_text(self) -> str:
        """A short plain-text report: the offset, then where the client's wait went."""
        seen = self.requests["seen_at"].value_counts().to_dict()
        lines = [self.offset.describe(),
                 f"{self.matched_segments} segments matched; requests at both points: "
                 f"{seen.get('both', 0)}, client only: {seen.get('client', 0)}, "
                 f"server only: {seen.get('server', 0)}"]
        for _, row in self.summary().iterrows():
            lines += ["", f"{row['protocol']}: {row['requests']} requests",
                      f"  {'ms':<22}{'p50':>10}{'p90':>10}"]
            for col, label in (("c_wait_ms", "wait at the client"),
                               ("server_own_ms", "server's own time"),
                               ("network_ms", "network, both ways"),
                               ("request_network_ms", "  request one-way"),
                               ("response_network_ms", "  response one-way")):
                lines.append(f"  {label:<22}{row[f'{col}_p50']:>10.3f}{row[f'{col}_p90']:>10.3f}")
        if self.warnings:
            lines += ["", f"{len(self.warnings)} warnings; first ones:"]
            lines += [f"  - {w}" for w in self.warnings[:5]]
        return "\n".join(lines)

    def save(self, out_dir) -> dict:
        """Write two_point.csv/.parquet, clock_offset.json, and each side's tables under
        client/ and server/; return the paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"two_point.csv": out / "two_point.csv",
                 "two_point.parquet": out / "two_point.parquet",
                 "clock_offset.json": out / "clock_offset.json"}
        self.requests.to_csv(paths["two_point.csv"], index=False)
        self.requests.to_parquet(paths["two_point.parquet"], index=False)
        paths["clock_offset.json"].write_text(json.dumps(
            dict(asdict(self.offset), matched_segments=self.matched_segments), indent=2) + "\n")
        for side in ("client", "server"):
            for name, p in getattr(self, side).save(out / side).items():
                paths[f"{side}/{name}"] = p
        return paths


def analyze_two(client_cap, server_cap, *, nat: bool = False, ignore_ports=(), decode_as=None,
                tls_keylog=None) -> TwoPointAnalysis:
    """Analyze a client-host capture and a server-host capture of the same traffic together.

    Each argument is what :func:`inferwire.analyze` takes (a file, files, a directory).  Raises
    InferwireError when no segment is seen in both captures in each direction.
    """
    kw = dict(ignore_ports=ignore_ports, decode_as=decode_as, tls_keylog=tls_keylog)
    client, server = analyze(client_cap, **kw), analyze(server_cap, **kw)
    with read_capture(client_cap) as ct, read_capture(server_cap) as st:
        matches = match_segments(ct, st, nat=nat)
    if matches.empty:
        raise InferwireError(f"no TCP segment of {_name(client_cap)} is in {_name(server_cap)}: "
                             "not captures of the same traffic (behind NAT? use nat=True)")
    offset = estimate_offset(matches)
    requests = join_two(client.requests, server.requests, offset.offset_ns)
    warnings = list(offset.warnings)
    warnings += [f"client capture: {w}" for w in client.warnings]
    warnings += [f"server capture: {w}" for w in server.warnings]
    return TwoPointAnalysis(requests, offset, len(matches), client, server, warnings)


def _name(source) -> str:
    if isinstance(source, (list, tuple)):
        return ", ".join(map(os.fspath, source))
    return os.fspath(source)
