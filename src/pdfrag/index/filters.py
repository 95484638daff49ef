"""Milvus filter expressions built from typed values, never pasted user text."""

from __future__ import annotations

import re
from collections.abc import Iterable

_HEX = re.compile(r"^[0-9a-f]{1,128}$")


def quote(value: str) -> str:
    """A Milvus string literal: backslashes and quotes escaped, controls refused."""
    if any(ord(ch) < 0x20 for ch in value):
        raise ValueError("control characters are not allowed in filter values")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def hex_id(value: str) -> str:
    """A hex id as a literal; refuses anything else (ids never need escaping)."""
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise ValueError(f"not a hex id: {value!r}")
    return f'"{value}"'


def eq(field: str, value: str) -> str:
    return f"{field} == {quote(value)}"


def in_ids(field: str, values: Iterable[str]) -> str:
    return f"{field} in [{', '.join(hex_id(v) for v in values)}]"


def _successor(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with
    ``prefix`` (code-point order, which is also UTF-8 byte order), or None
    when there is none (a prefix of only U+10FFFF characters)."""
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        if last == 0x10FFFF:
            continue
        nxt = last + 1
        if 0xD800 <= nxt <= 0xDFFF:  # surrogates cannot be encoded
            nxt = 0xE000
        return "".join(chars) + chr(nxt)
    return None


def prefix(field: str, value: str) -> str:
    """``field`` starts with ``value``, as a range comparison of two quoted
    literals (``field >= value and field < successor``): no ``like`` pattern,
    so ``%``, ``_`` and quotes in the value are plain characters."""
    if not value:
        raise ValueError("empty prefix")
    upper = _successor(value)
    lower = f"{field} >= {quote(value)}"
    return lower if upper is None else f"{lower} and {field} < {quote(upper)}"


def int_between(field_start: str, field_end: str, lo: int | None, hi: int | None) -> str:
    """Rows whose [field_start, field_end] range overlaps [lo, hi]."""
    parts = []
    if lo is not None:
        parts.append(f"{field_end} >= {int(lo)}")
    if hi is not None:
        parts.append(f"{field_start} <= {int(hi)}")
    return " and ".join(parts)


def json_eq(field: str, key: str, value: str) -> str:
    """``field["key"] == "value"`` on a JSON field; ``key`` must be a plain
    identifier (it is ours, never the user's)."""
    if not key.isidentifier():
        raise ValueError(f"not a plain JSON key: {key!r}")
    return f'{field}["{key}"] == {quote(value)}'


def all_of(*exprs: str) -> str:
    """Conjunction of the non-empty expressions, each parenthesized."""
    parts = [e for e in exprs if e]
    if len(parts) == 1:
        return parts[0]
    return " and ".join(f"({e})" for e in parts)
