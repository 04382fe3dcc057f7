"""The namespaces, links and shaping of a network profile, as argv lists (pure: nothing runs here).

Three network namespaces joined by two veth pairs::

    client ns            router ns                         server ns
    <c0> 10.233.0.1/30 -- <rc> 10.233.0.2/30
                          <rs> 10.233.0.5/30 -- <s0> 10.233.0.6/30

The load generator runs in the client namespace, the server in the server namespace.  The
router forwards between them and is where the network is: each direction is shaped (tc tbf,
plus netem for delay) on the router's egress towards the receiver, and loses packets in the
router's iptables FORWARD chain (``statistic`` match).  A lost packet has then left the sender
(a capture on the sender's veth sees the original and the retransmission) and never reaches the
receiver (a capture on the receiver's veth sees only what arrived), as on a real wire.  With one
veth pair there is no such place: iptables drops before the sender's capture point (OUTPUT) or
after the receiver's (INPUT), so one of the two vantage points would lie.

Segmentation offload is turned off in effect (``gso_max_segs 1``): each packet is one MTU-sized
segment on the wire, as captured and as lost, instead of a 64 KB GSO super-packet.  The
addresses exist only inside the run's own namespaces.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .profile import NS_PER_MS, NetworkProfile

CLIENT_ADDR, ROUTER_CLIENT_ADDR = "10.233.0.1", "10.233.0.2"
ROUTER_SERVER_ADDR, SERVER_ADDR = "10.233.0.5", "10.233.0.6"
PREFIX = "iwn"          # namespaces iwn<pid>c|r|s; a run's leftovers are found by this prefix
KERNEL_HZ_MIN = 100     # tbf's burst must cover a timer tick at the rate: assume the slowest HZ


@dataclass(frozen=True)
class Topology:
    """Names of a run's namespaces and veth devices (interface names stay <= 15 bytes)."""

    tag: str

    @classmethod
    def for_pid(cls, pid: int) -> "Topology":
        return cls(str(pid))

    @property
    def client_ns(self) -> str:
        return f"{PREFIX}{self.tag}c"

    @property
    def router_ns(self) -> str:
        return f"{PREFIX}{self.tag}r"

    @property
    def server_ns(self) -> str:
        return f"{PREFIX}{self.tag}s"

    @property
    def client_dev(self) -> str:
        return f"{PREFIX}{self.tag}c0"

    @property
    def server_dev(self) -> str:
        return f"{PREFIX}{self.tag}s0"

    @property
    def router_to_client_dev(self) -> str:
        return f"{PREFIX}{self.tag}rc"

    @property
    def router_to_server_dev(self) -> str:
        return f"{PREFIX}{self.tag}rs"

    @property
    def namespaces(self) -> tuple[str, str, str]:
        return (self.client_ns, self.router_ns, self.server_ns)

    def to_dict(self) -> dict:
        return {"client_ns": self.client_ns, "router_ns": self.router_ns,
                "server_ns": self.server_ns, "client_dev": self.client_dev,
                "server_dev": self.server_dev, "router_to_client_dev": self.router_to_client_dev,
                "router_to_server_dev": self.router_to_server_dev,
                "client_addr": CLIENT_ADDR, "server_addr": SERVER_ADDR}


@dataclass(frozen=True)
class Step:
    """One command of the set-up (``argv``) and the command that undoes it (``undo``, or None
    when deleting the namespaces undoes it)."""

    argv: tuple
    undo: tuple | None = None
    what: str = ""


@dataclass
class Plan:
    """Set-up steps in order; teardown runs the undos in reverse, then deletes the namespaces."""

    topology: Topology
    steps: list = field(default_factory=list)

    def add(self, argv, undo=None, what=""):
        self.steps.append(Step(tuple(argv), tuple(undo) if undo else None, what))

    def teardown(self) -> list[tuple]:
        undos = [s.undo for s in reversed(self.steps) if s.undo]
        return undos + [("ip", "netns", "del", ns) for ns in self.topology.namespaces]


