"""Link layers: where the network header of each record starts and what it is.

Vectorised over records of one link type.  Supported (tcpdump.org/linktypes.html numbers):
Ethernet (1), Linux cooked SLL (113) and SLL2 (276), raw IP (101, and the BSD DLT_RAW values 12
and 14; 228 IPv4 only, 229 IPv6 only), BSD loopback NULL (0, host byte order) and LOOP (108,
network byte order; both byte orders are accepted for both).  802.1Q / 802.1ad VLAN tags after an
EtherType, possibly stacked, are skipped.
"""
from __future__ import annotations

import numpy as np

from .records import read_at

ETHERTYPE_IPV4, ETHERTYPE_IPV6 = 0x0800, 0x86DD
VLAN_TPIDS = np.array([0x8100, 0x88A8, 0x9100], dtype=np.int64)
MAX_VLAN_TAGS = 8
AF_INET, AF_INET6 = 2, (24, 28, 30)   # AF_INET6 differs between BSDs (NetBSD, FreeBSD, macOS)

ETHERNET, NULL, RAW, LOOP, LINUX_SLL, LINUX_SLL2, IPV4, IPV6 = 1, 0, 101, 108, 113, 276, 228, 229
RAW_BSD = (12, 14)
# link type -> (link header length, offset of the EtherType within it, or None)
ETHERTYPE_LINKS = {ETHERNET: (14, 12), LINUX_SLL: (16, 14), LINUX_SLL2: (20, 0)}
SUPPORTED = frozenset([*ETHERTYPE_LINKS, NULL, LOOP, RAW, *RAW_BSD, IPV4, IPV6])
READ = ("inferwire reads Ethernet 1, Linux cooked 113 and 276, raw IP 101, 12, 14, 228 and 229, "
        "BSD loopback 0 and 108")


def be16(u8: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Big-endian 16-bit values at the offsets ``at`` (int64; clamped at the buffer's end)."""
    return read_at(u8, at, ">u2").astype(np.int64)


def locate_network(u8: np.ndarray, off: np.ndarray, caplen: np.ndarray, linktype: int):
    """For records of link type ``linktype`` whose bytes start at ``off`` (``caplen`` present):
    (network header offset, EtherType of what is there, mask of records whose link header is cut).

    The EtherType is 0x0800 for IPv4 and 0x86DD for IPv6 whatever the link type; anything else
    means "not IP".  Returns None for a link type this module does not read.
    """
    if linktype in ETHERTYPE_LINKS:
        hlen, at = ETHERTYPE_LINKS[linktype]
        cut = caplen < hlen
        return _skip_vlan_tags(u8, off, caplen, off + hlen, be16(u8, off + at), cut)
    if linktype in (NULL, LOOP):
        return off + 4, _loopback_family(u8, off), caplen < 4
    if linktype in (RAW, *RAW_BSD, IPV4, IPV6):
        return off, _raw_version(u8, off, linktype), caplen < 1
    return None


def _skip_vlan_tags(u8, off, caplen, net, etype, cut):
    """Step over stacked VLAN tags (4 bytes each: TCI, then the next EtherType)."""
    for _ in range(MAX_VLAN_TAGS):
        tagged = np.isin(etype, VLAN_TPIDS) & ~cut
        if not tagged.any():
            break
        cut = cut | (tagged & (net + 4 - off > caplen))
        tagged &= ~cut
        etype = np.where(tagged, be16(u8, net + 2), etype)
        net = np.where(tagged, net + 4, net)
    return net, etype, cut


def _loopback_family(u8, off):
    """EtherType equivalent of the 4-byte address family of NULL/LOOP headers.

    The value is in the capturing host's byte order (NULL) or big-endian (LOOP), and files exist
    with either, so the byte order is guessed per record: family numbers are < 0x10000.
    """
    little = read_at(u8, off, "<u4").astype(np.int64)
    big = read_at(u8, off, ">u4").astype(np.int64)
    family = np.where(little > 0xFFFF, big, little)
    return np.where(family == AF_INET, ETHERTYPE_IPV4,
                    np.where(np.isin(family, AF_INET6), ETHERTYPE_IPV6, 0))


def _raw_version(u8, off, linktype):
    """EtherType equivalent for raw IP: fixed for 228/229, else from the IP version nibble."""
    if linktype == IPV4:
        return np.full(len(off), ETHERTYPE_IPV4, dtype=np.int64)
    if linktype == IPV6:
        return np.full(len(off), ETHERTYPE_IPV6, dtype=np.int64)
    version = read_at(u8, off, "u1") >> 4
    return np.where(version == 4, ETHERTYPE_IPV4, np.where(version == 6, ETHERTYPE_IPV6, 0))
