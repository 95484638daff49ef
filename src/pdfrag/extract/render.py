"""What ``pdfrag extract`` prints: pages as JSON or Markdown."""

from __future__ import annotations

from typing import Any

from pdfrag.types import ExtractedDocument, Page


def page_json(p: Page) -> dict[str, Any]:
    return {
        "page": p.page,
        "method": p.method,
        "note": p.note,
        "text": p.text,
        "tables": [
            {"index": t.index, "bbox": list(t.bbox) if t.bbox else None, "header": list(t.header), "rows": [list(r) for r in t.rows], "method": t.method}
            for t in p.tables
        ],
        "headings": [{"text": p.text[b.start : b.end], "level": b.level, "path": list(b.heading_path)} for b in p.blocks if b.kind == "heading"],
        "blocks": [
            {"start": b.start, "end": b.end, "kind": b.kind, "heading_path": list(b.heading_path), "bbox": list(b.bbox) if b.bbox else None}
            for b in p.blocks
        ],
    }


def document_json(doc: ExtractedDocument) -> dict[str, Any]:
    return {"source": doc.source, "doc_id": doc.doc_id, "metadata": doc.metadata, "pages": [page_json(p) for p in doc.pages]}


def page_markdown(p: Page) -> str:
    """Headings as ``#`` lines, tables as they are (already Markdown)."""
    out = []
    for b in p.blocks:
        text = p.text[b.start : b.end]
        if b.kind == "heading":
            out.append("#" * max(1, min(b.level, 6)) + " " + " ".join(text.split()))
        else:
            out.append(text)
    if not p.blocks and p.text:
        out.append(p.text)
    return "\n\n".join(out)


def document_markdown(doc: ExtractedDocument) -> str:
    parts = []
    for p in doc.pages:
        parts.append(f"<!-- page {p.page} · {p.method}{' · ' + p.note if p.note else ''} -->")
        body = page_markdown(p)
        if body:
            parts.append(body)
    return "\n\n".join(parts) + "\n"
