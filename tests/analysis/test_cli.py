"""`inferwire analyze` as a user runs it: outputs, summary, and bad input without tracebacks."""
import os
import subprocess
import sys

import pandas as pd
import pytest

from craft import Conversation, http_request, http_response, write_pcap

US = 1_000


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "inferwire.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def capture(tmp_path):
    c = Conversation()
    c.handshake(0, 10 * US, 20 * US)
    c.client(100 * US, http_request(request_id="cli-1"))
    c.server(400 * US, http_response())
    return write_pcap(tmp_path / "one.pcap", c.packets)


def test_analyze_writes_tables_and_prints_percentiles(capture, tmp_path):
    out = tmp_path / "out"
    r = run_cli("analyze", capture, "--out", out, "--quiet")
    assert r.returncode == 0, r.stderr
    assert "http/1.1: 1 requests" in r.stdout and "wait_ms" in r.stdout
    assert "p50 ms" in r.stdout
    for name in ("requests.csv", "connections.csv", "requests.parquet", "connections.parquet"):
        assert (out / name).exists()
    df = pd.read_parquet(out / "requests.parquet")
    assert df.loc[0, "request_id"] == "cli-1" and df.loc[0, "wait_ms"] == pytest.approx(0.3)


#: The command run as `inferwire` runs it, printing at its exit which pool Arrow used.
#: (pyarrow is imported at the exit only: importing it makes its pool)
POOL_PROBE = ("import atexit, sys\n"
              "atexit.register(lambda: print('pool', __import__('pyarrow')"
              ".default_memory_pool().backend_name))\n"
              "sys.argv = ['inferwire', *sys.argv[1:]]\n"
              "from inferwire.cli import run\n"
              "run()\n")


@pytest.mark.parametrize("user_choice, expected", [(None, "system"), ("mimalloc", "mimalloc")])
def test_the_command_uses_the_system_arrow_pool_unless_the_user_chose(capture, tmp_path,
                                                                      user_choice, expected):
    """The analysis and its Parquet and CSV files are made with the pool of ARROW_POOL; an
    ARROW_DEFAULT_MEMORY_POOL the user set is kept."""
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if user_choice:
        env["ARROW_DEFAULT_MEMORY_POOL"] = user_choice
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-c", POOL_PROBE, "analyze", str(capture), "--out",
                        str(out), "--quiet"], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == f"pool {expected}", r.stdout
    assert pd.read_parquet(out / "requests.parquet").loc[0, "request_id"] == "cli-1"


#: The command run as `inferwire` runs it, printing at its exit how many threads numpy's
#: OpenBLAS runs (asked from the library numpy loaded).
BLAS_PROBE = ("import atexit, ctypes, sys\n"
              "def threads():\n"
              "    path = next(l.split()[-1] for l in open('/proc/self/maps') if 'openblas' in l)\n"
              "    lib = ctypes.CDLL(path)\n"
              "    ask = (getattr(lib, 'scipy_openblas_get_num_threads64_', None)\n"
              "           or getattr(lib, 'openblas_get_num_threads'))\n"
              "    print('blas threads', ask())\n"
              "atexit.register(threads)\n"
              "sys.argv = ['inferwire', *sys.argv[1:]]\n"
              "from inferwire.cli import run\n"
              "run()\n")


@pytest.mark.parametrize("user_choice, expected", [(None, 1), ("2", 2)])
def test_the_command_runs_no_blas_threads_unless_the_user_chose(capture, tmp_path,
                                                                user_choice, expected):
    """``inferwire analyze`` does no matrix product: numpy's OpenBLAS is asked for one thread
    (no pool of threads that spin at its import); an OPENBLAS_NUM_THREADS the user set is
    kept."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if user_choice:
        env["OPENBLAS_NUM_THREADS"] = user_choice
    r = subprocess.run([sys.executable, "-c", BLAS_PROBE, "analyze", str(capture), "--out",
                        str(tmp_path / "out"), "--quiet"], capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == f"blas threads {expected}", r.stdout


@pytest.mark.parametrize("content, words", [
    (b"", "empty file"),
    (b"this is not a capture file at all", "not a pcap or pcapng"),
    (b"\xd4\xc3\xb2\xa1\x02\x00", "offset"),           # pcap magic, header cut short
])
def test_bad_files_get_one_clear_line(tmp_path, content, words):
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    r = run_cli("analyze", path)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and words in r.stderr and str(path) in r.stderr


def test_missing_file_and_bad_option(tmp_path):
    r = run_cli("analyze", tmp_path / "nope.pcapng")
    assert r.returncode == 1 and "Traceback" not in r.stderr and "nope.pcapng" in r.stderr
    r = run_cli("analyze", tmp_path / "nope.pcapng", "--decode-as", "x=h3")
    assert r.returncode == 1 and "--decode-as" in r.stderr and "Traceback" not in r.stderr


def test_capture_cut_mid_record_keeps_the_complete_requests(capture, tmp_path):
    data = open(capture, "rb").read()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:-7])                        # killed mid-write: last record incomplete
    r = run_cli("analyze", cut, "--quiet")
    assert r.returncode == 0 and "Traceback" not in r.stderr
    assert "1 requests" in r.stdout and "warnings" in r.stdout


@pytest.mark.parametrize("out, message", [
    ("file", "--out {out}: exists and is not a directory"),
    ("", "--out '': give a directory to write the tables to"),
    ("/proc/nope", "--out {out}: cannot write there: No such file or directory"),
])
def test_bad_out_is_refused_before_analysing(capture, tmp_path, out, message):
    if out == "file":
        out = tmp_path / "afile"
        out.write_text("x")
    r = run_cli("analyze", capture, "--out", out, "--quiet")
    assert r.returncode == 1 and r.stdout == ""          # nothing analysed or printed
    assert r.stderr == f"inferwire: error: {message.format(out=out)}\n"


def test_out_directory_and_parents_are_created(capture, tmp_path):
    out = tmp_path / "a" / "b"
    r = run_cli("analyze", capture, "--out", out, "--quiet")
    assert r.returncode == 0 and (out / "requests.csv").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".inferwire-write-test")]


@pytest.mark.parametrize("port", ["99999", "-5", "0", "x"])
def test_ignore_port_outside_1_65535_is_a_usage_error(capture, port):
    r = run_cli("analyze", capture, "--ignore-port", port)
    assert r.returncode == 2 and "--ignore-port" in r.stderr and "1 to 65535" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("item", ["0=h2", "70000=tls"])
def test_decode_as_port_outside_1_65535_is_refused(capture, item):
    r = run_cli("analyze", capture, "--decode-as", item)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"--decode-as '{item}'" in r.stderr and "1 to 65535" in r.stderr


def test_stdout_closed_early_exits_quietly_and_still_writes_out(capture, tmp_path):
    out = tmp_path / "out"
    p = subprocess.Popen([sys.executable, "-m", "inferwire.cli", "analyze", str(capture),
                          "--quiet", "--out", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()                                  # the reader went away (`| head -0`)
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 141                 # 128 + SIGPIPE, like a shell tool
    assert err == ""
    assert (out / "requests.csv").exists() and (out / "connections.parquet").exists()


def test_keylog_fifo_is_refused_not_waited_on(capture, tmp_path):
    fifo = tmp_path / "keys.fifo"
    os.mkfifo(fifo)
    r = run_cli("analyze", capture, "--tls-keylog", fifo, "--quiet")
    assert r.returncode == 1 and "FIFO" in r.stderr and str(fifo) in r.stderr
