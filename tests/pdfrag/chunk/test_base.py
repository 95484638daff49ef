"""The shared machinery: blocks placed in the document text (from the
extractor or read from Markdown), heading paths, the minimum-size merge,
embedding text, and the chunker registry."""

from __future__ import annotations

import pytest

from pdfrag.chunk import CHUNKERS, DocumentText, get_chunker, split_embed_settings
from pdfrag.chunk.base import PAGE_JOIN, embedding_text, merge_meta
from pdfrag.chunk.markdown import heading_of, text_blocks
from pdfrag.chunk.recursive import RecursiveChunker
from pdfrag.config import ChunkSettings, EmbedSettings
from pdfrag.types import Block, Page

DOC = "d" * 64
PIPE = "p" * 64


def test_heading_lines() -> None:
    assert heading_of("# Title") == (1, "Title")
    assert heading_of("### Deep section ###") == (3, "Deep section")
    assert heading_of(" = Valkyria Chronicles III = ") == (1, "Valkyria Chronicles III")
    assert heading_of(" = = Gameplay = = ") == (2, "Gameplay")
    assert heading_of("#hashtag") is None
    assert heading_of("a = b = c") is None
    assert heading_of(" = = unbalanced = ") is None
    assert heading_of("    ") is None


def test_text_blocks_from_markdown() -> None:
    text = "# A\n\npara one\nstill one\n\n## B\n| x | y |\n|---|---|\n| 1 | 2 |\n\n| lone pipe line\n\n```\n# code\n```\n# C"
    blocks, path, levels = text_blocks(text)
    got = [(b.kind, text[b.start : b.end], b.heading_path, b.level) for b in blocks]
    assert got == [
        ("heading", "# A", ("A",), 1),
        ("text", "para one\nstill one", ("A",), 0),
        ("heading", "## B", ("A", "B"), 2),
        ("table", "| x | y |\n|---|---|\n| 1 | 2 |", ("A", "B"), 0),
        ("text", "| lone pipe line", ("A", "B"), 0),
        ("text", "```\n# code\n```", ("A", "B"), 0),
        ("heading", "# C", ("C",), 1),
    ]
    assert path == ("C",) and levels == (1,)


def test_headings_carry_over_pages_and_blocks_are_placed() -> None:
    p1 = Page(1, "# Report\n\nIntro.")
    p2 = Page(2, "")
    p3 = Page(3, "More text under the report heading.\n\n## Details\n\nFine print.")
    doc = DocumentText.from_pages([p1, p2, p3])
    assert doc.text == p1.text + PAGE_JOIN + p3.text
    more = doc.text.index("More text")
    assert doc.heading_path_at(more) == ("Report",)
    assert doc.heading_path_at(doc.text.index("Fine print")) == ("Report", "Details")
    assert doc.heading_path_at(0) == ("Report",)
    assert [b.page for b in doc.blocks] == [1, 1, 3, 3, 3]
    for b in doc.blocks:
        assert doc.text[b.start : b.end].strip() == doc.text[b.start : b.end]


def test_extractor_blocks_win_over_markdown() -> None:
    text = "# Looks like a heading\n\nBody."
    pages = [Page(1, text, blocks=(Block(0, len(text), "text", ("Real heading",)),))]
    doc = DocumentText.from_pages(pages)
    assert [(b.kind, b.heading_path) for b in doc.blocks] == [("text", ("Real heading",))]
    assert doc.heading_path_at(5) == ("Real heading",)


def test_every_chunker_sets_heading_paths(tok, embedder_free_settings) -> None:
    text = "# Alpha\n\n" + "Alpha words go here. " * 30 + "\n\n# Beta\n\n" + "Beta words go here. " * 30
    pages = [Page(1, text)]
    for name in ("fixed", "recursive", "structure"):
        chunks = get_chunker(embedder_free_settings(name), tok).chunk(DOC, pages, PIPE)
        assert chunks[0].heading_path == ("Alpha",)
        assert chunks[-1].heading_path == ("Beta",)


@pytest.fixture()
def embedder_free_settings():
    return lambda name: ChunkSettings(chunker=name, size=64, overlap=8, min_size=4, section_split="recursive")


