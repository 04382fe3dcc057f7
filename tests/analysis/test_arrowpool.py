"""analyze() makes its Arrow buffers on malloc's pool while it runs and puts the program's pool
back after (inferwire.analysis.arrowpool): the pool inside and after a real analysis, the
user's ARROW_DEFAULT_MEMORY_POOL left alone, the pool restored when the block raises, and the
string columns of a real analysis made from the system pool."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from inferwire.analysis import pipeline
from inferwire.analysis.arrowpool import system_pool

CAPTURE = Path(__file__).parent / "golden" / "captures" / "grpc_streamed.pcap"


def analyzed_in_pool(monkeypatch) -> tuple[list[str], object]:
    seen = []
    inner = pipeline.capture_tables

    def watching(*args, **kwargs):
        seen.append(pa.default_memory_pool().backend_name)
        return inner(*args, **kwargs)
    monkeypatch.setattr(pipeline, "capture_tables", watching)
    return seen, pipeline.analyze(CAPTURE, workers=1)


def test_malloc_while_analyze_runs_and_the_programs_pool_after(monkeypatch):
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    was = pa.default_memory_pool()
    other = pa.mimalloc_memory_pool() if was.backend_name != "mimalloc" else \
        pa.jemalloc_memory_pool() if hasattr(pa, "jemalloc_memory_pool") else was
    pa.set_memory_pool(other)
    try:
        before = pa.system_memory_pool().bytes_allocated()
        seen, a = analyzed_in_pool(monkeypatch)
        assert seen == ["system"]
        assert pa.default_memory_pool().backend_name == other.backend_name
        # the messages' text columns, made inside, are held in malloc's pool
        texts = sum(a.messages[c].array._pa_array.nbytes for c in ("request_id", "direction",
                                                                    "kind"))
        assert len(a.messages) and texts > 0
        assert pa.system_memory_pool().bytes_allocated() - before >= texts
    finally:
        pa.set_memory_pool(was)


def test_the_users_arrow_setting_is_theirs(monkeypatch):
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "mimalloc")
    was = pa.default_memory_pool().backend_name
    seen, _ = analyzed_in_pool(monkeypatch)
    assert seen == [was]


def test_restored_when_the_block_raises(monkeypatch):
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    was = pa.default_memory_pool().backend_name
    with pytest.raises(KeyError):
        with system_pool():
            assert pa.default_memory_pool().backend_name == "system"
            raise KeyError("x")
    assert pa.default_memory_pool().backend_name == was
