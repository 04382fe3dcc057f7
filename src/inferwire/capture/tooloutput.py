"""Reading what dumpcap, tshark and tcpdump print on stderr: final counts, drops, and failures.

Pure functions of the text, so they are tested with the tools' real messages.
"""
from __future__ import annotations

import re

_DUMPCAP_CAPTURED = re.compile(r"Packets captured:\s*(\d+)")
_DUMPCAP_IFACE = re.compile(r"Packets received/dropped on interface '[^']*':\s*(\d+)/(\d+)\s*"
                            r"\(([^)]*)\)")
_COUNT_CAPTURED = re.compile(r"^\s*(\d+) packets? captured", re.M)
_TSHARK_DROPPED = re.compile(r"^\s*(\d+) packets? dropped(?: from (.+))?$", re.M)
_TCPDUMP_DROPPED = re.compile(r"^\s*(\d+) packets? dropped by (kernel|interface)", re.M)


def parse_counts(tool: str, stderr: str) -> tuple[int | None, dict[str, int]]:
    """(packets captured, drops by source) from a tool's final report; (None, {}) if absent.

    dumpcap's drop sources are its own categories (``pcap`` = kernel buffer, ``dumpcap`` = its
    own buffer, ``flushed``, ``ps_ifdrop`` = interface) plus ``dropped`` (the per-interface total
    it prints); tcpdump's are ``kernel`` and ``interface``; tshark's ``dropped``.
    """
    if tool == "dumpcap":
        return _dumpcap_counts(stderr)
    captured = _COUNT_CAPTURED.findall(stderr)
    packets = int(captured[-1]) if captured else None
    drops: dict[str, int] = {}
    if tool == "tcpdump":
        for count, where in _TCPDUMP_DROPPED.findall(stderr):
            drops[where] = int(count)
        if packets is not None:
            drops.setdefault("kernel", 0)
    else:
        for count, _ in _TSHARK_DROPPED.findall(stderr):
            drops["dropped"] = drops.get("dropped", 0) + int(count)
        if packets is not None:
            drops.setdefault("dropped", 0)   # tshark prints the line only when drops > 0
    return packets, drops


def _dumpcap_counts(stderr: str) -> tuple[int | None, dict[str, int]]:
    captured = _DUMPCAP_CAPTURED.findall(stderr)
    packets = int(captured[-1]) if captured else None
    drops: dict[str, int] = {}
    for _, dropped, detail in _DUMPCAP_IFACE.findall(stderr):
        drops["dropped"] = drops.get("dropped", 0) + int(dropped)
        for name, value in re.findall(r"(\w+):(\d+)", detail):
            drops[name] = drops.get(name, 0) + int(value)
    return packets, drops


def total_drops(tool: str, drops: dict[str, int]) -> int | None:
    """Packets lost according to a tool's report, or None when it reported nothing.

    dumpcap's interface total already includes its categories, so the larger of the two is used
    rather than their sum; for the other tools the sources are distinct and are added.
    """
    if not drops:
        return None
    if tool == "dumpcap":
        parts = sum(v for k, v in drops.items() if k != "dropped")
        return max(drops.get("dropped", 0), parts)
    return sum(drops.values())


def failure_message(tool: str, stderr: str, interface: str, output: str) -> str:
    """A message a person can act on for a capture tool that exited with an error."""
    text = stderr.lower()
    tail = _last_lines(stderr)
    if ("no such device" in text or "there is no device named" in text
            or "no interface with that" in text):
        return f"{tool}: interface {interface!r} does not exist ({tail})"
    if ("permission" in text and "capture" in text) or "operation not permitted" in text:
        return (f"{tool}: no permission to capture on {interface!r} ({tail}); run as root, or "
                f"grant capabilities: sudo setcap cap_net_raw,cap_net_admin+eip $(which {tool}), "
                "or add yourself to the wireshark group")
    if "no space left" in text or "disk full" in text:
        return f"{tool}: the disk holding {output} is full; free space or write elsewhere ({tail})"
    if "filter" in text and ("invalid" in text or "syntax error" in text or "can't parse" in text):
        return f"{tool}: the capture filter was rejected ({tail})"
    if "permission denied" in text:
        return f"{tool}: cannot write {output}: permission denied ({tail})"
    return f"{tool} failed: {tail or 'no message on stderr'}"


def _last_lines(stderr: str, count: int = 6) -> str:
    lines = [ln.strip() for ln in stderr.replace("\r", "\n").splitlines()]
    useful = [ln for ln in lines if ln and not ln.startswith("Packets:")
              and "This could be dangerous" not in ln]
    return " / ".join(useful[-count:])
