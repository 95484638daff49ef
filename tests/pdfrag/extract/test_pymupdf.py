"""Tests for pdfrag.extract: PyMuPDF extraction on the real corpus, per-file
errors on bad input, passwords, and clean_text."""

from __future__ import annotations

from pathlib import Path

import pytest

from pdfrag.config import ExtractSettings
from pdfrag.errors import InputError
from pdfrag.extract import get_extractor
from pdfrag.extract.clean import clean_text
from pdfrag.extract.pymupdf import PyMuPDFExtractor
from pdfrag.identity import doc_id_of_bytes
from pdfrag.types import ExtractedDocument

ENCRYPTED = {
    "docling_encrypted_pw1234_2206.01062_pg3.pdf": "1234",
    "pdfminer_aes-256.pdf": "foo",
    "pdfminer_rc4-40.pdf": "foo",
    "pdfplumber_password-example.pdf": "test",
    "samplefiles_encrypted_openpassword.pdf": "openpassword",
}
# bad_input files with the error each must give (None: it extracts)
EXPECTED_ERRORS = {
    "pdfplumber_empty.pdf": "empty file",
    "pdfplumber_issue-297-example.pdf": "no extractable text",
    "samplefiles_ccittfax_tiny_page.pdf": "needs OCR",
    **{name: "encrypted: supply a password" for name in ENCRYPTED},
}


def _extract(path: Path, settings: ExtractSettings | None = None) -> ExtractedDocument:
    data = path.read_bytes()
    return PyMuPDFExtractor(settings).extract(data, source=str(path), doc_id=doc_id_of_bytes(data))


def test_multi_page_prose(pdfs: Path) -> None:
    path = pdfs / "prose" / "docling_multi_page.pdf"
    doc = _extract(path)
    assert doc.source == str(path)
    assert doc.doc_id == doc_id_of_bytes(path.read_bytes())
    assert [p.page for p in doc.pages] == [1, 2, 3, 4, 5]
    assert doc.text_pages == 5
    for p in doc.pages:
        assert p.method == "text" and p.note == ""
        assert len(p.text) > 100
        assert p.text == p.text.strip()
    assert isinstance(doc.metadata, dict)
    assert all(isinstance(v, str) and v for v in doc.metadata.values())


def test_cjk_text_and_fullwidth_punctuation(pdfs: Path) -> None:
    doc = _extract(pdfs / "cjk" / "pdfplumber_issue-67-example.pdf")
    assert len(doc.pages) == 22
    text = "\n".join(p.text for p in doc.pages)
    assert "东北电气发展股份有限公司" in text
    assert "，" in text  # full-width comma kept: clean_text must not NFKC


def test_extract_is_deterministic(pdfs: Path) -> None:
    path = pdfs / "misc" / "docling_bookmark_sample.pdf"
    a, b = _extract(path), _extract(path)
    assert a.pages == b.pages
    assert a.text_pages == 3


def test_config_excludes_passwords() -> None:
    a = PyMuPDFExtractor(ExtractSettings(passwords=["secret"])).config()
    b = PyMuPDFExtractor().config()
    assert a == b
    assert a["name"] == "pymupdf"
    assert "secret" not in repr(a)
    assert PyMuPDFExtractor(ExtractSettings(min_page_chars=10)).config() != b
    assert isinstance(get_extractor(ExtractSettings(isolate=False)), PyMuPDFExtractor)
    isolated = get_extractor(ExtractSettings())
    assert isolated.config() == b  # same output in a worker process: same stage key


def test_every_bad_input_extracts_or_fails_clearly(pdfs: Path) -> None:
    # OCR off here (tests/pdfrag/extract/ocr reads the garbage layers by OCR).
    files = sorted((pdfs / "bad_input").glob("*.pdf"))
    assert len(files) >= 15
    seen_errors = {}
    for path in files:
        try:
            doc = _extract(path, ExtractSettings(ocr="off"))
        except InputError as e:
            msg = str(e)
            assert str(path) in msg, msg
            assert "stage extract" in msg, msg
            assert e.stage == "extract" and e.source == str(path)
            assert e.retryable is False
            assert e.hint, msg
            seen_errors[path.name] = msg
        else:
            assert doc.text_pages >= 1, path.name
            assert path.name not in EXPECTED_ERRORS, f"{path.name} should have failed"
    for name, fragment in EXPECTED_ERRORS.items():
        assert name in seen_errors, f"{name} did not fail"
        assert fragment in seen_errors[name], seen_errors[name]


@pytest.mark.parametrize(
    "name,fragment",
    [
        ("pdfplumber_empty.pdf", "empty file"),
        *[(n, "encrypted: supply a password") for n in sorted(ENCRYPTED)],
    ],
)
def test_specific_errors(pdfs: Path, name: str, fragment: str) -> None:
    path = pdfs / "bad_input" / name
    with pytest.raises(InputError) as ei:
        _extract(path)
    assert fragment in str(ei.value)
    assert str(path) in str(ei.value)
    assert ei.value.stage == "extract"


