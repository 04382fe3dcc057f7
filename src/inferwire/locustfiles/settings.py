"""The shipped locustfiles' settings, read from the environment (no locust import: testable and
readable by the capture run).  See the package docstring for the variables."""
from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass

from ..errors import LoadError
from .eventlog import LOG_DIR_ENV

DEFAULT_BATCH = 32


@dataclass(frozen=True)
class Settings:
    """The locustfiles' settings (see the package docstring for the variables)."""
    server: str = "localhost"
    rest_port: int = 8501
    grpc_port: int = 8500
    batch_size: int = DEFAULT_BATCH
    model_name: str = "mnist"
    rest_encoding: str = "json_row"
    grpc_encoding: str = "grpc_tensor_content"
    api: str = "tfserving"
    input_name: str = "images"
    output_name: str = "scores"
    think_time_s: float = 0.0
    id_prefix: str = "locust-"
    log_dir: str | None = None


def _number(environ, name: str, kind, default, minimum):
    text = environ.get(name)
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise LoadError(f"{name}={text!r} is not a {kind.__name__}") from None
    if value < minimum:
        raise LoadError(f"{name}={text!r}: must be at least {minimum}")
    return value


def settings_from_env(environ=None) -> Settings:
    """:class:`Settings` from ``environ`` (default ``os.environ``); LoadError names a bad one."""
    env = os.environ if environ is None else environ
    api = env.get("INFERWIRE_API") or "tfserving"
    if api not in ("tfserving", "v2"):
        raise LoadError(f"INFERWIRE_API={api!r}: use tfserving or v2")
    v2 = api == "v2"
    return Settings(
        server=env.get("SERVER") or "localhost",
        rest_port=_number(env, "REST_PORT", int, 8501, 1),
        grpc_port=_number(env, "GRPC_PORT", int, 8500, 1),
        batch_size=_number(env, "BATCHSIZE", int, DEFAULT_BATCH, 1),
        model_name=env.get("MODEL_NAME") or "mnist",
        rest_encoding=env.get("INFERWIRE_REST_ENCODING") or ("v2_json" if v2 else "json_row"),
        grpc_encoding=env.get("INFERWIRE_GRPC_ENCODING") or ("v2_raw" if v2
                                                             else "grpc_tensor_content"),
        api=api, input_name=env.get("INFERWIRE_INPUT_NAME") or "images",
        output_name=env.get("INFERWIRE_OUTPUT_NAME") or "scores",
        think_time_s=_number(env, "INFERWIRE_THINK_TIME_S", float, 0.0, 0.0),
        id_prefix=env.get("INFERWIRE_ID_PREFIX") or "locust-",
        log_dir=env.get(LOG_DIR_ENV) or None)


def grpc_target(host: str | None, settings: Settings) -> str:
    """``host:port`` for grpcio from a locust host ("grpc://h:p", "http://h:p", "h:p", "h")."""
    if not host:
        return f"{settings.server}:{settings.grpc_port}"
    parts = urllib.parse.urlsplit("//" + host.split("://", 1)[-1].rstrip("/"))
    name = parts.hostname or settings.server
    port = parts.port or settings.grpc_port
    return f"[{name}]:{port}" if ":" in name else f"{name}:{port}"
