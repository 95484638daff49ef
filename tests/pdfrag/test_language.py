"""Letters by script, and the warning for text an English-only model cannot read."""

from __future__ import annotations

from pathlib import Path

import pymupdf
import pytest

from pdfrag.embed import get_profile
from pdfrag.language import MIN_LETTERS, LetterCount, count_letters, model_mismatch, other_script, query_mismatch, reads_query


def _text(pdf: Path) -> str:
    with pymupdf.open(pdf) as doc:
        return "\n".join(page.get_text() for page in doc)


def test_counts_letters_by_script() -> None:
    assert count_letters("") == LetterCount(0, 0)
    # Digits, punctuation and spaces are not letters; accented Latin is Latin.
    assert count_letters("Crème brûlée, Straße & Æsir: 42 % — 7!") == LetterCount(21, 0)
    assert count_letters("Milvus 向量数据库。") == LetterCount(11, 5)
    assert count_letters("Привет мир") == LetterCount(9, 9)  # Cyrillic is another script too
    assert count_letters("かな カナ 한국어") == LetterCount(7, 7)


@pytest.mark.parametrize(
    ("category", "name", "other"),
    [
        ("cjk", "pdfplumber_issue-67-example.pdf", True),  # a Chinese quarterly report
        ("cjk", "docling_normal_4pages_korean.pdf", True),
        ("prose", "docling_multi_page.pdf", False),
        ("two_column", "pdfminer_naacl06-shinyama.pdf", False),
    ],
)
def test_real_documents_by_script(pdfs: Path, category: str, name: str, other: bool) -> None:
    count = count_letters(_text(pdfs / category / name))
    assert count.letters >= MIN_LETTERS
    assert other_script(count) is other
    assert (count.non_latin_share > 0.9) if other else (count.non_latin_share < 0.01)


def test_warning_names_the_documents_for_an_english_only_model() -> None:
    minilm, e5 = get_profile("all-MiniLM-L6-v2"), get_profile("multilingual-e5-small")
    assert minilm.english_only and not e5.english_only
    docs = [("report.pdf", LetterCount(5000, 4900)), ("paper.pdf", LetterCount(20000, 10)), ("stamp.pdf", LetterCount(40, 40))]
    warning = model_mismatch(docs, minilm.name, minilm.english_only)
    assert warning is not None
    assert warning.startswith("1 of 3 documents indexed by this run is mostly not in Latin script")
    assert "report.pdf" in warning and "paper.pdf" not in warning
    assert "stamp.pdf" not in warning  # too few letters to say what script a document is in
    assert "--model multilingual-e5-small" in warning and "PDFRAG_MILVUS__COLLECTION" in warning
    # A multilingual model reads it; English documents need no warning.
    assert model_mismatch(docs, e5.name, e5.english_only) is None
    assert model_mismatch(docs[1:], minilm.name, True) is None
    # Many files: three named, the rest counted.
    many = [(f"zh-{i}.pdf", LetterCount(1000, 1000)) for i in range(5)]
    warning = model_mismatch(many, minilm.name, True)
    assert warning is not None and warning.startswith("5 of 5 documents indexed by this run are mostly")
    assert "zh-0.pdf, zh-1.pdf, zh-2.pdf and 2 more" in warning and "zh-3.pdf" not in warning


def test_query_note() -> None:
    assert query_mismatch("东北电气 2018年第一季度报告", "all-MiniLM-L6-v2", True) is not None
    assert query_mismatch("What is Milvus?", "all-MiniLM-L6-v2", True) is None
    assert query_mismatch("东北电气 2018年第一季度报告", "multilingual-e5-small", False) is None
    assert query_mismatch("2018", "all-MiniLM-L6-v2", True) is None  # no letters at all


def test_reads_query() -> None:
    assert not reads_query("大熊猫一天要吃多少公斤竹子？", english_only=True)
    assert not reads_query("Milvus 的索引怎么建立", english_only=True)  # mixed, mostly Chinese letters
    assert reads_query("How is the Milvus index built?", english_only=True)
    assert reads_query("What does 白细胞 mean in this report?", english_only=True)  # mostly Latin letters
    assert reads_query("2018", english_only=True)  # no letters
    assert reads_query("大熊猫一天要吃多少公斤竹子？", english_only=False)  # a multilingual model reads it
