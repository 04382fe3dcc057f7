"""Results folders that are never overwritten."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path


def new_run_dir(parent: str | os.PathLike, slug: str) -> Path:
    """Create and return ``parent/<UTC time>-<slug>``; a suffix ``-2``, ``-3`` ... if it exists.

    ``os.mkdir`` is atomic, so two runs started in the same second still get different folders.
    The folder is 0700: captures inside hold payloads.
    """
    root = Path(parent)
    root.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", slug).strip("_") or "run"
    base = f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{safe}"
    for n in range(1, 10_000):
        path = root / (base if n == 1 else f"{base}-{n}")
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free run folder name under {root} for {base}")
