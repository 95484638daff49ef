"""PyMuPDF text extraction, one page at a time."""

from __future__ import annotations

from typing import Any, ClassVar

import pymupdf

from pdfrag.config import ExtractSettings
from pdfrag.errors import InputError
from pdfrag.extract.base import Extractor
from pdfrag.extract.clean import clean_text
from pdfrag.types import ExtractedDocument, Page

pymupdf.TOOLS.mupdf_display_errors(False)
pymupdf.TOOLS.mupdf_display_warnings(False)

_FLAGS = (
    pymupdf.TEXT_PRESERVE_WHITESPACE
    | pymupdf.TEXT_PRESERVE_LIGATURES
    | pymupdf.TEXT_MEDIABOX_CLIP
    | pymupdf.TEXT_DEHYPHENATE
)


class PyMuPDFExtractor(Extractor):
    name: ClassVar[str] = "pymupdf"

    def __init__(self, settings: ExtractSettings | None = None) -> None:
        self.settings = settings or ExtractSettings()

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "flags": _FLAGS, **self.settings.hash_config()}

    def _passwords_for(self, source: str) -> list[str]:
        s = self.settings
        name = source.rsplit("/", 1)[-1]
        specific = [s.password_map[k] for k in (source, name) if k in s.password_map]
        return specific + [p for p in s.passwords if p not in specific]

    def open(self, data: bytes, source: str) -> pymupdf.Document:
        if not data:
            raise InputError("empty file (0 bytes)", source=source, stage="extract", hint="re-export or re-upload the file")
        try:
            doc = pymupdf.open(stream=data, filetype="pdf")
        except Exception as e:  # noqa: BLE001 - MuPDF raises several types
            raise InputError(
                f"not a readable PDF: {e}", source=source, stage="extract", hint="the file is corrupt or not a PDF; repair or re-export it"
            ) from e
        if doc.needs_pass:
            for pw in self._passwords_for(source):
                if doc.authenticate(pw):
                    break
            else:
                doc.close()
                tried = len(self._passwords_for(source))
                raise InputError(
                    "encrypted: supply a password" + (f" ({tried} configured password(s) did not open it)" if tried else ""),
                    source=source,
                    stage="extract",
                    hint="set PDFRAG_EXTRACT__PASSWORDS or extract.password_map in the config file",
                )
        if doc.page_count == 0:
            doc.close()
            raise InputError("the PDF has 0 pages", source=source, stage="extract", hint="the page tree is broken; repair the file (e.g. qpdf) and retry")
        return doc

    def extract(self, data: bytes, *, source: str, doc_id: str) -> ExtractedDocument:
        doc = self.open(data, source)
        pages: list[Page] = []
        errors = 0
        try:
            for i in range(doc.page_count):
                number = i + 1
                try:
                    page = doc.load_page(i)
                    text = clean_text(page.get_text("text", flags=_FLAGS))
                except Exception as e:  # noqa: BLE001 - one bad page must not sink the file
                    errors += 1
                    pages.append(Page(number, "", method="error", note=f"page {number}: {e}"))
                    continue
                if len(text) >= self.settings.min_page_chars:
                    pages.append(Page(number, text, method="text"))
                else:
                    has_images = bool(page.get_images(full=False))
                    note = "no text layer (scanned or image-only page): needs OCR" if has_images else "no text on this page"
                    pages.append(Page(number, "", method="empty", note=note))
            metadata = {k: v for k, v in (doc.metadata or {}).items() if isinstance(v, str) and v}
        finally:
            doc.close()
        if not any(p.text for p in pages):
            if errors == len(pages):
                reason = f"every page failed to parse ({pages[0].note})"
                hint = "the file is damaged; repair or re-export it"
            elif any(p.note.startswith("no text layer") for p in pages):
                reason = "no text layer on any page (scanned or image-only PDF): needs OCR"
                hint = "this pdfrag version has no OCR yet; run the PDF through an OCR tool (e.g. ocrmypdf) first"
            else:
                reason = "no extractable text on any page"
                hint = "the PDF holds no text; nothing to index"
            raise InputError(reason, source=source, stage="extract", hint=hint)
        return ExtractedDocument(doc_id=doc_id, source=source, pages=pages, metadata=metadata)
