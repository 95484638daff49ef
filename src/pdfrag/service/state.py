"""The query service's resources: one Milvus connection of its own, the
embedding model behind a small batcher, and what is known about the
collection (checked at startup, re-checked lazily until it exists)."""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np

from pdfrag.config import Settings
from pdfrag.embed import Embedder, get_embedder, get_profile
from pdfrag.errors import ConfigError, ModelMismatchError, PdfragError, TransientError
from pdfrag.index import words
from pdfrag.index.milvus import MilvusIndex
from pdfrag.ledger import INDEXED, Ledger, LedgerEntry
from pdfrag.search import Searcher, SearchFilters, SearchOutcome

log = logging.getLogger("pdfrag.service")

NO_COLLECTION = "no collection yet: run pdfrag ingest"


class NotReady(Exception):
    """The service cannot answer queries now (HTTP 503); the message says why."""


class QueryEmbedder:
    """Embeds queries on one worker thread; requests that arrive together
    share a forward pass (on a small CPU, concurrent forward passes only fight
    over the cores)."""

    def __init__(self, embedder: Embedder, max_batch: int = 32, threads: int = 1) -> None:
        self.embedder = embedder
        self.max_batch = max_batch
        self.threads = threads
        self.loaded = threading.Event()
        self.error: str | None = None
        self._queue: queue.Queue[tuple[str, Future] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._loading = False

    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="pdfrag-query-embedder", daemon=True)
                self._thread.start()

    def load(self) -> None:
        """Load the weights and run one query (first calls are slow)."""
        try:
            self.embedder.embed_queries(["warm up"])
        except Exception as e:  # noqa: BLE001
            self.error = f"model {self.embedder.profile.name} failed to load: {e}"
            raise
        self.error = None
        self.loaded.set()

    def load_in_background(self) -> None:
        """Start loading once (the app's startup does; /ready does too when
        the app runs without its startup, as under a bare TestClient)."""
        with self._lock:
            if self._loading or self.loaded.is_set():
                return
            self._loading = True
        threading.Thread(target=self._load_quietly, name="pdfrag-model-load", daemon=True).start()

    def _load_quietly(self) -> None:
        try:
            self.load()
        except Exception:  # noqa: BLE001 - reported by /ready
            log.exception("loading the embedding model failed")
        finally:
            with self._lock:
                self._loading = False

    def embed(self, text: str, timeout: float = 120.0) -> np.ndarray:
        self.start()
        fut: Future = Future()
        self._queue.put((text, fut))
        return fut.result(timeout=timeout)

    def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)

    def _run(self) -> None:
        if self.threads:
            try:  # torch: this thread only; ONNX Runtime: a session with that many
                self.embedder.set_threads(self.threads)
            except Exception:  # noqa: BLE001 - best effort
                pass
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
            try:
                vecs = self.embedder.embed_queries([t for t, _ in batch], batch_size=len(batch))
                self.loaded.set()
            except Exception as e:  # noqa: BLE001
                for _, fut in batch:
                    fut.set_exception(e)
                continue
            for (_, fut), v in zip(batch, vecs, strict=True):
                fut.set_result(v)


@dataclass
class CollectionState:
    identity_ok: bool = False
    full_text: dict[str, str] | None = None
    index_type: str | None = None


