"""StructureChunker: sections by heading, tables whole or by rows under a
repeated header, heading path as embedding context; with the extractor's
blocks and, without them, with headings and tables read from Markdown."""

from __future__ import annotations

import pytest

from pdfrag.chunk import TokenIndex, get_chunker
from pdfrag.chunk.base import DocumentText, embedding_text
from pdfrag.chunk.structure import StructureChunker
from pdfrag.config import ChunkSettings
from pdfrag.types import Block, Page, Table

DOC = "d" * 64
PIPE = "p" * 64

INTRO = (
    "The company designs and manufactures power transformers for utilities and industry. "
    "Its plants in Shenyang and Dalian supply customers in twelve countries."
)
RISKS = (
    "Demand for transformers follows investment in the grid, which depends on public budgets. "
    "Copper and electrical steel make up most of the cost of a transformer, and their prices move with world markets. "
    "The company buys forward a part of its copper, but a sharp rise in prices still reduces its margins. "
    "Exchange rates matter as well, since a third of sales are exported and priced in dollars or euros."
)


def _rows(n: int) -> list[tuple[str, str, str]]:
    return [(f"Plant {i}", f"{100 + 7 * i}", f"{(3 * i) % 17} kV") for i in range(n)]


def _markdown_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def build_page(parts: list[tuple[str, str, tuple[str, ...], int]], page: int = 1, tables: tuple[Table, ...] = ()) -> Page:
    """A page from (kind, text, heading path, level) parts joined by blank
    lines, with blocks at their offsets, as an extractor gives them."""
    text, blocks, pos, t = "", [], 0, 0
    for kind, body, path, level in parts:
        if text:
            text += "\n\n"
            pos += 2
        blocks.append(Block(pos, pos + len(body), kind, path, level, table_index=t if kind == "table" else None))
        t += kind == "table"
        text += body
        pos += len(body)
    return Page(page, text, blocks=tuple(blocks), tables=tables)


def report_pages(n_rows: int = 8) -> list[Page]:
    header = ("Plant", "Output (MVA)", "Voltage")
    rows = _rows(n_rows)
    md = _markdown_table(header, rows)
    table = Table(index=0, page=1, header=header, rows=tuple(rows), markdown=md)
    p1 = build_page(
        [
            ("heading", "Annual Report 2023", ("Annual Report 2023",), 1),
            ("text", INTRO, ("Annual Report 2023",), 0),
            ("heading", "Production", ("Annual Report 2023", "Production"), 2),
            ("text", "Output by plant in the year:", ("Annual Report 2023", "Production"), 0),
            ("table", md, ("Annual Report 2023", "Production"), 0),
        ],
        tables=(table,),
    )
    p2 = build_page(
        [
            ("heading", "Risk Factors", ("Annual Report 2023", "Risk Factors"), 2),
            ("text", RISKS, ("Annual Report 2023", "Risk Factors"), 0),
            ("heading", "Outlook", ("Annual Report 2023", "Outlook"), 2),
            ("text", "The company expects orders to grow with grid investment next year.", ("Annual Report 2023", "Outlook"), 0),
        ],
        page=2,
    )
    return [p1, p2]


def _sections_of(pages: list[Page]) -> list[tuple[int, tuple[str, ...]]]:
    doc = DocumentText.from_pages(pages)
    return [(b.start, b.heading_path) for b in doc.blocks if b.kind == "heading"]


