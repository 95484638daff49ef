"""OCR of scanned pages and garbage text layers (RapidOCR, offline models)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pdfrag.config import ExtractSettings
from pdfrag.errors import InputError
from pdfrag.extract.ocr import get_reader, ocr_available
from pdfrag.extract.pymupdf import PyMuPDFExtractor

pytestmark = pytest.mark.skipif(not ocr_available("auto"), reason="the ocr extra (rapidocr) is not installed")
SENTENCE = "Docling bundles PDF document conversion to JSON and Markdown in an easy self contained package"


def _extract(path: Path, **settings):
    return PyMuPDFExtractor(ExtractSettings(**settings)).extract(path.read_bytes(), source=str(path), doc_id="d")


@pytest.mark.parametrize("name,turned", [("docling_ocr_test.pdf", 0), ("docling_ocr_test_rotated_90.pdf", 270), ("docling_ocr_test_rotated_180.pdf", 180), ("docling_ocr_test_rotated_270.pdf", 90)])
def test_scans_at_every_rotation_read_their_sentence(pdfs: Path, name: str, turned: int) -> None:
    page = _extract(pdfs / "scanned" / name).pages[0]
    assert page.method == "ocr"
    assert " ".join(page.text.split()) == SENTENCE
    assert "no text layer" in page.note
    assert (f"turned {turned}°" in page.note) if turned else ("turned" not in page.note)


def test_garbage_glyph_layer_is_read_by_ocr(pdfs: Path) -> None:
    page = _extract(pdfs / "bad_input" / "olmocr_dolma-page-1.pdf").pages[0]
    assert page.method == "ocr" and "broken font encoding" in page.note
    assert "Open Corpus of Three Trillion Tokens" in page.text
    assert "Oqnbddchmfr" not in page.text


def test_invisible_layer_is_not_indexed_as_visible_text(pdfs: Path) -> None:
    page = _extract(pdfs / "bad_input" / "docling_invisible_text_layer.pdf").pages[0]
    assert page.text == "Visible heading line"


def test_page_time_limit_skips_ocr_with_a_note(pdfs: Path) -> None:
    path = pdfs / "bad_input" / "olmocr_dolma-page-1.pdf"
    with pytest.raises(InputError, match="OCR did not run") as ei:
        _extract(path, page_timeout=1e-9)
    assert "time limit" in str(ei.value) and "page_timeout" in (ei.value.hint or "")


def test_reader_config_names_models() -> None:
    reader = get_reader("auto", 200, True, True)
    assert reader is not None
    cfg = reader.config()
    assert cfg["engine"] == "rapidocr" and cfg["layout"] == "pp_layout_cdla" and cfg["tables"] == "slanet-plus"
    assert get_reader("off", 200, True, True) is None
