"""The ingest flow: PDFs → pages → chunks → embeddings → Milvus.

Extraction runs ahead on the task runner's threads while the flow's own
thread chunks, embeds and indexes one document at a time, so the model and
the Milvus connection are used by one thread. A file that fails is recorded
with its stage and reason and the run goes on.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from prefect import flow, get_run_logger, runtime
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.task_runners import ThreadPoolTaskRunner

from pdfrag import progress
from pdfrag.errors import PdfragError
from pdfrag.pipeline import new_run
from pdfrag.tasks import chunk as chunk_tasks
from pdfrag.tasks import embed as embed_tasks
from pdfrag.tasks import extract as extract_tasks
from pdfrag.tasks import index as index_tasks
from pdfrag.tasks import plan as plan_tasks
from pdfrag.types import Failure, RunSummary, SourceFile

LOOKAHEAD = 4  # documents extracted ahead of the one being embedded


def _failure(f: SourceFile, stage: str, e: BaseException) -> Failure:
    if isinstance(e, PdfragError):
        return Failure(f.uri, e.stage or stage, str(e), e.retryable)
    return Failure(f.uri, stage, f"{f.uri}, stage {stage}: unexpected {type(e).__name__}: {e}", False)


def _run_name() -> str:
    src = str(runtime.flow_run.parameters.get("source", ""))
    return f"ingest {src.rstrip('/').rsplit('/', 1)[-1] or src}"


@flow(name="ingest", flow_run_name=_run_name, task_runner=ThreadPoolTaskRunner(max_workers=2), log_prints=False)
def ingest(
    source: str,
    prune: bool = False,
    reprocess: bool = False,
    retry_failed: bool = False,
    config: dict[str, Any] | None = None,
) -> RunSummary:
    """Ingest every PDF under ``source`` (file, folder or s3://bucket/prefix).

    Unchanged files (same bytes, same configuration) are skipped; changed
    files replace their chunks; with ``prune``, files gone from the source
    lose theirs.
    """
    log = get_run_logger()
    t0 = time.perf_counter()
    summary = new_run(source)
    summary.flow_run_id = str(runtime.flow_run.id) if runtime.flow_run.id else None

    info = plan_tasks.precheck(config)
    log.info("store %s, milvus %s (collection %s), model %s", info["store"], info["milvus"], info["collection"], info["model"])
    plan = plan_tasks.plan(source, config, prune=prune, reprocess=reprocess, retry_failed=retry_failed)
    summary.files = len(plan.todo) + len(plan.unchanged) + len(plan.duplicates) + len(plan.unreadable)
    summary.unchanged = len(plan.unchanged)
    summary.known_failures = list(plan.known_failures)
    log.info("%d files: %d to ingest, %d unchanged, %d duplicates", summary.files, len(plan.todo), len(plan.unchanged), len(plan.duplicates))

    rep = progress.reporter()
    rep.start(summary.files)
    for f in plan.unchanged:
        rep.file_done(f.name, "unchanged")
    failures: list[tuple[Any, Failure]] = []
    for fail in plan.unreadable:
        failures.append((fail.source, fail))
        summary.failed.append(fail)
        rep.file_done(fail.source.rsplit("/", 1)[-1], "failed")

    pending: deque = deque()
    todo = iter(plan.todo)

    def submit_next() -> None:
        f = next(todo, None)
        if f is not None:
            pending.append((f, extract_tasks.extract.submit(f, config)))

    for _ in range(LOOKAHEAD):
        submit_next()
    while pending:
        f, pages_future = pending.popleft()
        submit_next()
        started = time.perf_counter()
        stage = "extract"
        try:
            pages = pages_future.result()
            stage = "chunk"
            chunks = chunk_tasks.chunk(f, pages, config)
            stage = "embed"
            vectors = embed_tasks.embed(chunks, config, label=f.name)
            stage = "index"
            res = index_tasks.index(f, pages, chunks, vectors, plan.previous.get(f.uri), summary.run_id, config)
        except Exception as e:  # noqa: BLE001 - one file never stops the corpus
            fail = _failure(f, stage, e)
            log.warning("failed: %s", fail.error)
            failures.append((f, fail))
            summary.failed.append(fail)
            summary.documents.append({"source": f.uri, "status": "failed", "stage": fail.stage, "error": fail.error})
            rep.file_done(f.name, "failed")
            continue
        n_pages = int(pages.stats.get("text_pages", pages.rows))
        summary.indexed += 1
        summary.pages += n_pages
        summary.chunks_added += res.added
        summary.chunks_deleted += res.deleted
        summary.chunks_embedded += int(vectors.stats.get("embedded", 0))
        summary.documents.append(
            {
                "source": f.uri, "status": "indexed", "pages": n_pages, "empty_pages": int(pages.stats.get("empty_pages", 0)),
                "chunks": chunks.rows, "chunks_added": res.added, "chunks_deleted": res.deleted,
                "cached": [s.stage for s in (pages, chunks, vectors) if s.cached], "seconds": round(time.perf_counter() - started, 3),
            }
        )
        rep.file_done(f.name, "indexed")

    for f, of in plan.duplicates:
        try:
            res = index_tasks.record_duplicate(f, of, plan.previous.get(f.uri), summary.run_id, config)
            summary.indexed += 1
            summary.chunks_deleted += res.deleted
            summary.documents.append({"source": f.uri, "status": "indexed", "duplicate_of": of})
            rep.file_done(f.name, "indexed")
        except Exception as e:  # noqa: BLE001
            fail = _failure(f, "index", e)
            failures.append((f, fail))
            summary.failed.append(fail)
            rep.file_done(f.name, "failed")

    if failures:
        index_tasks.record_failures(failures, summary.run_id, config)
    if plan.removed:
        summary.pruned = len(plan.removed)
        summary.chunks_deleted += index_tasks.prune(plan.removed, config)
    summary.seconds = time.perf_counter() - t0
    rep.stop()
    index_tasks.save_run(summary, config)
    _artifacts(summary)
    if summary.failed:
        log.warning("run completed with %d failed file(s)", len(summary.failed))
    return summary


def _artifacts(s: RunSummary) -> None:
    """What a person looks at in the Prefect UI: totals and per-file rows."""
    rate = s.pages / s.seconds if s.seconds else 0.0
    lines = [
        f"# Ingest of `{s.source}`",
        "",
        "| files | indexed | unchanged | failed | pages | chunks added | chunks deleted | embedded | seconds | pages/s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {s.files} | {s.indexed} | {s.unchanged} | {len(s.failed)} | {s.pages} | {s.chunks_added} | {s.chunks_deleted} | {s.chunks_embedded} | {s.seconds:.1f} | {rate:.1f} |",
    ]
    if s.failed:
        lines += ["", "## Failed files", "", "| file | stage | reason |", "|---|---|---|"]
        lines += [f"| `{f.source}` | {f.stage} | {f.error.replace('|', '/')} |" for f in s.failed]
    try:
        create_markdown_artifact("\n".join(lines), key="ingest-summary", description=f"ingest of {s.source}")
        if s.documents:
            create_table_artifact(
                [{k: str(v) for k, v in d.items()} for d in s.documents], key="ingest-documents", description="per-document results"
            )
    except Exception:  # noqa: BLE001 - artifacts are a view, never a reason to fail a run
        pass
