"""What decides an extractor's output (its part of the cache keys), known
without loading the extractor.

The ingest's own process needs an extractor's identity for every stage key,
while with ``extract.isolate`` (the default) the extraction itself runs in
worker processes. Importing PyMuPDF costs about 0.6 s (it imports its layout
package too), which an unchanged refresh, or any run, would otherwise pay in
that process before its first file.
"""

from __future__ import annotations

from typing import Any

from pdfrag.config import ExtractSettings

# pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP, spelled out so
# that PyMuPDF need not be imported to know them (tests check them against it).
PYMUPDF_TEXT_FLAGS = 2 | 64
# Goes up whenever the same settings give other text (3: figure labels
# dropped, OCR lines batched by cost; 4: lines left as blocks of their own
# joined into their paragraphs), so cached pages of older code are not
# reused.
PYMUPDF_VERSION = 4


def extractor_config(settings: ExtractSettings) -> dict[str, Any]:
    """The configured extractor's ``config()``."""
    if settings.extractor != "pymupdf":
        raise ValueError(f"unknown extractor {settings.extractor!r}")
    # Whether OCR can run decides the output (scanned pages read or not);
    # known without loading the models.
    from pdfrag.extract.ocr import ocr_available

    return {
        "name": "pymupdf", "version": PYMUPDF_VERSION, "flags": PYMUPDF_TEXT_FLAGS, **settings.hash_config(),
        "ocr_available": ocr_available(settings.ocr),
    }
