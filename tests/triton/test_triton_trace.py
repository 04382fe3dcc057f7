"""Reading Triton's trace files (pure): stamps per trace id, durations, the clock, cut files."""
import json

import numpy as np
import pandas as pd
import pytest

from inferwire.serving.triton.trace import (STAMP_COLUMNS, inside_fraction, parse_entries,
                                            read_trace_files, server_log)
from inferwire.serving.triton.tracejoin import add_triton_columns, match_by_time

MS = 1_000_000


def _trace(tid, rid, t0, proto="HTTP"):
    """Entries of one traced request as Triton writes them (one stamp per entry, out of order)."""
    stamps = [(f"{proto}_RECV_START" if proto == "HTTP" else "GRPC_WAITREAD_START", 0),
              (f"{proto}_RECV_END" if proto == "HTTP" else "GRPC_WAITREAD_END", 1 * MS),
              ("REQUEST_START", 2 * MS), ("QUEUE_START", 3 * MS), ("COMPUTE_START", 5 * MS),
              ("COMPUTE_INPUT_END", 6 * MS), ("COMPUTE_OUTPUT_START", 10 * MS),
              ("COMPUTE_END", 11 * MS), ("REQUEST_END", 12 * MS),
              ("INFER_RESPONSE_COMPLETE", 11 * MS), (f"{proto}_SEND_START", 13 * MS),
              (f"{proto}_SEND_END", 14 * MS)]
    out = [{"id": tid, "timestamps": [{"name": n, "ns": t0 + dt}]} for n, dt in stamps]
    out.insert(2, {"id": tid, "model_name": "mnist", "model_version": 1, "request_id": rid})
    return out[::-1] if tid % 2 else out


def test_entries_become_one_row_per_trace_with_every_stamp():
    t = parse_entries(_trace(1, "a", 10**12) + _trace(2, "b", 2 * 10**12, "GRPC"))
    assert list(t["trace_id"]) == [1, 2] and list(t["request_id"]) == ["a", "b"]
    assert list(t["protocol"]) == ["rest", "grpc"]
    assert t.loc[0, "recv_end_ns"] == 10**12 + MS
    assert t.loc[1, "send_start_ns"] == 2 * 10**12 + 13 * MS
    assert all(t[f"{c}_ns"].notna().all() for c in STAMP_COLUMNS)


def test_server_log_durations_in_ms_and_wall_clock_times():
    t = parse_entries(_trace(1, "a", 10**12))
    log = server_log(t, clock_offset_ns=1_700_000_000 * 10**9)
    row = log.iloc[0]
    assert row["triton_recv_ms"] == 1.0 and row["triton_queue_ms"] == 2.0
    assert row["triton_compute_input_ms"] == 1.0 and row["triton_compute_infer_ms"] == 4.0
    assert row["triton_compute_output_ms"] == 1.0 and row["triton_request_ms"] == 10.0
    assert row["triton_send_ms"] == 1.0 and row["triton_server_ms"] == 12.0
    assert row["triton_frontend_ms"] == (3.0 - 1.0) + (13.0 - 11.0)
    assert row["triton_recv_end"] == pytest.approx(1_700_000_000 + 1000 + 0.001, abs=1e-6)
    assert row["model_time_ns"] == 4 * MS and row["server_time_ns"] == 12 * MS


def test_missing_stamps_leave_empty_cells_not_numbers():
    entries = [e for e in _trace(1, "a", 10**12) if "timestamps" not in e
               or e["timestamps"][0]["name"] not in ("COMPUTE_START", "HTTP_SEND_START")]
    log = server_log(parse_entries(entries), 0)
    assert pd.isna(log.loc[0, "triton_queue_ms"]) and pd.isna(log.loc[0, "triton_server_ms"])
    assert log.loc[0, "triton_compute_infer_ms"] == 4.0


def test_numbered_files_in_order_and_a_cut_file_keeps_its_complete_entries(tmp_path):
    base = tmp_path / "trace.json"
    (tmp_path / "trace.json.0").write_text(json.dumps(_trace(1, "a", 10**12)))
    (tmp_path / "trace.json.10").write_text(json.dumps(_trace(3, "c", 3 * 10**12)))
    cut = json.dumps(_trace(2, "b", 2 * 10**12))
    (tmp_path / "trace.json.2").write_text(cut[:len(cut) // 2])
    entries, warnings = read_trace_files(base)
    t = parse_entries(entries)
    assert list(t["trace_id"]) == [1, 2, 3]
    assert t.loc[2, "request_id"] == "c"
    assert len(warnings) == 1 and "trace.json.2" in warnings[0] and "offset" in warnings[0]


def _wire(rid, request_end, response_start, protocol="http/1.1"):
    return {"request_id": rid, "protocol": protocol, "request_end": request_end,
            "response_start": response_start}


def test_join_by_request_id_then_by_time_and_inside_check():
    t = parse_entries(_trace(1, "a", 10**12) + _trace(2, "", 2 * 10**12, "GRPC"))
    log = server_log(t, 0)
    log["triton_protocol"] = t["protocol"]
    joined = pd.DataFrame([_wire("a", 1000.0005, 1000.0135), _wire(None, 2000.0, 2000.02, "grpc")])
    out, warnings = add_triton_columns(joined, log, log["triton_protocol"])
    assert warnings == []
    assert list(out["triton_trace_id"]) == [1, 2]
    assert list(out["triton_joined_by"]) == ["request_id", "time"]
    assert out.loc[0, "triton_server_ms"] == 12.0
    assert inside_fraction(out) == 1.0
    out.loc[0, "response_start"] = 1000.010   # before Triton began sending: outside
    assert inside_fraction(out) == 0.0        # the row matched by time does not count


def test_rows_without_ids_match_by_time_only_when_certain():
    # two concurrent connections: row windows overlap; each trace fits one row only, except
    # trace 2, which fits rows 1 and 2 -> left out; then row 2 is free for nobody else.
    req_end = np.array([0.0, 1.0, 1.5, 5.0])
    resp_start = np.array([2.0, 4.0, 4.5, 6.0])
    recv_end = np.array([0.5, 1.6, 5.2])
    send_start = np.array([1.0, 3.5, 5.8])
    assert sorted(match_by_time(req_end, resp_start, recv_end, send_start)) == [(0, 0), (3, 2)]
    # trace at 1.2-3.0 fits only row 1 (row 2 starts at 1.5): certain
    assert (1, 1) in match_by_time(req_end, resp_start, np.array([0.5, 1.2, 5.2]), send_start)


def test_unmatchable_rows_are_said_not_invented():
    t = parse_entries(_trace(1, "", 10**12))
    log = server_log(t, 0)
    joined = pd.DataFrame([_wire(None, 1.0, 2.0), _wire(None, 3.0, 4.0),
                           _wire("client-only", None, None, pd.NA)])   # not on the wire
    out, warnings = add_triton_columns(joined, log, t["protocol"])
    assert out["triton_trace_id"].isna().all()
    assert warnings and "could not be matched" in warnings[0] and warnings[0].startswith("2 rest")
