"""ApacheBench as a capture-run engine (REST only: ab speaks HTTP/1.0, ``-k`` keep-alive).

Closed loop: ``users`` concurrent connections (``-c``), ``requests`` (``-n``) or ``duration_s``
(``-t``, whole seconds); ``connection="new"`` drops ``-k``.  ab sends one fixed body and cannot
vary a header per request, so its requests carry no id: they are joined to the capture by count
and by the measured window (the ab process's lifetime on the REST port), and its percentiles are
compared with the capture's computed by ab's own rule.  Files in the run folder:
``ab_rest_body.json`` (what it sent; with ``api="v2"`` a V2 infer body, JSON or binary, whose
``id`` is the fixed "ab-rest"), ``ab_rest_output.txt`` (its report), ``ab_rest_gnuplot.tsv``
(``-g``, one row per request), ``ab_rest_percentiles.csv`` (``-e``).
"""
from __future__ import annotations

import shutil

from ..errors import LoadError
from ..reference import bodies
from ..reference.bodies import write_new
from ..reference.summary import ToolSummary
from ..reference.toolrun import run_under_capture

OUTPUTS = {"body": "ab_{p}_body.json", "output": "ab_{p}_output.txt",
           "gnuplot": "ab_{p}_gnuplot.tsv", "percentiles": "ab_{p}_percentiles.csv"}


def _check(config, protocol: str) -> None:
    if protocol != "rest":
        raise LoadError("ab speaks HTTP/1.x only and cannot send gRPC: run --engine ab with "
                        "--protocol rest, and --engine h2load for gRPC")
    if shutil.which("ab") is None:
        raise LoadError("ab is not installed (Debian package apache2-utils)")
    if config.mode != "closed" or config.think_time_s:
        raise LoadError("ab runs closed-loop users without think time: no --rate, no think time")


def run(ctx) -> ToolSummary:
    """Warm up, run ab under the capture, parse its outputs; a ToolSummary."""
    from ..reference.ab import ab_command  # deferred: reference.ab imports numpy, pandas
    config, protocol, t = ctx.config, ctx.protocol, ctx.targets
    _check(config, protocol)
    names = {k: v.format(p=protocol) for k, v in OUTPUTS.items()}
    d = ctx.run_dir
    data, path, content_type, headers = _request(config, t.get("model_name", config.model_name))
    body = write_new(d / names["body"], data)
    url = f"http://{t['host']}:{t['rest_port']}{path}"
    requests = config.requests
    argv = ab_command(url, body_path=str(body), content_type=content_type, headers=headers,
                      concurrency=config.users, requests=requests,
                      duration_s=config.duration_s if requests is None else None,
                      keepalive=config.connection == "reuse",
                      gnuplot_path=str(d / names["gnuplot"]),
                      percentiles_path=str(d / names["percentiles"]))
    return run_under_capture(ctx, "ab", argv, names, join="count", fill=_fill,
                             requests=requests)


def _request(config, model: str) -> tuple[bytes, str, str, tuple]:
    """(body, path, content type, extra headers) of the one request ab repeats."""
    if config.api == "v2":
        from ..serving.v2.codec import rest_path  # deferred: serving.v2.codec imports google (optional)
        body, headers = bodies.v2_rest_body(config.batch_size,
                                            config.encoding_for("rest") or "v2_json", "ab-rest",
                                            input_name=config.input_name,
                                            output_name=config.output_name)
        content_type = headers.pop("Content-Type")
        return body, rest_path(model), content_type, tuple(f"{k}: {v}" for k, v in headers.items())
    body = bodies.rest_body(config.batch_size, config.encoding_for("rest") or "json_row")
    return body, bodies.rest_path(model), bodies.REST_CONTENT_TYPE, ()


def _fill(summary: ToolSummary, d, names: dict) -> None:
    """ab's own figures into ``summary`` (notes say what is missing and why)."""
    from ..reference.ab import parse_ab_output, read_ab_percentiles  # deferred: reference.ab imports numpy, pandas
    try:
        report = parse_ab_output((d / names["output"]).read_text(errors="replace"),
                                 source=str(d / names["output"]))
    except LoadError as exc:
        if summary.interrupted or summary.stopped_early or summary.exit_code not in (0, None):
            summary.notes.append(f"no ab report: {exc}")
            return
        raise
    summary.requests = report.complete
    summary.errors = report.failed + report.non_2xx
    summary.ok = report.complete - summary.errors
    summary.duration_s = report.time_taken_s
    summary.throughput_per_s = report.requests_per_s
    total = report.connection_times_ms.get("Total", {})
    summary.latency_ms = {"mean": total.get("mean")}
    path = d / names["percentiles"]
    if path.exists():
        table = read_ab_percentiles(path).set_index("percent")["total_ms"]
        summary.latency_ms.update({f"p{p}": float(table[p]) for p in (50, 90, 99) if p in table})
        summary.latency_ms["max"] = float(table[100]) if 100 in table else None
        summary.latency_source = "ab -e percentiles (µs resolution)"
    else:
        summary.latency_ms.update({f"p{p}": report.percentiles_ms.get(p) for p in (50, 90, 99)})
        summary.latency_source = "ab report (whole ms)"
    if report.failed:
        summary.notes.append(f"ab counted {report.failed} failed requests")
