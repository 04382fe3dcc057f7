"""Interleaved A/B of the in-process ``analyze()`` between two source trees (a change's cost).

    git archive BASE src | tar -x -C /tmp/base     # the tree before the change (+ its .so files)
    .venv/bin/python benchmarks/ab_analyze.py /tmp/base/src src CAPTURE PROBE_PORT ROUNDS [WORKERS]

Each run is a fresh process (as ``bench_analyze.py``'s in-process contender: imports not timed)
that analyzes CAPTURE once, leaving out PROBE_PORT; runs alternate A B, B A, ... so that the
machine's drift hits both alike.  Prints every run's wall and CPU seconds (CPU: the process and
its reaped workers), the medians and the ratios.  On a shared machine wall times follow the
load; the CPU ratio is the steadier figure.  WORKERS: as ``analyze(workers=)`` (default auto).
"""
from __future__ import annotations

import statistics
import subprocess
import sys

CHILD = r'''
import resource, sys, time
import pandas                              # imported before the clock starts, as is
from inferwire.analysis import analyze     # the analysis
def cpu():
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime
c0, t0 = cpu(), time.perf_counter()
w = sys.argv[3]
r = analyze(sys.argv[1], ignore_ports=(int(sys.argv[2]),),
            workers=int(w) if w.isdigit() else w)
frames = (r.requests, r.connections, r.messages)   # DataFrames made when first read: timed
print(time.perf_counter() - t0, cpu() - c0, len(r.requests))
'''


def run(src: str, path: str, port: str, workers: str) -> tuple[float, float, str]:
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", CHILD, path, port, workers],
                         capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"}).stdout.split()
    return float(out[0]), float(out[1]), out[2]


def main(argv: list[str]) -> int:
    a, b, path, port, rounds = argv[:5]
    workers = argv[5] if len(argv) > 5 else "auto"
    wall = {"A": [], "B": []}
    cpu = {"A": [], "B": []}
    for i in range(int(rounds)):
        for name in (("A", "B") if i % 2 == 0 else ("B", "A")):
            w, c, requests = run(a if name == "A" else b, path, port, workers)
            wall[name].append(w)
            cpu[name].append(c)
            print(f"{name} wall {w:.3f} s  cpu {c:.3f} s  requests {requests}", flush=True)
    med = {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in wall}
    for k, (w, c) in med.items():
        print(f"{k}: wall median {w:.3f} s (min {min(wall[k]):.3f}), cpu median {c:.3f} s "
              f"(min {min(cpu[k]):.3f})")
    print(f"B/A: wall {med['B'][0] / med['A'][0]:.3f}, cpu {med['B'][1] / med['A'][1]:.3f} "
          f"(workers {workers}, {rounds} rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
