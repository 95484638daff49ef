"""Chunk hits to document rankings: best chunk per document, batched query
encoding, and deeper searches when chunks of few documents crowd the top."""

from __future__ import annotations

import numpy as np
import pytest

from pdfrag.eval.retrieval import ChunkHit, QueryRun, doc_key, duplicate_sources, rank_documents, retrieve, select_judged


def test_doc_key_modes() -> None:
    assert doc_key("stem", source="/data/papers/report.v2.pdf") == "report.v2"
    assert doc_key("stem", source="s3://b/x/a.pdf", file_name="a.pdf") == "a"
    assert doc_key("stem", source="/data/README") == "README"
    assert doc_key("doc_id", source="/d/a.pdf", doc_id="ab12") == "ab12"
    assert doc_key("source", source="/d/a.pdf") == "/d/a.pdf"
    with pytest.raises(ValueError, match="stem"):
        doc_key("name", source="/d/a.pdf")


def test_rank_documents_best_chunk_wins() -> None:
    hits = [ChunkHit("c1", "a", 0.9), ChunkHit("c2", "b", 0.8), ChunkHit("c3", "a", 0.95), ChunkHit("c4", "c", 0.1)]
    assert rank_documents(hits, 10) == [("a", 0.95), ("b", 0.8), ("c", 0.1)]
    assert rank_documents(hits, 2) == [("a", 0.95), ("b", 0.8)]


class FakeCollection:
    """Ten chunks per document, scored by the query vector's first value."""

    def __init__(self, docs: int) -> None:
        self.rows = [(f"{d}-{i}", f"doc{d}", 1.0 - 0.001 * (10 * d + i)) for d in range(docs) for i in range(10)]
        self.limits: list[tuple[int, int]] = []  # (queries, limit) per call

    def search(self, vectors: np.ndarray, limit: int, texts: list[str]) -> list[list[ChunkHit]]:
        assert len(texts) == len(vectors)
        self.limits.append((len(vectors), limit))
        return [[ChunkHit(c, d, s * float(v[0])) for c, d, s in self.rows[:limit]] for v in vectors]


def test_retrieve_batches_and_goes_deeper() -> None:
    col = FakeCollection(docs=30)
    embedded: list[int] = []

    def embed(texts: list[str]) -> np.ndarray:
        embedded.append(len(texts))
        return np.ones((len(texts), 4), dtype=np.float32)

    queries = {f"q{i}": f"query {i}" for i in range(5)}
    runs = retrieve(queries, embed, col.search, k=20, depth=5, batch_size=2)
    assert embedded == [2, 2, 1]
    assert list(runs) == list(queries)
    # 100 chunks cover 10 documents: each batch is searched again 4x deeper (400 chunks, 30 documents).
    assert col.limits == [(2, 100), (2, 400), (2, 100), (2, 400), (1, 100), (1, 400)]
    r = runs["q0"]
    assert len(r.documents) == 20 and r.documents[0] == ("doc0", pytest.approx(1.0))
    assert len(r.chunks) == 300
    line = r.to_json()
    assert line["query_id"] == "q0" and line["doc_ids"][:11] == ["doc0"] * 10 + ["doc1"]
    assert line["scores"] == sorted(line["scores"], reverse=True) and len(line["chunk_ids"]) == 300


def test_retrieve_stops_when_the_collection_is_exhausted() -> None:
    col = FakeCollection(docs=3)
    runs = retrieve({"q": "x"}, lambda t: np.ones((len(t), 1), np.float32), col.search, k=10, depth=5)
    assert col.limits == [(1, 50)]  # 30 rows < 50: nothing deeper to find
    assert [d for d, _ in runs["q"].documents] == ["doc0", "doc1", "doc2"]


def test_select_judged() -> None:
    chosen, missing = select_judged({"a": "x", "b": "y", "c": "z"}, {"c": {"d": 1}, "a": {"d": 1}, "m": {"d": 1}})
    assert chosen == {"a": "x", "c": "z"} and missing == ["m"]


def test_query_run_json_is_chunk_level() -> None:
    r = QueryRun("q", [ChunkHit("c1", "a", 0.91234567), ChunkHit("c2", "a", 0.5)], [("a", 0.91234567)])
    assert r.to_json() == {"query_id": "q", "doc_ids": ["a", "a"], "scores": [0.912346, 0.5], "chunk_ids": ["c1", "c2"]}


def test_duplicate_sources_lists_documents_held_by_several_files() -> None:
    from pdfrag.ledger import FAILED, INDEXED, LedgerEntry

    entries = [
        LedgerEntry("/c/a.pdf", "a.pdf", "d1", "p", INDEXED),
        LedgerEntry("/c/copy/a.pdf", "a.pdf", "d1", "p", INDEXED),
        LedgerEntry("/c/b.pdf", "b.pdf", "d1", "p", INDEXED),
        LedgerEntry("/c/c.pdf", "c.pdf", "d2", "p", INDEXED),
        LedgerEntry("/c/bad.pdf", "bad.pdf", "d2", "p", FAILED),
    ]
    assert duplicate_sources(entries) == {"d1": ["/c/a.pdf", "/c/b.pdf", "/c/copy/a.pdf"]}


@pytest.mark.integration
def test_a_chunk_of_duplicated_bytes_counts_for_every_file_that_holds_them(tmp_path) -> None:
    """pdfrag indexes identical files once; the qrels may name any of them."""
    from pdfrag.config import IndexSettings, MilvusSettings
    from pdfrag.eval.retrieval import collection_searcher
    from pdfrag.index.milvus import MilvusIndex

    idx = MilvusIndex(MilvusSettings(), IndexSettings(), str(tmp_path / "m.db"), {"model": "m", "dimension": 4, "metric": "COSINE"})
    idx.ensure_collection()
    try:
        vecs = np.eye(4, dtype=np.float32)
        idx.upsert([
            {
                "id": f"{doc[:8]}-{i}", "vector": vecs[i].tolist(), "text": f"text {i}", "doc_id": doc, "source": f"/c/{name}.pdf",
                "page_start": 1, "page_end": 1, "chunk_index": i, "char_start": 0, "char_end": 6, "token_count": 2,
                "pipeline": "p" * 32, "metadata": {"file_name": f"{name}.pdf"},
            }
            for i, (doc, name) in enumerate([("d" * 64, "a"), ("e" * 64, "b")])
        ])
        dups = {"d" * 64: ["/c/a.pdf", "/c/x/copy.pdf"]}
        query = np.array([[1.0, 0.2, 0.0, 0.0]], dtype=np.float32)
        run = retrieve({"q": "x"}, lambda t: query, collection_searcher(idx, "stem", duplicates=dups), k=10)["q"]
        assert [d for d, _ in run.documents] == ["a", "copy", "b"]
        assert run.documents[0][1] == run.documents[1][1]
        assert [h.chunk_id for h in run.chunks] == ["dddddddd-0"] * 2 + ["eeeeeeee-1"]
        plain = retrieve({"q": "x"}, lambda t: query, collection_searcher(idx, "stem"), k=10)["q"]
        assert [d for d, _ in plain.documents] == ["a", "b"]
        by_hash = retrieve({"q": "x"}, lambda t: query, collection_searcher(idx, "doc_id", duplicates=dups), k=10)["q"]
        assert [d for d, _ in by_hash.documents] == ["d" * 64, "e" * 64]
    finally:
        idx.close()
