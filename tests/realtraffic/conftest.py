"""Fixtures of the real-traffic cross-checks: live loopback captures and the tshark reference.

A capture runs with inferwire's own :class:`~inferwire.capture.CaptureSession` (dumpcap on ``lo``,
proven live by its probe connections before traffic starts and drained before it stops).  The
probe's connections are left out of both inferwire's analysis (``ignore_ports``) and the tshark
reference (a display filter).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import pytest
from needs import need_capture, need_tool, skip_or_fail  # noqa: F401  (re-exported)

import inferwire
from inferwire.capture import CaptureOptions, CaptureSession

from . import wireshark
from .servers import (ChunkedHandler, Http10CloseHandler, Http10Handler, Http11Handler,
                      grpc_server, http_server)


def need_capture_tools() -> None:
    """tshark must be installed and dumpcap usable by this user, else skip (fail under CI)."""
    need_tool("tshark", "tshark")
    need_capture("dumpcap")


@dataclass
class Captured:
    """One live capture and what both sides made of it.

    ``records``: what the client itself saw (one dict per request it made).  ``analysis``:
    inferwire's result.  ``times``/``lengths``: frame number -> ns / TCP payload bytes (tshark).
    ``streams``: tshark's TCP connections (probe excluded).
    """

    path: str
    probe_port: int
    ports: tuple
    records: list
    analysis: object
    times: dict
    lengths: dict
    streams: dict
    caught: list = field(default_factory=list)   # InferwireWarnings raised by analyze()


def run_captured(out_dir, name: str, ports: tuple, traffic) -> Captured:
    """Capture ``ports`` on lo while ``traffic()`` runs (it returns the client's records)."""
    need_capture_tools()
    path = os.path.join(out_dir, f"{name}.pcapng")
    with CaptureSession(CaptureOptions(output=path, ports=ports, buffer_mb=64)) as session:
        records = traffic()
    probe = session.result.probe_port
    assert os.stat(path).st_mode & 0o077 == 0, "capture files must be private (0600)"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", inferwire.InferwireWarning)
        analysis = inferwire.analyze(path, ignore_ports=(probe,))
    times, lengths = wireshark.frame_table(path)
    return Captured(path, probe, ports, records, analysis, times, lengths,
                    wireshark.tcp_streams(path, probe), [str(w.message) for w in caught])


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("realtraffic"))


@pytest.fixture(scope="module")
def http11():
    with http_server(Http11Handler) as server:
        yield server


@pytest.fixture(scope="module")
def chunked():
    with http_server(ChunkedHandler) as server:
        yield server


@pytest.fixture(scope="module")
def http10():
    with http_server(Http10Handler) as server:
        yield server


@pytest.fixture(scope="module")
def http10_close():
    with http_server(Http10CloseHandler) as server:
        yield server


@pytest.fixture(scope="module")
def grpc_port():
    with grpc_server() as port:
        yield port
