"""Matching tool requests to captured requests by time (no ids)."""
import pandas as pd
import pytest

from inferwire.reference.match import match_by_time

T0 = 1_795_000_000_000_000_000   # ns


def tool(*intervals_us):
    return pd.DataFrame({"started_ns": [T0 + s * 1000 for s, _ in intervals_us],
                         "finished_ns": [T0 + f * 1000 for _, f in intervals_us]})


def wire(*intervals_us, index=None):
    frame = pd.DataFrame({"request_start": [(T0 + s * 1000) / 1e9 for s, _ in intervals_us],
                          "response_end": [(T0 + f * 1000) / 1e9 for _, f in intervals_us]})
    frame["total_ms"] = [(f - s) / 1000 for s, f in intervals_us]
    if index is not None:
        frame.index = index
    return frame


def test_sequential_requests_pair_in_order_with_overheads():
    m = match_by_time(tool((0, 100), (150, 300)), wire((10, 90), (170, 280), index=[7, 3]))
    assert m.complete
    assert m.pairs["wire_index"].tolist() == [7, 3]
    assert m.pairs["overhead_ms"].round(6).tolist() == [0.02, 0.04]


def test_concurrent_requests_take_the_tightest_fit():
    # tool A is long (its client stalled after the reply); B's request sits inside A's interval
    m = match_by_time(tool((0, 500), (100, 200)), wire((10, 60), (110, 190)))
    assert m.complete
    assert dict(zip(m.pairs["tool_index"], m.pairs["wire_index"])) == {0: 0, 1: 1}


def test_augmenting_path_finds_a_complete_matching_greedy_misses():
    # greedy takes (0 -> wire 1) first (smallest overhead), leaving tool 1 without a partner;
    # the augmenting path moves tool 0 to wire 0
    m = match_by_time(tool((0, 100), (40, 95)), wire((5, 50), (45, 94)))
    assert m.complete
    assert dict(zip(m.pairs["tool_index"], m.pairs["wire_index"])) == {0: 0, 1: 1}


def test_a_request_outside_every_interval_stays_unmatched():
    m = match_by_time(tool((0, 100), (200, 300)), wire((10, 90), (190, 290)))
    assert m.unmatched_tool == [1] and m.unmatched_wire == [1] and not m.complete
    assert len(m.pairs) == 1


def test_tolerance_is_the_clock_granularity():
    # h2load truncates to µs: the wire may end up to ~1 µs after the tool's logged end
    m = match_by_time(tool((0, 100)), wire((10, 101)))
    assert m.complete
    assert not match_by_time(tool((0, 100)), wire((10, 103))).complete


def test_rows_without_times_are_ignored_and_sums_are_exact():
    w = wire((10, 90), (120, 180))
    w.loc[2] = [float("nan"), float("nan"), float("nan")]
    m = match_by_time(tool((0, 100), (110, 200)), w)
    assert m.complete
    assert m.pairs["overhead_ms"].sum() == pytest.approx((100 + 90 - 80 - 60) / 1000)
