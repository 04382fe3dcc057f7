"""HPACK header block decoding (RFC 7541), fast, and accepting exactly what ``hpack`` accepts.

Written by hand because ``hpack.Decoder`` costs ~100 µs per header block (a nibble-at-a-time
pure-Python Huffman decoder, a memoryview slice and a function call per field), which made HPACK
the largest cost of reading gRPC captures.  What this module reuses from ``hpack``: the static
table, the Huffman code (its nibble state machine, composed here into a byte-at-a-time one) and
the exception types.  Its behaviour follows ``hpack.Decoder.decode(raw=True)`` step by step
(integer limits, where a table size update may appear, table eviction, the header list size
limit), and ``tests/protocols/test_hpackdecode.py`` checks it against ``hpack`` on fuzzed input.

Three shortcuts make common traffic cheap:

* a header block that does not change the dynamic table decodes to the same list whenever the
  table is the same, so its result is remembered per (table generation, block bytes): the
  responses of a gRPC server are mostly such blocks;
* a block that does not change the table but is new (a request with its own x-request-id, a
  trailer with a timing value) is decoded straight to text by :meth:`HpackDecoder._plain_text`,
  whose runs of one-byte indexed fields are remembered per (table generation, run bytes); any
  other block, and any block that would raise, takes the general path, which alone changes
  the table and raises errors;
* Huffman strings are decoded with a 256-state x 256-byte transition table, and remembered.

With the C extension (``inferwire.protocols._hpack``), a new block that is plain in the
simplest way (one-byte indices, short strings without Huffman coding: a gRPC request with its own
x-request-id, a trailer with a timing value) is decoded in one C call before
:meth:`HpackDecoder._plain_text` is tried; it reads the tables' text mirrors (``STATIC_TEXT`` and
each decoder's ``dynamic_text``, kept in step with ``dynamic``) and gives the same headers
(``tests/protocols/test_hpack_c.py``).
"""
from __future__ import annotations

import re
from collections import deque

from hpack.exceptions import (HPACKDecodingError, InvalidTableIndex, InvalidTableSizeError,
                              OversizedHeaderListError)
from hpack.huffman_table import HUFFMAN_TABLE
from hpack.table import HeaderTable

STATIC = (None,) + HeaderTable.STATIC_TABLE     # 1-based, as HPACK indices
STATIC_LEN = len(HeaderTable.STATIC_TABLE)      # 61
ENTRY_OVERHEAD = 32                             # RFC 7541 4.1
VARINT_MAX_LENGTH = 5                           # as hpack: prefix + at most 5 continuation bytes
MEMO_LIMIT = 4096                               # remembered blocks / strings before forgetting

_FAIL, _EMIT, _COMPLETE = 4, 2, 1               # hpack.huffman_table flags
_INDEXED_RUN = re.compile(rb"[\x80-\xfe]+")       # one-byte indexed fields (index 0..126)
_STATIC_ONLY = -1                               # a run's "generation" when the table plays no part

try:              # plain blocks decoded in C (_hpack.c); same headers as _plain_text
    from ._hpack import plain_text as _c_plain_text
except ImportError:
    _c_plain_text = None


def text_entry(header: tuple[bytes, bytes]) -> tuple[tuple[str, str], int, int]:
    """A table entry's text mirror: ((name, value) as text, name bytes, value bytes)."""
    name, value = header
    return (name.decode("utf-8", "replace"), value.decode("utf-8", "replace")), len(name), \
        len(value)


STATIC_TEXT = (None,) + tuple(text_entry(h) for h in HeaderTable.STATIC_TABLE)


