"""Run folders are never overwritten."""
import os
import stat

from inferwire.experiment.folder import new_run_dir


def test_same_slug_same_second_gives_new_folders(tmp_path):
    dirs = [new_run_dir(tmp_path, "rest-b1") for _ in range(5)]
    assert len(set(dirs)) == 5 and all(d.is_dir() for d in dirs)
    assert stat.S_IMODE(os.stat(dirs[0]).st_mode) == 0o700


def test_slug_is_made_safe(tmp_path):
    d = new_run_dir(tmp_path, "../../etc passwd")
    assert d.parent == tmp_path and "/" not in d.name
    assert d.resolve().parent == tmp_path.resolve()
