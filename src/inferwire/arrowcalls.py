"""Arrow's compute kernels that inferwire's tables use, called by name.

Importing ``pyarrow.compute`` builds a Python wrapper, signature and docstring for each of
Arrow's several hundred kernels: 25 ms, more than ``pyarrow`` itself, and Arrow's own array
methods (``Array.take``, ``Array.cast``, ...) import it on first use, in every process (the
analysis's forked workers each paid it).  The kernels are the same objects without it:
``call_function`` and the options classes live in ``pyarrow._compute``, the compiled module
``pyarrow.compute`` is made from (5 ms).  Each function here is the ``pyarrow.compute``
function of the same name, with its default options; where ``pyarrow._compute`` lacks a name
(another pyarrow), ``pyarrow.compute``'s own is used.  tests/test_arrowcalls.py checks every
one against ``pyarrow.compute``.
"""
from __future__ import annotations

import pyarrow as pa

try:
    from pyarrow._compute import (CastOptions, JoinOptions, MatchSubstringOptions,
                                  ReplaceSubstringOptions, ScalarAggregateOptions, TakeOptions,
                                  call_function)
except ImportError:          # (a pyarrow laid out otherwise: the public module has them all)
    from pyarrow.compute import (CastOptions, JoinOptions, MatchSubstringOptions,  # noqa: F401
                                 ReplaceSubstringOptions, ScalarAggregateOptions, TakeOptions,
                                 call_function)


def cast(values, target: pa.DataType):
    """``values`` (an array, chunked array or scalar) as ``target`` (a safe cast)."""
    return call_function("cast", [values], CastOptions.safe(target))


def take(values, indices):
    """The items of ``values`` at ``indices`` (an Arrow integer array), in that order."""
    return call_function("take", [values, indices], TakeOptions(boundscheck=True))


def fill_null(values, fill):
    """``values`` with each null replaced by ``fill`` (a scalar or an array), cast to the
    values' type where it is of another."""
    if fill.type != values.type:
        fill = cast(fill, values.type)
    return call_function("coalesce", [values, fill])


def if_else(condition, left, right):
    """``left`` where ``condition`` is true, else ``right`` (null where it is null)."""
    return call_function("if_else", [condition, left, right])


def join(*strings):
    """Element-wise join of the string arrays or scalars ``strings[:-1]`` with the separator
    ``strings[-1]`` (null where any is null): ``binary_join_element_wise``."""
    return call_function("binary_join_element_wise", list(strings), JoinOptions())


def replace_with_mask(values, mask, replacements):
    """``values`` with the items where ``mask`` is true replaced by ``replacements``' items, in
    order."""
    return call_function("replace_with_mask", [values, mask, replacements])


def matches(strings, pattern: str):
    """Booleans: whether each string holds a match of the regular expression ``pattern``."""
    return call_function("match_substring_regex", [strings],
                         MatchSubstringOptions(pattern, ignore_case=False))


def replace_substring(strings, pattern: str, replacement: str):
    """``strings`` with every occurrence of ``pattern`` (plain text) replaced."""
    return call_function("replace_substring", [strings],
                         ReplaceSubstringOptions(pattern, replacement))


def any_true(values) -> bool:
    """Whether any of the booleans ``values`` is true (nulls skipped)."""
    return bool(call_function("any", [values],
                              ScalarAggregateOptions(skip_nulls=True, min_count=1)).as_py())


def unique(values):
    """The distinct values of ``values``, in order of first appearance (null among them)."""
    return call_function("unique", [values])


def drop_null(values):
    """``values`` without its nulls."""
    return call_function("drop_null", [values])


def equal(left, right):
    """Element-wise ``left == right`` (null where either is null)."""
    return call_function("equal", [left, right])
