"""Status codes of the serving APIs: gRPC code names, and the HTTP status TF Serving maps each to.

The embedded server raises :class:`ApiError` anywhere below the protocol shells; the gRPC shell turns
it into the gRPC status, the REST shell into ``{"error": message}`` with :func:`http_status`.
"""
from __future__ import annotations

from ..errors import ServerError

OK = "OK"
CANCELLED = "CANCELLED"
UNKNOWN = "UNKNOWN"
INVALID_ARGUMENT = "INVALID_ARGUMENT"
DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
NOT_FOUND = "NOT_FOUND"
ALREADY_EXISTS = "ALREADY_EXISTS"
PERMISSION_DENIED = "PERMISSION_DENIED"
RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
FAILED_PRECONDITION = "FAILED_PRECONDITION"
ABORTED = "ABORTED"
OUT_OF_RANGE = "OUT_OF_RANGE"
UNIMPLEMENTED = "UNIMPLEMENTED"
INTERNAL = "INTERNAL"
UNAVAILABLE = "UNAVAILABLE"
DATA_LOSS = "DATA_LOSS"
UNAUTHENTICATED = "UNAUTHENTICATED"

# tensorflow_serving/model_servers/http_server.cc ToHTTPStatusCode()
_HTTP = {OK: 200, CANCELLED: 499, UNKNOWN: 500, INVALID_ARGUMENT: 400, DEADLINE_EXCEEDED: 504,
         NOT_FOUND: 404, ALREADY_EXISTS: 409, PERMISSION_DENIED: 403, RESOURCE_EXHAUSTED: 429,
         FAILED_PRECONDITION: 400, ABORTED: 409, OUT_OF_RANGE: 400, UNIMPLEMENTED: 501,
         INTERNAL: 500, UNAVAILABLE: 503, DATA_LOSS: 500, UNAUTHENTICATED: 401}

# tensorflow/core/protobuf/error_codes.proto numbers, for StatusProto.error_code
CODE_NUMBERS = {OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4,
                NOT_FOUND: 5, ALREADY_EXISTS: 6, PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8,
                FAILED_PRECONDITION: 9, ABORTED: 10, OUT_OF_RANGE: 11, UNIMPLEMENTED: 12,
                INTERNAL: 13, UNAVAILABLE: 14, DATA_LOSS: 15, UNAUTHENTICATED: 16}


def http_status(code: str) -> int:
    """The HTTP status TF Serving's REST API answers for a gRPC status code name."""
    return _HTTP.get(code, 500)


class ApiError(ServerError):
    """A request the server answers with an error status (``code`` is a gRPC code name)."""

    def __init__(self, code: str, message: str):
        self.code, self.message = code, message
        super().__init__(f"{code}: {message}")


def invalid(message: str) -> ApiError:
    return ApiError(INVALID_ARGUMENT, message)
