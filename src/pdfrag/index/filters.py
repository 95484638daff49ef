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
