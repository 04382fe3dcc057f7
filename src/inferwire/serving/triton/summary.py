"""The Triton part of a run's ``summary.md``: where the time went, from the client through the
wire into Triton's front end, queue and model (Triton's trace), and what its metrics said.  Pure."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .trace import inside_fraction

#: (heading, how to compute it from the joined table): the parts add up to the client's time.
PARTS = (
    ("client outside the wire", lambda j: j["client_ms"] - j["total_ms"]),
    ("wire and kernel", lambda j: j["total_ms"] - j["triton_server_ms"]),
    ("Triton front end", lambda j: j["triton_frontend_ms"]),
    ("queue", lambda j: j["triton_queue_ms"]),
    ("model (input, infer)", lambda j: j["triton_compute_input_ms"] + j["triton_compute_infer_ms"]),
    # COMPUTE_OUTPUT_START -> INFER_RESPONSE_COMPLETE: what is left of triton_server_ms
    ("outputs to response", lambda j: j["triton_server_ms"] - j["triton_frontend_ms"]
     - j["triton_queue_ms"] - j["triton_compute_input_ms"] - j["triton_compute_infer_ms"]),
)


def _mean(s: pd.Series) -> float:
    v = pd.to_numeric(s, errors="coerce").dropna().to_numpy(dtype=float)
    return float(v.mean()) if len(v) else float("nan")


def _f(x: float) -> str:
    return "" if np.isnan(x) else f"{x:.3f}"


def triton_section(joined: pd.DataFrame, manifest: dict) -> list[str]:
    """Markdown lines: per workload the mean of each part (they add up to the client's mean
    time), Triton's trace against the wire, and Triton's own metrics."""
    j = joined[joined["triton_trace_id"].notna() & joined["client_ms"].notna()]
    heads = ["workload", "traced", "client ms", *(f"{h} ms" for h, _ in PARTS)]
    out = ["## Where the time went on Triton (means, ms: the parts add up to the client's time)",
           "", "| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    words = []
    for workload, g in j.groupby("workload"):
        client, parts = _mean(g["client_ms"]), [_mean(fn(g)) for _, fn in PARTS]
        out.append("| " + " | ".join([workload, str(len(g)), _f(client), *map(_f, parts)]) + " |")
        if client > 0:
            shares = ", ".join(f"{h} {100 * v / client:.0f} %" for (h, _), v in zip(PARTS, parts)
                               if not np.isnan(v))
            words.append(f"- **{workload}**: of the client's {client:.3f} ms (mean): {shares}.")
    out += [""] + words + _streamed_lines(manifest)
    inside = inside_fraction(joined)
    by_id = int((joined.get("triton_joined_by", pd.Series(dtype="string")) == "request_id").sum())
    out += ["", f"- Triton traced {int(joined['triton_trace_id'].notna().sum())} of "
                f"{int(joined['in_capture'].fillna(False).sum())} requests on the wire "
                f"({by_id} joined by request id, the others by time); "
                + (f"of those joined by id, {_f(inside * 100)} % have Triton's receive-end and "
                   "send-start inside the wire's [request_end, response_start]."
                   if not np.isnan(inside) else "none joined by id to check against the wire.")]
    out += _metrics_lines((manifest.get("server") or {}))
    return out


def _streamed_lines(manifest: dict) -> list[str]:
    """What the parts mean when the requests streamed from Triton's decoupled model."""
    if not (manifest.get("config") or {}).get("stream_tokens"):
        return []
    return ["", "- These requests streamed from Triton's decoupled model: its trace stamps the "
                "first response (gRPC's first GRPC_SEND_START; generate_stream's sends are not "
                "stamped, so REST has no server or wire part here), `model (input, infer)` is "
                "`execute` handing a request to the decode loop, and `wire and kernel` holds "
                "the whole stream after the first token: the streaming section splits the time "
                "to first token and between tokens.  A gRPC stream's request_end is its "
                "half-close, which may come after Triton read the request message."]


def _metrics_lines(server: dict) -> list[str]:
    deltas = (server.get("metrics") or {}).get("deltas") or {}
    def total(prefix):
        return sum(v for k, v in deltas.items() if k.startswith(prefix + "{"))
    ok = total("nv_inference_request_success")
    if not ok:
        return []
    per = {name: total(f"nv_inference_{name}_duration_us") / ok / 1e3
           for name in ("queue", "compute_input", "compute_infer", "compute_output")}
    execs = total("nv_inference_exec_count")
    return [f"- Triton's metrics over the run: {ok:.0f} successful requests in {execs:.0f} "
            f"executions; per request {per['queue']:.3f} ms queued, "
            f"{per['compute_infer']:.3f} ms in the model (compute input "
            f"{per['compute_input']:.3f}, output {per['compute_output']:.3f} ms)."] + \
        _cache_lines(total, ok)


def _cache_lines(total, ok: float) -> list[str]:
    """The response cache's hits and misses (only when Triton ran with one)."""
    hits, misses = total("nv_cache_num_hits_per_model"), total("nv_cache_num_misses_per_model")
    if not hits and not misses:
        return []
    return [f"- Triton's response cache: {hits:.0f} hits ({100 * hits / ok:.1f} % of the "
            f"successful requests, answered without running the model) and {misses:.0f} misses "
            "(nv_cache_num_hits_per_model, nv_cache_num_misses_per_model)."]
