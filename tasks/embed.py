from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from pdfrag import progress
from pdfrag.pipeline import get_pipeline
from pdfrag.tasks._retry import RETRY
from pdfrag.types import StageOutput


@task(name="embed", cache_policy=NO_CACHE, **RETRY)
def embed(chunks: StageOutput, config: dict[str, Any] | None = None, label: str = "") -> StageOutput:
    return get_pipeline(config).embed(chunks, progress=progress.reporter().chunk_callback(label))
