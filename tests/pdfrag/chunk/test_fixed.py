"""FixedChunker: windows of tokens or characters with overlap."""

from __future__ import annotations

import pytest

from pdfrag.chunk import DocumentText, get_chunker
from pdfrag.chunk.fixed import FixedChunker
from pdfrag.config import ChunkSettings
from pdfrag.errors import ConfigError
from pdfrag.types import Page

DOC = "d" * 64
PIPE = "p" * 64


@pytest.mark.parametrize("lang", ["english", "chinese"])
@pytest.mark.parametrize(("size", "overlap"), [(200, 0), (64, 16)])
def test_invariants_on_corpus_pdfs(tok, check, english_pages, chinese_pages, lang, size, overlap) -> None:
    pages = english_pages if lang == "english" else chinese_pages
    ch = FixedChunker(tok, size=size, overlap=overlap)
    chunks = ch.chunk(DOC, pages, PIPE)
    check(chunks, pages, tok, size)
    assert chunks == FixedChunker(tok, size=size, overlap=overlap).chunk(DOC, pages, PIPE)  # same on every run
    # windows are full except the last (trimming a space can cost a token)
    assert all(c.token_count >= size - 2 for c in chunks[:-1])


def test_token_windows_overlap_by_exactly_overlap_tokens(tok, check) -> None:
    text = "".join(f"word{i} " for i in range(600))
    pages = [Page(1, text)]
    chunks = FixedChunker(tok, size=50, overlap=10).chunk(DOC, pages, PIPE)
    check(chunks, pages, tok, 50)
    idx = DocumentText.from_pages(pages)
    from pdfrag.chunk import TokenIndex

    ti = TokenIndex(idx.text, tok)
    for a, b in zip(chunks, chunks[1:]):
        assert b.char_start < a.char_end
        assert ti.count(b.char_start, a.char_end) == 10


def test_no_overlap_when_zero(tok, check) -> None:
    text = " ".join(f"Sentence number {i} is right here." for i in range(80))
    chunks = FixedChunker(tok, size=40, overlap=0).chunk(DOC, [Page(1, text)], PIPE)
    check(chunks, [Page(1, text)], tok, 40)
    for a, b in zip(chunks, chunks[1:]):
        assert b.char_start >= a.char_end


@pytest.mark.parametrize("lang", ["english", "chinese"])
def test_character_windows(tok, check, chinese_text, lang) -> None:
    text = " ".join(f"Sentence number {i} is right here." for i in range(200)) if lang == "english" else chinese_text(3000)
    pages = [Page(1, text)]
    chunks = FixedChunker(tok, size=200, overlap=50, unit="chars").chunk(DOC, pages, PIPE)
    check(chunks, pages, tok, tok.budget)
    assert all(len(c.text) <= 200 for c in chunks)
    assert len(chunks) >= (len(text) - 200) // 150
    for a, b in zip(chunks, chunks[1:]):
        assert 0 < a.char_end - b.char_start <= 50


def test_character_windows_still_obey_the_token_limit(tok, check, chinese_text) -> None:
    # 2,000 Chinese characters are 2,000 tokens: a character window that large
    # is split again to fit the model.
    text = chinese_text(6000)
    chunks = FixedChunker(tok, size=2000, overlap=0, unit="chars").chunk(DOC, [Page(1, text)], PIPE)
    check(chunks, [Page(1, text)], tok, tok.budget)
    assert len(chunks) >= 6000 // tok.budget


def test_settings_and_errors(tok) -> None:
    ch = get_chunker(ChunkSettings(chunker="fixed", size=100, overlap=20, min_size=0), tok)
    assert isinstance(ch, FixedChunker)
    assert ch.config()["chunker"] == "fixed" and ch.params() == {"size": 100, "overlap": 20, "unit": "tokens", "min_size": 0}
    with pytest.raises(ValueError, match="overlap"):
        FixedChunker(tok, size=20, overlap=20)
    with pytest.raises(ConfigError, match="exceeds"):
        FixedChunker(tok, size=tok.budget + 1)
    FixedChunker(tok, size=5000, unit="chars")  # characters: the token limit applies per chunk


def test_short_and_empty_documents(tok) -> None:
    ch = FixedChunker(tok, size=50, overlap=10)
    assert ch.chunk(DOC, [Page(1, "  \n ")], PIPE) == []
    chunks = ch.chunk(DOC, [Page(3, " Short text. ")], PIPE)
    assert [(c.text, c.char_start, c.page_start) for c in chunks] == [("Short text.", 1, 3)]