def test_sections_follow_headings(tok, check) -> None:
    pages = report_pages()
    for size in (120, 60):
        chunks = StructureChunker(tok, size=size, overlap=0, min_size=8).chunk(DOC, pages, PIPE)
        check(chunks, pages, tok, size)
        sections = _sections_of(pages)
        for c in chunks:
            # a chunk holding several sections sits under their common path
            # (small siblings are packed); else under its section's own path
            paths = [p for s, p in sections if s < c.char_end and (s >= c.char_start or s == max(x for x, _ in sections if x <= c.char_start))]
            common = paths[0]
            for p in paths[1:]:
                common = tuple(x for x, y in zip(common, p) if x == y)[: len(common)]
            assert c.heading_path == common, (c.text, c.heading_path, paths)
    chunks = StructureChunker(tok, size=60, overlap=0, min_size=8).chunk(DOC, pages, PIPE)
    risks = [c for c in chunks if "Copper and electrical steel" in c.text]
    assert len(risks) == 1 and risks[0].heading_path == ("Annual Report 2023", "Risk Factors")
    assert risks[0].page_start == 2
    # the section's first chunk starts with its heading
    assert any(c.text.startswith("Risk Factors\n\nDemand") for c in chunks)


def test_table_kept_whole_when_it_fits(tok, check) -> None:
    pages = report_pages(n_rows=6)
    md = pages[0].tables[0].markdown
    chunks = StructureChunker(tok, size=200, overlap=0).chunk(DOC, pages, PIPE)
    check(chunks, pages, tok, 200)
    holding = [c for c in chunks if "| Plant 0 |" in c.text]
    assert len(holding) == 1 and md in holding[0].text, "the whole table sits in one chunk"
    assert holding[0].metadata["tables"] == [0] and "table_part" not in holding[0].metadata
    assert [c for c in chunks if c.metadata.get("tables")] == holding


def test_long_table_split_by_rows_with_its_header_repeated(tok, check) -> None:
    pages = report_pages(n_rows=80)
    md = pages[0].tables[0].markdown
    header_lines = "\n".join(md.split("\n")[:2])
    ch = StructureChunker(tok, size=100, overlap=0)
    chunks = ch.chunk(DOC, pages, PIPE)
    check(chunks, pages, tok, 100)
    parts = [c for c in chunks if c.metadata.get("tables") == [0]]
    assert len(parts) >= 5
    assert [c.metadata["table_part"] for c in parts] == list(range(len(parts)))
    assert parts[0].text.lstrip().startswith(("Output by plant", "| Plant |", "## Production", "Production"))
    for c in parts[1:]:
        lines = c.text.split("\n")
        assert all(line.startswith("| Plant ") for line in lines), "later parts hold whole rows only"
        et = embedding_text(c.text, c.metadata)
        assert et == "Annual Report 2023 > Production\n" + header_lines + "\n" + c.text
        assert tok.count(et) <= 100
    # every row in exactly one part, in order
    rows_seen = [line for c in parts for line in c.text.split("\n") if line.startswith("| Plant ")]
    assert rows_seen == [line for line in md.split("\n") if line.startswith("| Plant ")]


def test_heading_path_prefix_in_embedding_text_only(tok, check) -> None:
    pages = report_pages()
    chunks = StructureChunker(tok, size=60, overlap=0, min_size=0).chunk(DOC, pages, PIPE)
    check(chunks, pages, tok, 60)
    risk_parts = [c for c in chunks if c.heading_path == ("Annual Report 2023", "Risk Factors")]
    assert len(risk_parts) >= 2
    assert risk_parts[0].text.startswith("Risk Factors")
    # the first part starts with its own heading: only the parents as prefix
    assert embedding_text(risk_parts[0].text, risk_parts[0].metadata) == "Annual Report 2023\n" + risk_parts[0].text
    for c in risk_parts[1:]:
        assert c.metadata["embed_text"] == "Annual Report 2023 > Risk Factors\n" + c.text
    plain = StructureChunker(tok, size=60, overlap=0, min_size=0, heading_prefix=False).chunk(DOC, pages, PIPE)
    check(plain, pages, tok, 60)
    # no heading prefix; a split table's later parts still get the table header
    with_context = [c for c in plain if "embed_text" in c.metadata]
    assert with_context and all(c.metadata.get("table_part", 0) > 0 for c in with_context)
    assert all(c.metadata["embed_text"].startswith("| Plant | Output (MVA) | Voltage |\n|---|---|---|\n") for c in with_context)
    assert {c.heading_path for c in plain} == {c.heading_path for c in chunks}


