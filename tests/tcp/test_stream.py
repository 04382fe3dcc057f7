"""DirectionStream: byte attribution to the first packet that carried it, gaps, wrap-around."""
from inferwire.tcp.stream import UNKNOWN_SUMMARY, DirectionStream, unwrap32

BUF = bytes(range(256)) * 64


def stream_with(*segments):
    """segments: (stream_start, length, t_ns) with payload taken from BUF at the same offset."""
    s = DirectionStream(BUF)
    for frame, (start, length, t) in enumerate(segments, 1):
        s.add(start, length, length, t, frame, start)
    return s


def test_in_order_segments_map_each_byte_to_its_packet():
    s = stream_with((0, 100, 10), (100, 50, 20), (150, 10, 30))
    assert (s.time_at(0), s.time_at(99), s.time_at(100), s.time_at(159)) == (10, 10, 20, 30)
    assert s.frame_at(149) == 2
    assert s.end == 160 and s.contiguous_end() == 160 and s.gaps() == []
    assert b"".join(d for _, d in s.chunks()) == BUF[:160]


def test_retransmission_keeps_first_transmission_time_and_is_counted():
    s = stream_with((0, 100, 10), (100, 100, 20), (0, 200, 50))  # last: coalesced retransmission
    assert s.time_at(150) == 20 and s.time_at(0) == 10
    assert s.retransmitted_segments == 1 and s.retransmitted_bytes == 200
    assert s.nbytes == 200


def test_reordered_segment_fills_the_hole():
    s = stream_with((0, 10, 10), (20, 10, 20), (10, 10, 30))
    assert s.time_at(15) == 30 and s.time_at(25) == 20
    assert s.gaps() == [] and s.contiguous_end() == 30
    assert b"".join(d for _, d in s.chunks()) == BUF[:30]


def test_partial_overlap_only_new_bytes_are_added():
    s = stream_with((0, 10, 10), (5, 10, 20))
    assert s.time_at(9) == 10 and s.time_at(10) == 20 and s.end == 15
    assert s.retransmitted_bytes == 5


def test_gap_stops_chunks_and_is_reported():
    s = stream_with((0, 10, 10), (20, 10, 20))
    assert [(g.start, g.end) for g in s.gaps()] == [(10, 20)]
    assert s.contiguous_end() == 10
    assert list(s.chunks()) == [(0, BUF[:10])]


def test_snaplen_cut_is_recorded_as_uncaptured():
    s = DirectionStream(BUF)
    s.add(0, 1000, 60, 5, 1, 0)
    assert s.end == 60 and s.uncaptured == [(60, 1000)]


def test_unwrap32_follows_sequence_wrap_and_early_packets():
    ref = 0xFFFFFF00
    seqs = [0xFFFFFF00, 0xFFFFFFF0, 0x00000010, 0xFFFFFF80, 0x00000100]
    assert unwrap32(seqs, ref) == [0, 0xF0, 0x110, 0x80, 0x200]
    assert unwrap32([100, 90], 100) == [0, -10]


def test_read_a_range_across_pieces_and_not_across_a_gap():
    s = stream_with((0, 10, 10), (10, 10, 20), (30, 10, 30))
    assert s.read(5, 15) == BUF[5:15] and s.read(0, 20) == BUF[:20]
    assert s.read(32, 38) == BUF[32:38] and s.read(7, 7) == b""
    assert s.read(15, 35) is None and s.read(20, 25) is None and s.read(38, 45) is None


def test_a_known_summary_is_used_and_set_pieces_forgets_it():
    walked = stream_with((0, 100, 10), (100, 50, 20), (200, 10, 30))      # a gap at 150..200
    assert walked.known_summary == UNKNOWN_SUMMARY
    assert (walked.nbytes, walked.contiguous_end()) == (160, 150)
    assert walked.known_summary == (3, 160, 150)                  # counted once, kept
    cols = [walked.starts, walked.ends, walked.times, walked.frames, walked.srcs]
    told = DirectionStream(BUF, *cols, known_summary=(3, 1, 2))
    assert (told.nbytes, told.contiguous_end()) == (1, 2)         # taken as given, not walked
    stale = DirectionStream(BUF, *cols, known_summary=(2, 1, 2))  # for other pieces: recounted
    assert (stale.nbytes, stale.contiguous_end()) == (160, 150)
    filled = stream_with((0, 100, 10), (100, 110, 20))
    told.set_pieces(filled.starts, filled.ends, filled.times, filled.frames, filled.srcs)
    assert (told.nbytes, told.contiguous_end(), told.gaps()) == (210, 210, [])
