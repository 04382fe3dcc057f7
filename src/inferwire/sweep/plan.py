"""The sweep grid: which capture runs (points) a sweep does, as plain data saved in plan.json.

A point is one capture run: a set of protocols run one after the other under one capture (REST
and gRPC together cost one server start), one batch size, one encoding per protocol, a closed loop
of ``users`` or an open loop at ``rate`` requests/s, a connection policy and a model.  A grid is the
Cartesian product of value lists per axis; :func:`findings_plan` is the union of small grids, one
per question the findings answer, small enough for a 2-core machine.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ..errors import InferwireError
from ..serving.encoding_names import (APIS, DEFAULT_ENCODING, GRPC_ENCODINGS,  # noqa: F401
                                      REST_ENCODINGS, V2_DEFAULT_ENCODING, encodings_for)
from ..experiment import RunConfig
from ..netns.profile import profile_from_spec
from ..runfolder import write_json

PROTOCOLS = ("rest", "grpc")
PLAN_VERSION = 1


def _own_encodings(protocol: str, api: str = "tfserving") -> tuple[str, ...]:
    return encodings_for(api, protocol)


def normalize_encoding(protocols: tuple[str, ...], wanted: tuple[str, ...],
                       api: str = "tfserving") -> tuple[str, ...]:
    """One encoding per protocol, in protocol order: the wanted one for it, else its default
    (``api`` "tfserving" or "v2": whose encodings)."""
    defaults = V2_DEFAULT_ENCODING if api == "v2" else DEFAULT_ENCODING
    out = []
    for p in protocols:
        mine = [e for e in wanted if e in _own_encodings(p, api)]
        if len(mine) > 1:
            raise InferwireError(f"encodings {mine} all apply to {p}: give one per protocol")
        out.append(mine[0] if mine else defaults[p])
    return tuple(out)


@dataclass(frozen=True)
class Point:
    """One capture run of a sweep.  ``encoding``: one per protocol (normalized); ``rate`` set means
    an open loop at that many requests/s (``users`` then unused)."""

    protocols: tuple[str, ...] = PROTOCOLS
    batch_size: int = 1
    encoding: tuple[str, ...] = ()
    users: int = 2
    rate: float | None = None
    connection: str = "reuse"
    model: str = "softmax"
    network: str | None = None      # a network spec (inferwire.netns.profile_from_spec) or None
    api: str = "tfserving"
    inputs: str = "repeated"        # or "unique": a different batch per request (RunConfig.inputs)
    response_cache: int = 0         # Triton's response cache, bytes (0: off)

    def __post_init__(self):
        if self.network is not None:
            profile_from_spec(self.network)          # a clear error now, not at run time
        protocols = tuple(self.protocols)
        if self.api not in APIS:
            raise InferwireError(f"api must be one of {APIS}, got {self.api!r}")
        foreign = [e for e in self.encoding or () if e.startswith("v2_") != (self.api == "v2")]
        if foreign:
            raise InferwireError(f"encodings {foreign} are not the {self.api} API's")
        if not protocols or any(p not in PROTOCOLS for p in protocols) \
                or len(set(protocols)) != len(protocols):
            raise InferwireError(f"protocols {protocols}: each once, from {PROTOCOLS}")
        object.__setattr__(self, "protocols", protocols)
        object.__setattr__(self, "encoding",
                           normalize_encoding(protocols, tuple(self.encoding or ()), self.api))
        if self.batch_size < 1:
            raise InferwireError(f"batch size must be >= 1, got {self.batch_size}")
        if self.rate is None and self.users < 1:
            raise InferwireError(f"users must be >= 1, got {self.users}")
        if self.rate is not None and self.rate <= 0:
            raise InferwireError(f"rate must be > 0 requests/s, got {self.rate}")
        if self.connection not in ("reuse", "new"):
            raise InferwireError(f"connection must be 'reuse' or 'new', got {self.connection!r}")
        if self.model not in ("softmax", "cnn"):
            raise InferwireError(f"model must be 'softmax' or 'cnn', got {self.model!r}")
        if self.inputs not in ("repeated", "unique"):
            raise InferwireError(f"inputs must be 'repeated' or 'unique', got {self.inputs!r}")
        if self.response_cache < 0:
            raise InferwireError(f"response cache size must be >= 0 bytes, got "
                                 f"{self.response_cache}")

    @property
    def id(self) -> str:
        """A name unique within a sweep, used in the run folder's name and to resume."""
        load = f"r{self.rate:g}" if self.rate is not None else f"u{self.users}"
        api = "v2-" if self.api == "v2" else ""        # TF Serving ids as before (resume)
        net = f"-net-{self.network.replace('=', '').replace(',', '-')}" if self.network else ""
        cache = ("-unique" if self.inputs == "unique" else "") + \
            (f"-cache{self.response_cache}" if self.response_cache else "")
        return (f"{api}{self.model}-b{self.batch_size}-{'+'.join(self.protocols)}-"
                f"{'+'.join(self.encoding)}-{load}-{self.connection}{net}{cache}")

    def encoding_for(self, protocol: str) -> str | None:
        return dict(zip(self.protocols, self.encoding)).get(protocol)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Point":
        return cls(**{**d, "protocols": tuple(d["protocols"]), "encoding": tuple(d["encoding"])})


