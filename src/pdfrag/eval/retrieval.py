"""Run a BEIR query set against a collection and rank documents.

Queries are embedded in batches and searched in batches. A document's score
is its best chunk's. The chunk-level search goes ``depth`` times deeper than
the ``k`` documents wanted (several chunks of one document crowd the top);
a query whose chunks still cover fewer than ``k`` documents is searched again
deeper, until it has ``k`` or the collection has no more rows.

The search itself is a callable, so the same runner ranks pdfrag's
collection (``collection_searcher``) and any other store (the ingest
benchmark's reference pipeline).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import numpy as np

# Milvus's largest search limit.
MAX_DEPTH = 16_384
DOC_ID_MODES = ("stem", "doc_id", "source")


@dataclass(frozen=True)
class ChunkHit:
    chunk_id: str
    doc: str  # the document id the qrels use (see doc_key)
    score: float


@dataclass
class QueryRun:
    query_id: str
    chunks: list[ChunkHit] = field(default_factory=list)  # best first
    documents: list[tuple[str, float]] = field(default_factory=list)  # best first, k at most

    def to_json(self) -> dict[str, Any]:
        """The ``--run-out`` line: chunk level, best first (a document appears
        once per retrieved chunk; its first appearance is its score; a chunk
        of identical files appears once for each)."""
        return {
            "query_id": self.query_id,
            "doc_ids": [h.doc for h in self.chunks],
            "scores": [round(h.score, 6) for h in self.chunks],
            "chunk_ids": [h.chunk_id for h in self.chunks],
        }


# Embeds query texts → (n, dim) float32; searches the query vectors (with
# their texts, for full-text and hybrid search) at a chunk depth → hits per
# query, best first.
EmbedFn = Callable[[list[str]], np.ndarray]
SearchFn = Callable[[np.ndarray, int, list[str]], list[list[ChunkHit]]]
SEARCH_MODES = ("dense", "hybrid")


def doc_key(mode: str, *, source: str, doc_id: str = "", file_name: str = "") -> str:
    """The id of a chunk's document in the qrels: its file name without the
    extension (``stem``), its content hash (``doc_id``), or its URI."""
    if mode == "stem":
        name = file_name or PurePosixPath(source.replace("\\", "/")).name
        return name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    if mode == "doc_id":
        return doc_id
    if mode == "source":
        return source
    raise ValueError(f"unknown document id mode {mode!r}: use one of {', '.join(DOC_ID_MODES)}")


def rank_documents(hits: Sequence[ChunkHit], k: int) -> list[tuple[str, float]]:
    """Best chunk per document, best first, ``k`` documents at most."""
    best: dict[str, float] = {}
    for h in hits:
        if h.doc not in best or h.score > best[h.doc]:
            best[h.doc] = h.score
    return sorted(best.items(), key=lambda x: -x[1])[:k]


def retrieve(
    queries: Mapping[str, str],
    embed: EmbedFn,
    search: SearchFn,
    k: int = 100,
    *,
    depth: int = 5,
    batch_size: int = 32,
    max_depth: int = MAX_DEPTH,
) -> dict[str, QueryRun]:
    """Every query's chunk hits and document ranking (``k`` documents)."""
    if k < 1:
        raise ValueError("k must be at least 1")
    ids = list(queries)
    runs: dict[str, QueryRun] = {}
    for start in range(0, len(ids), batch_size):
        batch = ids[start : start + batch_size]
        texts = [queries[q] for q in batch]
        vecs = np.asarray(embed(texts), dtype=np.float32)
        limit = min(k * depth, max_depth)
        todo = list(range(len(batch)))
        while todo:
            results = search(vecs[todo], limit, [texts[i] for i in todo])
            again = []
            for i, hits in zip(todo, results, strict=True):
                docs = rank_documents(hits, k)
                runs[batch[i]] = QueryRun(batch[i], list(hits), docs)
                # A full page of hits with fewer than k documents: go deeper.
                if len(docs) < k and len(hits) >= limit and limit < max_depth:
                    again.append(i)
            todo = again
            limit = min(limit * 4, max_depth)
    return runs


def duplicate_sources(entries: Iterable[Any]) -> dict[str, list[str]]:
    """Content hash → every indexed source with those bytes, for the
    documents that more than one file holds (ledger entries: ``doc_id``,
    ``source``, ``status``). pdfrag indexes such bytes once, under one of
    the files."""
    by_doc: dict[str, set[str]] = {}
    for e in entries:
        if e.status == "indexed" and e.doc_id:
            by_doc.setdefault(e.doc_id, set()).add(e.source)
    return {d: sorted(s) for d, s in by_doc.items() if len(s) > 1}


def collection_searcher(
    index, mode: str = "stem", expr: str = "", search_mode: str = "dense", rrf_k: int = 60, english_only: bool = False,
    duplicates: Mapping[str, Sequence[str]] | None = None,
) -> SearchFn:
    """Search over pdfrag's collection (a ``MilvusIndex``): ``dense`` (the
    embedding model alone) or ``hybrid`` (BM25 over the query text fused with
    the dense results by reciprocal rank, as the query service searches,
    BM25 leading for queries an ``english_only`` model does not read:
    ``pdfrag.search.hybrid_hits``; scores are then RRF scores).

    ``duplicates`` (``duplicate_sources``): a chunk of bytes several files
    hold counts for each of them, at the same score, since the qrels may
    name any of the files."""
    if mode not in DOC_ID_MODES:
        raise ValueError(f"unknown document id mode {mode!r}: use one of {', '.join(DOC_ID_MODES)}")
    if search_mode not in SEARCH_MODES:
        raise ValueError(f"unknown search mode {search_mode!r}: use one of {', '.join(SEARCH_MODES)}")
    from pdfrag.search import hybrid_hits  # here: pdfrag.search imports the pipeline

    def search(vectors: np.ndarray, limit: int, texts: list[str]) -> list[list[ChunkHit]]:
        out = []
        if search_mode == "hybrid":
            found = [
                hybrid_hits(index, v, t, limit, expr, candidates=limit, rrf_k=rrf_k, english_only=english_only)
                for v, t in zip(vectors, texts, strict=True)
            ]
        else:
            found = index.search(vectors, limit, expr)
        for hits in found:
            row = []
            for h in hits:
                e = h.entity
                md = e.get("metadata") or {}
                doc = doc_key(mode, source=e.get("source", ""), doc_id=e.get("doc_id", ""), file_name=md.get("file_name", ""))
                row.append(ChunkHit(h.chunk_id, doc, float(h.score)))
                for source in (duplicates or {}).get(e.get("doc_id", ""), ()):
                    also = doc_key(mode, source=source, doc_id=e.get("doc_id", ""))
                    if also != doc:
                        row.append(ChunkHit(h.chunk_id, also, float(h.score)))
            out.append(row)
        return out

    return search


def select_judged(queries: Mapping[str, str], qrels: Mapping[str, Mapping[str, int]]) -> tuple[dict[str, str], list[str]]:
    """The queries that appear in the qrels (file order), and the judged
    query ids missing from the queries file."""
    chosen = {q: t for q, t in queries.items() if q in qrels}
    missing = [q for q in qrels if q not in queries]
    return chosen, missing
