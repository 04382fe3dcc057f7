"""The plain-block decoder in C (``inferwire.protocols._hpack.plain_text``) against the Python one
it stands in for (``HpackDecoder._plain_text``): on blocks from ``hpack.Encoder`` and from the
hand-written encoder of test_hpackdecode (every representation, valid and not), on random bytes,
with dynamic tables filled, shrunk and emptied; and decoders with and without it give the same
headers block after block.  The C result must be the Python one whenever C gives one, and C must
give one for the blocks it is there for."""
from __future__ import annotations

import hpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from needs import skip_or_fail
from tests.protocols.test_hpackdecode import encode, integer, representation

from inferwire.protocols import hpackdecode
from inferwire.protocols.hpackdecode import STATIC_TEXT, HpackDecoder

C_PLAIN = hpackdecode._c_plain_text
FUZZ = settings(max_examples=300, deadline=None)


def c_plain(decoder: HpackDecoder, block: bytes):
    if C_PLAIN is None:
        skip_or_fail("inferwire.protocols._hpack is not built: nothing to compare")
    return C_PLAIN(block, STATIC_TEXT, decoder.dynamic_text, decoder.max_header_list_size)


def agree(decoder: HpackDecoder, block: bytes):
    """C's result for ``block`` (None, or exactly what _plain_text gives)."""
    got = c_plain(decoder, block)
    if got is not None:
        assert got == decoder._plain_text(block), block.hex()
    return got


def grown(entries: int, max_list: int = 65536) -> HpackDecoder:
    """A decoder whose dynamic table holds ``entries`` added entries (some non-ASCII)."""
    decoder = HpackDecoder(65536, 1 << 16)
    for i in range(entries):
        value = (b"v\xc3\xa9-%d" % i) if i % 3 else (b"\xff%d" % i)
        decoder.decode(encode(("literal", "incremental", b"x-n%d" % i, value, i % 2 == 0,
                               False)))
    decoder.max_header_list_size = max_list
    return decoder


def test_the_extension_is_built_where_ci_runs():
    if C_PLAIN is None:
        skip_or_fail("inferwire.protocols._hpack is not built (no C compiler at install)")


def test_a_grpc_request_with_its_own_request_id():
    enc, decoder = hpack.Encoder(), HpackDecoder(1 << 20, 1 << 24)
    headers = [(":method", "POST"), (":path", "/tensorflow.serving.PredictionService/Predict"),
               ("content-type", "application/grpc"), ("te", "trailers")]
    decoder.decode_text(enc.encode(headers))          # fills both tables
    block = enc.encode(headers + [hpack.NeverIndexedHeaderTuple("x-request-id", "r-7")],
                       huffman=False)
    got = agree(decoder, block)
    assert got is not None and got[-1] == ("x-request-id", "r-7")
    assert got[:4] == tuple(headers)


def test_indexed_fields_share_the_tables_text_pairs():
    decoder = grown(3)
    block = integer(2, 7, 0x80) + integer(62, 7, 0x80)
    got = agree(decoder, block)
    assert got[0] is STATIC_TEXT[2][0] and got[1] is decoder.dynamic_text[0][0]
    assert got[1] == ("x-n2", "v\xe9-2")


@pytest.mark.parametrize("block", [
    bytes([0x00, 0x83]) + b"abc" + bytes([0x01, 0x61]),       # Huffman name
    bytes([0x00, 0x7F, 0x00]) + b"a" * 127 + b"\x00",         # a 127-byte name (2-byte length)
    integer(200, 7, 0x80),                                     # a multi-byte index
    bytes([0x0F, 0x01, 0x01, 0x61]),                           # a literal with a 2-byte name index
    bytes([0x40, 0x01, 0x61, 0x01, 0x62]),                     # incremental indexing
    integer(100, 5, 0x20),                                     # a size update
    bytes([0x80]),                                             # index 0
    bytes([0x82, 0xC0]),                                       # an index past the table
    bytes([0x00, 0x05, 0x61]),                                 # a name cut by the block's end
    bytes([0x04, 0x05, 0x61]),                                 # a value cut by the block's end
    bytes([0x04]),                                             # no value at all
])
def test_blocks_left_to_python(block):
    assert agree(HpackDecoder(), block) is None


