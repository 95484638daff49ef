from pdfrag.records import chunks_to_table, pages_to_table, table_to_pages, tables_to_table
from pdfrag.types import Block, Chunk, Page, Table


def _page() -> Page:
    table = Table(index=0, page=2, header=("a", "b"), rows=(("1", "2"),), markdown="|a|b|\n|---|---|\n|1|2|", bbox=(1.0, 2.0, 3.0, 4.0))
    text = "Intro\n\nBody text.\n\n|a|b|\n|---|---|\n|1|2|"
    blocks = (
        Block(0, 5, "heading", ("Intro",), level=1, bbox=(0.0, 0.0, 10.0, 10.0)),
        Block(7, 17, "text", ("Intro",)),
        Block(19, len(text), "table", ("Intro",), table_index=0, bbox=(1.0, 2.0, 3.0, 4.0)),
    )
    return Page(2, text, "text", "", blocks=blocks, tables=(table,))


def test_pages_round_trip_with_blocks_and_tables():
    page = _page()
    back = table_to_pages(pages_to_table("d1", [page, Page(3, "", "empty", "needs OCR")]))
    assert back[0] == page
    assert back[0].headings == ["Intro"]
    assert back[1].blocks == () and back[1].note == "needs OCR"


def test_tables_parquet_is_flat():
    t = tables_to_table("d1", "/x.pdf", [_page()]).to_pylist()
    assert t == [
        {
            "doc_id": "d1", "source": "/x.pdf", "page": 2, "table_index": 0, "bbox": [1.0, 2.0, 3.0, 4.0], "header": ["a", "b"],
            "rows": [["1", "2"]], "markdown": "|a|b|\n|---|---|\n|1|2|", "method": "pymupdf",
        }
    ]


def test_chunks_keep_heading_path():
    c = Chunk("c", "d", 0, "x", 0, 1, 1, 1, 1, heading_path=("A", "B"), metadata={"k": 1})
    row = chunks_to_table([c]).to_pylist()[0]
    assert row["heading_path"] == ["A", "B"] and row["metadata"] == '{"k": 1}'
