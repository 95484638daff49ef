"""Query the collection: embed the query with the collection's model, search."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pdfrag.errors import ConfigError
from pdfrag.pipeline import Pipeline


@dataclass(frozen=True)
class SearchResult:
    rank: int
    chunk_id: str
    score: float
    text: str
    source: str
    file_name: str
    page_start: int
    page_end: int
    doc_id: str
    chunk_index: int

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def search(p: Pipeline, query: str, k: int = 5, expr: str = "") -> list[SearchResult]:
    if not query.strip():
        raise ConfigError("empty query", stage="search")
    if not p.index.exists():
        raise ConfigError(
            f"no collection {p.index.collection!r} at {p.index.uri}", stage="search", hint="run `pdfrag ingest SOURCE` first"
        )
    p.index.check_identity()
    p.index.load()
    vec = p.embedder.embed_queries([query])
    hits = p.index.search(vec, k, expr)[0]
    out = []
    for i, h in enumerate(hits, 1):
        e = h.entity
        md = e.get("metadata") or {}
        out.append(
            SearchResult(
                rank=i, chunk_id=h.chunk_id, score=round(h.score, 4), text=e["text"], source=e["source"],
                file_name=md.get("file_name", e["source"].rsplit("/", 1)[-1]), page_start=e["page_start"], page_end=e["page_end"],
                doc_id=e["doc_id"], chunk_index=e["chunk_index"],
            )
        )
    return out
