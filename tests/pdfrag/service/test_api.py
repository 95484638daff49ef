"""The query API's contract with TestClient, over a collection built once
from real PDFs with the real model on Milvus Lite: schema, limits, filters,
injection attempts, auth, documents, readiness, metrics, errors, CORS."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from pdfrag.index import words
from pdfrag.errors import ModelMismatchError
from pdfrag.service.models import MAX_TOP_K
from pdfrag.service.app import create_app

from .conftest import FILES, clean_env, copy_pdfs, ingest, settings_for, wait_ready

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def built(tmp_path_factory, pdfs):
    with clean_env():
        root = tmp_path_factory.mktemp("svc")
        home = root / "home"
        src = copy_pdfs(pdfs, root / "corpus")
        info = ingest({"home": str(home)}, src)
        assert sorted(info["indexed"]) == sorted(FILES)
        yield SimpleNamespace(home=home, src=src, chunks=info["chunks"])


@pytest.fixture(scope="module")
def client(built):
    app = create_app(settings_for(built.home))
    with TestClient(app, raise_server_exceptions=False) as c:
        wait_ready(c.get)
        yield c


@pytest.fixture(scope="module")
def docs(client) -> dict[str, dict]:
    """file name -> document entry."""
    return {d["file_name"]: d for d in client.get("/documents").json()["documents"]}


def search(client, query: str, **body):
    return client.post("/search", json={"query": query, **body})


# Contract --------------------------------------------------------------------
def test_openapi_documents_the_models(client):
    spec = client.get("/openapi.json").json()
    for path in ("/search", "/documents", "/documents/{doc_id}", "/ready", "/metrics", "/health"):
        assert path in spec["paths"], path
    schemas = spec["components"]["schemas"]
    req = schemas["SearchRequest"]["properties"]
    assert req["top_k"]["minimum"] == 1 and req["top_k"]["maximum"] == 100
    assert req["query"]["maxLength"] == 2000
    assert {"doc_id", "source_prefix", "file_name", "page_from", "page_to"} <= set(schemas["Filters"]["properties"])
    hit = schemas["SearchHitOut"]["properties"]
    assert {"chunk_id", "score", "text", "source", "file_name", "page_start", "page_end", "heading_path"} <= set(hit)
    assert spec["paths"]["/search"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("SearchResponse")
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"


def test_search_finds_the_passage_with_file_and_page(client):
    r = search(client, "When was the IBM MT/ST typewriter introduced?", top_k=3)
    assert r.status_code == 200
    body = r.json()
    assert body["mode"] == "hybrid" and body["top_k"] == 3 and len(body["results"]) == 3
    top = body["results"][0]
    assert top["file_name"] == "docling_multi_page.pdf" and top["page_start"] == 1
    assert "MT/ST" in top["text"] and top["source"].endswith("docling_multi_page.pdf")
    assert top["heading_path"] == ["The Birth of Word Processing (1960s - 1970s)"] and top["rank"] == 1 and len(top["doc_id"]) == 64
    scores = [h["score"] for h in body["results"]]
    assert scores == sorted(scores, reverse=True)
    t = body["timings"]
    assert t["embed_ms"] > 0 and t["milvus_ms"] > 0 and t["total_ms"] >= t["embed_ms"]


def test_search_in_chinese(client):
    r = search(client, "白细胞计数", top_k=2)
    assert r.status_code == 200
    assert r.json()["results"][0]["file_name"] == "pdfplumber_issue-461-example.pdf"
    # The collection's model (all-MiniLM-L6-v2) reads English: the response says so.
    assert len(r.json()["warnings"]) == 1 and "all-MiniLM-L6-v2 is an English model" in r.json()["warnings"][0]
    assert search(client, "white blood cell count", top_k=2).json()["warnings"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"query": "x", "top_k": 0},
        {"query": "x", "top_k": 101},
        {"query": "x" * 2001},
        {"query": "   "},
        {"query": ""},
        {"top_k": 5},
        {"query": "x", "unknown": 1},
        {"query": "x", "filters": {"doc_id": "not-hex"}},
        {"query": "x", "filters": {"page_from": 0}},
        {"query": "x", "filters": {"page_from": 5, "page_to": 2}},
        {"query": "x", "filters": {"nope": "y"}},
        {"query": "x", "top_k": "many"},
    ],
)
def test_invalid_requests_are_422(client, body):
    r = client.post("/search", json=body)
    assert r.status_code == 422, r.text
    data = r.json()
    assert data["error"] == "invalid request" and data["details"]
    assert "x" * 2001 not in r.text  # the input is not echoed back


def test_query_of_2000_chars_is_accepted(client):
    assert search(client, "word " * 400, top_k=1).status_code == 200


def test_malformed_json_is_422(client):
    r = client.post("/search", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422


def test_oversized_body_is_413(client):
    big = json.dumps({"query": "x", "pad": "y" * 70_000}).encode()
    r = client.post("/search", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "larger than" in r.json()["error"]

    def chunked():  # no Content-Length: counted as it arrives
        yield b'{"query": "x", "pad": "'
        for _ in range(20):
            yield b"y" * 4096
        yield b'"}'

    r = client.post("/search", content=chunked(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


# Filters -------------------------------------------------------------------------
def test_filter_by_document_returns_full_top_k_from_it(client, docs):
    d = docs["samplefiles_multicolumn.pdf"]
    r = search(client, "When was the IBM MT/ST typewriter introduced?", top_k=10, filters={"doc_id": d["doc_id"]})
    hits = r.json()["results"]
    assert len(hits) == min(10, d["chunks"])
    assert {h["doc_id"] for h in hits} == {d["doc_id"]}


def test_filter_by_file_name_and_pages(client, docs):
    r = search(client, "word processing", top_k=20, filters={"file_name": "docling_multi_page.pdf"})
    hits = r.json()["results"]
    assert hits and {h["file_name"] for h in hits} == {"docling_multi_page.pdf"}
    assert len(hits) == docs["docling_multi_page.pdf"]["chunks"]  # all of them: fewer than 20
    r = search(client, "word processing", top_k=20, filters={"file_name": "docling_multi_page.pdf", "page_from": 2, "page_to": 3})
    paged = r.json()["results"]
    assert paged and len(paged) < len(hits)
    assert all(h["page_end"] >= 2 and h["page_start"] <= 3 for h in paged)
    r = search(client, "word processing", top_k=5, filters={"page_from": 4})
    assert all(h["page_end"] >= 4 for h in r.json()["results"])


def test_filter_by_source_prefix(client, built):
    prefix = str(built.src) + "/"
    assert built.chunks <= MAX_TOP_K
    hits = search(client, "text", top_k=MAX_TOP_K, filters={"source_prefix": prefix}).json()["results"]
    assert len(hits) == built.chunks  # every chunk of the files under the prefix
    hits = search(client, "text", top_k=5, filters={"source_prefix": prefix + "docling"}).json()["results"]
    assert hits and {h["file_name"] for h in hits} == {"docling_multi_page.pdf"}
    assert search(client, "text", top_k=5, filters={"source_prefix": "/nowhere/"}).json()["results"] == []


def test_group_by_document(client):
    r = search(client, "text", top_k=2, group_by_document=True)
    hits = r.json()["results"]
    assert len(hits) == 2 and len({h["doc_id"] for h in hits}) == 2
    hits = search(client, "text", top_k=10, group_by_document=True).json()["results"]
    assert len(hits) == 3 and len({h["doc_id"] for h in hits}) == 3  # only three documents exist
    assert [h["rank"] for h in hits] == [1, 2, 3]


INJECTIONS = [
    'x" or doc_id != "',
    '" or 1 == 1 or "',
    "' or 1 == 1 or '",
    'x\\" or source != \\"',
    "\\",
    "%",
    "_",
    '") or (source != "',
    "x] or true or [",
    '" || true || "',
]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_in_text_filters_stays_in_scope(client, built, payload):
    for filters in ({"source_prefix": payload}, {"file_name": payload}, {"source_prefix": str(built.src) + "/" + payload}):
        r = search(client, "text", top_k=10, filters=filters)
        assert r.status_code == 200 or 400 <= r.status_code < 500, r.text
        if r.status_code == 200:
            assert r.json()["results"] == [], (filters, r.json()["results"][:1])


def test_injection_in_doc_id_and_controls_are_refused(client, docs):
    real = docs["docling_multi_page.pdf"]["doc_id"]
    for bad in [f'{real}" or doc_id != "', real + " ", real.upper(), "0x" + real[:62]]:
        assert search(client, "text", filters={"doc_id": bad}).status_code == 422
    for bad in ["a\nb", "tab\there", "nul\x00"]:
        assert search(client, "text", filters={"source_prefix": bad}).status_code == 422
        assert search(client, "text", filters={"file_name": bad}).status_code == 422


def test_injection_combined_with_a_real_scope(client, docs):
    """A scoped search with an injection attempt never reaches other documents."""
    d = docs["docling_multi_page.pdf"]
    r = search(client, "text", top_k=20, filters={"doc_id": d["doc_id"], "file_name": 'x" or doc_id != "'})
    assert r.status_code == 200 and r.json()["results"] == []
    r = search(client, "text", top_k=20, filters={"file_name": 'docling_multi_page.pdf" or file_name != "'})
    assert r.status_code == 200 and r.json()["results"] == []


# Documents ------------------------------------------------------------------------
def test_documents_and_pagination(client, built):
    body = client.get("/documents").json()
    assert body["total"] == 3 and body["limit"] == 100 and body["offset"] == 0
    names = [d["file_name"] for d in body["documents"]]
    assert sorted(names) == sorted(FILES)
    first = body["documents"][0]
    assert first["chunks"] > 0 and first["pages"] > 0 and first["indexed_at"].startswith("20") and len(first["doc_id"]) == 64
    assert sum(d["chunks"] for d in body["documents"]) == built.chunks
    page1 = client.get("/documents", params={"limit": 2}).json()["documents"]
    page2 = client.get("/documents", params={"limit": 2, "offset": 2}).json()["documents"]
    assert len(page1) == 2 and len(page2) == 1
    assert [d["source"] for d in page1 + page2] == [d["source"] for d in body["documents"]]
    assert client.get("/documents", params={"limit": 0}).status_code == 422
    assert client.get("/documents", params={"offset": -1}).status_code == 422


def test_document_by_id(client, docs):
    d = docs["pdfplumber_issue-461-example.pdf"]
    r = client.get(f"/documents/{d['doc_id']}")
    assert r.status_code == 200 and r.json() == d
    assert client.get("/documents/" + "0" * 64).status_code == 404
    r = client.get("/documents/not-an-id")
    assert r.status_code == 404 and r.json() == {"error": "no indexed document with this id"}


# Ops ------------------------------------------------------------------------------
def test_health_and_ready(client):
    assert client.get("/health").json()["status"] == "ok"
    r = client.get("/ready")
    assert r.status_code == 200
    body = r.json()
    assert body["ready"] is True and body["reasons"] == [] and body["hybrid"] is True
    assert body["checks"] == {"milvus": "ok", "collection": "loaded", "model": "loaded"}
    assert body["model"] == "all-MiniLM-L6-v2" and body["index_type"] == "FLAT" and body["analyzer"] == "segmented"


def test_a_segmented_collection_starts_loading_jieba(client, monkeypatch):
    """jieba's dictionary (about 1.3 s) loads when the service meets a
    segmented collection, not at the first Chinese query."""
    calls = []
    monkeypatch.setattr(words, "preload", lambda: calls.append(1))
    client.app.state.query.forget()
    assert client.get("/ready").json()["analyzer"] == "segmented"
    assert calls == [1]
    assert search(client, "白细胞计数", top_k=1).status_code == 200


def test_metrics(client):
    search(client, "metrics probe", top_k=1)
    client.post("/search", json={"query": "x", "top_k": 0})
    text = client.get("/metrics").text
    assert "# TYPE pdfrag_search_embed_seconds histogram" in text
    assert 'pdfrag_search_milvus_seconds_bucket{le="0.1",mode="hybrid"}' in text
    assert 'pdfrag_http_requests_total{method="POST",route="/search",status="200"}' in text
    assert 'pdfrag_http_errors_total{route="/search",status="422"}' in text
    assert "pdfrag_http_request_duration_seconds_bucket" in text
    count = [ln for ln in text.splitlines() if ln.startswith("pdfrag_search_embed_seconds_count")]
    assert count and float(count[0].split()[-1]) >= 1


def test_page_is_served(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'id="q"' in r.text and "/static/app.js" in r.text
    js = client.get("/static/app.js")
    assert js.status_code == 200 and "textContent" in js.text
    assert "innerHTML" not in js.text.replace("never innerHTML", "")
    assert client.get("/static/style.css").status_code == 200


def test_errors_are_json_without_traces(client, monkeypatch):
    r = client.get("/no/such/path")
    assert r.status_code == 404 and r.json() == {"error": "Not Found"}
    assert client.put("/search").status_code == 405

    def boom(*a, **kw):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(client.app.state.query, "search", boom)
    r = search(client, "anything")
    assert r.status_code == 500 and r.json() == {"error": "internal error: RuntimeError"}
    assert "Traceback" not in r.text and "secret" not in r.text


def test_cors_is_off_unless_configured(client, built):
    pre = {"Origin": "https://example.org", "Access-Control-Request-Method": "POST"}
    r = client.options("/search", headers=pre)
    assert "access-control-allow-origin" not in r.headers
    r = client.post("/search", json={"query": "x", "top_k": 1}, headers={"Origin": "https://example.org"})
    assert "access-control-allow-origin" not in r.headers
    app = create_app(settings_for(built.home, **{"service.cors_origins": ["https://example.org"]}))
    with TestClient(app) as c:
        r = c.options("/search", headers={**pre, "Access-Control-Request-Headers": "X-API-Key, Content-Type"})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://example.org"
        r = c.options("/search", headers={**pre, "Origin": "https://evil.example"})
        assert r.headers.get("access-control-allow-origin") != "https://evil.example"


# Auth ------------------------------------------------------------------------------
def test_api_keys(built):
    app = create_app(settings_for(built.home, **{"service.api_keys": ["k-one", "k-two"]}))
    with TestClient(app) as c:
        wait_ready(lambda p: c.get(p, headers={"X-API-Key": "k-one"}))
        assert c.get("/health").status_code == 200  # open
        assert c.get("/").status_code == 200  # the page (no data) is open; its API calls need the key
        for method, path in [("GET", "/ready"), ("GET", "/documents"), ("GET", "/metrics"), ("GET", "/openapi.json"), ("POST", "/search"), ("POST", "/events/s3")]:
            r = c.request(method, path, json={"query": "x"} if method == "POST" else None)
            assert r.status_code == 401, (method, path)
            assert r.json()["error"].startswith("missing or invalid API key")
            r = c.request(method, path, json={"query": "x"} if method == "POST" else None, headers={"X-API-Key": "wrong"})
            assert r.status_code == 401
        r = c.post("/search", json={"query": "typewriter", "top_k": 1}, headers={"X-API-Key": "k-two"})
        assert r.status_code == 200 and len(r.json()["results"]) == 1
        assert c.get("/documents", headers={"X-API-Key": "k-one"}).json()["total"] == 3
        text = c.get("/metrics", headers={"X-API-Key": "k-one"}).text
        assert 'pdfrag_http_errors_total{route="/search",status="401"}' in text


def test_no_keys_means_no_auth(client):
    assert client.get("/documents").status_code == 200
    assert client.get("/metrics").status_code == 200


# Same model, same space ---------------------------------------------------------------
def test_refuses_to_start_with_another_model(built):
    from pdfrag.config import IndexSettings, MilvusSettings
    from pdfrag.index.milvus import MilvusIndex

    other = MilvusIndex(MilvusSettings(collection="other_model"), IndexSettings(), str(built.home / "milvus.db"), {"model": "e5-small", "dimension": 384, "metric": "COSINE"})
    other.ensure_collection()
    other.close()
    with pytest.raises(ModelMismatchError) as ei:
        create_app(settings_for(built.home, **{"milvus.collection": "other_model"}))
    msg = str(ei.value)
    assert "model: collection has 'e5-small', configured 'all-MiniLM-L6-v2'" in msg and "other_model" in msg


def test_dense_only_collection_is_reported(built):
    """A collection without full text (an older schema, or a backend without
    BM25) is searched dense only, and /ready says so."""
    overrides = {"home": str(built.home), "milvus.collection": "dense_only", "index.hybrid": False}
    ingest(overrides, built.src)  # stages come from the store's cache
    app = create_app(settings_for(built.home, **{"milvus.collection": "dense_only"}))
    with TestClient(app) as c:
        body = wait_ready(c.get)
        assert body["hybrid"] is False and body["analyzer"] is None
        r = search(c, "When was the IBM MT/ST typewriter introduced?", top_k=3)
        assert r.json()["mode"] == "dense"
        assert r.json()["results"][0]["file_name"] == "docling_multi_page.pdf"
        assert 'pdfrag_search_milvus_seconds_count{mode="dense"} 1.0' in c.get("/metrics").text


def test_starts_without_a_collection_and_becomes_ready(home, pdfs, tmp_path):
    app = create_app(settings_for(home))
    with TestClient(app) as c:
        r = c.get("/ready")
        assert r.status_code == 503 and "no collection yet: run pdfrag ingest" in r.json()["reasons"]
        assert r.json()["checks"]["collection"] == "missing" and r.json()["hybrid"] is False
        r = search(c, "anything")
        assert r.status_code == 503 and r.json() == {"error": "no collection yet: run pdfrag ingest"}
        assert c.get("/documents").status_code == 503
        ingest({"home": str(home)}, copy_pdfs(pdfs, tmp_path / "one", ["cjk/pdfplumber_issue-461-example.pdf"]))
        body = wait_ready(c.get)
        assert body["hybrid"] is True
        assert search(c, "白细胞计数", top_k=1).json()["results"][0]["file_name"] == "pdfplumber_issue-461-example.pdf"
        assert c.get("/documents").json()["total"] == 1


def test_hnsw_collection_returns_full_top_k_under_filters(built, docs):
    """A collection built with HNSW (a Milvus server's AUTO choice); the
    service reads the index type from the collection, whatever its own
    index.type says, and filtered searches still return the full top_k."""
    ingest({"home": str(built.home), "milvus.collection": "hnsw", "index.type": "HNSW"}, built.src)
    app = create_app(settings_for(built.home, **{"milvus.collection": "hnsw"}))
    with TestClient(app) as c:
        body = wait_ready(c.get)
        assert body["index_type"] == "HNSW" and body["hybrid"] is True
        for name, d in docs.items():
            hits = search(c, "When was the IBM MT/ST typewriter introduced?", top_k=10, filters={"doc_id": d["doc_id"]}).json()["results"]
            assert len(hits) == min(10, d["chunks"]) and {h["doc_id"] for h in hits} == {d["doc_id"]}, name
            hits = search(c, "text", top_k=100, filters={"file_name": name}).json()["results"]
            assert len(hits) == d["chunks"], name
        hits = search(c, "text", top_k=3, group_by_document=True).json()["results"]
        assert len({h["doc_id"] for h in hits}) == 3


def test_hybrid_can_be_turned_off(built):
    app = create_app(settings_for(built.home, **{"service.hybrid": False}))
    with TestClient(app) as c:
        body = wait_ready(c.get)
        assert body["hybrid"] is False and body["analyzer"] == "segmented"  # the collection has full text; the service does not use it
        assert search(c, "typewriter", top_k=2).json()["mode"] == "dense"