@dataclass(frozen=True)
class Grid:
    """Value lists per axis; :meth:`points` is their Cartesian product, duplicates dropped.

    ``protocols``: protocol sets, e.g. (("rest", "grpc"),) for both in one run, or (("rest",),
    ("grpc",)) for separate runs.  ``encodings``: encoding sets, each with at most one encoding
    per protocol (the others get their default).  ``rates``: when given, open-loop points at each
    rate are made instead of closed-loop points at each ``users`` value.  ``apis``: "tfserving"
    and/or "v2" (the Open Inference Protocol); each point keeps the encodings of its API.
    ``inputs``: "repeated" and/or "unique" request inputs; ``response_caches``: Triton response
    cache sizes in bytes (0: off; any other needs the sweep's server "triton").
    """

    protocols: tuple = (PROTOCOLS,)
    batch_sizes: tuple = (1,)
    encodings: tuple = ((),)
    users: tuple = (2,)
    rates: tuple = ()
    connections: tuple = ("reuse",)
    models: tuple = ("softmax",)
    networks: tuple = (None,)
    apis: tuple = ("tfserving",)
    inputs: tuple = ("repeated",)
    response_caches: tuple = (0,)

    def points(self) -> list[Point]:
        loads = [(2, r) for r in self.rates] or [(u, None) for u in self.users]
        named = {e for enc in self.encodings for e in enc}
        stray = sorted(e for e in named if ("v2" if e.startswith("v2_") else "tfserving")
                       not in self.apis)
        if stray:
            raise InferwireError(f"encodings {stray} belong to no API of the grid "
                                 f"({', '.join(self.apis)}): add it with --api")
        seen, out = set(), []
        for api, model, batch, protos, enc, (users, rate), conn, net, inputs, cache in \
                itertools.product(self.apis, self.models, self.batch_sizes, self.protocols,
                                  self.encodings, loads, self.connections, self.networks,
                                  self.inputs, self.response_caches):
            enc = tuple(e for e in enc if e.startswith("v2_") == (api == "v2"))
            point = Point(tuple(protos), batch, enc, users, rate, conn, model, net, api, inputs,
                          cache)
            if point not in seen:
                seen.add(point)
                out.append(point)
        return out


