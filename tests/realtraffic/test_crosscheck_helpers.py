"""The cross-check's own machinery, on hand-made inputs: it must see every kind of disagreement
(a check that cannot fail would make the real-traffic tests worthless).  No capture needed."""
from __future__ import annotations

import pandas as pd

from .compare import row_mismatches, same_time
from .wireshark import H2Frame, _message_end, epoch_ns, header, last_frame

T0 = 1_795_619_523_774_062_381   # ns, a real frame.time_epoch of these captures


def test_epoch_ns_is_exact():
    assert epoch_ns("1795619523.774062381") == T0
    assert epoch_ns("1795619523.774062") == T0 - 381
    assert epoch_ns("1795619523") == T0 - 774_062_381


def test_same_time_is_float_rounding_not_a_tolerance():
    assert same_time(T0 / 1e9, T0)
    assert not same_time((T0 + 1_000) / 1e9, T0)          # one microsecond is a different frame
    assert not same_time(None, T0) and same_time(None, None) and same_time(float("nan"), None)


def _table(**overrides) -> pd.DataFrame:
    row = {"client": "127.0.0.1:5000", "stream": 1, "status": 200, "request_frame": 7,
           "request_start": T0 / 1e9, "request_id": "a"}
    row.update(overrides)
    return pd.DataFrame([row]).astype({"status": "Int64", "request_frame": "Int64"})


REF = {"client": "127.0.0.1:5000", "stream": 1, "status": 200, "request_frame": 7,
       "request_start": T0, "request_id": "a"}
COLS = ("status", "request_frame", "request_start", "request_id")


def test_row_mismatches_sees_each_kind_of_disagreement():
    assert row_mismatches(_table(), [REF], COLS) == []
    assert len(row_mismatches(_table(request_frame=8), [REF], COLS)) == 1
    assert len(row_mismatches(_table(request_start=(T0 + 2_000) / 1e9), [REF], COLS)) == 1
    assert len(row_mismatches(_table(status=pd.NA), [REF], COLS)) == 1
    assert len(row_mismatches(_table(request_id="b"), [REF], COLS)) == 1
    assert row_mismatches(_table(stream=3), [REF], COLS) == [
        "('127.0.0.1:5000', 1): in tshark only", "('127.0.0.1:5000', 3): in inferwire only"]


def test_row_mismatches_checks_phase_durations():
    table = _table(request_end=(T0 + 5_000) / 1e9, request_ms=0.005)
    ref = {**REF, "request_end": T0 + 5_000}
    assert row_mismatches(table, [ref], COLS) == []
    assert len(row_mismatches(_table(request_end=(T0 + 5_000) / 1e9, request_ms=0.006), [ref],
                              COLS)) == 1


def test_header_reads_tshark_request_lines():
    lines = ["Host: x\r\n", "X-Request-Id: abc-1\r\n"]
    assert header(lines, "x-request-id") == "abc-1" and header(lines, "expect") is None


def test_last_frame_skips_a_bare_fin():
    p = {"frame.number": ["30"], "tcp.segment": ["12", "19", "26", "30"]}
    assert last_frame(p, {12: 100, 19: 500, 26: 22, 30: 0}) == 26
    assert last_frame(p, {12: 100, 19: 500, 26: 22, 30: 5}) == 30
    assert last_frame({"frame.number": ["9"]}, {9: 40}) == 9


def _f(type_, flags, frame):
    return H2Frame(0, True, 1, type_, flags, 10, frame, frame)


def test_message_end_follows_continuation():
    headers_only = [_f(1, 0x05, 3)]
    assert _message_end(headers_only).last_frame == 3
    split = [_f(1, 0x01, 3), _f(9, 0x00, 4), _f(9, 0x04, 6)]
    assert _message_end(split).last_frame == 6
    with_body = [_f(1, 0x04, 3), _f(0, 0x00, 4), _f(0, 0x01, 8)]
    assert _message_end(with_body).last_frame == 8
    assert _message_end([_f(1, 0x04, 3)]) is None
