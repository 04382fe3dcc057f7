"""The BPF capture filter of a session, derived from the target ports.

Only TCP is kept: TF Serving's REST (HTTP/1.1) and gRPC (HTTP/2) both run on TCP.  The session's
probe port is always OR-ed in, whatever ``extra`` says, so that the liveness probe is always seen.
"""
from __future__ import annotations

from collections.abc import Iterable

from ..errors import CaptureError


def _check_port(port: object) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise CaptureError(f"port {port!r} is not a TCP port number (1..65535)")
    return port


def ports_expression(ports: Iterable[int]) -> str:
    """``tcp port A or tcp port B``: both directions of every port (src or dst); "" for no ports."""
    unique = sorted({_check_port(p) for p in ports})
    return " or ".join(f"tcp port {p}" for p in unique)


def build_filter(ports: Iterable[int], probe_port: int | None = None,
                 extra: str | None = None) -> str:
    """The libpcap filter string for ``ports`` (AND ``extra``), OR the probe port.

    Returns "" (capture everything) when there are no ports, no extra filter and no probe port.
    """
    targets = ports_expression(ports)
    extra = (extra or "").strip()
    if targets and extra:
        kept = f"({targets}) and ({extra})"
    else:
        kept = targets or (f"({extra})" if extra else "")
    if probe_port is None:
        return kept
    probe = f"tcp port {_check_port(probe_port)}"
    if not kept:
        # Nothing else restricts the capture: everything, the probe included, is kept.
        return ""
    return f"({kept}) or {probe}" if extra else f"{kept} or {probe}"
