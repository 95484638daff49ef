"""Tests for pdfrag.chunk (RecursiveChunker and the Chunker base) with the real
all-MiniLM-L6-v2 tokenizer, on English and Chinese text from the corpus and on
synthetic text."""

from __future__ import annotations

import base64
import random

import pytest

from pdfrag.chunk import DocumentText, TokenIndex, get_chunker
from pdfrag.chunk.base import MAX_TEXT_BYTES, PAGE_JOIN
from pdfrag.chunk.recursive import RecursiveChunker
from pdfrag.config import ChunkSettings
from pdfrag.embed.tokens import ModelTokenizer
from pdfrag.errors import ConfigError
from pdfrag.identity import chunk_id
from pdfrag.types import Page

DOC = "d" * 64
PIPE = "p" * 64


# Document text and token index -------------------------------------------------


def test_document_text_from_pages() -> None:
    pages = [Page(1, "first"), Page(2, ""), Page(3, "third"), Page(4, "fourth")]
    doc = DocumentText.from_pages(pages)
    assert doc.text == "first" + PAGE_JOIN + "third" + PAGE_JOIN + "fourth"
    assert doc.page_numbers == [1, 3, 4]
    assert doc.page_starts == [0, 7, 14]
    assert doc.page_at(0) == 1 and doc.page_at(4) == 1 and doc.page_at(5) == 1
    assert doc.page_at(7) == 3 and doc.page_at(14) == 4 and doc.page_at(10_000) == 4
    assert DocumentText.from_pages([]).page_at(0) == 1


def test_token_index_counts_spans(tok: ModelTokenizer) -> None:
    text = "Hello world, this is a test. 东北电气"
    idx = TokenIndex(text, tok)
    assert idx.count(0, len(text)) == tok.count(text)
    assert idx.count(0, 5) == tok.count("Hello")
    assert idx.count(5, 5) == 0
    cuts = idx.boundaries(0, len(text))
    assert cuts == sorted(cuts) and all(0 < c < len(text) for c in cuts)


# Invariants on real and synthetic text -----------------------------------------


def test_english_corpus_pdf(tok: ModelTokenizer, english_pages: list[Page], check) -> None:
    ch = RecursiveChunker(tok, size=200, overlap=32)
    chunks = ch.chunk(DOC, english_pages, PIPE)
    check(chunks, english_pages, tok, 200)
    assert len(chunks) > 5
    assert set().union(*(range(c.page_start, c.page_end + 1) for c in chunks)) == {1, 2, 3, 4, 5}
    small = RecursiveChunker(tok, size=64, overlap=8).chunk(DOC, english_pages, PIPE)
    check(small, english_pages, tok, 64)
    assert len(small) > len(chunks)


def test_english_synthetic(tok: ModelTokenizer, check) -> None:
    rng = random.Random(7)
    words = ["the", "of", "data", "model", "index", "chunk", "retrieval", "embedding", "vector", "search", "page", "document", "token"]
    paras = []
    for _ in range(12):
        sents = [" ".join(rng.choice(words) for _ in range(rng.randint(4, 30))).capitalize() + "." for _ in range(rng.randint(1, 8))]
        paras.append(" ".join(sents))
    pages = [Page(1, "\n\n".join(paras[:6])), Page(2, "\n".join(paras[6:]))]
    chunks = RecursiveChunker(tok, size=50, overlap=10).chunk(DOC, pages, PIPE)
    check(chunks, pages, tok, 50)


def test_chinese_corpus_pdf(tok: ModelTokenizer, chinese_pages: list[Page], check) -> None:
    chunks = RecursiveChunker(tok, size=200, overlap=32).chunk(DOC, chinese_pages, PIPE)
    check(chunks, chinese_pages, tok, 200)
    assert any("东北电气发展股份有限公司" in c.text for c in chunks)
    assert max(c.page_end for c in chunks) == 22


def test_chinese_long_paragraph_without_spaces_or_newlines(tok: ModelTokenizer, check, chinese_text) -> None:
    text = chinese_text(3000)
    assert " " not in text and "\n" not in text and len(text) == 3000
    pages = [Page(1, text)]
    chunks = RecursiveChunker(tok, size=128, overlap=16).chunk(DOC, pages, PIPE)
    check(chunks, pages, tok, 128)
    assert len(chunks) >= 3000 // 128
    # cut at sentence ends: every chunk but the last ends with 。
    assert all(c.text.endswith("。") for c in chunks[:-1])