def test_small_sibling_sections_packed_together(tok, check) -> None:
    parts = [("heading", "Glossary", ("Glossary",), 1)]
    for term in ("Transformer", "Busbar", "Switchgear", "Relay"):
        parts.append(("heading", term, ("Glossary", term), 2))
        parts.append(("text", f"A {term.lower()} is a piece of electrical equipment.", ("Glossary", term), 0))
    pages = [build_page(parts)]
    chunks = StructureChunker(tok, size=200, overlap=0).chunk(DOC, pages, PIPE)
    check(chunks, pages, tok, 200)
    assert len(chunks) == 1 and chunks[0].heading_path == ("Glossary",)
    small = StructureChunker(tok, size=30, overlap=0, min_size=0).chunk(DOC, pages, PIPE)
    check(small, pages, tok, 30)
    assert len(small) > 1


MARKDOWN = """# Annual Report 2023

{intro}

## Production

Output by plant in the year:

{table}

## Risk Factors

{risks}

```python
# not a heading: a comment inside code
x = 1
```

## Outlook

The company expects orders to grow with grid investment next year.
"""


def test_markdown_fallback_without_blocks(tok, check) -> None:
    md = MARKDOWN.format(intro=INTRO, risks=RISKS, table=_markdown_table(("Plant", "Output (MVA)", "Voltage"), _rows(60)))
    pages = [Page(1, md)]
    doc = DocumentText.from_pages(pages)
    kinds = [(b.kind, b.heading_path) for b in doc.blocks if b.kind != "text"]
    assert kinds == [
        ("heading", ("Annual Report 2023",)), ("heading", ("Annual Report 2023", "Production")),
        ("table", ("Annual Report 2023", "Production")), ("heading", ("Annual Report 2023", "Risk Factors")),
        ("heading", ("Annual Report 2023", "Outlook")),
    ]
    chunks = StructureChunker(tok, size=100, overlap=0).chunk(DOC, pages, PIPE)
    check(chunks, pages, tok, 100)
    table_parts = [c for c in chunks if c.metadata.get("tables") == [0]]
    assert len(table_parts) >= 3
    assert all(c.metadata["embed_text"].startswith("Annual Report 2023 > Production\n| Plant | Output (MVA) | Voltage |\n|---|---|---|\n") for c in table_parts[1:])
    code = [c for c in chunks if "# not a heading" in c.text]
    assert code and code[0].heading_path == ("Annual Report 2023", "Risk Factors")[: len(code[0].heading_path)]


def test_chinese_document_with_blocks(tok, check, chinese_text) -> None:
    body = chinese_text(900)
    header = ("项目", "金额（万元）")
    rows = [(f"变压器业务{i}", f"{1000 + i * 13}") for i in range(40)]
    md = _markdown_table(header, rows)
    page = build_page(
        [
            ("heading", "第一节 重要提示", ("第一节 重要提示",), 1),
            ("text", body, ("第一节 重要提示",), 0),
            ("heading", "第二节 主要财务数据", ("第二节 主要财务数据",), 1),
            ("table", md, ("第二节 主要财务数据",), 0),
        ],
        tables=(Table(0, 1, header, tuple(rows), md),),
    )
    pages = [page]
    chunks = StructureChunker(tok, size=128, overlap=16).chunk(DOC, pages, PIPE)
    check(chunks, pages, tok, 128)
    assert {c.heading_path for c in chunks} == {("第一节 重要提示",), ("第二节 主要财务数据",)}
    parts = [c for c in chunks if c.metadata.get("tables") == [0]]
    assert len(parts) >= 3
    for c in parts[1:]:
        assert c.metadata["embed_text"].startswith("第二节 主要财务数据\n| 项目 | 金额（万元） |\n")
    # overlap inside the long Chinese section
    text_parts = [c for c in chunks if c.heading_path == ("第一节 重要提示",)]
    assert len(text_parts) >= 3
    assert any(b.char_start < a.char_end for a, b in zip(text_parts, text_parts[1:]))


