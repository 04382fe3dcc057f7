"""Which optional dependency comes with which extra, and the error that says so.

``pip install inferwire`` analyzes captures and makes reports (numpy, pandas, pyarrow, hpack,
cryptography, matplotlib, tqdm).  Serving and exporting models, generating load and analyzing
on Dask need the extras named here; a feature used without its extra raises
:class:`MissingExtraError` naming the package and the extra to install.
"""
from __future__ import annotations

import importlib.util

from .errors import InferwireError

#: top-level module -> (the distribution that provides it, the extra that brings it)
PROVIDERS = {
    "tensorflow": ("tensorflow", "serve"),
    "tensorflow_serving": ("tensorflow-serving-api", "serve"),
    "grpc": ("grpcio", "serve"),
    "google": ("protobuf", "serve"),
    "psutil": ("psutil", "load"),
    "locust": ("locust", "load"),
    "gevent": ("gevent", "load"),
    "dask": ("dask[distributed]", "parallel"),
    "distributed": ("dask[distributed]", "parallel"),
}


class MissingExtraError(InferwireError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def _message(module: str, what: str | None) -> str:
    package, extra = PROVIDERS.get(module, (module, "all"))
    need = f"{what} needs {package}" if what else f"{package} is needed here"
    return (f"{need}, which is not installed: it comes with inferwire's '{extra}' extra "
            f"(pip install 'inferwire[{extra}]', or 'inferwire[all]' for every feature)")


def missing_extra(exc: ModuleNotFoundError, what: str | None = None
                  ) -> MissingExtraError | None:
    """The :class:`MissingExtraError` for ``exc`` when the missing module is an optional
    dependency of :data:`PROVIDERS`, else None (a missing module of inferwire itself is a
    bug)."""
    top = (exc.name or "").split(".")[0]
    return MissingExtraError(_message(top, what)) if top in PROVIDERS else None


def require(*modules: str, what: str) -> None:
    """Raise :class:`MissingExtraError` unless every one of ``modules`` can be imported;
    ``what``: the feature that needs them ("a capture run", "analyze_many", ...)."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError(_message(module, what))
