"""Scheduling across buckets and processes: the capture cut into buckets of whole connections
(:mod:`.buckets`, in memory, or :mod:`.spill` on disk), shared out among worker processes
(:mod:`.workers`), each bucket's connections dispatched and turned into rows, and the buckets'
columns gathered into the tables in whole-capture connection order."""
from __future__ import annotations

import numpy as np

from ..arrays import Table, concatenated, take
from ..columns import CONNECTION_COLUMNS, MESSAGE_COLUMNS, REQUEST_COLUMNS
from ..exchanges.exchange import ConnectionResult
from ..exchanges.plainbatch import one_request_batch
from ..tcp.connections import ConnectionSet
from ..tcp.grouping import PacketGroups
from . import pages
from .buckets import TableBuckets, bucket_count, global_numbers, order_keys
from .dispatch import analyze_connection
from .pages import RELEASE_EVERY, WHOLE_FILE_RELEASE_EVERY, PageBudget, spender
from .plaincolumns import plain_columns
from .rows import MESSAGES, REQUEST_ID, STREAM, RowColumns, connection_rows
from .spill import SpilledCapture
from .tables import (connection_columns, message_columns, request_columns, request_columns_of,
                     typed)
from .workers import map_shards, reap


def capture_tables(table, ignore: frozenset, options, keylog, workers: int, bar):
    """The requests, connections and messages tables of ``table`` and their warnings, in
    connection order.

    The packets are cut into buckets of whole connections (:mod:`.buckets`), in memory or on
    disk (:mod:`.spill`): only one bucket's packets, connections and parser state are alive at
    a time, and with several ``workers`` the processes share out the buckets (:mod:`.workers`).
    Each bucket's connections are numbered within it and renumbered once all are done (the
    whole capture's order, Wireshark's ``tcp.stream``), so no bucket needs another's.
    Connections on ``ignore`` ports are left out (their numbers stay).  ``bar``: a progress bar
    with ``update_to(packets done)``, or None.
    """
    if isinstance(table, SpilledCapture):
        source = table.buckets()
    else:
        source = TableBuckets(table, bucket_count(len(table), workers))
    many = len(source.weights) > 1

    spilled = isinstance(table, SpilledCapture)

    def bucket_tables(indices, tick):
        # created here: in a worker, its own counter (pages.WHOLE_FILE_RELEASE_EVERY: why more)
        budget = PageBudget(table, RELEASE_EVERY if spilled else WHOLE_FILE_RELEASE_EVERY)
        for b in indices:
            sub, rows = source.bucket(b)
            groups = PacketGroups(sub) if len(sub) else None
            keys = order_keys(sub, rows, groups) if many else None
            found = ConnectionSet(sub, groups, options.vantage)   # numbered 0.. in the bucket
            requests, req_pos, connections, conn_pos, warnings, messages = bucket_rows(
                found, ignore, options, keylog, budget, tick)
            found = sub = groups = None     # this bucket's objects go before the next one's
            if spilled:                     # a bucket file's pages: not read again
                table.release()
            yield requests, req_pos, connections, conn_pos, warnings, keys, messages

    finished: list = []             # the workers, exiting while their results are joined
    try:
        shards = map_shards(bucket_tables, source.weights, workers,
                            progress=None if bar is None else bar.update_to,
                            spool_dir=options.spill_dir, finished=finished)
        frames = [f for _, shard_frames in shards for f in shard_frames]
        shards = None               # numbered() lets each bucket's columns go once gathered
        return numbered(frames, many)
    finally:
        reap(finished)


def bucket_rows(found: ConnectionSet, ignore: frozenset, options, keylog, budget,
                tick) -> tuple:
    """One bucket's requests columns and their connection numbers, its connections columns
    and their numbers, its warnings and its messages columns (``tick``: told the packets of
    the connections done).  One-request HTTP/1 connections are read from the columns
    (:mod:`~inferwire.exchanges.plainbatch`, :mod:`.plaincolumns`); the others one by one."""
    req_rows, req_pos, conn_rows, conn_pos, warnings = [], [], [], [], []
    msg_rows = []                   # the streamed requests' (connection, stream, id, messages)
    parts, ids = [], []             # per connection: network columns, ACK round trip look-up
    column_sets = []                # (requests columns, connection numbers) of RowColumns
    batch = one_request_batch(found, ignore | options.decode_as.keys(), spender(budget))
    taken, plain_requests, plain_connections, packets = plain_columns(found, batch)
    tick(packets)
    done = set(batch.index[taken].tolist())
    left = {int(batch.index[i]): i for i in np.flatnonzero(~taken).tolist()}
    for index in range(len(found)):
        if index in done:
            continue
        c = found.connection(index)
        if c.client.port in ignore or c.server.port in ignore:
            tick(c.packets)
            continue
        result = (ConnectionResult("http/1.1", [batch.exchange(left[index])]) if index in left
                  else analyze_connection(c, options, keylog, budget))
        rows_, conn_row, conn_warnings, part = connection_rows(c, result)
        if isinstance(rows_, RowColumns):       # many exchanges, as columns (no messages)
            columns = request_columns_of(rows_.columns, [part],
                                         (found.dirs, [c.rtt_directions()]))
            column_sets.append((columns, np.full(len(rows_), c.index, dtype=np.int64)))
        else:
            parts.append(part)
            ids.append(c.rtt_directions())
            for row in rows_:
                if row[MESSAGES] is not None:
                    msg_rows.append((c.index, row[STREAM], row[REQUEST_ID], row[MESSAGES]))
            req_rows += rows_
            req_pos += [c.index] * len(rows_)
        conn_rows.append(conn_row)
        conn_pos.append(c.index)
        if conn_warnings:
            warnings.append((c.index, str(c.client), str(c.server), conn_warnings))
        tick(c.packets)
    acks = (found.dirs, ids) if len(found) else None
    plain_pos = batch.index[taken]
    requests, req_pos = _merged(plain_requests, plain_pos,
                                request_columns(req_rows, parts, acks), req_pos, column_sets)
    connections, conn_pos = _merged(plain_connections, plain_pos,
                                    connection_columns(conn_rows), conn_pos)
    return requests, req_pos, connections, conn_pos, warnings, message_columns(msg_rows)


