"""An HTTP/2 direction's DATA records as columns (``datarows.data_rows``): the C reading and the
Python reading give the same columns, and both say what the records say, frame by frame and
message by message.  Records from the parser on crafted calls (padded DATA, several messages in
a frame, a message across frames, an empty DATA, a cut message), on fuzzed frame sequences,
and a record list that is not DATA-shaped (an error naming its index).  Likewise the frames
that grant flow-control window (``datarows.window_rows``)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from needs import skip_or_fail
from tests.protocols.http2.test_frames_c import CALLS, FUZZ, PREFACE, frame_sequences

from inferwire.errors import ProtocolError
from inferwire.protocols.grpc import WholeMessage
from inferwire.protocols.http2 import Data, H2Parser, Settings, WindowUpdate
from inferwire.protocols.http2 import datarows
from inferwire.protocols.http2.datarows import (DataRows, WindowRows, data_rows, data_rows_py,
                                                window_rows, window_rows_py)


def records_of(role: str, data: bytes) -> list:
    parser = H2Parser(role, records=True)
    try:
        out = parser.feed(data, 0)
    except ProtocolError as exc:
        out = exc.events
    return out


def expected(records: list) -> tuple[list, list]:
    """The DATA frames and messages, read from the records one by one."""
    rows, msgs = [], []
    for i, r in enumerate(records):
        if r[0] is Data:
            ms = r[6]
            if isinstance(ms, WholeMessage):    # the payload (unpadded) is that one message
                ms = [(ms.compressed, r[4] - 5, r[3] - r[4], r[3])]
            for m in ms or ():
                msgs.append((len(rows), bool(m[0]), m[1], m[2], m[3]))
            rows.append((i, r[1], r[2], r[3], r[4], bool(r[5])))
    return rows, msgs


def as_lists(d: DataRows) -> tuple[list, list]:
    rows = list(zip(d.record.tolist(), d.stream_id.tolist(), d.start.tolist(), d.end.tolist(),
                    d.data_len.tolist(), d.end_stream.tolist()))
    msgs = list(zip(d.msg_row.tolist(), d.msg_compressed.tolist(), d.msg_length.tolist(),
                    d.msg_start.tolist(), d.msg_end.tolist()))
    return rows, msgs


def check(records: list) -> DataRows:
    if datarows._c_data_rows is None:
        skip_or_fail("inferwire.protocols.http2._frames is not built: nothing to compare")
    want = expected(records)
    c, py = data_rows(records), data_rows_py(records)
    assert as_lists(c) == want and as_lists(py) == want
    for name in DataRows._fields:
        assert getattr(c, name).dtype == getattr(py, name).dtype, name
    return c


@pytest.mark.parametrize("role", ["client", "server"])
def test_crafted_calls(role):
    records = records_of(role, CALLS[role == "server"])
    d = check(records)
    assert len(d) == sum(r[0] is Data for r in records) > 10
    assert len(d.msg_row) == sum(1 if isinstance(r[6], WholeMessage) else len(r[6])
                                 for r in records if r[0] is Data) > 10
    assert any(isinstance(r[6], WholeMessage) for r in records if r[0] is Data)
    # the payloads: after the frame header and, when padded, the pad length byte
    offsets, sizes = d.payloads(np.arange(len(d)))
    want = [(r[2] + 9 + (r[3] - r[2] - 9 != r[4]), r[4]) for r in records
            if r[0] is Data and r[4]]
    assert list(zip(offsets.tolist(), sizes.tolist())) == want
    assert role == "server" or any(r[3] - r[2] - 9 != r[4] for r in records if r[0] is Data)


def test_no_data_frames():
    d = check([(WindowUpdate, 0, 0, 13, 5)])
    assert len(d) == 0 and len(d.msg_row) == 0 and d.end_stream.dtype == bool


@FUZZ
@given(frame_sequences())
def test_fuzzed_frame_sequences(data):
    check(records_of("server", data))
    check(records_of("client", PREFACE + data))


def test_a_record_that_is_not_a_data_record_is_named():
    if datarows._c_data_rows is None:
        skip_or_fail("inferwire.protocols.http2._frames is not built")
    good = (Data, 1, 0, 14, 5, False, ())
    for bad in [(Data, 1, 0, 14), (Data, "1", 0, 14, 5, False, ()),
                (Data, 1, 0, 14, 5, False, ((False, 1, 2),)), (Data, 1, 0, 14, 5, False, 7)]:
        with pytest.raises(TypeError, match="record 1 is not a DATA record"):
            data_rows([good, bad])


# -- the assembly with the DATA frames taken from the columns -------------------------------------
def assembled(client_records, server_records, columns: bool, monkeypatch):
    """(streams' rows, warnings) of the records, walked with the DATA columns (however few) or
    record by record."""
    from inferwire.protocols.http2 import streams as streams_module
    monkeypatch.setattr(streams_module, "DATA_COLUMNS_MIN", 0)
    monkeypatch.setattr(streams_module, "DATA_COLUMNS_RATIO", 0)
    args = (data_rows(client_records), data_rows(server_records)) if columns else ()
    conv, rows = streams_module.assemble_rows(client_records, server_records, *args)
    return rows, [str(w) for w in conv.warnings], conv


@pytest.mark.parametrize("seed", range(6))
def test_assembly_from_columns_equals_the_record_walk(seed, monkeypatch):
    from tests.protocols.http2.test_frames_c import calls
    client, server = calls(n_streams=60, seed=seed)
    c, s = records_of("client", client), records_of("server", server)
    a, b = assembled(c, s, True, monkeypatch), assembled(c, s, False, monkeypatch)
    assert a[0] == b[0] and a[1] == b[1] and len(a[0]) == 60
    assert a[2].warnings == b[2].warnings


@FUZZ
@given(frame_sequences(), frame_sequences())
def test_fuzzed_assembly_from_columns_equals_the_record_walk(client, server):
    c, s = records_of("client", PREFACE + client), records_of("server", server)
    with pytest.MonkeyPatch.context() as monkeypatch:
        a, b = assembled(c, s, True, monkeypatch), assembled(c, s, False, monkeypatch)
    assert a[0] == b[0] and a[1] == b[1]


def test_a_quiet_direction_is_walked_from_the_columns(monkeypatch):
    """The crafted calls' directions have no DATA out of place: the columns' walk runs
    (it is not the record walk under another name)."""
    from inferwire.protocols.http2 import streams as streams_module
    from tests.protocols.http2.test_frames_c import calls
    client, server = calls(n_streams=60, seed=1)
    s = records_of("server", server)
    taken = []
    real = streams_module._walk_columns
    monkeypatch.setattr(streams_module, "_walk_columns",
                        lambda *a: taken.append(a[5]) or real(*a))
    monkeypatch.setattr(streams_module, "DATA_COLUMNS_MIN", 0)
    monkeypatch.setattr(streams_module, "DATA_COLUMNS_RATIO", 0)
    c = records_of("client", client)
    streams_module.assemble_rows(c, s, data_rows(c), data_rows(s))
    assert taken == ["client", "server"]


# -- the frames that grant flow-control window --------------------------------------------------
def window_expected(records: list) -> list:
    """(record, kind, stream id, end, value) of each WINDOW_UPDATE and initial-window SETTINGS,
    read from the records one by one."""
    out = []
    for i, r in enumerate(records):
        if r[0] is WindowUpdate:
            out.append((i, 0, r[1], r[3], r[4]))
        elif r[0] is Settings and not r[3] and 4 in r[4]:
            out.append((i, 1, 0, r[2], r[4][4]))
    return out


def window_check(records: list) -> WindowRows:
    if datarows._c_window_rows is None:
        skip_or_fail("inferwire.protocols.http2._frames is not built: nothing to compare")
    want = window_expected(records)
    c, py = window_rows(records), window_rows_py(records)
    for w in (c, py):
        assert list(zip(*(getattr(w, f).tolist() for f in WindowRows._fields))) == want
        assert all(getattr(w, f).dtype == np.int64 for f in WindowRows._fields)
    return c


@pytest.mark.parametrize("role", ["client", "server"])
def test_window_rows_of_crafted_calls(role):
    records = records_of(role, CALLS[role == "server"])
    w = window_check(records)
    assert len(w) == sum(r[0] is WindowUpdate for r in records) + sum(
        r[0] is Settings and not r[3] and 4 in r[4] for r in records)


def test_window_rows_keep_record_order_and_skip_acks_and_other_settings():
    records = [(Settings, 0, 15, False, {4: 1_000_000, 5: 16_384}),
               (WindowUpdate, 0, 15, 28, 983_041),
               (Data, 1, 28, 40, 3, False, ()),
               (Settings, 40, 49, True, {}),                    # an ACK
               (Settings, 49, 64, False, {3: 100}),             # no initial window
               (WindowUpdate, 1, 64, 77, 12),
               (Settings, 77, 92, False, {4: 0})]
    w = window_check(records)
    assert w.record.tolist() == [0, 1, 5, 6] and w.kind.tolist() == [1, 0, 0, 1]
    assert w.value.tolist() == [1_000_000, 983_041, 12, 0] and w.end.tolist() == [15, 28, 77, 92]
    assert len(window_check([])) == 0 and len(window_check([(Data, 1, 0, 9, 0, True, ())])) == 0


@FUZZ
@given(frame_sequences())
def test_window_rows_of_fuzzed_frame_sequences(data):
    window_check(records_of("server", data))
    window_check(records_of("client", PREFACE + data))


@FUZZ
@given(st.lists(st.one_of(
    st.tuples(st.integers(0, 7), st.integers(1, 1 << 31)),
    st.tuples(st.booleans(), st.dictionaries(st.integers(1, 6), st.integers(0, (1 << 31) - 1),
                                             max_size=3))), max_size=30))
def test_window_rows_of_fuzzed_records(items):
    records, at = [], 0
    for a, b in items:
        if isinstance(b, dict):
            records.append((Settings, at, at + 9 + 6 * len(b), a, b))
            at += 9 + 6 * len(b)
        else:
            records.append((WindowUpdate, a, at, at + 13, b))
            at += 13
    window_check(records)


def test_a_record_that_is_not_a_window_record_is_named():
    if datarows._c_window_rows is None:
        skip_or_fail("inferwire.protocols.http2._frames is not built")
    good = (WindowUpdate, 0, 0, 13, 5)
    for bad in [(WindowUpdate, 1, 0, 13), (WindowUpdate, "1", 0, 13, 5),
                (Settings, 0, 15, False, [(4, 1)]), (Settings, 0, "15", False, {4: 1}),
                (Settings, 0, 15, False, {4: "big"})]:
        with pytest.raises(TypeError, match="record 1 is not a WINDOW_UPDATE or SETTINGS"):
            window_rows([good, bad])
