"""Write the golden cases' crafted captures and expected tables (see cases.py).

    PYTHONPATH=/work/main/src:tests .venv/bin/python tests/analysis/golden/make_golden.py

Run once, with the code before a refactoring on the path: the expected files are what that code
made, and test_golden.py holds later code to them byte for byte.  ``--captures`` also writes the
crafted captures again (they are committed; rewriting them needs new expected files too).
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]

from cases import CASES, CRAFTED, REPO, expected_dir, outputs  # noqa: E402


def craft_captures() -> None:
    """The crafted captures, from the tests' own builders (scapy, exact time stamps)."""
    from exchanges.test_messages import http1_sse
    from analysis.vantage.twopoint import TwoPoints
    import exchanges.test_messages as sm
    out = REPO / CRAFTED
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        shutil.copy(http1_sse(t), out / "http1_sse.pcap")
        shutil.copy(http1_sse(t, cut=True), out / "http1_sse_cut.pcap")
        shutil.copy(_grpc_streamed(sm, t), out / "grpc_streamed.pcap")
        shutil.copy(_h2_sse(sm, t), out / "h2_sse.pcap")
        client, server = TwoPoints(offset_ns=5_000_000_000, n=3).captures(t)
        shutil.copy(client, out / "client.pcap")
        shutil.copy(server, out / "server.pcap")


def _grpc_streamed(sm, tmp: Path) -> str:
    us = sm.US
    c, h = sm.h2_setup()
    h.cli.send_headers(1, sm.grpc_request_headers("g1"))
    h.cli.send_data(1, sm.grpc_msg(b"q" * 10))
    c.client(1_000 * us, h.flush_client())
    h.srv.send_headers(1, [(":status", "200"), ("content-type", "application/grpc")])
    h.srv.send_data(1, sm.grpc_msg(b"a" * 3) + sm.grpc_msg(b"b" * 4))
    c.server(2_000 * us, h.flush_server())
    third = sm.grpc_msg(b"c" * 30)
    h.srv.send_data(1, third[:12])
    c.server(3_000 * us, h.flush_server())
    h.srv.send_data(1, third[12:])
    c.server(3_400 * us, h.flush_server())
    h.cli.send_data(1, sm.grpc_msg(b"r" * 7), end_stream=True)
    c.client(3_600 * us, h.flush_client())
    h.srv.send_headers(1, [("grpc-status", "0")], end_stream=True)
    c.server(4_000 * us, h.flush_server())
    return sm.write_pcap(tmp / "grpc.pcap", c.packets)


def _h2_sse(sm, tmp: Path) -> str:
    us = sm.US
    c, h = sm.h2_setup(8000)
    h.cli.send_headers(1, [(":method", "POST"), (":scheme", "http"), (":path", "/v1/completions"),
                           (":authority", "x"), ("content-type", "application/json"),
                           ("x-request-id", "h1")])
    h.cli.send_data(1, b'{"stream": true}', end_stream=True)
    c.client(1_000 * us, h.flush_client())
    h.srv.send_headers(1, [(":status", "200"), ("content-type", "text/event-stream")])
    h.srv.send_data(1, b"data: one\n\ndata: t")
    c.server(2_000 * us, h.flush_server())
    h.srv.send_data(1, b"wo\n")
    c.server(2_500 * us, h.flush_server())
    h.srv.send_data(1, b"\ndata: [DONE]\n\n", end_stream=True)
    c.server(3_000 * us, h.flush_server())
    return sm.write_pcap(tmp / "h2sse.pcap", c.packets)


def main() -> None:
    import inferwire
    print("code:", inferwire.__file__)
    if "--captures" in sys.argv or not (REPO / CRAFTED).exists():
        craft_captures()
    for name, kind, paths, kwargs in CASES:
        folder = expected_dir(name)
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for fname, data in outputs(kind, paths, kwargs).items():
            (folder / fname).write_bytes(data)
        print(name, sorted(p.name for p in folder.iterdir()))


if __name__ == "__main__":
    main()
