"""release_guardian, the one "done, close, wait, else kill" of the run's supervisor and the capture
watchdog, on real processes."""
from __future__ import annotations

import subprocess
import sys
import time

from inferwire.capture import watchdog
from inferwire.guardian import release_guardian, start_guardian

STUCK = [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
         "signal.SIG_IGN); time.sleep(120)"]   # never reads its stdin


def test_a_guardian_told_done_exits_and_leaves_its_process_alone():
    tool = subprocess.Popen(STUCK)
    try:
        dog = start_guardian(watchdog.__file__, tool.pid, 0.5)
        time.sleep(0.5)                         # it is waiting on its stdin by now
        release_guardian(dog)
        assert dog.returncode == 0              # it exited by itself ("done"), not killed
        assert tool.poll() is None              # and did not touch the tool
    finally:
        tool.kill()
        tool.wait()


def test_a_guardian_that_does_not_exit_is_killed_after_the_wait():
    stuck = subprocess.Popen(STUCK, stdin=subprocess.PIPE)
    start = time.monotonic()
    release_guardian(stuck, wait_s=0.5)
    assert stuck.returncode == -9 and time.monotonic() - start >= 0.5


def test_a_guardian_already_gone_is_fine():
    gone = subprocess.Popen([sys.executable, "-c", "pass"], stdin=subprocess.PIPE)
    gone.wait()
    release_guardian(gone)                      # a broken pipe is not an error
    assert gone.returncode == 0
