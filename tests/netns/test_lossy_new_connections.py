"""Real lossy traffic, a connection per request: the project's REST load generator opening a new
connection for each call to the embedded server in network namespaces, MTU 1500, 3 % random
loss each way in the router (iptables ``statistic``), captured with dumpcap on the client's and
on the server's veth by a real ``scripts/capture_run.py --network`` run.

Such connections are what the analyzer reads column-wise (``exchanges/plainbatch.py``,
``analysis/plaincolumns.py``) when nothing on them was lost, repeated or reordered in the
capture, and the per-connection way otherwise.  Checked on each vantage point: the tables,
row order and warnings are those of the per-connection path; both kinds occur; and for every
request read column-wise the server's handler (server_log.jsonl: [ts_ns - server_time_ns,
ts_ns]) lies inside [request_end, response_start], with no allowance for retransmissions (the
column path takes none).
"""
from __future__ import annotations

import functools
import warnings
from pathlib import Path

import pandas as pd
import pytest

import inferwire
import inferwire.analysis.schedule as schedule
from inferwire.exchanges.plainbatch import PlainBatch

from .live import run_lossy
from .witness import (CAPTURE_STAMP_LAG_NS, PROBE_PORT, TOLERANCE_NS, VANTAGE,
                      WITNESS_ERRORS_MAX, first_sent_ns)

pytestmark = [pytest.mark.capture, pytest.mark.tshark, pytest.mark.slow]
REQUESTS, LOSS_PCT = 200, 3


@pytest.fixture(scope="module")
def new_conn_run(tmp_path_factory):
    """(run folder, manifest, CLI process id) of one lossy REST run, a connection per request.
    With INFERWIRE_LOSSY_NEW_RUN=FOLDER: that kept run folder instead."""
    return run_lossy(tmp_path_factory, "lossy-new", [
        "--network", "veth", "--loss", str(LOSS_PCT), "--network-capture", "both",
        "--protocol", "rest", "--connection", "new", "--batch-size", "1",
        "--requests", str(REQUESTS), "--warmup", "5", "--users", "2"],
        "INFERWIRE_LOSSY_NEW_RUN")


@functools.lru_cache(maxsize=4)
def _both_ways(run_dir: Path, vantage: str) -> tuple:
    """(analysis with the column path, analysis without it, request ids read column-wise)."""
    path = run_dir / VANTAGE[vantage]
    taken = []
    columns = schedule.plain_columns

    def spying(found, batch):
        out = columns(found, batch)
        taken.extend(out[1]["request_id"].tolist())
        return out
    batch = schedule.one_request_batch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            schedule.plain_columns = spying
            fast = inferwire.analyze(path, ignore_ports=(PROBE_PORT,), workers=1)
            schedule.one_request_batch = lambda *args: PlainBatch.empty()
            general = inferwire.analyze(path, ignore_ports=(PROBE_PORT,), workers=1)
        finally:
            schedule.plain_columns, schedule.one_request_batch = columns, batch
    return fast, general, frozenset(taken)


@pytest.mark.parametrize("vantage", sorted(VANTAGE))
def test_the_column_path_gives_the_tables_of_the_per_connection_path(new_conn_run, vantage):
    fast, general, taken = _both_ways(new_conn_run[0], vantage)
    pd.testing.assert_frame_equal(fast.requests, general.requests)
    pd.testing.assert_frame_equal(fast.connections, general.connections)
    assert fast.warnings == general.warnings
    rest = fast.requests[fast.requests.protocol == "http/1.1"]
    assert len(rest) >= REQUESTS                 # warm-up and measured calls, every one found
    # both kinds: clean connections read column-wise, lossy ones the per-connection way
    lossy = rest[(rest.retrans_segments_to_server.fillna(0)
                  + rest.retrans_segments_to_client.fillna(0)) > 0]
    assert len(taken) > REQUESTS // 4 and len(lossy) > 0
    assert not set(lossy.request_id) & taken


@pytest.mark.parametrize("vantage", sorted(VANTAGE))
def test_the_server_handler_lies_inside_each_column_read_request(new_conn_run, vantage):
    run_dir = new_conn_run[0]
    fast, _, taken = _both_ways(run_dir, vantage)
    server = pd.read_json(run_dir / "server_log.jsonl", lines=True)
    j = fast.requests[fast.requests.request_id.isin(taken)].merge(
        server, on="request_id", how="inner", validate="one_to_one")
    assert len(j) == len(taken)
    start, end = j["ts_ns"] - j["server_time_ns"], j["ts_ns"]
    early = j[start < (j["request_end"] * 1e9).round() - CAPTURE_STAMP_LAG_NS]
    late = j[end > (j["response_start"] * 1e9).round() + TOLERANCE_NS]
    if len(early):      # the log's start before the client sent the bytes: the log's error
        impossible = start[early.index] < first_sent_ns(run_dir, early)
        assert impossible.sum() <= WITNESS_ERRORS_MAX, early[impossible]
        early = early[~impossible]
    assert early.empty, early[["request_id", "request_end", "ts_ns", "server_time_ns"]]
    assert late.empty, late[["request_id", "response_start", "ts_ns"]]
