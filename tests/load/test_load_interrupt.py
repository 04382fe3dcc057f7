"""Ctrl-C (a real SIGINT to a process running a load) keeps every row that was measured."""
import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from inferwire.load import CLIENT_LOG_COLUMNS
from load.load_helpers import TinyServer

CHILD = textwrap.dedent("""
    import json, sys
    from inferwire.load import ClientLogWriter, HttpWorkload, LoadInterrupted, LoadOptions, run_load
    url, log, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    try:
        run_load(HttpWorkload(url), LoadOptions(warmup_requests=5, duration_s=60, **options),
                 [ClientLogWriter(log, flush_interval_s=0.2)])
    except LoadInterrupted as stop:
        print(json.dumps(stop.summary.to_dict()), flush=True)
        sys.exit(130)
""")


def data_rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))[1:]


@pytest.mark.parametrize("options", [
    dict(users=3),
    dict(mode="open", rate=300, max_in_flight=16, sender_priority="auto")],   # real-time
    ids=["closed", "open"])
def test_sigint_keeps_the_rows_written(tmp_path, options):
    server = TinyServer()
    log = tmp_path / "log.csv"
    child = subprocess.Popen([sys.executable, "-c", CHILD, server.url + "?delay_ms=5", str(log),
                              json.dumps(options)], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:        # rows reach the disk while it runs
            if os.path.exists(log) and len(data_rows(log)) >= 30:
                break
            time.sleep(0.1)
        assert len(data_rows(log)) >= 30
        child.send_signal(signal.SIGINT)
        out, _ = child.communicate(timeout=20)
    finally:
        server.close()
    assert child.returncode == 130
    summary = json.loads(out)
    rows = data_rows(log)
    assert summary["interrupted"] is True
    assert len(rows) == summary["requests"] + summary["warmup_requests"]
    assert all(len(r) == len(CLIENT_LOG_COLUMNS) for r in rows)
    assert len({r[0] for r in rows}) == len(rows)            # no row twice
