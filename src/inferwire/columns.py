"""The public contract: the per-request and per-connection tables, their columns, units and meaning.

Every producer writes these columns in this order; every consumer (reports, joins, notebooks) reads
them.  README.md documents the same list (a test keeps the two in step).  Times in the tables are
float seconds since the Unix epoch (capture clock), and the same instants as ``*_utc`` pandas
Timestamps exact to the ns; durations are float milliseconds; sizes are bytes.
Empty (NaN / None) means "not applicable or not certain" — never zero.
"""
from __future__ import annotations

from typing import NamedTuple


class Column(NamedTuple):
    name: str
    dtype: str      # pandas dtype of the column
    unit: str
    definition: str


#: dtype of the instants as pandas Timestamps (the ``*_utc`` columns).
UTC_DTYPE = "datetime64[ns, UTC]"


def _utc(of: str, name: str | None = None) -> Column:
    """The ``<name>_utc`` column: instant ``of`` (float s since epoch) as a Timestamp."""
    return Column(f"{name or of}_utc", UTC_DTYPE, "UTC",
                  f"{of} as a pandas Timestamp, exact to the ns (from the integer ns inside)")


def utc_source(column) -> str:
    """The float-seconds column a ``*_utc`` column (or its name) gives as a Timestamp."""
    name = getattr(column, "name", column).removesuffix("_utc")
    return f"{name}_time" if name in ("syn", "first", "last") else name


