"""Reading order on the corpus's multi-column pages: the last line of one
column is followed by the first line of the next, not by its neighbour
across the gutter."""

from __future__ import annotations

import re
from pathlib import Path

from pdfrag.config import ExtractSettings
from pdfrag.extract.pymupdf import PyMuPDFExtractor


def _pages(path: Path):
    return PyMuPDFExtractor(ExtractSettings(ocr="off")).extract(path.read_bytes(), source=str(path), doc_id="d").pages


def _follows(text: str, first: str, then: str) -> bool:
    """``then`` comes right after ``first`` (whitespace between allowed)."""
    return re.search(re.escape(first) + r"\s*" + re.escape(then), text) is not None


def test_two_columns_latex(pdfs: Path) -> None:
    page = _pages(pdfs / "two_column" / "samplefiles_multicolumn.pdf")[0]
    assert page.method == "layout"
    assert _follows(page.text, "fermentum felis. Donec nonummy", "pellentesque ante. Phasellus")
    # the title, spanning both columns, comes first; the abstract before the columns
    assert page.text.startswith("Two-Column Document with Lorem Ipsum")
    assert page.text.index("Abstract") < page.text.index("Lorem ipsum dolor sit amet")


def test_word_hyphenated_across_the_column_break_is_joined(pdfs: Path) -> None:
    text = _pages(pdfs / "two_column" / "pdfminer_naacl06-shinyama.pdf")[0].text
    assert "specify articles and adjust its patterns" in text


def test_three_columns_with_footnotes(pdfs: Path) -> None:
    page = _pages(pdfs / "two_column" / "pdfplumber_federal-register-2020-17221.pdf")[1]
    assert _follows(page.text, "contributing to the accident.", "Following the Lion Air Flight 610 accident")
    # column 1 ends with its footnotes, then column 2 begins
    assert _follows(page.text, "annunciation to the pilot.", "altitude disagree alert,5")
    assert page.text.index("altitude disagree alert") < page.text.index("and the Ethiopian Civil Aviation Authority")


def test_running_headers_and_page_numbers_are_dropped(pdfs: Path) -> None:
    pages = _pages(pdfs / "two_column" / "pdfplumber_federal-register-2020-17221.pdf")
    assert len(pages) >= 10
    for p in pages[1:]:
        assert "Federal Register / Vol. 85" not in p.text
        assert not p.text.startswith("47")  # the page number above the running header
    multi = _pages(pdfs / "two_column" / "samplefiles_multicolumn.pdf")
    assert all(not re.search(r"(^|\n)\d+$", p.text) for p in multi)


def test_headings_and_paths(pdfs: Path) -> None:
    pages = _pages(pdfs / "two_column" / "pdfminer_naacl06-shinyama.pdf")
    heads = [h for p in pages for h in p.headings]
    assert "1 Background" in heads and "Abstract" in heads
    body = [b for b in pages[0].blocks if b.kind == "text" and pages[0].text[b.start : b.end].startswith("Every day, a large number")]
    assert body and body[0].heading_path[-1] == "1 Background"


def test_korean_two_column_report(pdfs: Path) -> None:
    text = "\n".join(p.text for p in _pages(pdfs / "cjk" / "docling_normal_4pages_korean.pdf"))
    assert "보험" in text and "감염병" in text