@dataclass(frozen=True)
class Plan:
    """A sweep: its points and what every run shares.

    ``duration_s`` (or ``requests``) per protocol and ``warmup_requests`` per run; ``engine`` the
    load generator; ``server`` "embedded" or the host of a running server (``grpc_port``,
    ``rest_port``); ``cache_probe`` requests per input kind in the caching probe (0: no probe),
    sent with batches of ``cache_batch`` images to the ``cache_model``, in ``cache_api`` (None:
    "v2" for the managed servers "triton" and "kserve", else "tfserving"); with server "triton"
    and ``cache_bytes`` > 0 the probe runs twice, on a Triton without and one with a response
    cache of that many bytes.
    """

    points: tuple = ()
    duration_s: float | None = 2.0
    requests: int | None = None
    warmup_requests: int = 10
    engine: str = "inferwire"
    server: str = "embedded"
    grpc_port: int = 8500
    rest_port: int = 8501
    cache_probe: int = 0
    cache_batch: int = 1
    cache_model: str = "cnn"
    cache_api: str | None = None
    cache_bytes: int = 0
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "points", tuple(self.points))
        ids = [p.id for p in self.points]
        if len(set(ids)) != len(ids):
            raise InferwireError("a sweep plan lists the same point twice")
        if not self.points and not self.cache_probe:
            raise InferwireError("a sweep plan needs at least one point or the caching probe")
        if self.duration_s is None and self.requests is None:
            raise InferwireError("give a duration or a request count per run")
        if self.cache_model not in ("softmax", "cnn"):
            raise InferwireError(f"cache_model must be 'softmax' or 'cnn', got "
                                 f"{self.cache_model!r}")
        if self.cache_api not in (None, *APIS):
            raise InferwireError(f"cache_api must be one of {APIS}, got {self.cache_api!r}")
        cached = [p.id for p in self.points if p.response_cache] + \
            (["the caching probe"] if self.cache_bytes else [])
        if cached and self.server != "triton":
            raise InferwireError(f"a response cache is Triton's (--server triton), but the sweep's "
                                 f"server is {self.server!r}: {', '.join(cached[:3])}")

    @property
    def probe_api(self) -> str:
        """The API the caching probe speaks."""
        if self.cache_api:
            return self.cache_api
        return "v2" if self.server in ("triton", "kserve") else "tfserving"

    def run_config(self, point: Point, out, progress: bool = False):
        """The RunConfig of ``point``: results go under ``out``, the run folder named for it."""
        return RunConfig(
            out=str(out), name=point.id, server=self.server, grpc_port=self.grpc_port,
            rest_port=self.rest_port, model=point.model, protocols=point.protocols,
            engine=self.engine, batch_size=point.batch_size, encoding=point.encoding,
            api=point.api,
            connection=point.connection, mode="open" if point.rate else "closed",
            users=point.users, rate=point.rate, duration_s=self.duration_s,
            requests=self.requests, warmup_requests=self.warmup_requests, progress=progress,
            network=_network(point), inputs=point.inputs, extra=response_cache_extra(
                point.response_cache))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["points"] = [p.to_dict() for p in self.points]
        return {"version": PLAN_VERSION, **d}

    @classmethod
    def from_dict(cls, d: dict) -> "Plan":
        d = dict(d)
        if d.pop("version", None) != PLAN_VERSION:
            raise InferwireError(f"plan.json version is not {PLAN_VERSION}: made by another "
                                 "inferwire; start a new sweep folder")
        d["points"] = tuple(Point.from_dict(p) for p in d.get("points", ()))
        return cls(**d)

    def save(self, path: Path) -> None:
        write_json(Path(path), self.to_dict())

    @classmethod
    def load(cls, path: Path) -> "Plan":
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise InferwireError(f"{path}: not a readable sweep plan: {exc}") from exc
        try:
            return cls.from_dict(data)
        except (TypeError, KeyError) as exc:
            raise InferwireError(f"{path}: not a sweep plan ({exc})") from exc


def response_cache_extra(size_bytes: int) -> dict:
    """RunConfig.extra keys for Triton's response cache of ``size_bytes`` (0: none)."""
    if not size_bytes:
        return {}
    return {"triton_response_cache": True, "triton_cache_bytes": int(size_bytes)}


def _network(point: Point):
    if point.network is None:
        return None
    return profile_from_spec(point.network)


def network_specs(bandwidths=(None,), losses=(None,)) -> tuple:
    """Network specs of the product of bandwidths (e.g. "100mbit") and loss percentages."""
    specs = []
    for bw, loss in itertools.product(bandwidths or (None,), losses or (None,)):
        knobs = ([f"bw={bw}"] if bw is not None else []) + \
                ([f"loss={loss:g}"] if loss is not None else [])
        specs.append(",".join(["veth", *knobs]))
    return tuple(specs)


