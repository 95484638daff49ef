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


def clean_text(text: str) -> str:
    """NFC (not NFKC: that would turn full-width CJK punctuation into ASCII),
    controls stripped, horizontal whitespace collapsed, at most one blank line."""
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _TRAILING.sub("\n", text)
    text = _BLANKS.sub("\n\n", text)
    return text.strip()
