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
