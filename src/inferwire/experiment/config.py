"""What a capture run does: one explicit dataclass, defaults in one place."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

from ..errors import InferwireError

PROTOCOLS = ("rest", "grpc")
REST_ENCODINGS = ("json_row", "json_columnar", "json_b64")
GRPC_ENCODINGS = ("grpc_float_val", "grpc_tensor_content", "grpc_string_val")


@dataclass
class RunConfig:
    """A capture run.

    ``server``: "embedded" (start inferwire's TF Serving-compatible server on a real SavedModel) or
    a host name/address of a running TF Serving (e.g. the docker one), reached on ``grpc_port`` and
    ``rest_port``.  ``protocols`` run one after the other under one capture.  Load: ``mode``
    "closed" (``users`` concurrent users, ``think_time_s``) or "open" (``rate`` requests/s,
    ``arrival`` "constant" or "poisson"); for ``duration_s`` seconds or ``requests`` requests per
    protocol, after ``warmup_requests`` unmeasured ones.  ``encoding`` applies to the protocol it
    belongs to (json_* to REST, grpc_* to gRPC).  ``connection`` "reuse" or "new" (a new TCP
    connection per request, to measure handshakes).  Capture: ``tool`` dumpcap|tshark|tcpdump on
    ``interface`` with a ``buffer_mb`` MiB kernel buffer.  Results go to a new folder under ``out``.
    """

    out: str = "results"
    name: str | None = None
    server: str = "embedded"
    grpc_port: int = 8500
    rest_port: int = 8501
    model: str = "softmax"
    model_name: str = "mnist"
    protocols: tuple = PROTOCOLS
    batch_size: int = 1
    encoding: tuple = ()
    connection: str = "reuse"
    mode: str = "closed"
    users: int = 2
    think_time_s: float = 0.0
    rate: float | None = None
    arrival: str = "constant"
    duration_s: float | None = 3.0
    requests: int | None = None
    warmup_requests: int = 10
    tool: str = "dumpcap"
    interface: str = "lo"
    buffer_mb: int = 256
    snaplen: int = 0
    enable_batching: bool = False
    max_batch_size: int | None = None
    batch_timeout_micros: int | None = None
    progress: bool = True
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.protocols = tuple(self.protocols)
        self.encoding = tuple(self.encoding or ())
        bad = [p for p in self.protocols if p not in PROTOCOLS]
        if bad or not self.protocols:
            raise InferwireError(f"protocols {self.protocols}: each must be one of {PROTOCOLS}")
        for enc in self.encoding:
            if enc not in REST_ENCODINGS + GRPC_ENCODINGS:
                raise InferwireError(f"encoding {enc!r}: use one of "
                                     f"{REST_ENCODINGS + GRPC_ENCODINGS}")
        if self.batch_size < 1:
            raise InferwireError(f"batch size must be >= 1, got {self.batch_size}")
        if self.mode not in ("closed", "open"):
            raise InferwireError(f"mode must be 'closed' or 'open', got {self.mode!r}")
        if self.mode == "open" and not self.rate:
            raise InferwireError("open-loop runs need a rate (requests/s)")
        if self.connection not in ("reuse", "new"):
            raise InferwireError(f"connection must be 'reuse' or 'new', got {self.connection!r}")
        if self.model not in ("softmax", "cnn"):
            raise InferwireError(f"model must be 'softmax' or 'cnn', got {self.model!r}")
        if self.duration_s is None and self.requests is None:
            raise InferwireError("give a duration or a request count")

    @property
    def embedded(self) -> bool:
        return self.server == "embedded"

    def encoding_for(self, protocol: str) -> str | None:
        """The encoding asked for ``protocol``, or None for the client's default."""
        own = REST_ENCODINGS if protocol == "rest" else GRPC_ENCODINGS
        return next((e for e in self.encoding if e in own), None)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_env(cls, **overrides) -> "RunConfig":
        """Defaults, then the seed's environment variables (BATCHSIZE, SERVER), then ``overrides``
        (every key given, None included, overrides)."""
        values = {}
        if os.environ.get("BATCHSIZE"):
            try:
                values["batch_size"] = int(os.environ["BATCHSIZE"])
            except ValueError:
                raise InferwireError(f"BATCHSIZE={os.environ['BATCHSIZE']!r} is not a whole "
                                     "number") from None
        if os.environ.get("SERVER"):
            values["server"] = os.environ["SERVER"]
        values.update(overrides)
        return cls(**values)
