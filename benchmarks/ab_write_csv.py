"""A/B of writing the tables as CSV: pandas' ``to_csv``, the column-wise writer as it was before
its rows were joined in C and repeated float texts shared (Arrow's joins, every float column
formatted), and the column-wise writer now (:mod:`inferwire.tablefiles`), on one capture's
requests and connections tables (and its messages table with ``--messages``).

    .venv/bin/python benchmarks/ab_write_csv.py benchmarks/data/tools.pcapng [--rounds 7]
    .venv/bin/python benchmarks/ab_write_csv.py benchmarks/data/stream_4000x256.pcapng \\
        --messages --no-pandas

The capture is analyzed once; then each round writes the tables every way (the order
alternating), so that the machine's drift hits all alike.  Prints per way the median and the
range of the rounds' seconds, the ratios of the medians, and whether the bytes are identical.
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
    p.add_argument("--messages", action="store_true", help="the messages table too")
    p.add_argument("--no-pandas", action="store_true",
                   help="leave out pandas' to_csv (a 1 M-row table takes it many seconds)")
    args = p.parse_args(argv)
    import inferwire
    from inferwire import tablefiles
    from inferwire.tablefiles import csv_ready, write_csv
    meta_path = Path(str(args.capture) + ".json")
    probe = json.loads(meta_path.read_text()).get("probe_port") if meta_path.exists() else None
    a = inferwire.analyze(args.capture, ignore_ports=(probe,) if probe else ())
    tables = {"requests": a.requests, "connections": a.connections}
    if args.messages:
        tables["messages"] = a.messages

    def pandas_way(df, path):
        csv_ready(df).to_csv(path, index=False)

    def before_way(df, path):
        join, share = tablefiles._c_join, tablefiles.SHARED_SHARE
        tablefiles._c_join, tablefiles.SHARED_SHARE = None, 2.0     # never shared
        try:
            write_csv(df, path)
        finally:
            tablefiles._c_join, tablefiles.SHARED_SHARE = join, share

    ways = {"pandas to_csv": pandas_way, "column-wise before": before_way,
            "column-wise": write_csv}
    if args.no_pandas:
        del ways["pandas to_csv"]
    times = {w: [] for w in ways}
    identical = True
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = list(ways) if r % 2 == 0 else list(ways)[::-1]
            for k, w in enumerate(order):
                t0 = time.perf_counter()
                for name, df in tables.items():
                    ways[w](df, Path(tmp) / f"{list(ways).index(w)}_{name}.csv")
                times[w].append(time.perf_counter() - t0)
        for name in tables:
            texts = {(Path(tmp) / f"{i}_{name}.csv").read_bytes() for i in range(len(ways))}
            identical &= len(texts) == 1
    print(f"{args.capture.name}: {len(a.requests):,} requests, {len(a.connections):,} "
          f"connections, {len(a.messages):,} messages; tables {', '.join(tables)}; "
          f"{args.rounds} rounds (alternating order)")
    med = {w: statistics.median(t) for w, t in times.items()}
    for w, t in times.items():
        print(f"  {w:20s} median {med[w]:.3f} s  (range {min(t):.3f}-{max(t):.3f} s)")
    for w in ways:
        if w != "column-wise":
            print(f"  {w} / column-wise: {med[w] / med['column-wise']:.2f}x")
    print(f"  bytes identical: {identical}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
