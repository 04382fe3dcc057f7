"""Rows are built from named fields: a request row's fields come from one declaration
(rows.REQUEST_FIELDS: the connection's values, every Exchange field, the setup spans), and each
table column is the field of its name or is derived by name (tables.py), typed as columns.py
says."""
from __future__ import annotations

from dataclasses import fields

import pandas as pd
import pytest

from inferwire.analysis.rows import (CONNECTION_FIELDS, CONNECTION_ROW_FIELDS, EXCHANGE_FIELDS,
                                     REQUEST_FIELDS, SETUP_FIELDS)
from inferwire.analysis.tables import connection_frame, request_columns
from inferwire.arrays import Table, pandas_array
from inferwire.columns import CONNECTION_COLUMNS, REQUEST_COLUMNS
from inferwire.exchanges.exchange import Exchange

T0 = 1_700_000_000_000_000_000


def _row(**values) -> tuple:
    return tuple(values.get(name) for name in REQUEST_FIELDS)


def test_the_request_fields_are_declared_once():
    assert EXCHANGE_FIELDS == tuple(f.name for f in fields(Exchange))
    assert REQUEST_FIELDS == CONNECTION_FIELDS + EXCHANGE_FIELDS + SETUP_FIELDS
    assert len(set(REQUEST_FIELDS)) == len(REQUEST_FIELDS)


def test_a_column_named_like_a_field_is_that_field_and_times_are_derived_by_name():
    row = _row(connection=3, client="10.0.0.1:40000", server="10.0.0.2:8501", tls=False,
               protocol="http/1.1", stream=1, method="POST", path="/v1/models/m:predict",
               status=200, request_id="r1", request_bytes=2, response_bytes=5,
               req_start_ns=T0, req_end_ns=T0 + 1_000_000, resp_start_ns=T0 + 3_500_000,
               resp_end_ns=T0 + 4_000_000, tcp_handshake_ns=250_000, complete=True,
               inferred=False)
    lossless = (1, None, None, False, None)   # network_columns' part of a clean connection
    df = Table(request_columns([row], [lossless])).frame()
    assert list(df.columns) == [c.name for c in REQUEST_COLUMNS]
    r = df.iloc[0]
    assert (r["connection"], r["method"], r["path"], r["status"], r["request_id"]) == (
        3, "POST", "/v1/models/m:predict", 200, "r1")
    assert r["request_start"] == T0 / 1e9
    assert r["request_start_utc"] == pd.Timestamp(T0, unit="ns", tz="UTC")
    assert (r["request_ms"], r["wait_ms"], r["response_ms"], r["total_ms"]) == (
        pytest.approx(1.0), pytest.approx(2.5), pytest.approx(0.5), pytest.approx(4.0))
    assert r["tcp_handshake_ms"] == pytest.approx(0.25)
    assert pd.isna(r["tls_handshake_ms"]) and pd.isna(r["grpc_status"])
    for col in REQUEST_COLUMNS:
        assert str(df[col.name].dtype) == col.dtype, col.name


def test_connection_rows_are_filled_by_name_and_typed_by_name():
    values = {name: None for name in CONNECTION_ROW_FIELDS}
    values.update(connection=0, client="a:1", server="b:2", protocol="h2", tls=False,
                  start_seen=True, first_ns=T0, last_ns=T0 + 2_000_000, syn_ns=T0,
                  requests=1, packets=9, bytes_to_server=10, bytes_to_client=20,
                  retransmissions=0, missing_bytes=0, retrans_bytes=0, out_of_order=0,
                  dup_acks=0, zero_windows=0, rtt_client_ns=100_000, vantage="client",
                  end="fin", warnings="")
    df = connection_frame([values])
    assert list(df.columns) == [c.name for c in CONNECTION_COLUMNS]
    r = df.iloc[0]
    assert r["duration_ms"] == pytest.approx(2.0) and r["rtt_client_ms"] == pytest.approx(0.1)
    assert pd.isna(r["rtt_server_ms"]) and r["packets"] == 9 and r["protocol"] == "h2"
    del values["packets"]
    with pytest.raises(KeyError):          # a field left out is an error, not a shifted row
        connection_frame([values])


