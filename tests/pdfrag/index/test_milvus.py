"""Tests for pdfrag.index.milvus.MilvusIndex on a real Milvus Lite database in
tmp_path. One client per Lite path at a time: a test closes its index before
opening another one on the same path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pdfrag.config import IndexSettings, MilvusSettings
from pdfrag.errors import ConfigError, ModelMismatchError, PdfragError, TransientError
from pdfrag.index.milvus import (
    BM25_TEXT_FIELD,
    SCHEMA_VERSION,
    SEGMENTED,
    TEXT_MAX_BYTES,
    MilvusIndex,
    analyzer_candidates,
    check_row,
    is_lite_uri,
    resolve_index_type,
    translate_error,
)

pytestmark = pytest.mark.integration

IDENTITY = {"model": "m", "dimension": 8, "metric": "COSINE"}
DOC_A = "a" * 64
DOC_B = "b" * 64
PIPE_1 = "1" * 32
PIPE_2 = "2" * 32


def _unit(rng: np.random.Generator, n: int, dim: int = 8) -> np.ndarray:
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def make_rows(n: int, doc: str = DOC_A, pipe: str = PIPE_1, seed: int = 0, start: int = 0, text: str = "chunk {i}") -> list[dict]:
    vecs = _unit(np.random.default_rng(seed), n)
    return [
        {
            "id": f"{doc[:8]}{pipe[:8]}{start + i:016x}",
            "vector": vecs[i].tolist(),
            "text": text.format(i=start + i),
            "doc_id": doc,
            "source": f"/corpus/{doc[:4]}.pdf",
            "page_start": 1,
            "page_end": 2,
            "chunk_index": start + i,
            "char_start": 10 * i,
            "char_end": 10 * i + 9,
            "token_count": 3,
            "pipeline": pipe,
            "metadata": {"file_name": f"{doc[:4]}.pdf"},
        }
        for i in range(n)
    ]


def open_index(path: Path, identity: dict | None = None, index: IndexSettings | None = None, **milvus) -> MilvusIndex:
    return MilvusIndex(MilvusSettings(**milvus), index or IndexSettings(), str(path), dict(identity or IDENTITY))


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    return tmp_path / "m.db"


@pytest.fixture()
def index(db: Path):
    idx = open_index(db)
    idx.ensure_collection()
    yield idx
    idx.close()


def test_ensure_collection_creates_then_reopens(db: Path) -> None:
    idx = open_index(db)
    try:
        assert not idx.exists()
        assert idx.ensure_collection() is True
        assert idx.exists()
        assert idx.ensure_collection() is False  # already there
        assert idx.count() == 0
    finally:
        idx.close()
    again = open_index(db)
    try:
        assert again.exists()
        assert again.ensure_collection() is False
        again.check_identity()
    finally:
        again.close()


def test_a_missing_lite_database_has_no_collection_and_is_not_created(db: Path) -> None:
    # `pdfrag search` before any ingest asks exists(): it must not leave an
    # empty Milvus Lite database behind (nor take the seconds to start one).
    idx = open_index(db)
    try:
        assert not idx.exists()
        assert not db.exists()
        assert idx._client is None
    finally:
        idx.close()


def test_built_with_records_identity(index: MilvusIndex) -> None:
    built = index.built_with()
    assert built == {"model": "m", "dimension": 8, "metric": "COSINE", "index_type": "FLAT", "schema_version": SCHEMA_VERSION}
    stats = index.stats()
    assert stats["chunks"] == 0 and stats["collection"] == "pdfrag" and stats["model"] == "m"
    assert index.index_type == "FLAT"  # AUTO on Lite


@pytest.mark.parametrize(
    "other,what",
    [
        ({"model": "m", "dimension": 16, "metric": "COSINE"}, "dimension"),
        ({"model": "other-model", "dimension": 8, "metric": "COSINE"}, "model"),
        ({"model": "m", "dimension": 8, "metric": "IP"}, "metric"),
    ],
)
def test_other_model_on_same_db_is_refused(db: Path, other: dict, what: str) -> None:
    first = open_index(db)
    first.ensure_collection()
    first.upsert(make_rows(3))
    first.close()
    second = open_index(db, other)
    try:
        with pytest.raises(ModelMismatchError) as ei:
            second.ensure_collection()
        assert f"{what}: collection has" in str(ei.value)
        assert isinstance(ei.value, ConfigError)
        assert ei.value.retryable is False
        assert second.count() == 3  # nothing was dropped
    finally:
        second.close()


def test_foreign_collection_is_refused(db: Path) -> None:
    idx = open_index(db)
    idx.client.create_collection("foreign", dimension=8)
    idx.close()
    other = open_index(db, collection="foreign")
    try:
        with pytest.raises(ModelMismatchError, match="not created by pdfrag"):
            other.ensure_collection()
    finally:
        other.close()


def test_upsert_count_and_no_duplicates(index: MilvusIndex) -> None:
    rows = make_rows(20)
    assert index.upsert(rows) == 20
    assert index.count() == 20
    assert index.upsert(rows) == 20
    assert index.count() == 20  # same ids: replaced, not added
    changed = [dict(r, text="updated " + r["text"]) for r in rows[:5]]
    index.upsert(changed)
    assert index.count() == 20
    got = {r["id"]: r for r in index.get([r["id"] for r in rows[:5]])}
    assert set(got) == {r["id"] for r in rows[:5]}
    assert all(g["text"].startswith("updated chunk") for g in got.values())
    one = got[rows[0]["id"]]
    assert one["doc_id"] == DOC_A and one["page_end"] == 2 and one["metadata"] == {"file_name": "aaaa.pdf"}
    assert index.get([]) == []
    assert index.upsert([]) == 0


def test_batches_respect_insert_batch_rows(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    idx = open_index(db, insert_batch_rows=7)
    try:
        idx.ensure_collection()
        client = idx.client
        sizes: list[int] = []
        real = client.upsert

        def recording(collection, data, *a, **kw):
            sizes.append(len(data))
            return real(collection, data, *a, **kw)

        monkeypatch.setattr(client, "upsert", recording)
        assert idx.upsert(make_rows(20)) == 20
        assert sizes == [7, 7, 6]
        assert idx.count() == 20
    finally:
        idx.close()


def test_batches_respect_insert_batch_bytes(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    idx = open_index(db, insert_batch_bytes=1024)
    try:
        idx.ensure_collection()
        client = idx.client
        sizes: list[int] = []
        real = client.upsert
        monkeypatch.setattr(client, "upsert", lambda c, data, *a, **kw: (sizes.append(len(data)), real(c, data, *a, **kw))[1])
        rows = make_rows(6, text="中" * 150 + " {i}")  # ~450 bytes of text a row
        idx.upsert(rows)
        assert sum(sizes) == 6
        assert max(sizes) <= 2 and len(sizes) >= 3
        assert idx.count() == 6
    finally:
        idx.close()


def test_delete_doc_and_stale(index: MilvusIndex) -> None:
    index.upsert(make_rows(5, DOC_A, PIPE_1, seed=1))
    index.upsert(make_rows(3, DOC_A, PIPE_2, seed=2))
    index.upsert(make_rows(4, DOC_B, PIPE_1, seed=3))
    assert index.count() == 12
    assert index.delete_doc_stale(DOC_A, PIPE_2) == 5  # A's rows of the other pipeline
    assert index.count() == 7
    assert index.delete_doc_stale(DOC_A, PIPE_2) == 0
    assert sorted(index.chunk_ids(DOC_A)) == sorted(r["id"] for r in make_rows(3, DOC_A, PIPE_2))
    assert index.delete_doc(DOC_A) == 3
    assert index.delete_doc(DOC_A) == 0
    assert index.count() == 4
    assert len(index.chunk_ids(DOC_B)) == 4
    assert index.chunk_ids(DOC_A) == []
    with pytest.raises(ValueError, match="not a hex id"):
        index.delete_doc('" or doc_id != "')
    assert index.count() == 4


def test_query_all_pages(index: MilvusIndex) -> None:
    rows = make_rows(20)
    index.upsert(rows)
    got = index._query_all(f'doc_id == "{DOC_A}"', ["id"], page=7)
    assert sorted(r["id"] for r in got) == sorted(r["id"] for r in rows)


def test_search_returns_nearest(index: MilvusIndex) -> None:
    rows = make_rows(30, DOC_A, seed=5) + make_rows(10, DOC_B, seed=6)
    index.upsert(rows)
    rng = np.random.default_rng(9)
    for target in (rows[3], rows[17], rows[35]):
        q = np.asarray(target["vector"], dtype=np.float32) + rng.normal(scale=0.01, size=8).astype(np.float32)
        hits = index.search(q[None, :], 5)[0]
        assert len(hits) == 5
        assert hits[0].chunk_id == target["id"]
        assert hits[0].score > 0.99
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)
        assert hits[0].entity["text"] == target["text"]
        assert hits[0].entity["doc_id"] == target["doc_id"]
    # exhaustive check against numpy on one query
    q = _unit(np.random.default_rng(4), 1)[0]
    mat = np.array([r["vector"] for r in rows], dtype=np.float32)
    best = [rows[i]["id"] for i in np.argsort(-(mat @ q))[:3]]
    assert [h.chunk_id for h in index.search(q[None, :], 3)[0]] == best
    # filtered search
    hits = index.search(np.asarray(rows[3]["vector"])[None, :], 5, expr=f'doc_id == "{DOC_B}"')[0]
    assert len(hits) == 5 and all(h.entity["doc_id"] == DOC_B for h in hits)
    # several queries at once
    two = index.search(np.array([rows[0]["vector"], rows[1]["vector"]], dtype=np.float32), 1)
    assert [h[0].chunk_id for h in two] == [rows[0]["id"], rows[1]["id"]]


def test_check_row_dimension_and_text_bytes(index: MilvusIndex) -> None:
    row = make_rows(1)[0]
    check_row(row, 8)
    with pytest.raises(ModelMismatchError, match="vector of 4 dimensions for a 8-d collection"):
        check_row(dict(row, vector=[0.5] * 4), 8)
    ok = dict(row, text="中" * (TEXT_MAX_BYTES // 3))  # 65535 bytes exactly
    assert len(ok["text"].encode("utf-8")) == TEXT_MAX_BYTES
    check_row(ok, 8)
    over = dict(row, text="中" * (TEXT_MAX_BYTES // 3 + 1))  # 21846 characters, 65538 bytes
    assert len(over["text"]) < TEXT_MAX_BYTES < len(over["text"].encode("utf-8"))
    with pytest.raises(PdfragError, match="65538 UTF-8 bytes") as ei:
        check_row(over, 8)
    assert ei.value.stage == "index" and ei.value.page == 1
    with pytest.raises(PdfragError, match="source URI longer"):
        check_row(dict(row, source="/" + "x" * 5000), 8)
    # upsert checks every row before writing any
    with pytest.raises(PdfragError):
        index.upsert(make_rows(3) + [over])
    assert index.count() == 0
    with pytest.raises(ModelMismatchError):
        index.upsert([dict(row, vector=[0.1] * 9)])
    index.upsert([ok])
    assert index.get([ok["id"]])[0]["text"] == ok["text"]


def test_resolve_index_type() -> None:
    assert is_lite_uri("/tmp/m.db") and is_lite_uri("m.db")
    assert not is_lite_uri("http://host:19530") and not is_lite_uri("https://x") and not is_lite_uri("unix:/tmp/s")
    assert resolve_index_type(IndexSettings(), "/tmp/m.db") == "FLAT"
    assert resolve_index_type(IndexSettings(), "http://host:19530") == "HNSW"
    assert resolve_index_type(IndexSettings(), "http://host:19530", "v2.5.4") == "HNSW"
    assert resolve_index_type(IndexSettings(), "http://127.0.0.1:19530", "milvus_lite-3.2.2") == "FLAT"
    assert resolve_index_type(IndexSettings(type="IVF_FLAT"), "/tmp/m.db") == "IVF_FLAT"


def test_translate_error() -> None:
    e = translate_error(RuntimeError("Fail connecting to server on localhost:19530"), "connect", "http://localhost:19530")
    assert isinstance(e, TransientError) and e.retryable
    e = translate_error(RuntimeError("<MilvusException: (code=2, message=StatusCode.UNAVAILABLE)>"), "search", "u")
    assert isinstance(e, TransientError)
    e = translate_error(RuntimeError("Open local milvus failed: DataDirLocked"), "connect", "/x/m.db")
    assert isinstance(e, ConfigError) and "in use by another process" in str(e)
    e = translate_error(ValueError("schema mismatch"), "upsert", "u")
    assert type(e) is PdfragError and not e.retryable and "upsert: schema mismatch" in str(e)
    original = ModelMismatchError("x")
    assert translate_error(original, "w", "u") is original


def test_the_collection_records_which_pipelines_may_have_rows(index: MilvusIndex) -> None:
    assert index.pipelines() == set()  # a new collection holds none
    index.record_pipelines({PIPE_1, PIPE_2})
    assert index.pipelines() == {PIPE_1, PIPE_2}
    assert index.built_with() is not None  # the other properties stay
    index.upsert(make_rows(5, DOC_A, PIPE_1, seed=1))
    index.upsert(make_rows(3, DOC_B, PIPE_2, seed=2))
    assert index.pipelines_present(PIPE_1) == {PIPE_2}
    assert index.pipelines_present(PIPE_2) == {PIPE_1}
    assert index.pipelines_present("3" * 32) == {PIPE_1, PIPE_2}
    index.delete_doc(DOC_B)
    assert index.pipelines_present(PIPE_1) == set()


def test_count_ids_counts_the_rows_that_exist(index: MilvusIndex) -> None:
    rows = make_rows(5, DOC_A, PIPE_1)
    assert index.count_ids([r["id"] for r in rows]) == 0
    index.upsert(rows[:3])
    assert index.count_ids([r["id"] for r in rows]) == 3
    assert index.count_ids([]) == 0


def test_delete_docs_deletes_every_row_of_each(index: MilvusIndex) -> None:
    index.upsert(make_rows(5, DOC_A, PIPE_1, seed=1))
    index.upsert(make_rows(3, DOC_A, PIPE_2, seed=2))
    index.upsert(make_rows(4, DOC_B, PIPE_1, seed=3))
    assert index.delete_docs([DOC_A, "c" * 64, DOC_A]) == 8
    assert index.count() == 4 and index.chunk_ids(DOC_A) == []
    assert index.delete_docs([]) == 0


def test_analyzer_candidates_per_backend() -> None:
    names = lambda setting, lite: [name for name, _ in analyzer_candidates(setting, lite=lite)]  # noqa: E731
    assert names("auto", True) == [SEGMENTED, "standard"]  # Milvus Lite: pdfrag cuts the Chinese
    assert names("auto", False) == ["jieba", "standard"]  # a server: its own jieba
    assert names("jieba", True) == ["jieba"] and names("standard", False) == ["standard"]
    assert dict(analyzer_candidates(SEGMENTED))[SEGMENTED]["tokenizer"] == "standard"
    with pytest.raises(ConfigError, match="segmented analyzer is for Milvus Lite"):
        analyzer_candidates(SEGMENTED, lite=False)


ZH = ["白细胞计数升高提示细菌感染", "血小板减少需要复查血常规", "Section 2.1 covers GPU memory"]


def test_segmented_full_text_keeps_text_and_finds_chinese_words(index: MilvusIndex) -> None:
    """The default on Milvus Lite: BM25 reads a field pdfrag fills with the
    words; ``text`` comes back as written; queries are cut the same way."""
    assert index.full_text() == {"kind": "bm25", "analyzer": SEGMENTED} and index.segmented
    fields = {f["name"] for f in index.client.describe_collection(index.collection)["fields"]}
    assert BM25_TEXT_FIELD in fields
    rows = [dict(r, text=ZH[i % 3]) for i, r in enumerate(make_rows(6))]
    index.upsert(rows)
    index.upsert(rows)  # again: same ids, no duplicates
    assert index.count() == 6
    assert {r["text"] for r in index.get([r["id"] for r in rows])} == set(ZH)
    hits = index.text_search("白细胞", 10)  # a word inside the chunk's sentence
    assert sorted(h.chunk_id for h in hits) == sorted(rows[i]["id"] for i in (0, 3))
    assert all(h.entity["text"] == ZH[0] for h in hits)
    assert {h.chunk_id for h in index.text_search("section 2.1", 10)} == {rows[2]["id"], rows[5]["id"]}
    fused = index.hybrid_search(np.asarray(rows[1]["vector"]), "复查血常规", 3)
    assert fused[0].chunk_id in (rows[1]["id"], rows[4]["id"])

    # Made anew with another analyzer (as by another process): forget() reads it again.
    index.client.drop_collection(index.collection)
    index.index_settings = IndexSettings(analyzer="jieba")
    index._create()
    assert index.segmented  # what this object last knew
    index.forget()
    assert not index.segmented and index.full_text() == {"kind": "bm25", "analyzer": "jieba"}


def test_a_collection_made_with_lites_jieba_analyzer_keeps_it(db: Path) -> None:
    """Collections made before the segmented default read ``text`` through
    Milvus Lite's jieba; reopened with the default settings, they still do."""
    old = open_index(db, index=IndexSettings(analyzer="jieba"))
    old.ensure_collection()
    rows = [dict(r, text=ZH[i % 3]) for i, r in enumerate(make_rows(3))]
    old.upsert(rows)
    assert old.full_text() == {"kind": "bm25", "analyzer": "jieba"} and not old.segmented
    old.close()
    idx = open_index(db)
    try:
        assert idx.ensure_collection() is False
        assert not idx.segmented
        assert [h.chunk_id for h in idx.text_search("白细胞", 10)] == [rows[0]["id"]]
        fields = {f["name"] for f in idx.client.describe_collection(idx.collection)["fields"]}
        assert BM25_TEXT_FIELD not in fields
    finally:
        idx.close()


