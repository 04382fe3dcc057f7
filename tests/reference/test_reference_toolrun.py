"""Running tool processes: they end on the run's stop event, on the time limit and on their own;
their output files are new files; helpers are ended with the main process."""
import signal
import sys
import threading
import time

import psutil
import pytest

from inferwire.errors import LoadError
from inferwire.reference.toolrun import run_processes, run_tool, time_limit_s

PY = sys.executable
SLEEPER = [PY, "-c", "import time; print('up', flush=True); time.sleep(60)"]


def test_a_finishing_tool_records_output_code_and_window(tmp_path):
    out = tmp_path / "out.txt"
    run = run_tool([PY, "-c", "print('hello'); raise SystemExit(3)"], out,
                   stop=threading.Event(), timeout_s=30)
    assert run.exit_code == 3 and not (run.stopped or run.timed_out or run.interrupted)
    assert out.read_text() == "hello\n" and run.finished_ns > run.started_ns
    with pytest.raises(LoadError, match="never overwritten"):
        run_tool([PY, "-c", "pass"], out, stop=threading.Event(), timeout_s=30)
    assert out.read_text() == "hello\n"


def test_the_stop_event_ends_the_tool_at_once(tmp_path):
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    t0 = time.monotonic()
    run = run_tool(SLEEPER, tmp_path / "o.txt", stop=stop, timeout_s=60,
                   stop_signal=signal.SIGTERM)
    assert run.stopped and time.monotonic() - t0 < 10
    assert run.exit_code == -signal.SIGTERM


def test_the_time_limit_ends_a_stuck_tool(tmp_path):
    run = run_tool(SLEEPER, tmp_path / "o.txt", stop=threading.Event(), timeout_s=0.5)
    assert run.timed_out and run.exit_code is not None


def test_helpers_end_with_the_main_process(tmp_path):
    # a worker that would outlive its master is ended after the grace period
    commands = [([PY, "-c", "import time; time.sleep(0.3)"], tmp_path / "main.txt"),
                (SLEEPER, tmp_path / "helper.txt")]
    t0 = time.monotonic()
    run = run_processes(commands, stop=threading.Event(), timeout_s=30, grace_s=0.5)
    assert run.exit_codes[0] == 0 and run.exit_codes[1] == -signal.SIGTERM
    assert time.monotonic() - t0 < 10
    assert not [p for p in psutil.process_iter(["cmdline"])
                if p.info["cmdline"] == SLEEPER]


def test_a_missing_program_is_a_clear_error(tmp_path):
    with pytest.raises(LoadError, match="cannot start no-such-tool"):
        run_tool(["no-such-tool"], tmp_path / "o.txt", stop=threading.Event(), timeout_s=5)


def test_time_limits():
    assert time_limit_s(3, None) == 63 and time_limit_s(None, 100) == 110
    assert time_limit_s(None, 10**9) == 3600


def test_a_tool_started_while_sigint_is_ignored_still_stops_on_sigint(tmp_path):
    """A run started with SIGINT ignored (a background job of a script) hands its tools SIGINT
    at its default: the SIGINT that stops a tool early reaches it, instead of nothing until
    the grace period's SIGKILL (a Python tool's final report lost, e.g. aiperf's export)."""
    tool = [PY, "-c", "import time\ntry:\n    print('up', flush=True)\n    time.sleep(60)\n"
                      "except KeyboardInterrupt:\n    print('final report', flush=True)\n"]
    out, stop = tmp_path / "o.txt", threading.Event()

    def stop_once_up():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (out.exists() and "up" in out.read_text()):
            time.sleep(0.02)
        stop.set()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        threading.Thread(target=stop_once_up, daemon=True).start()
        run = run_tool(tool, out, stop=stop, timeout_s=120, grace_s=15)
    finally:
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN       # still ignored here
        signal.signal(signal.SIGINT, previous)
    assert run.stopped and run.exit_code == 0, run
    assert out.read_text() == "up\nfinal report\n"
