"""The caching probe: does the server answer repeated identical inputs faster than unique ones?

Capture runs cannot tell: their load generator (:class:`inferwire.load.PredictWorkload`) builds one
batch per thread and sends it again and again, so every request of a run carries identical
inputs.  The probe starts a fresh server and sends, per protocol, one first (cold) request and then
``n`` pairs alternating the same batch ("repeated") and a batch never sent before ("unique"), one
at a time, so that drift on a shared machine hits both kinds alike.  Each row keeps a hash of the
inputs, which shows the repeated ones identical and the unique ones distinct.

The server is the sweep's: "embedded", "triton" or "kserve" are started for the probe (as a
capture run starts them, :func:`inferwire.experiment.run._start_server`) and stopped after it; any
other name is the host of a running server.  The probe speaks the plan's ``probe_api`` (TF
Serving's predict API or the Open Inference Protocol, V2).  With Triton and a ``cache_bytes`` > 0
plan, the probe runs twice, each time on a fresh Triton: without a response cache (setup
``response_cache_bytes`` 0) and with one of that size, whose model config enables it.

Its folder holds ``probe.csv`` (columns below), a manifest (:mod:`inferwire.runfolder`) with ``kind`` "cache_probe" and
``status``, and the server's own files (``server_log.jsonl``; Triton's trace and metrics
``triton_trace.csv``, ``triton_metrics.csv``, ``triton.log``): in the folder itself for one
setup, in ``cache-off/`` and ``cache-on/`` for two.
"""
from __future__ import annotations

import csv
import hashlib
import json
import time
from pathlib import Path

from ..errors import InferwireError
from ..experiment import RunConfig
from ..experiment.manifest import environment_facts
from ..runfolder import CACHE_PROBE_TABLE, SERVER_LOG, write_manifest
from ..serving.ports import free_ports
from .plan import response_cache_extra

PROBE_COLUMNS = ("protocol", "order", "kind", "request_id", "input_sha1", "started_ns",
                 "finished_ns", "client_ms", "serialize_ms", "model_ms", "server_ms", "ok",
                 "status", "request_bytes", "response_bytes", "response_cache_bytes",
                 "model_ran")


def probe_kinds(n: int) -> list[str]:
    """"first", then ``n`` pairs of "repeated" and "unique" (pure)."""
    return ["first"] + ["repeated", "unique"] * n


def probe_inputs(kinds: list[str], batch: int, seed: int = 1):
    """One uint8 [batch, 784] array per kind: the same array for "first" and every "repeated",
    a distinct slice of a second digit set (drawn with ``seed``, not 0) for each "unique"."""
    from ..serving.clients import sample_images  # deferred: serving.clients imports google (optional)
    same = sample_images(batch, seed=0)
    pool = sample_images(max(1, kinds.count("unique")) * batch, seed=seed)
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


def _row(protocol, order, kind, images, result, started, finished, cache_bytes=0) -> list:
    return [protocol, order, kind, result.request_id,
            hashlib.sha1(images.tobytes()).hexdigest()[:12], started, finished,
            _ms(finished - started), _ms(result.serialize_ns), _ms(result.model_time_ns),
            _ms(result.server_time_ns), str(result.ok).lower(), result.status,
            result.request_bytes, result.response_bytes, cache_bytes, ""]


def probe_protocol(protocol: str, host: str, port: int, n: int, batch: int, writer,
                   model_name: str = "mnist", api: str = "tfserving", cache_bytes: int = 0,
                   seed: int = 1) -> int:
    """Send the probe's requests for one protocol (one connection, one at a time) in ``api``;
    returns how many failed.  ``seed`` picks the unique batches (a protocol's own, so that
    a server caching by input sees none of them before); ``cache_bytes`` goes in every row."""
    from ..serving.clients import make_client  # deferred: serving.clients imports google (optional)
    kinds = probe_kinds(n)
    inputs = probe_inputs(kinds, batch, seed)
    failed = 0
    options = {"api": "v2"} if api == "v2" else {}
    tag = f"c{cache_bytes}-" if cache_bytes else ""
    with make_client(protocol, host, port, model_name=model_name, **options) as client:
        for order, (kind, images) in enumerate(zip(kinds, inputs)):
            started = time.time_ns()
            result = client.predict(images, f"probe-{tag}{protocol}-{order:05d}")
            writer.writerow(_row(protocol, order, kind, images, result, started, time.time_ns(),
                                 cache_bytes))
            failed += not result.ok
    return failed


MANAGED = ("embedded", "triton", "kserve")


def probe_config(plan, cache_bytes: int = 0):
    """The RunConfig the probe's server is started from (model, batch, API, response cache)."""
    ports = free_ports(2) if plan.server in MANAGED else (plan.grpc_port, plan.rest_port)
    return RunConfig(out="", server=plan.server, grpc_port=ports[0], rest_port=ports[1],
                     model=plan.cache_model, batch_size=plan.cache_batch, api=plan.probe_api,
                     progress=False, duration_s=None, requests=1,
                     extra=response_cache_extra(cache_bytes))


