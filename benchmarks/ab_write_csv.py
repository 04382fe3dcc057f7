"""A/B of writing the tables as CSV: pandas' ``to_csv`` (before) against the column-wise writer
(:mod:`inferwire.tablefiles`, now), on one capture's requests and connections tables.

    .venv/bin/python benchmarks/ab_write_csv.py benchmarks/data/tools.pcapng [--rounds 7]

The capture is analyzed once; then each round writes both tables both ways (the order
alternating), so that the machine's drift hits both alike.  Prints per way the median and the
range of the rounds' seconds, the ratio of the medians, and whether the bytes are identical.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("capture", type=Path)
    p.add_argument("--rounds", type=int, default=7)
    args = p.parse_args(argv)
    import inferwire
    from inferwire.tablefiles import csv_ready, write_csv
    meta_path = Path(str(args.capture) + ".json")
    probe = json.loads(meta_path.read_text()).get("probe_port") if meta_path.exists() else None
    a = inferwire.analyze(args.capture, ignore_ports=(probe,) if probe else ())
    tables = {"requests": a.requests, "connections": a.connections}

    def pandas_way(df, path):
        csv_ready(df).to_csv(path, index=False)

    ways = {"pandas to_csv": pandas_way, "column-wise": write_csv}
    times = {w: [] for w in ways}
    identical = True
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = list(ways) if r % 2 == 0 else list(ways)[::-1]
            for w in order:
                t0 = time.perf_counter()
                for name, df in tables.items():
                    ways[w](df, Path(tmp) / f"{w[:3]}_{name}.csv")
                times[w].append(time.perf_counter() - t0)
        for name in tables:
            identical &= ((Path(tmp) / f"pan_{name}.csv").read_bytes()
                          == (Path(tmp) / f"col_{name}.csv").read_bytes())
    print(f"{args.capture.name}: {len(a.requests):,} requests, {len(a.connections):,} "
          f"connections, {args.rounds} rounds (alternating order)")
    med = {w: statistics.median(t) for w, t in times.items()}
    for w, t in times.items():
        print(f"  {w:14s} median {med[w]:.3f} s  (range {min(t):.3f}-{max(t):.3f} s)")
    print(f"  pandas / column-wise: {med['pandas to_csv'] / med['column-wise']:.2f}x; "
          f"bytes identical: {identical}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
