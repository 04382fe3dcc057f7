"""``inferwire analyze``: a capture in, requests.csv / connections.csv (+ Parquet) and a summary out."""
from __future__ import annotations

import argparse

from .errors import InferwireError


def register(sub) -> None:
    p = sub.add_parser("analyze", help="per-request latency phases from a pcap/pcapng file",
                       description="Read a capture and print where each request's time went.")
    p.add_argument("capture", help="pcap or pcapng file")
    p.add_argument("--out", metavar="DIR", help="write requests.csv, connections.csv and Parquet here")
    p.add_argument("--tls-keylog", metavar="FILE", help="SSLKEYLOGFILE-format key log to decrypt TLS")
    p.add_argument("--decode-as", metavar="PORT=PROTO", action="append", default=[],
                   help="treat traffic on PORT as PROTO (http/1.1, h2, tls); repeatable")
    p.add_argument("--ignore-port", metavar="PORT", type=int, action="append", default=[],
                   help="leave out connections on this port (e.g. capture probes); repeatable")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def parse_decode_as(items: list[str]) -> dict[int, str]:
    """``["8500=h2"]`` -> ``{8500: "h2"}``; a clear error for anything else."""
    out = {}
    for item in items:
        port, sep, proto = item.partition("=")
        if not sep or not port.isdigit() or proto not in ("http/1.1", "h2", "tls"):
            raise InferwireError(f"--decode-as {item!r}: expected PORT=PROTO with PROTO one of "
                                 "http/1.1, h2, tls")
        out[int(port)] = proto
    return out


def run(args: argparse.Namespace) -> int:
    import warnings

    from .analysis import analyze
    from .errors import InferwireWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InferwireWarning)  # the summary lists them
        result = analyze(args.capture, tls_keylog=args.tls_keylog,
                         decode_as=parse_decode_as(args.decode_as),
                         ignore_ports=args.ignore_port, progress=not args.quiet)
    print(result.summary_text())
    if args.out:
        paths = result.save(args.out)
        print("\nwrote " + ", ".join(str(p) for p in paths.values()))
    return 0
