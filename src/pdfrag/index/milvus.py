"""Milvus I/O: the chunk collection with an explicit schema.

Works the same on Milvus Lite (a local ``.db`` folder, the default) and on a
Milvus server (``http://host:19530``). The collection records which model,
dimension and metric it was built with (collection properties) and refuses
vectors from another model.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pdfrag.config import IndexSettings, MilvusSettings
from pdfrag.errors import ConfigError, ModelMismatchError, PdfragError, TransientError
from pdfrag.index.filters import hex_id, in_ids

SCHEMA_VERSION = "1"


class _LiteProbeFilter(logging.Filter):
    """pymilvus probes AllocTimestamp on create_collection; Milvus Lite answers
    "not implemented" and its in-process gRPC server logs a harmless traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Method not implemented" not in record.getMessage() and "AllocTimestamp" not in str(record.exc_info)


logging.getLogger("grpc._server").addFilter(_LiteProbeFilter())
TEXT_MAX_BYTES = 65_535
SOURCE_MAX_BYTES = 4_096
ID_MAX = 64

DEFAULT_BUILD = {
    "FLAT": {},
    "IVF_FLAT": {"nlist": 128},
    "IVF_SQ8": {"nlist": 128},
    "HNSW": {"M": 16, "efConstruction": 200},
}
DEFAULT_SEARCH = {
    "FLAT": {},
    "IVF_FLAT": {"nprobe": 32},
    "IVF_SQ8": {"nprobe": 32},
    "HNSW": {"ef": 128},
}

CHUNK_FIELDS = [
    "id", "doc_id", "source", "text", "page_start", "page_end", "chunk_index",
    "char_start", "char_end", "token_count", "pipeline", "metadata",
]


@dataclass(frozen=True)
class SearchHit:
    chunk_id: str
    score: float
    entity: dict[str, Any]


def is_lite_uri(uri: str) -> bool:
    return not uri.startswith(("http://", "https://", "tcp://", "grpc://", "unix:"))


def resolve_index_type(settings: IndexSettings, uri: str, server_version: str = "") -> str:
    """``AUTO``: exact FLAT on Milvus Lite, in-process or as ``milvus-lite
    server`` (local scale; Lite's filtered HNSW and IVF searches return fewer
    than top_k rows once indexed), HNSW on a Milvus server."""
    if settings.type == "AUTO":
        lite = is_lite_uri(uri) or "lite" in server_version.lower()
        return "FLAT" if lite else "HNSW"
    return settings.type


def translate_error(e: Exception, what: str, uri: str) -> Exception:
    """Milvus errors as pdfrag errors: transient (retry) or not."""
    if isinstance(e, PdfragError):
        return e
    text = f"{type(e).__name__}: {e}"
    if "DataDirLocked" in text or "Open local milvus failed" in text:
        return ConfigError(
            f"{what}: the Milvus Lite database {uri} is in use by another process",
            stage="index",
            hint="stop the other pdfrag process, or run a shared server (`milvus-lite server --data-dir ...`) and set PDFRAG_MILVUS__URI",
        )
    transient_marks = ("UNAVAILABLE", "DEADLINE_EXCEEDED", "Connection refused", "connect", "Fail connecting", "timed out", "rate limit", "RateLimit")
    if any(m.lower() in text.lower() for m in transient_marks):
        return TransientError(f"{what}: Milvus at {uri} unreachable or busy: {e}", stage="index")
    return PdfragError(f"{what}: {e}", stage="index")


