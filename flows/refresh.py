"""Scheduled corpus refresh: reconcile the source with the collection.

New files are ingested, changed files replace their chunks, and files gone
from the source lose theirs. Runs on a cron schedule (prefect.yaml); it also
catches whatever upload events were missed."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from pdfrag.errors import ConfigError
from pdfrag.flows.ingest import ingest
from pdfrag.pipeline import get_pipeline
from pdfrag.types import RunSummary


@flow(name="refresh", log_prints=False)
def refresh(source: str = "", config: dict[str, Any] | None = None) -> RunSummary:
    src = source or get_pipeline(config).settings.orchestration.refresh_source
    if not src:
        raise ConfigError("refresh needs a source", stage="refresh", hint="pass source= or set PDFRAG_ORCHESTRATION__REFRESH_SOURCE")
    summary = ingest(source=src, prune=True, config=config)
    get_run_logger().info(
        "refresh of %s: %d new, %d changed, %d deleted, %d unchanged, %d failed",
        src, summary.indexed - summary.changed, summary.changed, summary.pruned, summary.unchanged, len(summary.failed),
    )
    return summary