class QueryService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.profile = get_profile(settings.embed.model)  # ConfigError: unknown model
        self.index = MilvusIndex(
                        settings.milvus,
            settings.index,
            settings.milvus_uri,
            self.profile.identity(),
            dedicated=True,
            timeout=settings.service.milvus_timeout,
            consistency=settings.service.consistency,
        )
        self.ledger = Ledger(self.index)
        self.embedder = QueryEmbedder(get_embedder(settings.embed), settings.service.embed_batch, settings.service.embed_threads)
        self.timeout = settings.service.milvus_timeout
        self._state = CollectionState()
        self._lock = threading.Lock()

    # Startup -----------------------------------------------------------------
    def startup_check(self) -> None:
        """Refuse another embedding space now (ModelMismatchError), and a
        configuration that cannot work (ConfigError: a Milvus Lite database
        held by another process). An unreachable Milvus or a missing
        collection only makes /ready say so until they are there."""
        try:
            self.collection()
        except NotReady as e:
            log.warning("query service starting, not ready yet: %s", e)
        except TransientError as e:
            log.warning("query service starting, Milvus not reachable yet: %s", e)
        except ConfigError:
            raise
        except PdfragError as e:
            log.warning("query service starting, collection not checked: %s", e)

    def close(self) -> None:
        self.embedder.close()
        self.index.close()

    # The collection ------------------------------------------------------------
    def collection(self) -> CollectionState:
        """What is known about the collection; checks it once it exists.
        Raises NotReady (none yet), ModelMismatchError, TransientError."""
        st = self._state
        if st.identity_ok:
            return st
        with self._lock:
            if self._state.identity_ok:
                return self._state
            if not self.index.exists():
                raise NotReady(NO_COLLECTION)
            self.index.forget()  # read what the collection was built with
            self.index.check_identity()
            new = CollectionState(identity_ok=True, full_text=self.index.full_text(), index_type=self.index.index_type)
            if self.index.segmented:
                words.preload()  # the first Chinese query need not wait for jieba's dictionary
            self.index.load()
            self._load_ledger()
            self._state = new
            log.info("collection %r ready: %s index, %s", self.index.collection, new.index_type, "hybrid BM25 + dense" if new.full_text else "dense only")
            return new

    def forget(self) -> None:
        """The collection vanished or changed: check it again next time."""
        self._state = CollectionState()

    def _load_ledger(self) -> None:
        c = self.index.client
        if self.index._call("has_collection", c.has_collection, self.ledger.collection, timeout=self.timeout):
            self.index._call("load_collection", c.load_collection, self.ledger.collection, timeout=self.timeout)

    def _reloading(self, fn):
        """Run ``fn``; if Milvus says a collection is not loaded (a restarted
        Milvus Lite server loads nothing), load both and run it again."""
        try:
            return fn()
        except PdfragError as e:
            text = str(e).lower()
            if isinstance(e, TransientError):
                raise
            if "not found" in text or "does not exist" in text or "can't find" in text:
                self.forget()
                raise NotReady(NO_COLLECTION) from e
            if "load" not in text and "released" not in text:
                raise
            self.index.load()
            self._load_ledger()
            return fn()

    # Readiness ------------------------------------------------------------------
    def readiness(self) -> dict[str, Any]:
        reasons: list[str] = []
        checks: dict[str, str] = {}
        st = CollectionState()
        milvus_ok = False
        try:
            names = self.index._call("list_collections", self.index.client.list_collections, timeout=min(self.timeout, 5.0))
            milvus_ok = True
            checks["milvus"] = "ok"
        except PdfragError as e:
            checks["milvus"] = "unreachable"
            reasons.append(f"Milvus unreachable at {self.index.uri}: {_short(e)}")
        if milvus_ok:
            if self.index.collection not in names:
                self.forget()
                checks["collection"] = "missing"
                reasons.append(NO_COLLECTION)
            else:
                try:
                    st = self.collection()
                    state = self.index._call("get_load_state", self.index.client.get_load_state, self.index.collection, timeout=self.timeout)
                    if "Loaded" not in str(state.get("state")):
                        self.index.load()
                        self._load_ledger()
                        state = self.index._call("get_load_state", self.index.client.get_load_state, self.index.collection, timeout=self.timeout)
                    loaded = "Loaded" in str(state.get("state"))
                    checks["collection"] = "loaded" if loaded else f"not loaded ({state.get('state')})"
                    if not loaded:
                        reasons.append(f"collection {self.index.collection!r} is not loaded")
                except ModelMismatchError as e:
                    checks["collection"] = "other model"
                    reasons.append(str(e))
                except (NotReady, PdfragError) as e:
                    checks["collection"] = "error"
                    reasons.append(_short(e))
        if self.embedder.loaded.is_set():
            checks["model"] = "loaded"
        elif self.embedder.error:
            checks["model"] = "failed"
            reasons.append(self.embedder.error)
        else:
            self.embedder.load_in_background()
            checks["model"] = "loading"
            reasons.append(f"embedding model {self.profile.name} is loading")
        return {
            "ready": not reasons,
            "reasons": reasons,
            "hybrid": self.hybrid(st),
            "checks": checks,
            "collection": self.index.collection,
            "model": self.profile.name,
            "index_type": st.index_type,
            "analyzer": (st.full_text or {}).get("analyzer") or None,
        }

    def hybrid(self, st: CollectionState) -> bool:
        """BM25 fusion: the collection has full text and it is not turned off."""
        return bool(st.full_text) and self.settings.service.hybrid

    # Queries ------------------------------------------------------------------
    def search(self, query: str, k: int, filters: SearchFilters, group_by_document: bool) -> SearchOutcome:
        filters.expr()  # ValueError before anything else
        st = self.collection()
        searcher = Searcher(self.index, self.embedder.embed, hybrid=self.hybrid(st), rrf_k=self.settings.index.rrf_k, english_only=self.profile.english_only)
        return self._reloading(lambda: searcher.search(query, k, filters, group_by_document))

    def documents(self) -> list[LedgerEntry]:
        """Indexed documents (one entry per source), by source."""
        self.collection()

        def read() -> list[LedgerEntry]:
            c = self.index.client
            if not self.index._call("has_collection", c.has_collection, self.ledger.collection, timeout=self.timeout):
                return []
            return sorted(self.ledger._query(f'status == "{INDEXED}"'), key=lambda e: e.source)

        return self._reloading(read)


def _short(e: Exception, n: int = 300) -> str:
    text = str(e).replace("\n", " ")
    return text if len(text) <= n else text[: n - 1] + "…"
