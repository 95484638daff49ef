"""Shared fixtures. Tests run offline, on the CPU, with real PDFs from the
shared corpus (``../shared/corpus`` beside the checkout, or PDFRAG_TEST_CORPUS)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("PDFRAG_TEST_CORPUS", REPO.parent / "shared" / "corpus")).resolve()
PDFS = CORPUS / "pdfs"

if not PDFS.is_dir():  # fail loudly: a skipped suite would hide everything
    raise RuntimeError(f"test corpus not found at {CORPUS}; set PDFRAG_TEST_CORPUS")


@pytest.fixture(scope="session")
def corpus() -> Path:
    return CORPUS


@pytest.fixture(scope="session")
def pdfs() -> Path:
    return PDFS


@pytest.fixture()
def home(tmp_path, monkeypatch) -> Path:
    """A fresh PDFRAG_HOME with no config file leaking in from the environment."""
    h = tmp_path / "home"
    monkeypatch.setenv("PDFRAG_HOME", str(h))
    for var in list(os.environ):
        if var.startswith("PDFRAG_") and var not in ("PDFRAG_HOME", "PDFRAG_TEST_CORPUS"):
            monkeypatch.delenv(var, raising=False)
    return h


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """A real Prefect server with its own home and port, for the whole session;
    the test process's Prefect client points at it."""
    from pdfrag.stack.prefect_server import ensure_server, stop_server

    prefect_home = tmp_path_factory.mktemp("prefect-home")
    info = ensure_server(prefect_home, port=_free_port())
    old = {k: os.environ.get(k) for k in ("PREFECT_API_URL", "PREFECT_HOME")}
    os.environ["PREFECT_API_URL"] = info.url
    os.environ["PREFECT_HOME"] = str(prefect_home)
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: info.url, PREFECT_HOME: str(prefect_home)}):
        yield info
        _drain_prefect_workers()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    stop_server(prefect_home)


def _drain_prefect_workers() -> None:
    """Send buffered logs and events before the server goes away; otherwise
    Prefect's background workers retry against a dead server at exit."""
    try:
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=15)
        EventsWorker.drain_all(timeout=15)
    except Exception:  # noqa: BLE001 - best effort, private API
        pass


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
