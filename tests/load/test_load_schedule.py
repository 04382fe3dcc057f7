"""Arrival processes and the slot plan (pure: no clock)."""
import itertools
import statistics
import threading

import pytest

from inferwire.errors import LoadError
from inferwire.load.schedule import Plan, arrival_offsets_ns


def take(it, n):
    return list(itertools.islice(it, n))


def test_constant_arrivals_are_exact_without_drift():
    offsets = take(arrival_offsets_ns(300, "constant"), 3001)
    assert offsets[:4] == [0, 3_333_333, 6_666_667, 10_000_000]
    assert offsets[3000] == 10 * 1_000_000_000              # no accumulated rounding


def test_poisson_inter_arrivals_are_exponential_with_the_right_mean():
    gaps = [b - a for a, b in itertools.pairwise(take(arrival_offsets_ns(200, "poisson", 7),
                                                        20001))]
    mean = statistics.fmean(gaps)
    assert mean == pytest.approx(5_000_000, rel=0.03)        # 1/200 s
    assert statistics.pstdev(gaps) / mean == pytest.approx(1.0, rel=0.05)   # exponential: CV 1
    short = sum(g < 5_000_000 for g in gaps) / len(gaps)
    assert short == pytest.approx(1 - 2.718281828 ** -1, abs=0.02)         # P(gap < mean)


def test_poisson_is_reproducible_by_seed():
    assert take(arrival_offsets_ns(50, "poisson", 1), 50) == take(arrival_offsets_ns(50, "poisson", 1), 50)
    assert take(arrival_offsets_ns(50, "poisson", 1), 50) != take(arrival_offsets_ns(50, "poisson", 2), 50)


@pytest.mark.parametrize("rate,arrival", [(0, "constant"), (-1, "constant"), (10, "burst")])
def test_bad_arrivals(rate, arrival):
    with pytest.raises(LoadError):
        next(arrival_offsets_ns(rate, arrival))


def test_open_plan_count_warmup_and_end():
    plan = Plan(rate=100, warmup_requests=3, requests=5)
    slots = [plan.claim() for _ in range(10)]
    assert [s.phase for s in slots[:8]] == ["warmup"] * 3 + ["measure"] * 5
    assert slots[8:] == [None, None]
    assert [s.offset_ns for s in slots[:8]] == [i * 10_000_000 for i in range(8)]


def test_open_plan_time_warmup_and_duration():
    plan = Plan(rate=100, warmup_ns=50_000_000, duration_ns=100_000_000)
    slots = list(iter(plan.claim, None))
    assert sum(s.phase == "warmup" for s in slots) == 5        # 0..40 ms
    assert sum(s.phase == "measure" for s in slots) == 10      # 50..140 ms
    assert slots[-1].offset_ns == 140_000_000


def test_closed_plan_uses_ready_time_and_each_user_finds_the_end():
    plan = Plan(duration_ns=1_000, warmup_requests=1)
    assert plan.claim(0).phase == "warmup"
    assert plan.claim(10).offset_ns == 10                    # measurement starts at 10
    assert plan.claim(1_010) is None                         # this user is past the window
    assert plan.claim(900).phase == "measure"                # another user still inside


def test_plan_needs_an_end_and_stops_on_request():
    with pytest.raises(LoadError, match="needs an end"):
        Plan(rate=10)
    plan = Plan(rate=10, requests=100)
    plan.stop()
    assert plan.claim() is None


def test_plan_is_thread_safe_no_slot_twice():
    plan = Plan(rate=1e6, requests=20_000)
    seen, lock = [], threading.Lock()

    def worker():
        for slot in iter(plan.claim, None):
            with lock:
                seen.append(slot.seq)
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == list(range(20_000))
