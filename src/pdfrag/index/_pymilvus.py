"""Import pymilvus without shutting the process's log handlers down.

pymilvus configures its own loggers at import time with
``logging.config.dictConfig``, and ``dictConfig`` first flushes and closes
every handler in the process (``logging.config._clearExistingHandlers``).
Inside a Prefect flow run that includes Prefect's API log handler, whose
flush waits for the queued run logs to reach the server: on the scale
corpus's tenth the precheck, which opens the first Milvus connection, took
6.8 s in the flow against 1.8 s in a plain loop, most of the flow's overhead
then (benchmarks/results/ingest-zen4.md). Every pdfrag module that
uses pymilvus calls :func:`load` first; pymilvus's own handlers are still
installed, no other handler is closed.
"""

from __future__ import annotations

import importlib
import logging.config
import sys
import threading
from types import ModuleType

_lock = threading.Lock()


def load() -> ModuleType:
    """pymilvus, imported once with ``dictConfig`` unable to close other
    modules' handlers (a no-op once pymilvus is imported)."""
    mod = sys.modules.get("pymilvus")
    if mod is not None:
        return mod
    with _lock:
        clear = getattr(logging.config, "_clearExistingHandlers", None)
        if clear is not None:
            logging.config._clearExistingHandlers = lambda: None  # type: ignore[attr-defined]
        try:
            return importlib.import_module("pymilvus")
        finally:
            if clear is not None:
                logging.config._clearExistingHandlers = clear  # type: ignore[attr-defined]
