"""Free loopback ports for embedded servers (runs, sweep points, benchmarks)."""
from __future__ import annotations

import random
import socket

EPHEMERAL_RANGE_FILE = "/proc/sys/net/ipv4/ip_local_port_range"
#: ports below the kernel's ephemeral range drawn from (the range's low end minus this, up to it)
BELOW_EPHEMERAL = 12000
TRIES_PER_PORT = 50


def ephemeral_range(path: str | None = None) -> tuple[int, int]:
    """The kernel's ephemeral port range, from ``path`` (default ``EPHEMERAL_RANGE_FILE``);
    Linux's default 32768-60999 when it cannot be read."""
    try:
        with open(path or EPHEMERAL_RANGE_FILE) as f:
            low, high = (int(x) for x in f.read().split()[:2])
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on 127.0.0.1 now (held together while chosen).

    Each point gets its own instead of 8500/8501, which other servers on a shared machine may take
    between the run's check and its bind.  Port 0 cannot be passed on: for TF Serving's
    ``--rest_api_port`` 0 means "no REST".

    They are drawn below the kernel's ephemeral range: a port the kernel gives to ``bind(0)`` is one
    it also gives to outgoing connections, and a load generator's thousands of connections could take
    it before the server binds.  Falls back to ``bind(0)`` when that range is crowded."""
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            socks.append(free_socket())
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_socket() -> socket.socket:
    """A TCP socket bound (not listening) to a free 127.0.0.1 port below the ephemeral range
    (see ``free_ports``); the caller closes it when the port is to be used."""
    low, _ = ephemeral_range()
    pool = range(max(1024, low - BELOW_EPHEMERAL), low)
    s = socket.socket()
    try:
        for port in random.sample(pool, min(TRIES_PER_PORT, len(pool))) if len(pool) else ():
            try:
                s.bind(("127.0.0.1", port))
                return s
            except OSError:
                continue
        s.bind(("127.0.0.1", 0))
        return s
    except BaseException:
        s.close()
        raise
