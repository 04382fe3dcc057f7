"""Emulated networks for capture runs: the server in its own network namespace behind a shaped,
lossy link (tc tbf, iptables statistic; netem where the kernel has it).  See docs/network.md."""
from .profile import PRESETS, NetworkError, NetworkProfile, build_profile

__all__ = ["PRESETS", "NetworkError", "NetworkProfile", "build_profile"]
