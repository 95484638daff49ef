"""PDF → text extractors, one file each behind ``Extractor``."""

from __future__ import annotations

from pdfrag.config import ExtractSettings
from pdfrag.extract.base import Extractor


def get_extractor(settings: ExtractSettings) -> Extractor:
    if settings.extractor == "pymupdf":
        from pdfrag.extract.pymupdf import PyMuPDFExtractor

        return PyMuPDFExtractor(settings)
    raise ValueError(f"unknown extractor {settings.extractor!r}")


__all__ = ["Extractor", "get_extractor"]
