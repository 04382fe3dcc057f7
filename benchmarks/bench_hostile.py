"""A hostile segment order: what one connection whose data segments arrive in descending (or
random) stream-offset order costs ``inferwire analyze``, at N and 4N segments.

The capture is written here with ``struct`` (classic pcap, Ethernet, IPv4, TCP; scapy would
take minutes for a million packets): a handshake, then one HTTP/1.1 POST whose body is cut in
N segments of 10 bytes sent in the ORDER given (``descending``: the last bytes first;
``random``: a fixed-seed shuffle; ``ascending``: the usual order, for scale), then the server's
response in order and both FINs.  Each figure is one fresh process per run (imports not timed
in-process; the CLI is timed whole, writing included), the minimum of ``--rounds``.  The ratio
of 4N to N is the scaling: ~4 for O(n), ~5-6 for O(n log n) with cache misses, 16 for O(n^2).
``--src DIR``: another tree's ``src`` (e.g. main's, for a before/after); ``--segments``: only
the C reassembly and classification of N 10-byte segments' columns.  Not in ``make bench``.

    .venv/bin/python benchmarks/bench_hostile.py --n 50000 --order descending
    .venv/bin/python benchmarks/bench_hostile.py --n 50000 --src /work/main/src --cli
"""
from __future__ import annotations

import argparse
import os
import random
import struct
import subprocess
import sys
import tempfile
import time

from bench_parallel import packet as tcp_frame   # benchmarks/ is the script's folder

SEGMENT = 10
CLIENT, SERVER = (bytes([10, 0, 0, 1]), 40000), (bytes([10, 0, 0, 2]), 8501)
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


def packet(t_ns: int, from_client: bool, seq: int, ack: int, flags: int, data=b"") -> bytes:
    """One pcap record (nanosecond stamps) of bench_parallel's Ethernet/IPv4/TCP frame."""
    (sip, sport), (dip, dport) = (CLIENT, SERVER) if from_client else (SERVER, CLIENT)
    frame = tcp_frame(sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, flags, data, sip, dip)
    return struct.pack("<IIII", t_ns // 10**9, t_ns % 10**9, len(frame), len(frame)) + frame


def write_capture(path: str, n: int, order: str) -> None:
    """The capture described above, with ``n`` body segments in ``order``."""
    head = b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
    body_len = n * SEGMENT
    request = (head % body_len) + b"7" * body_len
    first = len(request) - body_len
    offsets = [first + k * SEGMENT for k in range(n)]
    if order == "descending":
        offsets.reverse()
    elif order == "random":
        random.Random(1).shuffle(offsets)
    cseq, sseq, syn, fin, ack, psh = 1000, 5000, 0x02, 0x01, 0x10, 0x08
    t = 1_700_000_000 * 10**9
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1))
        f.write(packet(t, True, cseq, 0, syn))
        f.write(packet(t + 10_000, False, sseq, cseq + 1, syn | ack))
        f.write(packet(t + 20_000, True, cseq + 1, sseq + 1, ack))
        f.write(packet(t + 30_000, True, cseq + 1, sseq + 1, ack | psh, request[:first]))
        t += 40_000
        for k, off in enumerate(offsets):
            f.write(packet(t + k * 1_000, True, cseq + 1 + off, sseq + 1, ack | psh,
                           request[off:off + SEGMENT]))
        t += n * 1_000 + 1_000_000
        end = cseq + 1 + len(request)
        f.write(packet(t, False, sseq + 1, end, ack | psh, RESPONSE))
        f.write(packet(t + 10_000, True, end, sseq + 1 + len(RESPONSE), fin | ack))
        f.write(packet(t + 20_000, False, sseq + 1 + len(RESPONSE), end + 1, fin | ack))


IN_PROCESS = """
import sys, time
from inferwire.analysis import analyze
t0 = time.perf_counter()
r = analyze(sys.argv[1])
print(time.perf_counter() - t0, len(r.requests))
"""

SEGMENTS_ONLY = """
import sys, time
import numpy as np
from inferwire.tcp.delivery import classify_codes
from inferwire.tcp.segments import Segments, reassembled
n, order = int(sys.argv[1]), sys.argv[2]
off = np.arange(n, dtype=np.int64) * 10
if order == "descending":
    off = off[::-1].copy()
elif order == "random":
    off = np.random.default_rng(1).permutation(off)
ten, frame = np.full(n, 10, np.int64), np.arange(1, n + 1, dtype=np.int64)
segs = Segments(off, ten, ten.copy(), frame * 1000, frame, off % 4000)
t0 = time.perf_counter()
s = reassembled(bytes(4096), segs)
classify_codes(segs, 3_000_000, [])
print(time.perf_counter() - t0, len(s.starts))
"""


def timed(cmd: list[str], src: str) -> tuple[float, str]:
    env = dict(os.environ, PYTHONPATH=src)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{cmd} failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall, done.stdout + done.stderr


def one(path: str, src: str, cli: bool, out: str) -> tuple[float, str]:
    """Seconds of one analysis of ``path`` with the tree ``src``, and what it said."""
    if path.startswith("segments:"):
        _, said = timed([sys.executable, "-c", SEGMENTS_ONLY, *path.split(":")[1:]], src)
        seconds, pieces = said.split()[-2:]
        return float(seconds), f"{pieces} pieces"
    if cli:
        return timed([sys.executable, "-m", "inferwire", "analyze", path, "--out", out], src)
    _, said = timed([sys.executable, "-c", IN_PROCESS, path], src)
    seconds, requests = said.split()[-2:]
    return float(seconds), f"{requests} request(s)"


def summary(said: str) -> str:
    """The line of the analysis's output that counts requests (or its last line)."""
    lines = [ln.strip() for ln in said.replace("\r", "\n").splitlines() if ln.strip()]
    counted = [ln for ln in lines if "request" in ln and "%" not in ln]
    return (counted or lines[-1:] or [""])[0][:90].replace("|", "/")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=50_000, help="segments at the smaller size")
    ap.add_argument("--order", default="descending", choices=("descending", "random",
                                                               "ascending"))
    ap.add_argument("--src", default=os.path.join(os.path.dirname(__file__), "..", "src"),
                    help="the source tree to time (default: this one)")
    ap.add_argument("--cli", action="store_true", help="time the CLI, not analyze()")
    ap.add_argument("--segments", action="store_true",
                    help="time only the C reassembly and classification of the segments' "
                         "columns (no capture)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--sizes", type=int, nargs="*", help="segment counts (default: N and 4N)")
    args = ap.parse_args()
    sizes = args.sizes or [args.n, 4 * args.n]
    src = os.path.abspath(args.src)
    what = "reassemble+classify" if args.segments else "CLI" if args.cli else "analyze()"
    print(f"| segments | order | {what} s | said |")
    print("|---|---|---|---|")
    seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = os.path.join(tmp, f"hostile_{n}.pcap")
            if args.segments:
                path = f"segments:{n}:{args.order}"
            else:
                write_capture(path, n, args.order)
            runs = [one(path, src, args.cli, os.path.join(tmp, f"out{n}_{r}"))
                    for r in range(args.rounds)]
            best, said = min(runs)
            seconds.append(best)
            print(f"| {n:,} | {args.order} | {best:.2f} | {summary(said)} |", flush=True)
    if len(seconds) == 2 and seconds[0] > 0:
        print(f"\nratio {sizes[1] // sizes[0]}N / N: {seconds[1] / seconds[0]:.1f}")


if __name__ == "__main__":
    main()
