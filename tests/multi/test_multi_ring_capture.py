"""A real ring-buffer capture (dumpcap -b files -b filesize, via CaptureSession) of an HTTP/1.1
keep-alive connection and a gRPC connection that both span several files, analyzed as one
capture, against a continuous capture of the same traffic made at the same time."""
from __future__ import annotations

import http.client
import shutil
import subprocess
import warnings

import pandas as pd
import pytest
from needs import need_capture, skip_or_fail

import inferwire
from inferwire.capture import CaptureOptions, CaptureSession, RingBuffer
from inferwire.packets.multi import read_many
from realtraffic.servers import BIG, GRPC_METHOD, Http11Handler, grpc_server, http_server

REQUESTS = 10      # per protocol; each answer is BIG (150 kB): ~3 MB in all, 1 MB ring files


def need_dumpcap() -> None:
    need_capture("dumpcap")


def traffic(web_port: int, grpc_port: int) -> list[str]:
    """Alternate big HTTP/1.1 GETs on one keep-alive connection with big gRPC calls on one
    channel, so that both connections run through every ring file.  Returns the request ids."""
    import grpc
    ids = []
    web = http.client.HTTPConnection("127.0.0.1", web_port, timeout=10)
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        call = channel.unary_unary(GRPC_METHOD)
        for i in range(REQUESTS):
            rid = f"h{i}"
            web.request("GET", f"/big/{i}", headers={"X-Request-Id": rid})
            resp = web.getresponse()
            assert len(resp.read()) == BIG
            ids.append(rid)
            rid = f"g{i}"
            assert len(call(b"big", metadata=(("x-request-id", rid),), timeout=10)) == BIG
            ids.append(rid)
    web.close()
    return ids


@pytest.mark.capture
def test_ring_files_analyze_like_the_continuous_capture(tmp_path):
    need_dumpcap()
    (tmp_path / "ring").mkdir()
    with http_server(Http11Handler) as web, grpc_server() as grpc_port:
        ports = (web.port, grpc_port)
        ring = CaptureSession(CaptureOptions(
            output=tmp_path / "ring" / "cap.pcapng", ports=ports, buffer_mb=64,
            ring=RingBuffer(files=10, megabytes=1)))
        whole = CaptureSession(CaptureOptions(output=tmp_path / "whole.pcapng", ports=ports,
                                              buffer_mb=64))
        with ring, whole:
            ids = traffic(*ports)
    files = ring.result.files
    assert 3 <= len(files) < 10, f"expected a few 1 MB files (none overwritten), got {files}"

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", inferwire.InferwireWarning)
        many = inferwire.analyze(tmp_path / "ring", ignore_ports=(ring.result.probe_port,))
        one = inferwire.analyze(whole.result.path, ignore_ports=(whole.result.probe_port,))
        table = read_many(files)

    assert table.stats.ring and table.stats.duplicates == 0
    assert [s.path for s in table.stats.files] == files
    # both connections cross file boundaries: their packets lie in several files
    for port in ports:
        rows = (table.sport == port) | (table.dport == port)
        assert len(set(table.file[rows].tolist())) >= 2, f"port {port} stays in one file"
    table.close()

    r_many = many.requests.set_index("request_id").sort_index()
    r_one = one.requests.set_index("request_id").sort_index()
    assert sorted(r_many.index) == sorted(ids) and sorted(r_one.index) == sorted(ids)
    assert r_many["complete"].all()
    for col in ("protocol", "stream", "status", "grpc_status", "request_bytes",
                "response_bytes", "path"):
        assert r_many[col].tolist() == r_one[col].tolist(), col
    for col in ("request_start", "request_end", "response_start", "response_end"):
        # two captures of the same packets: each capture socket stamps packets itself (they
        # differ by some microseconds), so the same packets agree to well under a millisecond
        diff = (r_many[col] - r_one[col]).abs().max()
        assert diff < 5e-4, f"{col} differs by {diff} s"
    assert len(many.connections) == len(one.connections) == 2
    assert many.connections["missing_bytes"].sum() == 0

    # exactly what Wireshark's mergecap makes of the ring files (frame numbers included)
    if shutil.which("mergecap") is None:
        skip_or_fail("mergecap is not installed (Debian: apt-get install wireshark-common)")
    merged = tmp_path / "merged.pcapng"
    subprocess.run(["mergecap", "-a", "-w", str(merged), *files], check=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", inferwire.InferwireWarning)
        mc = inferwire.analyze(merged, ignore_ports=(ring.result.probe_port,))
    pd.testing.assert_frame_equal(mc.requests, many.requests)
    pd.testing.assert_frame_equal(mc.connections, many.connections)
