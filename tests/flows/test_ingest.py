"""The ingest flow end to end, against a real Prefect server and Milvus Lite,
on real PDFs from the shared corpus."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pdfrag.pipeline import Pipeline, close_pipelines, get_pipeline
from pdfrag.search import search

pytestmark = pytest.mark.integration

FIXTURES = {
    "prose": ["docling_multi_page.pdf", "samplefiles_pdflatex-4-pages.pdf"],
    "two_column": ["pdfminer_naacl06-shinyama.pdf", "samplefiles_multicolumn.pdf"],
    "tables": ["pdfplumber_nics-background-checks-2015-11.pdf", "pymupdf_small-table.pdf"],
    "cjk": ["pdfplumber_issue-67-example.pdf", "pymupdf_chinese-tables.pdf"],
}


@pytest.fixture()
def run(prefect_server, home):
    """Run the ingest flow in this process against the session's server."""
    from pdfrag.flows.ingest import ingest

    config = {"home": str(home)}

    def _run(source: Path, **kw):
        return ingest(source=str(source), config=config, **kw)

    yield _run
    close_pipelines()


@pytest.fixture()
def encode_calls(monkeypatch):
    """Count chunk texts the embed stage sends to the model (whatever the
    backend; a chunker that embeds sentences is not counted), to prove a
    rerun embeds nothing."""
    calls: list[int] = []
    original = Pipeline.embed_many

    def spy(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        calls.extend(int(o.stats.get("embedded", 0)) for o in out)
        return out

    monkeypatch.setattr(Pipeline, "embed_many", spy)
    return calls


def _copy(pdfs: Path, dest: Path, files: dict[str, list[str]]) -> Path:
    for cat, names in files.items():
        (dest / cat).mkdir(parents=True, exist_ok=True)
        for n in names:
            shutil.copy(pdfs / cat / n, dest / cat / n)
    return dest


def _chunks_in_milvus(home: Path) -> int:
    return get_pipeline({"home": str(home)}).index.count()


def test_ingest_search_rerun_change_prune(run, home, pdfs, tmp_path, encode_calls, monkeypatch):
    src = _copy(pdfs, tmp_path / "corpus", FIXTURES)
    n_files = sum(len(v) for v in FIXTURES.values())

    first = run(src)
    assert first.failed == []
    assert first.indexed == n_files and first.unchanged == 0
    assert first.chunks_added > 0 and first.chunks_added == first.chunks_embedded
    assert first.pages > 0
    assert _chunks_in_milvus(home) == first.chunks_added
    assert sum(encode_calls) == first.chunks_embedded
    # The two Chinese files are named: the default model reads English.
    assert len(first.warnings) == 1
    assert first.warnings[0].startswith(f"2 of {n_files} documents indexed by this run are mostly not in Latin script")
    assert "pdfplumber_issue-67-example.pdf" in first.warnings[0] and "pymupdf_chinese-tables.pdf" in first.warnings[0]
    zh = next(d for d in first.documents if d["source"].endswith("pdfplumber_issue-67-example.pdf"))
    assert zh["non_latin_letters"] > 0.9 * zh["letters"] > 0

    # Known passages are found, with their file and page.
    p = get_pipeline({"home": str(home)})
    cases = [
        ("When was the IBM MT/ST typewriter introduced?", "docling_multi_page.pdf", 1),
        ("preemptive information extraction with unrestricted relation discovery", "pdfminer_naacl06-shinyama.pdf", 1),
        ("NICS firearm background checks by state", "pdfplumber_nics-background-checks-2015-11.pdf", 1),
        ("东北电气发展股份有限公司 2018年第一季度报告", "pdfplumber_issue-67-example.pdf", None),
    ]
    for query, name, page in cases:
        hits = search(p, query, k=3)
        top = [(h.file_name, h.page_start) for h in hits]
        assert any(f == name for f, _ in top), f"{query!r}: expected {name} in {top}"
        if page is not None:
            hit = next(h for h in hits if h.file_name == name)
            assert hit.page_start <= page <= hit.page_end
            assert hit.source.endswith(name) and hit.text
    # Results carry the heading path of their section.
    typewriter = next(h for h in search(p, cases[0][0], k=3) if h.file_name == "docling_multi_page.pdf")
    assert typewriter.heading_path[-1] == "The Birth of Word Processing (1960s - 1970s)"

    # A rerun adds nothing and embeds nothing; unchanged fingerprints (size
    # and mtime) mean it does not even read the files again.
    encode_calls.clear()
    import pdfrag.pipeline as pipeline_module

    reads: list[str] = []
    real_read = pipeline_module.read_source
    monkeypatch.setattr(pipeline_module, "read_source", lambda uri, **kw: reads.append(uri) or real_read(uri, **kw))
    second = run(src)
    assert reads == []
    assert (second.indexed, second.unchanged, second.chunks_added, second.chunks_deleted, second.chunks_embedded) == (0, n_files, 0, 0, 0)
    assert encode_calls == []
    assert second.warnings == []  # nothing was indexed, so nothing to warn about
    assert _chunks_in_milvus(home) == first.chunks_added

    # A changed file replaces its chunks: the old document's rows are gone.
    target = src / "prose" / "docling_multi_page.pdf"
    old_doc = next(e for e in p.ledger.all() if e.source == str(target))
    shutil.copy(pdfs / "prose" / "pdfplumber_issue-848.pdf", target)
    third = run(src)
    assert third.indexed == 1 and third.unchanged == n_files - 1
    assert third.chunks_deleted == old_doc.chunks
    assert p.index.count(f'doc_id == "{old_doc.doc_id}"') == 0
    new_doc = next(e for e in p.ledger.all() if e.source == str(target))
    assert new_doc.doc_id != old_doc.doc_id
    assert p.index.count(f'doc_id == "{new_doc.doc_id}"') == new_doc.chunks == third.chunks_added
    assert _chunks_in_milvus(home) == first.chunks_added - old_doc.chunks + new_doc.chunks
    hits = search(p, "RoboCop police officers Old Detroit", k=1)
    assert hits[0].source == str(target)

    # --prune removes the chunks of files gone from the source.
    gone = src / "tables" / "pymupdf_small-table.pdf"
    gone_entry = next(e for e in p.ledger.all() if e.source == str(gone))
    gone.unlink()
    fourth = run(src, prune=True)
    assert fourth.pruned == 1 and fourth.chunks_deleted == gone_entry.chunks
    assert p.index.count(f'doc_id == "{gone_entry.doc_id}"') == 0
    assert str(gone) not in {e.source for e in p.ledger.all()}


EXPECTED_BAD = {
    "pdfplumber_empty.pdf": "empty file",
    "docling_encrypted_pw1234_2206.01062_pg3.pdf": "encrypted: supply a password",
    "pdfminer_aes-256.pdf": "encrypted: supply a password",
    "pdfminer_rc4-40.pdf": "encrypted: supply a password",
    "pdfplumber_password-example.pdf": "encrypted: supply a password",
    "samplefiles_encrypted_openpassword.pdf": "encrypted: supply a password",
    "pdfplumber_issue-297-example.pdf": "no extractable text",
    "samplefiles_ccittfax_tiny_page.pdf": "OCR found no text",
}


def test_workers_documents_are_extracted_at_once(run, pdfs, tmp_path, monkeypatch):
    """Each chunk task waits on a thread for its document's extraction; those
    waits must not take the threads that extract (runner.workers, 2 here)."""
    import threading
    import time

    from pdfrag.config import load_settings

    workers = load_settings().runner.workers
    assert workers == 2
    src = _copy(pdfs, tmp_path / "src", {"prose": FIXTURES["prose"], "two_column": FIXTURES["two_column"]})
    lock = threading.Lock()
    running = [0]
    most: list[int] = []
    original = Pipeline.extract

    def slow_extract(self, *args, **kwargs):
        with lock:
            running[0] += 1
            most.append(running[0])
        try:
            time.sleep(0.5)  # long enough for the other worker to start its document
            return original(self, *args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(Pipeline, "extract", slow_extract)
    summary = run(src)
    assert summary.indexed == 4 and summary.failed == []
    assert max(most) == workers


def test_bad_input_fails_per_file_without_stopping(run, home, pdfs, tmp_path):
    src = tmp_path / "bad"
    shutil.copytree(pdfs / "bad_input", src)
    # A copy of a bad file fails with the original's reason, not just "identical to".
    shutil.copy(src / "pdfplumber_issue-297-example.pdf", src / "zz-copy.pdf")
    expected = {**EXPECTED_BAD, "zz-copy.pdf": "no extractable text"}
    all_pdfs = sorted(p.name for p in src.glob("*.pdf"))

    summary = run(src)
    failed = {Path(f.source).name: f for f in summary.failed}
    assert set(failed) == set(expected)
    for name, reason in expected.items():
        f = failed[name]
        assert reason in f.error and name in f.error, f.error
        assert f.stage == "extract" and not f.retryable
    assert "identical to" in failed["zz-copy.pdf"].error and "pdfplumber_issue-297-example.pdf" in failed["zz-copy.pdf"].error
    # Every other file is indexed: nothing is silently dropped.
    assert summary.indexed == len(all_pdfs) - len(expected)
    assert summary.indexed + len(summary.failed) == summary.files == len(all_pdfs)

    # Failures are stored with the run, in the ledger and the run record.
    p = get_pipeline({"home": str(home)})
    ledger_failed = {Path(e.source).name for e in p.ledger.all() if e.status == "failed"}
    assert ledger_failed == set(expected)
    assert {Path(f["source"]).name for f in p.last_run()["failed"]} == set(expected)

    # Unchanged known failures are not retried; supplying passwords retries them.
    again = run(src)
    assert again.failed == [] and again.unchanged == len(all_pdfs)
    assert {Path(f.source).name for f in again.known_failures} == set(expected)
    close_pipelines()
    from pdfrag.flows.ingest import ingest

    with_pw = ingest(source=str(src), config={"home": str(home), "extract.passwords": ["1234", "foo", "test", "openpassword"]})
    unlocked = {Path(d["source"]).name for d in with_pw.documents if d["status"] == "indexed"}
    assert unlocked == {n for n, r in EXPECTED_BAD.items() if r.startswith("encrypted")}
    hits = search(get_pipeline({"home": str(home), "extract.passwords": ["1234", "foo", "test", "openpassword"]}), "Secret!", k=5)
    assert any(h.file_name in ("pdfminer_aes-256.pdf", "pdfminer_rc4-40.pdf") for h in hits)
