"""A capture run cut short by real signals, a full disk or bad options: nothing outlives the run,
the manifest always gets a final status, and what was captured is analyzed (now or by a later
``inferwire runs --clean``).  Real embedded server, real dumpcap, real load, real signals."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from inferwire.serving.ports import free_ports
from needs import need_capture, small_tmpfs
from runprocs import gone_within, run_dir_of, start_capture_run, wait_for
from runprocs import processes_naming as leftovers

pytestmark = [pytest.mark.capture, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _need_capture():
    need_capture()


def start_run(out: Path, *args, protocol="rest") -> subprocess.Popen:
    grpc, rest = free_ports(2)
    return start_capture_run(out, "--protocol", protocol, "--grpc-port", str(grpc),
                             "--rest-port", str(rest), *args)


def wait_no_leftovers(run_dir: Path, timeout: float) -> float:
    """Seconds until nothing names the run folder; fails after ``timeout``."""
    start = time.monotonic()
    left = gone_within(run_dir, timeout)
    assert not left, left
    return time.monotonic() - start


def manifest_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


def runs_clean(out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inferwire.cli", "runs", "--clean", "--quiet",
                           str(out)], capture_output=True, text=True, timeout=300)


def test_sigkill_leaves_nothing_running_and_runs_clean_finishes_it(tmp_path):
    proc = start_run(tmp_path, "--duration", "60")
    wait_for(proc, "measure")
    d = run_dir_of(tmp_path)
    assert leftovers(d)                          # server and dumpcap are running
    proc.kill()
    proc.wait()
    wait_no_leftovers(d, timeout=30)             # the run was to last 60 s
    assert manifest_of(d)["status"] == "running"
    done = runs_clean(tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"abandoned run {d.name}: marked 'abandoned'" in done.stdout
    manifest = manifest_of(d)
    assert manifest["status"] == "abandoned"
    assert any("ended without finishing" in p for p in manifest["problems"])
    requests = pd.read_csv(d / "requests.csv")
    joined = pd.read_csv(d / "joined.csv")
    assert len(requests) > 0 and joined["in_capture"].any()
    assert "abandoned" in (d / "summary.md").read_text()
    assert "no abandoned run" in runs_clean(tmp_path).stdout     # done once


def test_sigterm_during_load_stops_in_order_and_analyzes(tmp_path):
    proc = start_run(tmp_path, "--duration", "60")
    wait_for(proc, "measure")
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 143, out
    d = run_dir_of(tmp_path)
    manifest = manifest_of(d)
    assert manifest["status"] in ("terminated", "interrupted"), manifest["problems"]
    assert manifest["capture"]["dropped"] == 0
    assert len(pd.read_csv(d / "joined.csv")) > 0 and (d / "summary.md").exists()
    wait_no_leftovers(d, timeout=5)


def test_ctrl_c_while_the_server_starts_kills_it_at_once(tmp_path):
    proc = start_run(tmp_path, "--duration", "5")
    wait_for(proc, "server: starting")
    d = run_dir_of(tmp_path)
    deadline = time.monotonic() + 30
    while not leftovers(d):                      # the server process exists (not ready yet)
        assert time.monotonic() < deadline
        time.sleep(0.02)
    server = [p for p in psutil.process_iter(["cmdline"])
              if str(d) in " ".join(p.info["cmdline"] or [])]
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    gone, alive = psutil.wait_procs(server, timeout=60)
    outlived_s = time.monotonic() - sent
    assert not alive, "the server outlived Ctrl-C by more than 60 s"
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    manifest = manifest_of(d)
    assert manifest["status"] == "interrupted"
    assert manifest["analysis"] == {"skipped": "no capture was made"}
    files = (d / "summary.md").read_text().split("## Files\n\n")[1].split(":")[0].split(", ")
    assert "manifest.json" in files and "summary.md" in files and "capture.pcapng" not in files
    # Left alive, the server lived until it was ready (2.5-4.5 s on a quiet host): its death must
    # come well before a server started now, on this host as loaded as it is, gets ready.
    ready_s = server_start_s()
    assert outlived_s < max(1.0, ready_s / 3), (outlived_s, ready_s)


def server_start_s() -> float:
    """Seconds the embedded server takes to get ready on this host now (the run's model)."""
    from inferwire.serving.launch import ServerProcess
    from inferwire.serving.model import cached_models
    server = ServerProcess(["--model_base_path", str(cached_models() / "mnist"), "--port", "0",
                            "--rest_api_port", "0"]).start()
    server.stop()
    return server.start_s


def test_second_ctrl_c_during_load_still_finishes_the_run(tmp_path):
    proc = start_run(tmp_path, "--duration", "60")
    wait_for(proc, "measure")
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    d = run_dir_of(tmp_path)
    manifest = manifest_of(d)
    assert manifest["status"] == "interrupted"
    if "skipped" in manifest.get("analysis", {}):    # the third one fell in the analysis
        assert "`inferwire report " in manifest["analysis"]["skipped"]
    else:
        assert len(pd.read_csv(d / "joined.csv")) > 0
    assert (d / "summary.md").exists()
    wait_no_leftovers(d, timeout=5)


def test_ctrl_c_during_the_analysis_leaves_a_final_manifest(tmp_path):
    proc = start_run(tmp_path, "--duration", "4", "--users", "4")
    wait_for(proc, "analysis: reading the capture")
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    d = run_dir_of(tmp_path)
    manifest = manifest_of(d)
    assert manifest["status"] != "running"
    assert (d / "summary.md").exists()
    if proc.returncode == 130:
        assert manifest["status"] == "interrupted"
        assert manifest["analysis"]["skipped"].startswith("interrupted (Ctrl-C) during the "
                                                          "analysis")
    else:                                        # the analysis was already done
        assert proc.returncode == 0 and (d / "joined.csv").exists(), (out, manifest)
    wait_no_leftovers(d, timeout=5)


def test_full_disk_every_teardown_step_runs(tmp_path):
    out = tmp_path / "small"
    out.mkdir()
    with small_tmpfs(out, "30m"):
        proc = start_run(out, "--duration", "8")
        wait_for(proc, "measure")
        d = run_dir_of(out)
        try:                                      # fill the disk while the load runs
            with open(out / "filler", "wb") as f:  # (the capture may have filled it first)
                while True:
                    f.write(b"\0" * (1 << 20))
                    f.flush()
        except OSError:
            pass
        output, _ = proc.communicate(timeout=120)
        assert proc.returncode == 1, output
        assert "internal error" not in output
        assert "No space left on device" in output
        wait_no_leftovers(d, timeout=5)          # the server was stopped all the same
        (out / "filler").unlink(missing_ok=True)
        manifest = manifest_of(d)
        if manifest["status"] == "running":      # its final write failed: a later look ends it
            done = runs_clean(out)
            assert done.returncode == 0 and "marked 'abandoned'" in done.stdout, done
        assert manifest_of(d)["status"] != "running"


def test_read_only_out_is_a_one_line_error(tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    prefix = (["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
              if os.geteuid() == 0 else [])
    done = subprocess.run([*prefix, sys.executable, str(ROOT / "scripts" / "capture_run.py"),
                           "--out", str(out / "runs"), "--duration", "1"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == (f"inferwire: error: cannot make a run folder in "
                                   f"{out / 'runs'}: Permission denied")


def test_explicit_port_that_is_taken_is_an_error(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, str(ROOT / "scripts" / "capture_run.py"),
                               "--out", str(tmp_path), "--duration", "1", "--rest-port",
                               str(port)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert f"--rest-port {port} is taken on 127.0.0.1" in done.stderr
    manifest = manifest_of(run_dir_of(tmp_path))
    assert manifest["status"] == "failed" and "server" not in manifest


@pytest.mark.parametrize("engine, protocol, extra", [
    ("ab", "rest", []), ("h2load", "grpc", []),
    ("locust", "rest", ["--locust-workers", "2"]), ("locust", "grpc", ["--locust-processes", "2"]),
], ids=["ab", "h2load", "locust-workers", "locust-processes"])
def test_sigkill_ends_every_process_of_the_run(tmp_path, engine, protocol, extra):
    """Whatever the load tool and however many processes it forks: all of the run's
    descendants (server, dumpcap, load tool and workers) are gone soon after a SIGKILL."""
    from needs import need_tool
    if engine != "locust":                       # locust is a Python dependency of the venv
        need_tool(engine)
    proc = start_run(tmp_path, "--duration", "120", "--engine", engine, *extra,
                     protocol=protocol)
    wait_for(proc, "load:")
    tool = "locust" if engine == "locust" else engine
    # the load tool (and its workers: a master or parent and 2 more), the server and dumpcap
    family = wait_for_family(psutil.Process(proc.pid), tool, 3 if extra else 1, timeout=120)
    time.sleep(2)           # ten of the supervisor's 0.2 s looks at the run's descendants
    family = [p for p in family if p.is_running()]
    proc.kill()
    proc.wait()
    gone, alive = psutil.wait_procs(family, timeout=30)   # the run lasts 120 s
    assert not alive, [" ".join(p.cmdline())[:120] for p in alive]


def wait_for_family(run: psutil.Process, tool: str, tools: int, timeout: float) -> list:
    """The run's descendants once ``tools`` of them are the load tool and the server and dumpcap
    are among them (polled; fails after ``timeout`` s saying what was running)."""
    deadline = time.monotonic() + timeout
    while True:
        family, lines = [], []
        for p in run.children(recursive=True):
            try:
                lines.append(" ".join(p.cmdline()))
                family.append(p)
            except psutil.Error:                 # it exited meanwhile (a forked helper)
                continue
        if sum(tool in line for line in lines) >= tools and all(
                any(name in line for line in lines) for name in ("cli serve", "dumpcap")):
            return family
        assert time.monotonic() < deadline, [line[:120] for line in lines]
        time.sleep(0.2)


def test_a_later_run_finishes_an_abandoned_one_beside_it(tmp_path):
    """A run folder left at "running" by a process that is gone (here: a short-lived process's
    pid and start time, and a capture from the fuzz corpus) is marked and analyzed by the next
    run in the same --out folder; a folder whose process still lives is left alone."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_facts = {"pid": dead.pid, "create_time": psutil.Process(dead.pid).create_time(),
                  "host": os.uname().nodename}
    dead.wait()
    live_facts = {"pid": os.getpid(), "create_time": psutil.Process().create_time(),
                  "host": os.uname().nodename}
    corpus = ROOT / "tests" / "fuzz" / "corpus" / "captures" / "h2_multiplexed.pcap"
    for name, facts in (("20000101-000000-gone", dead_facts), ("20000101-000001-alive",
                                                                live_facts)):
        d = tmp_path / name
        d.mkdir()
        (d / "capture.pcapng").write_bytes(corpus.read_bytes())
        (d / "manifest.json").write_text(json.dumps({"status": "running", "process": facts,
                                                     "problems": []}))
    proc = start_run(tmp_path, "--requests", "5", "--warmup", "1")
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, out
    assert "abandoned run 20000101-000000-gone: marked 'abandoned', 2 requests analyzed" in out
    assert manifest_of(tmp_path / "20000101-000000-gone")["status"] == "abandoned"
    assert len(pd.read_csv(tmp_path / "20000101-000000-gone" / "requests.csv")) == 2
    assert manifest_of(tmp_path / "20000101-000001-alive")["status"] == "running"


class _Stderr:
    """The run's stderr: when a progress line holding ``text`` is written it sends this process
    a real SIGINT (``fail=None``; Python raises KeyboardInterrupt at once, right after that step
    of the run) or, from then on, fails every write with ``fail`` (a pipe whose reader left)."""

    def __init__(self, text: str, fail=None):
        self.text, self.fail, self.hit = text, fail, False

    def write(self, s: str) -> int:
        if not self.hit and self.text in s:
            self.hit = True
            if self.fail is None:
                os.kill(os.getpid(), signal.SIGINT)
        if self.hit and self.fail is not None:
            raise self.fail
        return len(s)

    def flush(self) -> None:
        if self.hit and self.fail is not None:
            raise self.fail

    def isatty(self) -> bool:
        return False


def _in_process_run(tmp_path, monkeypatch, stderr: _Stderr, **kw):
    from inferwire.experiment import RunConfig, run_experiment
    grpc, rest = free_ports(2)
    monkeypatch.setattr(sys, "stderr", stderr)
    try:
        return run_experiment(RunConfig(out=str(tmp_path), protocols=("rest",), users=1,
                                        grpc_port=grpc, rest_port=rest, progress=True, **kw))
    finally:
        monkeypatch.undo()


@pytest.mark.parametrize("line", ["server: ready", "capture: live"])
def test_ctrl_c_right_after_a_start_leaves_nothing_running(tmp_path, monkeypatch, line):
    """A Ctrl-C landing between a process's start and the run holding it (the progress line
    said after the server's or the capture's start) stops it: the server was left running
    for ever (the run ended normally, so its supervisor let it be), dumpcap until the run's
    process exited."""
    result = _in_process_run(tmp_path, monkeypatch, _Stderr(line), duration_s=30)
    assert result.status == "interrupted", result.problems
    assert not leftovers(result.run_dir)
    manifest = manifest_of(result.run_dir)
    assert manifest["status"] == "interrupted"
    if line == "capture: live":
        assert "capture_started_ns" in manifest and "capture_live_ns" not in manifest
        assert manifest["analysis"]["skipped"].startswith(
            "no capture was made: the run was stopped while its capture was starting")


def test_ctrl_c_while_the_capture_starts_says_so(tmp_path, monkeypatch):
    """A Ctrl-C while the capture tool is starting (its progress line printed, the probe not
    yet seen in the file) stops it; the manifest says the capture was starting, not only
    that there is none."""
    result = _in_process_run(tmp_path, monkeypatch, _Stderr("waiting until it is live"),
                             duration_s=30)
    assert result.status == "interrupted", result.problems
    assert not leftovers(result.run_dir)
    manifest = manifest_of(result.run_dir)
    assert "capture_started_ns" in manifest and "capture_live_ns" not in manifest
    assert manifest["analysis"] == {"skipped": "no capture was made: the run was stopped while "
                                               "its capture was starting (a capture process "
                                               "begun was stopped before any load ran)"}


def test_a_closed_stderr_stops_nothing_that_must_stop(tmp_path, monkeypatch):
    """stderr failing from the server's start on (``capture_run.py | head`` once head left):
    the progress lines stop, not the steps around them; the server was left running (the
    failing line after its start cut the run before it held the server)."""
    result = _in_process_run(tmp_path, monkeypatch,
                             _Stderr("server: starting", BrokenPipeError(32, "Broken pipe")),
                             requests=20, duration_s=None, warmup_requests=2)
    assert not leftovers(result.run_dir)
    assert "progress output failed (BrokenPipeError: [Errno 32] Broken pipe): no more progress " \
           "lines, the teardown went on" in result.problems
    manifest = manifest_of(result.run_dir)
    assert manifest["status"] == result.status != "running"
    assert "exit_code" in manifest["server"]               # stopped by the teardown
    assert manifest["capture"]["packets"] > 0          # the capture was stopped and kept
