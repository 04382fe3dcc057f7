"""A reference for streamed messages' times on a lossy capture, from tshark's TCP fields alone
(``tcp.seq``, ``tcp.len``, ``ip.id``, ``tcp.payload`` and frame times), not from inferwire's
delivery rule: the lossy streaming tests hold inferwire's messages table against it.

* At the client (the receiver of the tokens), a byte arrived with its first captured copy; at
  the server (the sender), the copy of a byte that got through is the one the client's capture
  holds first (the same segment, told apart from the other copies by its IP ID, which Linux
  counts up per packet of a connection), and the byte's time is when the server's capture saw
  that copy leave.
* A message ends when every byte up to its last had that time (TCP hands bytes over in order)
  and starts at the earliest first copy of any byte from its first to its last.

Messages are found in the server -> client bytes by the test's own readers: Server-Sent Events in
chunked HTTP/1.1 bodies (split on the blank line) and gRPC messages in HTTP/2 DATA frames (the
5-byte prefix, across frames).
"""
from __future__ import annotations

import functools
import subprocess
import warnings
from pathlib import Path

import numpy as np

import inferwire

PROBE_PORT = 9      # the capture runs' probe (the discard port), not the server's traffic
#: an ACK still short of a copy's bytes this long after it was sent says the copy was lost (the
#: tests' link is an unshaped veth: its round trip is tens of microseconds)
REPORTED_AFTER_S = 0.001


@functools.lru_cache(maxsize=4)
def analysis(path: Path, vantage: str):
    """inferwire's analysis of one vantage point's capture, made once per module."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return inferwire.analyze(path, ignore_ports=(PROBE_PORT,), vantage=vantage)


@functools.lru_cache(maxsize=8)
def segments(path: Path, port: int) -> dict[int, list[tuple]]:
    """Data segments from server ``port`` as tshark decodes them, per client port:
    [(time s, relative seq, length, IP ID, payload)] in file order."""
    out = subprocess.run(
        ["tshark", "-r", str(path), "-Y", f"tcp.srcport == {port} && tcp.len > 0", "-T",
         "fields", "-e", "tcp.dstport", "-e", "frame.time_epoch", "-e", "tcp.seq", "-e",
         "tcp.len", "-e", "ip.id", "-e", "tcp.payload"],
        capture_output=True, text=True, check=True).stdout
    segs: dict[int, list[tuple]] = {}
    for line in out.splitlines():
        dport, t, seq, length, ip_id, payload = line.split("\t")
        segs.setdefault(int(dport), []).append(
            (float(t), int(seq), int(length), int(ip_id, 16), bytes.fromhex(payload)))
    return segs


def first_copies(segs: list[tuple]) -> tuple[np.ndarray, np.ndarray, bytes]:
    """Per byte of the direction (relative seq 1 = offset 0): the capture time of its first
    copy, that copy's IP ID, and the bytes themselves."""
    n = max(seq - 1 + length for _, seq, length, _, _ in segs)
    first, ip_ids, data = np.full(n, np.inf), np.full(n, -1, np.int64), bytearray(n)
    for t, seq, length, ip_id, payload in sorted(segs):
        span = slice(seq - 1, seq - 1 + length)
        new = np.isinf(first[span])
        if new.any():
            at = np.arange(span.start, span.stop)[new]
            first[at], ip_ids[at] = t, ip_id
            data[span] = payload
    return first, ip_ids, bytes(data)


def sse_spans(data: bytes) -> list[tuple[int, int, int]]:
    """``(bytes, first offset, last offset)`` of every Server-Sent Event in the chunked HTTP/1.1
    responses of ``data`` (one direction), blank line included, across chunks."""
    out, at = [], 0
    while (head := data.find(b"\r\n\r\n", at)) >= 0:
        at, body, where = head + 4, bytearray(), []
        while True:                                   # the chunks of one response
            line = data.find(b"\r\n", at)
            size = int(data[at:line].split(b";")[0], 16)
            if size == 0:
                at = line + 4
                break
            body += data[line + 2:line + 2 + size]
            where.extend(range(line + 2, line + 2 + size))
            at = line + 4 + size
        start = pos = 0
        for ln in bytes(body).splitlines(keepends=True):
            pos += len(ln)
            if ln in (b"\n", b"\r\n", b"\r"):         # the blank line ends the event
                out.append((pos - start, where[start], where[pos - 1]))
                start = pos
    return out


