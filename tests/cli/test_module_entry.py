"""``python -m inferwire`` is the ``inferwire`` command (it had no ``__main__``)."""
import subprocess
import sys


def test_python_dash_m_inferwire_runs_the_cli(tmp_path):
    done = subprocess.run([sys.executable, "-m", "inferwire", "analyze", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--tls-keylog" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "inferwire", "analyze", str(tmp_path / "none")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "inferwire: error:" in bad.stderr


def test_quick_exit_keeps_the_status_flushes_and_runs_exit_handlers():
    script = ("import atexit, sys, threading\n"
              "from inferwire.cli import exit_now\n"
              "atexit.register(lambda: print('handler', flush=False))\n"
              "print('buffered', end=' ')\n"
              "sys.stderr.write('err')\n"
              "if sys.argv[1] == 'thread':\n"
              "    threading.Thread(target=__import__('time').sleep, args=(0.2,)).start()\n"
              "exit_now(3)\n")
    for mode in ("alone", "thread"):     # a running thread: the normal exit, same outcome
        done = subprocess.run([sys.executable, "-c", script, mode], capture_output=True,
                              text=True, timeout=120)
        assert (done.returncode, done.stdout, done.stderr) == (3, "buffered handler\n", "err")
