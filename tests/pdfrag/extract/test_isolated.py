"""Tests for pdfrag.extract.isolated: extraction in worker processes gives
the in-process result, passes errors through, and a call that stops
reporting pages, or a worker that dies, is cut off with a clear error while
the next call still works."""

from __future__ import annotations

import json

import os
import time
from pathlib import Path

import pytest

from pdfrag.config import ExtractSettings
from pdfrag.errors import InputError
from pdfrag.extract import get_extractor
from pdfrag.extract import isolated
from pdfrag.extract.isolated import Died, IsolatedExtractor, NotStarted, Stalled, Worker, WorkerPool
from pdfrag.extract.pymupdf import PyMuPDFExtractor


@pytest.fixture
def pool():
    p = WorkerPool()
    yield p
    p.close()


def test_same_pages_as_in_process(pdfs: Path) -> None:
    path = pdfs / "two_column" / "samplefiles_multicolumn.pdf"
    data = path.read_bytes()
    settings = ExtractSettings(ocr="off")
    isolated = get_extractor(settings)
    assert isinstance(isolated, IsolatedExtractor)
    got = isolated.extract(data, source=str(path), doc_id="d")
    want = PyMuPDFExtractor(settings).extract(data, source=str(path), doc_id="d")
    assert [(p.page, p.method, p.text) for p in got.pages] == [(p.page, p.method, p.text) for p in want.pages]
    assert got.stats["text_pages"] == want.stats["text_pages"] > 0


