"""analyze() keeps the C heap's freed memory for reuse while it runs and gives it back after
(inferwire.analysis.keptheap): a freed block's pages serve the next one inside the block and not
outside it (counted in page faults), the kept memory leaves the process on the way out, the
user's malloc settings are theirs, and analyze() and the CLI run inside the block.

mallopt changes the whole process, so each check of the allocator runs in a fresh interpreter."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from inferwire.analysis import keptheap, pipeline

CAPTURE = Path(__file__).parent / "golden" / "captures" / "grpc_streamed.pcap"
MIB = 1 << 20

PROBE = r"""
import json, resource, sys
import numpy as np
from inferwire.analysis.keptheap import kept_heap

def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

def refault(nbytes):
    # pages newly faulted in by a block of nbytes made, filled and freed a second time
    a = np.empty(nbytes, dtype=np.uint8); a.fill(1); del a
    f0 = faults()
    b = np.empty(nbytes, dtype=np.uint8); b.fill(1)
    f1 = faults()
    del b
    return f1 - f0

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()

BIG = 48 << 20     # above glibc's largest adaptive mapping threshold (32 MiB), below 2x it
out = {"before": refault(BIG)}
with kept_heap():
    out["inside"] = refault(BIG)
    blocks = [np.ones(2 << 20, dtype=np.uint8) for _ in range(100)]   # 200 MiB, then freed
    before_free = rss()
    del blocks
    out["kept"] = before_free - rss()             # bytes that left the process when freed
    held = rss()
out["given_back"] = held - rss()                  # bytes that left it on leaving the block
out["after"] = refault(BIG)
print(json.dumps(out))
"""


def probe(env_extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in keptheap._USER_SETTINGS}
    env["NUMPY_MADVISE_HUGEPAGE"] = "0"     # (pages counted 4 KiB each, as inside analyze())
    env.update(env_extra or {})
    got = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                         timeout=120)
    assert got.returncode == 0, got.stderr
    return json.loads(got.stdout.strip().splitlines()[-1])


#: (CI runs on Debian's glibc: there it must be found, never skipped)
needs_glibc = pytest.mark.skipif(keptheap._mallopt() is None and not os.environ.get("CI"),
                                 reason="the C library has no mallopt (not glibc)")


@needs_glibc
def test_freed_pages_serve_the_next_block_inside_and_go_back_after():
    got = probe()
    pages = 48 * MIB // os.sysconf("SC_PAGE_SIZE")
    assert got["before"] >= pages * 0.9          # mapped apart, unmapped when freed: new pages
    assert got["inside"] <= pages * 0.05         # the freed block's pages again
    assert got["after"] >= pages * 0.9           # glibc's settled thresholds again
    assert got["kept"] <= 20 * MIB               # 200 MiB freed inside: kept in the process
    assert got["given_back"] >= 150 * MIB        # ... and given back on leaving


@needs_glibc
def test_the_users_malloc_settings_are_theirs():
    got = probe({"MALLOC_TRIM_THRESHOLD_": str(128 * 1024)})
    pages = 48 * MIB // os.sysconf("SC_PAGE_SIZE")
    assert got["inside"] >= pages * 0.9          # nothing changed: mapped apart as before
    assert got["kept"] >= 150 * MIB


def test_analyze_runs_inside_the_block_and_nested_blocks_change_nothing(monkeypatch):
    for name in keptheap._USER_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    seen = []
    inner = pipeline.capture_tables

    def watching(*args, **kwargs):
        seen.append(keptheap._depth)
        return inner(*args, **kwargs)
    monkeypatch.setattr(pipeline, "capture_tables", watching)
    before = keptheap._depth
    pipeline.analyze(CAPTURE, workers=1)
    with keptheap.kept_heap():                  # (an outer block, as the CLI's)
        pipeline.analyze(CAPTURE, workers=1)
        assert keptheap._depth == before + 1
    expected = before + 1 if keptheap._mallopt() is not None else before
    assert seen == [expected, expected]
    assert keptheap._depth == before


def test_left_when_the_block_raises(monkeypatch):
    for name in keptheap._USER_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    before = keptheap._depth
    with pytest.raises(KeyError):
        with keptheap.kept_heap():
            raise KeyError("x")
    assert keptheap._depth == before
