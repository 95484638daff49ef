"""Extraction in a child process, with a hard time limit per page.

MuPDF and the OCR runtimes are C and C++ libraries. A malformed PDF can make
one of their calls loop forever or crash the process, and nothing inside the
process can stop it: the call holds the GIL, so no Python thread (nor a
Prefect task timeout) gets to run, and a crash takes the whole ingest down.
``extract.page_timeout`` only skips the optional steps of a slow page.

So extraction runs in worker processes that report each finished page. A
worker that finishes no page for ``extract.stall_timeout`` seconds is
killed, and so is the file's extraction: it fails with an error naming the
file and the page. A worker that dies (a segmentation fault) fails its file
the same way. Either way the corpus goes on with a fresh worker.

Workers live as long as the process, one per concurrent extraction, shared
by every extractor in the process; OCR models load once per worker. A
worker that loaded them and then goes ``extract.ocr_idle_documents``
documents in a row without an OCR page is retired, and its memory goes back
to the system (a corpus with a few scanned files would otherwise carry the
models to its end); the next OCR page loads them in a fresh worker.
They are started by ``forkserver`` where the platform has it (safe in a
process with threads), else ``spawn``.
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from pdfrag.config import ExtractSettings
from pdfrag.errors import InputError
from pdfrag.extract.base import Extractor
from pdfrag.types import ExtractedDocument

log = logging.getLogger(__name__)


class WorkerLost(Exception):
    """A worker call that did not come back. ``page`` is the page it was
    on; past ``pages`` (the document's count, when known) it was assembling
    the document after its last page."""

    def __init__(self, what: str, page: int, pages: int | None) -> None:
        self.page = page
        self.pages = pages
        super().__init__(f"{what} ({self.where})")

    @property
    def after_last_page(self) -> bool:
        return self.pages is not None and self.page > self.pages

    @property
    def where(self) -> str:
        return f"after its last page ({self.pages})" if self.after_last_page else f"page {self.page}"


class Stalled(WorkerLost):
    """The worker finished no page within the time limit."""

    def __init__(self, page: int, seconds: float, pages: int | None = None) -> None:
        self.seconds = seconds
        super().__init__(f"no page finished within {seconds:g} s", page, pages)


class Died(WorkerLost):
    """The worker process ended in the middle of a call."""

    def __init__(self, page: int, exitcode: int | None, pages: int | None = None) -> None:
        self.exitcode = exitcode
        super().__init__(f"the worker process died (exit code {exitcode})", page, pages)


class NotStarted(Exception):
    """The worker process ended before it could take any work: the
    environment's fault (a ``__main__`` the start method cannot re-import,
    a broken install), not the document's."""

    def __init__(self, exitcode: int | None) -> None:
        self.exitcode = exitcode
        super().__init__(f"the extraction worker process ended before it started (exit code {exitcode})")


# Child side ----------------------------------------------------------------------

_report: Callable[[int], None] | None = None  # set in a worker: tells the parent a page is done
_report_pages: Callable[[int], None] | None = None  # ... and how many pages the document has
_extractors: dict[str, Extractor] = {}


def _serve(conn) -> None:
    """A worker's loop: run each (function, args) sent, answer with its
    result or its exception; ``("page", n)`` messages report progress."""
    global _report, _report_pages

    def report(page: int) -> None:
        conn.send(("page", page))

    def report_pages(n: int) -> None:
        conn.send(("pages", n))

    _report = report
    _report_pages = report_pages
    conn.send(("ready", None))  # started: from here on, a death is the work's
    while True:
        try:
            fn, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            answer = ("done", fn(*args))
        except BaseException as e:  # noqa: BLE001 - every failure goes back to the caller
            answer = ("error", _portable(e))
        try:
            conn.send(answer)
        except (pickle.PicklingError, TypeError, AttributeError) as e:
            conn.send(("error", RuntimeError(f"result could not be sent back: {e}")))


def _portable(e: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(e))
        return e
    except Exception:  # noqa: BLE001 - an exception that cannot cross processes
        return RuntimeError(f"{type(e).__name__}: {e}")


def _extract(settings_json: str, data: bytes, source: str, doc_id: str) -> ExtractedDocument:
    """Runs in a worker: the in-process extractor for these settings."""
    ex = _extractors.get(settings_json)
    if ex is None:
        from pdfrag.extract import get_extractor

        settings = ExtractSettings.model_validate_json(settings_json).model_copy(update={"isolate": False})
        ex = _extractors[settings_json] = get_extractor(settings)
    ex.on_page = _report
    ex.on_pages = _report_pages
    return ex.extract(data, source=source, doc_id=doc_id)


# Parent side ---------------------------------------------------------------------


def _context():
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