def links_plan(t: Topology, mtu: int) -> Plan:
    """Namespaces, veth pairs, addresses, routes and forwarding."""
    p = Plan(t)
    for ns in t.namespaces:
        p.add(["ip", "netns", "add", ns], what=f"namespace {ns}")
    p.add(["ip", "link", "add", t.client_dev, "netns", t.client_ns, "type", "veth", "peer",
           "name", t.router_to_client_dev, "netns", t.router_ns], what="client <-> router veth")
    p.add(["ip", "link", "add", t.server_dev, "netns", t.server_ns, "type", "veth", "peer",
           "name", t.router_to_server_dev, "netns", t.router_ns], what="router <-> server veth")
    for ns, dev, addr in ((t.client_ns, t.client_dev, CLIENT_ADDR),
                          (t.router_ns, t.router_to_client_dev, ROUTER_CLIENT_ADDR),
                          (t.router_ns, t.router_to_server_dev, ROUTER_SERVER_ADDR),
                          (t.server_ns, t.server_dev, SERVER_ADDR)):
        p.add(["ip", "-n", ns, "addr", "add", f"{addr}/30", "dev", dev], what=f"{dev} {addr}")
        p.add(["ip", "-n", ns, "link", "set", dev, "mtu", str(mtu), "gso_max_segs", "1",
               "up"], what=f"{dev} up, MTU {mtu}, one segment per packet")
    for ns in t.namespaces:
        p.add(["ip", "-n", ns, "link", "set", "lo", "up"], what=f"{ns} loopback up")
    p.add(["ip", "-n", t.client_ns, "route", "add", "default", "via", ROUTER_CLIENT_ADDR],
          what="client's route through the router")
    p.add(["ip", "-n", t.server_ns, "route", "add", "default", "via", ROUTER_SERVER_ADDR],
          what="server's route through the router")
    p.add(["ip", "netns", "exec", t.router_ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"],
          what="router forwards")
    return p


def tbf_burst_bytes(bps: int, mtu: int) -> int:
    """tbf's bucket: one timer tick's worth of bytes at ``bps``, and never under two packets."""
    return max(bps // 8 // KERNEL_HZ_MIN, 2 * (mtu + 14))


def shaping_plan(p: Plan, profile: NetworkProfile, *, delay: bool) -> None:
    """Append each direction's qdiscs (router egress) and loss rules (router FORWARD) to ``p``.
    ``delay``: apply the profile's delay/jitter with netem (False: leave them out)."""
    t = p.topology
    for egress, ingress, loss in ((t.router_to_server_dev, t.router_to_client_dev,
                                   profile.loss_to_server_pct),
                                  (t.router_to_client_dev, t.router_to_server_dev,
                                   profile.loss_to_client_pct)):
        _qdiscs(p, egress, profile, delay)
        if loss:
            rule = ["FORWARD", "-i", ingress, "-o", egress, "-m", "statistic", "--mode",
                    "random", "--probability", f"{loss / 100:.6f}", "-j", "DROP"]
            base = ["ip", "netns", "exec", t.router_ns, "iptables", "-w", "5"]
            p.add(base + ["-A"] + rule, base + ["-D"] + rule,
                  what=f"{loss:g} % random loss {ingress} -> {egress}")


def _qdiscs(p: Plan, dev: str, profile: NetworkProfile, delay: bool) -> None:
    ns = p.topology.router_ns
    base = ["tc", "-n", ns, "qdisc"]
    parent = ["root"]
    if delay and profile.delay_ns:
        half_us, jitter_us = profile.delay_ns // 2000, profile.jitter_ns // 2000
        netem = base + ["add", "dev", dev, "root", "handle", "1:", "netem", "delay",
                        f"{half_us}us"] + ([f"{jitter_us}us"] if jitter_us else [])
        if profile.bandwidth_bps:   # a queue of packets waiting out their delay at the rate
            netem += ["limit", str(max(1000, _packets_in_flight(profile)))]
        p.add(netem, base + ["del", "dev", dev, "root"], what=f"{dev}: netem delay")
        parent = ["parent", "1:1"]
    if profile.bandwidth_bps:
        bps = profile.bandwidth_bps
        argv = base + ["add", "dev", dev, *parent, "handle", "10:", "tbf", "rate", f"{bps}bit",
                       "burst", str(tbf_burst_bytes(bps, profile.mtu)),
                       "latency", f"{profile.queue_ms:g}ms"]
        undo = None if parent != ["root"] else base + ["del", "dev", dev, "root"]
        p.add(argv, undo, what=f"{dev}: tbf {bps} bit/s")


def _packets_in_flight(profile: NetworkProfile) -> int:
    return int(profile.bandwidth_bps / 8 * profile.delay_ns / 2 / 1e9 / profile.mtu) + 1


def netem_probe(t: Topology) -> tuple[tuple, tuple]:
    """(add, delete): a netem qdisc on the router's loopback, to learn whether the kernel has
    sch_netem before the real shaping is set up."""
    base = ("tc", "-n", t.router_ns, "qdisc")
    return (base + ("add", "dev", "lo", "root", "netem", "delay", "1ms"),
            base + ("del", "dev", "lo", "root"))


__all__ = ["CLIENT_ADDR", "SERVER_ADDR", "NS_PER_MS", "Plan", "Step", "Topology", "links_plan",
           "netem_probe", "shaping_plan", "tbf_burst_bytes"]
