"""Fixtures of the report tests (data and helpers live in report/data.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from report.data import CAPTURES, make_crafted_pcap


@pytest.fixture(scope="session")
def sample_run() -> Path:
    """The shipped batch-1 REST+gRPC run folder."""
    return CAPTURES / "run-b1"


@pytest.fixture(scope="session")
def tls_sample() -> dict:
    """The shipped TLS capture, its key log and its probe port."""
    info = json.loads((CAPTURES / "tls-rest.json").read_text())
    return {"pcap": CAPTURES / "tls-rest.pcapng", "keylog": CAPTURES / "tls-rest.keylog",
            "probe_port": info["probe_port"]}


@pytest.fixture
def crafted_pcap(tmp_path) -> Path:
    """The crafted two-request HTTP/1.1 capture (see report.data.make_crafted_pcap)."""
    return make_crafted_pcap(tmp_path)
