"""h2load (nghttp2-client) as a capture-run engine: gRPC unary over h2c, or REST with ``--h1``.

gRPC: h2load POSTs one pre-serialized, length-prefixed PredictRequest to
``/tensorflow.serving.PredictionService/Predict`` with ``content-type: application/grpc`` and
``te: trailers``.  REST: the JSON body over HTTP/1.1.  With ``api="v2"``: a V2 ModelInferRequest
to ``/inference.GRPCInferenceService/ModelInfer``, or a V2 infer body (JSON or binary) to
``/v2/models/{model}/infer``.  Closed loop: ``users`` connections
(``-c``), ``config.extra["h2load_streams"]`` concurrent streams each (``-m``, default 1);
``requests`` (``-n``) or ``duration_s`` (``-D``).  Its ``--log-file`` has every request's start
and duration but no id, so requests are matched to the capture by time.  Files:
``h2load_<protocol>_body.bin``, ``h2load_<protocol>_output.txt`` (its report),
``h2load_<protocol>_log.tsv`` (per request).
"""
from __future__ import annotations

import shutil

from ..errors import LoadError
from ..reference import bodies
from ..reference.bodies import write_new
from ..reference.summary import ToolSummary
from ..reference.toolrun import run_under_capture

OUTPUTS = {"body": "h2load_{p}_body.bin", "output": "h2load_{p}_output.txt",
           "log": "h2load_{p}_log.tsv"}


def _check(config) -> None:
    if shutil.which("h2load") is None:
        raise LoadError("h2load is not installed (Debian package nghttp2-client)")
    if config.mode != "closed" or config.think_time_s:
        raise LoadError("the h2load engine runs closed-loop clients without think time")
    if config.connection == "new":
        raise LoadError("h2load keeps its connections for the whole run: no --connection new")


def _target(ctx) -> tuple[bytes, str, tuple, bool]:
    """(body, url, headers, http1) for the run's protocol."""
    config, t = ctx.config, ctx.targets
    model = t.get("model_name", config.model_name)
    if config.api == "v2":
        return _v2_target(ctx, model)
    if ctx.protocol == "grpc":
        body = bodies.grpc_body(config.batch_size,
                                config.encoding_for("grpc") or "grpc_tensor_content", model)
        url = f"http://{t['host']}:{t['grpc_port']}{bodies.GRPC_PREDICT_PATH}"
        return body, url, bodies.GRPC_HEADERS, False
    body = bodies.rest_body(config.batch_size, config.encoding_for("rest") or "json_row")
    url = f"http://{t['host']}:{t['rest_port']}{bodies.rest_path(model)}"
    return body, url, (f"content-type: {bodies.REST_CONTENT_TYPE}",), True


def _v2_target(ctx, model: str) -> tuple[bytes, str, tuple, bool]:
    """(body, url, headers, http1) of an Open Inference Protocol (V2) infer call; the V2 ``id``
    is the fixed "h2load-<protocol>" (one body for every request)."""
    from ..serving.v2.codec import rest_path  # deferred: serving.v2.codec imports google (optional)
    config, t, rid = ctx.config, ctx.targets, f"h2load-{ctx.protocol}"
    names = {"input_name": config.input_name, "output_name": config.output_name}
    if ctx.protocol == "grpc":
        message = bodies.v2_grpc_message(config.batch_size,
                                         config.encoding_for("grpc") or "v2_raw", model, rid,
                                         **names)
        url = f"http://{t['host']}:{t['grpc_port']}{bodies.V2_INFER_PATH}"
        return bodies.grpc_frame(message), url, bodies.GRPC_HEADERS, False
    body, headers = bodies.v2_rest_body(config.batch_size, config.encoding_for("rest") or "v2_json",
                                        rid, **names)
    url = f"http://{t['host']}:{t['rest_port']}{rest_path(model)}"
    return body, url, tuple(f"{k.lower()}: {v}" for k, v in headers.items()), True


def run(ctx) -> ToolSummary:
    """Warm up, run h2load under the capture, read its log; a ToolSummary."""
    from ..reference.h2load import h2load_command  # deferred: reference.h2load imports pandas
    config, protocol, d = ctx.config, ctx.protocol, ctx.run_dir
    _check(config)
    names = {k: v.format(p=protocol) for k, v in OUTPUTS.items()}
    body, url, headers, http1 = _target(ctx)
    write_new(d / names["body"], body)
    requests = config.requests
    argv = h2load_command(url, body_path=str(d / names["body"]), clients=config.users,
                          requests=requests,
                          duration_s=config.duration_s if requests is None else None,
                          streams=int((config.extra or {}).get("h2load_streams", 1)),
                          headers=headers, log_path=str(d / names["log"]), http1=http1)
    return run_under_capture(ctx, "h2load", argv, names, join="time", fill=_fill,
                             requests=requests)


def _fill(summary: ToolSummary, d, names: dict) -> None:
    """h2load's own figures into ``summary``: counts and req/s from its report, latency
    percentiles from its per-request log (h2load prints none)."""
    from ..load.stats import distribution_ms  # deferred: load.stats imports numpy
    from ..reference.h2load import parse_h2load_output, read_h2load_log  # deferred: reference.h2load imports pandas
    try:
        report = parse_h2load_output((d / names["output"]).read_text(errors="replace"),
                                     source=str(d / names["output"]))
    except LoadError as exc:
        if summary.interrupted or summary.stopped_early or summary.exit_code not in (0, None):
            summary.notes.append(f"no h2load report: {exc}")
            return
        raise
    summary.throughput_per_s = report.requests_per_s
    summary.duration_s = report.finished_s
    if report.total and not report.succeeded:   # the run's check makes this load_failed
        summary.notes.append(f"h2load: none of {report.total} requests succeeded "
                             f"({report.errored} errored, {report.failed} failed)")
    log_path = d / names["log"]
    log = read_h2load_log(log_path) if log_path.exists() else None
    if log is None or log.empty:
        summary.requests, summary.ok = report.done, report.succeeded
        summary.errors = report.done - report.succeeded
        summary.notes.append("h2load wrote no per-request log")
        return
    summary.requests, summary.ok = len(log), int(log["ok"].sum())
    summary.errors = summary.requests - summary.ok
    summary.latency_ms = distribution_ms(log.loc[log["ok"], "duration_ns"].to_numpy())
    summary.latency_source = "h2load --log-file (µs resolution)"
    if report.done != len(log):
        summary.notes.append(f"h2load's report counts {report.done} done, its log "
                             f"{len(log)} rows")
