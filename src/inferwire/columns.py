"""The public contract: the per-request and per-connection tables, their columns, units and meaning.

Every producer writes these columns in this order; every consumer (reports, joins, notebooks) reads
them.  README.md documents the same list (a test keeps the two in step).  Times in the tables are
float seconds since the Unix epoch (capture clock); durations are float milliseconds; sizes are bytes.
Empty (NaN / None) means "not applicable or not certain" — never zero.
"""
from __future__ import annotations

from typing import NamedTuple


class Column(NamedTuple):
    name: str
    dtype: str      # pandas dtype of the column
    unit: str
    definition: str


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
    Column("error", "string", "",
           "why the request failed, as the server said on the wire: gRPC grpc-message of a "
           "non-zero grpc-status; HTTP/1.1 status >= 400: the `error` (or `detail`) of a JSON "
           "body (TF Serving, the Open Inference Protocol V2, KServe), else the body's first 200 "
           "characters; empty on success or when the body was not captured"),
)

#: Columns added after tables were first written: a table without them reads with them empty.
ADDED_COLUMNS: tuple[str, ...] = ("error",)

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
    Column("duration_ms", "float64", "ms", "last_time - first_time"),
    Column("tcp_handshake_ms", "float64", "ms", "SYN to the ACK completing the handshake"),
    Column("tls_handshake_ms", "float64", "ms", "ClientHello to the end of the final Finished"),
    Column("h2_setup_ms", "float64", "ms", "client preface to the end of the SETTINGS exchange"),
    Column("requests", "int64", "", "requests found on the connection"),
    Column("packets", "int64", "", "TCP packets of the connection"),
    Column("bytes_to_server", "int64", "bytes", "distinct TCP payload bytes client -> server"),
    Column("bytes_to_client", "int64", "bytes", "distinct TCP payload bytes server -> client"),
    Column("retransmissions", "int64", "",
           "segments that repeated bytes already captured (both directions)"),
    Column("missing_bytes", "int64", "bytes",
           "payload bytes sent but not captured (holes, snaplen cuts), both directions"),
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
)

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
