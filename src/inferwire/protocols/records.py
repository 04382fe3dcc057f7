"""Making the parsers' frozen dataclass records quickly.

A frozen dataclass's generated ``__init__`` sets each field through ``object.__setattr__``: for
:class:`~inferwire.protocols.http2.H2Stream` (31 fields) that cost 6 µs per stream, more than
assembling the stream.  :func:`frozen` fills the instance's ``__dict__`` in one step instead;
the result is the same object (same class, fields, equality, hash and repr), which
``tests/protocols/test_records.py`` checks for every record type built this way.
"""
from __future__ import annotations

import dataclasses


def frozen(cls, **values):
    """An instance of the frozen (non-slots) dataclass ``cls`` with these field values.

    Every field must be given (no defaults are applied, no ``__post_init__`` is run).  Only the
    count of names is checked here, to stay cheap; the tests check each call site's names.
    """
    if len(values) != _field_count(cls):
        raise TypeError(f"{cls.__name__} needs all of its {_field_count(cls)} fields, "
                        f"got {sorted(values)}")
    return from_fields(cls, values)


def from_fields(cls, fields: dict):
    """An instance of the frozen (non-slots) dataclass ``cls`` whose ``__dict__`` is ``fields``
    (all of its fields, not copied and not checked): for the parsers' hot paths."""
    obj = _new(cls)
    _set(obj, "__dict__", fields)
    return obj


_new = object.__new__
_set = object.__setattr__


_COUNTS: dict = {}


def _field_count(cls) -> int:
    count = _COUNTS.get(cls)
    if count is None:
        count = _COUNTS[cls] = len(dataclasses.fields(cls))
    return count
