"""Write the fuzz corpus: the crafted inputs of the bad-input fixes (issue 16) and a few valid
ones, as files under tests/fuzz/corpus/ (committed; regression inputs for tests/fuzz).

    PYTHONPATH=src:tests .venv/bin/python tests/fuzz/make_corpus.py

captures/*.pcap: whole captures for ``inferwire.analyze``; streams/<parser>/*.bin: one
direction's bytes for a sans-IO parser (http1, h2, grpc, tls).  Files named ``found_*`` are
inputs the fuzz targets found (kept as they were, with their fix); this script leaves them.
"""
from __future__ import annotations

import struct
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

import badcraft  # noqa: E402
from packets import craft as rawcraft  # noqa: E402  (struct-built captures)
from craft import Conversation, http_request, http_response, write_pcap  # noqa: E402
from h2craft import H2Pair, grpc_msg, grpc_request_headers  # noqa
from analysis.test_analyze_http2 import build_multiplexed  # noqa

CORPUS = HERE / "corpus"


def captures(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        build_multiplexed(Path(tmp))
        whole = (Path(tmp) / "h2.pcap").read_bytes()
        (out / "h2_multiplexed.pcap").write_bytes(whole)
        (out / "h2_cut_mid_record.pcap").write_bytes(whole[:len(whole) * 7 // 10])
    badcraft.grpc_capture(out / "grpc_status_huge.pcap", grpc_status=badcraft.HUGE)
    badcraft.grpc_capture(out / "grpc_status_arabic_digit.pcap", grpc_status="\u0663")
    badcraft.grpc_capture(out / "h2_status_huge.pcap", status=badcraft.HUGE)
    badcraft.http1_capture(out / "http1_content_length_5000_digits.pcap", b"9" * 5000)
    badcraft.http1_capture(out / "http1_content_length_ok.pcap", b"2")
    for name, hello in badcraft.BAD_HELLOS.items():
        badcraft.tls_capture(out / f"tls_hello_bad_{name}.pcap", hello)
    (out / "linktype_189.pcap").write_bytes(
        rawcraft.pcap([(1, 0, b"x" * 60), (2, 0, b"y" * 60)], linktype=189))
    c = Conversation()
    c.handshake(0, 10_000, 20_000)
    c.client(100_000, http_request())
    c.client(150_000, http_request(request_id="r1-retx"), seq=c.seq_c - len(http_request()))
    c.server(300_000, http_response())
    write_pcap(out / "http1_retransmission_differs.pcap", c.packets)


def streams(out: Path) -> None:
    seeds = {
        "http1": {"request.bin": http_request(),
                  "chunked.bin": b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nTransfer-"
                                 b"Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
                  "content_length_huge.bin": http_request().replace(
                      b"Content-Length: 2", b"Content-Length: " + b"9" * 5000),
                  "response.bin": http_response()},
        "h2": _h2_streams(),
        "grpc": {"two_messages.bin": grpc_msg(b"abc") + grpc_msg(b""),
                 "huge_length.bin": b"\x00\xff\xff\xff\xff" + b"x" * 8},
        "tls": {f"hello_{k}.bin": badcraft.rec(22, v) for k, v in badcraft.BAD_HELLOS.items()}
        | {"server_flight.bin": badcraft.SERVER_FLIGHT},
    }
    for parser, files in seeds.items():
        (out / parser).mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (out / parser / name).write_bytes(data)


def _h2_streams() -> dict[str, bytes]:
    h = H2Pair()
    h.cli.initiate_connection()
    client = h.flush_client()
    h.srv.initiate_connection()
    server = h.flush_server()
    client += h.flush_client()
    h.cli.send_headers(1, grpc_request_headers("s1"))
    h.cli.send_data(1, grpc_msg(b"a" * 20), end_stream=True)
    client += h.flush_client()
    h.srv.send_headers(1, [(":status", "200"), ("content-type", "application/grpc")])
    h.srv.send_data(1, grpc_msg(b"r" * 10))
    h.srv.send_headers(1, [("grpc-status", badcraft.HUGE)], end_stream=True)
    server += h.flush_server()
    return {"client.bin": client, "server_huge_grpc_status.bin": server}


if __name__ == "__main__":
    captures(CORPUS / "captures")
    streams(CORPUS / "streams")
    print("\n".join(sorted(str(p.relative_to(HERE)) for p in CORPUS.rglob("*") if p.is_file())))