def probe_setups(plan) -> list[int]:
    """Response cache sizes to probe, in order (0: none)."""
    return [0, plan.cache_bytes] if plan.server == "triton" and plan.cache_bytes else [0]


def _probe_setup(plan, folder: Path, cache_bytes: int, writer, problems: list) -> dict:
    """Start the setup's server (unless external), probe REST then gRPC, stop it; returns the
    server facts for the manifest."""
    from ..experiment.run import _start_server  # deferred: experiment.run imports psutil (optional)
    config = probe_config(plan, cache_bytes)
    server, targets = _start_server(config, folder, lambda text: None)
    facts = {**targets, "response_cache_bytes": cache_bytes}
    try:
        for seed, protocol in enumerate(("rest", "grpc"), 1):
            failed = probe_protocol(protocol, targets["host"], targets[f"{protocol}_port"],
                                    plan.cache_probe, plan.cache_batch, writer,
                                    model_name=targets.get("model_name", "mnist"),
                                    api=plan.probe_api, cache_bytes=cache_bytes, seed=seed)
            if failed:
                problems.append(f"{protocol}{' (cache on)' if cache_bytes else ''}: {failed} of "
                                f"{2 * plan.cache_probe + 1} requests failed")
    finally:
        if server is not None:
            server.stop()
            facts.update(getattr(server, "facts", None) or {})
    return facts


def server_times(log_path: Path) -> dict[str, tuple]:
    """{request id: (server_ms, model_ms, model ran)} from a server log (JSON lines with
    ``request_id``, ``server_time_ns``, ``model_time_ns``); Triton's log leaves ``model_time_ns``
    empty for a request answered from its response cache (its trace has no COMPUTE stamps)."""
    out = {}
    try:
        lines = Path(log_path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if isinstance(r, dict) and r.get("request_id"):
            model = r.get("model_time_ns")
            out[str(r["request_id"])] = (r.get("server_time_ns"), model, model is not None)
    return out


def fill_server_times(probe_csv: Path, logs: list[Path]) -> int:
    """Fill ``server_ms``, ``model_ms`` (where the client had none: the V2 clients) and
    ``model_ran`` of ``probe_csv`` from the server logs; returns how many rows were matched."""
    times = {}
    for log in logs:
        times.update(server_times(log))
    with open(probe_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, matched = rows[0], 0
    col = {name: header.index(name) for name in ("request_id", "server_ms", "model_ms",
                                                 "model_ran")}
    for row in rows[1:]:
        hit = times.get(row[col["request_id"]])
        if hit is None:
            continue
        matched += 1
        server_ns, model_ns, ran = hit
        if not row[col["server_ms"]]:
            row[col["server_ms"]] = _ms(server_ns)
        if not row[col["model_ms"]]:
            row[col["model_ms"]] = _ms(model_ns)
        row[col["model_ran"]] = str(ran).lower()
    with open(probe_csv, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return matched


def run_cache_probe(run_dir: Path, plan) -> dict:
    """Run the probe into ``run_dir`` (existing); returns the manifest written there."""
    setups = probe_setups(plan)
    manifest = {"kind": "cache_probe", "started_ns": time.time_ns(), "status": "running",
                "config": {"requests_per_kind": plan.cache_probe, "batch_size": plan.cache_batch,
                           "model": plan.cache_model, "server": plan.server,
                           "api": plan.probe_api, "response_cache_bytes": setups},
                "environment": environment_facts(), "problems": [], "setups": []}
    write_manifest(run_dir, manifest)
    try:
        with open(run_dir / CACHE_PROBE_TABLE, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(PROBE_COLUMNS)
            for cache_bytes in setups:
                folder = run_dir
                if len(setups) > 1:
                    folder = run_dir / ("cache-on" if cache_bytes else "cache-off")
                    folder.mkdir()
                manifest["setups"].append(
                    _probe_setup(plan, folder, cache_bytes, writer, manifest["problems"]))
                f.flush()
        manifest["server"] = manifest["setups"][0]
        manifest["server_log_rows_matched"] = fill_server_times(
            run_dir / CACHE_PROBE_TABLE, [run_dir / SERVER_LOG,
                                    *(run_dir / d / SERVER_LOG
                                      for d in ("cache-off", "cache-on"))])
        manifest["status"] = "failed" if manifest["problems"] else "ok"
    except KeyboardInterrupt:
        manifest["status"] = "interrupted"
    except InferwireError as exc:
        manifest["status"] = "failed"
        manifest["problems"].append(str(exc))
    finally:
        manifest["stopped_ns"] = time.time_ns()
        write_manifest(run_dir, manifest)
    return manifest
