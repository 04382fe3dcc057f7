"""Bytes on the wire per streamed token over gRPC (issue 20, docs/streaming.md): a grpcio
server-streaming call yields 64 messages of 1 byte, then of a 178-byte OpenAI-style JSON chunk,
1 ms apart, 50 calls each on one connection, captured with dumpcap on loopback and analyzed.

    .venv/bin/python benchmarks/stream_overhead.py
"""
import time
import warnings
from concurrent import futures
from pathlib import Path

import grpc

import inferwire
from inferwire.capture import CaptureOptions, CaptureSession

TOKENS, CALLS = 64, 50
OUT = Path(__file__).resolve().parent / "data"
PAYLOAD = {"tiny": b"a",
           "json": b'{"id": "cmpl-x", "object": "text_completion", "created": 1796429012, '
                   b'"model": "inferwire-charlm", "choices": [{"text": "a", "index": 0, '
                   b'"logprobs": null, "finish_reason": null}]}'}


def serve(request, context):
    for _ in range(TOKENS):
        time.sleep(0.001)
        yield PAYLOAD[request.decode()]


def main() -> None:
    warnings.simplefilter("ignore")
    OUT.mkdir(exist_ok=True)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "t.S", {"Gen": grpc.unary_stream_rpc_method_handler(serve)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        for kind in PAYLOAD:
            path = str(OUT / f"grpc_stream_{kind}.pcapng")
            opts = CaptureOptions(output=path, ports=(port,), buffer_mb=64, overwrite=True)
            with CaptureSession(opts) as cap:
                with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
                    call = ch.unary_stream("/t.S/Gen", request_serializer=None,
                                           response_deserializer=None)
                    for i in range(CALLS):
                        got = list(call(kind.encode(), metadata=(("x-request-id", f"{kind}-{i}"),)))
                        assert len(got) == TOKENS
            a = inferwire.analyze(path, ignore_ports=(cap.result.probe_port,))
            c, m = a.connections, a.messages
            resp = m[m.direction == "response"]
            print(f"{kind}: payload {len(PAYLOAD[kind])} B, {len(resp)} messages, server -> client "
                  f"TCP payload per token {c.bytes_to_client.sum() / len(resp):.1f} B, packets "
                  f"per token (both ways) {c.packets.sum() / len(resp):.2f}")
    finally:
        server.stop(None)


if __name__ == "__main__":
    main()
