"""Network profiles and the commands they become (pure: no namespace is made here)."""
import pytest

from inferwire.experiment import RunConfig
from inferwire.netns import PRESETS, NetworkError, NetworkProfile, build_profile
from inferwire.netns.plan import (CLIENT_ADDR, SERVER_ADDR, Plan, Topology, links_plan,
                                  shaping_plan, tbf_burst_bytes)
from inferwire.netns.profile import parse_duration_ns, parse_loss_pct, parse_rate


def test_knobs_parse_with_units():
    assert parse_rate("50mbit") == 50_000_000
    assert parse_rate("1gbit") == 1_000_000_000
    assert parse_rate("1.5Gbit") == 1_500_000_000
    assert parse_rate("500kbit") == 500_000
    assert parse_duration_ns("40ms") == 40_000_000
    assert parse_duration_ns("250us") == 250_000
    assert parse_duration_ns("0.1s") == 100_000_000
    assert parse_duration_ns("7") == 7_000_000
    assert parse_loss_pct("3%") == 3.0 and parse_loss_pct(" 0.5 ") == 0.5


@pytest.mark.parametrize("call, words", [
    (lambda: parse_rate("fast"), "bandwidth 'fast'"),
    (lambda: parse_duration_ns("40 minutes"), "time '40 minutes'"),
    (lambda: parse_loss_pct("lots"), "loss 'lots'"),
    (lambda: build_profile("moon"), "network preset 'moon'"),
    (lambda: build_profile(loss="100"), "use 0 <= loss < 100"),
    (lambda: build_profile(jitter="5ms"), "jitter needs a delay"),
    (lambda: build_profile(mtu=100), "MTU 100"),
    (lambda: build_profile(allow_missing=("bandwidth",)), "only ('delay',)"),
])
def test_bad_knobs_say_what_was_wrong(call, words):
    with pytest.raises(NetworkError, match=None) as info:
        call()
    assert words in str(info.value)


def test_presets_and_overrides():
    assert PRESETS["lan"].bandwidth_bps == 10**9 and not PRESETS["lan"].lossy
    assert PRESETS["lossy-lan"].loss_to_server_pct == PRESETS["lossy-lan"].loss_to_client_pct == 1
    assert PRESETS["datacenter"].bandwidth_bps == 10**10
    assert PRESETS["wan"].delay_ns == 40_000_000 and PRESETS["wan"].bandwidth_bps == 50_000_000
    assert all(p.mtu == 1500 for p in PRESETS.values())
    p = build_profile("wan", loss="3", capture_server=True, allow_missing=["delay"])
    assert (p.preset, p.loss_to_server_pct, p.loss_to_client_pct) == ("wan+custom", 3, 3)
    assert p.delay_ns == 40_000_000 and p.capture_server and p.allow_missing == ("delay",)
    assert build_profile(bandwidth="10mbit").preset is None
    assert p.describe() == "wan+custom: 50 Mbit/s, 3 % loss each way, +40 ms RTT, MTU 1500"


def test_profile_round_trips_through_the_run_config():
    profile = build_profile("lossy-lan", capture_server=True)
    config = RunConfig(network=profile)
    again = RunConfig(**config.to_dict())
    assert again.network == profile
    with pytest.raises(Exception, match="needs --server embedded or triton"):
        RunConfig(server="tfserving.example", network=profile)
    with pytest.raises(Exception, match="needs --server embedded or triton"):
        RunConfig(server="kserve", api="v2", network=profile)
    RunConfig(server="triton", api="v2", network=profile)            # started behind it too
    RunConfig(protocols=("rest",), stream_tokens=4, network=profile)  # streamed completions


def _argvs(plan):
    return [list(s.argv) for s in plan.steps]


def test_names_fit_linux_interface_names():
    t = Topology.for_pid(4_194_304)          # the largest pid Linux hands out
    for dev in (t.client_dev, t.server_dev, t.router_to_client_dev, t.router_to_server_dev):
        assert len(dev) <= 15
    assert len(set(t.namespaces)) == 3