def test_the_parent_knows_the_config_without_loading_pymupdf() -> None:
    """The ingest's process needs the extractor's identity for the cache
    keys, not the extractor: with isolation on, PyMuPDF (0.6 s to import)
    is not loaded there; the identity is the in-process extractor's."""
    import subprocess
    import sys

    import pymupdf

    from pdfrag.extract.identity import PYMUPDF_TEXT_FLAGS

    assert PYMUPDF_TEXT_FLAGS == pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP
    for settings in (ExtractSettings(), ExtractSettings(ocr="off", layout=False)):
        assert get_extractor(settings).config() == PyMuPDFExtractor(settings).config()
    code = (
        "import json, sys; from pdfrag.config import ExtractSettings; from pdfrag.extract import get_extractor; "
        "c = get_extractor(ExtractSettings()).config(); print(json.dumps(['pymupdf' in sys.modules, c['name']]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert json.loads(out) == [False, "pymupdf"]


def test_errors_come_back_with_file_and_reason(pdfs: Path) -> None:
    path = pdfs / "bad_input" / "pdfminer_aes-256.pdf"
    ex = get_extractor(ExtractSettings(ocr="off"))
    with pytest.raises(InputError, match="encrypted: supply a password") as e:
        ex.extract(path.read_bytes(), source=str(path), doc_id="d")
    assert e.value.source == str(path)
    # The worker survived its function's error: the same extractor still reads.
    ok = get_extractor(ExtractSettings(ocr="off", passwords=["foo"])).extract(path.read_bytes(), source=str(path), doc_id="d")
    assert any(p.text for p in ok.pages)


def test_a_call_that_reports_no_page_is_cut_off(pool: WorkerPool) -> None:
    t0 = time.monotonic()
    with pytest.raises(Stalled) as e:
        pool.call(time.sleep, 60, stall_timeout=1.0)
    assert time.monotonic() - t0 < 20
    assert e.value.page == 1
    # A fresh worker takes the next call.
    assert pool.call(os.getpid, stall_timeout=30) != os.getpid()


def test_a_worker_that_dies_fails_the_call_not_the_caller(pool: WorkerPool) -> None:
    with pytest.raises(Died) as e:
        pool.call(os._exit, 3, stall_timeout=30)
    assert e.value.exitcode == 3
    assert pool.call(sum, [1, 2, 3], stall_timeout=30) == 6


def test_workers_are_reused(pool: WorkerPool) -> None:
    first = pool.call(os.getpid, stall_timeout=30)
    assert pool.call(os.getpid, stall_timeout=30) == first
    with pytest.raises(ZeroDivisionError):
        pool.call(divmod, 1, 0, stall_timeout=30)
    assert pool.call(os.getpid, stall_timeout=30) == first  # an ordinary exception leaves the worker usable


def test_a_worker_that_loaded_models_is_retired_when_they_go_unused(pool: WorkerPool) -> None:
    """Documents with OCR keep a worker; ``retire_after`` in a row without
    retire it (its models' memory goes back); one that never loaded them is
    kept however long it goes."""
    used = iter([False, False, False, True, False, True, False, False, False])
    pids = [pool.call(os.getpid, stall_timeout=30, used_models=lambda _: next(used), retire_after=2) for _ in range(9)]
    first = pids[0]
    assert pids[:7] == [first] * 7  # no models for 3 calls: kept; models, 1 idle, models again, 1 idle
    assert pids[7] == first  # the second call in a row without models retires it after answering
    assert pids[8] != first  # a fresh worker takes the next call
    assert pool.call(os.getpid, stall_timeout=30, used_models=lambda _: True, retire_after=0) == pids[8]  # 0: never retired


def test_the_extractor_counts_ocr_pages_as_model_use(monkeypatch: pytest.MonkeyPatch) -> None:
    import pdfrag.extract.isolated as iso
    from pdfrag.types import ExtractedDocument

    seen = {}

    def call(self, fn, *args, stall_timeout, used_models=None, retire_after=0):
        seen["retire_after"] = retire_after
        docs = [ExtractedDocument("d", "x.pdf", [], stats={"ocr_pages": n}) for n in (0, 3)]
        seen["used"] = [used_models(d) for d in docs]
        return docs[1]

    monkeypatch.setattr(iso.WorkerPool, "call", call)
    get_extractor(ExtractSettings(ocr_idle_documents=7)).extract(b"%PDF", source="x.pdf", doc_id="d")
    assert seen == {"retire_after": 7, "used": [False, True]}
    assert ExtractSettings(ocr_idle_documents=7).hash_config() == ExtractSettings().hash_config()  # not part of any cache key


def test_stall_names_the_file_and_page(pdfs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The extractor's error for a stalled worker: file, page, what to do."""
    import pdfrag.extract.isolated as iso

    def stalled(self, fn, *args, stall_timeout, **kw):
        raise Stalled(4, stall_timeout)

    monkeypatch.setattr(iso.WorkerPool, "call", stalled)
    ex = get_extractor(ExtractSettings(ocr="off", stall_timeout=7))
    with pytest.raises(InputError) as e:
        ex.extract(b"%PDF-1.7", source="s3://bucket/loops.pdf", doc_id="d")
    err = e.value
    assert err.page == 4 and err.source == "s3://bucket/loops.pdf" and err.stage == "extract"
    assert "7 s" in str(err) and "stall_timeout" in (err.hint or "")


def test_daemonic_process_extracts_in_process(pdfs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Dask worker is daemonic and may not start children: extraction then
    runs in-process (without the hard limit) instead of failing."""
    import pdfrag.extract.isolated as iso

    class Daemonic:
        daemon = True

    def no_workers(*a, **k):
        raise AssertionError("a daemonic process must not start workers")

    monkeypatch.setattr(iso.multiprocessing, "current_process", lambda: Daemonic())
    monkeypatch.setattr(iso.WorkerPool, "call", no_workers)
    path = pdfs / "prose" / "docling_multi_page.pdf"
    doc = get_extractor(ExtractSettings(ocr="off")).extract(path.read_bytes(), source=str(path), doc_id="d")
    assert doc.pages and any(p.text for p in doc.pages)


def test_stall_after_the_last_page_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that read all 4 pages and then hangs (assembling the
    document) is not reported on a page 5 that does not exist."""
    import pdfrag.extract.isolated as iso

    def stalled(self, fn, *args, stall_timeout, **kw):
        raise Stalled(5, stall_timeout, pages=4)

    monkeypatch.setattr(iso.WorkerPool, "call", stalled)
    with pytest.raises(InputError) as e:
        get_extractor(ExtractSettings(ocr="off", stall_timeout=7)).extract(b"%PDF-1.7", source="loops.pdf", doc_id="d")
    assert "after its last page (4)" in str(e.value) and "page 5" not in str(e.value)
    assert e.value.page is None
    assert "after its last page (4)" in str(Stalled(5, 7, pages=4)) and "(page 3)" in str(Stalled(3, 7, pages=4))


def test_a_worker_that_never_starts_is_not_blamed_on_the_file(pdfs: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A worker process that ends before it serves (here: its target exits at
    once, as when the start method cannot re-import ``__main__``) is the
    environment's fault, not the PDF's: the extractor says so once and
    extracts in this process, as in a daemonic one."""
    import logging
    import sys

    w = Worker(target=sys.exit)
    with pytest.raises(NotStarted) as e:
        w.call(os.getpid, stall_timeout=60)
    assert e.value.exitcode == 1
    w.kill()

    starts = []

    def failing_worker():
        starts.append(1)
        return Worker(target=sys.exit)

    monkeypatch.setattr(isolated, "Worker", failing_worker)
    monkeypatch.setattr(isolated, "POOL", WorkerPool())
    path = pdfs / "prose" / "docling_multi_page.pdf"
    ex = get_extractor(ExtractSettings(ocr="off"))
    with caplog.at_level(logging.WARNING, logger="pdfrag.extract.isolated"):
        docs = [ex.extract(path.read_bytes(), source=str(path), doc_id="d") for _ in range(2)]
    assert all(d.stats["text_pages"] > 0 for d in docs)
    assert starts == [1]  # tried once, then extracted here
    assert sum("ended before it started" in r.getMessage() for r in caplog.records) == 1
    isolated.POOL.close()
