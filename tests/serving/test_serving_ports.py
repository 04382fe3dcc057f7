"""The gRPC front end's "any free port" on 0.0.0.0: a port taken between its choice and the bind
is chosen again, not a failed start (CI once lost a run to a port free on IPv6 but held on IPv4)."""
from __future__ import annotations

import socket

import pytest

from inferwire.errors import ServerError
from inferwire.serving import grpc_server


def _held_ipv4() -> socket.socket:
    held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    held.bind(("0.0.0.0", 0))
    held.listen()
    return held


def _server(models_dir, port):
    from inferwire.serving.servables import ModelConfig
    from inferwire.serving.server import ModelServer, ServerConfig
    return ModelServer(ServerConfig(models=(ModelConfig("mnist", str(models_dir / "mnist")),),
                                    host="0.0.0.0", grpc_port=port, rest_port=None))


def test_auto_port_taken_on_ipv4_is_chosen_again(models_dir, monkeypatch):
    real = grpc_server._free_on_both
    calls = []
    with _held_ipv4() as held:
        busy = held.getsockname()[1]

        def first_busy(port):
            calls.append(port)
            # the first choice is the race lost: a port free on IPv6, held on IPv4
            return grpc_server._ipv6_guard(busy) if len(calls) == 1 else real(port)

        monkeypatch.setattr(grpc_server, "_free_on_both", first_busy)
        with _server(models_dir, 0) as server:
            assert calls == [0, 0]
            assert server.grpc_port not in (None, 0, busy)
            with socket.create_connection(("127.0.0.1", server.grpc_port), timeout=5):
                pass


def test_a_given_port_held_on_ipv4_fails_once_and_names_the_address(models_dir):
    with _held_ipv4() as held:
        busy = held.getsockname()[1]
        with pytest.raises(ServerError, match=f"cannot bind gRPC to 0.0.0.0:{busy}"):
            _server(models_dir, busy).start()


def test_the_auto_port_is_free_on_ipv4_and_held_on_ipv6():
    guard = grpc_server._free_on_both(0)
    if guard is None:
        pytest.skip("no IPv6 on this machine: gRPC binds IPv4 only without the guard")
    port = guard.getsockname()[1]
    try:
        with pytest.raises(OSError):
            socket.socket(socket.AF_INET6).bind(("::", port))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as v4:
            v4.bind(("0.0.0.0", port))
    finally:
        guard.close()
