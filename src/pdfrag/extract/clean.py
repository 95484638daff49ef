"""Text cleaning that is safe for every script, CJK included."""

from __future__ import annotations

import re
import unicodedata

# C0/C1 controls except tab and newline; also the Unicode replacement char and
# zero-width characters that split words invisibly.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffd\u200b\u200c\u200d\u2060\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u3000\u202f\u205f]+")
_TRAILING = re.compile(r"[ \t]+\n")
_BLANKS = re.compile(r"\n{3,}")
_TAGS = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>\n]*)?/?>")
_LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb05": "st", "\ufb06": "st"})


# ASCII text without any of these is already clean (every rule below is a no-op on it).
_ASCII_DIRTY = re.compile(r"[\x00-\x08\x0b-\x1f\x7f<\t]|  | \n|\n\n\n")


def clean_text(text: str) -> str:
    """NFC (not NFKC: that would turn full-width CJK punctuation into ASCII),
    Latin ligatures expanded, controls and HTML tags stripped, horizontal
    whitespace collapsed, at most one blank line."""
    if text.isascii() and _ASCII_DIRTY.search(text) is None:
        return text.strip()
    return _clean(text)


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text).translate(_LIGATURES)
    text = _TAGS.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _TRAILING.sub("\n", text)
    text = _BLANKS.sub("\n\n", text)
    return text.strip()


_PAGE_NUMBER = re.compile(
    r"^\s*(?:(?:page|p\.|seite|página|第)\s*)?(?:\d{1,4}|[ivxlcdm]{1,6})(?:\s*(?:/|of|von|de|页)\s*\d{1,4})?\s*(?:页)?\s*$", re.IGNORECASE
)
_DIGITS = re.compile(r"\d+")


def is_page_number(text: str) -> bool:
    """``12``, ``Page 3 of 10``, ``- 7 -``, ``iv``, ``第 5 页``, and
    chapter-page numbers such as ``7-45``."""
    return (
        bool(_PAGE_NUMBER.match(text))
        or bool(re.match(r"^\s*[-–—]\s*\d{1,4}\s*[-–—]\s*$", text))
        or bool(re.match(r"^\s*[A-Z0-9]{1,3}\s*[-–]\s*\d{1,4}\s*$", text))
    )


def furniture_key(text: str) -> str:
    """Running headers and footers repeat with a changing page number."""
    return _DIGITS.sub("#", " ".join(text.lower().split()))


def repeated_furniture(keys_per_page: list[set[str]], min_share: float = 0.3) -> set[str]:
    """Keys of margin text seen on enough pages to be running headers/footers:
    on at least two pages and at least ``min_share`` of them."""
    n = len(keys_per_page)
    if n < 2:
        return set()
    counts: dict[str, int] = {}
    for keys in keys_per_page:
        for k in keys:
            counts[k] = counts.get(k, 0) + 1
    need = max(2, int(min_share * n + 0.999))
    return {k for k, c in counts.items() if c >= need}
