"""Embedding of chunk batches: in-process, or as its own deployment on the
GPU work pool. Either way the same ``embed`` task does the work, and only
Parquet locations travel: chunk files in, embedding files out."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import flow, runtime
from prefect.concurrency.sync import concurrency

from pdfrag.errors import PdfragError, TransientError
from pdfrag.pipeline import get_pipeline
from pdfrag.tasks import embed as embed_tasks
from pdfrag.types import StageOutput

GPU_LIMIT = "pdfrag-gpu-embed"


def manifest_key(flow_run_id: str) -> str:
    return f"manifests/embed/{flow_run_id}.json"


@flow(name="embed", log_prints=False)
def embed(chunks: list[StageOutput], config: dict[str, Any] | None = None) -> list[StageOutput]:
    """Embed the chunk files named in ``chunks``; write a manifest of the
    embedding files to the shared store for the caller."""
    import json

    with concurrency(GPU_LIMIT, occupy=1, strict=False):
        outputs = embed_tasks.embed(chunks, config)
    run_id = runtime.flow_run.id
    if run_id:
        p = get_pipeline(config)
        p.store.put_bytes(manifest_key(str(run_id)), json.dumps([asdict(o) for o in outputs]).encode())
    return outputs


def embed_batch(chunks: list[StageOutput], config: dict[str, Any] | None, deployment: str, timeout: float) -> list[StageOutput]:
    """Embed a batch of documents' chunks: through the ``embed`` deployment
    when one is configured, else in this process with the same task."""
    if not deployment:
        return embed_tasks.embed(chunks, config)
    import json

    from prefect.deployments import run_deployment

    flow_run = run_deployment(
        deployment, parameters={"chunks": [asdict(c) for c in chunks], "config": config}, timeout=timeout, poll_interval=1
    )
    state = flow_run.state
    if state is None or not state.is_completed():
        name = state.name if state else "unknown"
        raise TransientError(
            f"embedding run {flow_run.name} ({flow_run.id}) on deployment {deployment!r} ended {name}",
            stage="embed",
            hint="check the GPU pool's worker",
        )
    p = get_pipeline(config)
    key = manifest_key(str(flow_run.id))
    try:
        data = json.loads(p.store.get_bytes(key))
    except PdfragError as e:
        raise PdfragError(f"embedding run {flow_run.id} left no manifest at {p.store.uri(key)}", stage="embed") from e
    return [StageOutput(**d) for d in data]
