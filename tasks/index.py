from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.concurrency.sync import concurrency

from pdfrag.pipeline import IndexResult, get_pipeline
from pdfrag.tasks._retry import RETRY
from pdfrag.types import Failure, RunSummary, SourceFile, StageOutput


MILVUS_WRITE_LIMIT = "pdfrag-milvus-write"


def _name(parameters: dict[str, Any]) -> str:
    return f"index-{parameters['f'].name}"


@task(name="index", task_run_name=_name, cache_policy=NO_CACHE, **RETRY)
def index(
    f: SourceFile, pages: StageOutput, chunks: StageOutput, vectors: StageOutput, previous_doc_id: str | None, run_id: str, config: dict[str, Any] | None = None
) -> IndexResult:
    # A global limit (created by `pdfrag deploy`) caps concurrent Milvus
    # writers across every worker; without one, this does not block.
    with concurrency(MILVUS_WRITE_LIMIT, occupy=1, strict=False):
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
    with concurrency(MILVUS_WRITE_LIMIT, occupy=1, strict=False):
        return get_pipeline(config).finalize()
