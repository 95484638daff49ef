"""Extractor interface: PDF bytes → pages of text with page numbers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from pdfrag.types import ExtractedDocument


class Extractor(ABC):
    name: ClassVar[str]
    # Called with each page number once the page is read (the isolated
    # runner's watchdog listens to it).
    on_page: Callable[[int], None] | None = None
    # Called with the document's page count once it is open.
    on_pages: Callable[[int], None] | None = None

    @abstractmethod
    def extract(self, data: bytes, *, source: str, doc_id: str) -> ExtractedDocument:
        """Raise ``InputError`` naming the file, page and what to do when the
        PDF cannot be read at all; degrade per page otherwise."""

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """What decides the output: part of the stage key."""
