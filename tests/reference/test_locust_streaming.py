"""The streaming locustfile under plain ``locust -f`` against the embedded server's
``/v1/completions``: the stream, TTFT and ITL as locust statistics (issue 20 item 3)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from inferwire.reference.locust import locust_percentile, read_locust_json
from inferwire.locustfiles import path

pytestmark = pytest.mark.slow
LOCUST = str(Path(sys.executable).with_name("locust"))


def test_stream_locustfile_reports_ttft_and_itl(model_server, tmp_path):
    env = dict(os.environ, SERVER="127.0.0.1", REST_PORT=str(model_server.rest_port),
               INFERWIRE_STREAM_TOKENS="5")
    done = subprocess.run([LOCUST, "-f", str(path("stream_completions")), "--headless", "-u",
                           "2", "-r", "2", "-t", "2s", "--json-file", str(tmp_path / "final")],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    final = read_locust_json(tmp_path / "final.json").set_index("name")
    assert set(final.index) == {"completions stream", "completions ttft", "completions itl"}
    assert final["num_failures"].sum() == 0
    n = final.loc["completions stream", "num_requests"]
    assert n > 5 and final.loc["completions ttft", "num_requests"] == n
    # the server's default 10 ms per token: the first token after one, the gaps about one
    assert final.loc["completions ttft", "min_response_time"] >= 9.0
    # locust's own median of the per-stream median gaps (a greenlet that reads late finds
    # several events waiting and sees gaps near 0: the client's view, kept as it is)
    itl = final.loc["completions itl"]
    assert locust_percentile(itl["response_times"], itl["num_requests"], 0.5) >= 8.0, \
        itl["response_times"]
