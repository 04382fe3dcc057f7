"""Lineup: at most N workers hold a turn, the last idle one gets the next, end() frees all."""
import threading
import time

from inferwire.load.lineup import Lineup


def wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_turns_are_bounded_and_go_to_the_last_idle_worker_first():
    lineup = Lineup(workers=4, turns=2)
    assert lineup.wait_turn(0) and lineup.wait_turn(1)          # the two free turns
    got = []
    threads = []
    for index in (2, 3):                                        # 2 queues up first, then 3
        threads.append(threading.Thread(
            target=lambda i=index: got.append((i, lineup.wait_turn(i)))))
        threads[-1].start()
        wait_for(lambda n=index - 1: lineup.idle == n)
    time.sleep(0.05)
    assert got == []                                            # no third turn
    lineup.pass_on()
    wait_for(lambda: len(got) == 1)
    assert got == [(3, True)]                                   # last in, first out
    lineup.pass_on()
    wait_for(lambda: len(got) == 2)
    assert got[1] == (2, True) and lineup.idle == 0
    for t in threads:
        t.join(5)


def test_a_turn_passed_while_all_are_busy_waits_for_the_next_worker():
    lineup = Lineup(workers=2, turns=1)
    assert lineup.wait_turn(0)
    lineup.pass_on()                      # nobody idle: the turn is kept ...
    assert lineup.wait_turn(1)            # ... for the first worker to ask
    lineup.pass_on()
    assert lineup.wait_turn(0)


def test_end_releases_every_waiting_worker_with_false():
    lineup = Lineup(workers=3, turns=1)
    assert lineup.wait_turn(0)
    got = []
    threads = [threading.Thread(target=lambda i=i: got.append(lineup.wait_turn(i))) for i in (1, 2)]
    for t in threads:
        t.start()
    wait_for(lambda: lineup.idle == 2)
    lineup.end()
    for t in threads:
        t.join(5)
    assert got == [False, False]
    assert lineup.wait_turn(0) is False                    # and no turn after the end