def _h2_connection(tmp_path):
    """A lossless gRPC connection of five streams and what the protocol stage made of it (its
    exchanges as columns)."""
    from craft import write_pcap
    from h2craft import US, grpc_msg, grpc_request_headers, h2_setup
    from inferwire.analysis import AnalyzeOptions, analyze_connection
    from inferwire.packets import read_packets
    from inferwire.tcp import build_connections
    c, h = h2_setup()
    for k, sid in enumerate((1, 3, 5, 7, 9)):
        h.cli.send_headers(sid, grpc_request_headers(f"s{sid}"))
        h.cli.send_data(sid, grpc_msg(b"x" * sid), end_stream=True)
        c.client((300 + 10 * k) * US, h.flush_client())
    for k, sid in enumerate((1, 3, 5, 7, 9)):
        h.srv.send_headers(sid, [(":status", "200"), ("content-type", "application/grpc")])
        h.srv.send_data(sid, grpc_msg(b"r" * 4))
        h.srv.send_headers(sid, [("grpc-status", "0")], end_stream=True)
        c.server((1_000 + 10 * k) * US, h.flush_server())
    table = read_packets(write_pcap(tmp_path / "h2.pcap", c.packets))
    (conn,) = build_connections(table)
    return table, conn, analyze_connection(conn, AnalyzeOptions())


@pytest.mark.parametrize("change", ["none", "reversed", "unknown_starts", "ties", "disordered",
                                    "incomplete"])
def test_rows_as_columns_are_the_rows_one_by_one(tmp_path, monkeypatch, change):
    """A connection's exchanges given as columns become the same request rows (as columns),
    connection row, warnings and network part as the same exchanges made into objects and
    rows one by one: in order of request start (unknown ones last), stream ids breaking ties;
    the disordered and incomplete ones named alike."""
    from inferwire.analysis import rows
    from inferwire.analysis.tables import _transposed, request_columns, request_columns_of
    from inferwire.exchanges.exchange import ExchangeColumns
    table, conn, result = _h2_connection(tmp_path)
    cols = result.exchanges.columns
    assert isinstance(result.exchanges, ExchangeColumns) and len(result.exchanges) == 5
    cols = {k: list(v) for k, v in cols.items()}
    if change == "reversed":
        cols = {k: v[::-1] for k, v in cols.items()}
    elif change == "unknown_starts":
        cols["req_start_ns"][1] = cols["req_start_ns"][3] = None
    elif change == "ties":
        cols = {k: v[::-1] for k, v in cols.items()}
        cols["req_start_ns"] = [cols["req_start_ns"][0]] * 5
    elif change == "disordered":
        cols["resp_end_ns"][2] = cols["req_start_ns"][2] - 1
        cols["resp_start_ns"][4] = None
    elif change == "incomplete":
        cols["complete"][0] = cols["complete"][3] = False
    monkeypatch.setattr(rows, "ROW_COLUMNS_MIN", 1)
    result.exchanges = ExchangeColumns(cols)
    got = rows.connection_rows(conn, result)
    result.exchanges = ExchangeColumns({k: list(v) for k, v in cols.items()})
    monkeypatch.setattr(rows, "ROW_COLUMNS_MIN", 10**9)
    want = rows.connection_rows(conn, result)
    assert isinstance(got[0], rows.RowColumns) and isinstance(want[0], list)
    assert got[0].columns == _transposed(want[0], REQUEST_FIELDS)
    assert got[1:] == want[1:]
    a = Table(request_columns_of(got[0].columns, [got[3]])).frame()
    b = Table(request_columns(want[0], [want[3]])).frame()
    pd.testing.assert_frame_equal(a, b)
    if change == "reversed":
        assert got[0].columns["stream"] == [1, 3, 5, 7, 9]
    if change in ("disordered", "incomplete"):
        assert any("of 5 requests" in w or "out of order" in w for w in got[2])
    table.close()




@pytest.mark.parametrize("dtype,values", [
    ("Int64", [0, 1, -5, 2**62, True, False, None]),
    ("boolean", [True, False, None]),
])
def test_nullable_columns_are_what_pd_array_makes(dtype, values):
    """tables.typed converts a list of ints or bools and None itself (in C): the same array,
    data under the missing values included, as pd.array makes; anything else it leaves to
    pd.array (floats, text, ints beyond int64, 0 and 1 as booleans)."""
    import random

    import numpy as np

    from inferwire.analysis.tables import _masked, typed
    rng = random.Random(7)
    quick = 0
    odd = [1.5, "7", 2**64, 1, 0] if dtype == "Int64" else [1, 0, 1.0, "True"]
    for k in range(3000):
        pool = values + (odd if k % 5 == 0 else [])
        v = [rng.choice(pool) for _ in range(rng.randint(0, 6))]
        try:
            want = pd.array(v, dtype=dtype)
        except (TypeError, ValueError, OverflowError) as exc:
            with pytest.raises(type(exc)):
                typed(v, dtype)
            continue
        got = pandas_array(typed(v, dtype))
        quick += _masked(v, dtype) is not None
        assert type(got) is type(want) and got.dtype == want.dtype and got.equals(want), v
        assert (np.asarray(got._data) == np.asarray(want._data)).all(), v
        assert (got._mask == want._mask).all(), v
    assert quick > 1500
