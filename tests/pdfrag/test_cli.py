"""The ``pdfrag`` command as a user runs it: subprocesses against the
session's Prefect server and a fresh home."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

PDFRAG = [sys.executable, "-m", "pdfrag.cli"]


@pytest.fixture()
def cli(prefect_server, home):
    env = {**os.environ, "PDFRAG_HOME": str(home), "PREFECT_API_URL": prefect_server.url, "HF_HUB_OFFLINE": "1"}

    def _run(*args: str, check_rc: int | None = 0, **extra_env: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([*PDFRAG, *args], env={**env, **extra_env}, capture_output=True, text=True, timeout=300)
        if check_rc is not None:
            assert proc.returncode == check_rc, f"rc={proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        return proc

    return _run


def test_ingest_report_search_stats_strict(cli, pdfs, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(pdfs / "prose" / "docling_multi_page.pdf", src)
    shutil.copy(pdfs / "cjk" / "pdfplumber_issue-461-example.pdf", src)
    shutil.copy(pdfs / "bad_input" / "pdfplumber_empty.pdf", src)
    report = tmp_path / "r1.json"

    proc = cli("ingest", str(src), "--report", str(report))
    data = json.loads(report.read_text())
    for key in ("indexed", "unchanged", "failed", "chunks_added", "chunks_deleted", "pages", "seconds"):
        assert key in data
    assert data["indexed"] == 2 and data["unchanged"] == 0
    assert data["pages"] == 6 and data["chunks_added"] > 0 and data["seconds"] > 0
    assert len(data["failed"]) == 1
    failure = data["failed"][0]
    assert failure["source"].endswith("pdfplumber_empty.pdf") and failure["stage"] == "extract"
    assert "empty file" in failure["error"] and "pdfplumber_empty.pdf" in failure["error"]
    assert "1 failed" in proc.stderr and "pdfplumber_empty.pdf" in proc.stderr

    # --strict turns a completed run with failures into exit status 1.
    proc = cli("ingest", str(src), "--strict", "--json", check_rc=1)
    again = json.loads(proc.stdout)
    assert again["unchanged"] == 3 and again["chunks_added"] == 0 and again["known_failures"]

    proc = cli("search", "When was the IBM MT/ST introduced?", "-k", "2", "--json")
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(results) == 2
    assert results[0]["file_name"] == "docling_multi_page.pdf" and results[0]["page_start"] == 1
    assert {"score", "text", "source", "page_start", "page_end", "chunk_id"} <= set(results[0])
    assert results[0]["score"] >= results[1]["score"]
    # As the query service searches: BM25 fused with dense (RRF scores, at most 2 / 61).
    assert results[0]["mode"] == "hybrid" and 0 < results[0]["score"] <= 2 / 61 + 1e-6
    dense = [json.loads(line) for line in cli("search", "When was the IBM MT/ST introduced?", "-k", "2", "--json", "--mode", "dense").stdout.splitlines()]
    assert dense[0]["mode"] == "dense" and dense[0]["file_name"] == "docling_multi_page.pdf" and dense[0]["score"] > 2 / 61
    assert "unknown search mode" in cli("search", "x", "--mode", "sparse", check_rc=2).stderr

    proc = cli("search", "白细胞计数", "-k", "1", "--json")
    assert json.loads(proc.stdout.splitlines()[0])["file_name"] == "pdfplumber_issue-461-example.pdf"
    assert "English model" in proc.stderr  # the note on a Chinese query with the English default

    proc = cli("stats", "--json")
    stats = json.loads(proc.stdout)
    assert stats["documents"] == 2 and stats["failed"] == 1
    assert stats["chunks"] == data["chunks_added"]
    assert stats["model"] == "all-MiniLM-L6-v2" and stats["dimension"] == 384 and stats["metric"] == "COSINE"
    assert stats["last_run"]["unchanged"] == 3


def test_bad_usage_exits_2(cli, tmp_path):
    proc = cli("ingest", str(tmp_path / "missing"), check_rc=2)
    assert "neither a file, a folder" in proc.stderr
    proc = cli("search", "anything", check_rc=2, PDFRAG_HOME=str(tmp_path / "never-ingested"))
    assert "run `pdfrag ingest" in proc.stderr


def test_extract_json_markdown_and_passwords(cli, pdfs):
    table_pdf = str(pdfs / "cjk" / "pymupdf_chinese-tables.pdf")
    out = json.loads(cli("extract", table_pdf, "--json").stdout)
    page = out["pages"][0]
    assert set(page) >= {"page", "method", "text", "tables", "headings"}
    assert page["page"] == 1 and page["method"] == "layout"
    assert len(page["tables"]) == 2 and page["tables"][1]["header"][:2] == ["序号", "金融机构名称"]
    assert "| 1 | 工商银行 | 330,435.30 |" in page["text"]

    md = cli("extract", str(pdfs / "prose" / "docling_multi_page.pdf"), "--markdown").stdout
    assert "<!-- page 1 · text -->" in md and "\n# The Evolution of the Word Processor" in md

    enc = str(pdfs / "bad_input" / "pdfminer_aes-256.pdf")
    failed = cli("extract", enc, check_rc=1)
    assert "encrypted: supply a password" in failed.stderr and "pdfminer_aes-256.pdf" in failed.stderr
    plain = cli("extract", enc, "--password", "foo")
    assert plain.stdout.strip() == "Secret!" and "page 1" in plain.stderr
