"""Joining lines of text the way a reader would, in any script."""

from __future__ import annotations

import re
import unicodedata

_HYPHEN_END = re.compile(r"([^\W\d_])[-\u00ad\u2010]$")


def is_cjk(ch: str) -> bool:
    """Han, kana, Hangul and full-width CJK punctuation: scripts written without spaces."""
    if not ch:
        return False
    o = ord(ch)
    return (
        0x3000 <= o <= 0x30FF  # CJK punctuation, kana
        or 0x3400 <= o <= 0x4DBF
        or 0x4E00 <= o <= 0x9FFF
        or 0xAC00 <= o <= 0xD7AF  # Hangul syllables
        or 0xF900 <= o <= 0xFAFF
        or 0xFF00 <= o <= 0xFFEF  # full-width forms
        or 0x20000 <= o <= 0x2FA1F
    )


def join_lines(a: str, b: str) -> str:
    """Join two consecutive lines of one paragraph.

    A word hyphenated across the break is joined (``infor-`` + ``mation``),
    Chinese and Japanese lines are joined without a space; everything else
    with one space. Hangul is written with spaces, so it gets one.
    """
    if not a:
        return b
    if not b:
        return a
    if a[-1] in "-\u00ad\u2010" and b[0].islower() and _HYPHEN_END.search(a):
        return a[:-1] + b
    last, first = a[-1], b[0]
    if is_cjk(last) and is_cjk(first) and not _hangul(last) and not _hangul(first):
        return a + b
    return a + " " + b


def _hangul(ch: str) -> bool:
    return 0xAC00 <= ord(ch) <= 0xD7AF or unicodedata.name(ch, "").startswith("HANGUL")


# Hebrew, Arabic, Syriac, Thaana, NKo, Samaritan, Mandaic and their
# presentation forms, and the historic right-to-left blocks.
_RTL_CHAR = re.compile("[\u200f\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff\U00010800-\U00010fff\U0001e800-\U0001efff]")


def is_rtl(text: str, share: float = 0.5) -> bool:
    """Is most of the text in a right-to-left script (Arabic, Hebrew, ...)?"""
    if not _RTL_CHAR.search(text):
        return False  # the common case, decided without looking at every character
    strong = rtl = 0
    for ch in text:
        b = unicodedata.bidirectional(ch)
        if b in ("L", "R", "AL"):
            strong += 1
            if b != "L":
                rtl += 1
    return strong > 0 and rtl / strong > share
