"""What the two captures of a lossy namespace run witness, for the tests that check the
analyzer's boundaries against the server's log (test_lossy_real.py, test_lossy_new_connections.py,
test_lossy_streaming.py): the run's files by vantage point, the tolerances the instruments
need, each vantage point's analysis joined to the server's and the client's logs, and, from
the client's capture (tshark), when the request's last bytes first left and whether the capture
can tell which copy of them got through."""
from __future__ import annotations

import functools
import subprocess
import warnings
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

import inferwire

#: the port of the run's capture-liveness probe (scripts/capture_run.py --network)
PROBE_PORT = 9
#: capture time stamps (float seconds in the table, ~0.24 us apart at today's epoch) against the
#: handler's own clock readings: a boundary may be this far on the wrong side by rounding only
TOLERANCE_NS = 2_000
#: how much later than the server's handler read a request's last bytes the captures may stamp
#: the segment that carried them: on these veth links both captures' raw stamps (tshark's
#: frame.time_epoch, not the analyzer's) trailed the handler's start by up to 40 us with no
#: copy of the segment repeated (seen 26.9 us here, 31.5 and 39.5 us in
#: test_lossy_streaming.py; about one request in 2,000).  Likely TCP's earliest-departure-time
#: stamp, which packet taps can report instead of the moment they saw the segment; the
#: instrument's doing, the same with every analyzer version
CAPTURE_STAMP_LAG_NS = 100_000
#: each vantage point's capture in a run folder
VANTAGE = {"client": "capture.pcapng", "server": "capture_server.pcapng"}


@functools.lru_cache(maxsize=4)
def analysis(run_dir: Path, vantage: str):
    """One vantage point's analysis, made once for a module's tests."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return inferwire.analyze(run_dir / VANTAGE[vantage], ignore_ports=(PROBE_PORT,))


def tables(run_dir: Path, vantage: str) -> pd.DataFrame:
    """The per-request table of one vantage point joined to the server log and client logs."""
    requests = analysis(run_dir, vantage).requests
    server = pd.read_json(run_dir / "server_log.jsonl", lines=True)
    server = server.rename(columns={"protocol": "server_protocol"})
    client = pd.concat([pd.read_csv(p) for p in sorted(run_dir.glob("client_log_*.csv"))])
    j = requests.merge(server, on="request_id", how="outer", indicator="in_server_log")
    return j.merge(client, on="request_id", how="outer", indicator="in_client_log")


def measured(run_dir: Path, vantage: str, protocol: str | None = None,
             expect: int | None = None) -> pd.DataFrame:
    """The measured (not warm-up) rows of :func:`tables`, of ``protocol`` only if given (then
    ``expect`` of them, if given), with the handler's start and end, the client's latency
    (ms) and the four boundaries in ns."""
    j = tables(run_dir, vantage)
    j = j[j["phase"] == "measure"]
    if protocol is not None:
        j = j[j["server_protocol"] == protocol]
        assert expect is None or len(j) == expect
    j = j.copy()
    j["handler_end_ns"] = j["ts_ns"]
    j["handler_start_ns"] = j["ts_ns"] - j["server_time_ns"]
    j["client_ms"] = (j["finished_ns"] - j["started_ns"]) / 1e6
    for col in ("request_start", "request_end", "response_start", "response_end"):
        j[f"{col}_ns"] = (j[col] * 1e9).round()
    return j


@functools.lru_cache(maxsize=2)
def client_segments(run_dir: Path) -> pd.DataFrame:
    """Every TCP segment of the client's capture (tshark: time in ns, stream, source port,
    relative sequence and ACK numbers, payload length, whether it carries a D-SACK: a first
    SACK block ending at or below its ACK, RFC 2883)."""
    out = subprocess.run(["tshark", "-r", str(run_dir / VANTAGE["client"]), "-Y", "tcp",
                          "-T", "fields", "-e", "frame.time_epoch", "-e", "tcp.stream",
                          "-e", "tcp.srcport", "-e", "tcp.seq", "-e", "tcp.len", "-e", "tcp.ack",
                          "-e", "tcp.options.sack_re", "-E", "separator=;"],
                         capture_output=True, text=True, check=True)
    rows = [line.split(";") for line in out.stdout.splitlines()]
    ack = [int(r[5] or 0) for r in rows]
    return pd.DataFrame({
        "t": [int(Decimal(r[0]) * 10**9) for r in rows], "stream": [int(r[1]) for r in rows],
        "sport": [int(r[2]) for r in rows], "seq": [int(r[3]) for r in rows],
        "len": [int(r[4]) for r in rows], "ack": ack,
        "dsack": [bool(r[6]) and int(r[6].split(",")[0]) <= a for r, a in zip(rows, ack)]})


def unknowable_at_client(run_dir: Path, rows: pd.DataFrame, since: pd.Series) -> pd.Series:
    """Per row (client-side measured rows), whether the client's capture cannot tell which
    copy of the request's last bytes got through: of the copies captured from ``since`` (ns,
    about when the server had them) to the first ACK covering them, not counting the one a
    D-SACK in that ACK names, two or more are left (the ACKs after two copies were lost).  With
    one left, the capture could tell, and a boundary a timeout off is the analyzer's fault."""
    seg = client_segments(run_dir)
    out = []
    for (_, row), t0 in zip(rows.iterrows(), since):
        found = last_bytes(seg, row["connection"], row["request_end_ns"])
        if found is None:
            out.append(False)
            continue
        conn, client_port, last, copies = found
        acks = conn[(conn["sport"] != client_port) & (conn["ack"] >= last) & (conn["t"] > t0)]
        until = acks["t"].iloc[0] if len(acks) else np.iinfo(np.int64).max
        copies = copies[(copies["t"] >= t0 - 5_000_000) & (copies["t"] < until)]
        named = bool(len(acks)) and bool(acks["dsack"].iloc[0])
        out.append(len(copies) - named >= 2)
    return pd.Series(out, index=rows.index, dtype=bool)


