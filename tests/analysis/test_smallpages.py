"""analyze() turns numpy's huge page advice off while it runs and restores it after
(inferwire.analysis.smallpages): the advice's state inside and after a real analysis, the user's
NUMPY_MADVISE_HUGEPAGE left alone, and a large array made inside the block not advised to huge
pages (and holding none) where one made outside is."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from needs import skip_or_fail

from inferwire.analysis import pipeline, smallpages
from inferwire.analysis.smallpages import small_pages

CAPTURE = Path(__file__).parent / "golden" / "captures" / "grpc_streamed.pcap"


def advice() -> bool:
    """numpy's huge page advice now (read by setting it back as it was)."""
    was = smallpages._set_madvise_hugepage(True)
    smallpages._set_madvise_hugepage(was)
    return was


def analyzed_with_advice(monkeypatch) -> list[bool]:
    seen = []
    inner = pipeline.capture_tables

    def watching(*args, **kwargs):
        seen.append(advice())
        return inner(*args, **kwargs)
    monkeypatch.setattr(pipeline, "capture_tables", watching)
    pipeline.analyze(CAPTURE, workers=1)
    return seen


def test_off_while_analyze_runs_and_as_it_was_after(monkeypatch):
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    for before in (True, False):
        smallpages._set_madvise_hugepage(before)
        try:
            assert analyzed_with_advice(monkeypatch) == [False]
            assert advice() is before
        finally:
            smallpages._set_madvise_hugepage(True)


def test_the_users_numpy_setting_is_theirs(monkeypatch):
    monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
    smallpages._set_madvise_hugepage(True)
    assert analyzed_with_advice(monkeypatch) == [True]


def test_restored_when_the_block_raises():
    smallpages._set_madvise_hugepage(True)
    with pytest.raises(KeyError):
        with small_pages():
            assert advice() is False
            raise KeyError("x")
    assert advice() is True


_PROBE = r"""
import numpy as np, sys
from inferwire.analysis.smallpages import small_pages

def mapping(a):
    # (huge page advised: "hg" in VmFlags, AnonHugePages KiB) of the mapping holding the
    # array's middle (its first page, with malloc's header, is a mapping of its own: numpy
    # advises the whole pages after it)
    addr = a.__array_interface__["data"][0] + a.nbytes // 2
    inside, huge = False, 0
    for line in open("/proc/self/smaps"):
        head = line.split()
        if "-" in head[0] and len(head) > 4:
            lo, hi = (int(x, 16) for x in head[0].split("-"))
            inside = lo <= addr < hi
        elif inside and head[0] == "AnonHugePages:":
            huge = int(head[1])
        elif inside and head[0] == "VmFlags:":
            return int("hg" in head[1:]), huge
    return 0, 0

outside = np.ones(64 << 20, np.uint8)
with small_pages():
    within = np.ones(64 << 20, np.uint8)
print(*mapping(outside), *mapping(within))
"""


def test_a_large_array_made_inside_is_not_advised_to_huge_pages():
    """numpy advises (``madvise(MADV_HUGEPAGE)``, the mapping's ``hg`` flag) the array made
    outside the block and not the one made inside, which holds no huge page.  (The advice is
    the kernel's flag whatever THP's mode or free memory: whether the outside array got huge
    pages is not asserted.)"""
    if not Path("/sys/kernel/mm/transparent_hugepage").is_dir():
        skip_or_fail("no transparent huge pages in this kernel: nothing to turn off")
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    advised_outside, _, advised_within, huge_within = map(int, subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True,
        check=True).stdout.split())
    assert advised_outside == 1                 # (numpy's default: the test's premise)
    assert advised_within == 0 and huge_within == 0
