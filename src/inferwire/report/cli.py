"""``inferwire report RUN_DIR_OR_CAPTURE``: the HTML report, HAR and annotated pcapng of a run."""
from __future__ import annotations

import argparse
from ..analysis.cli import parse_decode_as


def register(sub) -> None:
    p = sub.add_parser(
        "report", help="HTML report, plots, HAR and annotated pcapng of a run or capture",
        description="Write a run's (or a capture's) report into one folder: report.html "
                    "(self-contained), figures/*.png, summary.md, requests.har and "
                    "annotated.pcapng.  With none of --html/--har/--annotate, all of them.")
    p.add_argument("target", metavar="RUN_DIR_OR_CAPTURE",
                   help="a results folder of 'inferwire run', or a pcap/pcapng file")
    p.add_argument("--out", metavar="DIR",
                   help="where to write (default: RUN_DIR/report, or ./NAME-report for a capture)")
    p.add_argument("--html", action="store_true", help="the self-contained HTML report")
    p.add_argument("--har", action="store_true", help="HAR 1.2 export of the requests' timings")
    p.add_argument("--annotate", action="store_true",
                   help="pcapng whose packets carry each request's phases as comments")
    p.add_argument("--tls-keylog", metavar="FILE", help="key log to decrypt TLS (captures)")
    p.add_argument("--decode-as", metavar="PORT=PROTO", action="append", default=[],
                   help="treat traffic on PORT as PROTO (http/1.1, h2, tls); repeatable")
    p.add_argument("--ignore-port", metavar="PORT", type=int, action="append", default=[],
                   help="leave out connections on this port (e.g. capture probes); repeatable")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .build import build_report  # deferred: report.build imports numpy, pandas
    every = not (args.html or args.har or args.annotate)
    written = build_report(
        args.target, args.out, html=every or args.html, har=every or args.har,
        annotate=None if every else args.annotate, tls_keylog=args.tls_keylog,
        decode_as=parse_decode_as(args.decode_as), ignore_ports=args.ignore_port,
        progress=not args.quiet)
    for what, path in written.items():
        if not what.startswith("figures/"):
            print(f"{what}: {path}")
    figures = [p for w, p in written.items() if w.startswith("figures/")]
    if figures:
        print(f"figures: {len(figures)} PNG files in {figures[0].parent}")
    return 0
