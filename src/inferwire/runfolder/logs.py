"""A run folder's client logs and server log (the inputs of :mod:`inferwire.analysis.join`)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..load.clientlog import read_client_log
from .names import CLIENT_LOG_GLOB, SERVER_LOG, client_log_workload


def read_client_logs(run_dir: Path):
    """Every ``client_log_<workload>.csv`` of ``run_dir`` stacked, with a ``workload`` column;
    None when there is none."""
    frames = []
    for path, df in client_logs(run_dir):
        df["workload"] = client_log_workload(path)
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else None


def client_logs(run_dir: Path) -> list:
    """[(path, client log DataFrame)] of ``run_dir``, by file name."""
    return [(path, read_client_log(path)) for path in sorted(Path(run_dir).glob(CLIENT_LOG_GLOB))]


def read_server_log(path: Path):
    """The server's JSON-lines request log (``path``, or ``path/server_log.jsonl`` for a run
    folder) as a DataFrame; None when absent or empty.  A line cut by a crash is skipped: the
    others are still good."""
    path = Path(path)
    if path.is_dir():
        path = path / SERVER_LOG
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
