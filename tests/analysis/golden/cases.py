"""The golden cases: sample captures and how each is read.  Shared by ``make_golden.py`` (which
wrote the expected tables with the code before issue 18's refactoring, /work/main/src at the
time) and ``test_golden.py`` (which runs today's code and asserts byte-identical tables).

Each case: (name, kind, inputs, keyword arguments).  ``kind``: "analyze" (one capture, a list,
or a directory), "two" (``analyze_two``: a client- and a server-side capture), "joined" (a run
folder's joined table: capture x client log x server log).  Inputs are paths relative to the
repository root.
"""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
CRAFTED = "tests/analysis/golden/captures"
FUZZ = "tests/fuzz/corpus/captures"

CASES = [
    # real traffic of the embedded server (REST and gRPC, a connection per request)
    ("real_rest_grpc", "analyze", ["captures/run-new-conn/capture.pcapng"], {}),
    ("real_rest_grpc_keepalive", "analyze", ["captures/run-b1/capture.pcapng"], {}),
    # real TLS, decrypted with its key log, and without it (boundaries inferred)
    ("real_tls_keylog", "analyze", ["captures/tls-rest.pcapng"],
     {"tls_keylog": "captures/tls-rest.keylog"}),
    ("real_tls_inferred", "analyze", ["captures/tls-rest.pcapng"], {}),
    ("real_decode_as_ignore", "analyze", ["captures/run-new-conn/capture.pcapng"],
     {"decode_as": {8500: "http/1.1"}, "ignore_ports": (8501,)}),
    ("real_vantage_server", "analyze", ["captures/run-b1/capture.pcapng"], {"vantage": "server"}),
    # crafted: streamed messages, multiplexed HTTP/2, retransmissions, bad inputs (warnings)
    ("http1_sse", "analyze", [f"{CRAFTED}/http1_sse.pcap"], {}),
    ("http1_sse_cut", "analyze", [f"{CRAFTED}/http1_sse_cut.pcap"], {}),
    ("grpc_streamed", "analyze", [f"{CRAFTED}/grpc_streamed.pcap"], {}),
    ("h2_sse", "analyze", [f"{CRAFTED}/h2_sse.pcap"], {}),
    ("two_files", "analyze", [f"{CRAFTED}/http1_sse.pcap", f"{CRAFTED}/grpc_streamed.pcap"], {}),
    ("two_vantage", "two", [f"{CRAFTED}/client.pcap", f"{CRAFTED}/server.pcap"], {}),
    ("joined_run", "joined", ["captures/run-new-conn"], {}),
] + [(f"fuzz_{p.stem}", "analyze", [f"{FUZZ}/{p.name}"], {})
     for p in sorted((REPO / FUZZ).glob("*.pcap"))]

#: Runs of these cases again with other ways of reading (processes, buckets spilled to disk):
#: the tables must be the same whatever the number.
VARIANTS = [("real_rest_grpc", {"workers": 2}), ("real_rest_grpc", {"spill": True}),
            ("real_rest_grpc_keepalive", {"workers": 2, "spill": True})]


def expected_dir(name: str) -> Path:
    return HERE / "expected" / name


def inputs(paths: list[str]):
    """One path, or a list of them, as analyze takes it."""
    full = [str(REPO / p) for p in paths]
    return full[0] if len(full) == 1 else full


def options(kwargs: dict) -> dict:
    out = dict(kwargs)
    if "tls_keylog" in out:
        out["tls_keylog"] = str(REPO / out["tls_keylog"])
    return out


def outputs(kind: str, paths: list[str], kwargs: dict) -> dict[str, bytes]:
    """{file name: bytes} of a case's tables and warnings, as the code on sys.path makes them
    (the repository's own path written as ``<repo>``, so that any clone compares)."""
    root = str(REPO).encode()
    return {k: v.replace(root, b"<repo>") for k, v in _outputs(kind, paths, kwargs).items()}


def _outputs(kind: str, paths: list[str], kwargs: dict) -> dict[str, bytes]:
    import warnings

    import inferwire
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "analyze":
            a = inferwire.analyze(inputs(paths), **options(kwargs))
            out = {"requests.csv": csv_lines(a.requests),
                   "connections.csv": csv_lines(a.connections),
                   "warnings.txt": _lines(a.warnings)}
            if len(a.messages):
                out["messages.csv"] = csv_lines(a.messages)
            out["summary.txt"] = (a.summary_text() + "\n").encode()
            return out
        if kind == "two":
            from inferwire.vantage import analyze_two
            t = analyze_two(*[str(REPO / p) for p in paths], **options(kwargs))
            return {"two_point.csv": t.requests.to_csv(index=False).encode(),
                    "client_requests.csv": csv_lines(t.client.requests),
                    "server_connections.csv": csv_lines(t.server.connections),
                    "warnings.txt": _lines(t.warnings),
                    "summary.txt": (t.summary_text() + "\n").encode()}
        if kind == "joined":
            from inferwire.report import load_run
            run = load_run(str(REPO / paths[0]))
            return {"joined.csv": run.table().to_csv(index=False).encode()}
    raise ValueError(kind)


def csv_lines(df) -> bytes:
    """The table as ``Analysis.save`` writes its CSV (inferwire.tablefiles.write_csv)."""
    import tempfile

    from inferwire.tablefiles import write_csv
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.csv"
        write_csv(df, path)
        return path.read_bytes()


def _lines(items) -> bytes:
    return "".join(f"{w}\n" for w in items).encode()
