"""A phase-annotated copy of a capture: Wireshark shows each request's phases on its packets.

The packet carrying a request's first byte (``request_frame``) and the packet carrying its
response's last byte (``response_frame``) get an ``opt_comment`` (one per request: an HTTP/2
packet can open or close several) such as

    inferwire: request rest-0001 (http/1.1, connection 3, stream 1) first request byte;
    request_ms=0.051 wait_ms=3.326 response_ms=0.000 total_ms=3.377

Wireshark shows them under "Packet comments" and filters on ``frame.comment``.  The output is
pcapng: a pcapng source keeps every block as it was (byte order, sections, interfaces,
statistics) except the commented packets' blocks, which gain options; a pcap source becomes one
section with one interface.  Frame numbers stay those of the source, so the tables' frame columns
still point at the right packets.
"""
from __future__ import annotations

import math
import mmap
import os
import struct
import warnings as _warnings
from dataclasses import dataclass, field

import pandas as pd

from ..errors import CaptureFormatError, InferwireWarning
from ..files import open_private
from ..packets.pcap import MAGICS
from . import pcapng_out as out

SHB, PB, SPB, EPB = 0x0A0D0D0A, 2, 3, 6
BOM = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}
#: Phase columns written into the comments, in time order (ms).
COMMENT_PHASES = ("tcp_handshake_ms", "tls_handshake_ms", "h2_setup_ms", "request_ms", "wait_ms",
                  "response_ms", "total_ms", "server_ms", "model_ms")


@dataclass
class AnnotateResult:
    """What was written: ``packets`` copied, ``annotated`` packets that got comments,
    ``comments`` written, and ``warnings`` (frames not found, blocks that cannot carry one)."""
    path: str
    packets: int = 0
    annotated: int = 0
    comments: int = 0
    warnings: list = field(default_factory=list)
    seen_frames: set = field(default_factory=set, repr=False)


# -- the comments (pure) ---------------------------------------------------------------------------
def _known(value) -> bool:
    return not (value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)))


def comment_text(row, which: str) -> str:
    """The comment of one request at one of its packets (``which``: "first request byte" or
    "last response byte"): its id, protocol, connection, stream and the phases it has (ms)."""
    rid = row.get("request_id")
    name = rid if _known(rid) else "(no id)"
    where = f"{row['protocol']}, connection {row['connection']}"
    if _known(row.get("stream")):
        where += f", stream {row['stream']}"
    phases = " ".join(f"{c}={float(row[c]):.3f}" for c in COMMENT_PHASES
                      if c in row and _known(row[c]))
    return f"inferwire: request {name} ({where}) {which}; {phases}"


def frame_comments(table: pd.DataFrame) -> dict[int, list[str]]:
    """frame number -> comments, for every request's ``request_frame`` and ``response_frame``."""
    found: dict[int, list[str]] = {}
    for _, row in table.iterrows():
        for col, which in (("request_frame", "first request byte"),
                           ("response_frame", "last response byte")):
            if col in row and _known(row[col]):
                found.setdefault(int(row[col]), []).append(comment_text(row, which))
    return found