@pytest.mark.parametrize("lang", ["english", "chinese"])
def test_invariants_on_corpus_pdfs(tok, check, english_pages, chinese_pages, lang) -> None:
    pages = english_pages if lang == "english" else chinese_pages
    for size, overlap in ((200, 0), (64, 16)):
        chunks = StructureChunker(tok, size=size, overlap=overlap).chunk(DOC, pages, PIPE)
        check(chunks, pages, tok, size)
        assert chunks == StructureChunker(tok, size=size, overlap=overlap).chunk(DOC, pages, PIPE)


def test_blocks_with_gaps_and_odd_offsets_still_cover_everything(tok, check) -> None:
    text = "Intro line before any heading.\n\nTitle\n\nFirst paragraph under the title.\n\nLoose text the extractor left out of its blocks."
    t = text.index("Title")
    p = text.index("First")
    blocks = (
        Block(p, p + len("First paragraph under the title."), "text", ("Title",)),
        Block(t, t + 5, "heading", ("Title",), 1),  # out of order
        Block(500, 600, "text"),  # beyond the text: ignored
    )
    pages = [Page(1, text, blocks=blocks)]
    chunks = StructureChunker(tok, size=12, overlap=0, min_size=0).chunk(DOC, pages, PIPE)
    check(chunks, pages, tok, 12)
    assert chunks[0].heading_path == ()
    assert all(c.heading_path == ("Title",) for c in chunks[1:])


def test_long_heading_path_is_cut_to_a_quarter_of_the_budget(tok, check) -> None:
    path = tuple(f"Chapter {i} on the history of electrical power transmission in northern China" for i in range(6))
    body = " ".join(f"Sentence {i} of the deepest section." for i in range(40))
    text = path[-1] + "\n\n" + body
    pages = [Page(1, text, blocks=(Block(0, len(path[-1]), "heading", path, 6), Block(len(path[-1]) + 2, len(text), "text", path)))]
    ch = StructureChunker(tok, size=80, overlap=0)
    chunks = ch.chunk(DOC, pages, PIPE)
    check(chunks, pages, tok, 80)
    for c in chunks[1:]:
        prefix = c.metadata["embed_text"][: -len(c.text)]
        assert tok.count(prefix) <= 80 // 4
        assert prefix.rstrip("\n").endswith(path[-1])  # the innermost headings are kept


def test_settings_and_identity(tok) -> None:
    ch = get_chunker(ChunkSettings(chunker="structure", section_split="recursive", size=150, overlap=10, heading_prefix=False), tok)
    assert isinstance(ch, StructureChunker)
    cfg = ch.config()
    assert cfg["chunker"] == "structure" and cfg["heading_prefix"] is False and cfg["size"] == 150
    other = get_chunker(ChunkSettings(chunker="structure", section_split="recursive", size=150, overlap=10), tok)
    assert ch.pipeline_hash({}) != other.pipeline_hash({})
    rec = get_chunker(ChunkSettings(chunker="recursive", size=150, overlap=10), tok)
    assert rec.pipeline_hash({}) != other.pipeline_hash({})


def test_token_budget_counts_the_context(tok) -> None:
    # A section that fits alone but not with its heading path is split.
    path = ("Annual Report 2023", "Risk Factors")
    text = RISKS
    n = TokenIndex(text, tok).count(0, len(text))
    ch = StructureChunker(tok, size=n + 2, overlap=0, min_size=0)
    pages = [Page(1, text, blocks=(Block(0, len(text), "text", path),))]
    chunks = ch.chunk(DOC, pages, PIPE)
    assert len(chunks) >= 2
    assert all(tok.count(c.metadata["embed_text"]) <= n + 2 for c in chunks)
