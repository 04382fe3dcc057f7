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
