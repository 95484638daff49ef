from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from pdfrag.pipeline import Plan, get_pipeline
from pdfrag.tasks._retry import RETRY


@task(name="precheck", cache_policy=NO_CACHE, **RETRY)
def precheck(config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Storage, Milvus and the model's dimension, before the first PDF."""
    p = get_pipeline(config)
    p.precheck()
    return {"store": p.store.root, "milvus": p.index.uri, "collection": p.index.collection, "model": p.profile.name, "pipeline": p.pipeline_id}


@task(name="plan", cache_policy=NO_CACHE, **RETRY)
def plan(source: str, config: dict[str, Any] | None = None, prune: bool = False, reprocess: bool = False, retry_failed: bool = False) -> Plan:
    """List the source, hash every file, compare with the ledger."""
    return get_pipeline(config).plan(source, prune=prune, reprocess=reprocess, retry_failed=retry_failed)
