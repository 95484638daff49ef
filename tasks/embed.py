from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from pdfrag.pipeline import get_pipeline
from pdfrag.tasks._retry import RETRY
from pdfrag.types import StageOutput


def _name(parameters: dict[str, Any]) -> str:
    chunks = parameters["chunks"]
    return f"embed-{len(chunks)}-document{'s' if len(chunks) != 1 else ''}"


# One task run per batch of documents, not per document: the model sees all of
# the batch's texts at once (full, length-sorted batches), and a run of many
# small files does not pay Prefect's per-task cost once more for each.
@task(name="embed", task_run_name=_name, cache_policy=NO_CACHE, **RETRY)
def embed(chunks: list[StageOutput], config: dict[str, Any] | None = None) -> list[StageOutput]:
    return get_pipeline(config).embed_many(chunks)
