"""Predict clients: :func:`make_client` picks the client for a protocol, an API (TF Serving's
predict API, :mod:`.tfserving_clients`; the Open Inference Protocol, :mod:`.v2.clients`) and an
encoding.  The TF Serving clients and their helpers are re-exported here, where they always were.
"""
from __future__ import annotations

import ssl

from ..errors import LoadError
from . import encodings as E
from .tfserving_clients import (DEFAULT_PORTS, ENCODINGS, GrpcClient, PredictClient, PredictResult,
                                RestClient, new_request_id, sample_images)
from .v2 import clients as v2
from .v2.codec import V2_GRPC_ENCODINGS, V2_REST_ENCODINGS

__all__ = ["ENCODINGS", "PredictResult", "PredictClient", "RestClient", "GrpcClient", "make_client",
           "new_request_id", "sample_images"]

APIS = ("tfserving", "v2")


def make_client(protocol: str, host: str = "127.0.0.1", port: int | None = None, *,
                encoding: str | None = None, model_name: str = "mnist",
                signature_name: str | None = None, connection: str = "reuse", tls: bool = False,
                ca_cert: str | None = None, keylog_file: str | None = None, timeout_s: float = 30.0,
                version: int | None = None, api: str | None = None,
                **v2_options) -> PredictClient:
    """A predict client.  ``protocol``: "rest" or "grpc"; ``api``: "tfserving" (TF Serving's
    predict API) or "v2" (the Open Inference Protocol), by default the one ``encoding`` belongs
    to, else "tfserving".  ``encoding`` defaults to json_row / grpc_tensor_content (V2: v2_json /
    v2_raw); ``port`` defaults to 8501 / 8500.  V2 clients take ``input_name`` and ``output_name``
    (default "images" / "scores")."""
    if protocol not in DEFAULT_PORTS:
        raise LoadError(f"protocol must be 'rest' or 'grpc', got {protocol!r}")
    if api is None:
        api = "v2" if encoding and encoding.startswith("v2_") else "tfserving"
    if api not in APIS:
        raise LoadError(f"api must be one of {', '.join(APIS)}, got {api!r}")
    if api == "v2":
        allowed = V2_REST_ENCODINGS if protocol == "rest" else V2_GRPC_ENCODINGS
    else:
        allowed = E.REST_ENCODINGS if protocol == "rest" else E.GRPC_ENCODINGS
    encoding = encoding or allowed[0 if protocol == "rest" else 1]   # gRPC: raw bytes
    if encoding not in allowed:
        raise LoadError(f"encoding {encoding!r} does not go with {protocol} ({api}); use one of "
                        f"{', '.join(allowed)}")
    if connection not in ("reuse", "new"):
        raise LoadError(f"connection must be 'reuse' or 'new', got {connection!r}")
    if ca_cert and not tls:
        raise LoadError("ca_cert given without tls=True")
    if v2_options and api != "v2":
        raise LoadError(f"options {', '.join(sorted(v2_options))} are for api='v2' clients only")
    if api == "v2":
        cls = v2.V2RestClient if protocol == "rest" else v2.V2GrpcClient
    else:
        cls = RestClient if protocol == "rest" else GrpcClient
    try:
        ssl_err = ssl.SSLError
        return cls(host, port or DEFAULT_PORTS[protocol], encoding=encoding, model_name=model_name,
                   signature_name=signature_name, version=version, connection=connection, tls=tls,
                   ca_cert=ca_cert, keylog_file=keylog_file, timeout_s=timeout_s, **v2_options)
    except (OSError, ssl_err) as exc:
        raise LoadError(f"cannot set up the {protocol} client: {exc}") from exc