REQUEST_COLUMNS: tuple[Column, ...] = (
    Column("connection", "int64", "",
           "the connection's number (= the connections table's `connection`)"),
    Column("client", "string", "ip:port", "client endpoint (the side that sent the SYN)"),
    Column("server", "string", "ip:port", "server endpoint"),
    Column("protocol", "string", "", '"http/1.1", "h2", "grpc" or "tls" (encrypted, no keys)'),
    Column("tls", "boolean", "", "the connection was TLS"),
    Column("inferred", "boolean", "",
           "boundaries inferred from record sizes and directions (TLS without keys), not parsed"),
    Column("stream", "Int64", "",
           "HTTP/2 stream id; for HTTP/1.1 and inferred TLS the 1-based position on its connection"),
    Column("method", "string", "", "request method (gRPC: POST)"),
    Column("path", "string", "", "request target / :path (gRPC: /package.Service/Method)"),
    Column("status", "Int64", "", "HTTP status of the final response (1xx interim responses excluded)"),
    Column("grpc_status", "Int64", "", "grpc-status from the trailers (0 = OK)"),
    Column("request_id", "string", "", "the x-request-id header / gRPC metadata, joins to client logs"),
    Column("request_bytes", "Int64", "bytes",
           "request body: HTTP/1.1 content bytes (chunked: decoded), HTTP/2 sum of DATA payloads "
           "(padding excluded); inferred TLS: application-data record payloads; empty unless "
           "the request was seen to its end"),
    Column("response_bytes", "Int64", "bytes", "response body, as request_bytes"),
    Column("request_start", "float64", "s since epoch",
           "capture time of the packet carrying the first byte of the request"),
    Column("request_end", "float64", "s since epoch",
           "capture time of the packet carrying the last byte of the request"),
    Column("response_start", "float64", "s since epoch",
           "capture time of the packet carrying the first byte of the (final) response"),
    Column("response_end", "float64", "s since epoch",
           "capture time of the packet carrying the last byte of the response (gRPC: of the trailers)"),
    _utc("request_start"),
    _utc("request_end"),
    _utc("response_start"),
    _utc("response_end"),
    Column("request_ms", "float64", "ms", "request_end - request_start: sending the request"),
    Column("wait_ms", "float64", "ms",
           "response_start - request_end: the server's time plus the network round trip "
           "(negative when the response began before the request's last byte)"),
    Column("response_ms", "float64", "ms", "response_end - response_start: receiving the response"),
    Column("total_ms", "float64", "ms", "response_end - request_start"),
    Column("tcp_handshake_ms", "float64", "ms",
           "SYN to the client's ACK completing the handshake; first request of a connection only"),
    Column("tls_handshake_ms", "float64", "ms",
           "first byte of ClientHello to the last byte of the final Finished; first request only"),
    Column("h2_setup_ms", "float64", "ms",
           "first byte of the client preface to the last SETTINGS ACK of the two; first request only"),
    Column("interim_responses", "Int64", "", "1xx responses before the final response (HTTP/1.1)"),
    Column("request_frame", "Int64", "", "frame number of the packet carrying the first request byte"),
    Column("response_frame", "Int64", "",
           "frame number of the packet carrying the last response byte"),
    Column("complete", "boolean", "", "both the request and the response were seen to their end"),
    Column("retrans_segments_to_server", "Int64", "",
           "client -> server retransmissions (Wireshark's tcp.analysis.retransmission: a segment "
           "repeating bytes already captured, or filling a hole later than the handshake's round "
           "trip) captured in [request_start, request_end]; empty when those are unknown"),
    Column("retrans_bytes_to_server", "Int64", "bytes",
           "payload bytes of those retransmissions (their wire length)"),
    Column("retrans_ms_to_server", "float64", "ms",
           "time within [request_start, request_end] during which request bytes waited for a "
           "retransmission: from a copy that did not get through (or, captured behind the loss, "
           "from the first later byte seen) to the copy that did"),
    Column("retrans_segments_to_client", "Int64", "",
           "server -> client retransmissions captured in [response_start, response_end]"),
    Column("retrans_bytes_to_client", "Int64", "bytes", "payload bytes of those retransmissions"),
    Column("retrans_ms_to_client", "float64", "ms",
           "time within [response_start, response_end] during which response bytes waited for "
           "a retransmission (as retrans_ms_to_server)"),
    Column("zero_window_ms", "float64", "ms",
           "time a sender was stalled by a zero TCP window (from the receiver's window-0 "
           "advertisement to its next window above 0), within the phase it sent in: the client's "
           "within [request_start, request_end] plus the server's within [response_start, "
           "response_end]"),
    Column("h2_flow_stall_ms", "float64", "ms",
           "HTTP/2 only: time a sender had DATA to send but no flow-control window (connection's "
           "or stream's exhausted, until the WINDOW_UPDATE or SETTINGS that reopened it), within "
           "the phase it sent in, as zero_window_ms"),
    Column("rtt_client_ms", "float64", "ms",
           "the connection's handshake round trip on the client's side of the capture point: "
           "SYN-ACK to the client's ACK (the SYN-ACK it answered: the latest before it where a "
           "first SYN-ACK was lost; nProbe's client network delay; ~0 captured on the client)"),
    Column("rtt_server_ms", "float64", "ms",
           "the handshake round trip on the server's side of the capture point: SYN to SYN-ACK "
           "(the SYN answered by the SYN-ACK the client's ACK answered, the latest before each "
           "where a first one was lost, to the first SYN-ACK after that SYN, not a repeat the "
           "server's timer sent; nProbe's server network delay; ~0 captured on the server)"),
    Column("ack_rtt_client_ms", "float64", "ms",
           "ACK round trip on the client's side near this request: from the first server -> "
           "client data segment captured in [request_start, response_end] (sent once) to the "
           "client's payload-free ACK covering it (Wireshark's tcp.analysis.ack_rtt; includes "
           "any delayed-ACK time); empty without such a segment"),
    Column("ack_rtt_server_ms", "float64", "ms",
           "as ack_rtt_client_ms, the server's side: the first client -> server data segment "
           "in [request_start, response_end] to the server's payload-free ACK covering it"),
    Column("error", "string", "",
           "why the request failed, as the server said on the wire: gRPC grpc-message of a "
           "non-zero grpc-status; HTTP/1.1 status >= 400: the `error` (or `detail`) of a JSON "
           "body (TF Serving, the Open Inference Protocol V2, KServe), else the body's first 200 "
           "characters; empty on success or when the body was not captured"),
    # -- streamed requests (issue 20): empty for requests whose messages were not split ----------
    Column("request_messages", "Int64", "",
           "messages client -> server that arrived whole: gRPC calls with more than one "
           "message either way; HTTP/1.1 requests with a chunked body (its chunks with data); "
           "empty otherwise"),
    Column("response_messages", "Int64", "",
           "streamed responses only: messages server -> client that carry data and arrived whole "
           "(a chunk with data; an SSE event with a data field other than `[DONE]`; a gRPC "
           "message); the message columns below use only these; empty "
           "for a unary response (Content-Length body, one gRPC message)"),
    Column("ttft_ms", "float64", "ms",
           "time to first token on the wire: request_end (gRPC: the first request message's "
           "last byte) to the first byte of the first response message with data"),
    Column("last_message_ms", "float64", "ms",
           "request_end (as ttft_ms) to the last byte of the last response message with data"),
    Column("message_gap_p50_ms", "float64", "ms",
           "inter-message gap (inter-token latency on the wire): median of the times between "
           "the last bytes of consecutive response messages with data; empty below two"),
    Column("message_gap_p90_ms", "float64", "ms", "as message_gap_p50_ms, the 90th percentile"),
    Column("message_gap_max_ms", "float64", "ms", "as message_gap_p50_ms, the largest"),
    Column("stream_done", "boolean", "",
           "streamed requests: an SSE `data: [DONE]` event was seen (HTTP), the call's "
           "trailers (grpc-status) came (gRPC)"),
)

