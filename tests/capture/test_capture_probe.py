"""The liveness probe's pieces, byte by byte: SYN search, file tail, ISB drop counters."""
import socket
import struct

import pytest

from inferwire.capture.ifstats import interface_statistics
from inferwire.capture.probe import FileTail, Probe, await_probe, syn_found


def ipv4_tcp(sport, dport, payload=b""):
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 1, 0, 64, 6, 0,
                     b"\x7f\0\0\1", b"\x7f\0\0\1")
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 0x50, 0x02, 65535, 0, 0)
    return ip + tcp + payload


def ipv6_tcp(sport, dport):
    ip = struct.pack("!IHBB16s16s", 6 << 28, 20, 6, 64, b"\0" * 15 + b"\1", b"\0" * 15 + b"\1")
    return ip + struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 0x50, 0x02, 65535, 0, 0)


def pcap_file(frames, linktype=101):
    out = struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, linktype)
    for f in frames:
        out += struct.pack("<IIII", 1, 2, len(f), len(f)) + f
    return out


def test_syn_found_in_ipv4_and_ipv6_frames():
    data = pcap_file([ipv4_tcp(50000, 41000), ipv6_tcp(50001, 41000)])
    assert syn_found(data, 50000, 41000)
    assert syn_found(data, 50001, 41000)
    assert not syn_found(data, 50002, 41000)
    assert not syn_found(data, 41000, 50000)          # reversed direction is not the SYN


def test_port_bytes_inside_payload_do_not_count():
    fake = struct.pack("!HH", 50000, 41000)
    data = pcap_file([ipv4_tcp(8500, 9000, b"x" * 30 + fake + b"y" * 30)])
    assert not syn_found(data, 50000, 41000)


def test_file_tail_reads_only_new_bytes_and_follows_new_files(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.write_bytes(b"old" * 100)
    files = [str(first)]
    tail = FileTail(lambda: files)
    tail.mark()
    assert tail.read_new() == (b"old" * 100)[-FileTail.OVERLAP:]     # only the overlap
    with open(first, "ab") as f:
        f.write(b"NEW1")
    assert tail.read_new().endswith(b"NEW1")
    second.write_bytes(b"NEW2")
    files.append(str(second))
    new = tail.read_new()
    assert new.endswith(b"NEW2") and b"NEW1" in new      # overlap re-read, then the new file


def test_probe_connections_reach_their_own_listener():
    probe = Probe("127.0.0.1")
    try:
        ports = {probe.send() for _ in range(5)}
        assert len(ports) == 5 and probe.sent == 5 and probe.port not in ports
        with pytest.raises(OSError):                    # the probe port is held by the probe
            socket.socket().bind(("127.0.0.1", probe.port))
    finally:
        probe.close()


def test_await_probe_reports_timeout_and_exit(tmp_path):
    path = tmp_path / "never.pcap"
    path.write_bytes(pcap_file([]))
    probe = Probe("127.0.0.1")
    try:
        tail = FileTail(lambda: [str(path)])
        assert await_probe(probe, tail, timeout_s=0.2, interval_s=0.05) == "timeout"
        assert await_probe(probe, tail, timeout_s=5, alive=lambda: False) == "exited"
    finally:
        probe.close()


def _block(btype, body, e="<"):
    return struct.pack(e + "II", btype, len(body) + 12) + body + struct.pack(e + "I", len(body) + 12)


def _isb(iface, drops, recv, e="<"):
    opts = (struct.pack(e + "HHQ", 4, 8, recv) + struct.pack(e + "HHQ", 5, 8, drops)
            + struct.pack(e + "HHQ", 7, 8, 2) + struct.pack(e + "HH", 0, 0))
    return _block(5, struct.pack(e + "III", iface, 0, 0) + opts, e)


def pcapng(e="<", isbs=True):
    shb = _block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1), e)
    idb = _block(1, struct.pack(e + "HHI", 1, 0, 0), e)
    epb = _block(6, struct.pack(e + "IIIII", 0, 0, 0, 4, 4) + b"abcd", e)
    return shb + idb + idb + epb + ((_isb(0, 7, 100, e) + _isb(1, 0, 50, e)) if isbs else b"")


@pytest.mark.parametrize("endian", ["<", ">"])
def test_interface_statistics_from_the_file_end(tmp_path, endian):
    path = tmp_path / "x.pcapng"
    path.write_bytes(pcapng(endian))
    assert interface_statistics(path) == [{"ifrecv": 100, "ifdrop": 7, "osdrop": 2},
                                          {"ifrecv": 50, "ifdrop": 0, "osdrop": 2}]


def test_interface_statistics_absent_or_damaged(tmp_path):
    none, damaged, pcap = tmp_path / "n.pcapng", tmp_path / "d.pcapng", tmp_path / "p.pcap"
    none.write_bytes(pcapng(isbs=False))
    damaged.write_bytes(pcapng()[:-3])
    pcap.write_bytes(pcap_file([ipv4_tcp(1, 2)]))
    assert interface_statistics(none) == []
    assert interface_statistics(damaged) == []
    assert interface_statistics(pcap) == []
