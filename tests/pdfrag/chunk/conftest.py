"""Fixtures of the chunker tests: the real all-MiniLM-L6-v2 tokenizer (and,
for the semantic chunker, the real model, loaded once per session), English
and Chinese pages from corpus PDFs, and ``check``: the invariants every
chunking keeps."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pdfrag.chunk import DocumentText
from pdfrag.chunk.base import MAX_TEXT_BYTES, embedding_text
from pdfrag.config import EmbedSettings
from pdfrag.embed import Embedder, get_embedder, get_profile
from pdfrag.embed.tokens import ModelTokenizer
from pdfrag.extract.pymupdf import PyMuPDFExtractor
from pdfrag.types import Chunk, Page

DOC = "d" * 64
PIPE = "p" * 64


@pytest.fixture(scope="session")
def tok() -> ModelTokenizer:
    return ModelTokenizer(get_profile("all-MiniLM-L6-v2"))


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The packaged model, offline; loading takes seconds, so once a session."""
    e = get_embedder(EmbedSettings(device="cpu"))
    e.embed_documents(["warm up"])
    return e


@pytest.fixture(scope="session")
def static_embedder() -> Embedder:
    """The default splitting vectors: all-MiniLM-L6-v2's static token table
    (built once per machine into the models cache)."""
    from pdfrag.chunk import split_embed_settings
    from pdfrag.config import ChunkSettings

    e = get_embedder(split_embed_settings(ChunkSettings(), EmbedSettings(device="cpu")))
    assert e.backend == "static"
    e.embed_queries(["warm up"])
    return e


@pytest.fixture(scope="session")
def english_pages(pdfs: Path) -> list[Page]:
    path = pdfs / "prose" / "docling_multi_page.pdf"
    return PyMuPDFExtractor().extract(path.read_bytes(), source=str(path), doc_id=DOC).pages


@pytest.fixture(scope="session")
def chinese_pages(pdfs: Path) -> list[Page]:
    path = pdfs / "cjk" / "pdfplumber_issue-67-example.pdf"
    return PyMuPDFExtractor().extract(path.read_bytes(), source=str(path), doc_id=DOC).pages


def check_chunks(chunks: list[Chunk], pages: list[Page], tok: ModelTokenizer, size: int) -> DocumentText:
    """The invariants every chunking keeps: exact offsets, no chunk over the
    token budget (its embedding context included) or the byte limit, page
    ranges, every non-space character in some chunk, chunks in order."""
    doc = DocumentText.from_pages(pages)
    assert chunks, "no chunks for a non-empty document"
    covered = bytearray(len(doc.text))
    for i, c in enumerate(chunks):
        assert c.chunk_index == i
        assert c.doc_id == DOC
        assert doc.text[c.char_start : c.char_end] == c.text
        assert c.text and c.text == c.text.strip()
        n = tok.count(c.text)
        assert n == c.token_count
        assert n <= size, f"chunk {i} has {n} tokens > {size}"
        embedded = embedding_text(c.text, c.metadata)
        if "embed_span" in c.metadata:  # neighbouring text: within what the model takes
            a, b = c.metadata["embed_span"]
            assert a <= c.char_start and c.char_end <= b and embedded.endswith(doc.text[a:b])
            assert tok.count(embedded) <= tok.budget, f"chunk {i}: embedding text over the model's {tok.budget} tokens"
        else:
            assert embedded.endswith(c.text)
            assert tok.count(embedded) <= size, f"chunk {i}: context + text over {size} tokens"
        assert len(c.text.encode("utf-8")) <= MAX_TEXT_BYTES
        assert c.page_start == doc.page_at(c.char_start)
        assert c.page_end == doc.page_at(c.char_end - 1)
        assert c.page_start <= c.page_end
        covered[c.char_start : c.char_end] = b"\x01" * (c.char_end - c.char_start)
    missed = [i for i, ch in enumerate(doc.text) if not covered[i] and not ch.isspace()]
    assert not missed, f"{len(missed)} characters in no chunk, first at {missed[0]}: {doc.text[missed[0]-10:missed[0]+10]!r}"
    starts = [c.char_start for c in chunks]
    assert starts == sorted(starts)
    return doc


@pytest.fixture(scope="session")
def check() -> Callable[..., DocumentText]:
    return check_chunks


def chinese_sentences(n_chars: int = 3000) -> str:
    out, i = [], 0
    while sum(len(s) for s in out) < n_chars:
        out.append(f"东北电气发展股份有限公司第{i}季度报告正文说明变压器业务收入有所增长")
        out.append("。")
        i += 1
    return "".join(out)[:n_chars]


@pytest.fixture(scope="session")
def chinese_text() -> Callable[[int], str]:
    return chinese_sentences
