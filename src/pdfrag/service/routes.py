"""The query API: search, documents, readiness, metrics."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, HTTPException, Path, Query, Response
from fastapi.responses import JSONResponse

from pdfrag.errors import ModelMismatchError, PdfragError, TransientError
from pdfrag.language import query_mismatch
from pdfrag.ledger import LedgerEntry
from pdfrag.search import SearchFilters
from pdfrag.service.metrics import Metrics
from pdfrag.service.models import (
    DOC_ID_PATTERN,
    DocumentList,
    DocumentOut,
    ErrorResponse,
    ReadyResponse,
    SearchHitOut,
    SearchRequest,
    SearchResponse,
    Timings,
)
from pdfrag.service.state import NotReady, QueryService

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "missing or invalid X-API-Key (when keys are configured)"},
    413: {"model": ErrorResponse, "description": "request body too large"},
    503: {"model": ErrorResponse, "description": "not ready: Milvus unreachable, no collection yet, or another model"},
}


def unavailable(e: Exception) -> HTTPException:
    if isinstance(e, NotReady | ModelMismatchError):
        return HTTPException(503, str(e))
    if isinstance(e, TransientError):
        return HTTPException(503, f"Milvus unreachable or busy: {e.message}")
    return HTTPException(500, f"search failed: {e}")


def document_out(e: LedgerEntry) -> DocumentOut:
    return DocumentOut(doc_id=e.doc_id, source=e.source, file_name=e.name, chunks=e.chunks, pages=e.pages, size=e.size, indexed_at=e.updated_at)


def make_query_router(service: QueryService, metrics: Metrics) -> APIRouter:
    router = APIRouter()

    @router.post("/search", response_model=SearchResponse, tags=["search"], summary="Search the collection", responses={**ERRORS, 422: {"model": ErrorResponse}})
    def search(req: SearchRequest) -> SearchResponse:
        t0 = time.perf_counter()
        filters = SearchFilters(**req.filters.model_dump())
        try:
            filters.expr()
        except ValueError as e:
            raise HTTPException(422, f"invalid filter: {e}") from e
        try:
            out = service.search(req.query, req.top_k, filters, req.group_by_document)
        except (NotReady, PdfragError) as e:
            raise unavailable(e) from e
        metrics.search_embed.observe(out.embed_seconds)
        metrics.search_milvus.labels(out.mode).observe(out.milvus_seconds)
        metrics.search_results.observe(len(out.results))
        return SearchResponse(
            query=req.query,
            top_k=req.top_k,
            mode=out.mode,
            group_by_document=req.group_by_document,
            results=[SearchHitOut(**r.to_dict()) for r in out.results],
            timings=Timings(
                embed_ms=round(out.embed_seconds * 1000, 2),
                milvus_ms=round(out.milvus_seconds * 1000, 2),
                total_ms=round((time.perf_counter() - t0) * 1000, 2),
            ),
            warnings=[w for w in [query_mismatch(req.query, service.profile.name, service.profile.english_only)] if w],
        )

    def entries() -> list[LedgerEntry]:
        try:
            return service.documents()
        except (NotReady, PdfragError) as e:
            raise unavailable(e) from e

    @router.get("/documents", response_model=DocumentList, tags=["documents"], summary="Indexed documents", responses=ERRORS)
    def documents(
        limit: int = Query(100, ge=1, le=1000, description="page size"),
        offset: int = Query(0, ge=0, description="entries to skip"),
    ) -> DocumentList:
        all_ = entries()
        return DocumentList(total=len(all_), limit=limit, offset=offset, documents=[document_out(e) for e in all_[offset : offset + limit]])

    @router.get(
        "/documents/{doc_id}",
        response_model=DocumentOut,
        tags=["documents"],
        summary="One indexed document",
        responses={**ERRORS, 404: {"model": ErrorResponse, "description": "no indexed document with this id"}},
    )
    def document(doc_id: str = Path(..., description="SHA-256 of the PDF's bytes", max_length=128)) -> DocumentOut:
        import re

        if not re.fullmatch(DOC_ID_PATTERN, doc_id):
            raise HTTPException(404, "no indexed document with this id")
        for e in entries():
            if e.doc_id == doc_id:
                return document_out(e)
        raise HTTPException(404, "no indexed document with this id")

    @router.get("/ready", response_model=ReadyResponse, tags=["ops"], summary="Milvus reachable, collection loaded, model loaded", responses={503: {"model": ReadyResponse}})
    def ready() -> JSONResponse:
        r = service.readiness()
        metrics.ready.set(1 if r["ready"] else 0)
        metrics.hybrid.set(1 if r["hybrid"] else 0)
        return JSONResponse(ReadyResponse(**r).model_dump(), status_code=200 if r["ready"] else 503)

    @router.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    def prometheus() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    return router
