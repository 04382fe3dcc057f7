"""Network profiles: what the network between a capture run's client and server looks like.

A :class:`NetworkProfile` is plain data (bits per second, percent, ns, bytes); named presets and
explicit knobs (``--bandwidth 50mbit --loss 1 --delay 40ms``) both end up as one.  Pure: parsing
and validation only; :mod:`.plan` turns a profile into ``ip``/``tc``/``iptables`` argv lists.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace

from ..errors import InferwireError

NS_PER_MS = 1_000_000
DEFAULT_MTU = 1500
#: what may be left out when this kernel cannot do it (``--network-allow-missing``)
OPTIONAL_FEATURES = ("delay",)


class NetworkError(InferwireError):
    """A network profile is invalid, or the namespaces/shaping it needs cannot be set up here."""


@dataclass(frozen=True)
class NetworkProfile:
    """The emulated network, in each direction between client and server.

    ``bandwidth_bps``: the bottleneck rate in bits/s each way (None: unshaped; a veth pair then
    moves several Gbit/s).  ``loss_to_server_pct`` / ``loss_to_client_pct``: random loss of
    each packet, percent, per direction (iptables ``statistic`` match).  ``delay_ns``: round trip
    time added, half in each direction, and ``jitter_ns`` its variation (tc netem: needs the
    kernel's ``sch_netem``).  ``mtu``: bytes, on every link.  ``queue_ms``: how long a packet may
    wait in the bottleneck's queue before tbf drops it.  ``capture_server``: also capture on the
    server's side of the network (a second vantage point).  ``preset``: the name it came from.
    """

    preset: str | None = None
    bandwidth_bps: int | None = None
    loss_to_server_pct: float = 0.0
    loss_to_client_pct: float = 0.0
    delay_ns: int = 0
    jitter_ns: int = 0
    mtu: int = DEFAULT_MTU
    queue_ms: float = 50.0
    capture_server: bool = False
    allow_missing: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "allow_missing", tuple(self.allow_missing or ()))
        if self.bandwidth_bps is not None and not 8_000 <= self.bandwidth_bps <= 100_000_000_000:
            raise NetworkError(f"bandwidth {self.bandwidth_bps} bit/s: use 8 kbit to 100 gbit")
        for name in ("loss_to_server_pct", "loss_to_client_pct"):
            if not 0 <= getattr(self, name) < 100:
                raise NetworkError(f"{name.replace('_pct', '')} {getattr(self, name)} %: "
                                   "use 0 <= loss < 100")
        if self.delay_ns < 0 or self.jitter_ns < 0:
            raise NetworkError("delay and jitter must be >= 0")
        if self.jitter_ns and not self.delay_ns:
            raise NetworkError("jitter needs a delay (--delay)")
        if not 576 <= self.mtu <= 65535:
            raise NetworkError(f"MTU {self.mtu}: use 576 to 65535 bytes")
        if self.queue_ms <= 0:
            raise NetworkError(f"queue {self.queue_ms} ms: must be > 0")
        bad = [f for f in self.allow_missing if f not in OPTIONAL_FEATURES]
        if bad:
            raise NetworkError(f"--network-allow-missing {bad[0]!r}: only {OPTIONAL_FEATURES} "
                               "can be left out")

    @property
    def lossy(self) -> bool:
        return bool(self.loss_to_server_pct or self.loss_to_client_pct)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "NetworkProfile":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise NetworkError(f"unknown network profile fields: {sorted(unknown)}")
        return cls(**d)

    def describe(self) -> str:
        """One line for people: "lossy-lan: 1 Gbit/s, 1 % loss each way, MTU 1500"."""
        parts = [format_rate(self.bandwidth_bps) if self.bandwidth_bps else "unshaped"]
        if self.loss_to_server_pct == self.loss_to_client_pct:
            if self.lossy:
                parts.append(f"{self.loss_to_server_pct:g} % loss each way")
        else:
            parts.append(f"loss {self.loss_to_server_pct:g} % to server, "
                         f"{self.loss_to_client_pct:g} % to client")
        if self.delay_ns:
            parts.append(f"+{self.delay_ns / NS_PER_MS:g} ms RTT"
                         + (f" ± {self.jitter_ns / NS_PER_MS:g} ms" if self.jitter_ns else ""))
        parts.append(f"MTU {self.mtu}")
        return (f"{self.preset}: " if self.preset else "") + ", ".join(parts)


#: named profiles (``--network NAME``); knobs given with a preset override its values
PRESETS = {
    "veth": NetworkProfile(preset="veth"),
    "lan": NetworkProfile(preset="lan", bandwidth_bps=1_000_000_000),
    "lossy-lan": NetworkProfile(preset="lossy-lan", bandwidth_bps=1_000_000_000,
                                loss_to_server_pct=1.0, loss_to_client_pct=1.0),
    "datacenter": NetworkProfile(preset="datacenter", bandwidth_bps=10_000_000_000),
    "wan": NetworkProfile(preset="wan", bandwidth_bps=50_000_000, loss_to_server_pct=0.5,
                          loss_to_client_pct=0.5, delay_ns=40 * NS_PER_MS),
}

_RATE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kmg]?)(bit|bps|b)?(?:/s)?\s*$", re.I)
_TIME = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(us|ms|s)?\s*$", re.I)
_SCALE = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}


def parse_rate(text: str) -> int:
    """Bits per second from "50mbit", "1gbit", "500kbit", "2000000" (bits/s)."""
    m = _RATE.match(str(text))
    if not m:
        raise NetworkError(f"bandwidth {text!r}: write e.g. 50mbit, 1gbit, 500kbit")
    return int(round(float(m.group(1)) * _SCALE[m.group(2).lower()]))


def parse_duration_ns(text: str) -> int:
    """Nanoseconds from "40ms", "250us", "0.1s"; a bare number is milliseconds."""
    m = _TIME.match(str(text))
    if not m:
        raise NetworkError(f"time {text!r}: write e.g. 40ms, 250us, 0.1s")
    unit = (m.group(2) or "ms").lower()
    return int(round(float(m.group(1)) * {"us": 1_000, "ms": NS_PER_MS, "s": 10**9}[unit]))


def parse_loss_pct(text: str) -> float:
    """Percent from "3", "3%", "0.5 %"."""
    try:
        return float(str(text).strip().rstrip("%").strip())
    except ValueError:
        raise NetworkError(f"loss {text!r}: write a percentage, e.g. 3 or 0.5%") from None


def format_rate(bps: int) -> str:
    for scale, unit in ((10**9, "Gbit/s"), (10**6, "Mbit/s"), (10**3, "kbit/s")):
        if bps >= scale:
            return f"{bps / scale:g} {unit}"
    return f"{bps} bit/s"


def build_profile(preset: str | None = None, *, bandwidth: str | None = None,
                  loss: str | None = None, delay: str | None = None, jitter: str | None = None,
                  mtu: int | None = None, capture_server: bool = False,
                  allow_missing=()) -> NetworkProfile:
    """A profile from a preset name (default "veth": MTU 1500, nothing else) and knobs (strings
    as typed on the command line; None: keep the preset's value)."""
    if preset is not None and preset not in PRESETS:
        raise NetworkError(f"network preset {preset!r}: use one of {sorted(PRESETS)}")
    base = PRESETS[preset or "veth"]
    changes = {"capture_server": capture_server, "allow_missing": tuple(allow_missing)}
    if bandwidth is not None:
        changes["bandwidth_bps"] = parse_rate(bandwidth)
    if loss is not None:
        changes["loss_to_server_pct"] = changes["loss_to_client_pct"] = parse_loss_pct(loss)
    if delay is not None:
        changes["delay_ns"] = parse_duration_ns(delay)
    if jitter is not None:
        changes["jitter_ns"] = parse_duration_ns(jitter)
    if mtu is not None:
        changes["mtu"] = mtu
    knobs = {k for k in changes if k not in ("capture_server", "allow_missing")}
    if knobs and preset is not None:
        changes["preset"] = f"{preset}+custom"
    elif knobs:
        changes["preset"] = None
    return replace(base, **changes)


_SPEC_KEYS = {"bw": "bandwidth", "bandwidth": "bandwidth", "loss": "loss", "delay": "delay",
              "jitter": "jitter", "mtu": "mtu"}


def profile_from_spec(spec: str) -> NetworkProfile:
    """A profile from a compact spec (sweep points, plan.json): an optional preset name then
    ``key=value`` knobs, comma-separated: "lan", "bw=100mbit,loss=1", "wan,loss=3"."""
    preset, knobs = None, {}
    for i, part in enumerate(p.strip() for p in str(spec).split(",") if p.strip()):
        key, eq, value = part.partition("=")
        if not eq and i == 0:
            preset = key
        elif eq and key.strip() in _SPEC_KEYS:
            knobs[_SPEC_KEYS[key.strip()]] = value.strip()
        else:
            raise NetworkError(f"network spec {spec!r}: {part!r} is not a preset (first) or "
                               f"one of {sorted(set(_SPEC_KEYS))}=VALUE")
    if "mtu" in knobs:
        try:
            knobs["mtu"] = int(knobs["mtu"])
        except ValueError:
            raise NetworkError(f"network spec {spec!r}: MTU must be a whole number") from None
    profile = build_profile(preset, **knobs)
    return replace(profile, preset=profile.preset or str(spec))