def grpc_spans(data: bytes) -> dict[int, list[tuple[int, int, int]]]:
    """Per HTTP/2 stream of a server -> client direction (no preface): ``(message bytes without
    the prefix, offset of the prefix's first byte, offset of the message's last byte)`` of every
    length-prefixed gRPC message in its DATA frames (padding left out), across frames."""
    payload: dict[int, tuple[bytearray, list]] = {}
    at = 0
    while at + 9 <= len(data):
        length = int.from_bytes(data[at:at + 3], "big")
        kind, flags = data[at + 3], data[at + 4]
        stream = int.from_bytes(data[at + 5:at + 9], "big") & 0x7FFFFFFF
        begin, end = at + 9, at + 9 + length
        if kind == 0:                                  # DATA
            if flags & 0x8:                            # PADDED: pad length, then padding
                pad = data[begin]
                begin, end = begin + 1, end - pad
            body, where = payload.setdefault(stream, (bytearray(), []))
            body += data[begin:end]
            where.extend(range(begin, end))
        at = at + 9 + length
    out = {}
    for stream, (body, where) in payload.items():
        k, spans = 0, []
        while k + 5 <= len(body):
            size = int.from_bytes(body[k + 1:k + 5], "big")
            spans.append((size, where[k], where[k + 5 + size - 1]))
            k += 5 + size
        out[stream] = spans
    return out


def arrival_times(client: list[tuple], mine: list[tuple], vantage: str) -> tuple:
    """``(arrived, data)``: per byte of the direction, when it got through as seen at
    ``vantage`` (see the module docstring), and its bytes.  ``client``/``mine``: the
    direction's segments at the client and at ``vantage``."""
    first, _, data = first_copies(mine)
    if vantage == "client":
        return first, data
    _, reached, _ = first_copies(client)
    sent: dict[int, float] = {}
    for t, _, _, ip_id, _ in mine:
        sent.setdefault(ip_id, t)
    arrived = np.array([sent.get(i, np.nan) for i in reached[:len(first)].tolist()])
    assert not np.isnan(arrived).any(), "a copy the client got is not in the server's capture"
    return arrived, data


def times(arrived: np.ndarray, first: np.ndarray, spans) -> list[tuple]:
    """``(bytes, start s, end s)`` of each ``(bytes, first offset, last offset)`` span."""
    done = np.maximum.accumulate(arrived)
    return [(n, float(first[a:b + 1].min()), float(done[b])) for n, a, b in spans]


def reference(run_dir: Path, files: dict, vantage: str, port: int, reader) -> dict:
    """Per (client port, stream key): [(bytes, start s, end s)] of each message the reader
    (:func:`sse_spans`: key 0, or :func:`grpc_spans`: the HTTP/2 stream) finds in the server ->
    client bytes of ``port``'s connections, by the module's rule for ``vantage``."""
    client = segments(run_dir / files["client"], port)
    out = {}
    for dport, mine in segments(run_dir / files[vantage], port).items():
        arrived, data = arrival_times(client[dport], mine, vantage)
        first = first_copies(mine)[0]
        found = reader(data)
        for key, spans in (found.items() if isinstance(found, dict) else [(0, found)]):
            out[(dport, key)] = times(arrived, first, spans)
    return out


@functools.lru_cache(maxsize=8)
def acks(path: Path, port: int) -> dict[int, list[tuple]]:
    """The ACKs to server ``port`` as tshark decodes them, per client port, in file order:
    [(time s, relative ACK, D-SACK block (left, right) in relative sequence numbers or None)];
    a D-SACK is a first SACK block at or below the ACK (RFC 2883)."""
    out = subprocess.run(
        ["tshark", "-r", str(path), "-Y", f"tcp.dstport == {port} && tcp.flags.ack == 1", "-T",
         "fields", "-e", "tcp.srcport", "-e", "frame.time_epoch", "-e", "tcp.ack", "-e",
         "tcp.options.sack_le", "-e", "tcp.options.sack_re"],
        capture_output=True, text=True, check=True).stdout
    found: dict[int, list[tuple]] = {}
    for line in out.splitlines():
        sport, t, ack, left, right = line.split("\t")
        dsack = None
        if left and int(right.split(",")[0]) <= int(ack):
            dsack = (int(left.split(",")[0]), int(right.split(",")[0]))
        found.setdefault(int(sport), []).append((float(t), int(ack), dsack))
    return found