def test_small_pieces_merge_into_a_neighbour(tok, check) -> None:
    # one long paragraph, then a tiny one: the tiny one joins the chunk before
    text = "The quick brown fox jumps over the lazy dog. " * 8 + "\n\nEnd."
    pages = [Page(1, text)]
    merged = RecursiveChunker(tok, size=120, overlap=0, min_size=16).chunk(DOC, pages, PIPE)
    check(merged, pages, tok, 120)
    assert len(merged) == 1
    # the size still wins over the minimum
    kept = RecursiveChunker(tok, size=81, overlap=0, min_size=16).chunk(DOC, pages, PIPE)
    check(kept, pages, tok, 81)
    assert kept[-1].text == "End."


def test_embedding_text_and_metadata_merge() -> None:
    assert embedding_text("span", {"embed_text": "ctx\nspan"}) == "ctx\nspan"
    assert embedding_text("span", '{"embed_text": "ctx\\nspan"}') == "ctx\nspan"
    assert embedding_text("span", None) == embedding_text("span", "") == embedding_text("span", {}) == "span"
    assert merge_meta({"tables": [0], "a": 1}, {"tables": [0, 2], "a": 2}) == {"tables": [0, 2], "a": 2}


def test_registry_names_and_configs_differ(tok) -> None:
    assert CHUNKERS == ("fixed", "recursive", "semantic", "structure")
    hashes = {get_chunker(ChunkSettings(chunker=n, section_split="recursive"), tok).pipeline_hash({}) for n in ("fixed", "recursive", "structure")}
    assert len(hashes) == 3
    with pytest.raises(ValueError):
        ChunkSettings(chunker="nope")  # type: ignore[arg-type]
    a = get_chunker(ChunkSettings(chunker="recursive", unit="chars", size=800, overlap=100), tok)
    assert a.config()["unit"] == "chars" and a.max_tokens == tok.budget


# Neighbouring text as embedding context ---------------------------------------------


@pytest.mark.parametrize("lang", ["english", "chinese"])
@pytest.mark.parametrize("name", ["fixed", "recursive", "structure"])
def test_context_embeds_the_neighbourhood_within_the_model_input(tok, check, english_pages, chinese_pages, lang, name) -> None:
    pages = english_pages if lang == "english" else chinese_pages
    ch = get_chunker(ChunkSettings(chunker=name, size=100, overlap=0, context=120, section_split="recursive"), tok)
    plain = get_chunker(ChunkSettings(chunker=name, size=100, overlap=0, section_split="recursive"), tok).chunk(DOC, pages, PIPE)
    chunks = ch.chunk(DOC, pages, PIPE)
    check(chunks, pages, tok, 100)
    assert [(c.char_start, c.char_end) for c in chunks] == [(c.char_start, c.char_end) for c in plain], "context changes vectors, not spans"
    text = DocumentText.from_pages(pages).text
    widened = 0
    for c in chunks:
        a, b = c.metadata["embed_span"]
        before, after = tok.count(text[a : c.char_start]), tok.count(text[c.char_end : b])
        assert before + after <= 120 + 2
        widened += before > 0 and after > 0
        for cut in (a, b):  # cuts between words (or CJK characters)
            assert cut in (0, len(text)) or text[cut - 1].isspace() or text[cut].isspace() or text[cut - 1] >= "\u2e80" or text[cut] >= "\u2e80"
    assert widened >= len(chunks) - 2
    assert ch.config()["context"] == 120 and ch.pipeline_hash({}) != get_chunker(ChunkSettings(chunker=name, size=100, overlap=0, section_split="recursive"), tok).pipeline_hash({})


def test_context_gives_the_other_side_what_one_side_lacks(tok) -> None:
    text = " ".join(f"Sentence number {i} is right here." for i in range(60))
    chunks = RecursiveChunker(tok, size=40, overlap=0, context=60).chunk(DOC, [Page(1, text)], PIPE)
    first, last = chunks[0], chunks[-1]
    assert first.metadata["embed_span"][0] == 0 and tok.count(text[first.char_end : first.metadata["embed_span"][1]]) >= 50
    assert last.metadata["embed_span"][1] == len(text) and tok.count(text[last.metadata["embed_span"][0] : last.char_start]) >= 50


def test_context_after_the_heading_prefix(tok, check) -> None:
    text = "# Report\n\n" + " ".join(f"Sentence number {i} is right here." for i in range(60))
    pages = [Page(1, text)]
    chunks = get_chunker(ChunkSettings(chunker="structure", size=40, overlap=0, context=60, section_split="recursive"), tok).chunk(DOC, pages, PIPE)
    check(chunks, pages, tok, 40)
    for c in chunks[1:]:
        a, b = c.metadata["embed_span"]
        assert c.metadata["embed_text"] == "Report\n" + text[a:b]
        assert tok.count(c.metadata["embed_text"]) <= tok.budget