def test_move_doc_renames_only_the_rows_naming_a_gone_source(index: MilvusIndex) -> None:
    rows = make_rows(3, DOC_A, seed=1) + make_rows(2, DOC_B, seed=2)
    index.upsert(rows)
    assert index.move_doc(DOC_A, ["/corpus/elsewhere.pdf"], "/corpus/b.pdf", "b.pdf") == 0
    assert index.move_doc(DOC_A, ["/corpus/aaaa.pdf"], "/corpus/copy of a.pdf", "copy of a.pdf") == 3
    got = {r["id"]: r for r in index.get([r["id"] for r in rows])}
    assert index.count() == 5
    for r in rows[:3]:
        moved = got[r["id"]]
        assert moved["source"] == "/corpus/copy of a.pdf" and moved["metadata"]["file_name"] == "copy of a.pdf"
        assert (moved["text"], moved["chunk_index"], moved["page_start"]) == (r["text"], r["chunk_index"], r["page_start"])
    assert all(got[r["id"]]["source"] == "/corpus/bbbb.pdf" for r in rows[3:])
    # The vectors moved with the rows: each row is still its own nearest neighbour.
    for r in rows[:3]:
        hit = index.search(np.asarray(r["vector"], dtype=np.float32)[None, :], 1)[0][0]
        assert hit.chunk_id == r["id"] and hit.score > 0.999 and hit.entity["source"] == "/corpus/copy of a.pdf"
