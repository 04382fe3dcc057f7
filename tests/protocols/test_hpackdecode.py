"""HpackDecoder against the ``hpack`` package: same headers, same table, same errors-or-not.

Blocks come from ``hpack.Encoder`` (random header lists, table sizes, Huffman on/off), from a
hand-written encoder that also emits what ``hpack.Encoder`` never does (literals without
indexing, any index, size updates anywhere), and from random bytes.
"""
import hpack
import pytest
from hpack.huffman import HuffmanEncoder
from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH
from hpack.huffman_table import decode_huffman as hpack_huffman
from hypothesis import given, settings
from hypothesis import strategies as st

from inferwire.protocols.hpackdecode import HpackDecoder, decode_huffman

HUFFMAN = HuffmanEncoder(REQUEST_CODES, REQUEST_CODES_LENGTH)
FUZZ = settings(max_examples=300, deadline=None)


def reference(max_list=65536, max_table=4096):
    d = hpack.Decoder(max_header_list_size=max_list)
    d.max_allowed_table_size = max_table
    return d


def outcome(decode, block):
    """("ok", headers as byte pairs) or ("error", exception type)."""
    try:
        return "ok", [(bytes(n), bytes(v)) for n, v in decode(block)]
    except hpack.HPACKError as exc:
        return "error", type(exc)


def assert_same_on(blocks, max_list=65536, max_table=4096):
    """Decode ``blocks`` in order with both decoders; stop after the first error (the HTTP/2
    parser stops there too)."""
    ref, ours = reference(max_list, max_table), HpackDecoder(max_list, max_table)
    for block in blocks:
        expected = outcome(lambda b: ref.decode(b, raw=True), block)
        got = outcome(ours.decode, block)
        assert got == expected, block.hex()
        if expected[0] == "error":
            return
        assert list(ours.dynamic) == [tuple(e) for e in ref.header_table.dynamic_entries]


# ---------------------------------------------------------------- a hand-written encoder

