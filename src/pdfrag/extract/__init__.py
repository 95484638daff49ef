"""PDF → text extractors, one file each behind ``Extractor``."""

from __future__ import annotations

from pdfrag.config import ExtractSettings
from pdfrag.extract.base import Extractor


def get_extractor(settings: ExtractSettings) -> Extractor:
    """The configured extractor; with ``extract.isolate`` (the default) it
    runs in worker processes with a hard time limit per page, and this
    process does not load it (see ``pdfrag.extract.identity``)."""
    if settings.extractor != "pymupdf":
        raise ValueError(f"unknown extractor {settings.extractor!r}")
    if settings.isolate:
        from pdfrag.extract.identity import extractor_config
        from pdfrag.extract.isolated import IsolatedExtractor

        return IsolatedExtractor(settings, extractor_config(settings), lambda: get_extractor(settings.model_copy(update={"isolate": False})))
    from pdfrag.extract.pymupdf import PyMuPDFExtractor

    return PyMuPDFExtractor(settings)


__all__ = ["Extractor", "get_extractor"]
