"""Free loopback ports for embedded servers (runs, sweep points, benchmarks)."""
from __future__ import annotations

import socket


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on 127.0.0.1 now (held together while chosen).

    Each point gets its own instead of 8500/8501, which other servers on a shared machine may take
    between the run's check and its bind.  Port 0 cannot be passed on: for TF Serving's
    ``--rest_api_port`` 0 means "no REST".
    """
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()
