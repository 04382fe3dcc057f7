"""The gRPC front end's "any free port" on 0.0.0.0: a port taken between its choice and the bind
is chosen again, not a failed start (CI once lost a run to a port free on IPv6 but held on IPv4)."""
from __future__ import annotations

import socket

import pytest

from needs import skip_or_fail

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
        skip_or_fail("no IPv6 on this machine: gRPC binds IPv4 only without the guard")
    port = guard.getsockname()[1]
    try:
        with pytest.raises(OSError):
            socket.socket(socket.AF_INET6).bind(("::", port))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as v4:
            v4.bind(("0.0.0.0", port))
    finally:
        guard.close()


def test_free_ports_lie_below_the_ephemeral_range_and_differ():
    from inferwire.serving.ports import BELOW_EPHEMERAL, ephemeral_range, free_ports
    low, _ = ephemeral_range()
    for _ in range(20):
        ports = free_ports(3)
        assert len(set(ports)) == 3
        assert all(max(1024, low - BELOW_EPHEMERAL) <= p < low for p in ports), (ports, low)
        socks = [socket.socket() for _ in ports]
        try:
            for s, p in zip(socks, ports):
                s.bind(("127.0.0.1", p))
        finally:
            for s in socks:
                s.close()


def test_free_ports_fall_back_to_any_port_when_the_range_below_is_full(monkeypatch, tmp_path):
    """A range file whose low end leaves one port below it, held: the port comes from bind(0)."""
    from inferwire.serving import ports
    real_low, _ = ports.ephemeral_range()
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        taken = held.getsockname()[1]
        fake = tmp_path / "range"
        fake.write_text(f"{taken + 1}\t60999\n")
        monkeypatch.setattr(ports, "EPHEMERAL_RANGE_FILE", str(fake))
        monkeypatch.setattr(ports, "BELOW_EPHEMERAL", 1)
        (port,) = ports.free_ports(1)
        assert port != taken and port >= real_low  # bind(0) draws from the ephemeral range


def test_an_unreadable_range_file_means_linux_defaults(tmp_path):
    from inferwire.serving.ports import ephemeral_range
    (tmp_path / "bad").write_text("not numbers\n")
    assert ephemeral_range(str(tmp_path / "bad")) == (32768, 60999)
    assert ephemeral_range(str(tmp_path / "missing")) == (32768, 60999)