class _HuffmanTable:
    """The HPACK Huffman decoder as a byte-at-a-time state machine.

    Entry ``[state * 256 + byte]`` is ``(next_state * 256, emitted bytes, complete)``, or None
    where ``hpack``'s nibble machine fails: composing its two nibble steps keeps acceptance
    identical (EOS, over-long or non-1 padding are rejected the same way).  The 65,536 entries
    cost ~0.1 s to build, so each state's row is built when a string first reaches it: real
    header values visit a few dozen of the 256 states.  A cache of a pure function, shared by
    all decoders.
    """

    UNBUILT = object()

    def __init__(self):
        self.entries = [self.UNBUILT] * (256 * 256)
        self.singles = [bytes([i]) for i in range(256)]

    def fill(self, state256: int) -> None:
        """Build the row of ``state256`` (a state times 256)."""
        state, singles = state256 >> 8, self.singles
        for byte in range(256):
            s1, f1, o1 = HUFFMAN_TABLE[state * 16 + (byte >> 4)]
            s2, f2, o2 = HUFFMAN_TABLE[s1 * 16 + (byte & 0x0F)]
            if (f1 | f2) & _FAIL:
                self.entries[state256 + byte] = None
                continue
            out = (singles[o1] if f1 & _EMIT else b"") + (singles[o2] if f2 & _EMIT else b"")
            self.entries[state256 + byte] = (s2 * 256, out, bool(f2 & _COMPLETE))


_HUFFMAN = _HuffmanTable()


def decode_huffman(data: bytes) -> bytes:
    """Decode one Huffman-coded string; HPACKDecodingError where ``hpack`` raises one."""
    if not data:
        return b""
    table, unbuilt = _HUFFMAN.entries, _HuffmanTable.UNBUILT
    state, parts, complete = 0, [], False
    for byte in data:
        entry = table[state + byte]
        if entry is unbuilt:
            _HUFFMAN.fill(state)
            entry = table[state + byte]
        if entry is None:
            raise HPACKDecodingError("Invalid Huffman string")
        state, out, complete = entry
        parts.append(out)
    if not complete:
        raise HPACKDecodingError("Incomplete Huffman string")
    return b"".join(parts)


def decode_integer(data: bytes, pos: int, prefix_bits: int) -> tuple[int, int]:
    """An HPACK integer whose prefix byte is ``data[pos]``: (value, position after it)."""
    mask = (1 << prefix_bits) - 1
    try:
        number = data[pos] & mask
        if number < mask:
            return number, pos + 1
        index, shift = 1, 0
        while True:
            byte = data[pos + index]
            index += 1
            if byte < 128:
                return number + (byte << shift), pos + index
            number += (byte - 128) << shift
            shift += 7
            if index > VARINT_MAX_LENGTH:
                raise HPACKDecodingError(f"Variable integer representation is too long at "
                                         f"byte {pos}")
    except IndexError:
        raise HPACKDecodingError(f"Unable to decode HPACK integer representation at byte "
                                 f"{pos}") from None


