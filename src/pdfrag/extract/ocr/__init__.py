"""OCR for scanned and image-only pages (optional extra ``pdfrag[ocr]``)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from pdfrag.errors import ConfigError

if TYPE_CHECKING:  # ocr.page imports PyMuPDF (0.6 s); ocr_available must not
    from pdfrag.extract.ocr.page import PageReader


def ocr_available(engine: str) -> bool:
    """Can ``engine`` run here (its package installed)? Cheap: no model loads."""
    import importlib.util

    if engine == "off":
        return False
    if engine == "paddle":
        return importlib.util.find_spec("paddleocr") is not None
    return importlib.util.find_spec("rapidocr") is not None


@lru_cache(maxsize=4)
def get_reader(
    engine: str, dpi: int, layout: bool, tables: bool, paddle_model_dir: str = "", threads: int = 0, release_memory: bool = True
) -> PageReader | None:
    """A page reader for ``engine`` (auto | rapidocr | paddle | off). ``auto``
    gives None when the OCR extra is not installed; a named engine that
    cannot load raises ``ConfigError``."""
    if engine == "off":
        return None
    try:
        if engine == "paddle":
            from pdfrag.extract.ocr.paddle import PaddleOcrEngine

            ocr = PaddleOcrEngine(paddle_model_dir, threads)
        else:
            from pdfrag.extract.ocr.rapid import RapidOcrEngine

            ocr = RapidOcrEngine(threads, release_memory=release_memory)
    except ConfigError:
        if engine == "auto":
            return None
        raise
    from pdfrag.extract.ocr.page import PageReader

    lay = tab = None
    if layout:
        try:
            from pdfrag.extract.ocr.rapid import RapidLayoutModel

            lay = RapidLayoutModel(threads=threads)
        except ImportError:
            lay = None
    if tables:
        try:
            from pdfrag.extract.ocr.rapid import RapidTableModel

            tab = RapidTableModel()
        except ImportError:
            tab = None
    return PageReader(ocr, lay, tab, dpi=dpi)


__all__ = ["get_reader", "ocr_available"]
