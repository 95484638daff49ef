"""Tests for pdfrag.index.filters: Milvus filter literals built safely."""

from __future__ import annotations

import pytest

from pdfrag.index.filters import eq, hex_id, in_ids, quote


def test_quote_plain_and_unicode() -> None:
    assert quote("abc") == '"abc"'
    assert quote("") == '""'
    assert quote("东北电气，报告.pdf") == '"东北电气，报告.pdf"'
    assert quote("s3://bucket/a b/c.pdf") == '"s3://bucket/a b/c.pdf"'


def test_quote_escapes_quotes_and_backslashes() -> None:
    assert quote('say "hi"') == r'"say \"hi\""'
    assert quote("C:\\dir\\file") == r'"C:\\dir\\file"'
    # a trailing backslash cannot swallow the closing quote
    assert quote("end\\") == r'"end\\"'
    # backslash before a quote: both escaped, in the right order
    assert quote('\\"') == r'"\\\""'
    # an injection attempt stays one literal
    lit = quote('x" or id != "')
    assert lit == r'"x\" or id != \""'
    body = lit[1:-1]
    # every quote inside the literal is escaped by an odd run of backslashes
    i = body.find('"')
    while i != -1:
        run = len(body[:i]) - len(body[:i].rstrip("\\"))
        assert run % 2 == 1
        i = body.find('"', i + 1)


@pytest.mark.parametrize("bad", ["a\nb", "tab\there", "nul\x00", "\x1f", "cr\r"])
def test_quote_refuses_control_chars(bad: str) -> None:
    with pytest.raises(ValueError, match="control characters"):
        quote(bad)


def test_eq() -> None:
    assert eq("source", "/data/a.pdf") == 'source == "/data/a.pdf"'
    assert eq("source", 'a"b') == r'source == "a\"b"'


def test_hex_id_accepts_hex() -> None:
    h = "0123456789abcdef" * 4
    assert hex_id(h) == f'"{h}"'
    assert hex_id("a") == '"a"'
    assert hex_id("f" * 128) == '"' + "f" * 128 + '"'


@pytest.mark.parametrize(
    "bad",
    [
        '" or id != "',
        'abc" or doc_id != "',
        "",
        "ABCDEF",  # ids are lower-case hex
        "xyz",
        "12 34",
        "ab\n",  # a trailing newline must not slip through
        "f" * 129,
        "0x12",
        "abc\\",
    ],
)
def test_hex_id_refuses_non_hex(bad: str) -> None:
    with pytest.raises(ValueError, match="not a hex id"):
        hex_id(bad)


def test_in_ids() -> None:
    assert in_ids("id", ["ab", "cd", "01"]) == 'id in ["ab", "cd", "01"]'
    assert in_ids("key", iter(["a"])) == 'key in ["a"]'
    assert in_ids("id", []) == "id in []"
    with pytest.raises(ValueError):
        in_ids("id", ["ab", '" or 1 == 1 or id == "'])
