"""Interleaved A/B of the CLI, ``inferwire analyze CAPTURE --out DIR``, between two source trees.

    git archive BASE src | tar -x -C /tmp/base     # the tree before the change (+ its .so files)
    .venv/bin/python benchmarks/ab_cli.py /tmp/base/src src CAPTURE ROUNDS

Each run is the whole command in a fresh process (start-up, imports, analysis, summary, writing
the tables as CSV and Parquet into a temporary folder); runs alternate A B, B A, ... so that the
machine's drift hits both alike.  Prints every run's wall and CPU seconds (the process and its
workers), the medians and the ratios.  On a shared machine the CPU ratio is the steadier figure.
"""
from __future__ import annotations

import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def run(src: str, capture: str, out: str) -> tuple[float, float]:
    """(wall s, CPU s) of one run of the CLI with ``src`` first on the path."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-W", "ignore", "-m", "inferwire", "analyze", capture,
                    "--out", out, "--quiet"], env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"},
                   check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main(argv: list[str]) -> int:
    a, b, capture, rounds = argv[0], argv[1], argv[2], int(argv[3])
    runs: dict = {"A": [], "B": []}
    out = tempfile.mkdtemp(prefix="ab_cli")
    try:
        for i in range(rounds):
            for key in (("A", "B") if i % 2 == 0 else ("B", "A")):
                wall, cpu = run(a if key == "A" else b, capture, out)
                runs[key].append((wall, cpu))
                print(f"{key} wall {wall:.3f} cpu {cpu:.3f}", flush=True)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
           for k, v in runs.items()}
    for k, (wall, cpu) in med.items():
        print(f"{k} wall median {wall:.3f} cpu median {cpu:.3f}")
    print(f"B/A wall {med['B'][0] / med['A'][0]:.3f} cpu {med['B'][1] / med['A'][1]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
