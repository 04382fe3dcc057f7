"""The ports a capture run gives the server it starts (experiment.run._usable_ports)."""
from __future__ import annotations

import socket

import pytest

from inferwire.errors import ServerError
from inferwire.experiment.config import RunConfig
from inferwire.experiment.run import _usable_ports


def _hold(port: int) -> socket.socket | None:
    """A listening socket on 127.0.0.1:port, or None when something else already has it."""
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        return None
    s.listen()
    return s


def test_taken_defaults_become_two_distinct_free_ports():
    """Both defaults taken: two free ports, never the same one twice (each was once a free_ports(1)
    of its own, which the kernel may hand out twice), never a default, both bindable now."""
    held = [s for s in (_hold(8500), _hold(8501)) if s is not None]
    try:
        for _ in range(50):
            grpc, rest = _usable_ports(RunConfig())
            assert grpc != rest
            assert {grpc, rest}.isdisjoint({8500, 8501, 0})
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", grpc))
                b.bind(("127.0.0.1", rest))
    finally:
        for s in held:
            s.close()


def test_a_given_port_that_is_taken_is_an_error_naming_it():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(ServerError, match=f"--rest-port {port} is taken"):
            _usable_ports(RunConfig(rest_port=port))


def test_given_free_ports_are_kept():
    with socket.socket() as a, socket.socket() as b:
        a.bind(("127.0.0.1", 0))
        b.bind(("127.0.0.1", 0))
        ports = (a.getsockname()[1], b.getsockname()[1])
    assert _usable_ports(RunConfig(grpc_port=ports[0], rest_port=ports[1])) == ports
