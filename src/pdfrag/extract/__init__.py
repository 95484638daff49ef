"""PDF → text extractors, one file each behind ``Extractor``."""

from __future__ import annotations

from pdfrag.config import ExtractSettings
from pdfrag.extract.base import Extractor


def get_extractor(settings: ExtractSettings) -> Extractor:
    """The configured extractor; with ``extract.isolate`` (the default) it
    runs in worker processes with a hard time limit per page."""
    if settings.extractor == "pymupdf":
        from pdfrag.extract.pymupdf import PyMuPDFExtractor

        inner: Extractor = PyMuPDFExtractor(settings)
    else:
        raise ValueError(f"unknown extractor {settings.extractor!r}")
    if settings.isolate:
        from pdfrag.extract.isolated import IsolatedExtractor

        return IsolatedExtractor(settings, inner)
    return inner


__all__ = ["Extractor", "get_extractor"]