class HpackDecoder:
    """One direction's HPACK decoding context (the dynamic table), fed whole header blocks.

    ``max_header_list_size``: decoded bytes (RFC 7541 entry sizes) allowed per block;
    ``max_allowed_table_size``: the largest table size the encoder may set.
    """

    def __init__(self, max_header_list_size: int = 65536, max_allowed_table_size: int = 4096):
        self.max_header_list_size = max_header_list_size
        self.max_allowed_table_size = max_allowed_table_size
        self.table_size = HeaderTable.DEFAULT_SIZE   # the encoder's current maximum (bytes)
        self.dynamic: deque = deque()                # newest first, as (name, value)
        self.dynamic_text: deque = deque()           # the same entries as text_entry()
        self._used = 0                               # bytes of the dynamic table in use
        self._generation = 0                         # bumped on every table change
        self._blocks: dict = {}                      # block -> (generation, headers)
        self._strings: dict = {}                     # Huffman string -> decoded
        self._text: dict = {}                        # (name, value) bytes -> as text
        self._runs: dict = {}                        # indexed run -> (generation, text, size)

    def decode(self, block: bytes) -> list[tuple[bytes, bytes]]:
        """The (name, value) byte pairs of one complete header block, in order."""
        return self._decode(block)

    def decode_text(self, block: bytes) -> tuple[tuple[str, str], ...]:
        """As :meth:`decode`, names and values as text (UTF-8, undecodable bytes replaced)."""
        generation = self._generation
        memo = self._blocks.get(block)
        if memo is not None and memo[0] == generation:
            return memo[1]
        headers = None
        if _c_plain_text is not None and self.table_size <= self.max_allowed_table_size:
            headers = _c_plain_text(block, STATIC_TEXT, self.dynamic_text,
                                    self.max_header_list_size)
        if headers is None:
            headers = self._plain_text(block)
        if headers is None:
            headers = self._general_text(block)
        if self._generation == generation:       # the table did not change: remember
            if len(self._blocks) >= MEMO_LIMIT:
                self._blocks.clear()
            self._blocks[block] = (generation, headers)
        return headers

    def _general_text(self, block: bytes) -> tuple[tuple[str, str], ...]:
        """:meth:`decode_text` through :meth:`_decode`: any block, table changes and errors."""
        text, headers = self._text, []
        for pair in self._decode(block):
            decoded = text.get(pair)
            if decoded is None:
                if len(text) >= MEMO_LIMIT:
                    text.clear()
                decoded = text[pair] = (pair[0].decode("utf-8", "replace"),
                                        pair[1].decode("utf-8", "replace"))
            headers.append(decoded)
        return tuple(headers)

    def _plain_text(self, data: bytes) -> tuple[tuple[str, str], ...] | None:
        """The text headers of a block made only of indexed fields and literals that are not
        indexed, which leave the table as it is; None for any other block, or one that is
        invalid or too large, for :meth:`_general_text` to decode (nothing here changes the
        table, so it can start over).  Same result as :meth:`_general_text` on the blocks
        it takes (``tests/protocols/test_hpackdecode.py`` compares them on fuzzed input)."""
        if self.table_size > self.max_allowed_table_size:
            return None
        headers: list = []
        pos, n, inflated = 0, len(data), 0
        run_at, runs, generation = _INDEXED_RUN.match, self._runs, self._generation
        try:
            while pos < n:
                b = data[pos]
                if b & 0x80:
                    if b == 0xFF:                  # index >= 127: a multi-byte integer
                        return None
                    end = run_at(data, pos).end()
                    run = data[pos:end]
                    memo = runs.get(run)
                    if memo is None or (memo[0] != generation and memo[0] != _STATIC_ONLY):
                        memo = self._indexed_run(run)
                        if memo is None:
                            return None
                    headers += memo[1]
                    inflated += memo[2]
                    pos = end
                    continue
                if b & 0xE0:                       # incremental indexing or a size update
                    return None
                # a literal, not indexed or never indexed: short plain strings sliced inline
                if b & 0x0F:
                    index, pos = decode_integer(data, pos, 4)
                    name = self._entry(index)[0]
                else:
                    pos += 1
                    length = data[pos]
                    if length < 0x7F:
                        name, pos = data[pos + 1:pos + 1 + length], pos + 1 + length
                    else:
                        name, pos = self._string(data, pos)
                length = data[pos]
                if length < 0x7F:
                    value, pos = data[pos + 1:pos + 1 + length], pos + 1 + length
                else:
                    value, pos = self._string(data, pos)
                if pos > n:                        # a plain string cut by the block's end
                    return None
                inflated += ENTRY_OVERHEAD + len(name) + len(value)
                headers.append((name.decode("utf-8", "replace"),
                                value.decode("utf-8", "replace")))
        except (HPACKDecodingError, InvalidTableIndex, IndexError):
            return None
        if inflated > self.max_header_list_size:
            return None
        return tuple(headers)

    def _indexed_run(self, run: bytes) -> tuple | None:
        """(generation, text headers, RFC 7541 size) of a run of one-byte indexed fields, now
        remembered; None when an index is not in the table."""
        headers, size, dynamic = [], 0, False
        for b in run:
            index = b & 0x7F
            if index > STATIC_LEN:
                dynamic = True
                if index - STATIC_LEN > len(self.dynamic):
                    return None
            elif index == 0:
                return None
            name, value = self._entry(index)
            size += ENTRY_OVERHEAD + len(name) + len(value)
            headers.append((name.decode("utf-8", "replace"), value.decode("utf-8", "replace")))
        memo = (self._generation if dynamic else _STATIC_ONLY, tuple(headers), size)
        if len(self._runs) >= MEMO_LIMIT:
            self._runs.clear()
        self._runs[run] = memo
        return memo

    # ------------------------------------------------------------ block

    def _decode(self, data: bytes) -> list:
        headers: list = []
        pos, n, inflated = 0, len(data), 0
        limit = self.max_header_list_size
        while pos < n:
            b = data[pos]
            if b & 0x80:                                   # indexed field
                if 0x80 < b <= 0x80 + STATIC_LEN:
                    header, pos = STATIC[b & 0x7F], pos + 1
                elif b != 0xFF:
                    header, pos = self._entry(b & 0x7F), pos + 1
                else:
                    index, pos = decode_integer(data, pos, 7)
                    header = self._entry(index)
            elif b & 0x40:                                 # literal, incremental indexing
                header, pos = self._literal(data, pos, 6)
                self._add(header)
            elif b & 0x20:                                 # dynamic table size update
                if headers:
                    raise HPACKDecodingError("Table size update not at the start of the block")
                pos = self._size_update(data, pos)
                continue
            else:                                          # literal, not indexed / never
                header, pos = self._literal(data, pos, 4)
            headers.append(header)
            inflated += ENTRY_OVERHEAD + len(header[0]) + len(header[1])
            if inflated > limit:
                raise OversizedHeaderListError(f"A header list larger than {limit} has been "
                                               "received")
        if self.table_size > self.max_allowed_table_size:
            raise InvalidTableSizeError("Encoder did not shrink table size to within the max")
        return headers

    def _entry(self, index: int) -> tuple[bytes, bytes]:
        if 0 < index <= STATIC_LEN:
            return STATIC[index]
        dyn = index - STATIC_LEN - 1
        if 0 <= dyn < len(self.dynamic):
            return self.dynamic[dyn]
        raise InvalidTableIndex(f"Invalid table index {index}")

    def _literal(self, data: bytes, pos: int, prefix_bits: int) -> tuple[tuple, int]:
        """A literal field whose first byte is at ``pos``: ((name, value), next position).

        Plain strings shorter than 127 bytes (the usual metadata) are sliced inline: the calls
        of the general :meth:`_string` were most of the cost of a block with literals."""
        n = len(data)
        if data[pos] & ((1 << prefix_bits) - 1):
            index, pos = decode_integer(data, pos, prefix_bits)
            name = self._entry(index)[0]
        else:
            pos += 1
            if pos < n and data[pos] < 0x7F:
                end = pos + 1 + data[pos]
                if end > n:
                    raise HPACKDecodingError("Truncated header block")
                name, pos = data[pos + 1:end], end
            else:
                name, pos = self._string(data, pos)
        if pos < n and data[pos] < 0x7F:
            end = pos + 1 + data[pos]
            if end > n:
                raise HPACKDecodingError("Truncated header block")
            return (name, data[pos + 1:end]), end
        value, pos = self._string(data, pos)
        return (name, value), pos

    def _string(self, data: bytes, pos: int) -> tuple[bytes, int]:
        """A length-prefixed (maybe Huffman-coded) string at ``pos``: (bytes, next position)."""
        length, start = decode_integer(data, pos, 7)
        end = start + length
        if end > len(data):
            raise HPACKDecodingError("Truncated header block")
        raw = data[start:end]
        if data[pos] & 0x80:
            decoded = self._strings.get(raw)
            if decoded is None:
                decoded = decode_huffman(raw)
                if len(self._strings) >= MEMO_LIMIT:
                    self._strings.clear()
                self._strings[raw] = decoded
            return decoded, end
        return raw, end

    # ------------------------------------------------------------ dynamic table

    def _add(self, header: tuple[bytes, bytes]) -> None:
        self._generation += 1
        size = ENTRY_OVERHEAD + len(header[0]) + len(header[1])
        if size > self.table_size:
            self.dynamic.clear()
            self.dynamic_text.clear()
            self._used = 0
            return
        self.dynamic.appendleft(header)
        self.dynamic_text.appendleft(text_entry(header))
        self._used += size
        self._shrink()

    def _size_update(self, data: bytes, pos: int) -> int:
        new_size, pos = decode_integer(data, pos, 5)
        if new_size > self.max_allowed_table_size:
            raise InvalidTableSizeError("Encoder exceeded max allowable table size")
        self._generation += 1
        old, self.table_size = self.table_size, new_size
        if new_size <= 0:
            self.dynamic.clear()
            self.dynamic_text.clear()
            self._used = 0
        elif old > new_size:
            self._shrink()
        return pos

    def _shrink(self) -> None:
        while self._used > self.table_size:
            name, value = self.dynamic.pop()
            self.dynamic_text.pop()
            self._used -= ENTRY_OVERHEAD + len(name) + len(value)
