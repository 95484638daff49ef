from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from pdfrag.pipeline import get_pipeline
from pdfrag.tasks._retry import RETRY
from pdfrag.types import SourceFile, StageOutput


def _name(parameters: dict[str, Any]) -> str:
    return f"extract-{parameters['f'].name}"


# Caching is by content: the stage key (document hash + extractor config)
# names the Parquet file, and the stage returns it without work when present.
@task(name="extract", task_run_name=_name, cache_policy=NO_CACHE, **RETRY)
def extract(f: SourceFile, config: dict[str, Any] | None = None) -> StageOutput:
    return get_pipeline(config).extract(f)