def test_chinese_without_any_punctuation(tok: ModelTokenizer, check) -> None:
    text = "东北电气发展股份有限公司变压器业务收入增长" * 150
    pages = [Page(1, text)]
    chunks = RecursiveChunker(tok, size=100, overlap=10).chunk(DOC, pages, PIPE)
    check(chunks, pages, tok, 100)
    assert len(chunks) >= len(text) // 100
    assert max(c.token_count for c in chunks) > 50  # packed, not one character a chunk


def test_same_output_on_two_runs(tok: ModelTokenizer, english_pages: list[Page], chinese_pages: list[Page]) -> None:
    for pages in (english_pages, chinese_pages):
        a = RecursiveChunker(tok, size=120, overlap=20).chunk(DOC, pages, PIPE)
        b = RecursiveChunker(tok, size=120, overlap=20).chunk(DOC, pages, PIPE)
        assert a == b


def test_overlap_between_neighbours(tok: ModelTokenizer, check) -> None:
    text = " ".join(f"Sentence number {i} is right here." for i in range(80))
    pages = [Page(1, text)]
    chunks = RecursiveChunker(tok, size=40, overlap=12).chunk(DOC, pages, PIPE)
    check(chunks, pages, tok, 40)
    assert len(chunks) > 5
    for a, b in zip(chunks, chunks[1:]):
        assert b.char_start < a.char_end, "neighbours should overlap"
        assert b.char_end > a.char_end, "each chunk must move forward"
        shared = text[b.char_start : a.char_end]
        assert 0 < tok.count(shared) <= 12


def test_no_overlap_when_zero(tok: ModelTokenizer, check) -> None:
    text = " ".join(f"Sentence number {i} is right here." for i in range(80))
    pages = [Page(1, text)]
    chunks = RecursiveChunker(tok, size=40, overlap=0).chunk(DOC, pages, PIPE)
    check(chunks, pages, tok, 40)
    for a, b in zip(chunks, chunks[1:]):
        assert b.char_start >= a.char_end


def test_every_chunk_adds_new_text(tok: ModelTokenizer, check) -> None:
    sentence = "The quick brown fox jumps over the lazy dog near the river bank today. "  # 15 tokens
    text = sentence * 2 + "Tiny bit. " + "Word " * 48  # 3 + 48 tokens: the last piece fills a chunk alone
    chunks = RecursiveChunker(tok, size=50, overlap=10).chunk(DOC, [Page(1, text)], PIPE)
    check(chunks, [Page(1, text)], tok, 50)
    for a, b in zip(chunks, chunks[1:]):
        assert b.char_end > a.char_end, f"chunk {b.chunk_index} {b.text!r} lies inside chunk {a.chunk_index}"


def test_page_ranges_across_two_pages(tok: ModelTokenizer, check) -> None:
    p1 = " ".join(f"Alpha page sentence {i}." for i in range(30))
    p3 = " ".join(f"Omega page sentence {i}." for i in range(30))
    pages = [Page(1, p1), Page(2, ""), Page(3, p3)]  # an empty page in between
    chunks = RecursiveChunker(tok, size=30, overlap=6, separators=[". ", " ", ""]).chunk(DOC, pages, PIPE)
    doc = check(chunks, pages, tok, 30)
    boundary = doc.page_starts[1]
    assert doc.text[boundary:].startswith("Omega")
    for c in chunks:
        assert c.page_start == (1 if c.char_start < boundary else 3)
        assert c.page_end == (1 if c.char_end <= boundary else 3)
        if "Alpha" in c.text:
            assert c.page_start == 1
        if "Omega" in c.text:
            assert c.page_end == 3
        assert c.page_start != 2 and c.page_end != 2
    assert any(c.page_start == 1 and c.page_end == 3 for c in chunks), "some chunk should span the page break"
    assert chunks[0].page_start == 1 and chunks[-1].page_end == 3


def test_empty_document_gives_no_chunks(tok: ModelTokenizer) -> None:
    ch = RecursiveChunker(tok)
    assert ch.chunk(DOC, [], PIPE) == []
    assert ch.chunk(DOC, [Page(1, ""), Page(2, "")], PIPE) == []
    assert ch.chunk(DOC, [Page(1, "   \n\n  ")], PIPE) == []


