"""The reference capture of ``bench_analyze.py``, made with inferwire's own tools.

TF Serving-compatible MNIST server (``inferwire serve``, the softmax model), loaded by
``inferwire.load`` over loopback while ``inferwire.capture`` records it with dumpcap:

* gRPC Predict: ``grpc_connections`` load processes, each one connection (grpcio shares one
  connection between the channels of a process) with ``streams_per_connection`` users sending
  concurrently, so each connection carries several concurrent HTTP/2 streams;
* REST Predict: ``rest_users`` users, a new TCP connection per call;
* full payloads: one 28x28 image per request, 784 values (gRPC tensor_content, REST JSON rows).

Both loads run at the same time, so the capture interleaves them (any slice of it has both).
``make(path, spec)`` writes the capture and ``<path>.json`` (what was run, the counts, the ports,
the capture's probe port to leave out of the analysis).

``make_tools(path, spec)``: the same server and capture, loaded by other people's tools instead,
as issue 19's reference capture was: h2load (gRPC Predict over h2c, ``grpc_connections``
connections x ``streams_per_connection`` concurrent streams, one pre-serialized PredictRequest)
and ab (REST Predict, ``rest_users`` concurrent users, HTTP/1.0 without keep-alive: a new
connection per request), both at once, full payloads.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import re
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from inferwire.serving.ports import free_ports


@dataclass(frozen=True)
class Spec:
    """How much traffic: calls per protocol, and how they are spread (defaults: the issue's)."""
    grpc_calls: int = 20_000
    rest_calls: int = 20_000
    grpc_connections: int = 3
    streams_per_connection: int = 4
    rest_users: int = 4

    @classmethod
    def small(cls) -> "Spec":
        return cls(grpc_calls=1_500, rest_calls=1_500, grpc_connections=2, rest_users=2)

    @classmethod
    def scaled(cls, calls: int) -> "Spec":
        """The default spread with ``calls`` calls per protocol (a lighter capture)."""
        return cls(grpc_calls=calls, rest_calls=calls)


def _load(protocol: str, port: int, calls: int, users: int, connection: str, prefix: str,
          out: multiprocessing.Queue) -> None:
    """One load process: ``calls`` Predict requests, closed loop, ``users`` threads."""
    from inferwire.load import LoadOptions, PredictWorkload, run_load
    workload = PredictWorkload(protocol, "127.0.0.1", port, connection=connection)
    try:
        summary = run_load(workload, LoadOptions(mode="closed", users=users, requests=calls,
                                                 id_prefix=prefix))
    finally:
        workload.close()
    out.put({"prefix": prefix, "protocol": protocol, "requests": summary.requests,
             "ok": summary.ok, "errors": summary.errors, "duration_s": summary.duration_s,
             "throughput_per_s": summary.throughput_per_s})


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (i < total % parts) for i in range(parts)]


