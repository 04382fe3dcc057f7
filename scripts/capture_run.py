#!/usr/bin/env python3
"""A capture run end to end: `python scripts/capture_run.py --help` (same as `inferwire run`).

With no arguments: export the MNIST model if missing, start the embedded TF Serving-compatible
server, capture on loopback (proven live), run a short REST + gRPC load, analyze, and print where
the time went.  Results land in a new folder under results/.  With --sweep: a resumable sweep
of runs over a grid (see `inferwire sweep --help`).
"""
import sys

from inferwire.cli import use_arrow_pool
from inferwire.experiment.cli import main

if __name__ == "__main__":
    use_arrow_pool()                # Arrow's pool as the inferwire command has it
    if "--sweep" in sys.argv[1:]:   # a sweep of runs: the same as `inferwire sweep ...`
        from inferwire.cli import main as cli_main
        sys.exit(cli_main(["sweep", *[a for a in sys.argv[1:] if a != "--sweep"]]))
    sys.exit(main())