def sender_cannot_tell(run_dir: Path, files: dict, port: int, reader, key: tuple, index: int,
                       end_s: float, tolerance_s: float) -> bool:
    """Whether the sender's (the server's) capture cannot tell which copy of message ``index``
    of ``key`` got through, where the analyzer stamped its end at ``end_s``: the copy captured
    then carries bytes of it; of the copies of those bytes captured before the first ACK
    covering them, not counting one a D-SACK in that ACK names nor one an ACK still short of
    its bytes over a millisecond later says was lost, two or more are left, and the analyzer
    took the latest.  That is the limit docs/timing.md states: the client's ACK of
    the copy that got through and the ACK (D-SACK) of a timeout's repeat were both lost, so
    nothing the server saw tells the two apart."""
    dport, stream = key
    mine = segments(run_dir / files["server"], port)[dport]
    found = reader(first_copies(mine)[2])
    _, _, last = (found[stream] if isinstance(found, dict) else found)[index]
    taken = [(seq - 1, min(seq - 1 + length, last + 1)) for t, seq, length, _, _ in mine
             if abs(t - end_s) <= tolerance_s and 0 < length and seq - 1 <= last]
    if not taken:
        return False
    left, right = taken[0]
    copies = [t for t, seq, length, _, _ in mine if seq - 1 < right and seq - 1 + length > left]
    covering = [(t, dsack) for t, ack, dsack in acks(run_dir / files["server"], port)[dport]
                if ack - 1 >= right and t > min(copies)]
    until, dsack = min(covering, key=lambda c: c[0]) if covering else (float("inf"), None)
    reports = [(t, ack - 1) for t, ack, _ in acks(run_dir / files["server"], port)[dport]
               if ack - 1 <= left and t < until]
    before = [t for t in copies if t < until
              and not any(t + REPORTED_AFTER_S < when for when, _ in reports)]
    named = dsack is not None and dsack[0] - 1 < right and dsack[1] - 1 > left
    return len(before) - named >= 2 and abs(max(before, default=0) - end_s) <= tolerance_s


def inferwire_messages(analysis, port: int, by_stream: bool) -> dict:
    """The same shape from inferwire's messages table: per (client port, HTTP/2 stream or 0),
    the response messages of the connections to server ``port``, in stream order."""
    m = analysis.messages[analysis.messages["direction"] == "response"]
    rank = {rid: k for k, rid in enumerate(
        analysis.requests.sort_values("request_start")["request_id"])}
    conns = analysis.connections.set_index("connection")
    out = {}
    for (conn, stream), g in m.groupby(["connection", "stream"]):
        if not str(conns.loc[conn, "server"]).endswith(f":{port}"):
            continue
        client_port = int(str(conns.loc[conn, "client"]).rsplit(":", 1)[1])
        g = g.assign(rank=g["request_id"].map(rank)).sort_values(["rank", "index"])
        key = (client_port, int(stream) if by_stream else 0)
        out.setdefault(key, []).extend(zip(g["bytes"], g["start"], g["end"]))
    return out


def differences(ours: dict, theirs: dict, tolerance_us: float) -> tuple[int, list]:
    """(messages compared, [(key, index, start us, end us)] beyond ``tolerance_us``); asserts
    that both hold the same messages (keys and sizes)."""
    assert sorted(ours) == sorted(theirs)
    off, count = [], 0
    for key, mine in ours.items():
        assert [b for b, _, _ in mine] == [b for b, _, _ in theirs[key]], key
        for k, ((_, s1, e1), (_, s2, e2)) in enumerate(zip(mine, theirs[key])):
            count += 1
            if abs(s1 - s2) * 1e6 > tolerance_us or abs(e1 - e2) * 1e6 > tolerance_us:
                off.append((key, k, round((s1 - s2) * 1e6, 1), round((e1 - e2) * 1e6, 1)))
    return count, off


def beyond_the_senders_limit(run_dir: Path, files: dict, port: int, reader, off: list,
                             ours: dict, tolerance_us: float) -> list:
    """``off`` (:func:`differences` at the server) without the messages stamped late where the
    server's capture cannot tell which copy got through (:func:`sender_cannot_tell`): their
    start agrees, and the end is the latest of two or more copies nothing told apart."""
    return [o for o in off
            if not (abs(o[2]) <= tolerance_us and o[3] > tolerance_us and sender_cannot_tell(
                run_dir, files, port, reader, o[0], o[1], ours[o[0]][o[1]][2],
                tolerance_us / 1e6))]
