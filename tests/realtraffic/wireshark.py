"""The reference: what Wireshark's own dissectors (tshark) say about a capture, as request rows.

Definitions (the same as inferwire's columns, stated in Wireshark's terms):

* tshark shows a message (an HTTP/1.x request or response, an HTTP/2 frame) in the frame where its
  TCP reassembly COMPLETES, i.e. the frame carrying its LAST byte.  When it was reassembled, the
  ``tcp.segment`` field lists the frames of its segments; the first one carries its FIRST byte.
  Otherwise the one frame carries both.
* HTTP/1.x: request first byte = first segment of the request; request last byte = the request's
  frame (body included: tshark desegments bodies by default); response = the FINAL (non-1xx)
  response whose ``http.request_in`` is the request; 1xx responses are counted as interim.
* HTTP/2: request first byte = first byte of the client's first HEADERS frame of the stream;
  request last byte = last byte of the client's frame carrying END_STREAM (or of the
  CONTINUATION ending that HEADERS frame's header block); response first byte =
  first byte of the server's first HEADERS/DATA frame; response last byte = last byte of the
  server's frame carrying END_STREAM (for gRPC, the trailers).
* A body delimited by the server closing the connection (HTTP/1.0 without Content-Length) is
  completed by tshark at the FIN.  When that is a bare FIN (no payload), the last byte is in the
  last reassembled segment that carried payload (``last_frame``).
* Times are ``frame.time_epoch`` of those frames, read as exact integer nanoseconds.
* ``complete``: both the request's and the response's last bytes were seen.
* The HTTP/1.x reference reads one message per packet (``-T json -e``): it does not handle
  pipelining, which these clients never do (the tests count the reference rows).
"""
from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field

TSHARK_TIMEOUT_S = 60


def tshark(path: str, args: list[str]) -> str:
    """stdout of ``tshark -r path -n args`` (raises with tshark's stderr on failure)."""
    done = subprocess.run(["tshark", "-r", str(path), "-n", *args], capture_output=True,
                          text=True, timeout=TSHARK_TIMEOUT_S)
    if done.returncode != 0:
        raise AssertionError(f"tshark {' '.join(args)} failed: {done.stderr[-1000:]}")
    return done.stdout


#: Reassemble out-of-order segments: by default tshark does not pass a segment it took for a
#: retransmission up to the protocol above, so loopback's reordering (a segment stamped after a
#: later one) can hide a whole segment's messages from its dissectors (136 of 1,028,000 gRPC
#: messages on one capture, docs/streaming.md); inferwire reassembles them.  For the message
#: crosschecks (not the TCP analysis ones, whose flags this does not change).
REASSEMBLE_OUT_OF_ORDER = ["-o", "tcp.reassemble_out_of_order:TRUE"]


def decode_args(ports, protocol: str) -> list[str]:
    """``-d tcp.port==P,protocol`` for each port (Wireshark's Decode As)."""
    out = []
    for p in ports:
        out += ["-d", f"tcp.port=={p},{protocol}"]
    return out


def epoch_ns(text: str) -> int:
    """``frame.time_epoch`` ("1795619523.774062381") as exact integer nanoseconds."""
    sec, _, frac = text.partition(".")
    return int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])


def tshark_fields(path, fields: list[str], display_filter: str, extra=()) -> list[dict]:
    """One dict per packet: field -> list of values (tshark's -T json -e output)."""
    args = ["-T", "json", *extra, "-Y", display_filter]
    for f in fields:
        args += ["-e", f]
    out = tshark(path, args)
    return [p["_source"]["layers"] for p in json.loads(out or "[]")]


def data_stream(layers: dict) -> int:
    """The HTTP/2 stream of a packet's DATA frames (fields ``http2.streamid`` and ``http2.type``,
    one value per frame, in order): a packet may begin with another stream's frame (a stream-0
    SETTINGS or WINDOW_UPDATE before the DATA), so its first stream id is not the messages'."""
    sids, types = layers.get("http2.streamid", []), layers.get("http2.type", [])
    data = [int(sid) for sid, kind in zip(sids, types) if kind == "0"]
    return data[0] if data else int(sids[0])


