"""inferwire: where each ML inference request's time goes, read from the packets."""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import (CaptureError, CaptureFormatError, InferwireError, InferwireWarning, LoadError,
                     ProtocolError, ServerError)

__all__ = ["__version__", "InferwireError", "CaptureFormatError", "ProtocolError", "CaptureError",
           "ServerError", "LoadError", "InferwireWarning", "analyze", "Analysis"]


def __getattr__(name):  # lazy: importing inferwire must not import pandas/TensorFlow eagerly
    if name in ("analyze", "Analysis"):
        from . import analysis
        return getattr(analysis, name)
    raise AttributeError(name)
