"""Ingest one uploaded object, triggered by a ``pdfrag.object.created`` event
(see prefect.yaml). Idempotent: the same bytes uploaded twice add nothing."""

from __future__ import annotations

from typing import Any

from prefect import flow

from pdfrag.flows.ingest import ingest
from pdfrag.types import RunSummary


def _name() -> str:
    from prefect import runtime

    uri = str(runtime.flow_run.parameters.get("uri", ""))
    return f"ingest-object {uri.rsplit('/', 1)[-1]}"


@flow(name="ingest-object", flow_run_name=_name, log_prints=False)
def ingest_object(uri: str, config: dict[str, Any] | None = None) -> RunSummary:
    return ingest(source=uri, config=config)
