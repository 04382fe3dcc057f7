"""Benchmark the embedded TF Serving stand-in: throughput and latency per encoding and batch size.

    .venv/bin/python benchmarks/bench_serving.py            # default run, about 2-3 minutes
    .venv/bin/python benchmarks/bench_serving.py --seconds 0.5 --batches 1,8   # quick look

The server runs as a subprocess (``inferwire serve``), the client in this process, closed loop
(one request in flight per client thread).  Per cell: requests/s, client-side latency p50/p99
(encode + round trip + decode), the server's own overhead per request (its handler time minus the
time inside TensorFlow, both reported by the server per request) and the model time.  Finally a
bare grpcio echo server (same client, same request bytes) gives the ceiling for gRPC on this
machine, and the embedded server's throughput is reported as a fraction of it.
Prints a markdown table.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from inferwire.serving.clients import ENCODINGS, make_client, sample_images
from inferwire.serving.launch import ServerProcess

OVERHEAD_GOAL_US = 200


def percentile_us(values_ns, q) -> float:
    return float(np.percentile(values_ns, q)) / 1e3 if len(values_ns) else float("nan")


def run_cell(client_factory, images, seconds: float, concurrency: int, min_requests: int = 20):
    """Closed-loop load for ``seconds``; returns per-request latencies, overheads and model times."""
    def worker(deadline):
        lat, over, model, sizes, errors = [], [], [], [], 0
        with client_factory() as client:
            client.predict(images)  # warm-up (connection, graph pruning)
            n = 0
            while time.perf_counter() < deadline or n < min_requests // concurrency:
                t0 = time.perf_counter_ns()
                r = client.predict(images)
                lat.append(time.perf_counter_ns() - t0)
                n += 1
                if not r.ok:
                    errors += 1
                    continue
                sizes.append(r.request_bytes)
                if r.model_time_ns is not None and r.server_time_ns is not None:
                    over.append(r.server_time_ns - r.model_time_ns)
                    model.append(r.model_time_ns)
        return lat, over, model, sizes, errors

    start = time.perf_counter()
    deadline = start + seconds
    with ThreadPoolExecutor(concurrency) as pool:
        parts = list(pool.map(worker, [deadline] * concurrency))
    wall = time.perf_counter() - start
    merged = [sum((p[i] for p in parts), []) for i in range(4)]
    return merged, sum(p[4] for p in parts), wall


# --- bare grpcio echo server ------------------------------------------------------------------------

def _echo_server(port_queue, stop_event) -> None:
    from concurrent.futures import ThreadPoolExecutor as Pool

    import grpc
    handler = grpc.unary_unary_rpc_method_handler(lambda raw, ctx: raw)
    server = grpc.server(Pool(max_workers=16), options=[("grpc.so_reuseport", 0),
                                                        ("grpc.max_receive_message_length", 64 << 20)])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
        "tensorflow.serving.PredictionService", {"Predict": handler})])
    port_queue.put(server.add_insecure_port("127.0.0.1:0"))
    server.start()
    stop_event.wait()
    server.stop(0)


def echo_cell(port: int, raw: bytes, seconds: float, concurrency: int):
    import grpc

    def worker(deadline):
        lat = []
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary("/tensorflow.serving.PredictionService/Predict",
                                       request_serializer=None, response_deserializer=None)
            call(raw)
            while time.perf_counter() < deadline or len(lat) < 20:
                t0 = time.perf_counter_ns()
                call(raw)
                lat.append(time.perf_counter_ns() - t0)
        return lat

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        lat = sum(pool.map(worker, [start + seconds] * concurrency), [])
    return lat, time.perf_counter() - start


# --- main ----------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=2.0, help="load duration per cell (default 2)")
    p.add_argument("--batches", default="1,8,64,256", help="batch sizes (default 1,8,64,256)")
    p.add_argument("--encodings", default=",".join(ENCODINGS))
    p.add_argument("--concurrency", type=int, default=1, help="client threads per cell (default 1)")
    p.add_argument("--model", default="mnist", choices=("mnist", "mnist_cnn"))
    p.add_argument("--models-dir", help="exported models (default: a cached export)")
    p.add_argument("--enable-batching", action="store_true", help="server-side batching on")
    args = p.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    encodings = [e for e in args.encodings.split(",") if e]

    if args.models_dir:
        models_dir = args.models_dir
    else:
        from inferwire.serving.model import cached_models
        print("exporting models (cached after the first run)...", file=sys.stderr, flush=True)
        models_dir = str(cached_models())
    serve_args = ["--model_base_path", os.path.join(models_dir, args.model), "--model_name", "mnist",
                  "--port", "0", "--rest_api_port", "auto", "--max_request_bytes", str(256 << 20)]
    if args.enable_batching:
        serve_args += ["--enable_batching", "--max_batch_size", str(max(batches) * args.concurrency),
                       "--batch_timeout_micros", "1000"]
    rows = []
    print("starting the server...", file=sys.stderr, flush=True)
    with ServerProcess(serve_args) as proc:
        for enc in encodings:
            protocol = "rest" if enc.startswith("json") else "grpc"
            port = proc.rest_port if protocol == "rest" else proc.grpc_port
            for batch in batches:
                images = sample_images(batch, seed=batch)
                (lat, over, model, sizes), errors, wall = run_cell(
                    lambda: make_client(protocol, port=port, encoding=enc, timeout_s=120),
                    images, args.seconds, args.concurrency)
                rows.append(dict(protocol=protocol, encoding=enc, batch=batch, n=len(lat),
                                 rps=len(lat) / wall, p50=percentile_us(lat, 50) / 1e3,
                                 p99=percentile_us(lat, 99) / 1e3, over=percentile_us(over, 50),
                                 over99=percentile_us(over, 99), model=percentile_us(model, 50),
                                 size=sizes[0] if sizes else 0, errors=errors))
                print(f"  {enc} batch {batch}: {rows[-1]['rps']:.0f} req/s", file=sys.stderr, flush=True)
        grpc_b1 = next((r for r in rows if r["encoding"] == "grpc_tensor_content" and r["batch"] == 1), None)

    # the same client load against a bare grpcio echo server, with the same request bytes
    from inferwire.serving import encodings as E
    raw = E.grpc_request("grpc_tensor_content", sample_images(1, seed=1), "mnist").SerializeToString()
    ctx = multiprocessing.get_context("spawn")
    port_queue, stop = ctx.Queue(), ctx.Event()
    echo = ctx.Process(target=_echo_server, args=(port_queue, stop), daemon=True)
    echo.start()
    try:
        echo_lat, echo_wall = echo_cell(port_queue.get(timeout=60), raw, args.seconds, args.concurrency)
    finally:
        stop.set()
        echo.join(10)
    echo_rps = len(echo_lat) / echo_wall

    print(report(rows, echo_rps, echo_lat, grpc_b1, args))
    return 0


def report(rows, echo_rps, echo_lat, grpc_b1, args) -> str:
    out = [f"## inferwire embedded server, model {args.model}, {args.concurrency} client thread(s), "
           f"{args.seconds:g} s per cell, batching {'on' if args.enable_batching else 'off'}", "",
           "| protocol | encoding | batch | requests | req/s | p50 ms | p99 ms | server overhead p50 µs "
           "| overhead p99 µs | model p50 µs | request bytes | errors |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['protocol']} | {r['encoding']} | {r['batch']} | {r['n']} | {r['rps']:.0f} | "
                   f"{r['p50']:.2f} | {r['p99']:.2f} | {r['over']:.0f} | {r['over99']:.0f} | "
                   f"{r['model']:.0f} | {r['size']} | {r['errors']} |")
    out.append("")
    out.append(f"bare grpcio echo server (same client, {len(echo_lat)} requests): {echo_rps:.0f} req/s, "
               f"p50 {percentile_us(echo_lat, 50) / 1e3:.2f} ms, p99 {percentile_us(echo_lat, 99) / 1e3:.2f} ms")
    if grpc_b1:
        verdict = "met" if grpc_b1["over"] <= OVERHEAD_GOAL_US else "NOT met"
        out.append(f"embedded gRPC (tensor_content, batch 1) / echo throughput: "
                   f"{grpc_b1['rps'] / echo_rps:.2f}")
        out.append(f"server overhead outside TensorFlow, gRPC batch 1: p50 {grpc_b1['over']:.0f} µs "
                   f"(goal <= {OVERHEAD_GOAL_US} µs: {verdict})")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