def one(layers: dict, name: str, default=None):
    vals = layers.get(name)
    return vals[0] if vals else default


def exclude(probe_port: int) -> str:
    return f"!(tcp.port == {probe_port})"


# -- frames and TCP ---------------------------------------------------------------------------
def frame_table(path) -> tuple[dict[int, int], dict[int, int]]:
    """(frame number -> capture time in ns, frame number -> TCP payload bytes) of every frame."""
    out = tshark(path, ["-T", "fields", "-e", "frame.number", "-e", "frame.time_epoch",
                        "-e", "tcp.len"])
    times, lengths = {}, {}
    for line in out.splitlines():
        num, t, n = line.split("\t")
        times[int(num)], lengths[int(num)] = epoch_ns(t), int(n or 0)
    return times, lengths


@dataclass
class TcpStream:
    """One TCP connection as tshark sees it (``tcp.stream``), handshake times in ns."""

    index: int
    client: str = ""
    server: str = ""
    syn_ns: int | None = None
    synack_seq: int | None = None
    synack_ns: int | None = None
    ack_ns: int | None = None          # the client's ACK of the SYN-ACK
    initial_rtt_ns: int | None = None  # tcp.analysis.initial_rtt
    fin: bool = False
    rst: bool = False
    packets: int = 0


def tcp_streams(path, probe_port: int) -> dict[int, TcpStream]:
    """Every TCP connection except the capture probe's, keyed by tshark's ``tcp.stream``."""
    fields = ["tcp.stream", "frame.time_epoch", "ip.src", "tcp.srcport", "ip.dst", "tcp.dstport",
              "tcp.flags", "tcp.seq_raw", "tcp.ack_raw", "tcp.analysis.initial_rtt"]
    streams: dict[int, TcpStream] = {}
    for p in tshark_fields(path, fields, f"tcp && {exclude(probe_port)}"):
        s = streams.setdefault(int(one(p, "tcp.stream")), TcpStream(int(one(p, "tcp.stream"))))
        _add_packet(s, p)
    return streams


def _add_packet(s: TcpStream, p: dict) -> None:
    flags, t = int(one(p, "tcp.flags"), 16), epoch_ns(one(p, "frame.time_epoch"))
    src = f"{one(p, 'ip.src')}:{one(p, 'tcp.srcport')}"
    dst = f"{one(p, 'ip.dst')}:{one(p, 'tcp.dstport')}"
    s.packets += 1
    s.fin |= bool(flags & 0x01)
    s.rst |= bool(flags & 0x04)
    if flags & 0x12 == 0x02 and s.syn_ns is None:
        s.syn_ns, s.client, s.server = t, src, dst
    elif flags & 0x12 == 0x12 and s.synack_ns is None:
        s.synack_ns, s.synack_seq = t, int(one(p, "tcp.seq_raw"))
    elif (flags & 0x12 == 0x10 and s.ack_ns is None and s.synack_seq is not None
          and src == s.client and int(one(p, "tcp.ack_raw")) == (s.synack_seq + 1) % 2**32):
        s.ack_ns = t
    rtt = one(p, "tcp.analysis.initial_rtt")
    if rtt is not None and s.initial_rtt_ns is None:
        s.initial_rtt_ns = epoch_ns(rtt)


# -- HTTP/1.x ---------------------------------------------------------------------------------
HTTP1_FIELDS = ["frame.number", "tcp.stream", "ip.src", "tcp.srcport", "http.request",
                "http.response", "http.request.method", "http.request.uri", "http.response.code",
                "http.request.line", "http.request_in", "tcp.segment"]


def header(lines: list[str], name: str) -> str | None:
    """The value of header ``name`` among tshark's ``http.request.line`` entries."""
    for line in lines or ():
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


def first_frame(p: dict) -> int:
    """The frame carrying a message's first byte: its first TCP segment, or itself."""
    segs = [int(x) for x in p.get("tcp.segment", [])]
    return min(segs) if segs else int(one(p, "frame.number"))