# -- the file ------------------------------------------------------------------------------------
def annotate_capture(src: str | os.PathLike, table: pd.DataFrame, dst: str | os.PathLike,
                     *, progress: bool = False) -> AnnotateResult:
    """Write ``dst``: the pcap/pcapng ``src`` as pcapng with the comments of
    :func:`frame_comments` on the packets that open and close each request of ``table``.

    Raises CaptureFormatError when ``src`` is not a capture; a file cut mid-block is copied up
    to the cut, with a warning.
    """
    comments = frame_comments(table)
    result = AnnotateResult(str(dst))
    with open(src, "rb") as f, open_private(dst, "wb") as sink:   # it holds payloads
        size = os.fstat(f.fileno()).st_size
        if size < 4:
            raise CaptureFormatError("file too short for a capture header", path=str(src),
                                     offset=0, field="magic")
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            bar = _bar(size, progress)
            if buf[:4] == b"\x0a\x0d\x0d\x0a":
                _copy_pcapng(buf, str(src), sink, comments, result, bar)
            elif struct.unpack_from("<I", buf)[0] in MAGICS:
                _convert_pcap(buf, str(src), sink, comments, result, bar)
            else:
                raise CaptureFormatError(f"not a pcap or pcapng file (magic "
                                         f"{bytes(buf[:4]).hex()})", path=str(src), offset=0,
                                         field="magic")
            bar.close()
        finally:
            buf.close()
    missing = sorted(set(comments) - result.seen_frames)
    if missing:
        result.warnings.append(f"{src}: {len(missing)} frames of the table are not in the file "
                               f"(first: {missing[0]}); was the table made from another file?")
    for w in result.warnings:
        _warnings.warn(w, InferwireWarning, stacklevel=2)
    return result


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _bar(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm  # deferred: tqdm is heavy to import
    return tqdm(total=total, unit="B", unit_scale=True, desc="annotating", leave=False)


def _copy_pcapng(buf, path, sink, comments, result, bar) -> None:
    """Copy blocks; rebuild the EPB/PB blocks of commented frames with the comments added."""
    off, frame, order, pending = 0, 1, "<", 0    # pending: start of bytes not yet written
    while off < len(buf):
        if len(buf) - off < 12:
            result.warnings.append(f"{path}: offset {off}: file ends inside a block header; "
                                   "copied the blocks before it")
            break
        if buf[off:off + 4] == b"\x0a\x0d\x0d\x0a":
            order = BOM.get(bytes(buf[off + 8:off + 12]))
            if order is None:
                _stop(path, off, "bad byte-order magic", "byte_order_magic", result)
                break
        btype, blen = struct.unpack_from(order + "II", buf, off)
        if blen < 12 or blen % 4 or off + blen > len(buf):
            _stop(path, off, f"impossible or cut block_total_length {blen}",
                  "block_total_length", result)
            break
        if btype in (EPB, PB, SPB):
            result.packets += 1
            result.seen_frames.add(frame)
            if frame in comments:
                new = _with_comments(buf, off, blen, btype, order, comments[frame], path, result)
                if new is not None:
                    sink.write(buf[pending:off])
                    sink.write(new)
                    pending = off + blen
                    result.annotated += 1
                    result.comments += len(comments[frame])
            frame += 1
        off += blen
        bar.update(blen)
    sink.write(buf[pending:off])


def _stop(path, off, message, field_name, result) -> None:
    if off == 0:
        raise CaptureFormatError(message, path=path, offset=off, field=field_name)
    result.warnings.append(f"{path}: offset {off}: {message}; copied the blocks before it")


def _with_comments(buf, off, blen, btype, order, texts, path, result) -> bytes | None:
    """The block at ``off`` rebuilt with ``texts`` as opt_comments after its own options."""
    if btype == SPB:
        result.warnings.append(f"{path}: offset {off}: a simple packet block cannot carry a "
                               "comment (no options); left as it was")
        return None
    caplen = struct.unpack_from(order + "I", buf, off + 20)[0]
    data_end = off + 28 + caplen + (-caplen) % 4
    if blen < 32 or data_end > off + blen - 4:
        result.warnings.append(f"{path}: offset {off}: packet block with caplen {caplen} past "
                               "its end; left without comment")
        return None
    own = _own_options(buf, data_end, off + blen - 4, order)
    opts = own + b"".join(out.comment(t, order) for t in texts) + struct.pack(order + "HH", 0, 0)
    total = data_end - off + len(opts) + 4
    return (struct.pack(order + "II", btype, total) + bytes(buf[off + 8:data_end]) + opts
            + struct.pack(order + "I", total))


def _own_options(buf, start: int, end: int, order: str) -> bytes:
    """The block's options in [start, end) as raw bytes, without opt_endofopt."""
    pos = start
    while pos + 4 <= end:
        code, length = struct.unpack_from(order + "HH", buf, pos)
        step = 4 + length + (-length) % 4
        if code == 0 or pos + step > end:
            break
        pos += step
    return bytes(buf[start:pos])


def _convert_pcap(buf, path, sink, comments, result, bar) -> None:
    """A pcap file as one pcapng section, one interface, an EPB per record."""
    if len(buf) < 24:
        raise CaptureFormatError("file too short for a pcap header (24 bytes)", path=path,
                                 offset=0, field="magic")
    order, ns_per_tick, rec_len = MAGICS[struct.unpack_from("<I", buf)[0]]
    snaplen, linktype = struct.unpack_from(order + "II", buf, 16)
    sink.write(out.shb())
    sink.write(out.idb(linktype & 0x0FFFFFFF, snaplen, 9 if ns_per_tick == 1 else 6))
    off, frame = 24, 1
    while off < len(buf):
        if off + rec_len > len(buf):
            result.warnings.append(f"{path}: offset {off}: file ends inside a record header")
            break
        sec, frac, caplen, origlen = struct.unpack_from(order + "IIII", buf, off)
        if off + rec_len + caplen > len(buf):
            result.warnings.append(f"{path}: offset {off}: file ends inside a record "
                                   f"(caplen {caplen}); copied the records before it")
            break
        ticks = sec * (10**9 if ns_per_tick == 1 else 10**6) + frac
        texts = comments.get(frame, ())
        opts = out.options([(out.OPT_COMMENT, t.encode("utf-8")) for t in texts])
        data = bytes(buf[off + rec_len:off + rec_len + caplen])
        sink.write(out.epb(0, ticks, data, origlen, "<", opts))
        result.packets += 1
        result.seen_frames.add(frame)
        if texts:
            result.annotated += 1
            result.comments += len(texts)
        frame += 1
        off += rec_len + caplen
        bar.update(rec_len + caplen)
