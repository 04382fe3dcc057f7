#!/usr/bin/env python3
"""Every benchmark, one after the other (`make bench`): each prints its table and writes it under
benchmarks/results/.  Nothing here is a test; speed targets live here, as ratios against the named
tools measured in the same run."""
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ("bench_analyze.py", "bench_capture.py", "bench_serving.py", "bench_servers.py",
           "bench_parallel.py", "bench_streaming.py")


def main() -> int:
    failed = []
    for name in SCRIPTS:
        print(f"\n=== {name} ===", flush=True)
        if subprocess.run([sys.executable, str(HERE / name), *sys.argv[1:2]]).returncode:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
