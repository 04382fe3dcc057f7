"""Reading the tools' stderr: real messages recorded from dumpcap 4.0, tshark 4.0, tcpdump 4.99."""
from inferwire.capture.tooloutput import failure_message, parse_counts, total_drops

DUMPCAP_OK = """Capturing on 'Loopback: lo'
File: /tmp/a.pcapng
Packets: 145 Packets: 297 Packets captured: 736
Packets received/dropped on interface 'Loopback: lo': 736/0 (pcap:0/dumpcap:0/flushed:0/ps_ifdrop:0) (100.0%)
"""
DUMPCAP_DROPS = """Capturing on 'Loopback: lo'
File: /tmp/a.pcapng
Packets captured: 98400
Packets received/dropped on interface 'Loopback: lo': 100000/1600 (pcap:1500/dumpcap:100/flushed:0/ps_ifdrop:0) (98.4%)
"""
TSHARK_OK = """Running as user "root" and group "root". This could be dangerous.
Capturing on 'Loopback: lo'
tshark: \n744 packets captured
"""
TSHARK_DROPS = "Capturing on 'lo'\n12 packets dropped from lo\n900 packets captured\n"
TCPDUMP_OK = """tcpdump: listening on lo, link-type EN10MB (Ethernet), snapshot length 262144 bytes
896 packets captured
1920 packets received by filter
3 packets dropped by kernel
"""
DUMPCAP_NO_DEVICE = 'Capturing on \'nosuchif\'\ndumpcap: There is no device named "nosuchif".\n(No such device exists)\n'
TCPDUMP_NO_DEVICE = "tcpdump: nosuchif: No such device exists\n(No such device exists)\n"
DUMPCAP_FULL = """Capturing on 'Loopback: lo'
File: /dev/full
dumpcap: Not all the packets could be written to the file to which the capture was being saved
("/dev/full") because there is no space left on the file system
on which that file resides.
"""
DUMPCAP_BAD_FILTER = """Capturing on 'Loopback: lo'
dumpcap: Invalid capture filter "tcp prt 1" for interface 'lo'.

That string isn't a valid capture filter (can't parse filter expression: syntax error).
"""
DUMPCAP_NO_PERMISSION = """Capturing on 'Loopback: lo'
dumpcap: You do not have permission to capture on device "lo".
(socket: Operation not permitted)
Please check to make sure you have sufficient permissions.
"""
TCPDUMP_NO_PERMISSION = """tcpdump: lo: You don't have permission to perform this capture on that device
(socket: Operation not permitted)
"""


def test_dumpcap_counts_and_categories():
    packets, drops = parse_counts("dumpcap", DUMPCAP_OK)
    assert packets == 736
    assert drops == {"dropped": 0, "pcap": 0, "dumpcap": 0, "flushed": 0, "ps_ifdrop": 0}
    assert total_drops("dumpcap", drops) == 0


def test_dumpcap_drops_are_not_double_counted():
    packets, drops = parse_counts("dumpcap", DUMPCAP_DROPS)
    assert packets == 98400 and drops["pcap"] == 1500 and drops["dumpcap"] == 100
    assert total_drops("dumpcap", drops) == 1600


def test_tshark_counts_with_and_without_drop_line():
    assert parse_counts("tshark", TSHARK_OK) == (744, {"dropped": 0})
    packets, drops = parse_counts("tshark", TSHARK_DROPS)
    assert (packets, total_drops("tshark", drops)) == (900, 12)


def test_tcpdump_counts_kernel_drops_only():
    packets, drops = parse_counts("tcpdump", TCPDUMP_OK)
    assert packets == 896 and drops == {"kernel": 3}
    assert total_drops("tcpdump", drops) == 3


def test_no_report_means_unknown_not_zero():
    assert parse_counts("dumpcap", "Capturing on 'lo'\n") == (None, {})
    assert parse_counts("tcpdump", "") == (None, {})
    assert total_drops("tcpdump", {}) is None


def test_failure_messages_are_actionable():
    assert "interface 'nosuchif' does not exist" in failure_message(
        "dumpcap", DUMPCAP_NO_DEVICE, "nosuchif", "/tmp/x")
    assert "does not exist" in failure_message("tcpdump", TCPDUMP_NO_DEVICE, "nosuchif", "/tmp/x")
    full = failure_message("dumpcap", DUMPCAP_FULL, "lo", "/dev/full")
    assert "is full" in full and "/dev/full" in full
    assert "filter was rejected" in failure_message("dumpcap", DUMPCAP_BAD_FILTER, "lo", "/x")
    perm = failure_message("dumpcap", DUMPCAP_NO_PERMISSION, "lo", "/x")
    assert "setcap cap_net_raw,cap_net_admin+eip" in perm and "wireshark group" in perm
    assert "no permission" in failure_message("tcpdump", TCPDUMP_NO_PERMISSION, "lo", "/x")
    assert failure_message("tcpdump", "", "lo", "/x") == "tcpdump failed: no message on stderr"
