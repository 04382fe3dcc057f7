"""Data shared by the report tests: the crafted two-request capture and its known times, the
shipped samples' paths, and the tool check (import as ``report.data``)."""
from __future__ import annotations

from pathlib import Path


from craft import T0_NS, Conversation, http_request, http_response, write_pcap
from needs import need_tool

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "captures"
NOTEBOOKS = ROOT / "notebooks"


require_tool = need_tool


#: Times (ns after T0) of the crafted two-request HTTP/1.1 connection.
SYN, SYNACK, ACK = 0, 100_000, 150_000
REQ1, RESP1 = 1_000_000, 4_000_000            # request 1: one packet each way
REQ2_A, REQ2_B, RESP2_A, RESP2_B = 6_000_000, 6_500_000, 9_000_000, 9_200_000


def make_crafted_pcap(tmp_path) -> Path:
    """One HTTP/1.1 connection: handshake, request r1 (1 packet) -> response (1 packet), then
    request r2 in two packets -> response in two packets, then FIN.  Frames 1-3 handshake, 4 r1,
    5 resp1, 6-7 r2, 8-9 resp2, 10-11 FINs."""
    conv = Conversation(t0_ns=T0_NS)
    conv.handshake(SYN, SYNACK, ACK)
    conv.client(REQ1, http_request(request_id="r1", body=b'{"a": 1}'))
    conv.server(RESP1, http_response())
    req2 = http_request(request_id="r2", body=b'{"b": 22}')
    conv.client(REQ2_A, req2[:20])
    conv.client(REQ2_B, req2[20:])
    resp2 = http_response(body=b'{"predictions": [1]}')
    conv.server(RESP2_A, resp2[:10])
    conv.server(RESP2_B, resp2[10:])
    conv.fin_from_client(10_000_000)
    conv.fin_from_server(10_100_000)
    return Path(write_pcap(tmp_path / "two.pcap", conv.packets))
