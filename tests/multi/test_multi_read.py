"""read_many on crafted files: split conversations, overlaps (duplicates), order, frames,
interfaces, drops, directories and bad input."""
from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pytest

import inferwire
from craft import Conversation, http_request, http_response, write_pcap
from inferwire.errors import CaptureFormatError
from inferwire.packets import read_packets
from inferwire.packets.multi import read_many, ring_key
from packets import craft as raw

MS = 1_000_000


def keepalive(n: int = 6) -> Conversation:
    """One HTTP/1.1 keep-alive connection with ``n`` requests, 10 ms apart, each answered
    after 2 ms, the response in two segments; closed with FINs."""
    conv = Conversation()
    conv.handshake(0, 100_000, 200_000)
    for i in range(n):
        t = (i + 1) * 10 * MS
        conv.client(t, http_request(request_id=f"r{i}", body=b"x" * 100))
        resp = http_response(body=b"y" * 3000)
        conv.server(t + 2 * MS, resp[:1500])
        conv.server(t + 2 * MS + 50_000, resp[1500:])
        conv.ack_from_client(t + 2 * MS + 100_000)
    end = (n + 1) * 10 * MS
    conv.fin_from_client(end)
    conv.fin_from_server(end + 100_000)
    conv.ack_from_client(end + 200_000)
    return conv


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", inferwire.InferwireWarning)
        return fn(*args, **kwargs)


def split_files(tmp_path, packets, cuts, names=None):
    """Write ``packets[cuts[i]:cuts[i+1]]`` to one file each; returns the paths."""
    bounds = [0, *cuts, len(packets)]
    paths = []
    for k, (a, b) in enumerate(zip(bounds, bounds[1:])):
        name = names[k] if names else f"part{k}.pcap"
        paths.append(write_pcap(tmp_path / name, packets[a:b]))
    return paths


def assert_same_requests(one, many):
    pd.testing.assert_frame_equal(one.requests, many.requests)
    pd.testing.assert_frame_equal(one.connections, many.connections)


def test_split_connection_analyzes_like_one_file(tmp_path):
    packets = keepalive().packets
    whole = write_pcap(tmp_path / "whole.pcap", packets)
    # cuts inside a request/response: the second file starts mid-response
    parts = split_files(_sub(tmp_path, "parts"), packets, [7, 12, 20])
    one = quiet(inferwire.analyze, whole)
    many = quiet(inferwire.analyze, parts)
    assert len(one.requests) == 6 and one.requests["complete"].all()
    assert_same_requests(one, many)
    assert many.capture.files[0].path == parts[0] and len(many.capture.files) == 4


def _sub(tmp_path, name):
    d = tmp_path / name
    d.mkdir()
    return d


def test_directory_and_reversed_list_are_ordered_by_first_time(tmp_path):
    packets = keepalive().packets
    whole = write_pcap(tmp_path / "whole.pcap", packets)
    d = _sub(tmp_path, "dir")
    # names sort against time order: z (first packets), a (last ones)
    parts = split_files(d, packets, [10, 25], names=["z.pcap", "m.pcap", "a.pcap"])
    (d / "notes.csv").write_text("not,a,capture\n")
    (d / ".hidden.pcap").write_bytes(open(parts[0], "rb").read())
    one = quiet(inferwire.analyze, whole)
    assert_same_requests(one, quiet(inferwire.analyze, d))
    assert_same_requests(one, quiet(inferwire.analyze, list(reversed(parts))))
    with quiet(read_many, d) as table:
        assert [s.path for s in table.stats.files] == parts      # z, m, a: time order
        assert table.stats.duplicates == 0 and not table.stats.ring


def test_frames_continue_across_files_counting_every_record(tmp_path):
    """File 2's frames start after all of file 1's records, non-TCP ones included
    (= frame.number after mergecap -a)."""
    syn = raw.ethernet(raw.ipv4(body=raw.tcp(flags=0x02, seq=1)))
    udp = raw.ethernet(raw.ipv4(proto=17, body=b"\0" * 8))
    f1 = tmp_path / "f1.pcap"
    f1.write_bytes(raw.pcap([(100, 0, udp), (100, 1, syn), (100, 2, udp)]))
    f2 = tmp_path / "f2.pcap"
    f2.write_bytes(raw.pcap([(100, 3, udp), (100, 4, raw.ethernet(raw.ipv4(
        body=raw.tcp(flags=0x10, seq=2, payload=b"abc"))))]))
    with quiet(read_many, [f1, f2]) as t:
        assert t.frame.tolist() == [2, 5]
        assert t.stats.packets == 5 and t.stats.tcp_packets == 2 and t.stats.non_tcp == 3
        assert bytes(t.payload(1)) == b"abc"
        assert t.file.tolist() == [0, 1]