#: The messages table (``messages.csv``, ``Analysis.messages``): one row per message of a
#: streamed request (see ``response_messages``); unary requests have none.
MESSAGE_COLUMNS: tuple[Column, ...] = (
    Column("connection", "int64", "", "the request's connection (= the requests table's)"),
    Column("stream", "Int64", "", "the request's stream (= the requests table's)"),
    Column("request_id", "string", "", "the request's request_id"),
    Column("direction", "string", "", '"request" (client -> server) or "response"'),
    Column("index", "int64", "", "0-based position of the message in its direction"),
    Column("kind", "string", "",
           '"data"; SSE: "done" for `data: [DONE]`, "other" for an event without a data field '
           "(a comment, a keep-alive)"),
    Column("start", "float64", "s since epoch",
           "capture time of the packet carrying the message's first byte (chunk: its size line; "
           "SSE: the event's first line; gRPC: the 5-byte prefix)"),
    Column("end", "float64", "s since epoch",
           "capture time of the packet carrying its last byte (SSE: of the blank line ending "
           "the event); empty when it did not arrive whole"),
    Column("bytes", "int64", "bytes",
           "chunk data; gRPC message without its prefix; SSE event as sent, blank line included"),
    Column("complete", "boolean", "", "the message arrived whole (False: cut by the capture's "
           "or the connection's end)"),
)

CONNECTION_COLUMNS: tuple[Column, ...] = (
    Column("connection", "int64", "",
           "number of the connection, counting every TCP connection of the capture in order of "
           "its first packet from 0 (= Wireshark's tcp.stream), also those left out"),
    Column("client", "string", "ip:port", "client endpoint"),
    Column("server", "string", "ip:port", "server endpoint"),
    Column("protocol", "string", "", '"http/1.1", "h2", "grpc", "tls" or "" when not recognised'),
    Column("tls", "boolean", "", "the connection was TLS"),
    Column("tls_version", "string", "", '"TLS 1.2", "TLS 1.3", ...'),
    Column("alpn", "string", "", "negotiated ALPN protocol, when visible"),
    Column("sni", "string", "", "server name from the ClientHello"),
    Column("syn_time", "float64", "s since epoch", "capture time of the client's first SYN"),
    Column("start_seen", "boolean", "", "the SYN was captured (the connection's start is certain)"),
    Column("first_time", "float64", "s since epoch", "first packet of the connection"),
    Column("last_time", "float64", "s since epoch", "last packet of the connection"),
    _utc("syn_time", "syn"),
    _utc("first_time", "first"),
    _utc("last_time", "last"),
    Column("duration_ms", "float64", "ms", "last_time - first_time"),
    Column("tcp_handshake_ms", "float64", "ms", "SYN to the ACK completing the handshake"),
    Column("tls_handshake_ms", "float64", "ms", "ClientHello to the end of the final Finished"),
    Column("h2_setup_ms", "float64", "ms", "client preface to the end of the SETTINGS exchange"),
    Column("requests", "int64", "", "requests found on the connection"),
    Column("packets", "int64", "", "TCP packets of the connection"),
    Column("bytes_to_server", "int64", "bytes", "distinct TCP payload bytes client -> server"),
    Column("bytes_to_client", "int64", "bytes", "distinct TCP payload bytes server -> client"),
    Column("retransmissions", "int64", "",
           "retransmitted segments, both directions (Wireshark's tcp.analysis.retransmission: a "
           "segment repeating bytes already captured, or filling a hole later than the "
           "handshake's round trip, 3 ms without one, after the segment past the hole; a "
           "repeated SYN, SYN-ACK or payload-free FIN, or a FIN first captured after its "
           "sender's ACK past it: its first copy was lost before the capture point)"),
    Column("missing_bytes", "int64", "bytes",
           "payload bytes sent but not captured (holes, snaplen cuts), both directions"),
    Column("retrans_bytes", "int64", "bytes",
           "payload bytes of the retransmissions (wire length), both directions"),
    Column("out_of_order", "int64", "",
           "segments filling a hole sooner than the handshake's round trip after the segment "
           "past it (tcp.analysis.out_of_order), both directions"),
    Column("dup_acks", "int64", "",
           "duplicate ACKs: no payload, SYN, FIN or RST, same ACK number and window as the "
           "previous packet of that direction (tcp.analysis.duplicate_ack), both directions"),
    Column("zero_windows", "int64", "",
           "packets advertising a zero window (tcp.analysis.zero_window), both directions"),
    Column("mss_client", "Int64", "bytes", "MSS option of the client's SYN"),
    Column("mss_server", "Int64", "bytes", "MSS option of the server's SYN-ACK"),
    Column("wscale_client", "Int64", "",
           "window scale shift of the client's SYN (empty: not offered, windows unscaled)"),
    Column("wscale_server", "Int64", "", "window scale shift of the server's SYN-ACK"),
    Column("sack_permitted", "boolean", "",
           "both SYNs offered SACK (empty when either SYN was not captured)"),
    Column("max_in_flight_to_server_bytes", "Int64", "bytes",
           "most client -> server bytes sent and not yet acknowledged, measured at each data "
           "segment as captured (tcp.analysis.bytes_in_flight)"),
    Column("max_in_flight_to_client_bytes", "Int64", "bytes",
           "as max_in_flight_to_server_bytes, server -> client"),
    Column("rtt_client_ms", "float64", "ms",
           "handshake round trip on the client's side of the capture point: SYN-ACK to the "
           "client's ACK (the SYN-ACK it answered: the latest before it where a first SYN-ACK "
           "was lost)"),
    Column("rtt_server_ms", "float64", "ms",
           "handshake round trip on the server's side of the capture point: SYN to SYN-ACK "
           "(the SYN answered by the SYN-ACK the client's ACK answered, the latest before each "
           "where a first one was lost, to the first SYN-ACK after that SYN, not a repeat the "
           "server's timer sent)"),
    Column("vantage", "string", "",
           '"client" or "server": the host the capture point is nearer, from the two '
           'handshake round trips; "" unknown'),
    Column("end", "string", "", '"fin", "rst", or "open" (still open at the end of the capture)'),
    Column("warnings", "string", "", "what was uncertain or missing on this connection"),
)

