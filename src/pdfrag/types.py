"""Typed records passed between stages. Plain dataclasses, no behaviour."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

BBox = tuple[float, float, float, float]  # x0, y0, x1, y1 in PDF points, origin top-left


@dataclass(frozen=True)
class Block:
    """A region of a page's text, in reading order: ``page.text[start:end]``.

    ``kind`` is ``text``, ``heading``, ``table``, ``figure``, ``caption``,
    ``list`` or ``formula``. ``heading_path`` holds the headings the block
    sits under (outermost first; for a heading, its parents and itself).
    """

    start: int
    end: int
    kind: str = "text"
    heading_path: tuple[str, ...] = ()
    level: int = 0  # heading level (1 = top) when kind == "heading"
    bbox: BBox | None = None
    table_index: int | None = None  # index into Page.tables when kind == "table"


@dataclass(frozen=True)
class Table:
    """A table kept as data; its Markdown also sits in the page text."""

    index: int  # position among the document's tables (0-based)
    page: int
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    markdown: str
    bbox: BBox | None = None
    method: str = "pymupdf"  # pymupdf | pdfplumber | ocr


@dataclass(frozen=True)
class Page:
    """One page's text. ``page`` is 1-based, as a person counts pages."""

    page: int
    text: str
    method: str = "text"  # text | layout | ocr | empty | error
    note: str = ""  # why this method, or why the page is degraded (e.g. "no text layer: needs OCR")
    blocks: tuple[Block, ...] = ()
    tables: tuple[Table, ...] = ()

    @property
    def headings(self) -> list[str]:
        return [self.text[b.start : b.end] for b in self.blocks if b.kind == "heading"]


@dataclass(frozen=True)
class ExtractedDocument:
    doc_id: str
    source: str
    pages: list[Page]
    metadata: dict[str, Any] = field(default_factory=dict)  # the PDF's own (title, author, ...)
    stats: dict[str, Any] = field(default_factory=dict)  # how extraction went (pages by method, seconds)

    @property
    def text_pages(self) -> int:
        return sum(1 for p in self.pages if p.text.strip())


@dataclass(frozen=True)
class Chunk:
    """A span of the document text: ``text == document_text[char_start:char_end]``."""

    chunk_id: str
    doc_id: str
    chunk_index: int
    text: str
    char_start: int
    char_end: int
    page_start: int
    page_end: int
    token_count: int
    heading_path: tuple[str, ...] = ()  # headings the chunk sits under, outermost first
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceFile:
    """A PDF found in the source: where it is, and the hash of its bytes."""

    uri: str
    name: str
    size: int
    doc_id: str
    fingerprint: str = ""  # see pdfrag.sources.SourceRef


@dataclass(frozen=True)
class StageOutput:
    """Where a stage wrote its Parquet, and how many rows; passed between tasks
    instead of frames so that messages stay small."""

    stage: str
    key: str
    uri: str
    rows: int
    cached: bool = False
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class Failure:
    source: str
    stage: str
    error: str
    retryable: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunSummary:
    run_id: str
    source: str
    files: int = 0
    indexed: int = 0
    changed: int = 0  # of the indexed: files whose bytes replaced an earlier version
    unchanged: int = 0
    failed: list[Failure] = field(default_factory=list)
    known_failures: list[Failure] = field(default_factory=list)
    pruned: int = 0
    chunks_added: int = 0
    chunks_deleted: int = 0
    chunks_embedded: int = 0
    pages: int = 0
    seconds: float = 0.0
    started_at: str = ""
    flow_run_id: str | None = None
    documents: list[dict[str, Any]] = field(default_factory=list)
    # Ledger or run-record writes that failed (e.g. Milvus down at the end);
    # the failures themselves are still in this summary and its report.
    bookkeeping_errors: list[str] = field(default_factory=list)
    # For the person who ran it: e.g. text the model cannot read well.
    warnings: list[str] = field(default_factory=list)

    @property
    def completed_with_failures(self) -> bool:
        return bool(self.failed)

    def to_report(self) -> dict[str, Any]:
        """The JSON written by ``pdfrag ingest --report``."""
        return {
            "indexed": self.indexed,
            "unchanged": self.unchanged,
            "failed": [f.to_dict() for f in self.failed],
            "chunks_added": self.chunks_added,
            "chunks_deleted": self.chunks_deleted,
            "pages": self.pages,
            "seconds": round(self.seconds, 3),
            "files": self.files,
            "changed": self.changed,
            "pruned": self.pruned,
            "chunks_embedded": self.chunks_embedded,
            "known_failures": [f.to_dict() for f in self.known_failures],
            "run_id": self.run_id,
            "flow_run_id": self.flow_run_id,
            "source": self.source,
            "started_at": self.started_at,
            "documents": self.documents,
            "bookkeeping_errors": self.bookkeeping_errors,
            "warnings": self.warnings,
        }