def test_sentences_for_semantic_splitting_embed_on_the_split_backend() -> None:
    """auto: the static vectors for a model calibrated for them
    (all-MiniLM-L6-v2); for others int8 where the index embeds with ONNX
    Runtime fp32, else the index's own settings; same: always those; a
    backend named: that one. The model and everything else stay the index's."""
    onnx = EmbedSettings(backend="onnx", batch_size=32)
    auto = split_embed_settings(ChunkSettings(), onnx)
    assert auto.backend == "static" and auto.model == onnx.model and auto.batch_size == 32
    for backend in ("onnx-int8", "torch", "torch-bf16"):
        assert split_embed_settings(ChunkSettings(), EmbedSettings(backend=backend)).backend == "static"
        assert split_embed_settings(ChunkSettings(split_backend="same"), EmbedSettings(backend=backend)).backend == backend
    assert split_embed_settings(ChunkSettings(split_backend="same"), onnx) == onnx
    assert split_embed_settings(ChunkSettings(split_backend="torch"), onnx).backend == "torch"
    assert split_embed_settings(ChunkSettings(split_backend="onnx"), onnx) == onnx  # the index's backend: one embedder for both
    from pdfrag.embed.backends import resolve_backend

    auto = EmbedSettings(backend="auto", device="cpu")  # naming what auto resolves to is the same embedder
    assert split_embed_settings(ChunkSettings(split_backend=resolve_backend("auto", "cpu")), auto) == auto
    # a model without a static calibration: the rule from the index's backend
    e5_onnx = EmbedSettings(model="multilingual-e5-small", backend="onnx")
    assert split_embed_settings(ChunkSettings(), e5_onnx).backend == "onnx-int8"
    for backend in ("onnx-int8", "torch", "torch-bf16"):
        e5 = EmbedSettings(model="multilingual-e5-small", backend=backend)
        assert split_embed_settings(ChunkSettings(), e5) == e5
    e5 = EmbedSettings(model="multilingual-e5-small", backend="onnx")
    assert split_embed_settings(ChunkSettings(), e5).model == "multilingual-e5-small"


def _pdf_page(n: int, text: str, first: str = "text", last: str = "text") -> Page:
    """A page as the extractor gives it: blocks covering its paragraphs."""
    from pdfrag.types import Block

    paras = text.split("\n\n")
    blocks, pos = [], 0
    for i, para in enumerate(paras):
        kind = "text"
        if i == len(paras) - 1:
            kind = last
        if i == 0 and first != "text":
            kind = first
        blocks.append(Block(pos, pos + len(para), kind))
        pos += len(para) + 2
    return Page(n, text, blocks=tuple(blocks))


def test_a_paragraph_running_on_across_a_page_break_is_not_cut_there() -> None:
    from pdfrag.chunk.base import page_separator

    en = [_pdf_page(1, "Intro.\n\nThe results of the"), _pdf_page(2, "experiment show a gain.\n\nNext.")]
    doc = DocumentText.from_pages(en)
    assert "The results of the experiment show a gain." in doc.text
    assert doc.page_starts == [0, len(en[0].text) + 1] and doc.page_at(doc.text.index("experiment")) == 2
    zh = [_pdf_page(1, "灰浆更加坚"), _pdf_page(2, "固，这种糯米灰浆的强度更好。")]
    assert DocumentText.from_pages(zh).text == "灰浆更加坚固，这种糯米灰浆的强度更好。"
    hyphen = [_pdf_page(1, "a well-known infor-"), _pdf_page(2, "mation source")]
    assert page_separator(*hyphen) == ""
    # A finished sentence, a capital, a heading or a table, CJK punctuation, pages without blocks: a paragraph break.
    for a, b in [
        (_pdf_page(1, "The end."), _pdf_page(2, "and more")),
        (_pdf_page(1, "the results of the"), _pdf_page(2, "Experiment")),
        (_pdf_page(1, "结束了。”"), _pdf_page(2, "下一段")),
        (_pdf_page(1, "the results of the"), _pdf_page(2, "methods", first="heading")),
        (_pdf_page(1, "rows of the table and", last="table"), _pdf_page(2, "more text")),
        (_pdf_page(1, "灰浆更加坚"), _pdf_page(2, "，这种")),
        (Page(1, "the results of the"), Page(2, "experiment")),
    ]:
        assert page_separator(a, b) == PAGE_JOIN, (a.text, b.text)
