"""The request encodings' names, per API and protocol, and what the clients send by default.

Names only (no numpy, no protos), so that the run's configuration, sweeps and reports can read
them without loading a codec; the codecs are :mod:`inferwire.serving.encodings` (TF Serving's
API) and :mod:`inferwire.serving.v2.codec` (the Open Inference Protocol, api "v2").
"""
from __future__ import annotations

APIS = ("tfserving", "v2")
REST_ENCODINGS = ("json_row", "json_columnar", "json_b64")
GRPC_ENCODINGS = ("grpc_float_val", "grpc_tensor_content", "grpc_string_val")
V2_REST_ENCODINGS = ("v2_json", "v2_binary")
V2_GRPC_ENCODINGS = ("v2_fp32_contents", "v2_raw")
#: what the clients send when no encoding is asked for (inferwire.serving.clients.make_client)
DEFAULT_ENCODING = {"rest": "json_row", "grpc": "grpc_tensor_content"}
#: the same with the Open Inference Protocol (api "v2")
V2_DEFAULT_ENCODING = {"rest": "v2_json", "grpc": "v2_raw"}


def encodings_for(api: str, protocol: str) -> tuple:
    """The encodings of ``protocol`` ("rest"/"grpc") in ``api`` ("tfserving"/"v2")."""
    if api == "v2":
        return V2_REST_ENCODINGS if protocol == "rest" else V2_GRPC_ENCODINGS
    return REST_ENCODINGS if protocol == "rest" else GRPC_ENCODINGS


def default_encoding(api: str, protocol: str) -> str:
    """The encoding the clients send for ``protocol`` in ``api`` when none is asked for."""
    return (V2_DEFAULT_ENCODING if api == "v2" else DEFAULT_ENCODING)[protocol]