#: the network findings (docs/findings-network.md): where each protocol's time goes as the
#: link between client and server narrows and loses packets (REST and gRPC, batch 1 and 32)
NETWORK_GRID = Grid(batch_sizes=(1, 32),
                    networks=network_specs(("1gbit", "100mbit", "10mbit"), (0, 1, 3)))


#: the small grids of the findings, one per question (answers in docs/findings.md)
FINDINGS_GRIDS = {
    # 1. inference vs transport: batch size x model, and a new connection per request
    "transport": Grid(batch_sizes=(1, 32, 256), models=("softmax", "cnn")),
    "connection": Grid(connections=("reuse", "new")),
    # 2. CPU- or IO-bound: throughput and CPU as concurrency grows
    "concurrency": Grid(users=(1, 2, 4, 8)),
    # 3. caching under capture: repeated vs unique inputs, one user (beside the caching probe)
    "cache": Grid(users=(1,), inputs=("repeated", "unique")),
    # 4. schema and data type: every encoding, at a batch where payloads are sizeable
    "encoding": Grid(batch_sizes=(32,), encodings=(("json_row", "grpc_tensor_content"),
                                                   ("json_columnar", "grpc_float_val"),
                                                   ("json_b64", "grpc_string_val"))),
}


def findings_plan(**settings) -> Plan:
    """The default sweep: the union of :data:`FINDINGS_GRIDS` (CNN only at batch 1 and 256, to
    keep the sweep to a few minutes) and the caching probe (question 3)."""
    points, seen = [], set()
    for name, grid in FINDINGS_GRIDS.items():
        for p in grid.points():
            if name == "transport" and p.model == "cnn" and p.batch_size == 32:
                continue
            if p not in seen:
                seen.add(p)
                points.append(p)
    settings.setdefault("cache_probe", 40)
    return Plan(points=tuple(points), **settings)


#: the findings on real servers (docs/findings-servers.md): the same V2 client against each server
SERVER_GRIDS = {
    # 1. inference vs transport (and 4's baseline): batch 1 and 32, softmax; CNN at batch 1
    "transport": Grid(batch_sizes=(1, 32), apis=("v2",)),
    "model": Grid(models=("cnn",), apis=("v2",)),
    # 2. CPU- or IO-bound: closed-loop users 1, 2, 4
    "concurrency": Grid(users=(1, 4), apis=("v2",)),
    # 4. schema and data type: the other V2 encodings at batch 32
    "encoding": Grid(batch_sizes=(32,), encodings=(("v2_binary", "v2_fp32_contents"),),
                     apis=("v2",)),
}
#: 3. caching: repeated and unique inputs, one user (every server); Triton also with its response
#: cache of this many bytes
CACHE_GRID_BYTES = 16 << 20


def server_findings_plan(server: str, **settings) -> Plan:
    """The sweep of the findings on real servers for ``server`` (embedded, triton, kserve): the
    union of :data:`SERVER_GRIDS`, with Triton also its response cache off/on x repeated/unique
    inputs, and the caching probe (with Triton: without and with the cache)."""
    grids = [*SERVER_GRIDS.values(), Grid(users=(1,), apis=("v2",), inputs=("repeated", "unique"))]
    if server == "triton":
        grids.append(Grid(users=(1,), apis=("v2",), inputs=("repeated", "unique"),
                          response_caches=(0, CACHE_GRID_BYTES)))
        settings.setdefault("cache_bytes", CACHE_GRID_BYTES)
    points, seen = [], set()
    for grid in grids:
        for p in grid.points():
            if p not in seen:
                seen.add(p)
                points.append(p)
    settings.setdefault("cache_probe", 20)
    settings.setdefault("cache_model", "softmax")
    return Plan(points=tuple(points), server=server, **settings)


def grid_plan(grid: Grid, **settings) -> Plan:
    return Plan(points=tuple(grid.points()), **settings)


def with_points(plan: Plan, points) -> Plan:
    return replace(plan, points=tuple(points))