class MilvusIndex:
    def __init__(self, settings: MilvusSettings, index: IndexSettings, uri: str, identity: dict[str, Any]) -> None:
        self.settings = settings
        self.index_settings = index
        self.uri = uri
        self.collection = settings.collection
        self.identity = identity  # {"model", "dimension", "metric"}
        self._index_type: str | None = None
        self._client = None
        self._lock = threading.RLock()

    # Connection ------------------------------------------------------------
    @property
    def client(self):
        with self._lock:
            if self._client is None:
                from pymilvus import MilvusClient

                if is_lite_uri(self.uri):
                    from pathlib import Path

                    Path(self.uri).parent.mkdir(parents=True, exist_ok=True)
                try:
                    self._client = MilvusClient(self.uri, token=self.settings.token or "")
                except Exception as e:  # noqa: BLE001
                    raise translate_error(e, "connect", self.uri) from e
            return self._client

    @property
    def index_type(self) -> str:
        """The collection's index type once it exists, else what to build."""
        if self._index_type is None:
            built = self.built_with() if self.exists() else None
            if built and built.get("index_type"):
                self._index_type = built["index_type"]
            else:
                version = ""
                if not is_lite_uri(self.uri):
                    try:
                        version = str(self.client.get_server_version())
                    except Exception:  # noqa: BLE001 - an old server without the call
                        version = ""
                self._index_type = resolve_index_type(self.index_settings, self.uri, version)
        return self._index_type

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                try:
                    self._client.close()
                finally:
                    self._client = None

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001
            raise translate_error(e, what, self.uri) from e

    # Collection ------------------------------------------------------------
    def exists(self) -> bool:
        return bool(self._call("has_collection", self.client.has_collection, self.collection))

    def properties(self) -> dict[str, str]:
        desc = self._call("describe_collection", self.client.describe_collection, self.collection)
        return {k: str(v) for k, v in (desc.get("properties") or {}).items()}

    def built_with(self) -> dict[str, Any] | None:
        props = self.properties()
        if "pdfrag.model" not in props:
            return None
        return {
            "model": props["pdfrag.model"],
            "dimension": int(props["pdfrag.dimension"]),
            "metric": props["pdfrag.metric"],
            "index_type": props.get("pdfrag.index_type", ""),
            "schema_version": props.get("pdfrag.schema_version", ""),
        }

    def check_identity(self) -> None:
        """Refuse to mix models: the collection's model, dimension and metric
        must be those of the configured model."""
        built = self.built_with()
        if built is None:
            raise ModelMismatchError(
                f"collection {self.collection!r} at {self.uri} was not created by pdfrag (no model recorded)",
                stage="index",
                hint="use another collection name (PDFRAG_MILVUS__COLLECTION)",
            )
        want = self.identity
        diffs = [f"{k}: collection has {built[k]!r}, configured {want[k]!r}" for k in ("model", "dimension", "metric") if built[k] != want[k]]
        if diffs:
            raise ModelMismatchError(
                f"collection {self.collection!r} was built with another embedding space ({'; '.join(diffs)})",
                stage="index",
                hint=f"use model {built['model']!r}, or index into a new collection (PDFRAG_MILVUS__COLLECTION)",
            )

    def ensure_collection(self) -> bool:
        """Create the collection if missing; check its model if present.
        Returns True when it was created."""
        with self._lock:
            if self.exists():
                self.check_identity()
                self.load()
                return False
            self._create()
            return True

    def _create(self) -> None:
        from pymilvus import DataType

        c = self.client
        dim = int(self.identity["dimension"])
        schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=ID_MAX, description="chunk id: hash(doc, pipeline, position)")
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("text", DataType.VARCHAR, max_length=TEXT_MAX_BYTES)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=ID_MAX, description="sha256 of the PDF bytes")
        schema.add_field("source", DataType.VARCHAR, max_length=SOURCE_MAX_BYTES)
        schema.add_field("page_start", DataType.INT32)
        schema.add_field("page_end", DataType.INT32)
        schema.add_field("chunk_index", DataType.INT32)
        schema.add_field("char_start", DataType.INT64)
        schema.add_field("char_end", DataType.INT64)
        schema.add_field("token_count", DataType.INT32)
        schema.add_field("pipeline", DataType.VARCHAR, max_length=ID_MAX)
        schema.add_field("metadata", DataType.JSON)
        index_params = c.prepare_index_params()
        build = {**DEFAULT_BUILD[self.index_type], **self.index_settings.params}
        # Milvus Lite ignores build parameters passed only flat; passing them
        # both flat and nested works on Lite and on a real server.
        index_params.add_index(
            field_name="vector", index_type=self.index_type, metric_type=self.identity["metric"], params={**build, "params": dict(build)} if build else {}
        )
        properties = {
            "pdfrag.model": str(self.identity["model"]),
            "pdfrag.dimension": str(dim),
            "pdfrag.metric": str(self.identity["metric"]),
            "pdfrag.index_type": self.index_type,
            "pdfrag.schema_version": SCHEMA_VERSION,
        }
        self._call(
            "create_collection",
            c.create_collection,
            self.collection,
            schema=schema,
            index_params=index_params,
            consistency_level="Strong",
            properties=properties,
        )
        if not self.built_with():  # servers that drop properties on create
            self._call("alter_collection_properties", c.alter_collection_properties, self.collection, properties=properties)
        self.load()

    def load(self) -> None:
        self._call("load_collection", self.client.load_collection, self.collection)

    def flush(self) -> None:
        self._call("flush", self.client.flush, self.collection)

    # Writes ----------------------------------------------------------------
    def _batches(self, rows: Sequence[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        batch: list[dict[str, Any]] = []
        size = 0
        for row in rows:
            est = _row_bytes(row)
            if batch and (len(batch) >= self.settings.insert_batch_rows or size + est > self.settings.insert_batch_bytes):
                yield batch
                batch, size = [], 0
            batch.append(row)
            size += est
        if batch:
            yield batch

    def upsert(self, rows: Sequence[dict[str, Any]]) -> int:
        """Upsert chunk rows in batches (≤ insert_batch_rows rows and
        ≤ insert_batch_bytes, far under Milvus's 64 MB request limit)."""
        dim = int(self.identity["dimension"])
        for row in rows:
            check_row(row, dim)
        n = 0
        with self._lock:
            for batch in self._batches(rows):
                self._call("upsert", self.client.upsert, self.collection, batch)
                n += len(batch)
        return n

    def count(self, expr: str = "") -> int:
        res = self._call("query", self.client.query, self.collection, filter=expr, output_fields=["count(*)"], consistency_level="Strong")
        return int(res[0]["count(*)"]) if res else 0

    def delete_where(self, expr: str) -> int:
        """Delete the rows matching ``expr``; returns how many there were."""
        with self._lock:
            n = self.count(expr)
            if n:
                self._call("delete", self.client.delete, self.collection, filter=expr)
        return n

    def delete_doc(self, doc_id: str) -> int:
        return self.delete_where(f"doc_id == {hex_id(doc_id)}")

    def delete_doc_stale(self, doc_id: str, pipeline: str) -> int:
        """Rows of ``doc_id`` written by another pipeline configuration."""
        return self.delete_where(f"doc_id == {hex_id(doc_id)} and pipeline != {hex_id(pipeline)}")

    def chunk_ids(self, doc_id: str) -> list[str]:
        rows = self._query_all(f"doc_id == {hex_id(doc_id)}", ["id"])
        return [r["id"] for r in rows]

    def _query_all(self, expr: str, fields: list[str], page: int = 1000) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        offset = 0
        while True:
            res = self._call(
                "query", self.client.query, self.collection, filter=expr, output_fields=fields, limit=page, offset=offset, consistency_level="Strong"
            )
            out.extend(dict(r) for r in res)
            if len(res) < page:
                return out
            offset += page

    def get(self, ids: list[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        return self._query_all(in_ids("id", ids), CHUNK_FIELDS)

    # Search ----------------------------------------------------------------
    def search(self, vectors: np.ndarray, k: int, expr: str = "", params: dict[str, Any] | None = None) -> list[list[SearchHit]]:
        search_params = {**DEFAULT_SEARCH[self.index_type], **self.index_settings.search_params, **(params or {})}
        if "ef" in search_params:
            search_params["ef"] = max(int(search_params["ef"]), k)
        res = self._call(
            "search",
            self.client.search,
            self.collection,
            data=[v.tolist() for v in np.asarray(vectors, dtype=np.float32)],
            anns_field="vector",
            limit=k,
            filter=expr,
            output_fields=[f for f in CHUNK_FIELDS if f != "id"],
            search_params={"metric_type": self.identity["metric"], "params": search_params},
            consistency_level="Strong",
        )
        return [[SearchHit(h["id"], float(h["distance"]), dict(h["entity"])) for h in hits] for hits in res]

    def stats(self) -> dict[str, Any]:
        built = self.built_with() or {}
        return {"collection": self.collection, "uri": self.uri, "chunks": self.count(), **built}


def _row_bytes(row: dict[str, Any]) -> int:
    vec = row.get("vector")
    n = len(vec) * 4 if vec is not None else 0
    for key in ("text", "source", "doc_id", "id", "pipeline"):
        v = row.get(key)
        if isinstance(v, str):
            n += len(v.encode("utf-8"))
    md = row.get("metadata")
    if md:
        n += len(json.dumps(md, ensure_ascii=False).encode("utf-8"))
    return n + 64


def check_row(row: dict[str, Any], dim: int) -> None:
    """Catch what Milvus reports unclearly (or only for the first row)."""
    vec = row["vector"]
    if len(vec) != dim:
        raise ModelMismatchError(f"vector of {len(vec)} dimensions for a {dim}-d collection", stage="index", source=row.get("source"))
    if len(row["text"].encode("utf-8")) > TEXT_MAX_BYTES:
        raise PdfragError(
            f"chunk {row['chunk_index']} text is {len(row['text'].encode('utf-8'))} UTF-8 bytes, over the {TEXT_MAX_BYTES}-byte field",
            stage="index",
            source=row.get("source"),
            page=row.get("page_start"),
        )
    if len(row["source"].encode("utf-8")) > SOURCE_MAX_BYTES:
        raise PdfragError(f"source URI longer than {SOURCE_MAX_BYTES} bytes", stage="index", source=row["source"][:200])
