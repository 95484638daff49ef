"""The ledger: which source maps to which document hash, with what result.

It lives in Milvus beside the chunks (collection ``<collection>_ledger``), so
the index and its ledger can never disagree, every worker and the query
service see the same one, and deleting the database resets both.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, fields
from typing import Any

from pdfrag.identity import sha256_hex
from pdfrag.index._pymilvus import load as load_pymilvus
from pdfrag.index.filters import hex_id, in_ids
from pdfrag.index.milvus import MilvusIndex

INDEXED = "indexed"
FAILED = "failed"


@dataclass
class LedgerEntry:
    source: str
    name: str
    doc_id: str
    pipeline: str
    status: str  # indexed | failed
    chunks: int = 0
    pages: int = 0
    size: int = 0
    stage: str = ""
    error: str = ""
    retryable: bool = False
    run_id: str = ""
    updated_at: str = ""
    fingerprint: str = ""

    @property
    def key(self) -> str:
        return source_key(self.source)


def source_key(source: str) -> str:
    return sha256_hex(source)[:32]


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


_FIELDS = [f.name for f in fields(LedgerEntry)]


class Ledger:
    def __init__(self, index: MilvusIndex) -> None:
        self.index = index
        self.collection = f"{index.collection}_ledger"
        self.fields = list(_FIELDS)
        self._ready = False  # ensure() has run: reads and writes call it first otherwise

    @property
    def client(self):
        return self.index.client

    def ensure(self) -> None:
        """Open (load) the ledger collection, creating it when missing, and
        learn which fields it has. Reads and writes do this on first use."""
        DataType = load_pymilvus().DataType  # not a bare import: see pdfrag.index._pymilvus

        c = self.client
        if self.index._call("has_collection", c.has_collection, self.collection):
            desc = self.index._call("describe_collection", c.describe_collection, self.collection)
            have = {f["name"] for f in desc.get("fields", [])}
            # Ledgers written by an older pdfrag lack newer fields: use what is there.
            self.fields = [f for f in _FIELDS if f in have]
            self.index._call("load_collection", c.load_collection, self.collection)
            self._ready = True
            return
        s = c.create_schema(auto_id=False, enable_dynamic_field=False)
        s.add_field("key", DataType.VARCHAR, is_primary=True, max_length=32, description="sha256(source)[:32]")
        s.add_field("source", DataType.VARCHAR, max_length=4096)
        s.add_field("name", DataType.VARCHAR, max_length=1024)
        s.add_field("doc_id", DataType.VARCHAR, max_length=64)
        s.add_field("pipeline", DataType.VARCHAR, max_length=64)
        s.add_field("status", DataType.VARCHAR, max_length=16)
        s.add_field("chunks", DataType.INT64)
        s.add_field("pages", DataType.INT64)
        s.add_field("size", DataType.INT64)
        s.add_field("stage", DataType.VARCHAR, max_length=32)
        s.add_field("error", DataType.VARCHAR, max_length=4096)
        s.add_field("retryable", DataType.BOOL)
        s.add_field("run_id", DataType.VARCHAR, max_length=64)
        s.add_field("updated_at", DataType.VARCHAR, max_length=40)
        s.add_field("fingerprint", DataType.VARCHAR, max_length=256)
        # Milvus needs a vector field in every collection; this one is unused.
        s.add_field("_v", DataType.FLOAT_VECTOR, dim=2)
        ip = c.prepare_index_params()
        ip.add_index(field_name="_v", index_type="FLAT", metric_type="L2")
        self.index._call("create_collection", c.create_collection, self.collection, schema=s, index_params=ip, consistency_level="Strong")
        self.index._call("load_collection", c.load_collection, self.collection)
        self._ready = True

    def _open(self) -> None:
        if not self._ready:
            self.ensure()

    def put(self, entries: list[LedgerEntry]) -> None:
        if not entries:
            return
        self._open()
        rows = []
        for e in entries:
            e.updated_at = e.updated_at or now_iso()
            row = asdict(e)
            row["error"] = row["error"].encode("utf-8")[:4000].decode("utf-8", "ignore")
            row["name"] = row["name"].encode("utf-8")[:1000].decode("utf-8", "ignore")
            rows.append({"key": e.key, **{k: v for k, v in row.items() if k in self.fields}, "_v": [0.0, 0.0]})
        for i in range(0, len(rows), 500):
            self.index._call("ledger upsert", self.client.upsert, self.collection, rows[i : i + 500])

    def _query(self, expr: str) -> list[LedgerEntry]:
        self._open()
        out: list[LedgerEntry] = []
        offset = 0
        while True:
            res = self.index._call(
                "ledger query", self.client.query, self.collection, filter=expr, output_fields=self.fields, limit=1000, offset=offset, consistency_level="Strong"
            )
            out.extend(LedgerEntry(**{k: r[k] for k in self.fields}) for r in res)
            if len(res) < 1000:
                return out
            offset += 1000

    def get(self, sources: list[str]) -> dict[str, LedgerEntry]:
        found: dict[str, LedgerEntry] = {}
        for i in range(0, len(sources), 500):
            keys = [source_key(s) for s in sources[i : i + 500]]
            for e in self._query(in_ids("key", keys)):
                found[e.source] = e
        return found

    def all(self) -> list[LedgerEntry]:
        return sorted(self._query('key != ""'), key=lambda e: e.source)

    def sources_for_doc(self, doc_id: str) -> list[str]:
        return [e.source for e in self._query(f"doc_id == {hex_id(doc_id)} and status == \"{INDEXED}\"")]

    def sources_for_docs(self, doc_ids: list[str]) -> dict[str, list[str]]:
        """``sources_for_doc`` for many documents, one query per 500."""
        out: dict[str, list[str]] = {d: [] for d in doc_ids}
        unique = sorted(set(doc_ids))
        for i in range(0, len(unique), 500):
            for e in self._query(f"{in_ids('doc_id', unique[i : i + 500])} and status == \"{INDEXED}\""):
                out[e.doc_id].append(e.source)
        return out

    def delete(self, sources: list[str]) -> None:
        self._open()
        for i in range(0, len(sources), 500):
            keys = [source_key(s) for s in sources[i : i + 500]]
            self.index._call("ledger delete", self.client.delete, self.collection, filter=in_ids("key", keys))

    def counts(self) -> dict[str, Any]:
        entries = self.all()
        return {
            "documents": sum(1 for e in entries if e.status == INDEXED),
            "failed": sum(1 for e in entries if e.status == FAILED),
            "pages": sum(e.pages for e in entries if e.status == INDEXED),
            "last_indexed_at": max((e.updated_at for e in entries if e.status == INDEXED), default=None),
        }
