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
    df = pd.DataFrame(request_columns([row], [lossless]))
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