def integer(value, prefix_bits, flags):
    """RFC 7541 5.1 integer with ``flags`` in the bits above the prefix."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([flags | value])
    out, value = [flags | limit], value - limit
    while value >= 128:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(out + [value])


def string(data, huffman):
    coded = HUFFMAN.encode(data) if huffman else data
    return integer(len(coded), 7, 0x80 if huffman else 0) + coded


LITERAL = {"incremental": (6, 0x40), "without": (4, 0x00), "never": (4, 0x10)}
short = st.binary(max_size=40)
index = st.integers(min_value=0, max_value=90)
representation = st.one_of(
    st.tuples(st.just("indexed"), st.integers(min_value=0, max_value=200)),
    st.tuples(st.just("padded"), st.integers(min_value=31, max_value=4000),
              st.integers(min_value=0, max_value=6)),
    st.tuples(st.just("literal"), st.sampled_from(sorted(LITERAL)), st.one_of(index, short),
              short, st.booleans(), st.booleans()),
    st.tuples(st.just("size"), st.integers(min_value=0, max_value=6000)),
)


def encode(rep) -> bytes:
    if rep[0] == "indexed":
        return integer(rep[1], 7, 0x80)
    if rep[0] == "size":
        return integer(rep[1], 5, 0x20)
    if rep[0] == "padded":       # a size update with redundant continuation bytes
        value, extra = rep[1] - 31, rep[2]
        continuation = [0x80 | (value & 0x7F), 0x80 | (value >> 7)] + [0x80] * extra
        return bytes([0x3F] + continuation + [0])
    _, kind, name, value, huff_name, huff_value = rep
    bits, flags = LITERAL[kind]
    if isinstance(name, int):
        if name == 0:            # index 0 means "literal name": encode an empty literal name
            head = integer(0, bits, flags) + string(b"", huff_name)
        else:
            head = integer(name, bits, flags)
    else:
        head = integer(0, bits, flags) + string(name, huff_name)
    return head + string(value, huff_value)


# ---------------------------------------------------------------- properties

header = st.tuples(st.text(min_size=1, max_size=20), st.text(max_size=60), st.booleans())


@FUZZ
@given(st.lists(st.lists(header, max_size=8), min_size=1, max_size=6),
       st.lists(st.sampled_from([0, 64, 256, 4096, 65536]), min_size=1, max_size=6),
       st.booleans())
def test_blocks_from_hpack_encoder(header_lists, sizes, huffman):
    enc = hpack.Encoder()
    blocks = []
    for headers, size in zip(header_lists, sizes * len(header_lists)):
        if size != enc.header_table_size:
            enc.header_table_size = size
        blocks.append(enc.encode(headers, huffman=huffman))
    assert_same_on(blocks, max_table=1 << 20)


@FUZZ
@given(st.lists(st.lists(representation, max_size=8), min_size=1, max_size=5),
       st.sampled_from([200, 4096, 65536]), st.sampled_from([300, 4096]))
def test_hand_encoded_blocks_including_invalid_ones(reps, max_list, max_table):
    assert_same_on([b"".join(encode(r) for r in block) for block in reps], max_list, max_table)


@FUZZ
@given(st.lists(st.binary(max_size=30), min_size=1, max_size=4))
def test_random_bytes(blocks):
    assert_same_on(blocks)


@FUZZ
@given(st.binary(max_size=40), st.data())
def test_mutated_valid_block(data, draw):
    enc = hpack.Encoder()
    block = bytearray(enc.encode([(":path", "/x"), ("x-request-id", data.hex()),
                                  ("user-agent", "grpc-go/1.60")]))
    i = draw.draw(st.integers(min_value=0, max_value=len(block) - 1))
    block[i] = draw.draw(st.integers(min_value=0, max_value=255))
    cut = draw.draw(st.integers(min_value=0, max_value=len(block)))
    assert_same_on([bytes(block[:cut]) if draw.draw(st.booleans()) else bytes(block)])


# Bytes rich in 1 bits reach the EOS code (30 ones) and over-long padding at every alignment.
ones_heavy = st.lists(st.one_of(st.just(0xFF), st.integers(min_value=0, max_value=255)),
                      max_size=12).map(bytes)


@FUZZ
@given(st.one_of(st.binary(max_size=60), ones_heavy,
                 st.tuples(st.binary(max_size=10), ones_heavy).map(
                     lambda t: HUFFMAN.encode(t[0]) + t[1])))
def test_huffman_strings(data):
    assert decode_huffman(HUFFMAN.encode(data)) == data
    try:
        expected = hpack_huffman(data)
    except hpack.HPACKDecodingError:
        with pytest.raises(hpack.HPACKDecodingError):
            decode_huffman(data)
    else:
        assert decode_huffman(data) == expected


# ---------------------------------------------------------------- the memo

def test_remembered_block_follows_table_changes():
    ours = HpackDecoder()
    add_a = encode(("literal", "incremental", b"x-a", b"1", False, False))
    add_b = encode(("literal", "incremental", b"x-b", b"2", True, True))
    first_dynamic = integer(62, 7, 0x80)
    ours.decode(add_a)
    assert ours.decode_text(first_dynamic) == (("x-a", "1"),)
    assert ours.decode_text(first_dynamic) == (("x-a", "1"),)      # from the memo
    ours.decode(add_b)                                              # index 62 is now x-b
    assert ours.decode_text(first_dynamic) == (("x-b", "2"),)


def test_table_shrinks_by_one_byte_evicting_the_oldest():
    fill = [encode(("literal", "incremental", b"n%02d" % i, b"v" * 93, False, False))
            for i in range(32)]                       # 32 entries of 128 bytes = 4096 exactly
    assert_same_on([*fill, integer(4095, 5, 0x20), integer(62 + 30, 7, 0x80),
                    integer(62 + 31, 7, 0x80)])
    ours = HpackDecoder()
    for block in fill:
        ours.decode(block)
    ours.decode(integer(4095, 5, 0x20))
    assert len(ours.dynamic) == 31 and ours.dynamic[-1][0] == b"n01"


def test_known_vectors_rfc7541_c4():
    """RFC 7541 C.4: requests with Huffman coding, sharing one table."""
    blocks = ["828684418cf1e3c2e5f23a6ba0ab90f4ff",
              "828684be5886a8eb10649cbf",
              "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf"]
    ours = HpackDecoder()
    got = [ours.decode_text(bytes.fromhex(b)) for b in blocks]
    assert got[1][-1] == ("cache-control", "no-cache")
    assert got[2][-1] == ("custom-key", "custom-value")
    assert [e[0] for e in ours.dynamic] == [b"custom-key", b"cache-control", b":authority"]


def test_undecodable_utf8_is_replaced_in_text():
    block = encode(("literal", "without", b"x-bin", b"\xff\xfe", False, False))
    assert HpackDecoder().decode_text(block) == (("x-bin", "\ufffd\ufffd"),)
