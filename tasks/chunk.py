from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from pdfrag.pipeline import get_pipeline
from pdfrag.tasks._retry import RETRY
from pdfrag.types import SourceFile, StageOutput


def _name(parameters: dict[str, Any]) -> str:
    return f"chunk-{parameters['f'].name}"


@task(name="chunk", task_run_name=_name, cache_policy=NO_CACHE, **RETRY)
def chunk(f: SourceFile, pages: StageOutput, config: dict[str, Any] | None = None) -> StageOutput:
    return get_pipeline(config).chunk(f, pages)
