"""Tests for pdfrag.index.words: text as BM25 words for the ``standard``
analyzer, checked against Milvus Lite's own analyzers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from pdfrag.index import words
from pdfrag.index.milvus import analyzer_candidates
from pdfrag.index.words import bm25_words, clip_utf8

CORPUS = Path(__file__).resolve().parents[4] / "shared" / "corpus"


def _analyzer(name: str):
    from milvus_lite.analyzer.factory import create_analyzer

    return create_analyzer(dict(analyzer_candidates(name))[name])


def _lite_standard(text: str) -> list[str]:
    return _analyzer("standard").tokenize(text)


def test_latin_text_is_left_as_it_is_and_never_loads_jieba(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_jieba():
        raise AssertionError("jieba loaded for Latin text")

    monkeypatch.setattr(words, "_cut_for_search", no_jieba)
    text = "The BM25 score, per section (see Table 3): résumé, naïve café."
    assert bm25_words(text) == text
    assert bm25_words("") == ""


def test_numbers_with_a_decimal_point_or_thousands_comma_stay_one_word() -> None:
    toks = _lite_standard(bm25_words("Section 2.1 lists 1,000 rows at 3.14159 ms; items 1, 2 and 3."))
    assert {"2_1", "1_000", "3_14159"} <= set(toks)
    assert "14159" not in toks and "000" not in toks
    assert [t for t in toks if t in ("1", "2", "3")] == ["1", "2", "3"]  # "1, 2 and 3": a comma and a space are no join


def test_chinese_gets_the_words_of_milvus_lites_jieba_analyzer() -> None:
    text = "中华人民共和国的首都是北京。白细胞计数升高提示感染，应复查血常规。"
    assert Counter(_lite_standard(bm25_words(text))) == Counter(_analyzer("jieba").tokenize(text))
    assert "白细胞" in bm25_words(text).split()


def test_chinese_pages_of_the_corpus_get_the_same_words_as_lite_jieba() -> None:
    """Real Chinese pages: the token bags match Lite's jieba analyzer except
    where jieba keeps punctuation or Latin runs its own way."""
    pymupdf = pytest.importorskip("pymupdf")
    pdfs = sorted((CORPUS / "pdfs" / "cjk").glob("*.pdf"))
    if not pdfs:
        pytest.skip("no cjk fixtures")
    jieba_lite = _analyzer("jieba")
    checked = 0
    for pdf in pdfs:
        with pymupdf.open(pdf) as doc:
            text = doc[0].get_text()
        han = "".join(ch if "\u4e00" <= ch <= "\u9fff" else " " for ch in text)
        if len(han.split()) < 5:
            continue
        assert Counter(_lite_standard(bm25_words(han))) == Counter(jieba_lite.tokenize(han)), pdf.name
        checked += 1
    assert checked >= 1


def test_mixed_text_and_other_unspaced_scripts() -> None:
    toks = _lite_standard(bm25_words("GPU加速3.5倍，用PyTorch训练模型"))
    assert {"gpu", "加速", "3_5", "倍", "pytorch", "训练", "模型"} <= set(toks)
    # kana and Hangul: one word per character, as Lite's jieba analyzer cuts them
    assert _lite_standard(bm25_words("カタカナ")) == list("カタカナ")
    assert _lite_standard(bm25_words("한국어 텍스트")) == ["한", "국", "어", "텍", "스", "트"]


def test_clip_utf8_cuts_at_a_space_within_the_byte_limit() -> None:
    assert clip_utf8("abc def", 100) == "abc def"
    assert clip_utf8("中文 词语 测试", 10) == "中文"  # 13 bytes up to the second space
    clipped = clip_utf8("词" * 10, 10)  # no space: whole characters only
    assert clipped == "词" * 3 and len(clipped.encode()) <= 10


def test_preload_loads_jieba_once_in_the_background() -> None:
    thread = words.preload()
    assert words.preload() is thread  # once per process
    thread.join(timeout=60)
    assert not thread.is_alive() and words._jieba is not None and words._jieba.dt.initialized
