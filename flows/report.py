"""What a person looks at in the Prefect UI: a progress artifact updated as
documents finish (at most every two seconds), a summary with totals and
pages/s, a per-document table, and a random sample of chunks to eyeball.
Artifacts are a view: failing to write one never fails a run."""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from pdfrag.pipeline import get_pipeline
from pdfrag.store import stage_object_key
from pdfrag.types import RunSummary

log = logging.getLogger("pdfrag")

SAMPLE_SIZE = 10


class ProgressArtifact:
    """The run's progress bar in the UI. Each update is an API call on the
    flow's thread and an event the server stores, so updates come at most
    every ``min_interval`` seconds (the UI polls every few seconds anyway);
    the last file and ``finish`` always get through."""

    def __init__(self, total: int, min_interval: float = 2.0, clock=time.monotonic) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.id = None
        self.min_interval = min_interval
        self._clock = clock
        self._last = clock()
        try:
            from prefect.artifacts import create_progress_artifact

            self.id = create_progress_artifact(0.0, key="ingest-progress", description=f"{total} files to process")
        except Exception as e:  # noqa: BLE001
            log.debug("no progress artifact: %s", e)

    def advance(self, description: str = "") -> None:
        self.done += 1
        now = self._clock()
        if self.done >= self.total or now - self._last >= self.min_interval:
            self._set(100.0 * self.done / self.total, description)

    def finish(self) -> None:
        self._set(100.0, "done")

    def _set(self, pct: float, description: str) -> None:
        self._last = self._clock()
        if self.id is None:
            return
        try:
            from prefect.artifacts import update_progress_artifact

            update_progress_artifact(self.id, progress=min(pct, 100.0), description=description or None)
        except Exception as e:  # noqa: BLE001
            log.debug("progress artifact update failed: %s", e)


def summary_markdown(s: RunSummary) -> str:
    rate = s.pages / s.seconds if s.seconds else 0.0
    lines = [
        f"# Ingest of `{s.source}`",
        "",
        "| files | indexed | of which changed | unchanged | failed | pruned | pages | chunks added | chunks deleted | embedded | seconds | pages/s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {s.files} | {s.indexed} | {s.changed} | {s.unchanged} | {len(s.failed)} | {s.pruned} | {s.pages} | {s.chunks_added} | "
        f"{s.chunks_deleted} | {s.chunks_embedded} | {s.seconds:.1f} | {rate:.1f} |",
    ]
    if s.warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in s.warnings]
    if s.failed:
        lines += ["", "## Failed files", "", "| file | stage | reason |", "|---|---|---|"]
        lines += [f"| `{f.source}` | {f.stage} | {f.error.replace('|', '/')} |" for f in s.failed]
    if s.known_failures:
        lines += ["", f"{len(s.known_failures)} unchanged file(s) failed in earlier runs and were not retried."]
    return "\n".join(lines)


def document_rows(s: RunSummary) -> list[dict[str, Any]]:
    cols = ["source", "status", "pages", "layout_pages", "ocr_pages", "chunks", "seconds", "stage", "error"]
    return [{c: ("" if d.get(c) is None else str(d.get(c))) for c in cols} for d in s.documents]


def sample_chunks(s: RunSummary, config: dict[str, Any] | None, k: int = SAMPLE_SIZE) -> list[dict[str, str]]:
    """A reproducible random sample of this run's chunks (seeded by run id)."""
    keys = [(d["source"], d["chunks_key"]) for d in s.documents if d.get("chunks_key")]
    if not keys:
        return []
    rng = random.Random(s.run_id)
    p = get_pipeline(config)
    picked: list[dict[str, str]] = []
    for source, key in rng.sample(keys, min(len(keys), k)):
        rows = p.store.get_table(stage_object_key("chunks", key)).to_pylist()
        r = rng.choice(rows)
        pages = str(r["page_start"]) if r["page_start"] == r["page_end"] else f"{r['page_start']}-{r['page_end']}"
        text = " ".join(r["text"].split())
        picked.append({"file": source.rsplit("/", 1)[-1], "page": pages, "tokens": str(r["token_count"]), "text": text[:400]})
    return picked


def publish(s: RunSummary, config: dict[str, Any] | None) -> None:
    try:
        from prefect.artifacts import create_markdown_artifact, create_table_artifact

        create_markdown_artifact(summary_markdown(s), key="ingest-summary", description=f"ingest of {s.source}")
        if s.documents:
            create_table_artifact(document_rows(s), key="ingest-documents", description="per-document results")
        sample = sample_chunks(s, config)
        if sample:
            create_table_artifact(sample, key="ingest-chunk-sample", description="random chunks from this run, for a spot check")
    except Exception as e:  # noqa: BLE001
        log.warning("could not publish run artifacts: %s", e)
