"""Benchmark analyze_many (Dask) against the serial path on this machine's cores.

    .venv/bin/python benchmarks/bench_parallel.py                   # 6 crafted captures, ~2 min
    .venv/bin/python benchmarks/bench_parallel.py --captures 4 --requests 5000   # quick look
    .venv/bin/python benchmarks/bench_parallel.py results/run-*     # your own captures / runs

Without paths, it writes ``--captures`` pcap files (into a temporary folder) of HTTP/1.1
keep-alive traffic: ``--connections`` connections per capture, ``--requests`` requests in all,
each a request segment, a response segment and an ACK.  Then it times: the serial loop
(``inferwire.analyze`` one after the other, as called by default, and in one process:
``workers=1``, which the last column compares against), and ``analyze_many`` on Dask local processes with 1
and with N workers (N = CPUs), and on threads, ``--rounds`` times in rotated order (the best time
of each counts: other work on the machine only ever adds time).  It checks that every parallel
result equals the serial one and prints a markdown table: wall seconds, captures/s and the
speed-up over serial, the CPU seconds spent (this process and its worker processes: the
difference to serial is the workers' start-up and the results' transfer), and the load average
seen during the runs.
"""
from __future__ import annotations

import argparse
import os
import resource
import struct
import sys
import tempfile
import time
import warnings

import pandas as pd

import inferwire
from inferwire.analysis.many import analyze_many

CLIENT, SERVER = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
T0_NS = 1_700_000_000 * 10**9


def packet(sport, dport, seq, ack, flags, payload, src, dst) -> bytes:
    """Ethernet + IPv4 + TCP (checksums 0: the analyzer does not check them)."""
    tcp = struct.pack(">HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + tcp


def write_capture(path: str, connections: int, requests: int, seed: int) -> None:
    """An HTTP/1.1 keep-alive capture: ``requests`` spread over ``connections``, 1 ms apart."""
    records = []
    per_conn = max(1, requests // connections)
    for c in range(connections):
        sport, cs, ss = 20000 + c, 1000 + seed, 5000
        t = T0_NS + c * 1000
        for flags, fwd in ((0x02, True), (0x12, False), (0x10, True)):
            seq, ack = (cs, 0 if flags == 0x02 else ss + 1) if fwd else (ss, cs + 1)
            records.append((t, _dir(fwd, sport, seq, ack, flags, b"")))
            t += 10_000
        cs, ss = cs + 1, ss + 1
        for i in range(per_conn):
            req = (b"POST /v1/models/mnist:predict HTTP/1.1\r\nHost: x\r\nx-request-id: "
                   + f"{seed}-{c}-{i}".encode() + b"\r\nContent-Length: 20\r\n\r\n" + b"0" * 20)
            resp = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 25"
                    b"\r\n\r\n{\"predictions\": [[0.1]]}\n")
            records.append((t, _dir(True, sport, cs, ss, 0x18, req)))
            records.append((t + 300_000, _dir(False, sport, ss, cs + len(req), 0x18, resp)))
            records.append((t + 350_000, _dir(True, sport, cs + len(req), ss + len(resp), 0x10,
                                              b"")))
            cs, ss, t = cs + len(req), ss + len(resp), t + 1_000_000
    records.sort(key=lambda r: r[0])
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1))   # ns pcap
        for ts, data in records:
            f.write(struct.pack("<IIII", ts // 10**9, ts % 10**9, len(data), len(data)) + data)


def _dir(from_client, sport, seq, ack, flags, payload) -> bytes:
    if from_client:
        return packet(sport, 8501, seq, ack, flags, payload, CLIENT, SERVER)
    return packet(8501, sport, seq, ack, flags, payload, SERVER, CLIENT)


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children (the workers)."""
    own, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def serial(paths, **options) -> tuple[float, dict]:
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", inferwire.InferwireWarning)
        out = {p: inferwire.analyze(p, **options) for p in paths}
    return time.perf_counter() - start, out


def timed(paths, **kw) -> tuple[float, dict]:
    start = time.perf_counter()
    out = analyze_many(paths, **kw)
    return time.perf_counter() - start, out


def check_same(reference: dict, got: dict, label: str) -> None:
    for p, a in reference.items():
        b = got[p]
        if isinstance(b, BaseException):
            raise SystemExit(f"{label}: {p} failed: {b}")
        pd.testing.assert_frame_equal(a.requests, b.requests)
        pd.testing.assert_frame_equal(a.connections, b.connections)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", help="captures or run folders (default: crafted ones)")
    ap.add_argument("--captures", type=int, default=6)
    ap.add_argument("--requests", type=int, default=10000, help="requests per crafted capture")
    ap.add_argument("--connections", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2,
                    help="each way is timed this often, in rotated order; the best time counts")
    args = ap.parse_args(argv)
    cpus = os.cpu_count() or 1
    # serial: analyze() one capture after the other, as it is called by default (it may fork
    # workers for one capture itself) and in one process (workers=1: issue 19's "one process")
    ways = {"serial (for loop)": ("serial", {}),
            "serial, one process (workers=1)": ("serial", dict(workers=1)),
            "dask processes, 1 worker": dict(workers=1),
            f"dask processes, {cpus} workers": dict(workers=cpus),
            f"dask threads, {cpus} workers": dict(workers=cpus, processes=False)}
    with tempfile.TemporaryDirectory() as tmp:
        paths = list(args.paths)
        if not paths:
            for k in range(args.captures):
                paths.append(os.path.join(tmp, f"capture{k}.pcap"))
                write_capture(paths[-1], args.connections, args.requests, seed=k)
        size = sum(os.path.getsize(p) for p in paths if os.path.isfile(p))
        print(f"{len(paths)} captures, {size / 1e6:.1f} MB, {cpus} CPUs, "
              f"python {sys.version.split()[0]}")
        _, reference = serial(paths)
        best = {label: float("inf") for label in ways}
        cpu = {label: float("inf") for label in ways}
        loads = []
        for r in range(args.rounds):
            labels = list(ways)
            labels = labels[r % len(labels):] + labels[:r % len(labels)]   # rotate the order
            for label in labels:
                loads.append(os.getloadavg()[0])
                before = cpu_seconds()
                if isinstance(ways[label], tuple):
                    wall, got = serial(paths, **ways[label][1])
                else:
                    wall, got = timed(paths, **ways[label])
                cpu[label] = min(cpu[label], cpu_seconds() - before)
                check_same(reference, got, label)
                best[label] = min(best[label], wall)
    base = best["serial (for loop)"]
    one = best["serial, one process (workers=1)"]
    print("\n| how | best wall s | CPU s (all processes) | captures/s | speed-up vs serial | "
          "vs one process |\n|---|---|---|---|---|---|")
    for label, wall in best.items():
        print(f"| {label} | {wall:.2f} | {cpu[label]:.2f} | {len(paths) / wall:.2f} | "
              f"{base / wall:.2f}x | {one / wall:.2f}x |")
    print(f"\nall parallel results equal the serial ones; 1-minute load average during the "
          f"runs: {min(loads):.1f} to {max(loads):.1f} (on {cpus} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
