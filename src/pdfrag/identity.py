"""Content identity: one place decides every id and cache key.

- ``doc_id``: SHA-256 of the PDF's bytes.
- ``config_hash``: SHA-256 of a configuration as sorted-key JSON (never
  ``str()`` of objects, whose key order and memory addresses leak in).
- ``stage_key``: hash of the input's id, the stage name, its configuration
  and the pipeline version; it names the stage's Parquet file and is the
  Prefect cache key.
- ``chunk_id``: hash of the document, the chunking pipeline's hash and the
  chunk's position; the Milvus primary key, so re-ingesting upserts.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, BinaryIO

from pdfrag import PIPELINE_VERSION

_BUF = 1 << 20


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)


def _default(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot hash object of type {type(obj).__name__} into a cache key")


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def doc_id_of_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def doc_id_of_stream(stream: BinaryIO) -> str:
    h = hashlib.sha256()
    for block in iter(lambda: stream.read(_BUF), b""):
        h.update(block)
    return h.hexdigest()


def config_hash(config: Any) -> str:
    """Stable hash of a JSON-able configuration (dicts, lists, pydantic models)."""
    return sha256_hex(_canonical(config))


def stage_key(input_id: str, stage: str, config: Any) -> str:
    return sha256_hex(_canonical({"input": input_id, "stage": stage, "config": config, "v": PIPELINE_VERSION}))


def chunk_id(doc_id: str, pipeline_hash: str, index: int) -> str:
    # 128 bits is ample for uniqueness and keeps the primary key short.
    return sha256_hex(f"{doc_id}:{pipeline_hash}:{index}")[:32]