def test_the_header_list_limit():
    block = bytes([0x00, 0x01, 0x61, 0x02, 0x62, 0x63])           # 32 + 1 + 2 = 35 bytes
    assert agree(HpackDecoder(35), block) == (("a", "bc"),)
    assert agree(HpackDecoder(34), block) is None
    block = bytes([0x82, 0x04, 0x01, 0x61])                   # :method GET: 42, :path a: 38
    assert agree(HpackDecoder(80), block) == ((":method", "GET"), (":path", "a"))
    assert agree(HpackDecoder(79), block) is None
    decoder = grown(1)                                        # x-n0 \xff0: 32 + 4 + 2 = 38
    decoder.max_header_list_size = 38
    assert agree(decoder, bytes([0xBE])) == (("x-n0", "\ufffd0"),)
    decoder.max_header_list_size = 37
    assert agree(decoder, bytes([0xBE])) is None


@FUZZ
@given(st.lists(st.lists(representation, max_size=8), min_size=1, max_size=5),
       st.integers(0, 40), st.sampled_from([40, 100, 300, 65536]))
def test_hand_encoded_blocks(reps, entries, max_list):
    decoder = grown(entries, max_list)
    for block in (b"".join(encode(r) for r in reps_) for reps_ in reps):
        agree(decoder, block)


@FUZZ
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=4), st.integers(0, 40))
def test_random_bytes(blocks, entries):
    decoder = grown(entries)
    for block in blocks:
        agree(decoder, block)


def plain_field() -> st.SearchStrategy:
    """A field C decodes: a one-byte index, or a literal (not indexed / never indexed) with a
    one-byte name index or a plain name, and a plain value, each under 127 bytes."""
    literal = st.tuples(st.just("literal"), st.sampled_from(["without", "never"]),
                        st.one_of(st.integers(1, 14), st.binary(max_size=30)),
                        st.binary(max_size=126), st.just(False), st.just(False))
    return st.one_of(st.tuples(st.just("indexed"), st.integers(1, 61 + 40)), literal)


@FUZZ
@given(st.lists(st.lists(plain_field(), min_size=1, max_size=10), min_size=1, max_size=4),
       st.integers(40, 60))
def test_plain_blocks_are_decoded_in_c(blocks, entries):
    decoder = grown(entries)
    for reps in blocks:
        block = b"".join(encode(r) for r in reps)
        assert agree(decoder, block) is not None, block.hex()


@FUZZ
@given(st.lists(st.lists(representation, max_size=8), min_size=1, max_size=8),
       st.sampled_from([300, 4096]))
def test_decoders_with_and_without_c_agree_block_after_block(reps, max_table):
    blocks = [b"".join(encode(r) for r in block) for block in reps]
    with pytest.MonkeyPatch.context() as monkeypatch:
        results = []
        for use_c in (True, False):
            monkeypatch.setattr(hpackdecode, "_c_plain_text", C_PLAIN if use_c else None)
            decoder, out = HpackDecoder(4096, max_table), []
            for block in blocks:
                try:
                    out.append(decoder.decode_text(block))
                except hpack.HPACKError as exc:
                    out.append(type(exc))
                    break
                assert [t[0] for t in decoder.dynamic_text] == [
                    (n.decode("utf-8", "replace"), v.decode("utf-8", "replace"))
                    for n, v in decoder.dynamic]
            results.append(out)
        assert results[0] == results[1]


def test_a_short_static_table_is_refused_not_read_past():
    """The C literal reader indexes the static table unchecked (names 1 to 14): a table too
    short for that is a ValueError (it was a segmentation fault)."""
    if C_PLAIN is None:
        skip_or_fail("inferwire.protocols._hpack is not built: nothing to compare")
    with pytest.raises(ValueError, match="static table"):
        C_PLAIN(b"\x0e\x01a", (None,), [], 10**9)