def test_not_a_pdf(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a readable PDF") as ei:
        PyMuPDFExtractor().extract(b"this is plain text, not a PDF", source="x/notes.pdf", doc_id="0")
    assert "x/notes.pdf" in str(ei.value)


def test_image_only_pdfs_need_ocr_when_ocr_is_off(pdfs: Path) -> None:
    off = ExtractSettings(ocr="off")
    for path in (pdfs / "scanned" / "docling_ocr_test.pdf", pdfs / "bad_input" / "samplefiles_ccittfax_tiny_page.pdf"):
        with pytest.raises(InputError, match="no usable text layer on any page") as ei:
            _extract(path, off)
        assert "needs OCR" in str(ei.value) and "scanned or image-only" in str(ei.value)
        assert "pdfrag[ocr]" in (ei.value.hint or "")
    with pytest.raises(InputError, match="no extractable text on any page"):
        _extract(pdfs / "bad_input" / "pdfplumber_issue-297-example.pdf")


def test_pdf_mupdf_sees_no_pages_in_is_read_by_pdfplumber(pdfs: Path) -> None:
    doc = _extract(pdfs / "bad_input" / "samplefiles_unreadablemetadata.pdf")
    assert doc.metadata["fallback"] == "pdfplumber"
    assert "Rotary Potentiometer" in doc.pages[0].text
    assert "pdfplumber" in doc.pages[0].note


def test_min_page_chars_marks_short_pages_empty(pdfs: Path) -> None:
    path = pdfs / "bad_input" / "pdfminer_base.pdf"  # text: 'Secret!'
    assert _extract(path).pages[0].text == "Secret!"
    with pytest.raises(InputError, match="no extractable text"):
        _extract(path, ExtractSettings(min_page_chars=100))


@pytest.mark.parametrize("name,password", sorted(ENCRYPTED.items()))
def test_encrypted_opens_with_password_list(pdfs: Path, name: str, password: str) -> None:
    doc = _extract(pdfs / "bad_input" / name, ExtractSettings(passwords=["wrong", password]))
    assert doc.text_pages >= 1
    assert any(p.text.strip() for p in doc.pages)


@pytest.mark.parametrize("name,password", sorted(ENCRYPTED.items()))
def test_encrypted_opens_with_password_map(pdfs: Path, name: str, password: str) -> None:
    doc = _extract(pdfs / "bad_input" / name, ExtractSettings(password_map={name: password}))
    assert doc.text_pages >= 1


def test_aes256_decrypts_to_secret(pdfs: Path) -> None:
    for name in ("pdfminer_aes-256.pdf", "pdfminer_rc4-40.pdf"):
        doc = _extract(pdfs / "bad_input" / name, ExtractSettings(password_map={name: "foo"}))
        assert "Secret!" in doc.pages[0].text
    # the owner password opens it too
    doc = _extract(pdfs / "bad_input" / "pdfminer_aes-256.pdf", ExtractSettings(passwords=["baz"]))
    assert "Secret!" in doc.pages[0].text


def test_password_map_by_full_uri_and_wrong_passwords(pdfs: Path) -> None:
    path = pdfs / "bad_input" / "pdfplumber_password-example.pdf"
    doc = _extract(path, ExtractSettings(password_map={str(path): "test"}))
    assert len(doc.pages) == 4
    # a password for another file is not used for this one
    with pytest.raises(InputError, match="encrypted"):
        _extract(path, ExtractSettings(password_map={"other.pdf": "test"}))
    with pytest.raises(InputError, match=r"2 configured password\(s\) did not open it") as ei:
        _extract(path, ExtractSettings(passwords=["a", "b"]))
    assert "PDFRAG_EXTRACT__PASSWORDS" in (ei.value.hint or "")
    assert "'a'" not in str(ei.value) and "'b'" not in str(ei.value)  # passwords never echoed


def test_passwords_for_order() -> None:
    ex = PyMuPDFExtractor(ExtractSettings(passwords=["p1", "p2", "s"], password_map={"f.pdf": "s", "s3://b/k/f.pdf": "u"}))
    assert ex._passwords_for("s3://b/k/f.pdf") == ["u", "s", "p1", "p2"]
    assert ex._passwords_for("/x/g.pdf") == ["p1", "p2", "s"]


# clean_text -----------------------------------------------------------------


def test_clean_text_strips_controls_and_invisible_chars() -> None:
    assert clean_text("a\x00b\x07c\x1fd\x7fe\x85f") == "abcdef"
    assert clean_text("zero\u200bwidth\u200c\u200djoin\ufeff\u2060ed\ufffd") == "zerowidthjoined"
    assert clean_text("tab\tkept\nnewline") == "tab kept\nnewline"


def test_clean_text_collapses_spaces() -> None:
    assert clean_text("a   b\t\tc\u00a0\u00a0d\u3000e\u2003f") == "a b c d e f"
    assert clean_text("line   \nnext\t \n") == "line\nnext"
    assert clean_text("p1\n\n\n\n\np2") == "p1\n\np2"
    assert clean_text("p1\r\np2\rp3") == "p1\np2\np3"
    assert clean_text("  \n  padded  \n ") == "padded"
    assert clean_text("") == ""


def test_clean_text_keeps_cjk_punctuation_and_nfc() -> None:
    s = "东北电气，发展（股份）有限公司：２０１８年！？；。"
    assert clean_text(s) == s  # no NFKC: full-width stays full-width
    assert clean_text("ﬁle") == "file"  # Latin ligatures expanded (without NFKC)
    assert clean_text("e\u0301") == "\u00e9"  # NFC composes
    assert clean_text("한국어 텍스트") == "한국어 텍스트"


BODY = (
    "Retrieval pipelines read the text layer of a page when it is usable, because it is exact and fast. "
    "A page is sent to OCR only when what its layer decodes to is not text a person could read. "
)


def _page_with(spaced: str, top: float) -> bytes:
    """A page of body text with a letter-spaced line at height ``top``."""
    import pymupdf

    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_textbox(pymupdf.Rect(72, 150, 523, 380), BODY * 3, fontsize=11)
    page.insert_textbox(pymupdf.Rect(72, 500, 523, 740), BODY * 3, fontsize=11)
    page.insert_text((72, top), spaced, fontsize=9)
    return doc.tobytes()


SPACED = " ".join("brazilian journal of microbiology")


def test_spaced_letters_in_the_body_send_the_page_to_ocr() -> None:
    data = _page_with(SPACED, 440)
    page = PyMuPDFExtractor(ExtractSettings(ocr="off")).extract(data, source="spaced.pdf", doc_id="d").pages[0]
    assert "spaced letters" in page.note and page.note.endswith("needs OCR")
    # Without OCR the rest of the layer reads well, so it is kept.
    assert page.method == "text" and "sent to OCR only when" in page.text


def test_letter_spaced_running_header_is_typography(pdfs: Path) -> None:
    data = _page_with(SPACED, 40)
    page = PyMuPDFExtractor(ExtractSettings(ocr="off")).extract(data, source="header.pdf", doc_id="d").pages[0]
    assert "spaced letters" not in page.note and page.method in ("text", "layout")
    # The journal whose every page has such a header reads from its text layer.
    pages = PyMuPDFExtractor(ExtractSettings(ocr="off")).extract(
        (pdfs / "bad_input" / "olmocr_not_parsing2.pdf").read_bytes(), source="j.pdf", doc_id="d"
    ).pages
    assert all(p.method in ("text", "layout") and "spaced" not in p.note for p in pages)
    assert pages[1].text.startswith("Industrial l-asparaginase production presents some challenges")


def _page_with_picture(table: bool) -> bytes:
    """A page of prose with a picture carrying a short label ("Valve V2"),
    and, when ``table``, a ruled 3×3 table below it."""
    import pymupdf

    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    prose = "Paragraph text that a reader reads before the figure. " * 6
    page.insert_textbox(pymupdf.Rect(60, 60, 535, 160), prose, fontsize=11)
    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 64, 48), False)
    pix.set_rect(pix.irect, (200, 220, 240))
    page.insert_image(pymupdf.Rect(100, 180, 420, 420), pixmap=pix)
    page.insert_text((200, 300), "Valve V2", fontsize=9)
    if table:
        xs, ys = [60, 220, 380, 535], [460, 490, 520, 550]
        for y in ys:
            page.draw_line((xs[0], y), (xs[-1], y))
        for x in xs:
            page.draw_line((x, ys[0]), (x, ys[-1]))
        for r, row in enumerate([("Part", "Count", "Cost"), ("Valve", "2", "40"), ("Pipe", "9", "81")]):
            for c, cell in enumerate(row):
                page.insert_text((xs[c] + 6, ys[r] + 19), cell, fontsize=10)
    return doc.tobytes()


@pytest.mark.parametrize("table", [False, True], ids=["prose", "with-a-table"])
def test_labels_printed_on_a_picture_stay_out_of_the_text(table: bool) -> None:
    data = _page_with_picture(table)
    page = PyMuPDFExtractor(ExtractSettings(ocr="off")).extract(data, source="figure.pdf", doc_id="d").pages[0]
    assert "Paragraph text that a reader reads" in page.text
    assert "Valve V2" not in page.text
    if table:
        assert len(page.tables) == 1 and page.tables[0].header == ("Part", "Count", "Cost")
        assert "| Valve | 2 | 40 |" in page.text