def make(path: str | os.PathLike, spec: Spec, log=print) -> dict:
    """Serve, load and capture as ``spec`` says; write the capture to ``path`` and its
    description to ``path + ".json"``; return the description."""
    from inferwire.capture import CaptureOptions, CaptureSession
    from inferwire.serving.launch import ServerProcess
    from inferwire.serving.model import cached_models

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    models = cached_models()
    grpc_port, rest_port = free_ports(2)    # REST port 0 means "off" to TF Serving's flags
    serve_args = ["--model_base_path", str(Path(models) / "mnist"), "--model_name", "mnist",
                  "--port", str(grpc_port), "--rest_api_port", str(rest_port)]
    started = time.time()
    with ServerProcess(serve_args) as server:
        ports = (server.grpc_port, server.rest_port)
        log(f"server ready: grpc {ports[0]}, rest {ports[1]}")
        opts = CaptureOptions(output=str(path), interface="lo", ports=ports, buffer_mb=256,
                              overwrite=True)
        with CaptureSession(opts) as cap:
            loads = _run_loads(spec, ports, log)
        result = cap.result
    meta = {"spec": asdict(spec), "grpc_port": ports[0], "rest_port": ports[1],
            "probe_port": result.probe_port, "captured_packets": result.packets,
            "dropped": result.dropped, "bytes": path.stat().st_size, "loads": loads,
            "made_in_s": round(time.time() - started, 1),
            "made_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    Path(str(path) + ".json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def _run_loads(spec: Spec, ports: tuple[int, int], log) -> list[dict]:
    """Start every load process at once; wait for all; their summaries."""
    ctx = multiprocessing.get_context("spawn")   # no fork of a process running threads
    out = ctx.Queue()
    jobs = [("grpc", ports[0], n, spec.streams_per_connection, "reuse", f"g{i}")
            for i, n in enumerate(_split(spec.grpc_calls, spec.grpc_connections))]
    jobs.append(("rest", ports[1], spec.rest_calls, spec.rest_users, "new", "r"))
    procs = [ctx.Process(target=_load, args=(*job, out)) for job in jobs]
    t0 = time.time()
    for p in procs:
        p.start()
    summaries = [out.get() for _ in procs]       # before join: a full queue blocks the child
    for p in procs:
        p.join()
    failed = [p.exitcode for p in procs if p.exitcode]
    if failed:
        raise RuntimeError(f"load processes failed with exit codes {failed}")
    log(f"loads done in {time.time() - t0:.0f} s: "
        + ", ".join(f"{s['prefix']} {s['ok']}/{s['requests']} ok" for s in summaries))
    return summaries


def make_tools(path: str | os.PathLike, spec: Spec, log=print) -> dict:
    """As :func:`make`, the load from h2load (gRPC) and ab (REST, a connection per request)
    running at once; ``<path>.json`` says ``"made_by": "h2load+ab"``."""
    from inferwire.capture import CaptureOptions, CaptureSession
    from inferwire.reference import bodies
    from inferwire.reference.ab import ab_command
    from inferwire.reference.h2load import h2load_command
    from inferwire.serving.launch import ServerProcess
    from inferwire.serving.model import cached_models

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grpc_port, rest_port = free_ports(2)
    serve_args = ["--model_base_path", str(Path(cached_models()) / "mnist"), "--model_name",
                  "mnist", "--port", str(grpc_port), "--rest_api_port", str(rest_port)]
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(serve_args) as server:
        ports = (server.grpc_port, server.rest_port)
        log(f"server ready: grpc {ports[0]}, rest {ports[1]}")
        grpc_body, rest_body = Path(tmp) / "grpc.bin", Path(tmp) / "rest.json"
        grpc_body.write_bytes(bodies.grpc_body(1, "grpc_tensor_content", "mnist"))
        rest_body.write_bytes(bodies.rest_body(1, "json_row"))
        h2load = h2load_command(f"http://127.0.0.1:{ports[0]}{bodies.GRPC_PREDICT_PATH}",
                                body_path=str(grpc_body), clients=spec.grpc_connections,
                                requests=spec.grpc_calls, streams=spec.streams_per_connection,
                                headers=bodies.GRPC_HEADERS)
        ab = ab_command(f"http://127.0.0.1:{ports[1]}{bodies.rest_path('mnist')}",
                        body_path=str(rest_body), content_type=bodies.REST_CONTENT_TYPE,
                        concurrency=spec.rest_users, requests=spec.rest_calls, keepalive=False)
        opts = CaptureOptions(output=str(path), interface="lo", ports=ports, buffer_mb=256,
                              overwrite=True)
        with CaptureSession(opts) as cap:
            loads = _run_tools({"h2load": h2load, "ab": ab}, log)
        result = cap.result
    meta = {"spec": asdict(spec), "made_by": "h2load+ab", "grpc_port": ports[0],
            "rest_port": ports[1], "probe_port": result.probe_port,
            "captured_packets": result.packets, "dropped": result.dropped,
            "bytes": path.stat().st_size, "loads": loads,
            "made_in_s": round(time.time() - started, 1),
            "made_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    Path(str(path) + ".json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def _run_tools(argvs: dict[str, list[str]], log) -> list[dict]:
    """Start every tool at once, wait for all; each one's argv and request counts."""
    t0 = time.time()
    procs = {name: subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True) for name, argv in argvs.items()}
    out = []
    for name, proc in procs.items():
        text, _ = proc.communicate(timeout=3600)
        if proc.returncode:
            raise RuntimeError(f"{name} failed ({proc.returncode}): {text[-2000:]}")
        out.append({"tool": name, "argv": argvs[name], **_tool_counts(name, text)})
    log(f"tools done in {time.time() - t0:.0f} s: {out}")
    return out


def _tool_counts(name: str, text: str) -> dict:
    """Requests done and failed, from h2load's or ab's report."""
    if name == "h2load":
        m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, "
                      r"(\d+) failed", text)
        return {"requests": int(m[1]), "ok": int(m[3]), "errors": int(m[4])} if m else {}
    done = re.search(r"Complete requests:\s+(\d+)", text)
    failed = re.search(r"Failed requests:\s+(\d+)", text)
    non2xx = re.search(r"Non-2xx responses:\s+(\d+)", text)
    return {"requests": int(done[1]) if done else None,
            "errors": (int(failed[1]) if failed else 0) + (int(non2xx[1]) if non2xx else 0)}