#: Columns the join with the client's log (and the server's request log) adds to REQUEST_COLUMNS.
JOINED_COLUMNS: tuple[Column, ...] = (
    Column("workload", "string", "", "which load of the run sent it (e.g. rest, grpc)"),
    Column("in_capture", "boolean", "", "the request was found in the capture"),
    Column("in_client_log", "boolean", "", "the request is in the client's log"),
    Column("client_phase", "string", "", '"measure", or "warmup" for unmeasured warm-up requests'),
    Column("client_ok", "boolean", "", "the client counted the request as a success"),
    Column("client_status", "string", "", "HTTP status or gRPC code the client saw"),
    Column("client_scheduled", "float64", "s since epoch",
           "when the load generator planned to send it (open loop)"),
    Column("client_started", "float64", "s since epoch", "when the client started the request"),
    Column("client_finished", "float64", "s since epoch", "when the client had the response"),
    _utc("client_scheduled"),
    _utc("client_started"),
    _utc("client_finished"),
    Column("client_ms", "float64", "ms", "client_finished - client_started: the client's latency"),
    Column("client_before_ms", "float64", "ms",
           "request_start - client_started: client time before the first request byte on the "
           "wire (serialisation, connection set-up, scheduling)"),
    Column("client_after_ms", "float64", "ms",
           "client_finished - response_end: client time after the last response byte "
           "(parsing, deserialisation)"),
    Column("client_overhead_ms", "float64", "ms", "client_ms - total_ms"),
    Column("serialize_ms", "float64", "ms", "the client's own time encoding the request"),
    Column("model_ms", "float64", "ms", "the server's time inside the model call (server log)"),
    Column("queue_ms", "float64", "ms", "the server's time waiting for a batch (server log)"),
    Column("server_ms", "float64", "ms",
           "the server's time from request bytes in hand to response bytes ready (server log)"),
    Column("network_and_stack_ms", "float64", "ms",
           "wait_ms - server_ms: what the wait held besides the server's own handling"),
    Column("server_join", "string", "",
           '"id": server log joined by request id; "peer order": by the client endpoint and '
           "the order of requests on it (tools that send no id); empty: not in the server log"),
)

