"""The ingest flow: PDFs → pages → chunks → embeddings → Milvus.

Extraction and chunking are submitted to the task runner (threads, or a
Dask/Ray cluster) and run ahead; the flow's own thread embeds batches of
documents (in-process, or on the GPU pool through the ``embed`` deployment)
and indexes one document at a time. A file that fails is recorded with its
stage and reason and the run goes on.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from prefect import flow, get_run_logger, runtime

from pdfrag import progress
from pdfrag.errors import PdfragError
from pdfrag.language import LetterCount, model_mismatch
from pdfrag.pipeline import get_pipeline, new_run
from pdfrag.flows import report
from pdfrag.flows.embed import embed_batch
from pdfrag.flows.runner import make_task_runner
from pdfrag.tasks import chunk as chunk_tasks
from pdfrag.tasks import extract as extract_tasks
from pdfrag.tasks import index as index_tasks
from pdfrag.tasks import plan as plan_tasks
from pdfrag.types import Failure, RunSummary, SourceFile, StageOutput

LOOKAHEAD = 4  # documents extracted and chunked ahead of the batch being embedded


def _failure(f: SourceFile, stage: str, e: BaseException) -> Failure:
    if isinstance(e, PdfragError):
        return Failure(f.uri, e.stage or stage, str(e), e.retryable)
    return Failure(f.uri, stage, f"{f.uri}, stage {stage}: unexpected {type(e).__name__}: {e}", False)


def _run_name() -> str:
    src = str(runtime.flow_run.parameters.get("source", ""))
    return f"ingest {src.rstrip('/').rsplit('/', 1)[-1] or src}"


@flow(name="ingest", flow_run_name=_run_name, task_runner=make_task_runner(), log_prints=False)
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
    settings = get_pipeline(config).settings

    info = plan_tasks.precheck(config)
    log.info("store %s, milvus %s (collection %s), model %s", info["store"], info["milvus"], info["collection"], info["model"])
    plan = plan_tasks.plan(source, config, prune=prune, reprocess=reprocess, retry_failed=retry_failed)
    summary.files = len(plan.todo) + len(plan.unchanged) + len(plan.duplicates) + len(plan.unreadable)
    summary.unchanged = len(plan.unchanged)
    summary.known_failures = list(plan.known_failures)
    log.info("%d files: %d to ingest, %d unchanged, %d duplicates", summary.files, len(plan.todo), len(plan.unchanged), len(plan.duplicates))

    rep = progress.reporter()
    rep.start(summary.files)
    ui = report.ProgressArtifact(total=len(plan.todo) + len(plan.duplicates))
    for f in plan.unchanged:
        rep.file_done(f.name, "unchanged")
    failures: list[tuple[Any, Failure]] = []

    def fail(f: SourceFile | str, failure: Failure) -> None:
        failures.append((f, failure))
        summary.failed.append(failure)
        summary.documents.append({"source": failure.source, "status": "failed", "stage": failure.stage, "error": failure.error})
        rep.file_done(failure.source.rsplit("/", 1)[-1], "failed")
        log.warning("failed: %s", failure.error)

    for failure in plan.unreadable:
        fail(failure.source, failure)

    # Extract and chunk ahead on the task runner.
    pending: deque = deque()
    todo = iter(plan.todo)

    def submit_next() -> None:
        f = next(todo, None)
        if f is not None:
            pages = extract_tasks.extract.submit(f, config)
            pending.append((f, pages, chunk_tasks.chunk.submit(f, pages, config), time.perf_counter()))

    for _ in range(LOOKAHEAD):
        submit_next()

    batch: list[tuple[SourceFile, StageOutput, StageOutput, float]] = []
    batch_chunks = 0

    def flush_batch() -> None:
        nonlocal batch, batch_chunks
        if not batch:
            return
        try:
            vectors = embed_batch([c for _, _, c, _ in batch], config, settings.embed.deployment, settings.embed.deployment_timeout)
        except Exception as e:  # noqa: BLE001 - the batch's files fail, the run goes on
            for f, _, _, _ in batch:
                fail(f, _failure(f, "embed", e))
            batch, batch_chunks = [], 0
            return
        for (f, pages, chunks, started), vecs in zip(batch, vectors, strict=True):
            _index_one(f, pages, chunks, vecs, started)
        batch, batch_chunks = [], 0

    def _index_one(f: SourceFile, pages: StageOutput, chunks: StageOutput, vectors: StageOutput, started: float) -> None:
        previous = plan.previous.get(f.uri)
        try:
            res = index_tasks.index(f, pages, chunks, vectors, previous, summary.run_id, config)
        except Exception as e:  # noqa: BLE001
            fail(f, _failure(f, "index", e))
            return
        n_pages = int(pages.stats.get("text_pages", pages.rows))
        summary.indexed += 1
        summary.changed += previous is not None
        summary.pages += n_pages
        summary.chunks_added += res.added
        summary.chunks_deleted += res.deleted
        summary.chunks_embedded += int(vectors.stats.get("embedded", 0))
        summary.documents.append(
            {
                "source": f.uri, "status": "indexed", "pages": n_pages, "empty_pages": int(pages.stats.get("empty_pages", 0)),
                "ocr_pages": int(pages.stats.get("ocr_pages", 0)), "layout_pages": int(pages.stats.get("layout_pages", 0)),
                "method": pages.stats.get("method", "text"), "chunks": chunks.rows, "chunks_added": res.added,
                "chunks_deleted": res.deleted, "cached": [s.stage for s in (pages, chunks, vectors) if s.cached],
                "seconds": round(time.perf_counter() - started, 3), "chunks_key": chunks.key,
                "letters": int(pages.stats.get("letters", 0)), "non_latin_letters": int(pages.stats.get("non_latin_letters", 0)),
            }
        )
        rep.file_done(f.name, "indexed")
        ui.advance(f"{summary.indexed} indexed, {len(summary.failed)} failed")

    while pending:
        f, pages_future, chunks_future, started = pending.popleft()
        submit_next()
        stage = "extract"
        try:
            pages = pages_future.result()
            stage = "chunk"
            chunks = chunks_future.result()
        except Exception as e:  # noqa: BLE001 - one file never stops the corpus
            fail(f, _failure(f, stage, e))
            ui.advance(f"{summary.indexed} indexed, {len(summary.failed)} failed")
            continue
        batch.append((f, pages, chunks, started))
        batch_chunks += chunks.rows
        if batch_chunks >= settings.embed.batch_chunks:
            flush_batch()
    flush_batch()

    failed_here = {failure.source: failure for _, failure in failures}
    for f, of in plan.duplicates:
        first = failed_here.get(of)
        if first is not None:  # the same bytes fail the same way: say why, not just "identical to"
            fail(f, Failure(f.uri, first.stage, f"{f.uri}: identical to {of}, which failed: {first.error}", first.retryable))
        else:
            try:
                res = index_tasks.record_duplicate(f, of, plan.previous.get(f.uri), summary.run_id, config)
            except Exception as e:  # noqa: BLE001
                fail(f, _failure(f, "index", e))
            else:
                summary.indexed += 1
                summary.chunks_deleted += res.deleted
                summary.documents.append({"source": f.uri, "status": "indexed", "duplicate_of": of})
                rep.file_done(f.name, "indexed")
        ui.advance(f"{summary.indexed} indexed, {len(summary.failed)} failed")

    def bookkeeping(what: str, fn, *args) -> Any:
        try:
            return fn(*args)
        except Exception as e:  # noqa: BLE001 - the summary still carries everything
            summary.bookkeeping_errors.append(f"{what}: {e}")
            log.error("%s failed: %s", what, e)
            return None

    if failures:
        bookkeeping("recording failures in the ledger", index_tasks.record_failures, failures, summary.run_id, config)
    if plan.removed:
        summary.pruned = len(plan.removed)
        summary.chunks_deleted += bookkeeping("pruning removed files", index_tasks.prune, plan.removed, config) or 0
    if summary.indexed or summary.pruned:
        bookkeeping("flushing Milvus", index_tasks.finalize, config)
    profile = get_pipeline(config).profile
    letters = [
        (d["source"].rsplit("/", 1)[-1], LetterCount(d["letters"], d["non_latin_letters"])) for d in summary.documents if "letters" in d
    ]
    mismatch = model_mismatch(letters, profile.name, profile.english_only)
    if mismatch:
        summary.warnings.append(mismatch)
        log.warning("%s", mismatch)
    summary.seconds = time.perf_counter() - t0
    rep.stop()
    ui.finish()
    bookkeeping("saving the run record", index_tasks.save_run, summary, config)
    report.publish(summary, config)
    if summary.failed:
        log.warning("run completed with %d failed file(s)", len(summary.failed))
    return summary
