"""Does the text suit the embedding model? Counting letters by script.

all-MiniLM-L6-v2 (the default) learned English: Chinese reaches it as single
characters whose vectors it never learned to relate (nDCG@10 0.447 against
0.939 for multilingual-e5-small on our Chinese set). Nothing fails when such
text is ingested, so the mismatch would go unnoticed until the answers are
poor: an ingest counts the letters of the pages it extracted and warns when
many are in another script than the model reads.

Latin script is all a letter check can tell from English: French or German
text passes unnoticed, which is why a model's profile only declares English
(or nothing) and the warning names scripts, not languages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Letters are counted in three parts, each in C: Latin-1 letters by deleting
# every other byte of the Latin-1 encoding; the rest of Latin script (Latin
# Extended-A/B, IPA, Latin Extended Additional) by a scan; letters in other
# scripts by keeping only what lies outside Latin script, then only letters
# (a short string, unless the text is in another script). 3.6x as fast as one
# regular-expression pass for letters over all the text: 43 µs a page over the
# shared corpus's 646 pages (2,160 characters a page), 0.3 % of extracting one.
_LATIN1_NOT_LETTERS = bytes(c for c in range(256) if not chr(c).isalpha())
_LATIN_EXTENDED = re.compile(r"[\u0100-\u02af\u1e00-\u1eff]")
_LATIN = re.compile(r"[\u0000-\u02ff\u1e00-\u1eff]+")
_NOT_LETTER = re.compile(r"[\W\d_]+")

# A document counts as written in another script when at least this share
# of its letters is not Latin, over at least MIN_LETTERS letters (a few
# characters of a name or a stamp do not make a document Chinese).
SHARE = 0.5
MIN_LETTERS = 200
NAMED = 3  # files named in the warning


@dataclass(frozen=True)
class LetterCount:
    letters: int = 0
    non_latin: int = 0

    @property
    def non_latin_share(self) -> float:
        return self.non_latin / self.letters if self.letters else 0.0


def count_letters(text: str) -> LetterCount:
    """Letters of ``text``, and how many of them are not in Latin script
    (Han, kana, Hangul, Cyrillic, Greek, Arabic, …). Digits, punctuation,
    symbols and spaces are not letters."""
    latin1 = len(text.encode("latin-1", "ignore").translate(None, _LATIN1_NOT_LETTERS))
    extended = len(_LATIN_EXTENDED.findall(text))
    non_latin = len(_NOT_LETTER.sub("", _LATIN.sub("", text)))
    return LetterCount(latin1 + extended + non_latin, non_latin)


def other_script(count: LetterCount) -> bool:
    """Whether a document's text is mostly in another script than Latin."""
    return count.letters >= MIN_LETTERS and count.non_latin_share >= SHARE


def model_mismatch(documents: list[tuple[str, LetterCount]], model: str, english_only: bool) -> str | None:
    """A warning naming the documents (name, letters) that are mostly in
    another script when the model is English-only, else None."""
    if not english_only:
        return None
    others = [name for name, count in documents if other_script(count)]
    if not others:
        return None
    named = ", ".join(others[:NAMED]) + (f" and {len(others) - NAMED} more" if len(others) > NAMED else "")
    return (
        f"{len(others)} of {len(documents)} documents indexed by this run {'is' if len(others) == 1 else 'are'} mostly not in Latin script "
        f"(e.g. Chinese): {named}. "
        f"{model} is an English model and retrieves such text poorly; for Chinese or mixed corpora ingest with "
        "--model multilingual-e5-small (PDFRAG_MODEL) into a collection of its own (PDFRAG_MILVUS__COLLECTION), "
        "since a collection keeps the model it was built with"
    )


def reads_query(query: str, english_only: bool) -> bool:
    """Whether the model reads ``query``: an English-only model does not
    read a query whose letters are mostly in another script (no minimum
    length: a query is short)."""
    if not english_only:
        return True
    c = count_letters(query)
    return not c.letters or c.non_latin_share < SHARE


def query_mismatch(query: str, model: str, english_only: bool) -> str | None:
    """The same check as for documents, for one search query."""
    if reads_query(query, english_only):
        return None
    return (
        f"the query is mostly not in Latin script, and {model} is an English model: results may be poor; "
        "Chinese and mixed corpora are better served by a collection built with multilingual-e5-small (--model, PDFRAG_MODEL)"
    )
