"""The embedded TF Serving–compatible model server: gRPC and REST over one :class:`ServingCore`.

In-process use (tests, notebooks)::

    with ModelServer(ServerConfig(models=(ModelConfig("mnist", "/models/mnist"),),
                                  grpc_port=0, rest_port=0)) as server:
        print(server.grpc_port, server.rest_port)   # the ports actually bound

As a process: ``inferwire serve --model_base_path DIR/mnist --model_name mnist`` (see :mod:`.cli`),
or :class:`~.launch.ServerProcess`.  Models load before the ports open, so a port that accepts
connections serves.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ..errors import ServerError
from .batching import BatchingOptions
from .grpc_server import build_grpc_server
from .request_log import RequestLog
from .rest_server import RestApp, RestServer
from .servables import ModelConfig, ModelRegistry, SessionOptions
from .service import ServingCore
from .tls import TLSConfig, grpc_credentials, rest_context

DEFAULT_MAX_REQUEST_BYTES = 64 << 20


@dataclass(frozen=True)
class ServerConfig:
    """Everything the server needs; ports: None = off, 0 = any free port."""
    models: tuple[ModelConfig, ...]
    host: str = "127.0.0.1"
    grpc_port: int | None = 8500
    rest_port: int | None = 8501
    batching: BatchingOptions | None = None
    grpc_max_threads: int = 16
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    rest_idle_timeout_s: float = 60.0
    rest_max_connections: int = 1024        # one thread each; more get 503 and are closed
    rest_head_timeout_s: float = 20.0       # request line + headers, from their first byte
    tls: TLSConfig | None = None
    request_log: str | None = None          # JSON-lines path, "-" for stdout
    session: SessionOptions = field(default_factory=SessionOptions)
    token_time_ms: float = 10.0             # /v1/completions: time per generated token

    def __post_init__(self):
        if not self.models:
            raise ServerError("no model to serve: give --model_base_path (or a model config)")
        if self.grpc_port is None and self.rest_port is None:
            raise ServerError("both gRPC and REST are disabled")
        if self.max_request_bytes < 1024:
            raise ServerError("max_request_bytes must be at least 1024")
        if not 0 <= self.token_time_ms <= 60_000:
            raise ServerError("token_time_ms must be from 0 to 60000")
        if self.rest_max_connections < 1 or self.rest_head_timeout_s <= 0:
            raise ServerError("rest_max_connections and rest_head_timeout_s must be positive")


class ModelServer:
    """Loads the models, then serves gRPC and REST until :meth:`stop`."""

    def __init__(self, config: ServerConfig):
        self.config = config
        self.core: ServingCore | None = None
        self.grpc_port: int | None = None
        self.rest_port: int | None = None
        self._grpc = None
        self._rest: RestServer | None = None
        self._rest_thread: threading.Thread | None = None
        self._log = RequestLog(None)
        self._stopped = threading.Event()

    @property
    def host(self) -> str:
        return self.config.host

    def start(self) -> "ModelServer":
        cfg = self.config
        try:
            self._log = RequestLog(cfg.request_log)
            registry = ModelRegistry.load(cfg.models, cfg.session)
            self.core = ServingCore(registry, cfg.batching)
            if cfg.grpc_port is not None:
                creds = grpc_credentials(cfg.tls) if cfg.tls else None
                self._grpc, self.grpc_port = build_grpc_server(
                    self.core, self._log, host=cfg.host, port=cfg.grpc_port,
                    max_threads=cfg.grpc_max_threads, max_message_bytes=cfg.max_request_bytes,
                    credentials=creds)
                self._grpc.start()
            if cfg.rest_port is not None:
                self._rest = RestServer((cfg.host, cfg.rest_port), RestApp(
                    self.core, token_time_ns=int(cfg.token_time_ms * 1e6)), self._log,
                                        max_body_bytes=cfg.max_request_bytes,
                                        idle_timeout_s=cfg.rest_idle_timeout_s,
                                        tls_context=rest_context(cfg.tls) if cfg.tls else None,
                                        max_connections=cfg.rest_max_connections,
                                        head_timeout_s=cfg.rest_head_timeout_s)
                self.rest_port = self._rest.server_address[1]
                self._rest_thread = threading.Thread(target=self._rest.serve_forever,
                                                     kwargs={"poll_interval": 0.1},
                                                     name="inferwire-rest", daemon=True)
                self._rest_thread.start()
        except BaseException:
            self.stop()
            raise
        return self

    def describe(self) -> str:
        """The "ready" line: ``ready grpc=HOST:PORT rest=HOST:PORT tls=yes|no models=name@v,...``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        grpc_at = f"{host}:{self.grpc_port}" if self.grpc_port else "off"
        rest_at = f"{host}:{self.rest_port}" if self.rest_port else "off"
        models = self.core.registry.describe() if self.core else ""
        return (f"ready grpc={grpc_at} rest={rest_at} tls={'yes' if self.config.tls else 'no'} "
                f"batching={'yes' if self.config.batching else 'no'} models={models}")

    def stop(self, grace_s: float = 1.0) -> None:
        """Stop accepting, let running requests finish (up to ``grace_s``), release everything."""
        if self._rest is not None:
            self._rest.shutdown()
            self._rest.close_connections()
            self._rest.server_close()
            self._rest = None
        if self._grpc is not None:
            self._grpc.stop(grace_s).wait(grace_s + 1)
            self._grpc = None
        if self.core is not None:
            self.core.close()
            self.core = None
        self._log.close()
        self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until stopped; True if stopped."""
        return self._stopped.wait(timeout)

    def __enter__(self) -> "ModelServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