def last_bytes(seg: pd.DataFrame, connection: int, request_end_ns: float):
    """``(the connection's segments, the client's port, the stream offset just past the
    request's last byte, every client segment carrying that byte)`` from the client's capture
    (``seg``: :func:`client_segments`), the request's last bytes found as the data segment
    stamped at ``request_end_ns`` (client vantage); None when there is none."""
    conn = seg[seg["stream"] == connection]
    chosen = conn[((conn["t"] - request_end_ns).abs() <= TOLERANCE_NS) & (conn["len"] > 0)]
    if chosen.empty:
        return None
    client_port, last = chosen["sport"].iloc[0], int((chosen["seq"] + chosen["len"]).max())
    copies = conn[(conn["sport"] == client_port) & (conn["seq"] < last)
                  & (conn["seq"] + conn["len"] >= last)]
    return conn, client_port, last, copies


def first_sent_ns(run_dir: Path, rows: pd.DataFrame) -> pd.Series:
    """Per row (rows of either vantage, by ``request_id``), when the client's capture shows
    the first copy of the request's last bytes leave (ns; NaN for a request not measured or
    its segment not found): the server cannot have read the request before that, whichever
    copy got through."""
    client = measured(run_dir, "client").set_index("request_id")
    seg = client_segments(run_dir)
    out = []
    for request_id in rows["request_id"]:
        found = None if request_id not in client.index else last_bytes(
            seg, client.at[request_id, "connection"], client.at[request_id, "request_end_ns"])
        out.append(np.nan if found is None else float(found[3]["t"].min()))
    return pd.Series(out, index=rows.index, dtype=float)


#: The most requests of a protocol's measured ones whose server log may put the handler's start
#: before the client even sent the request's last bytes (see the test below)
WITNESS_ERRORS_MAX = 2
