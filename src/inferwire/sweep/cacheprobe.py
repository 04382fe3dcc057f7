"""The caching probe: does the server answer repeated identical inputs faster than unique ones?

Capture runs cannot tell: their load generator (:class:`inferwire.load.PredictWorkload`) builds one
batch per thread and sends it again and again, so every request of a run carries identical
inputs.  The probe starts a fresh server and sends, per protocol, one first (cold) request and then
``n`` pairs alternating the same batch ("repeated") and a batch never sent before ("unique"), one
at a time, so that drift on a shared machine hits both kinds alike.  Each row keeps a hash of the
inputs, which shows the repeated ones identical and the unique ones distinct.

Its folder holds ``probe.csv`` (columns below), ``server_log.jsonl`` (embedded server) and
``manifest.json`` with ``kind`` "cache_probe" and ``status``.
"""
from __future__ import annotations

import csv
import hashlib
import time
from pathlib import Path

PROBE_COLUMNS = ("protocol", "order", "kind", "request_id", "input_sha1", "started_ns",
                 "finished_ns", "client_ms", "serialize_ms", "model_ms", "server_ms", "ok",
                 "status", "request_bytes", "response_bytes")


def probe_kinds(n: int) -> list[str]:
    """"first", then ``n`` pairs of "repeated" and "unique" (pure)."""
    return ["first"] + ["repeated", "unique"] * n


def probe_inputs(kinds: list[str], batch: int):
    """One uint8 [batch, 784] array per kind: the same array for "first" and every "repeated",
    a distinct slice of a second digit set for each "unique"."""
    from ..serving.clients import sample_images
    same = sample_images(batch, seed=0)
    pool = sample_images(max(1, kinds.count("unique")) * batch, seed=1)
    out, k = [], 0
    for kind in kinds:
        if kind == "unique":
            out.append(pool[k * batch:(k + 1) * batch])
            k += 1
        else:
            out.append(same)
    return out


def _ms(ns):
    return "" if ns is None else f"{ns / 1e6:.6f}"


def _row(protocol, order, kind, images, result, started, finished) -> list:
    return [protocol, order, kind, result.request_id,
            hashlib.sha1(images.tobytes()).hexdigest()[:12], started, finished,
            _ms(finished - started), _ms(result.serialize_ns), _ms(result.model_time_ns),
            _ms(result.server_time_ns), str(result.ok).lower(), result.status,
            result.request_bytes, result.response_bytes]


def probe_protocol(protocol: str, host: str, port: int, n: int, batch: int, writer,
                   model_name: str = "mnist") -> int:
    """Send the probe's requests for one protocol (one connection, one at a time); returns how
    many failed."""
    from ..serving.clients import make_client
    kinds = probe_kinds(n)
    inputs = probe_inputs(kinds, batch)
    failed = 0
    with make_client(protocol, host, port, model_name=model_name) as client:
        for order, (kind, images) in enumerate(zip(kinds, inputs)):
            started = time.time_ns()
            result = client.predict(images, f"probe-{protocol}-{order:05d}")
            writer.writerow(_row(protocol, order, kind, images, result, started, time.time_ns()))
            failed += not result.ok
    return failed


def _server(plan, run_dir: Path):
    """(ServerProcess or None, host, grpc port, rest port)."""
    if plan.server != "embedded":
        return None, plan.server, plan.grpc_port, plan.rest_port
    from ..serving.launch import ServerProcess
    from ..serving.model import cached_models
    base = cached_models() / ("mnist" if plan.cache_model == "softmax" else "mnist_cnn")
    from ..ports import free_ports
    grpc_port, rest_port = free_ports(2)
    server = ServerProcess(["--model_base_path", str(base), "--model_name", "mnist",
                            "--port", str(grpc_port), "--rest_api_port", str(rest_port),
                            "--request_log", str(run_dir / "server_log.jsonl")]).start()
    return server, "127.0.0.1", server.grpc_port, server.rest_port


def run_cache_probe(run_dir: Path, plan) -> dict:
    """Run the probe into ``run_dir`` (existing); returns the manifest written there."""
    from ..errors import InferwireError
    from ..experiment.manifest import environment_facts, write_json
    manifest = {"kind": "cache_probe", "started_ns": time.time_ns(), "status": "running",
                "config": {"requests_per_kind": plan.cache_probe, "batch_size": plan.cache_batch,
                           "model": plan.cache_model, "server": plan.server},
                "environment": environment_facts(), "problems": []}
    write_json(run_dir / "manifest.json", manifest)
    server = None
    try:
        server, host, grpc_port, rest_port = _server(plan, run_dir)
        manifest["server"] = {"host": host, "grpc_port": grpc_port, "rest_port": rest_port,
                              "ready_line": getattr(server, "ready_line", None)}
        with open(run_dir / "probe.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(PROBE_COLUMNS)
            for protocol, port in (("rest", rest_port), ("grpc", grpc_port)):
                failed = probe_protocol(protocol, host, port, plan.cache_probe,
                                        plan.cache_batch, writer)
                if failed:
                    manifest["problems"].append(f"{protocol}: {failed} of "
                                                f"{2 * plan.cache_probe + 1} requests failed")
        manifest["status"] = "failed" if manifest["problems"] else "ok"
    except KeyboardInterrupt:
        manifest["status"] = "interrupted"
    except InferwireError as exc:
        manifest["status"] = "failed"
        manifest["problems"].append(str(exc))
    finally:
        if server is not None:
            server.stop()
        manifest["stopped_ns"] = time.time_ns()
        write_json(run_dir / "manifest.json", manifest)
    return manifest
