"""``inferwire analyze``: captures in, requests.csv / connections.csv (+ Parquet) and a summary out.

    inferwire analyze CAP                         one capture
    inferwire analyze CAP CAP ... | DIR           several files (a ring-buffer set) as one capture
    inferwire analyze --parallel CAP|DIR ...      each separately, in parallel (Dask)
    inferwire analyze --client CAP --server CAP   two vantage points of the same traffic
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings

from ..errors import InferwireError, InferwireWarning
from ..runfolder.probe import with_run_probe

# Exit status when stdout was closed early (``inferwire analyze CAP | head``): 128 + SIGPIPE,
# what a shell reports for a tool killed by the signal.
EXIT_BROKEN_PIPE = 141


def port_number(text: str) -> int:
    """argparse type of a TCP port: an integer 1..65535, else a usage error (exit status 2)."""
    try:
        port = int(text)
    except ValueError:
        port = None
    if port is None or not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port: give a number from 1 to "
                                         "65535")
    return port


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
    p.add_argument("--ignore-port", metavar="PORT", type=port_number, action="append", default=[],
                   help="leave out connections on this port (e.g. capture probes); repeatable")
    p.add_argument("--vantage", choices=("auto", "client", "server"), default="auto",
                   help="where the capture was taken (decides which copy of a retransmitted "
                        "byte the receiver got); auto: judged per connection from its handshake")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar (drawn only when standard error is a terminal)")
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
        if not 1 <= int(port) <= 65535:
            raise InferwireError(f"--decode-as {item!r}: port {port} is not a TCP port (1 to "
                                 "65535)")
        out[int(port)] = proto
    return out


def prepare_out_dir(out: str | None) -> str | None:
    """Create ``--out DIR`` (and its parents) and check that files can be written in it, before
    any analysis; InferwireError naming the path and the reason otherwise.  None stays None."""
    if out is None:
        return None
    if not out.strip():
        raise InferwireError("--out '': give a directory to write the tables to")
    if os.path.lexists(out) and not os.path.isdir(out):
        raise InferwireError(f"--out {out}: exists and is not a directory")
    try:
        os.makedirs(out, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".inferwire-write-test-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InferwireError(f"--out {out}: cannot write there: {exc.strerror or exc}") from exc
    return out


def _save(result, out_dir: str) -> dict:
    """``result.save(out_dir)``, a write failure (disk full, removed folder) as InferwireError."""
    try:
        return result.save(out_dir)
    except OSError as exc:
        where = exc.filename or out_dir
        raise InferwireError(f"--out {out_dir}: cannot write {where}: "
                             f"{exc.strerror or exc}") from exc


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
    """Check every option (``--out`` is created and tested for writing), then analyze.  Output
    files are written before the summary is printed, so a reader that stops early (``| head``)
    does not lose them; it ends the command quietly with :data:`EXIT_BROKEN_PIPE`."""
    mode = check_args(args)
    options = dict(tls_keylog=args.tls_keylog, decode_as=parse_decode_as(args.decode_as),
                   ignore_ports=tuple(args.ignore_port))
    prepare_out_dir(args.out)
    try:
        code = _run_mode(mode, args, options)
        sys.stdout.flush()   # a closed pipe shows here, not at interpreter exit
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    return code


def _run_mode(mode: str, args, options) -> int:
    from .keptheap import kept_heap  # deferred: numpy only once the arguments are read
    # (the heap kept through the writing of the tables too, not only through analyze())
    with warnings.catch_warnings(), kept_heap():
        warnings.simplefilter("ignore", InferwireWarning)  # the summaries list them
        if mode == "two":
            return _run_two(args, options)
        if mode == "parallel":
            return _run_parallel(args, options)
        return _run_one(args, options)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that Python's final flush does not fail again (the recipe of
    the Python docs, "Note on SIGPIPE")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _on_a_terminal(stream) -> bool:
    """Whether ``stream`` is a terminal: the progress bar is drawn only there (redirected to a
    file or a pipe, its carriage returns are noise in a log; tqdm's import alone is 14 ms)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):      # no stream, or a closed one
        return False


def _run_one(args, options) -> int:
    from .pipeline import analyze  # deferred: numpy and pandas only once the arguments are read
    source = args.capture[0] if len(args.capture) == 1 else list(args.capture)
    spill = {"auto": "auto", "yes": True, "no": False}[args.spill]
    result = analyze(source, progress=not args.quiet and _on_a_terminal(sys.stderr),
                     workers=args.workers or "auto",
                     spill=spill, spill_dir=args.spill_dir, vantage=args.vantage,
                     **with_run_probe(source, options))
    paths = _save(result, args.out) if args.out else None
    print(result.summary_text())
    if paths:
        print("\nwrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _run_two(args, options) -> int:
    from .vantage import analyze_two  # deferred: numpy and pandas only once the arguments are read
    options = with_run_probe(args.server, with_run_probe(args.client, options))
    result = analyze_two(args.client, args.server, nat=args.nat, **options)
    paths = _save(result, args.out) if args.out else None
    print(result.summary_text())
    if paths:
        print("\nwrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _run_parallel(args, options) -> int:
    """Each capture on its own, its tables written by the worker that analyzed it; exit code 1
    if any failed (the others are still written).  All tables are written before anything is
    printed."""
    from ..experiment.teardown import terminate_as_interrupt  # deferred: --parallel only
    from .many import analyze_many, out_folders  # deferred: numpy and pandas once args are read
    # SIGTERM and SIGHUP unwind as Ctrl-C does (exit 130), so the workers' spool folder goes
    with terminate_as_interrupt():
        results = analyze_many(args.capture, scheduler=args.scheduler, workers=args.workers,
                               out=args.out, **options)
    folders = out_folders(list(results), args.out) if args.out else {}
    failed = 0
    for item, result in results.items():
        print(f"== {item}")
        if isinstance(result, BaseException):
            failed += 1
            print(f"inferwire: error: {result}")
            continue
        print(result.summary_text())
        if item in folders:
            print("wrote " + ", ".join(str(p) for p in
                                       result.output_paths(folders[item]).values()))
        print()
    if failed:
        print(f"{failed} of {len(results)} captures could not be analyzed")
    return 1 if failed else 0
