"""Error messages from failed HTTP responses' bodies, on bytes alone."""
from inferwire.protocols.errorbody import TEXT_CHARS, dechunk, error_message


def test_json_error_and_detail():
    assert error_message(b'{"error": "Servable not found"}') == "Servable not found"
    assert error_message(b'{"detail": "Not Found"}') == "Not Found"       # FastAPI (KServe)
    assert error_message(b'{"error": 3}') == '{"error": 3}'               # not a message: text
    assert error_message(b"") is None and error_message(b"  \r\n") is None


def test_text_is_cut_and_says_so():
    body = b"x" * (TEXT_CHARS + 5)
    assert error_message(body) == "x" * TEXT_CHARS + "..."
    assert error_message(b'{"error": "long', cut=True) == '{"error": "long...'


def test_chunked():
    assert dechunk(b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: x\r\n\r\n") == b"abcde"
    assert dechunk(b"zz\r\nabc") is None and dechunk(b"9\r\nabc") is None
    assert error_message(b'5\r\n{"err\r\nc\r\nor": "boom"}\r\n0\r\n\r\n', chunked=True) == "boom"