def test_short_document_is_one_chunk(tok: ModelTokenizer) -> None:
    chunks = RecursiveChunker(tok).chunk(DOC, [Page(4, "  Just one short line.  ")], PIPE)
    assert len(chunks) == 1
    c = chunks[0]
    assert c.text == "Just one short line."
    assert (c.char_start, c.char_end) == (2, 22)
    assert c.page_start == c.page_end == 4


# Configuration -------------------------------------------------------------------


def test_size_above_budget_is_config_error(tok: ModelTokenizer) -> None:
    assert tok.budget == 256 - 2  # [CLS] and [SEP]
    RecursiveChunker(tok, size=tok.budget, overlap=0)  # the largest allowed
    with pytest.raises(ConfigError, match="exceeds") as ei:
        RecursiveChunker(tok, size=tok.budget + 1, overlap=0)
    assert ei.value.stage == "chunk"
    assert str(tok.budget) in (ei.value.hint or "")
    with pytest.raises(ConfigError):
        get_chunker(ChunkSettings(chunker="recursive", size=300, overlap=32), tok)


def test_overlap_must_be_below_size(tok: ModelTokenizer) -> None:
    with pytest.raises(ValueError, match="overlap"):
        RecursiveChunker(tok, size=20, overlap=20)
    with pytest.raises(ValueError, match="overlap"):
        RecursiveChunker(tok, size=20, overlap=-1)


def test_get_chunker_from_settings(tok: ModelTokenizer) -> None:
    ch = get_chunker(ChunkSettings(chunker="recursive", size=100, overlap=10, min_size=4, separators=["\n", ""]), tok)
    assert isinstance(ch, RecursiveChunker)
    assert ch.params() == {"size": 100, "overlap": 10, "separators": ["\n", ""], "min_size": 4}
    # the empty separator is always last
    assert RecursiveChunker(tok, separators=["\n"]).separators == ["\n", ""]
    cfg = ch.config()
    assert cfg["chunker"] == "recursive" and cfg["model"] == "all-MiniLM-L6-v2" and cfg["max_bytes"] == MAX_TEXT_BYTES


# Ids ----------------------------------------------------------------------------


def test_chunk_ids_deterministic_and_pipeline_dependent(tok: ModelTokenizer, english_pages: list[Page]) -> None:
    ch = RecursiveChunker(tok, size=200, overlap=32)
    ph = ch.pipeline_hash({"extract": "x"})
    assert ph == RecursiveChunker(tok, size=200, overlap=32).pipeline_hash({"extract": "x"})
    a = ch.chunk(DOC, english_pages, ph)
    b = ch.chunk(DOC, english_pages, ph)
    assert [c.chunk_id for c in a] == [c.chunk_id for c in b]
    assert [c.chunk_id for c in a] == [chunk_id(DOC, ph, i) for i in range(len(a))]
    assert len({c.chunk_id for c in a}) == len(a)
    other_ph = RecursiveChunker(tok, size=199, overlap=32).pipeline_hash({"extract": "x"})
    assert other_ph != ph
    assert ch.pipeline_hash({"extract": "y"}) != ph
    assert RecursiveChunker(tok, size=200, overlap=32, separators=["\n", ""]).pipeline_hash({"extract": "x"}) != ph
    c = ch.chunk(DOC, english_pages, other_ph)
    assert [x.text for x in c] == [x.text for x in a]
    assert not {x.chunk_id for x in c} & {x.chunk_id for x in a}
    # another document, other ids
    d = ch.chunk("e" * 64, english_pages, ph)
    assert not {x.chunk_id for x in d} & {x.chunk_id for x in a}


# Hard limits ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["aaaa", "base64", "huge_aaaa"])
def test_single_enormous_word(tok: ModelTokenizer, kind: str, check) -> None:
    if kind == "aaaa":
        word = "a" * 5000
    elif kind == "huge_aaaa":
        word = "a" * 70_000  # one [UNK] token, but more bytes than the text field holds
    else:
        word = base64.b64encode(random.Random(3).randbytes(6000)).decode()
    pages = [Page(1, "Intro sentence. " + word + " Outro sentence.")]
    chunks = RecursiveChunker(tok, size=64, overlap=8).chunk(DOC, pages, PIPE)
    check(chunks, pages, tok, 64)
    assert all(len(c.text.encode("utf-8")) <= MAX_TEXT_BYTES for c in chunks)
    if kind == "huge_aaaa":
        assert len(chunks) >= 2