def _merged(first: dict, first_pos: np.ndarray, second: dict, second_pos: list,
            more: list = ()) -> tuple:
    """Sets of a table's columns (name -> typed array) and their rows' connection numbers
    (``more``: further ``(columns, numbers)`` pairs), as one (rows put in connection order by
    :func:`joined`)."""
    sets = [(c, p) for c, p in [(first, first_pos),
                                (second, np.array(second_pos, dtype=np.int64)), *more]
            if len(p)]
    if len(sets) < 2:
        return sets[0] if sets else (second, np.array(second_pos, dtype=np.int64))
    return ({name: concatenated([c[name] for c, _ in sets]) for name in sets[0][0]},
            np.concatenate([p for _, p in sets]))


def numbered(frames: list, many: bool):
    """The buckets' tables as one, their connections numbered in whole-capture order: each
    bucket's local numbers mapped through the ranks of all buckets' order keys."""
    if not frames:
        return (Table(request_columns([])), Table(connection_columns([])), [],
                Table(message_columns([])))
    # One bucket: its numbers are the capture's already.
    numbers = global_numbers([f[5] for f in frames]) if many else [None]
    req_parts, req_pos, conn_parts, conn_pos, notes = [], [], [], [], []
    msg_parts, msg_pos = [], []
    for (requests, rpos, connections, cpos, warnings, _, messages), nums in zip(frames, numbers):
        mpos = messages["connection"].copy()
        for cols, pos, parts, positions in ((requests, rpos, req_parts, req_pos),
                                            (connections, cpos, conn_parts, conn_pos),
                                            (messages, mpos, msg_parts, msg_pos)):
            if len(pos):
                if nums is not None:
                    cols["connection"] = nums[cols["connection"]]
                parts.append(cols)
                positions.append(pos if nums is None else nums[pos])
        notes += [(k if nums is None else int(nums[k]), client, server, ws)
                  for k, client, server, ws in warnings]
    frames.clear()
    requests = joined(req_parts, req_pos, REQUEST_COLUMNS)
    connections = joined(conn_parts, conn_pos, CONNECTION_COLUMNS)
    messages = joined(msg_parts, msg_pos, MESSAGE_COLUMNS)
    notes.sort(key=lambda n: n[0])
    return requests, connections, [f"connection {k} ({client} -> {server}): {w}"
                                   for k, client, server, ws in notes for w in ws], messages


def joined(parts: list, positions: list, columns) -> Table:
    """The buckets' columns (dicts, see :func:`~.tables.typed_columns`) as one table, rows
    in connection order (stable: a connection's rows keep theirs).  Built a column at a time,
    each bucket's piece of a column let go once joined: the whole table exists once, not two or
    three times over as with concatenating and reordering whole frames."""
    pos = np.concatenate(positions) if positions else np.zeros(0, dtype=np.int64)
    # (each bucket's positions are in order: a merge sort takes them as runs)
    order = None if np.all(pos[1:] >= pos[:-1]) else np.argsort(pos, kind="stable")
    runs = _runs(order, [len(p) for p in positions]) if order is not None else None
    trim = len(pos) >= pages.TRIM_ROWS
    data = {}
    for col in columns:
        pieces = [p.pop(col.name) for p in parts]
        if not pieces:
            data[col.name] = typed([], col.dtype)
        elif runs is not None:       # one copy, slices of the pieces in order: not two
            data[col.name] = concatenated([pieces[k][a:b] for k, a, b in runs])
        else:
            whole = pieces[0] if len(pieces) == 1 else concatenated(pieces)
            data[col.name] = whole if order is None else take(whole, order)
            whole = None
        pieces = None
        if trim:
            pages.give_back_freed_memory()
    parts.clear()
    return Table({c.name: data[c.name] for c in columns})


#: Runs of consecutive rows (a connection's rows, in a bucket) below which a reordered column
#: is joined from its slices, not taken row by row: a connection's rows stay together.
RUNS_MAX = 1024


def _runs(order: np.ndarray, sizes: list) -> list | None:
    """``order`` (indices into the parts' rows laid end to end, the parts of ``sizes`` rows) as
    ``(part, start, stop)`` slices of consecutive rows of one part, or None when there are
    more than :data:`RUNS_MAX` (or fewer than 4 rows a run: taking is as quick)."""
    if not len(order):
        return None
    bounds = np.cumsum([0] + list(sizes))
    # a run ends where the next index does not follow, or a part ends
    part_start = np.zeros(int(bounds[-1]) + 1, dtype=bool)
    part_start[bounds[1:-1]] = True
    cuts = np.flatnonzero((np.diff(order) != 1) | part_start[order[1:]]) + 1
    if len(cuts) >= RUNS_MAX or len(order) < 4 * (len(cuts) + 1):
        return None
    starts = np.concatenate([[0], cuts])
    stops = np.concatenate([cuts, [len(order)]])
    first = order[starts]
    part = np.searchsorted(bounds, first, "right") - 1
    at = first - bounds[part]
    return list(zip(part.tolist(), at.tolist(), (at + stops - starts).tolist()))