def last_frame(p: dict, lengths: dict[int, int]) -> int:
    """The frame carrying a message's last byte.  Normally where tshark completed it; but a body
    delimited by the server closing the connection completes at the FIN, which may be a bare FIN
    without payload: then the last byte is in the last segment that carried payload."""
    frame = int(one(p, "frame.number"))
    if lengths.get(frame):
        return frame
    carrying = [int(x) for x in p.get("tcp.segment", []) if lengths.get(int(x))]
    return max(carrying) if carrying else frame


def http1_rows(path, ports, probe_port: int, times: dict[int, int],
               lengths: dict[int, int]) -> list[dict]:
    """Per HTTP/1.x request: the reference row (inferwire's column names, times in ns)."""
    packets = tshark_fields(path, HTTP1_FIELDS, f"http && {exclude(probe_port)}",
                            decode_args(ports, "http"))
    requests = [p for p in packets if "http.request" in p]
    responses = [p for p in packets if "http.response" in p]
    final = {int(one(p, "http.request_in")): p for p in responses
             if int(one(p, "http.response.code")) >= 200 and one(p, "http.request_in")}
    rows, position = [], defaultdict(int)
    for req in requests:
        stream = int(one(req, "tcp.stream"))
        position[stream] += 1
        rows.append(_http1_row(req, final.get(int(one(req, "frame.number"))), position[stream],
                               responses, times, lengths))
    return rows


def _http1_row(req: dict, resp: dict | None, position: int, responses, times, lengths) -> dict:
    frame = int(one(req, "frame.number"))
    row = {"client": f"{one(req, 'ip.src')}:{one(req, 'tcp.srcport')}", "stream": position,
           "tcp_stream": int(one(req, "tcp.stream")),
           "method": one(req, "http.request.method"), "path": one(req, "http.request.uri"),
           "request_id": header(req.get("http.request.line"), "x-request-id"),
           "request_frame": first_frame(req), "request_start": times[first_frame(req)],
           "request_end": times[frame]}
    if resp is not None:
        last = last_frame(resp, lengths)
        row.update(status=int(one(resp, "http.response.code")), response_frame=last,
                   response_start=times[first_frame(resp)], response_end=times[last],
                   interim_responses=_interim(req, resp, responses))
    row["complete"] = resp is not None
    return row


def _interim(req: dict, resp: dict, responses) -> int:
    """1xx responses on the request's connection completed between its first byte and the final
    response (tshark cannot link them with http.request_in: the request was not complete yet)."""
    stream, lo, hi = one(req, "tcp.stream"), first_frame(req), first_frame(resp)
    return sum(1 for p in responses if one(p, "tcp.stream") == stream
               and int(one(p, "http.response.code")) < 200
               and lo < int(one(p, "frame.number")) < hi)


# -- HTTP/2 -----------------------------------------------------------------------------------
@dataclass
class H2Frame:
    """One HTTP/2 frame as tshark dissected it: where its first and last bytes were."""

    tcp_stream: int
    from_client: bool
    stream_id: int
    type: int
    flags: int
    length: int
    first_frame: int
    last_frame: int
    headers: dict = field(default_factory=dict)

    @property
    def end_stream(self) -> bool:
        return self.type in (0, 1) and bool(self.flags & 0x01)


def _as_list(x) -> list:
    return x if isinstance(x, list) else [] if x is None else [x]


def h2_frames(path, ports, probe_port: int) -> list[H2Frame]:
    """Every HTTP/2 frame (the client preface as type -1), in capture order."""
    # grpc/protobuf sub-dissection of 150 kB messages took tshark 40 s; the frames need neither
    out = tshark(path, ["-T", "json", "--no-duplicate-keys", *decode_args(ports, "http2"),
                        "--disable-protocol", "grpc", "--disable-protocol", "protobuf",
                        "-Y", f"http2 && {exclude(probe_port)}"])
    frames = []
    for pkt in json.loads(out or "[]"):
        frames += _packet_h2_frames(pkt["_source"]["layers"], ports)
    return frames


