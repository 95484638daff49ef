"""The pipeline's stages as plain functions over one set of resources.

Prefect-free: ``pdfrag.tasks`` wraps each stage in a task, ``pdfrag.flows``
sequences them. Every stage reads its input from and writes its output to
the object store as Parquet under a key derived from the input's content
hash and the stage's configuration, so a rerun (in any process, on any
worker sharing the store) reads finished stages instead of recomputing.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import pyarrow as pa

from pdfrag import PIPELINE_VERSION
from pdfrag.chunk import Chunker, embedding_text, get_chunker, split_embed_settings
from pdfrag.config import ExtractSettings, Settings, load_settings
from pdfrag.embed import Embedder, get_embedder, get_profile
from pdfrag.embed.profiles import ModelProfile
from pdfrag.embed.tokens import ModelTokenizer
from pdfrag.errors import InputError, PdfragError
from pdfrag.extract import Extractor, get_extractor
from pdfrag.identity import config_hash, doc_id_of_bytes, stage_key
from pdfrag.index.milvus import MilvusIndex
from pdfrag.language import count_letters
from pdfrag.ledger import FAILED, INDEXED, Ledger, LedgerEntry
from pdfrag.records import (
    chunks_to_table,
    pages_to_table,
    table_to_pages,
    tables_to_table,
)
from pdfrag.sources import SourceRef, list_sources, read_source
from pdfrag.store import ObjectStore, open_store, stage_object_key
from pdfrag.types import (
    ExtractedDocument,
    Failure,
    Page,
    RunSummary,
    SourceFile,
    StageOutput,
)

log = logging.getLogger("pdfrag")

@dataclass
class Plan:
    """What a run will do, decided from content hashes and the ledger."""

    todo: list[SourceFile] = field(default_factory=list)  # new, changed or retried
    previous: dict[str, str] = field(default_factory=dict)  # source -> doc_id it had before (changed files)
    unchanged: list[SourceFile] = field(default_factory=list)
    known_failures: list[Failure] = field(default_factory=list)  # unchanged files that failed before
    duplicates: list[tuple[SourceFile, str]] = field(default_factory=list)  # (file, source with identical bytes in this run)
    unreadable: list[Failure] = field(default_factory=list)  # could not even be read
    removed: list[str] = field(default_factory=list)  # in the ledger, gone from the source


@dataclass
class IndexResult:
    added: int
    deleted: int


class Pipeline:
    """Resources (store, extractor, chunker, embedder, Milvus) built once per
    process from typed settings; every method is one stage."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.profile: ModelProfile = get_profile(settings.embed.model, settings.embed.models_dir or None)
        self._lock = threading.Lock()

    # Resources -------------------------------------------------------------
    @cached_property
    def store(self) -> ObjectStore:
        s = self.settings
        store = open_store(s.store_uri, endpoint_url=s.store.endpoint_url, region=s.store.region)
        store.check()
        return store

    @cached_property
    def extractor(self) -> Extractor:
        return get_extractor(extract_settings(self.settings))

    @cached_property
    def tokenizer(self) -> ModelTokenizer:
        return ModelTokenizer(self.profile)

    @cached_property
    def chunker(self) -> Chunker:
        # Semantic splitting embeds sentences with the pipeline's model (on
        # the backend ``chunk.split_backend`` picks), loaded only when first used.
        return get_chunker(self.settings.chunk, self.tokenizer, embedder=lambda: get_embedder(split_embed_settings(self.settings.chunk, self.settings.embed)))

    @property
    def embedder(self) -> Embedder:
        return get_embedder(self.settings.embed)

    @cached_property
    def index(self) -> MilvusIndex:
        s = self.settings
        return MilvusIndex(s.milvus, s.index, s.milvus_uri, self.profile.identity())

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.index)

    @cached_property
    def pipeline_id(self) -> str:
        """Hash of everything that decides the chunks and their vectors."""
        return config_hash(
            {
                "v": PIPELINE_VERSION,
                "extract": self.extractor.config(),
                "chunk": self.chunker.config(),
                "model": self.profile.identity(),
            }
        )[:32]

    @cached_property
    def failure_pipeline_id(self) -> str:
        """Like ``pipeline_id`` plus the passwords on offer: a file that failed
        as encrypted is retried once passwords are configured."""
        ex = self.settings.extract
        return config_hash({"pipeline": self.pipeline_id, "passwords": sorted(ex.passwords), "map": sorted(ex.password_map.items())})[:32]

    def precheck(self) -> None:
        """Fail before the first PDF if storage, Milvus or the model's
        dimension are wrong."""
        _ = self.store
        _ = self.chunker
        self.index.ensure_collection()
        self.ledger.ensure()

    # Planning --------------------------------------------------------------
    def plan(self, source: str, *, prune: bool = False, reprocess: bool = False, retry_failed: bool = False) -> Plan:
        s = self.settings
        refs = list_sources(source, endpoint_url=s.store.endpoint_url, region=s.store.region)
        plan = Plan()
        known = self.ledger.get([r.uri for r in refs]) if refs else {}
        files: list[SourceFile] = []
        for ref in refs:
            entry = known.get(ref.uri)
            if entry is not None and not reprocess and ref.fingerprint and entry.fingerprint == ref.fingerprint and entry.doc_id:
                # Same size and mtime/ETag as when it was ingested: trust the
                # recorded hash instead of reading the file again.
                files.append(SourceFile(ref.uri, ref.name, ref.size, entry.doc_id, ref.fingerprint))
                continue
            try:
                data = read_source(ref.uri, endpoint_url=s.store.endpoint_url, region=s.store.region)
            except PdfragError as e:
                plan.unreadable.append(Failure(ref.uri, "read", str(e), e.retryable))
                continue
            files.append(SourceFile(ref.uri, ref.name, len(data), doc_id_of_bytes(data), ref.fingerprint))
        first_of: dict[str, str] = {}
        for f in files:
            entry = known.get(f.uri)
            same_doc = entry is not None and entry.doc_id == f.doc_id and not reprocess
            if same_doc and entry.status == INDEXED and entry.pipeline == self.pipeline_id:
                plan.unchanged.append(f)
            elif same_doc and entry.status == FAILED and entry.pipeline == self.failure_pipeline_id and not entry.retryable and not retry_failed:
                plan.unchanged.append(f)
                plan.known_failures.append(Failure(f.uri, entry.stage, entry.error, entry.retryable))
            elif f.doc_id in first_of:
                plan.duplicates.append((f, first_of[f.doc_id]))
                if entry is not None and entry.doc_id != f.doc_id:
                    plan.previous[f.uri] = entry.doc_id
            else:
                first_of[f.doc_id] = f.uri
                plan.todo.append(f)
                if entry is not None and entry.doc_id != f.doc_id:
                    plan.previous[f.uri] = entry.doc_id
        if prune:
            present = {r.uri for r in refs}
            prefix = _source_prefix(source)
            plan.removed = [e.source for e in self.ledger.all() if e.source.startswith(prefix) and e.source not in present]
        return plan

    # Stages ----------------------------------------------------------------
    def pages_key(self, doc_id: str) -> str:
        return stage_key(doc_id, "pages", self.extractor.config())

    def extract(self, f: SourceFile) -> StageOutput:
        key = self.pages_key(f.doc_id)
        obj = stage_object_key("pages", key)
        if self.store.exists(obj):
            t = self.store.get_table(obj)
            return StageOutput("pages", key, self.store.uri(obj), t.num_rows, cached=True, stats=_page_stats(t))
        s = self.settings
        data = read_source(f.uri, endpoint_url=s.store.endpoint_url, region=s.store.region)
        if doc_id_of_bytes(data) != f.doc_id:
            raise InputError("the file changed while it was being ingested", source=f.uri, stage="extract", hint="rerun the ingest")
        doc = self.extractor.extract(data, source=f.uri, doc_id=f.doc_id)
        t = pages_to_table(f.doc_id, doc.pages)
        if any(p.tables for p in doc.pages):
            self.store.put_table(stage_object_key("tables", key), tables_to_table(f.doc_id, f.uri, doc.pages))
        self.store.put_table(obj, t)
        return StageOutput("pages", key, self.store.uri(obj), t.num_rows, stats=_page_stats(t))

    def read_pages(self, pages: StageOutput) -> list[Page]:
        t = self.store.get_table(stage_object_key("pages", pages.key))
        return table_to_pages(t)

    def chunk(self, f: SourceFile, pages: StageOutput) -> StageOutput:
        key = stage_key(pages.key, "chunks", {"chunker": self.chunker.config(), "pipeline": self.pipeline_id})
        obj = stage_object_key("chunks", key)
        if self.store.exists(obj):
            return StageOutput("chunks", key, self.store.uri(obj), self.store.get_table(obj).num_rows, cached=True)
        chunks = self.chunker.chunk(f.doc_id, self.read_pages(pages), self.pipeline_id)
        if not chunks:
            raise InputError("no text to chunk", source=f.uri, stage="chunk", hint="the PDF's pages hold no text")
        t = chunks_to_table(chunks)
        self.store.put_table(obj, t)
        return StageOutput("chunks", key, self.store.uri(obj), t.num_rows, stats={"tokens": int(sum(c.token_count for c in chunks))})

    def embed(self, chunks: StageOutput) -> StageOutput:
        return self.embed_many([chunks])[0]

    def embed_many(self, chunks: list[StageOutput]) -> list[StageOutput]:
        """Embed several documents' chunks in one pass of the model: the texts
        of every document not yet embedded are sorted by length together, so
        batches stay full and pad little however small each document is. Each
        document still gets its own embeddings file, keyed by its chunks."""
        emb = self.embedder
        config = emb.config()
        out: dict[int, StageOutput] = {}
        todo: list[tuple[int, str, str, pa.ChunkedArray, int]] = []  # position, key, object, chunk ids, first text
        texts: list[str] = []
        for i, c in enumerate(chunks):
            key = stage_key(c.key, "embeddings", config)
            obj = stage_object_key("embeddings", key)
            if self.store.exists(obj):  # one row per chunk, as written below (index_document checks the ids)
                out[i] = StageOutput("embeddings", key, self.store.uri(obj), c.rows, cached=True)
                continue
            t = self.store.get_table(stage_object_key("chunks", c.key))
            # A chunk's embedding text may carry context (heading path, table header).
            metas = t.column("metadata").to_pylist() if "metadata" in t.column_names else [None] * t.num_rows
            todo.append((i, key, obj, t.column("chunk_id"), len(texts)))
            texts += [embedding_text(x, m) for x, m in zip(t.column("text").to_pylist(), metas, strict=True)]
        if todo:
            vectors = emb.embed_documents(texts, batch_size=self.settings.embed.batch_size)
            for i, key, obj, ids, first in todo:
                flat = pa.array(vectors[first : first + len(ids)].reshape(-1), type=pa.float32())
                t = pa.table({"chunk_id": ids, "vector": pa.FixedSizeListArray.from_arrays(flat, emb.dimension)})
                self.store.put_table(obj, t)
                out[i] = StageOutput("embeddings", key, self.store.uri(obj), t.num_rows, stats={"embedded": len(ids)})
        return [out[i] for i in range(len(chunks))]

    def index_document(self, f: SourceFile, pages: StageOutput, chunks: StageOutput, vectors: StageOutput, previous_doc_id: str | None, run_id: str) -> IndexResult:
        """Upsert the document's chunks, drop what they replace, then record
        the source in the ledger. Safe to repeat after a crash at any step:
        ids are deterministic, so a rerun upserts the same rows."""
        ct = self.store.get_table(stage_object_key("chunks", chunks.key))
        vt = self.store.get_table(stage_object_key("embeddings", vectors.key))
        if ct.column("chunk_id").to_pylist() != vt.column("chunk_id").to_pylist():
            raise PdfragError("chunks and embeddings disagree", source=f.uri, stage="index", hint="rerun with --reprocess")
        vecs = vt.column("vector").combine_chunks().flatten().to_numpy().reshape(vt.num_rows, -1)
        rows = []
        for i, r in enumerate(ct.to_pylist()):
            metadata: dict[str, Any] = {"file_name": f.name, "pipeline_version": PIPELINE_VERSION}
            if r.get("heading_path"):
                metadata["heading_path"] = list(r["heading_path"])  # shown with search results
            rows.append(
                {
                    "id": r["chunk_id"], "vector": vecs[i].tolist(), "text": r["text"], "doc_id": f.doc_id, "source": f.uri,
                    "page_start": r["page_start"], "page_end": r["page_end"], "chunk_index": r["chunk_index"],
                    "char_start": r["char_start"], "char_end": r["char_end"], "token_count": r["token_count"],
                    "pipeline": self.pipeline_id,
                    "metadata": metadata,
                }
            )
        with self._lock:
            other_pipelines = self._other_pipelines()
            # Chunk ids derive from (document, pipeline, position): the rows
            # this document already has under this pipeline are these ids.
            existing = self.index.count_ids([r["id"] for r in rows])
            self.index.upsert(rows)
            deleted = self.index.delete_doc_stale(f.doc_id, self.pipeline_id) if other_pipelines is None or other_pipelines else 0
            if previous_doc_id and previous_doc_id != f.doc_id:
                deleted += self._release(previous_doc_id, f.uri)
            self.ledger.put(
                [LedgerEntry(f.uri, f.name, f.doc_id, self.pipeline_id, INDEXED, chunks=len(rows), pages=pages.stats.get("text_pages", pages.rows), size=f.size, run_id=run_id, fingerprint=f.fingerprint)]
            )
        return IndexResult(added=max(len(rows) - existing, 0), deleted=deleted)

    def record_duplicate(self, f: SourceFile, of: str, previous_doc_id: str | None, run_id: str) -> IndexResult:
        """A second source with the same bytes: one set of chunks serves both."""
        entry = self.ledger.get([of]).get(of)
        if entry is None or entry.status != INDEXED:
            raise InputError(f"identical to {of}, which was not indexed", source=f.uri, stage="index")
        deleted = 0
        with self._lock:
            if previous_doc_id and previous_doc_id != f.doc_id:
                deleted = self._release(previous_doc_id, f.uri)
            self.ledger.put([LedgerEntry(f.uri, f.name, f.doc_id, self.pipeline_id, INDEXED, chunks=entry.chunks, pages=entry.pages, size=f.size, run_id=run_id, error=f"duplicate of {of}", fingerprint=f.fingerprint)])
        return IndexResult(0, deleted)

    def _release(self, doc_id: str, source: str) -> int:
        """``source`` no longer holds ``doc_id`` (its bytes changed): the
        document's rows go, unless another source still holds it; then they
        name that one. Returns the rows deleted."""
        others = [s for s in self.ledger.sources_for_doc(doc_id) if s != source]
        if not others:
            return self.index.delete_doc(doc_id)
        self._rehome(doc_id, [source], sorted(others))
        return 0

    def _rehome(self, doc_id: str, gone: list[str], holders: list[str]) -> None:
        """Rows naming a source in ``gone`` name the first of ``holders``,
        so that search results never cite a file without that text."""
        to = holders[0]
        entry = self.ledger.get([to]).get(to)
        self.index.move_doc(doc_id, gone, to, entry.name if entry and entry.name else to.rstrip("/").rsplit("/", 1)[-1])
        if entry is not None and entry.error.startswith("duplicate of "):
            self.ledger.put([replace(entry, error="", updated_at="")])  # it holds the rows now

    def record_failure(self, f: SourceFile | SourceRef | str, failure: Failure, run_id: str) -> None:
        """Failures are kept in the ledger so nothing is silently dropped; a
        failed file's old chunks (if it was indexed before) stay searchable."""
        uri = f if isinstance(f, str) else f.uri
        name = uri.rsplit("/", 1)[-1]
        doc_id = getattr(f, "doc_id", "")
        size = getattr(f, "size", 0)
        fingerprint = getattr(f, "fingerprint", "")
        previous = self.ledger.get([uri]).get(uri)
        if previous is not None and previous.status == INDEXED:
            # Keep the indexed entry (its chunks are still in Milvus) but let
            # the next run retry the new bytes.
            previous.error = f"latest version failed at {failure.stage}: {failure.error}"
            previous.updated_at = ""
            self.ledger.put([previous])
            return
        self.ledger.put([LedgerEntry(uri, name, doc_id, self.failure_pipeline_id, FAILED, size=size, stage=failure.stage, error=failure.error, retryable=failure.retryable, run_id=run_id, fingerprint=fingerprint)])

    def prune(self, sources: list[str]) -> int:
        """Delete the chunks of sources gone from the corpus."""
        deleted = 0
        entries = self.ledger.get(sources)
        with self._lock:
            docs = sorted({e.doc_id for e in entries.values() if e.status == INDEXED and e.doc_id})
            holders = self.ledger.sources_for_docs(docs)
            removed = set(sources)
            kept = {d: sorted(set(holders[d]) - removed) for d in docs}
            # A document another source still has keeps its rows, which
            # then name that source.
            deleted += self.index.delete_docs([d for d in docs if not kept[d]])
            for d in docs:
                if kept[d]:
                    self._rehome(d, sources, kept[d])
            self.ledger.delete(sources)
            self.index.flush()
        return deleted

    def _other_pipelines(self) -> set[str] | None:
        """Before writing a document's rows: the other pipelines that may
        have rows in the collection (None: unknown, any may). This pipeline
        is recorded first, so that a crash after the write still leaves it
        on record for the next configuration's runs to clean up after."""
        known = self.index.pipelines()
        if known is not None and self.pipeline_id not in known:
            self.index.record_pipelines(known | {self.pipeline_id})
        return None if known is None else known - {self.pipeline_id}

    def finalize(self) -> dict[str, Any]:
        """End of a run: flush (seal segments; rows are durable and visible
        before it), make sure the collection is loaded for search, and when
        other pipelines were on record, record only those that still have
        rows (so that the next runs skip the per-document cleanup)."""
        self.index.flush()
        self.index.load()
        with self._lock:
            known = self.index.pipelines()
            if known is None or known - {self.pipeline_id}:
                self.index.record_pipelines({self.pipeline_id} | self.index.pipelines_present(self.pipeline_id))
        return {"chunks": self.index.count()}

    # Runs ------------------------------------------------------------------
    def save_run(self, summary: RunSummary) -> str:
        key = f"runs/{summary.started_at.replace(':', '').replace('-', '')}-{summary.run_id}.json"
        self.store.put_bytes(key, json.dumps(summary.to_report(), indent=2, ensure_ascii=False).encode("utf-8"))
        return self.store.uri(key)

    def last_run(self) -> dict[str, Any] | None:
        keys = list(self.store.list("runs/"))
        if not keys:
            return None
        return json.loads(self.store.get_bytes(keys[-1]))