def test_links_make_three_namespaces_two_veth_pairs_and_routes():
    t = Topology("77")
    argvs = _argvs(links_plan(t, 1500))
    assert argvs[:3] == [["ip", "netns", "add", ns] for ns in t.namespaces]
    for ns, addr, dev in ((t.client_ns, CLIENT_ADDR, t.client_dev),
                          (t.server_ns, SERVER_ADDR, t.server_dev)):
        assert ["ip", "-n", ns, "addr", "add", f"{addr}/30", "dev", dev] in argvs
    mtu = [a for a in argvs if "mtu" in a]
    assert len(mtu) == 4 and all(a[a.index("mtu") + 1] == "1500" for a in mtu)
    assert all(a[a.index("gso_max_segs") + 1] == "1" for a in mtu)
    assert ["ip", "netns", "exec", t.router_ns, "sysctl", "-q", "-w",
            "net.ipv4.ip_forward=1"] in argvs
    assert all(isinstance(x, str) for a in argvs for x in a)


def test_loss_is_in_the_router_each_direction_and_undone():
    t = Topology("77")
    p = Plan(t)
    shaping_plan(p, NetworkProfile(loss_to_server_pct=3, loss_to_client_pct=0.5), delay=False)
    rules = [s for s in p.steps if "iptables" in s.argv]
    assert len(rules) == 2
    up, down = rules
    assert up.argv[:4] == ("ip", "netns", "exec", t.router_ns)
    assert up.argv[up.argv.index("-i") + 1] == t.router_to_client_dev
    assert up.argv[up.argv.index("-o") + 1] == t.router_to_server_dev
    assert up.argv[up.argv.index("--probability") + 1] == "0.030000"
    assert down.argv[down.argv.index("--probability") + 1] == "0.005000"
    assert up.undo == tuple(a if a != "-A" else "-D" for a in up.argv)
    assert not [s for s in p.steps if s.argv[0] == "tc"]        # unshaped: no qdisc


def test_bandwidth_is_tbf_on_the_router_egress_with_a_tick_of_burst():
    t = Topology("77")
    p = Plan(t)
    shaping_plan(p, NetworkProfile(bandwidth_bps=50_000_000), delay=False)
    tbf = [s for s in p.steps if "tbf" in s.argv]
    assert [s.argv[s.argv.index("dev") + 1] for s in tbf] == [t.router_to_server_dev,
                                                              t.router_to_client_dev]
    assert tbf[0].argv[tbf[0].argv.index("rate") + 1] == "50000000bit"
    assert tbf[0].argv[tbf[0].argv.index("burst") + 1] == str(tbf_burst_bytes(50_000_000, 1500))
    assert tbf_burst_bytes(50_000_000, 1500) == 62_500 and tbf_burst_bytes(100_000, 1500) == 3028
    assert tbf[0].undo == ("tc", "-n", t.router_ns, "qdisc", "del", "dev",
                           t.router_to_server_dev, "root")


def test_delay_is_netem_halved_each_way_with_tbf_below_it_only_when_asked():
    t = Topology("77")
    profile = NetworkProfile(bandwidth_bps=10**8, delay_ns=40_000_000, jitter_ns=4_000_000)
    without, with_delay = Plan(t), Plan(t)
    shaping_plan(without, profile, delay=False)
    shaping_plan(with_delay, profile, delay=True)
    assert not [s for s in without.steps if "netem" in s.argv]
    netem = [s for s in with_delay.steps if "netem" in s.argv]
    assert len(netem) == 2
    assert netem[0].argv[netem[0].argv.index("delay") + 1:][:2] == ("20000us", "2000us")
    tbf = [s for s in with_delay.steps if "tbf" in s.argv]
    assert all(s.argv[s.argv.index("parent") + 1] == "1:1" and s.undo is None for s in tbf)


def test_teardown_reverses_undos_then_deletes_the_namespaces():
    t = Topology("77")
    p = links_plan(t, 1500)
    shaping_plan(p, NetworkProfile(bandwidth_bps=10**9, loss_to_server_pct=1,
                                   loss_to_client_pct=1), delay=False)
    down = p.teardown()
    assert down[-3:] == [("ip", "netns", "del", ns) for ns in t.namespaces]
    undos = [s.undo for s in p.steps if s.undo]
    assert down[:-3] == list(reversed(undos))
