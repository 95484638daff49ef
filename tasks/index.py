from __future__ import annotations

import threading
import time
from contextlib import nullcontext
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.concurrency.sync import concurrency

from pdfrag.pipeline import IndexResult, get_pipeline
from pdfrag.tasks._retry import RETRY
from pdfrag.types import Failure, RunSummary, SourceFile, StageOutput


MILVUS_WRITE_LIMIT = "pdfrag-milvus-write"
LIMIT_CHECK_SECONDS = 60.0
_limits: dict[str, tuple[float, bool]] = {}
_limits_lock = threading.Lock()


def _limit_exists(name: str) -> bool:
    """Whether the global concurrency limit exists on the server, checked at
    most once a minute per process. Unknown (server trouble): assume it does."""
    now = time.monotonic()
    with _limits_lock:
        seen = _limits.get(name)
        if seen is not None and now - seen[0] < LIMIT_CHECK_SECONDS:
            return seen[1]
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True) as client:
            client.read_global_concurrency_limit_by_name(name)
        exists = True
    except ObjectNotFound:
        exists = False
    except Exception:  # noqa: BLE001 - let concurrency() itself deal with the server
        return True
    with _limits_lock:
        _limits[name] = (now, exists)
    return exists


def milvus_write_slot():
    """A slot of the global Milvus write limit (created by `pdfrag deploy`),
    or nothing when there is no such limit. Acquiring a slot from inside a task
    costs 0.1-2.5 s on a local Prefect server even when the limit does not
    exist (a lease round trip): per document, that was most of a local run's
    Prefect overhead."""
    if _limit_exists(MILVUS_WRITE_LIMIT):
        return concurrency(MILVUS_WRITE_LIMIT, occupy=1, strict=False)
    return nullcontext()


def _name(parameters: dict[str, Any]) -> str:
    return f"index-{parameters['f'].name}"


@task(name="index", task_run_name=_name, cache_policy=NO_CACHE, **RETRY)
def index(
    f: SourceFile, pages: StageOutput, chunks: StageOutput, vectors: StageOutput, previous_doc_id: str | None, run_id: str, config: dict[str, Any] | None = None
) -> IndexResult:
    # A global limit (created by `pdfrag deploy`) caps concurrent Milvus
    # writers across every worker; without one, nothing is acquired.
    with milvus_write_slot():
        return get_pipeline(config).index_document(f, pages, chunks, vectors, previous_doc_id, run_id)


@task(name="record-duplicate", cache_policy=NO_CACHE, **RETRY)
def record_duplicate(f: SourceFile, of: str, previous_doc_id: str | None, run_id: str, config: dict[str, Any] | None = None) -> IndexResult:
    return get_pipeline(config).record_duplicate(f, of, previous_doc_id, run_id)


@task(name="record-failures", cache_policy=NO_CACHE, **RETRY)
def record_failures(failures: list[tuple[Any, Failure]], run_id: str, config: dict[str, Any] | None = None) -> int:
    p = get_pipeline(config)
    for f, failure in failures:
        p.record_failure(f, failure, run_id)
    return len(failures)


@task(name="prune", cache_policy=NO_CACHE, **RETRY)
def prune(sources: list[str], config: dict[str, Any] | None = None) -> int:
    return get_pipeline(config).prune(sources)


@task(name="save-run", cache_policy=NO_CACHE, **RETRY)
def save_run(summary: RunSummary, config: dict[str, Any] | None = None) -> str:
    return get_pipeline(config).save_run(summary)


@task(name="finalize", cache_policy=NO_CACHE, **RETRY)
def finalize(config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Flush Milvus once per run and leave the collection loaded."""
    with milvus_write_slot():
        return get_pipeline(config).finalize()
