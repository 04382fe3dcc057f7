"""inferwire.problems: the one way the core reports a problem.

The type itself; that a parser's ProtocolError and the TLS connection builder's problems become
Problems naming the direction, stream offset and field (crafted bytes, analysed end to end as
lines); and that no
module of the core calls warnings.warn or records Python's warnings."""
from __future__ import annotations

import ast
import struct
import warnings
from pathlib import Path

import pytest

import inferwire
from craft import Conversation, write_pcap
from inferwire.exchanges.exchange import feed_chunks
from inferwire.exchanges.tls import tls_exchanges
from inferwire.packets import read_packets
from inferwire.protocols.http1 import Http1Parser
from inferwire.problems import Problem, lines
from inferwire.tcp import build_connections

SRC = Path(inferwire.__file__).resolve().parent
US = 1_000

# Modules that may hand lines to Python's warnings: the shell (capture, load, serving, servers'
# resources) and the public entry points, which collect the problems of the core as lines first
# and then warn the caller once per line (analyze(), read_packets(), the spill and multi-file
# readers, the annotated-pcapng writer).  A prefix names a module or a package.
MAY_WARN = ("analysis", "packets/reader.py", "packets/multi.py", "report/annotate.py",
            "capture/", "load/", "serving/", "experiment/resources.py")
# Where not even catch_warnings may appear: the stages that parse bytes.
PARSING = ("protocols/", "exchanges/", "tcp/")


def _calls(path: Path) -> set[str]:
    """'warn' when the module calls warnings.warn (under any alias), 'catch' for
    catch_warnings, 'record' for catch_warnings(record=True)."""
    tree = ast.parse(path.read_text())
    modules, direct = {"warnings"}, {}          # names bound to the module, to its functions
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.asname or a.name for a in node.names if a.name == "warnings"}
        elif isinstance(node, ast.ImportFrom) and node.module == "warnings":
            direct.update({a.asname or a.name: a.name for a in node.names})
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        fn = node.func
        if isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name) \
                and fn.value.id in modules:
            name = fn.attr
        elif isinstance(fn, ast.Name):
            name = direct.get(fn.id)
        else:
            continue
        if name == "warn":
            found.add("warn")
        elif name == "catch_warnings":
            found.add("catch")
            if any(k.arg == "record" for k in node.keywords):
                found.add("record")
    return found


def _modules():
    return [(p.relative_to(SRC).as_posix(), _calls(p)) for p in sorted(SRC.rglob("*.py"))]


def test_no_core_module_calls_warnings_warn():
    warners = [name for name, calls in _modules() if "warn" in calls]
    assert warners, "the scan found nothing: it no longer sees warnings.warn calls"
    assert [n for n in warners if not n.startswith(MAY_WARN)] == []


def test_parsing_stages_neither_warn_nor_catch_and_nothing_records_warnings():
    assert [(n, c) for n, c in _modules() if n.startswith(PARSING) and c] == []
    assert [n for n, c in _modules() if "record" in c] == []


def test_the_scan_sees_an_alias_and_a_recording_catch(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import warnings as w\nw.warn('x')\nwith w.catch_warnings(record=True):\n"
                      "    pass\n")
    assert _calls(module) == {"warn", "catch", "record"}
    module.write_text("from warnings import warn as say\nsay('x')\nlog.warn('not Python')\n")
    assert _calls(module) == {"warn"}


def test_a_problem_is_its_message_as_a_line_and_frozen():
    p = Problem("record too long", direction="client", offset=517, field="length")
    assert str(p) == "record too long" and lines([p, "already a line"]) == [
        "record too long", "already a line"]
    labelled = p.labelled("TLS client")
    assert str(labelled) == "TLS client: record too long"
    assert (labelled.direction, labelled.offset, labelled.field) == ("client", 517, "length")
    with pytest.raises(AttributeError):
        p.offset = 0


def _rec(ctype: int, payload: bytes, length: int | None = None) -> bytes:
    return struct.pack(">BHH", ctype, 0x0303, len(payload) if length is None else length) + payload


def _damaged_tls(tmp_path) -> str:
    """A ClientHello whose cipher-suite list is cut (malformed, the record intact), then a
    server record whose length runs past the server's FIN."""
    body = b"\x03\x03" + b"\x11" * 32 + b"\x00" + b"\x00\x40" + b"\x13\x01"
    hello = _rec(22, bytes([1]) + len(body).to_bytes(3, "big") + body)
    c = Conversation(server=("10.0.0.2", 8443))
    c.handshake(0, 10 * US, 20 * US)
    c.client(100 * US, hello)
    c.server(300 * US, _rec(23, b"x" * 20, length=400))
    c.fin_from_client(900 * US)
    c.fin_from_server(950 * US)
    return write_pcap(tmp_path / "damaged.pcap", c.packets)


def test_tls_connection_problems_name_direction_offset_and_field(tmp_path):
    path = _damaged_tls(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (conn,) = build_connections(read_packets(path))
    problems = tls_exchanges(conn).warnings
    assert all(isinstance(p, Problem) for p in problems)
    hello, overrun = problems
    assert hello.message.startswith("TLS client: malformed TLS handshake message: ")
    assert (hello.direction, hello.offset, hello.field) == ("client", 0,
                                                            "client_hello.cipher_suites")
    assert overrun.message.startswith("TLS server: application_data record at stream offset 0 "
                                      "declares 400 bytes, 380 more than were captured (the "
                                      "direction ended (FIN) at stream offset 25")
    assert (overrun.direction, overrun.offset, overrun.field) == ("server", 0, "length")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = inferwire.analyze(path, workers=1)
    assert analysis.warnings == [f"connection 0 (10.0.0.1:40000 -> 10.0.0.2:8443): {p}"
                                 for p in problems] + analysis.warnings[2:]


def test_a_protocol_error_becomes_a_problem_at_its_offset_and_field():
    problems = []
    good = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
    bad = b"GET /b HTTP/1.1\r\nContent-Length: x\r\n\r\n"
    events, end = feed_chunks(Http1Parser("client"), [(0, good), (len(good), bad)], problems,
                              "HTTP/1.1 requests")
    assert end is None and [m.target for m in events] == ["/a"]
    (problem,) = problems
    assert (problem.direction, problem.offset, problem.field) == ("client", len(good),
                                                                  "content-length")
    assert str(problem).startswith("HTTP/1.1 requests: ") and str(problem).endswith(
        "; later messages in this direction are not reported")
