"""Request/response exchanges guessed from TLS record timing when no keys are available
(:func:`infer_exchanges`); everything it returns is marked inferred."""
from __future__ import annotations

from typing import NamedTuple, Sequence

from .suites import record_overhead

class InferredExchange(NamedTuple):
    """One request/response pair guessed from record timing (no keys).

    ``req_*`` are client stream offsets and times of the request burst's first and last record,
    ``resp_*`` the server's (None when no response burst followed).  Times are int nanoseconds:
    ``*_t_first_ns`` when the burst's first byte was seen, ``*_t_last_ns`` its last byte.
    ``request_bytes``/``response_bytes`` estimate plaintext when ``plaintext_sizes`` (record length
    minus the cipher's per-record overhead), else they are ciphertext lengths.
    """

    req_start: int
    req_end: int
    req_t_first_ns: int
    req_t_last_ns: int
    resp_start: int | None
    resp_end: int | None
    resp_t_first_ns: int | None
    resp_t_last_ns: int | None
    request_bytes: int
    response_bytes: int | None
    request_records: int
    response_records: int
    plaintext_sizes: bool
    inferred: bool = True


TimedRecord = tuple[int, int, int, int, int]  # start, end, length, t_first_ns, t_last_ns


def _bursts(client: Sequence[TimedRecord], server: Sequence[TimedRecord]):
    """Consecutive same-direction records in time order, as (direction, [records])."""
    # On equal times the client sorts first: a request precedes the response it causes.
    merged = sorted([(r[3], 0, i) for i, r in enumerate(client)] +
                    [(r[3], 1, i) for i, r in enumerate(server)])
    bursts: list[tuple[int, list]] = []
    for _, side, i in merged:
        rec = (client if side == 0 else server)[i]
        if bursts and bursts[-1][0] == side:
            bursts[-1][1].append(rec)
        else:
            bursts.append((side, [rec]))
    return bursts


def infer_exchanges(client_records: Sequence[TimedRecord], server_records: Sequence[TimedRecord],
                    *, version: str | int | None = None,
                    cipher_suite: int | None = None) -> list[InferredExchange]:
    """Pair client bursts with the server bursts that follow them (see README, "without keys").

    Inputs are application-data records ``(start, end, length, t_first_ns, t_last_ns)`` of each
    direction.  Server bursts before the first client burst (TLS 1.3 encrypted handshake flight,
    session tickets) are dropped.  Everything returned is inferred.
    """
    overhead = record_overhead(version, cipher_suite)
    sizes = overhead is not None

    def size(records) -> int:
        return sum(max(r[2] - (overhead or 0), 0) for r in records)

    out: list[InferredExchange] = []
    bursts = _bursts(client_records, server_records)
    for k, (side, recs) in enumerate(bursts):
        if side != 0:
            continue
        resp = bursts[k + 1][1] if k + 1 < len(bursts) else None
        out.append(InferredExchange(
            recs[0][0], recs[-1][1], recs[0][3], recs[-1][4],
            resp[0][0] if resp else None, resp[-1][1] if resp else None,
            resp[0][3] if resp else None, resp[-1][4] if resp else None,
            size(recs), size(resp) if resp else None, len(recs), len(resp) if resp else 0, sizes))
    return out
