"""Typed requests and responses of the query API (they make /openapi.json)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_QUERY_CHARS = 2000
MAX_TOP_K = 100
DOC_ID_PATTERN = r"^[0-9a-f]{64}$"


class Filters(BaseModel):
    """Restrict a search. Every field is typed and becomes a literal in the
    Milvus expression; none is pasted in as text."""

    model_config = ConfigDict(extra="forbid")

    doc_id: str | None = Field(None, pattern=DOC_ID_PATTERN, description="one document: the SHA-256 of its bytes")
    source_prefix: str | None = Field(None, min_length=1, max_length=4096, description="sources starting with this (a folder, s3://bucket/prefix)")
    file_name: str | None = Field(None, min_length=1, max_length=1024, description="exact file name, e.g. report.pdf")
    page_from: int | None = Field(None, ge=1, le=1_000_000, description="chunks that reach this page or later")
    page_to: int | None = Field(None, ge=1, le=1_000_000, description="chunks that start on this page or earlier")

    @field_validator("source_prefix", "file_name")
    @classmethod
    def _no_controls(cls, v: str | None) -> str | None:
        if v is not None and any(ord(ch) < 0x20 for ch in v):
            raise ValueError("control characters are not allowed")
        return v

    @model_validator(mode="after")
    def _page_order(self) -> Filters:
        if self.page_from is not None and self.page_to is not None and self.page_from > self.page_to:
            raise ValueError("page_from is after page_to")
        return self


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"query": "How are chunks embedded?", "top_k": 5}]})

    query: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS, description=f"what to look for (at most {MAX_QUERY_CHARS} characters)")
    top_k: int = Field(5, ge=1, le=MAX_TOP_K, description="number of results (documents when group_by_document)")
    filters: Filters = Field(default_factory=Filters)
    group_by_document: bool = Field(False, description="at most one result (its best chunk) per document")

    @field_validator("query")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("query is blank")
        return v


class SearchHitOut(BaseModel):
    rank: int
    chunk_id: str
    doc_id: str
    score: float = Field(description="cosine similarity (dense) or reciprocal-rank-fusion score (hybrid); higher is better")
    text: str
    source: str
    file_name: str
    page_start: int
    page_end: int
    chunk_index: int
    heading_path: list[str] = Field(default_factory=list, description="section headings above the chunk; [] when not recorded")


class Timings(BaseModel):
    embed_ms: float
    milvus_ms: float
    total_ms: float


class SearchResponse(BaseModel):
    query: str
    top_k: int
    mode: Literal["hybrid", "dense"] = Field(description="hybrid: BM25 and dense vectors fused by reciprocal rank")
    group_by_document: bool
    results: list[SearchHitOut]
    timings: Timings
    warnings: list[str] = Field(default_factory=list, description="e.g. a query mostly in another script than the model reads")


class DocumentOut(BaseModel):
    doc_id: str
    source: str
    file_name: str
    chunks: int
    pages: int
    size: int = Field(description="bytes")
    indexed_at: str = Field(description="when the ledger last recorded it indexed (ISO 8601, UTC)")


class DocumentList(BaseModel):
    total: int
    limit: int
    offset: int
    documents: list[DocumentOut]


class ReadyResponse(BaseModel):
    ready: bool
    reasons: list[str] = Field(description="why not ready; empty when ready")
    hybrid: bool = Field(description="BM25 + dense fusion available")
    checks: dict[str, str]
    collection: str
    model: str
    index_type: str | None = None
    analyzer: str | None = None


class HealthResponse(BaseModel):
    status: str
    version: str


class ErrorResponse(BaseModel):
    error: str