class Worker:
    """One child process and its pipe."""

    def __init__(self, target: Callable[..., Any] = _serve) -> None:
        ctx = _context()
        self.models = False  # has loaded models (OCR) that a retirement would free
        self.calls_without_models = 0
        self.started = False  # the child said it is serving
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=target, args=(child,), daemon=True, name="pdfrag-extract")
        self.process.start()
        child.close()

    def call(self, fn: Callable[..., Any], *args: Any, stall_timeout: float) -> tuple[bool, Any]:
        """``fn(*args)`` in the child: (True, its result) or (False, the
        exception it raised). Raises ``Stalled`` when no page is reported
        (nor the call finished) for ``stall_timeout`` seconds, ``Died``
        when the child ends, and ``NotStarted`` when it ended before it
        started serving."""
        page, pages = 1, None
        try:
            self.conn.send((fn, args))
            while True:
                if not self.conn.poll(stall_timeout):
                    raise Stalled(page, stall_timeout, pages)
                kind, value = self.conn.recv()
                if kind == "ready":
                    self.started = True
                elif kind == "page":
                    page = value + 1
                elif kind == "pages":
                    pages = value
                else:
                    return kind == "done", value
        except (EOFError, ConnectionError):
            self.process.join(5)
            if not self.started:
                raise NotStarted(self.process.exitcode) from None
            raise Died(page, self.process.exitcode, pages) from None

    def due_for_retirement(self, used_models: bool, after: int) -> bool:
        """Count one finished call; True once the worker has loaded models
        and then gone ``after`` calls in a row without them."""
        if used_models:
            self.models, self.calls_without_models = True, 0
            return False
        self.calls_without_models += 1
        return self.models and self.calls_without_models >= after

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


class WorkerPool:
    """Idle workers, handed to one caller at a time; a worker whose call
    stalled, died or was interrupted is killed, never reused."""

    def __init__(self) -> None:
        self._idle: list[Worker] = []
        self._lock = threading.Lock()

    def call(
        self, fn: Callable[..., Any], *args: Any, stall_timeout: float, used_models: Callable[[Any], bool] | None = None,
        retire_after: int = 0,
    ) -> Any:
        """``fn(*args)`` in an idle worker (or a new one). With
        ``used_models`` (did this result need the heavy models?) and
        ``retire_after`` > 0, a worker that has used them and then answered
        ``retire_after`` calls in a row without them is retired."""
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive:
                    break
                worker.kill()
            else:
                worker = None
        worker = worker or Worker()
        try:
            ok, value = worker.call(fn, *args, stall_timeout=stall_timeout)
        except BaseException:  # stalled, died, or interrupted mid-call: its state is unknown
            worker.kill()
            raise
        if ok and used_models is not None and retire_after > 0 and worker.due_for_retirement(used_models(value), retire_after):
            worker.kill()
            log.info("extraction worker retired after %d documents without OCR: its OCR models' memory is released", retire_after)
        else:
            with self._lock:
                self._idle.append(worker)
        if ok:
            return value
        raise value  # the function's own exception: the worker is fine

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for w in idle:
            w.kill()


# One pool per process: a worker keeps one extractor per settings it was
# sent (and their OCR models), so extractors with different settings share
# workers instead of each keeping its own.
POOL = WorkerPool()


def _used_ocr(doc: ExtractedDocument) -> bool:
    return bool(doc.stats.get("ocr_pages"))


class IsolatedExtractor(Extractor):
    """The configured extractor, run in worker processes (see the module
    docstring). Same output and same ``config()`` as running it in-process."""

    name: ClassVar[str] = "isolated"

    def __init__(self, settings: ExtractSettings, config: dict[str, Any], make_inner: Callable[[], Extractor]) -> None:
        """``config``: the extractor's ``config()``; ``make_inner`` builds it
        in this process, which only a daemonic process needs (extraction
        runs in a worker's copy)."""
        self.settings = settings
        self._config = config
        self._make_inner = make_inner
        self._inner: Extractor | None = None
        self._key = settings.model_dump_json()
        self._warned = False
        self._no_workers: str | None = None  # why workers cannot start here, once seen

    def config(self) -> dict[str, Any]:
        return self._config

    @property
    def inner(self) -> Extractor:
        if self._inner is None:
            self._inner = self._make_inner()
        return self._inner

    def _in_process(self, why: str, data: bytes, source: str, doc_id: str) -> ExtractedDocument:
        if not self._warned:
            log.warning("extracting in-process without extract.stall_timeout: %s", why)
            self._warned = True
        return self.inner.extract(data, source=source, doc_id=doc_id)

    def extract(self, data: bytes, *, source: str, doc_id: str) -> ExtractedDocument:
        if multiprocessing.current_process().daemon:
            # A daemonic process (a Dask worker, say) may not start children:
            # extract here, without the hard limit.
            return self._in_process("this process is daemonic and cannot start workers", data, source, doc_id)
        if self._no_workers is not None:
            return self._in_process(self._no_workers, data, source, doc_id)
        limit = self.settings.stall_timeout
        try:
            return POOL.call(
                _extract, self._key, data, source, doc_id, stall_timeout=limit, used_models=_used_ocr, retire_after=self.settings.ocr_idle_documents,
            )
        except Stalled as e:
            raise InputError(
                f"{e.where}: extraction stopped "
                + (f"for {limit:g} s while assembling the document" if e.after_last_page else f"after {limit:g} s without finishing a page")
                + "; the file was abandoned",
                source=source, stage="extract", page=None if e.after_last_page else e.page,
                hint="the PDF may make MuPDF loop: repair or re-export it (e.g. qpdf); if its pages are only slow, raise extract.stall_timeout",
            ) from None
        except NotStarted as e:
            # The environment's fault, not the file's (a program read from
            # standard input, say, whose __main__ the workers cannot
            # re-import): extract here, as in a daemonic process.
            self._no_workers = f"{e}; a program read from standard input cannot start worker processes (run pdfrag from the CLI or a script file)"
            return self._in_process(self._no_workers, data, source, doc_id)
        except Died as e:
            raise InputError(
                f"{e.where}: the PDF crashed the extractor (worker exit code {e.exitcode}); the file was abandoned",
                source=source, stage="extract", page=None if e.after_last_page else e.page, hint="repair or re-export the file (e.g. qpdf)",
            ) from None
