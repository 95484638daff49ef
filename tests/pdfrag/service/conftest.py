"""Shared helpers for the query service's tests: a collection built once per
module from real PDFs through the Pipeline's stage methods (no Prefect), and
a live uvicorn server in a thread."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

FILES = {
    "docling_multi_page.pdf": "prose",
    "pdfplumber_issue-461-example.pdf": "cjk",
    "samplefiles_multicolumn.pdf": "two_column",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def clean_env() -> Iterator[pytest.MonkeyPatch]:
    """No PDFRAG_* settings leaking in (module-scoped fixtures cannot use
    the function-scoped ``home`` fixture)."""
    with pytest.MonkeyPatch.context() as mp:
        for var in list(os.environ):
            if var.startswith("PDFRAG_") and var != "PDFRAG_TEST_CORPUS":
                mp.delenv(var, raising=False)
        yield mp


def settings_for(home: Path, **overrides: Any):
    from pdfrag.config import load_settings

    return load_settings(home=str(home), **overrides)


def copy_pdfs(pdfs: Path, dest: Path, rel_paths: list[str] | None = None) -> Path:
    """Copy PDFs of the corpus (``category/name.pdf``; default FILES) to ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for rel in rel_paths or [f"{cat}/{name}" for name, cat in FILES.items()]:
        shutil.copy(pdfs / rel, dest / Path(rel).name)
    return dest


def ingest(overrides: dict[str, Any], source: Path) -> dict[str, Any]:
    """Run the pipeline's stages over ``source`` (what the ingest flow does,
    without Prefect). Returns {"indexed": [file names], "chunks": n}."""
    from pdfrag.config import load_settings
    from pdfrag.pipeline import Pipeline, new_run

    p = Pipeline(load_settings(**overrides))
    try:
        p.precheck()
        plan = p.plan(str(source))
        run = new_run(str(source))
        done = []
        for f in plan.todo:
            pages = p.extract(f)
            chunks = p.chunk(f, pages)
            vectors = p.embed(chunks)
            p.index_document(f, pages, chunks, vectors, plan.previous.get(f.uri), run.run_id)
            done.append(f.name)
        info = p.finalize()
        return {"indexed": done, "chunks": info["chunks"]}
    finally:
        if "index" in p.__dict__:
            p.index.close()


class LiveServer:
    """uvicorn serving ``app`` on a free port, in a thread of this process."""

    def __init__(self, app) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-test", daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("uvicorn did not start")

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def wait_ready(get, timeout: float = 90.0) -> dict:
    """Poll GET /ready until 200; returns its body."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        r = get("/ready")
        last = r
        if r.status_code == 200:
            return r.json()
        time.sleep(0.25)
    raise AssertionError(f"not ready after {timeout}s: {last.status_code} {last.text}")