def extract_settings(settings: Settings, cores: int | None = None) -> ExtractSettings:
    """``settings.extract`` with ``ocr_threads = 0`` resolved: on local
    runners (threads, or a Dask cluster started here) the cores are shared
    out among the ``runner.workers`` documents extracted at once. Each OCR
    model would otherwise take every core, side by side with the other
    workers' (on 2 cores, two scanned documents at once: 2.33 s a page with
    every model on both cores, 1.79 with one thread each). A remote
    cluster's cores are unknown here: its runtimes keep their own default."""
    s = settings.extract
    runner = settings.runner
    if s.ocr_threads or runner.kind == "ray" or runner.address:
        return s
    if cores is None:
        from pdfrag.embed.onnx import cpu_count

        cores = cpu_count()
    return s.model_copy(update={"ocr_threads": max(1, cores // runner.workers)})


def _source_prefix(source: str) -> str:
    if source.startswith("s3://"):
        return source
    from pathlib import Path

    p = Path(source).expanduser().absolute()
    return str(p) if p.is_file() else str(p).rstrip("/") + "/"


def _page_stats(t: pa.Table) -> dict[str, Any]:
    methods = t.column("method").to_pylist()
    texts = t.column("text").to_pylist()
    letters = count_letters("\n".join(x for x in texts if x))
    return {
        "letters": letters.letters,
        "non_latin_letters": letters.non_latin,
        "pages": t.num_rows,
        "text_pages": sum(1 for x in texts if x),
        "empty_pages": sum(1 for x in texts if not x),
        "ocr_pages": sum(1 for m in methods if m == "ocr"),
        "layout_pages": sum(1 for m in methods if m == "layout"),
    }


_PIPELINES: dict[str, Pipeline] = {}
_PIPELINES_LOCK = threading.Lock()


def get_pipeline(overrides: dict[str, Any] | None = None) -> Pipeline:
    """One Pipeline per configuration per process (tasks in one worker share
    the loaded model and the Milvus connection)."""
    settings = load_settings(**(overrides or {}))
    key = config_hash(settings.model_dump(mode="json"))
    with _PIPELINES_LOCK:
        if key not in _PIPELINES:
            _PIPELINES[key] = Pipeline(settings)
        return _PIPELINES[key]


def close_pipelines() -> None:
    with _PIPELINES_LOCK:
        for p in _PIPELINES.values():
            if "index" in p.__dict__:
                p.index.close()
        _PIPELINES.clear()


def new_run(source: str) -> RunSummary:
    import uuid

    return RunSummary(run_id=uuid.uuid4().hex[:12], source=source, started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))



__all__ = ["ExtractedDocument", "IndexResult", "Pipeline", "Plan", "get_pipeline", "new_run"]
