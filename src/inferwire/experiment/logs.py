"""Reading a run folder's client logs and server log (the inputs of :mod:`inferwire.join`)."""
from __future__ import annotations

import json
from pathlib import Path


def read_client_logs(run_dir: Path):
    """Every ``client_log_<workload>.csv`` of ``run_dir`` stacked, with a ``workload`` column;
    None when there is none."""
    import pandas as pd

    from ..load import read_client_log
    frames = []
    for path in sorted(Path(run_dir).glob("client_log_*.csv")):
        df = read_client_log(path)
        df["workload"] = path.stem.removeprefix("client_log_")
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else None


def read_server_log(path: Path):
    """The server's JSON-lines request log as a DataFrame; None when absent or empty.  A line
    cut by a crash is skipped: the others are still good."""
    import pandas as pd
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return None
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
    return pd.DataFrame(rows) if rows else None
