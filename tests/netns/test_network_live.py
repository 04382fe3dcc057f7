"""Real namespaces, links and shaping (root): the rate and loss a profile sets are the rate and
loss traffic gets, each direction apart; teardown leaves nothing, even after a failed step; the
missing netem is named; leftovers of a killed run are removed."""
import os
import socket
import subprocess
import threading
import time

import pytest
from .live import kernel_has_netem, namespaces_of, need_netns

from inferwire.netns import NetworkError, NetworkProfile, build_profile
from inferwire.netns.enter import inside
from inferwire.netns.network import Network
from inferwire.netns.plan import CLIENT_ADDR, SERVER_ADDR

pytestmark = pytest.mark.capture
SO_RCVBUFFORCE = 33    # Linux, <asm-generic/socket.h>: a buffer past rmem_max (root)


@pytest.fixture(autouse=True)
def _need():
    need_netns()


@pytest.fixture
def network():
    """A Network to set up in the test; closed (and checked gone) afterwards."""
    made = []

    def make(profile):
        made.append(Network(profile))
        return made[-1]
    yield make
    for n in made:
        n.close()
    assert namespaces_of(os.getpid()) == []


def _tc(net, *args):
    return subprocess.run(["tc", "-n", net.topology.router_ns, *args], capture_output=True,
                          text=True).stdout


def _iptables(net):
    return subprocess.run(["ip", "netns", "exec", net.topology.router_ns, "iptables", "-S",
                           "FORWARD"], capture_output=True, text=True).stdout


def _throughput_bps(net, nbytes: int) -> float:
    """Bits/s of one TCP transfer from the client's namespace to the server's."""
    with inside(net.topology.server_ns):
        listener = socket.create_server((SERVER_ADDR, 0))
    got = []

    def sink():
        conn, _ = listener.accept()
        n = 0
        while n < nbytes:
            chunk = conn.recv(1 << 16)
            if not chunk:
                break
            n += len(chunk)
        got.append((n, time.monotonic()))
        conn.close()
    reader = threading.Thread(target=sink)
    reader.start()
    with inside(net.topology.client_ns):
        out = socket.create_connection((SERVER_ADDR, listener.getsockname()[1]), timeout=10)
    start = time.monotonic()
    out.sendall(b"x" * nbytes)
    reader.join(20)
    out.close()
    listener.close()
    n, end = got[0]
    assert n == nbytes
    return n * 8 / (end - start)


def _udp_delivered(src_ns, dst_ns, dst_addr, count=400) -> int:
    """How many of ``count`` UDP datagrams sent from ``src_ns`` arrive in ``dst_ns``."""
    with inside(dst_ns):
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind((dst_addr, 0))
        rx.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)   # hold them all
    with inside(src_ns):
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.settimeout(0.5)
    for i in range(count):
        tx.sendto(b"%d" % i, (dst_addr, rx.getsockname()[1]))
        time.sleep(0.0005)
    seen = 0
    try:
        while True:
            rx.recv(64)
            seen += 1
    except socket.timeout:
        pass
    tx.close()
    rx.close()
    return seen


def test_bandwidth_is_the_profile_rate(network):
    net = network(build_profile(bandwidth="20mbit")).up()
    assert "tbf" in _tc(net, "qdisc", "show", "dev", net.topology.router_to_server_dev)
    rate = _throughput_bps(net, 2_500_000)
    assert 14e6 < rate < 22e6, rate


def test_loss_each_direction_apart(network):
    net = network(NetworkProfile(loss_to_server_pct=25, loss_to_client_pct=0)).up()
    rules = _iptables(net)
    assert "--probability 0.25" in rules and rules.count("statistic") == 1
    t = net.topology
    to_server = _udp_delivered(t.client_ns, t.server_ns, SERVER_ADDR)
    to_client = _udp_delivered(t.server_ns, t.client_ns, CLIENT_ADDR)
    # 400 datagrams at 25 % loss: 300 expected, sd 8.7; 0 % loss: all of them
    assert 250 < to_server < 350, to_server
    assert to_client == 400


def test_close_removes_everything_even_after_a_failed_step(network):
    net = network(build_profile("lossy-lan")).up()
    t = net.topology
    subprocess.run(["tc", "-n", t.router_ns, "qdisc", "del", "dev", t.router_to_server_dev,
                    "root"], check=True)        # its undo will now fail
    log = net.close()
    failed = [e for e in log if e["exit_code"] != 0]
    assert len(failed) == 1 and t.router_to_server_dev in failed[0]["argv"]
    assert log[-3:] == [{"argv": ["ip", "netns", "del", ns], "exit_code": 0, "stderr": ""}
                        for ns in reversed(t.namespaces)]
    assert [e["argv"][7] for e in log if "iptables" in e["argv"]] == ["-D", "-D"]
    assert namespaces_of(os.getpid()) == []


def test_a_failed_set_up_says_which_step_and_is_undone(network):
    net = network(build_profile("lan"))
    subprocess.run(["ip", "netns", "add", net.topology.router_ns], check=True)   # in the way
    try:
        with pytest.raises(NetworkError, match=f"namespace {net.topology.router_ns}"):
            net.up()
    finally:
        net.close()
        subprocess.run(["ip", "netns", "del", net.topology.router_ns])
    assert namespaces_of(os.getpid()) == []


def test_delay_without_netem_is_named_and_left_out_only_when_allowed(network):
    if kernel_has_netem():
        net = network(build_profile(delay="20ms")).up()
        assert net.delay_applied and "netem" in _tc(net, "qdisc", "show")
        return
    net = network(build_profile("wan"))
    with pytest.raises(NetworkError) as info:
        net.up()
    assert "sch_netem" in str(info.value) and "--network-allow-missing delay" in str(info.value)
    net.close()
    assert namespaces_of(os.getpid()) == []
    net = network(build_profile("wan", allow_missing=["delay"])).up()
    assert not net.delay_applied and "netem" not in _tc(net, "qdisc", "show")
    assert "tbf" in _tc(net, "qdisc", "show") and "statistic" in _iptables(net)
    assert any("sch_netem" in n for n in net.notes)


def test_leftovers_of_a_killed_run_are_removed(network):
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = f"iwn{gone.pid}s"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    try:
        net = network(build_profile("veth")).up()
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert stale not in listed
        assert any(stale in n for n in net.notes)
    finally:
        subprocess.run(["ip", "netns", "del", stale], capture_output=True)


def test_ctrl_c_during_teardown_waits_for_every_step(network):
    import signal

    def interrupt(*_):
        raise KeyboardInterrupt
    net = network(build_profile("lossy-lan")).up()
    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.02)        # while the first undos run
        with pytest.raises(KeyboardInterrupt):
            net.close()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert namespaces_of(os.getpid()) == []
    assert [e["argv"][:3] for e in net.teardown_log][-3:] == [["ip", "netns", "del"]] * 3
