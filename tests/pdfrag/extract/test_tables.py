"""Ruled tables kept as data: cell values checked against the fixtures'
own sources (PyMuPDF's and pdfplumber's test suites)."""

from __future__ import annotations

import json
from pathlib import Path

from pdfrag.config import ExtractSettings
from pdfrag.extract.pymupdf import PyMuPDFExtractor
from pdfrag.extract.tables import TableConfig, make_table, to_markdown


def _extract(path: Path):
    return PyMuPDFExtractor(ExtractSettings(ocr="off")).extract(path.read_bytes(), source=str(path), doc_id="d")


def _flat(text: str | None) -> str:
    return "".join((text or "").split())


def test_chinese_ruled_tables_match_pymupdf_ground_truth(pdfs: Path) -> None:
    path = pdfs / "cjk" / "pymupdf_chinese-tables.pdf"
    truth = json.loads(path.with_name("pymupdf_chinese-tables.groundtruth.json").read_text(encoding="utf-8"))["extracts"]
    page = _extract(path).pages[0]
    assert page.method == "layout" and len(page.tables) == 2
    for table, expected in zip(page.tables, truth, strict=True):
        got = [list(table.header), *[list(r) for r in table.rows]]
        assert [[_flat(c) for c in row] for row in got] == [[_flat(c) for c in row] for row in expected]
    # Chinese cells joined across their line breaks without spaces
    assert page.tables[0].rows[0][3] == "中诚信国际信用评级有限责任公司、联合资信评估有限公司"


def test_table_sits_in_the_text_as_markdown_once(pdfs: Path) -> None:
    page = _extract(pdfs / "cjk" / "pymupdf_chinese-tables.pdf").pages[0]
    blocks = [b for b in page.blocks if b.kind == "table"]
    assert [b.table_index for b in blocks] == [0, 1]
    md = page.text[blocks[1].start : blocks[1].end]
    assert md == page.tables[1].markdown
    assert md.startswith("| 序号 | 金融机构名称 | 授信总额 | 已使用情况 | 剩余额度 |\n|---|---|---|---|---|\n| 1 | 工商银行 | 330,435.30 |")
    # the cells' words are not repeated as loose lines
    assert page.text.count("徽商银行南京中山北路支行") == 1
    # text before the table comes before it
    assert page.text.index("表7-2") < blocks[1].start


def test_nics_background_checks_table(pdfs: Path) -> None:
    page = _extract(pdfs / "tables" / "pdfplumber_nics-background-checks-2015-11.pdf").pages[0]
    assert len(page.tables) == 1
    t = page.tables[0]
    cells = [c for row in (t.header, *t.rows) for c in row]
    assert any("State / Territory" in c for c in cells)
    assert any(c.startswith("Alabama") for c in cells)
    assert page.text.count("Alabama") == 1


def test_tables_parquet_fields(pdfs: Path) -> None:
    t = _extract(pdfs / "cjk" / "pymupdf_chinese-tables.pdf").pages[0].tables[1]
    assert t.page == 1 and t.index == 1 and t.method == "lattice"
    assert t.bbox is not None and t.bbox[0] < t.bbox[2] and t.bbox[1] < t.bbox[3]
    assert t.header == ("序号", "金融机构名称", "授信总额", "已使用情况", "剩余额度")
    assert t.rows[0] == ("1", "工商银行", "330,435.30", "234,850.00", "95,585.30")


def test_make_table_rejects_boxes_and_chart_axes() -> None:
    cfg = TableConfig()
    assert make_table([["only one column"], ["still one"]], 1, 0, None, "x", cfg) is None
    assert make_table([["a", "b"]], 1, 0, None, "x", cfg) is None
    assert make_table([["4 2", ""], ["", "0"], ["", ""]], 1, 0, None, "x", cfg) is None
    t = make_table([["name", "value", None], ["x", "1", None], ["y", "2", None]], 3, 7, (0, 0, 1, 1), "x", cfg)
    assert t is not None and t.header == ("name", "value") and t.rows == (("x", "1"), ("y", "2")) and t.index == 7


def test_markdown_escapes_pipes_and_pads_rows() -> None:
    assert to_markdown(("a", "b|c"), (("1",),)) == "| a | b\\|c |\n|---|---|\n| 1 |  |"


def test_rtl_table_columns_run_right_to_left() -> None:
    t = make_table([["20300", "شماره استاندارد"], ["1403", "تاريخ پذيرش"]], 1, 0, None, "x", TableConfig())
    assert t is not None and t.header == ("شماره استاندارد", "20300")
