"""ghz (bojand/ghz), the gRPC benchmarking tool: detection, its command line, its JSON report.

ghz is not installable from this machine's package registries (it is a Go binary released on
GitHub), so inferwire detects it on PATH and says so when it is missing.  When present it is the
one reference tool that can put a different id on every gRPC call: metadata templates
(``{"x-request-id": "ghz-{{.RequestNumber}}"}``) make its calls join the capture by id.

The JSON report (``-O json``, ghz >= 0.70): ``count``, ``total``/``average``/``fastest``/
``slowest`` (ns), ``rps``, ``errorDistribution``, ``statusCodeDistribution``,
``latencyDistribution`` [{``percentage``, ``latency`` ns}] over successful calls, ``histogram``
and ``details`` [{``timestamp`` (RFC 3339 with ns, when the call ended), ``latency`` ns,
``error``, ``status``}].
"""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
import importlib

import pandas as pd

from ..errors import LoadError
from ..serving import protos  # noqa: F401  (its dependencies, without importing TensorFlow)

GHZ_CALL = "tensorflow.serving.PredictionService.Predict"
MISSING = ("ghz is not installed here: it is not in this machine's package registries. "
           "Install a release binary from https://github.com/bojand/ghz/releases onto PATH to "
           "use it; ab and h2load cover REST and gRPC meanwhile.")


def ghz_path() -> str | None:
    """The ghz executable on PATH, or None."""
    return shutil.which("ghz")


def require_ghz() -> str:
    """The ghz executable, or LoadError saying it is missing and where to get it."""
    path = ghz_path()
    if path is None:
        raise LoadError(MISSING)
    return path


def predict_protoset() -> bytes:
    """A serialized FileDescriptorSet of TF Serving's PredictionService and every file it
    imports (dependencies first), built from the generated Python modules: what ghz's
    ``--protoset`` wants, without protoc or the .proto sources."""

    from google.protobuf import descriptor_pb2  # deferred: google is optional (serve/load (protobuf))

    root = importlib.import_module("tensorflow_serving.apis.prediction_service_pb2").DESCRIPTOR
    ordered, seen = [], set()

    def visit(fd):
        if fd.name in seen:
            return
        seen.add(fd.name)
        for dep in fd.dependencies:
            visit(dep)
        ordered.append(fd)
    visit(root)
    out = descriptor_pb2.FileDescriptorSet()
    for fd in ordered:
        fd.CopyToProto(out.file.add())
    return out.SerializeToString()


def ghz_command(target: str, *, protoset_path: str, data_path: str, concurrency: int = 1,
                connections: int = 1, requests: int | None = None,
                duration_s: float | None = None, id_prefix: str = "ghz-",
                output_path: str | None = None, skip_first: int = 0,
                ghz: str = "ghz") -> list[str]:
    """ghz's argv for TF Serving Predict with a binary (serialized, unframed) PredictRequest
    and a per-call ``x-request-id`` of ``id_prefix`` + the call number."""
    if requests is None and duration_s is None:
        raise LoadError("ghz needs a request count or a duration")
    metadata = json.dumps({"x-request-id": id_prefix + "{{.RequestNumber}}"})
    argv = [ghz, "--insecure", "--protoset", str(protoset_path), "--call", GHZ_CALL,
            "--binary-file", str(data_path), "--metadata", metadata,
            "-c", str(concurrency), "--connections", str(connections), "-O", "json"]
    if requests is not None:
        argv += ["-n", str(requests)]
    if duration_s is not None:
        argv += ["-z", f"{duration_s:g}s"]
    if skip_first:
        argv += ["--skipFirst", str(skip_first)]
    if output_path is not None:
        argv += ["-o", str(output_path)]
    return argv + [target]


@dataclass
class GhzReport:
    """ghz's JSON report: times in ns; ``latency_ns`` {10: .., 50: .., 99: ..} over successful
    calls; ``details`` one row per call (``finished_ns``, ``started_ns``, ``latency_ns``,
    ``status``, ``error``, ``ok``)."""
    count: int
    total_ns: int
    average_ns: int
    fastest_ns: int
    slowest_ns: int
    rps: float
    end_reason: str | None = None
    status_codes: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    latency_ns: dict = field(default_factory=dict)
    details: pd.DataFrame | None = None


_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)")


def rfc3339_ns(text: str) -> int:
    """An RFC 3339 time with up to 9 fraction digits (Go's RFC3339Nano) as ns since the epoch;
    ValueError if it is not one.  (datetime keeps µs only, so the fraction is added here.)"""
    m = _RFC3339.fullmatch(text)
    if not m:
        raise ValueError(f"{text!r} is not an RFC 3339 time")
    base, frac, zone = m.groups()
    tz = timezone.utc if zone == "Z" else timezone(
        (1 if zone[0] == "+" else -1) * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    seconds = int(datetime.fromisoformat(base).replace(tzinfo=tz).timestamp())
    return seconds * 1_000_000_000 + int((frac or "0").ljust(9, "0"))


def parse_ghz_json(text: str, source: str = "ghz report") -> GhzReport:
    """ghz's ``-O json`` / ``-O pretty`` report; LoadError naming ``source`` and the field."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise LoadError(f"{source}: not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise LoadError(f"{source}: a ghz report is a JSON object, got {type(doc).__name__}")
    try:
        report = GhzReport(int(doc["count"]), int(doc["total"]), int(doc.get("average", 0)),
                           int(doc.get("fastest", 0)), int(doc.get("slowest", 0)),
                           float(doc.get("rps", 0.0)), doc.get("endReason"),
                           dict(doc.get("statusCodeDistribution") or {}),
                           dict(doc.get("errorDistribution") or {}))
    except KeyError as exc:
        raise LoadError(f"{source}: field {exc.args[0]} missing") from None
    except (TypeError, ValueError) as exc:
        raise LoadError(f"{source}: a summary field is not a number ({exc})") from None
    for i, item in enumerate(doc.get("latencyDistribution") or ()):
        try:
            report.latency_ns[int(item["percentage"])] = int(item["latency"])
        except (KeyError, TypeError, ValueError):
            raise LoadError(f"{source}: latencyDistribution[{i}] lacks a numeric percentage "
                            "and latency") from None
    report.details = _details(doc.get("details") or [], source)
    return report


def _details(items: list, source: str) -> pd.DataFrame:
    rows = []
    for i, item in enumerate(items):
        try:
            finished = rfc3339_ns(item["timestamp"])
            latency = int(item["latency"])
        except (KeyError, TypeError, ValueError) as exc:
            raise LoadError(f"{source}: details[{i}], field timestamp/latency: {exc}") from None
        error = item.get("error") or None
        rows.append((finished - latency, finished, latency, item.get("status"), error,
                     error is None))
    return pd.DataFrame(rows, columns=["started_ns", "finished_ns", "latency_ns", "status",
                                       "error", "ok"])
