"""Temporary folders that a killed process leaves are removed by the next one
(inferwire.files.owned_tempdir), on a real process killed with SIGKILL."""
import os
import signal
import subprocess
import sys

from inferwire.files import owned_tempdir, remove_orphans

PREFIX = "inferwire-test-"


def _folder_of_a_killed_process(parent) -> str:
    """The folder a real process made with owned_tempdir before it was killed (SIGKILL)."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from inferwire.files import owned_tempdir; "
         f"print(owned_tempdir({PREFIX!r}, sys.argv[1]), flush=True); time.sleep(60)",
         str(parent)], stdout=subprocess.PIPE, text=True)
    path = child.stdout.readline().strip()
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    child.stdout.close()
    return path


def test_a_killed_processs_folder_is_removed_by_the_next(tmp_path):
    left = _folder_of_a_killed_process(tmp_path)
    assert os.path.isdir(left) and os.path.basename(left).startswith(PREFIX)
    (tmp_path / "unrelated").mkdir()
    mine = owned_tempdir(PREFIX, tmp_path)
    assert oct(mine.stat().st_mode & 0o777) == "0o700"
    assert mine.name.startswith(f"{PREFIX}{os.getpid()}-")
    assert not os.path.exists(left)                       # its process is gone
    assert (tmp_path / "unrelated").is_dir()
    assert remove_orphans(tmp_path, PREFIX) == []          # ours: this process lives
    assert mine.is_dir()


def test_a_living_processs_folder_is_kept(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        theirs = tmp_path / f"{PREFIX}{other.pid}-abc"
        theirs.mkdir()
        assert remove_orphans(tmp_path, PREFIX) == []
        assert theirs.is_dir()
    finally:
        other.kill()
        other.wait(10)
    assert remove_orphans(tmp_path, PREFIX) == [theirs]