def test_overlapping_files_drop_duplicates_and_count_them(tmp_path):
    packets = keepalive().packets
    whole = write_pcap(tmp_path / "whole.pcap", packets)
    n = len(packets)
    a = write_pcap(tmp_path / "a.pcap", packets[:20])          # 0..19
    b = write_pcap(tmp_path / "b.pcap", packets[14:n - 3])     # 14..n-4: 6 shared with a
    c = write_pcap(tmp_path / "c.pcap", packets[n - 8:])       # n-8..: 5 shared with b
    with quiet(read_many, [a, b, c]) as t:
        assert t.stats.duplicates == 11
        assert t.stats.duplicates_by_file == {a: 0, b: 6, c: 5}
        assert len(t) == n and t.stats.tcp_packets == n
        assert t.stats.packets == n + 11          # every record counted once somewhere
        with read_packets(whole) as w:
            assert t.ts_ns.tolist() == w.ts_ns.tolist()
            assert t.seq.tolist() == w.seq.tolist()
            assert [bytes(t.payload(i)) for i in range(n)] == \
                [bytes(w.payload(i)) for i in range(n)]
    one = quiet(inferwire.analyze, whole)
    many = quiet(inferwire.analyze, [a, b, c])
    cols = [c for c in one.requests.columns if c not in ("request_frame", "response_frame")]
    pd.testing.assert_frame_equal(one.requests[cols], many.requests[cols])


def test_a_repeated_packet_inside_one_file_is_not_a_duplicate(tmp_path):
    """Only copies in *different* files are dropped: one file is read exactly as read_packets
    reads it (a repeated packet there is the file's own business)."""
    conv = keepalive(1)
    p = conv.packets
    a = write_pcap(tmp_path / "a.pcap", p[:5] + [p[4]])        # p[4] twice in a
    b = write_pcap(tmp_path / "b.pcap", p[4:])                 # and once more in b
    with quiet(read_many, [a, b]) as t:
        assert t.stats.duplicates == 1 and t.stats.duplicates_by_file[b] == 1
        assert len(t) == len(p) + 1


def test_rows_are_merged_by_time_for_overlapping_unrelated_files(tmp_path):
    c1 = Conversation(client=("10.0.0.1", 40001))
    c2 = Conversation(client=("10.0.0.1", 40002))
    for conv, shift in ((c1, 0), (c2, 50_000)):
        conv.handshake(shift, shift + 100_000, shift + 200_000)
        conv.client(shift + MS, http_request(request_id=f"q{shift}"))
        conv.server(shift + 3 * MS, http_response())
    a = write_pcap(tmp_path / "a.pcap", c1.packets)
    b = write_pcap(tmp_path / "b.pcap", c2.packets)
    with quiet(read_many, [b, a]) as t:
        assert (np.diff(t.ts_ns) >= 0).all()
        assert t.stats.duplicates == 0
    result = quiet(inferwire.analyze, [a, b])
    assert sorted(result.requests["request_id"]) == ["q0", "q50000"]
    assert result.requests["wait_ms"].round(6).tolist() == [2.0, 2.0]


def ring_pcapng(isb_drops: int, packets: list[tuple[int, bytes]]) -> bytes:
    """A pcapng with one interface, EPBs at the given ns, and a closing ISB with ifdrop."""
    out = raw.shb() + raw.idb(tsresol=9, name="lo")
    out += b"".join(raw.epb(data, ts) for ts, data in packets)
    return out + raw.isb(counters={5: isb_drops, 4: 1000})


def _syn(seq: int) -> bytes:
    return raw.ethernet(raw.ipv4(body=raw.tcp(flags=0x02, seq=seq)))


