"""The streaming workload's SSE splitter (bytes in, events out) and its option errors."""
import pytest

from inferwire.errors import LoadError
from inferwire.load.streaming import CompletionsWorkload, EventSplitter


def test_events_split_across_reads_and_line_ends():
    s = EventSplitter()
    assert s.feed(b"data: {\"a\"") == []
    assert s.feed(b": 1}\n") == []
    assert s.feed(b"\ndata: x\r\n\r\n: comment only\n\ndata: [DO") == [b'{"a": 1}', b"x"]
    assert s.feed(b"NE]\n\n") == [b"[DONE]"]


def test_bad_options_are_named():
    with pytest.raises(LoadError, match="max_tokens"):
        CompletionsWorkload("127.0.0.1", 1, max_tokens=0)
    with pytest.raises(LoadError, match="connection"):
        CompletionsWorkload("127.0.0.1", 1, connection="sometimes")
