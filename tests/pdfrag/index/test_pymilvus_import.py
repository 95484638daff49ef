"""pdfrag.index._pymilvus: importing pymilvus leaves other handlers open.

Each case runs in a fresh interpreter, since pymilvus is imported once per
process (and this test process has imported it already)."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = r"""
import json, logging, sys

closed = []

class Tracked(logging.Handler):
    def emit(self, record):
        pass

    def close(self):
        closed.append(self.name)
        super().close()

h = Tracked()
h.set_name("someone-elses")
logging.getLogger("app").addHandler(h)
if sys.argv[1] == "pdfrag":
    from pdfrag.index._pymilvus import load
    load()
    load()  # a no-op the second time
else:
    import pymilvus  # noqa: F401
pm = logging.getLogger("pymilvus")
print(json.dumps({
    "closed": closed,
    "registered": any(r() is h for r in logging._handlerList),
    "named": "someone-elses" in logging._handlers,
    "pymilvus_handlers": len(pm.handlers),
    "pymilvus_propagate": pm.propagate,
    "still_attached": h in logging.getLogger("app").handlers,
}))
"""


def _run(how: str) -> dict:
    out = subprocess.run([sys.executable, "-c", SCRIPT, how], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_plain_import_closes_every_handler() -> None:
    """The upstream behaviour the loader works around (pymilvus's import-time
    dictConfig): if this starts failing, pymilvus no longer does it."""
    got = _run("plain")
    assert got["closed"] == ["someone-elses"]
    assert not got["registered"] and not got["named"]


def test_loader_keeps_other_handlers_and_configures_pymilvus() -> None:
    got = _run("pdfrag")
    assert got["closed"] == []
    assert got["registered"] and got["named"] and got["still_attached"]
    # pymilvus's own logging configuration still applies
    assert got["pymilvus_handlers"] >= 1
    assert got["pymilvus_propagate"] is False