def test_byte_limit_enforced(tok: ModelTokenizer, check, chinese_text) -> None:
    class Tiny(RecursiveChunker):
        def __init__(self, *a, **kw) -> None:
            super().__init__(*a, **kw)
            self.max_bytes = 300

    text = chinese_text(1000)  # 3 UTF-8 bytes a character
    chunks = Tiny(tok, size=200, overlap=0).chunk(DOC, [Page(1, text)], PIPE)
    check(chunks, [Page(1, text)], tok, 200)
    assert all(len(c.text.encode("utf-8")) <= 300 for c in chunks)


def test_random_mixed_text_keeps_invariants(tok: ModelTokenizer, check) -> None:
    rng = random.Random(11)
    alphabet = list("abc xyz。，！？；\n. 中文字符Ωé-_/") + ["\n\n", ". ", "word ", "longwordwithoutspaces" * 5, "\u200b", "😀"]
    for _ in range(25):
        pages = [Page(i + 1, "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 800))).strip()) for i in range(rng.randint(1, 3))]
        if not "".join(p.text for p in pages).strip():
            continue
        size = rng.choice([8, 16, 50, 200])
        overlap = rng.randint(0, size - 1)
        chunks = RecursiveChunker(tok, size=size, overlap=overlap, min_size=rng.choice([0, 4, 16])).chunk(DOC, pages, PIPE)
        check(chunks, pages, tok, size)


# Overlap that does not vanish, and character sizes ----------------------------------


def test_overlap_kept_when_pieces_are_longer_than_the_overlap(tok: ModelTokenizer, check) -> None:
    # Sentences of about 25 tokens and 10 tokens of overlap: no whole sentence
    # fits in the overlap (where splitters that overlap whole pieces give none),
    # so the next chunk starts at a word inside the last sentence.
    text = " ".join(
        f"In quarter {i} the company sold transformers, switchgear and cables to utilities in twelve countries." for i in range(40)
    )
    pages = [Page(1, text)]
    chunks = RecursiveChunker(tok, size=60, overlap=10).chunk(DOC, pages, PIPE)
    check(chunks, pages, tok, 60)
    assert len(chunks) > 10
    for a, b in zip(chunks, chunks[1:]):
        shared = text[b.char_start : a.char_end]
        assert b.char_start < a.char_end, "neighbours should overlap"
        assert 5 <= tok.count(shared) <= 10, shared
        assert text[b.char_start - 1] == " ", "the overlap starts at a word"


def test_overlap_prefers_sentence_starts(tok: ModelTokenizer, check) -> None:
    text = " ".join(f"Item {i} ships today." for i in range(200))  # 6 tokens a sentence
    pages = [Page(1, text)]
    chunks = RecursiveChunker(tok, size=50, overlap=12).chunk(DOC, pages, PIPE)
    check(chunks, pages, tok, 50)
    for a, b in zip(chunks, chunks[1:]):
        assert b.text.startswith("Item "), b.text[:20]
        assert 6 <= tok.count(text[b.char_start : a.char_end]) <= 12


@pytest.mark.parametrize("lang", ["english", "chinese"])
def test_sizes_in_characters(tok: ModelTokenizer, lang: str, english_pages: list[Page], chinese_pages: list[Page], check) -> None:
    pages = english_pages if lang == "english" else chinese_pages
    ch = RecursiveChunker(tok, size=400, overlap=80, min_size=50, unit="chars")
    chunks = ch.chunk(DOC, pages, PIPE)
    check(chunks, pages, tok, tok.budget)
    assert all(len(c.text) <= 400 for c in chunks)
    overlapping = sum(b.char_start < a.char_end for a, b in zip(chunks, chunks[1:]))
    assert overlapping >= len(chunks) // 2
    assert ch.config()["unit"] == "chars" and ch.max_tokens == tok.budget
    assert chunks == RecursiveChunker(tok, size=400, overlap=80, min_size=50, unit="chars").chunk(DOC, pages, PIPE)