#: Columns added after tables were first written (TCP's share, issue 14): a table saved by an
#: earlier version lacks them, and is read with them empty (not known), not refused.
LATER_COLUMNS = frozenset((
    "retrans_segments_to_server", "retrans_bytes_to_server", "retrans_ms_to_server",
    "retrans_segments_to_client", "retrans_bytes_to_client", "retrans_ms_to_client",
    "zero_window_ms", "h2_flow_stall_ms", "rtt_client_ms", "rtt_server_ms", "ack_rtt_client_ms",
    "ack_rtt_server_ms", "retrans_bytes", "out_of_order", "dup_acks", "zero_windows",
    "mss_client", "mss_server", "wscale_client", "wscale_server", "sack_permitted",
    "max_in_flight_to_server_bytes", "max_in_flight_to_client_bytes", "vantage", "error",
    "request_messages", "response_messages", "ttft_ms", "last_message_ms",
    "message_gap_p50_ms", "message_gap_p90_ms", "message_gap_max_ms", "stream_done"))

REQUEST_COLUMN_NAMES = tuple(c.name for c in REQUEST_COLUMNS)
CONNECTION_COLUMN_NAMES = tuple(c.name for c in CONNECTION_COLUMNS)

#: The phase columns a summary reports percentiles of.
PHASE_COLUMNS = ("tcp_handshake_ms", "tls_handshake_ms", "h2_setup_ms", "request_ms", "wait_ms",
                 "response_ms", "total_ms")


def markdown_table(columns: tuple[Column, ...]) -> str:
    """The columns as a Markdown table (name, unit, definition), for the README."""
    lines = ["| column | unit | definition |", "|---|---|---|"]
    lines += [f"| `{c.name}` | {c.unit} | {c.definition} |" for c in columns]
    return "\n".join(lines)

#: Columns a run against Triton adds to the joined table, from Triton's own per-request trace
#: (level TIMESTAMPS; stamp names in capitals are Triton's, HTTP_* or GRPC_* by front end).
TRITON_COLUMNS: tuple[Column, ...] = (
    Column("triton_trace_id", "Int64", "", "Triton's trace id of the request"),
    Column("triton_joined_by", "string", "",
           '"request_id" (the V2 id Triton recorded), or "time" for a request without an id '
           "whose wait alone held this trace's receive-end and send-start"),
    Column("triton_recv_end", "float64", "s since epoch",
           "HTTP_RECV_END / GRPC_WAITREAD_END: Triton's front end had the whole request "
           "(steady clock put on the wall clock)"),
    Column("triton_send_start", "float64", "s since epoch",
           "HTTP_SEND_START / GRPC_SEND_START: Triton's front end began sending the response"),
    Column("triton_recv_ms", "float64", "ms",
           "HTTP_RECV_START -> HTTP_RECV_END (gRPC: GRPC_WAITREAD_START -> GRPC_WAITREAD_END, "
           "which includes waiting for the request to arrive)"),
    Column("triton_queue_ms", "float64", "ms", "QUEUE_START -> COMPUTE_START: in the scheduler's "
                                               "queue (dynamic batching waits here)"),
    Column("triton_compute_input_ms", "float64", "ms",
           "COMPUTE_START -> COMPUTE_INPUT_END: inputs handed to the backend"),
    Column("triton_compute_infer_ms", "float64", "ms",
           "COMPUTE_INPUT_END -> COMPUTE_OUTPUT_START: the model's execution"),
    Column("triton_compute_output_ms", "float64", "ms",
           "COMPUTE_OUTPUT_START -> COMPUTE_END: outputs taken from the backend"),
    Column("triton_request_ms", "float64", "ms", "REQUEST_START -> REQUEST_END: in Triton's core"),
    Column("triton_send_ms", "float64", "ms", "HTTP_SEND_START -> HTTP_SEND_END (gRPC: "
                                              "GRPC_SEND_START -> GRPC_SEND_END)"),
    Column("triton_server_ms", "float64", "ms",
           "triton_recv_end -> triton_send_start: Triton's time holding the request "
           "(also server_ms)"),
    Column("triton_frontend_ms", "float64", "ms",
           "(triton_recv_end -> QUEUE_START) + (INFER_RESPONSE_COMPLETE -> triton_send_start): "
           "Triton's HTTP/gRPC front end and core on the way in and out, outside queue and "
           "model"),
)
