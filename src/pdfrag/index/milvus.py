"""Milvus I/O: the chunk collection with an explicit schema.

Works the same on Milvus Lite (a local ``.db`` folder, the default) and on a
Milvus server (``http://host:19530``). The collection records which model,
dimension and metric it was built with (collection properties) and refuses
vectors from another model.

Full text: where the backend has BM25 functions (Milvus Lite, Milvus 2.5+),
``text`` is analyzer-enabled and a ``sparse`` field is filled by Milvus from
it (rows never carry it), so searches can fuse BM25 with the dense vectors
(``hybrid_search``). On Milvus Lite the analyzer runs in this process, in
Python, and its jieba is slow on Latin text; there the ``segmented`` analyzer
is the default: pdfrag cuts the Chinese of each row and query itself
(``pdfrag.index.words``) into a ``bm25_text`` field, which the fast
``standard`` analyzer reads, and ``text`` keeps the chunk as it is.
Creation tries the full-text schema first and falls back to the dense-only
one when the server refuses it; the choice is recorded in the collection
properties (``pdfrag.hybrid``, ``pdfrag.analyzer``). Collections made before
(schema version 1) have no sparse field and keep working, dense only.

Filtered searches return the full ``k`` rows whenever that many match:
Milvus Lite's HNSW and IVF indexes can return far fewer under a selective
filter, so a short answer is completed (IVF: every cell probed; else an exact
search over the matching rows, or an unfiltered search intersected with the
filter when very many rows match).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pdfrag.config import IndexSettings, MilvusSettings
from pdfrag.errors import ConfigError, ModelMismatchError, PdfragError, TransientError
from pdfrag.index._pymilvus import load as load_pymilvus
from pdfrag.index.filters import hex_id, in_ids
from pdfrag.index.words import bm25_words, clip_utf8

# 2: analyzer-enabled text + BM25-filled sparse field where supported.
# 3: the same, or (``pdfrag.analyzer`` = segmented) a ``bm25_text`` field that
#    pdfrag fills and BM25 reads instead of ``text``.
SCHEMA_VERSION = "3"
PIPELINES_PROPERTY = "pdfrag.pipelines"  # comma-separated pipeline ids that may have rows

log = logging.getLogger("pdfrag.index")


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

SPARSE_FIELD = "sparse"
HYBRID_BM25 = "bm25"
# The ``segmented`` analyzer's input: the row's text as ``bm25_words`` gives it.
BM25_TEXT_FIELD = "bm25_text"
SEGMENTED = "segmented"
# Most rows an exact fallback search reads back (also Milvus's query window).
EXACT_FALLBACK_MAX = 16_384
# Milvus's largest search limit.
MAX_LIMIT = 16_384
# Tokens the analyzers drop: punctuation (jieba keeps it as tokens), and the
# commonest English and Chinese function words. They carry almost no BM25
# weight, and their posting lists (every row) make full-text search on Milvus
# Lite 2-3 times slower.
ANALYZER_STOP_WORDS = sorted(
    set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~，。！？；：、“”‘’（）《》【】「」『』〔〕…—～·￥％＃＆＊＋－／＝＠＼＾＿｀｜")
    | set(
        "a an and are as at be been but by can could did do does for from had has have he her his how i if in into is it its "
        "may me might my no not of on or our she should so such than that the their them then there these they this those to "
        "us was we were what when where which who whom why will with would you your".split()
    )
    | set("的 了 是 在 和 与 及 或 也 都 就 而 之 其 这 那 为 对 以 于".split())
)
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


def analyzer_candidates(setting: str = "auto", lite: bool = True) -> list[tuple[str, dict[str, Any]]]:
    """Analyzers to try for full text, best first (``lite``: the backend is
    Milvus Lite, in process or as ``milvus-lite server``).

    - ``jieba``: Milvus's jieba tokenizer over ``text``. It segments Chinese
      (the ``standard`` analyzer finds nothing in Chinese text, which has no
      spaces) and splits Latin text on spaces as well. Fast on a Milvus
      server (Rust); on Milvus Lite it is jieba in Python, over Latin text
      too, about 5 times the cost of ``standard`` per English row.
    - ``segmented`` (Milvus Lite only): pdfrag cuts the text with jieba where
      it is Chinese (``pdfrag.index.words``) and the ``standard`` analyzer
      reads the result from a field of its own. Chinese gets jieba's words,
      English costs what ``standard`` costs.
    - ``standard``: words of letters and digits; Chinese sentences stay whole.

    ``auto``: ``segmented`` on Milvus Lite, ``jieba`` on a server, where the
    ``jieba`` package is installed (Milvus Lite needs it here; a server has
    its own); else ``standard``."""
    # "lowercase" is what a Milvus server needs before the stop filter (Milvus
    # Lite lowercases in its tokenizers and skips filters named by string).
    stop = ["lowercase", {"type": "stop", "stop_words": ANALYZER_STOP_WORDS}]
    jieba = ("jieba", {"tokenizer": "jieba", "filter": stop})
    standard = ("standard", {"tokenizer": "standard", "filter": stop})
    segmented = (SEGMENTED, {"tokenizer": "standard", "filter": stop})
    if setting == SEGMENTED and not lite:
        raise ConfigError(
            "the segmented analyzer is for Milvus Lite; a Milvus server's standard tokenizer splits Chinese into single characters",
            stage="index",
            hint="set index.analyzer to jieba (Milvus's own, fast on a server) or auto",
        )
    if setting in ("standard", "jieba", SEGMENTED):
        return [{"standard": standard, "jieba": jieba, SEGMENTED: segmented}[setting]]
    if not lite:
        return [jieba, standard]
    have_jieba = importlib.util.find_spec("jieba") is not None
    return [segmented, standard] if have_jieba else [standard]


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
    def __init__(
        self,
        settings: MilvusSettings,
        index: IndexSettings,
        uri: str,
        identity: dict[str, Any],
        *,
        dedicated: bool = False,
        timeout: float | None = None,
        consistency: str = "Strong",
    ) -> None:
        """``dedicated``: a connection of its own, not shared with other
        clients of this process (the query service). ``timeout``: seconds per
        search call (None: pymilvus's default). ``consistency``: of searches
        (Strong: every acknowledged write is seen; a Milvus server then waits
        for its next time tick, up to about 200 ms; Bounded skips that wait and
        may miss writes of the last few seconds). Milvus Lite has one level."""
        self.settings = settings
        self.dedicated = dedicated
        self.timeout = timeout
        self.consistency = consistency
        self.index_settings = index
        self.uri = uri
        self.collection = settings.collection
        self.identity = identity  # {"model", "dimension", "metric"}
        self._index_type: str | None = None
        self._server_version: str | None = None
        self._segmented: bool | None = None  # rows and queries carry bm25_text
        self._client = None
        self._lock = threading.RLock()

    # Connection ------------------------------------------------------------
    @property
    def client(self):
        with self._lock:
            if self._client is None:
                MilvusClient = load_pymilvus().MilvusClient  # not a bare import: see pdfrag.index._pymilvus

                if is_lite_uri(self.uri):
                    Path(self.uri).parent.mkdir(parents=True, exist_ok=True)
                try:
                    kw: dict[str, Any] = {"dedicated": True} if self.dedicated else {}
                    if self.timeout:
                        kw["timeout"] = self.timeout  # waiting for the channel
                    self._client = MilvusClient(self.uri, token=self.settings.token or "", **kw)
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
                self._index_type = resolve_index_type(self.index_settings, self.uri, self.server_version())
        return self._index_type

    def forget(self) -> None:
        """Read the collection's make (index type, analyzer) again on next use:
        it may have been dropped and made anew by another process."""
        self._index_type = None
        self._segmented = None

    def server_version(self) -> str:
        """The server's version string ("" for Milvus Lite in process, or a
        server too old to say)."""
        if self._server_version is None:
            version = ""
            if not is_lite_uri(self.uri):
                try:
                    version = str(self.client.get_server_version())
                except Exception:  # noqa: BLE001 - an old server without the call
                    version = ""
            self._server_version = version
        return self._server_version

    def is_lite(self) -> bool:
        """Milvus Lite, in this process or as ``milvus-lite server``."""
        return is_lite_uri(self.uri) or "lite" in self.server_version().lower()

    @property
    def segmented(self) -> bool:
        """Whether the collection's full text reads ``bm25_text``, which
        pdfrag fills (the ``segmented`` analyzer)."""
        if self._segmented is None:
            self._segmented = (self.full_text() or {}).get("analyzer") == SEGMENTED
        return self._segmented

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
        # A Milvus Lite database that is not there has no collection: say so
        # without starting Milvus Lite, which would create an empty one.
        if self._client is None and is_lite_uri(self.uri) and not Path(self.uri).exists():
            return False
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

    def full_text(self) -> dict[str, str] | None:
        """``{"kind": "bm25", "analyzer": ...}`` when the collection has the
        BM25-filled sparse field (hybrid search), else None (dense only)."""
        desc = self._call("describe_collection", self.client.describe_collection, self.collection)
        props = {k: str(v) for k, v in (desc.get("properties") or {}).items()}
        fields = {f.get("name") for f in desc.get("fields") or []}
        if props.get("pdfrag.hybrid") == HYBRID_BM25 and SPARSE_FIELD in fields:
            return {"kind": HYBRID_BM25, "analyzer": props.get("pdfrag.analyzer", "")}
        return None

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
            self._segmented = None
            if self.exists():
                self.check_identity()
                self.load()
                return False
            self._create()
            return True

    def _create(self) -> None:
        """Create the collection: with the BM25 full-text fields when the
        backend takes them (each analyzer in turn), else dense only."""
        attempts: list[tuple[str, dict[str, Any]] | None] = []
        if self.index_settings.hybrid:
            attempts.extend(analyzer_candidates(self.index_settings.analyzer, lite=self.is_lite()))
        attempts.append(None)
        for analyzer in attempts:
            try:
                self._create_with(analyzer)
            except TransientError:
                raise
            except PdfragError as e:
                if analyzer is None:
                    raise
                log.info("Milvus at %s refused full text with the %s analyzer (%s); trying without", self.uri, analyzer[0], e)
                self._drop_new()
                continue
            if analyzer is not None and self.full_text() is None:
                # An older server that ignores functions: it made a plain
                # sparse field that rows would have to fill. Start over.
                log.info("Milvus at %s kept no BM25 function; creating the dense-only schema", self.uri)
                self._drop_new()
                continue
            return

    def _drop_new(self) -> None:
        """Drop a collection this object has just created (empty)."""
        self._segmented = None
        try:
            if self.client.has_collection(self.collection):
                self.client.drop_collection(self.collection)
        except Exception as e:  # noqa: BLE001
            raise translate_error(e, "drop_collection", self.uri) from e

    def _create_with(self, analyzer: tuple[str, dict[str, Any]] | None) -> None:
        DataType = load_pymilvus().DataType  # not a bare import: see pdfrag.index._pymilvus

        c = self.client
        dim = int(self.identity["dimension"])
        schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=ID_MAX, description="chunk id: hash(doc, pipeline, position)")
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        # The field BM25 reads: ``text`` itself, or (segmented) a field of its own.
        bm25_input = None if analyzer is None else (BM25_TEXT_FIELD if analyzer[0] == SEGMENTED else "text")
        if bm25_input == "text":
            schema.add_field("text", DataType.VARCHAR, max_length=TEXT_MAX_BYTES, enable_analyzer=True, analyzer_params=analyzer[1])
        else:
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
        if analyzer is not None:
            pm = load_pymilvus()  # not a bare import: see pdfrag.index._pymilvus
            Function, FunctionType = pm.Function, pm.FunctionType

            if bm25_input == BM25_TEXT_FIELD:
                schema.add_field(
                    BM25_TEXT_FIELD, DataType.VARCHAR, max_length=TEXT_MAX_BYTES, enable_analyzer=True, analyzer_params=analyzer[1],
                    description="text with its Chinese cut into words by pdfrag (BM25's input)",
                )
            schema.add_field(SPARSE_FIELD, DataType.SPARSE_FLOAT_VECTOR, description=f"BM25 of {bm25_input}, filled by Milvus")
            schema.add_function(
                Function(name="text_bm25", function_type=FunctionType.BM25, input_field_names=[bm25_input], output_field_names=[SPARSE_FIELD])
            )
        index_params = c.prepare_index_params()
        build = {**DEFAULT_BUILD[self.index_type], **self.index_settings.params}
        # Milvus Lite ignores build parameters passed only flat; passing them
        # both flat and nested works on Lite and on a real server.
        index_params.add_index(
            field_name="vector", index_type=self.index_type, metric_type=self.identity["metric"], params={**build, "params": dict(build)} if build else {}
        )
        if analyzer is not None:
            index_params.add_index(field_name=SPARSE_FIELD, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        properties = {
            "pdfrag.model": str(self.identity["model"]),
            "pdfrag.dimension": str(dim),
            "pdfrag.metric": str(self.identity["metric"]),
            "pdfrag.index_type": self.index_type,
            "pdfrag.schema_version": SCHEMA_VERSION,
            "pdfrag.hybrid": HYBRID_BM25 if analyzer is not None else "none",
            "pdfrag.analyzer": analyzer[0] if analyzer is not None else "",
            PIPELINES_PROPERTY: "",  # a new collection holds no pipeline's rows
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

    # Which pipelines wrote rows ---------------------------------------------
    # A document's rows are replaced by the rows of its current pipeline
    # configuration; rows that another configuration wrote have to go. Finding
    # them takes a filter on ``doc_id``, which scans the collection (Milvus
    # Lite: about 40 µs a row, so 0.4 s per document at 10,000 chunks, and
    # quadratic over a corpus). The collection records the pipelines that may
    # have rows in it, so that the scan runs only when another one does.
    def pipelines(self) -> set[str] | None:
        """The pipelines that may have rows here; None when the collection
        does not say (made by an older pdfrag, or a server that drops
        properties): then any may."""
        raw = self.properties().get(PIPELINES_PROPERTY)
        return None if raw is None else {p for p in raw.split(",") if p}

    def record_pipelines(self, pipelines: set[str]) -> None:
        self._call(
            "alter_collection_properties", self.client.alter_collection_properties, self.collection,
            properties={PIPELINES_PROPERTY: ",".join(sorted(pipelines))},
        )

    def pipelines_present(self, besides: str, page: int = 1000) -> set[str]:
        """The pipelines other than ``besides`` that have rows (a scan of the
        collection; once a run)."""
        found: set[str] = set()
        expr = f"pipeline != {hex_id(besides)}"
        while True:
            rows = self._call("query", self.client.query, self.collection, filter=expr, output_fields=["pipeline"], limit=page, consistency_level="Strong")
            if not rows:
                return found
            found.update(r["pipeline"] for r in rows)
            expr = f"pipeline != {hex_id(besides)} and " + " and ".join(f"pipeline != {hex_id(p)}" for p in sorted(found))

    def count_ids(self, ids: Sequence[str]) -> int:
        """How many of ``ids`` are rows here (primary-key lookups, no scan)."""
        n = 0
        for i in range(0, len(ids), 1000):
            n += len(self._call("get", self.client.get, self.collection, ids=list(ids[i : i + 1000]), output_fields=["id"]))
        return n

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
        if self.segmented:
            rows = [{**row, BM25_TEXT_FIELD: clip_utf8(bm25_words(row["text"]), TEXT_MAX_BYTES)} for row in rows]
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

    def delete_docs(self, doc_ids: Sequence[str]) -> int:
        """``delete_doc`` for many documents: a filter scans the collection,
        so one scan per 500 documents instead of one per document."""
        unique = sorted(set(doc_ids))
        return sum(self.delete_where(in_ids("doc_id", unique[i : i + 500])) for i in range(0, len(unique), 500))

    def delete_doc_stale(self, doc_id: str, pipeline: str) -> int:
        """Rows of ``doc_id`` written by another pipeline configuration."""
        return self.delete_where(f"doc_id == {hex_id(doc_id)} and pipeline != {hex_id(pipeline)}")

    def move_doc(self, doc_id: str, gone: Sequence[str], source: str, file_name: str) -> int:
        """Rows of ``doc_id`` that name a source in ``gone`` name ``source``
        (and ``file_name``) instead, vectors and text unchanged: a document
        another file still holds keeps its rows when the file they named is
        deleted or changed. Returns how many rows moved."""
        gone_set = set(gone)
        if not gone_set:
            return 0
        with self._lock:
            rows = [r for r in self._query_all(f"doc_id == {hex_id(doc_id)}", [*CHUNK_FIELDS, "vector"]) if r["source"] in gone_set]
            for r in rows:
                r["source"] = source
                r["metadata"] = {**(r.get("metadata") or {}), "file_name": file_name}
                r["vector"] = [float(x) for x in r["vector"]]
            return self.upsert(rows) if rows else 0

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
    def search_params(self, k: int, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Index search parameters: per-type defaults, then settings, then
        ``params``; HNSW's ``ef`` is never below ``k``."""
        sp = {**DEFAULT_SEARCH[self.index_type], **self.index_settings.search_params, **(params or {})}
        if "ef" in sp:
            sp["ef"] = max(int(sp["ef"]), k)
        return sp

    def _timeout(self) -> dict[str, Any]:
        return {"timeout": self.timeout} if self.timeout else {}

    def _dense_search(
        self, vectors: np.ndarray, k: int, expr: str, sp: dict[str, Any], output_fields: list[str] | None = None
    ) -> list[list[SearchHit]]:
        res = self._call(
            "search",
            self.client.search,
            self.collection,
            data=[v.tolist() for v in np.asarray(vectors, dtype=np.float32)],
            anns_field="vector",
            limit=k,
            filter=expr,
            output_fields=[f for f in CHUNK_FIELDS if f != "id"] if output_fields is None else output_fields,
            search_params={"metric_type": self.identity["metric"], "params": sp},
            consistency_level=self.consistency,
            **self._timeout(),
        )
        return [[SearchHit(h["id"], float(h["distance"]), dict(h["entity"])) for h in hits] for hits in res]

    def search(self, vectors: np.ndarray, k: int, expr: str = "", params: dict[str, Any] | None = None) -> list[list[SearchHit]]:
        """Nearest chunks of each query vector, best first: ``k`` of them
        whenever at least ``k`` rows match ``expr`` (see the module doc)."""
        k = min(int(k), MAX_LIMIT)
        sp = self.search_params(k, params)
        res = self._dense_search(vectors, k, expr, sp)
        if self.index_type != "FLAT" and any(len(hits) < k for hits in res):
            res = self._complete(np.asarray(vectors, dtype=np.float32), k, expr, sp, res)
        return res

    def _complete(self, vectors: np.ndarray, k: int, expr: str, sp: dict[str, Any], res: list[list[SearchHit]]) -> list[list[SearchHit]]:
        """Answers shorter than ``k`` although more rows match: approximate
        indexes under a selective filter (Milvus Lite). Redo them so the full
        ``k`` comes back."""
        available = self.count(expr)
        out = list(res)
        for i, hits in enumerate(res):
            want = min(k, available)
            if len(hits) >= want:
                continue
            vec = vectors[i : i + 1]
            if "nprobe" in sp:  # IVF: probing every cell is exhaustive
                nlist = int({**DEFAULT_BUILD[self.index_type], **self.index_settings.params}.get("nlist", 128))
                hits = self._dense_search(vec, k, expr, {**sp, "nprobe": max(nlist, int(sp["nprobe"]))})[0]
            if len(hits) < want and available <= EXACT_FALLBACK_MAX:
                hits = self._exact(vec[0], k, expr)
                log.debug("search completed exactly over %d matching rows", available)
            elif len(hits) < want:
                hits = self._widen(vec, k, expr, sp, hits)
            out[i] = hits
        return out

    def _exact(self, vector: np.ndarray, k: int, expr: str) -> list[SearchHit]:
        """Exact nearest rows among those matching ``expr`` (few of them)."""
        rows = self._query_all(expr or 'id != ""', ["id", "vector"])
        if not rows:
            return []
        mat = np.asarray([r["vector"] for r in rows], dtype=np.float32)
        q = np.asarray(vector, dtype=np.float32)
        metric = self.identity["metric"]
        if metric == "L2":
            scores = ((mat - q) ** 2).sum(axis=1)
            order = np.argsort(scores, kind="stable")[:k]
        else:
            if metric == "COSINE":
                mat = mat / np.maximum(np.linalg.norm(mat, axis=1, keepdims=True), 1e-12)
                q = q / max(float(np.linalg.norm(q)), 1e-12)
            scores = mat @ q
            order = np.argsort(-scores, kind="stable")[:k]
        ids = [rows[j]["id"] for j in order]
        entities = {r["id"]: r for r in self.get(ids)}
        out = []
        for j in order:
            e = entities.get(rows[j]["id"])
            if e is not None:
                out.append(SearchHit(e["id"], float(scores[j]), {f: e[f] for f in CHUNK_FIELDS if f != "id"}))
        return out

    def _widen(self, vec: np.ndarray, k: int, expr: str, sp: dict[str, Any], hits: list[SearchHit]) -> list[SearchHit]:
        """Many rows match, yet the filtered search came back short: search
        without the filter, as deep as Milvus allows, and keep the rows that
        match (checked by Milvus with the same expression)."""
        wide = self._dense_search(vec, MAX_LIMIT, "", {**sp, **({"ef": MAX_LIMIT} if "ef" in sp else {})}, output_fields=[])[0]
        keep: set[str] = set()
        for i in range(0, len(wide), 1000):
            ids = [h.chunk_id for h in wide[i : i + 1000]]
            rows = self._call(
                "query", self.client.query, self.collection, filter=f"({expr}) and {in_ids('id', ids)}", output_fields=["id"], consistency_level="Strong"
            )
            keep.update(r["id"] for r in rows)
        merged = {h.chunk_id: h for h in hits}
        for h in wide:
            if h.chunk_id in keep:
                merged.setdefault(h.chunk_id, h)
        better = (lambda h: h.score) if self.identity["metric"] == "L2" else (lambda h: -h.score)
        best = sorted(merged.values(), key=better)[:k]
        missing = [h.chunk_id for h in best if not h.entity]
        entities = {r["id"]: r for r in self.get(missing)}
        return [h if h.entity else SearchHit(h.chunk_id, h.score, {f: entities[h.chunk_id][f] for f in CHUNK_FIELDS if f != "id"}) for h in best if h.entity or h.chunk_id in entities]

    def hybrid_search(
        self,
        vector: np.ndarray,
        text: str,
        k: int,
        expr: str = "",
        params: dict[str, Any] | None = None,
        candidates: int | None = None,
        rrf_k: int = 60,
    ) -> list[SearchHit]:
        """BM25 over ``text`` and the dense vector, fused by reciprocal rank
        (``RRFRanker``): the best ``k`` of both lists of ``candidates`` rows.
        Scores are RRF scores. Needs a collection with full text
        (``full_text()``)."""
        pm = load_pymilvus()  # not a bare import: see pdfrag.index._pymilvus
        AnnSearchRequest, RRFRanker = pm.AnnSearchRequest, pm.RRFRanker

        k = min(int(k), MAX_LIMIT)
        n = min(max(int(candidates or k), k), MAX_LIMIT)
        sp = self.search_params(n, params)
        vec = np.asarray(vector, dtype=np.float32).reshape(-1)
        reqs = [
            AnnSearchRequest(data=[vec.tolist()], anns_field="vector", param={"metric_type": self.identity["metric"], "params": sp}, limit=n, expr=expr or None),
            AnnSearchRequest(data=[self._bm25_query(text)], anns_field=SPARSE_FIELD, param={"metric_type": "BM25"}, limit=n, expr=expr or None),
        ]
        res = self._call(
            "hybrid_search",
            self.client.hybrid_search,
            self.collection,
            reqs,
            RRFRanker(rrf_k),
            limit=k,
            output_fields=[f for f in CHUNK_FIELDS if f != "id"],
            consistency_level=self.consistency,
            **self._timeout(),
        )
        hits = [SearchHit(h["id"], float(h["distance"]), dict(h["entity"])) for h in res[0]]
        if len(hits) < k and self.index_type != "FLAT":
            # The dense side may have come back short under a filter: fuse
            # complete lists here, with the same formula as RRFRanker.
            dense = self.search(vec[None, :], n, expr, params)[0]
            if len(dense) > len(hits):
                sparse = self.text_search(text, n, expr)
                hits = rrf_fuse([dense, sparse], k, rrf_k)
        return hits

    def text_search(self, text: str, k: int, expr: str = "") -> list[SearchHit]:
        """BM25 full-text search alone (scores as the backend reports them)."""
        res = self._call(
            "search",
            self.client.search,
            self.collection,
            data=[self._bm25_query(text)],
            anns_field=SPARSE_FIELD,
            limit=min(int(k), MAX_LIMIT),
            filter=expr,
            output_fields=[f for f in CHUNK_FIELDS if f != "id"],
            search_params={"metric_type": "BM25"},
            consistency_level=self.consistency,
            **self._timeout(),
        )
        return [SearchHit(h["id"], float(h["distance"]), dict(h["entity"])) for h in res[0]]

    def _bm25_query(self, text: str) -> str:
        """The query as the collection's full text reads it: cut into words
        as the rows were (``segmented``), else as it is."""
        return bm25_words(text) if self.segmented else text

    def stats(self) -> dict[str, Any]:
        built = self.built_with() or {}
        return {"collection": self.collection, "uri": self.uri, "chunks": self.count(), **built}


def rrf_fuse(lists: Sequence[Sequence[SearchHit]], k: int, rrf_k: int = 60) -> list[SearchHit]:
    """Reciprocal rank fusion, as Milvus's RRFRanker: score = sum over the
    lists of 1 / (rrf_k + rank), ranks from 1."""
    scores: dict[str, float] = {}
    first: dict[str, SearchHit] = {}
    for hits in lists:
        for rank, h in enumerate(hits, 1):
            scores[h.chunk_id] = scores.get(h.chunk_id, 0.0) + 1.0 / (rrf_k + rank)
            first.setdefault(h.chunk_id, h)
    best = sorted(scores, key=lambda cid: -scores[cid])[:k]
    return [SearchHit(cid, scores[cid], first[cid].entity) for cid in best]


def _row_bytes(row: dict[str, Any]) -> int:
    vec = row.get("vector")
    n = len(vec) * 4 if vec is not None else 0
    for key in ("text", BM25_TEXT_FIELD, "source", "doc_id", "id", "pipeline"):
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
