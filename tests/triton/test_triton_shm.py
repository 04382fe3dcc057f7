"""What a killed Triton's Python backend leaves in /dev/shm is removed, and nothing else: the
rule (:mod:`inferwire.serving.triton.shm`) on a folder standing in for /dev/shm, with a real
process mapping one of its files."""
from __future__ import annotations

import subprocess
import sys

from inferwire.serving.triton import shm

PREFIX = shm.REGION_PREFIX


def test_only_new_regions_no_process_uses_are_removed(tmp_path):
    old, new, mapped = (tmp_path / f"{PREFIX}{n}" for n in ("old", "new", "mapped"))
    other = tmp_path / "psm_0000"                       # not the backend's: never touched
    old.write_bytes(b"\0" * 4096)
    before = shm.regions(tmp_path)
    for f in (new, mapped, other):
        f.write_bytes(b"\0" * 4096)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import mmap, sys; f = open(sys.argv[1], 'r+b'); "
         "m = mmap.mmap(f.fileno(), 0); f.close(); print('mapped', flush=True); sys.stdin.read()",
         str(mapped)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "mapped"
        assert mapped.name in shm.in_use(tmp_path)
        assert shm.remove_left(before, tmp_path, settle_s=0.3) == [new.name]
        assert old.exists() and mapped.exists() and other.exists() and not new.exists()
    finally:
        holder.stdin.close()
        holder.wait(10)
    assert shm.remove_left(before, tmp_path, settle_s=0.3) == [mapped.name]
    assert {p.name for p in tmp_path.iterdir()} == {old.name, other.name}


def test_nothing_new_is_nothing_removed(tmp_path):
    (tmp_path / f"{PREFIX}x").write_bytes(b"x")
    assert shm.remove_left(shm.regions(tmp_path), tmp_path) == []
    assert shm.regions(tmp_path) == {f"{PREFIX}x"}
