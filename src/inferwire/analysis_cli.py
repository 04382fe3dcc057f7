"""``inferwire analyze``: captures in, requests.csv / connections.csv (+ Parquet) and a summary out.

    inferwire analyze CAP                         one capture
    inferwire analyze CAP CAP ... | DIR           several files (a ring-buffer set) as one capture
    inferwire analyze --parallel CAP|DIR ...      each separately, in parallel (Dask)
    inferwire analyze --client CAP --server CAP   two vantage points of the same traffic
"""
from __future__ import annotations

import argparse
import os

from .errors import InferwireError


def register(sub) -> None:
    p = sub.add_parser(
        "analyze", help="per-request latency phases from pcap/pcapng files",
        description="Read a capture and print where each request's time went. Several files or "
                    "a directory are read as one capture (e.g. a ring-buffer set); --parallel "
                    "analyzes each separately; --client/--server compare two vantage points.")
    p.add_argument("capture", nargs="*",
                   help="pcap or pcapng file(s), or a directory of them")
    p.add_argument("--out", metavar="DIR", help="write requests.csv, connections.csv and Parquet here")
    p.add_argument("--tls-keylog", metavar="FILE", help="SSLKEYLOGFILE-format key log to decrypt TLS")
    p.add_argument("--decode-as", metavar="PORT=PROTO", action="append", default=[],
                   help="treat traffic on PORT as PROTO (http/1.1, h2, tls); repeatable")
    p.add_argument("--ignore-port", metavar="PORT", type=int, action="append", default=[],
                   help="leave out connections on this port (e.g. capture probes); repeatable")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    two = p.add_argument_group("two vantage points")
    two.add_argument("--client", metavar="CAP", help="capture made on the client host")
    two.add_argument("--server", metavar="CAP", help="capture made on the server host")
    two.add_argument("--nat", action="store_true",
                     help="addresses/ports differ between the two captures (NAT): match "
                          "segments by sequence numbers, length and IP ID only")
    many = p.add_argument_group("many captures")
    many.add_argument("--parallel", action="store_true",
                      help="analyze each CAPTURE (file or directory) separately, in parallel")
    many.add_argument("--scheduler", metavar="ADDRESS",
                      help="a dask.distributed scheduler (tcp://host:8786) to run --parallel on")
    p.add_argument("--workers", type=int, metavar="N",
                   help="worker processes: for one capture, processes sharing its connections "
                        "(default: one per CPU for captures of 50,000 TCP packets or more); "
                        "with --parallel, local Dask workers (default: one per CPU)")
    p.add_argument("--spill", choices=("auto", "yes", "no"), default="auto",
                   help="read one capture into buckets on disk so that memory does not grow "
                        "with its size (auto: files of 512 MiB or more)")
    p.add_argument("--spill-dir", metavar="DIR",
                   help="where the spill files go (default: the temporary folder, TMPDIR)")
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


def check_args(args: argparse.Namespace) -> str:
    """Which mode the options ask for ("one", "parallel", "two"); InferwireError if they clash."""
    two = args.client is not None or args.server is not None
    if two:
        if args.client is None or args.server is None:
            raise InferwireError("--client and --server go together: give both captures")
        if args.capture or args.parallel or args.scheduler:
            raise InferwireError("--client/--server compare two captures; do not also give "
                                 "CAPTURE arguments, --parallel or --scheduler")
        return "two"
    if not args.capture:
        raise InferwireError("no capture given: inferwire analyze CAPTURE [CAPTURE ...], or "
                             "--client CAP --server CAP")
    if args.nat:
        raise InferwireError("--nat applies to --client/--server only")
    if args.parallel or args.scheduler:
        return "parallel"
    if args.workers is not None and args.workers < 1:
        raise InferwireError(f"--workers {args.workers}: give a positive number of processes")
    return "one"


def run(args: argparse.Namespace) -> int:
    import warnings

    from .errors import InferwireWarning
    mode = check_args(args)
    options = dict(tls_keylog=args.tls_keylog, decode_as=parse_decode_as(args.decode_as),
                   ignore_ports=tuple(args.ignore_port))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InferwireWarning)  # the summaries list them
        if mode == "two":
            return _run_two(args, options)
        if mode == "parallel":
            return _run_parallel(args, options)
        return _run_one(args, options)


def _run_one(args, options) -> int:
    from .analysis import analyze
    source = args.capture[0] if len(args.capture) == 1 else list(args.capture)
    spill = {"auto": "auto", "yes": True, "no": False}[args.spill]
    result = analyze(source, progress=not args.quiet, workers=args.workers or "auto",
                     spill=spill, spill_dir=args.spill_dir, **options)
    print(result.summary_text())
    if args.out:
        paths = result.save(args.out)
        print("\nwrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _run_two(args, options) -> int:
    from .vantage import analyze_two
    result = analyze_two(args.client, args.server, nat=args.nat, **options)
    print(result.summary_text())
    if args.out:
        paths = result.save(args.out)
        print("\nwrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _run_parallel(args, options) -> int:
    """Each capture on its own; exit code 1 if any failed (the others are still written)."""
    from .parallel import analyze_many
    results = analyze_many(args.capture, scheduler=args.scheduler, workers=args.workers,
                           **options)
    failed = 0
    names = _out_names(list(results))
    for item, result in results.items():
        print(f"== {item}")
        if isinstance(result, BaseException):
            failed += 1
            print(f"inferwire: error: {result}")
            continue
        print(result.summary_text())
        if args.out:
            paths = result.save(os.path.join(args.out, names[item]))
            print("wrote " + ", ".join(str(p) for p in paths.values()))
        print()
    if failed:
        print(f"{failed} of {len(results)} captures could not be analyzed")
    return 1 if failed else 0


def _out_names(items: list) -> dict:
    """A distinct output folder name per item: its file/dir name without the capture suffix,
    numbered when two items share one."""
    names, used = {}, {}
    for item in items:
        base = os.path.basename(os.path.normpath(os.fspath(item))) or "capture"
        for suffix in (".pcapng", ".pcap", ".cap"):
            if base.endswith(suffix) and len(base) > len(suffix):
                base = base[: -len(suffix)]
        used[base] = used.get(base, 0) + 1
        names[item] = base if used[base] == 1 else f"{base}-{used[base]}"
    return names
