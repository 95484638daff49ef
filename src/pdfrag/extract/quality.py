"""Is a page's text layer usable, or should the page be read by OCR?

A text layer is judged on what it decodes to, script by script, never on
what a particular file looks like:

- **broken glyph mapping**: fonts whose ToUnicode map is wrong decode to
  letters that are not words (``Oqnbddchmfr`` for ``Proceedings``), to
  ``(cid:12)`` codes, to private-use code points or to U+FFFD. For Latin
  text, words need vowels: real text in the languages written with Latin
  letters has 30–50 % vowels among its letters (``y`` counted), a shifted or
  scrambled mapping far fewer; and a page with plenty of letters but almost
  no words of two or more letters that contain a vowel is not prose.
- **spaced letters**: words split into one-letter fragments (``b r a z i l``),
  measured as the share of Latin letters that stand in runs of four or more
  one-letter words (formulas and part numbers have single letters too, but
  not in such runs): over a quarter of the page's letters, or a block of 25
  letters or more that is mostly spaced (short letter-spaced headings such
  as ``S U M M A R Y`` are typography and pass; the extractor passes only
  the blocks of the body, so letter-spaced running headers pass too).
- **invisible text only**: all text is drawn in render mode 3 (an OCR layer
  made by some other tool, or hidden text); read the page ourselves.
- **scan with a sparse layer**: a page covered by an image with only a few
  characters of text (a stamp, a date) is a scan.

CJK, Cyrillic, Greek, Arabic and other scripts are not judged by the Latin
rules; they are judged only by the code-point rules (cid codes, private use,
replacement characters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CID = re.compile(r"\(cid:\d+\)")
# four or more one-letter words in a row, separated by single spaces: "b r a z"
_SPACED = re.compile(r"(?<!\S)(?:[^\W\d_] ){3,}[^\W\d_](?!\S)")
_NOT_LATIN = re.compile(r"[^A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f]+")  # counting by deleting the rest: one pass, no list
_NOT_LETTER = re.compile(r"[\W\d_]+")
_BAD = re.compile(r"[\ufffd\ue000-\uf8ff\ud800-\udfff]")
_VOWELS = set("aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿœāēīōūăĕĭŏŭąęįųạẹịọụ")


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""
    keep_layer: bool = False  # without OCR, the text layer is still worth keeping


@dataclass(frozen=True)
class QualityConfig:
    min_letters: int = 40  # below this, too little text to judge
    min_vowel_ratio: float = 0.2
    max_spaced_letters: float = 0.25  # share of letters standing alone in runs like 'b r a z'
    max_bad_codepoints: float = 0.1
    sparse_text_chars: int = 60
    image_cover: float = 0.5


_NO_VOWELS = str.maketrans("", "", "".join(sorted(_VOWELS)))


def judge_text(text: str, config: QualityConfig | None = None) -> Verdict:
    """Is this decoded text plausible? (Layer-level checks are in ``judge_page``.)"""
    cfg = config or QualityConfig()
    stripped = "".join(text.split())
    if not stripped:
        return Verdict(True)
    cids = len(_CID.findall(text)) if "(cid:" in text else 0
    bad = len(_BAD.findall(stripped)) if _BAD.search(stripped) else 0
    if (bad + cids * 6) / len(stripped) > cfg.max_bad_codepoints:
        return Verdict(False, "text layer decodes to unmapped glyphs (cid codes, private-use or replacement characters)")
    latin = _NOT_LATIN.sub("", stripped).lower()
    if len(latin) < cfg.min_letters or len(latin) < 0.5 * len(_NOT_LETTER.sub("", stripped)):
        return Verdict(True)  # little Latin text: the Latin rules do not apply
    vowels = len(latin) - len(latin.translate(_NO_VOWELS))
    if vowels / len(latin) < cfg.min_vowel_ratio:
        return Verdict(False, f"text layer decodes to non-words (only {vowels / len(latin):.0%} vowels among Latin letters): broken font encoding")
    spaced = sum((len(m.group()) + 1) // 2 for m in _SPACED.finditer(text))
    if spaced / len(latin) > cfg.max_spaced_letters:
        return Verdict(False, f"text layer splits words into spaced letters ({spaced / len(latin):.0%} of letters)")
    return Verdict(True)


def spaced_block(text: str, min_letters: int = 25, share: float = 0.6) -> bool:
    """A block that is mostly letters standing alone ("b r a z i l i a n
    j o u r n a l"). Short letter-spaced headings ("S U M M A R Y") are
    typography, not a broken layer, hence the minimum."""
    letters = len(_NOT_LATIN.sub("", text))
    if letters < min_letters:
        return False
    spaced = sum((len(m.group()) + 1) // 2 for m in _SPACED.finditer(text))
    return spaced >= share * letters


def judge_page(
    visible_text: str,
    invisible_chars: int,
    image_cover: float,
    config: QualityConfig | None = None,
    blocks: list[str] | None = None,
) -> Verdict:
    """``image_cover``: share of the page area covered by images (0–1);
    ``blocks``: the page's text blocks, to find a block of spaced letters."""
    cfg = config or QualityConfig()
    visible = len("".join(visible_text.split()))
    if visible == 0 and invisible_chars > 0:
        return Verdict(False, "only invisible text on this page (a hidden OCR layer): read the page by OCR")
    if visible == 0:
        if image_cover > 0.05:
            return Verdict(False, "no text layer (scanned or image-only page)")
        return Verdict(True)
    if visible < cfg.sparse_text_chars and image_cover >= cfg.image_cover:
        return Verdict(False, f"only {visible} characters of text over a page-sized image: a scan", keep_layer=True)
    verdict = judge_text(visible_text, cfg)
    if verdict.ok and blocks:
        for b in blocks:
            if spaced_block(b):
                # The rest of the page reads well: without OCR, keep the layer.
                return Verdict(False, f"text layer splits words into spaced letters ({' '.join(b.split()[:8])} ...)", keep_layer=True)
    return verdict