def _packet_h2_frames(layers: dict, ports) -> list[H2Frame]:
    tcp = layers["tcp"]
    number = int(layers["frame"]["frame.number"])
    segments = layers.get("tcp.segments", {}).get("tcp.segment")
    # tcp_dissect_pdus hands over the reassembled PDU first, then the whole ones that follow
    reassembled_first = min(int(s) for s in _as_list(segments)) if segments else None
    out = []
    for layer in _as_list(layers.get("http2")):
        for st in _as_list(layer.get("http2.stream")):
            first = reassembled_first if reassembled_first is not None and not out else number
            out.append(H2Frame(
                tcp_stream=int(tcp["tcp.stream"]),
                from_client=int(tcp["tcp.dstport"]) in ports,
                stream_id=int(st.get("http2.streamid", 0)),
                type=int(st["http2.type"]) if "http2.type" in st else -1,
                flags=int(st.get("http2.flags", "0x0"), 16), length=int(st.get("http2.length", 0)),
                first_frame=first, last_frame=number, headers=_h2_headers(st)))
    return out


def _h2_headers(st: dict) -> dict:
    return {h.get("http2.header.name"): h.get("http2.header.value", "")
            for h in _as_list(st.get("http2.header"))}


def h2_rows(frames: list[H2Frame], streams: dict[int, TcpStream], times) -> list[dict]:
    """Per HTTP/2 stream (request): the reference row, times in ns."""
    by_stream: dict[tuple, list[H2Frame]] = defaultdict(list)
    for f in frames:
        if f.stream_id:
            by_stream[(f.tcp_stream, f.stream_id)].append(f)
    return [_h2_row(streams[k[0]].client, k[1], fs, times) for k, fs in by_stream.items()]


def _h2_row(client: str, sid: int, fs: list[H2Frame], times) -> dict:
    up = [f for f in fs if f.from_client and f.type in (0, 1, 9)]
    down = [f for f in fs if not f.from_client and f.type in (0, 1, 9)]
    req_head = next(f for f in up if f.type == 1)
    req_last = _message_end(up)
    resp_first = next((f for f in down if f.type in (0, 1)), None)
    resp_last = _message_end(down)
    client_headers = _merged(up)
    server_headers = _merged(down)
    status = server_headers.get(":status")
    grpc = server_headers.get("grpc-status")
    return {
        "client": client, "stream": sid, "method": client_headers.get(":method"),
        "path": client_headers.get(":path"), "request_id": client_headers.get("x-request-id"),
        "status": int(status) if status else None, "grpc_status": int(grpc) if grpc else None,
        "request_bytes": sum(f.length for f in up if f.type == 0),
        "response_bytes": sum(f.length for f in down if f.type == 0),
        "request_frame": req_head.first_frame, "request_start": times[req_head.first_frame],
        "request_end": times[req_last.last_frame] if req_last else None,
        "response_start": times[resp_first.first_frame] if resp_first else None,
        "response_frame": resp_last.last_frame if resp_last else None,
        "response_end": times[resp_last.last_frame] if resp_last else None,
        # both ends seen: a RST_STREAM after them (legal on a closed stream) changes nothing
        "complete": req_last is not None and resp_last is not None,
    }


def _merged(fs: list[H2Frame]) -> dict:
    """Header fields of HEADERS and CONTINUATION frames (tshark decodes a block where it ends)."""
    return {k: v for f in fs if f.type in (1, 9) for k, v in f.headers.items()}


def _message_end(fs: list[H2Frame]) -> H2Frame | None:
    """The frame holding one side's last byte: the END_STREAM frame, or, for a HEADERS frame
    without END_HEADERS, the CONTINUATION that ends its header block."""
    for i, f in enumerate(fs):
        if not f.end_stream:
            continue
        if f.type == 1 and not f.flags & 0x04:
            return next((c for c in fs[i + 1:] if c.type == 9 and c.flags & 0x04), None)
        return f
    return None


def h2_setup(frames: list[H2Frame], tcp_stream: int, times) -> int | None:
    """Client preface first byte to the later of the two SETTINGS ACKs (ns), as inferwire defines
    ``h2_setup_ms``; None when a piece is missing."""
    fs = [f for f in frames if f.tcp_stream == tcp_stream]
    preface = next((f for f in fs if f.type == -1), None)
    acks = [next((f for f in fs if f.type == 4 and f.flags & 1 and f.from_client == side), None)
            for side in (True, False)]
    if preface is None or None in acks:
        return None
    return max(times[a.last_frame] for a in acks) - times[preface.first_frame]
