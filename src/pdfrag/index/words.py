"""Text as BM25 words, for an analyzer that splits on non-word characters.

Milvus Lite runs its analyzers in this process, in Python. Its ``jieba``
analyzer sends all text through jieba, Latin text too, character by character
(jieba's blocks count Latin letters and digits as Han): about 3.6 ms for a
900-character English chunk, most of the index stage. Its ``standard``
analyzer (``\\w+``, lowercased) takes 0.7 ms but keeps a whole Chinese
sentence as one word.

``bm25_words`` gives the ``standard`` analyzer text it can split: runs of the
scripts written without spaces between words (Han, kana, Hangul, Thai, Lao,
Khmer, Myanmar) are cut by jieba's search mode, as Milvus Lite's ``jieba``
analyzer would cut them, and written back with spaces; all other text stays
as it is. Digits joined by a decimal point or a thousands comma are kept
together (``2.1``, ``1,000``: one word each, as Unicode's word boundaries keep
them). The same function runs over documents and queries, so both sides see
the same words. English text costs a regular expression; jieba is loaded only
when a document or query has text in one of those scripts.
"""

from __future__ import annotations

import logging
import re
import threading

# The scripts jieba either segments (Han) or cuts into single characters
# (the others), as Milvus Lite's jieba analyzer does over whole texts.
_UNSPACED = re.compile(
    "["
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1100-\u11ff"  # Hangul Jamo
    "\u1780-\u17ff"  # Khmer
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3130-\u318f"  # Hangul compatibility Jamo
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uac00-\ud7af"  # Hangul syllables
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\U00020000-\U0003134f"  # CJK extensions B-G
    "]+"
)
# 2.1, 3.14159, 1,000: a separator between digits joins them ("_" is a word
# character to ``\w+``, so the number stays one word).
_NUMBER_JOIN = re.compile(r"(?<=\d)[.,](?=\d)")

_lock = threading.Lock()
_jieba = None
_preloading: threading.Thread | None = None


def _cut_for_search():
    global _jieba
    with _lock:
        if _jieba is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)  # "Building prefix dict..." on first use
            _jieba = jieba
    return _jieba.cut_for_search


def _load_dictionary() -> None:
    _cut_for_search()
    _jieba.initialize()


def preload() -> threading.Thread:
    """Load jieba's dictionary in a background thread, once per process
    (about 1.3 s, which the first Chinese text would otherwise wait for: the
    query service starts it with the collection). Returns the thread."""
    global _preloading
    with _lock:
        if _preloading is None:
            _preloading = threading.Thread(target=_load_dictionary, name="pdfrag-jieba-load", daemon=True)
            _preloading.start()
        return _preloading


def bm25_words(text: str) -> str:
    """``text`` with its unspaced-script runs cut into space-separated words
    and decimal numbers joined (see the module doc)."""
    text = _NUMBER_JOIN.sub("_", text)
    if _UNSPACED.search(text) is None:
        return text
    cut = _cut_for_search()
    return _UNSPACED.sub(lambda m: " " + " ".join(cut(m.group())) + " ", text)


def clip_utf8(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, at the last space
    before the limit when there is one (a word is not cut in two)."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    head = data[:limit].decode("utf-8", errors="ignore")
    space = head.rfind(" ")
    return head[:space] if space > 0 else head