def test_ring_set_is_ordered_by_index_and_reports_the_last_cumulative_drops(tmp_path):
    t0 = 1_700_000_000 * 10**9
    names = ["cap_00009_20240101120000.pcapng", "cap_00010_20240101120001.pcapng",
             "cap_00011_20240101120001.pcapng"]
    for k, name in enumerate(names):
        (tmp_path / name).write_bytes(ring_pcapng(3 * (k + 1), [(t0 + k * 1000, _syn(k))]))
    with quiet(read_many, tmp_path) as t:
        assert t.stats.ring
        assert [os.path.basename(s.path) for s in t.stats.files] == names
        assert t.seq.tolist() == [0, 1, 2] and t.iface.tolist() == [0, 1, 2]
        assert list(t.stats.drops) == [2] and t.stats.drops[2]["ifdrop"] == 9
        assert [i["file"] for i in t.stats.interfaces] == [str(tmp_path / n) for n in names]
    assert ring_key("/x/cap_00010_20240101120001.pcapng") == ("cap.pcapng", 10, "20240101120001")
    assert ring_key("/x/capture.pcapng") is None


def test_unrelated_files_sum_their_drops(tmp_path):
    t0 = 1_700_000_000 * 10**9
    data = raw.ethernet(raw.ipv4(body=raw.tcp(flags=0x18, seq=9, payload=b"hello")))
    (tmp_path / "a.pcapng").write_bytes(ring_pcapng(2, [(t0, _syn(1)), (t0 + 5, data)]))
    (tmp_path / "b.pcapng").write_bytes(ring_pcapng(5, [(t0 + 10, _syn(2))]))
    with quiet(read_many, tmp_path) as t:
        assert not t.stats.ring
        assert {k: v["ifdrop"] for k, v in t.stats.drops.items()} == {0: 2, 1: 5}
    result = quiet(inferwire.analyze, tmp_path)
    assert any(w.startswith("interface 0: 2 packets dropped") for w in result.warnings)
    assert any(w.startswith("interface 1: 5 packets dropped") for w in result.warnings)


def test_errors_name_the_file(tmp_path):
    good = write_pcap(tmp_path / "good.pcap", keepalive(1).packets)
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"this is not a capture at all")
    with pytest.raises(CaptureFormatError) as info:
        quiet(read_many, [good, bad])
    assert info.value.path == str(bad) and info.value.field == "magic"
    missing = tmp_path / "missing.pcap"
    with pytest.raises(CaptureFormatError) as info:
        quiet(read_many, [good, missing])
    assert info.value.path == str(missing)
    empty_dir = _sub(tmp_path, "empty")
    (empty_dir / "readme.txt").write_text("no captures here")
    with pytest.raises(CaptureFormatError, match="no pcap or pcapng") as info:
        quiet(inferwire.analyze, empty_dir)
    assert info.value.path == str(empty_dir)
    with pytest.raises(CaptureFormatError, match="no capture files"):
        read_many([])


def test_a_file_given_twice_is_read_once(tmp_path):
    f = write_pcap(tmp_path / "f.pcap", keepalive(2).packets)
    with pytest.warns(inferwire.InferwireWarning, match="given twice"):
        t = read_many([f, str(tmp_path / "." / "f.pcap")])
    with t:
        assert t.stats.duplicates == 0 and len(t.stats.files) == 1


def test_cut_last_file_keeps_certain_rows_with_a_warning(tmp_path):
    """A ring's newest file may be cut mid-record (dumpcap still writing): a warning naming
    that file, and the rows before the cut."""
    packets = keepalive(3).packets
    a = write_pcap(tmp_path / "a.pcap", packets[:10])
    b = write_pcap(tmp_path / "b.pcap", packets[10:])
    data = open(b, "rb").read()
    open(b, "wb").write(data[:-30])
    with quiet(read_many, [a, b]) as t:
        assert len(t) == len(packets) - 1
        assert any(w.startswith(b) for w in t.stats.warnings)


def test_a_missing_ring_file_is_a_warning(tmp_path):
    t0 = 1_700_000_000 * 10**9
    for k in (1, 2, 4):
        (tmp_path / f"cap_{k:05d}_20240101120000.pcapng").write_bytes(
            ring_pcapng(0, [(t0 + k * 1000, _syn(k))]))
    with quiet(read_many, tmp_path) as t:
        gaps = [w for w in t.stats.warnings if "ring-buffer file number" in w]
        assert len(gaps) == 1 and "number 4 follows 2" in gaps[0]
        assert gaps[0].startswith(str(tmp_path / "cap_00004_20240101120000.pcapng"))
