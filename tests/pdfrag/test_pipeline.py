"""Tests for pdfrag.pipeline's pure helpers (the stages themselves are
tested through the flows)."""

from __future__ import annotations

import pytest

from pdfrag.config import ExtractSettings, RunnerSettings, Settings
from pdfrag.pipeline import extract_settings


def _settings(**runner) -> Settings:
    return Settings(extract=ExtractSettings(), runner=RunnerSettings(**runner))


def test_ocr_threads_are_shared_out_among_the_workers() -> None:
    assert extract_settings(_settings(workers=2), cores=2).ocr_threads == 1
    assert extract_settings(_settings(workers=2), cores=16).ocr_threads == 8
    assert extract_settings(_settings(workers=1), cores=4).ocr_threads == 4
    assert extract_settings(_settings(workers=8), cores=2).ocr_threads == 1  # never below one
    assert extract_settings(_settings(kind="dask", workers=4), cores=8).ocr_threads == 2  # a local Dask cluster


def test_ocr_threads_set_by_the_user_or_on_a_remote_cluster_are_left_alone() -> None:
    s = _settings(workers=2)
    s.extract.ocr_threads = 3
    assert extract_settings(s, cores=2).ocr_threads == 3
    assert extract_settings(_settings(kind="dask", address="tcp://scheduler:8786"), cores=2).ocr_threads == 0
    assert extract_settings(_settings(kind="ray", workers=2), cores=2).ocr_threads == 0


def test_ocr_threads_do_not_change_cache_keys() -> None:
    assert ExtractSettings(ocr_threads=1).hash_config() == ExtractSettings().hash_config()


def test_the_chunker_embeds_sentences_on_the_split_backend(tmp_path) -> None:
    """The pipeline's semantic splitting embeds with chunk.split_backend
    (all-MiniLM-L6-v2's static vectors by default), and that backend is
    part of the chunker's configuration, so changing it re-chunks."""
    from pdfrag.config import ChunkSettings, EmbedSettings
    from pdfrag.pipeline import Pipeline

    def chunker_embedder(split_backend: str) -> dict:
        s = Settings(home=str(tmp_path), embed=EmbedSettings(backend="onnx"), chunk=ChunkSettings(split_backend=split_backend))
        return Pipeline(s).chunker.config()["embedder"]

    assert chunker_embedder("auto")["backend"] == "static"
    assert chunker_embedder("onnx-int8")["backend"] == "onnx-int8"
    assert chunker_embedder("same")["backend"] == "onnx"


def test_embed_many_embeds_documents_together_and_keeps_one_file_each(tmp_path, pdfs) -> None:
    """Several documents' chunks go through the model in one pass, and each
    document still gets its own embeddings file, in order, with the vectors
    its texts get alone; embedded documents are read back, not embedded again."""
    import shutil

    import numpy as np

    from pdfrag.chunk import embedding_text
    from pdfrag.config import EmbedSettings
    from pdfrag.pipeline import Pipeline
    from pdfrag.store import stage_object_key

    src = tmp_path / "src"
    src.mkdir()
    for rel in ("prose/samplefiles_pdflatex-4-pages.pdf", "tables/pymupdf_small-table.pdf", "prose/docling_multi_page.pdf"):
        shutil.copy(pdfs / rel, src / rel.split("/")[1])
    p = Pipeline(Settings(home=str(tmp_path / "home"), embed=EmbedSettings(backend="onnx")))
    p.precheck()
    files = sorted(p.plan(str(src)).todo, key=lambda f: f.name)
    chunks = [p.chunk(f, p.extract(f)) for f in files]

    first = p.embed_many(chunks[:2])
    assert [o.stats["embedded"] for o in first] == [c.rows for c in chunks[:2]]
    assert len({o.key for o in first}) == 2 and not any(o.cached for o in first)
    for c, o in zip(chunks[:2], first, strict=True):
        ct = p.store.get_table(stage_object_key("chunks", c.key))
        vt = p.store.get_table(stage_object_key("embeddings", o.key))
        assert vt.column("chunk_id").to_pylist() == ct.column("chunk_id").to_pylist()
        metas = ct.column("metadata").to_pylist() if "metadata" in ct.column_names else [None] * ct.num_rows
        alone = p.embedder.embed_documents([embedding_text(t, m) for t, m in zip(ct.column("text").to_pylist(), metas, strict=True)])
        together = np.stack(vt.column("vector").to_numpy(zero_copy_only=False))
        np.testing.assert_allclose(together, alone, atol=1e-4)

    second = p.embed_many([chunks[2], chunks[0]])
    assert second[1].cached and second[1].key == first[0].key and second[1].rows == chunks[0].rows == first[0].rows
    assert not second[0].cached and second[0].stats["embedded"] == chunks[2].rows
    assert p.embed_many([]) == []


@pytest.fixture()
def scans(monkeypatch) -> list[str]:
    """The documents whose stale rows MilvusIndex looked for (a collection scan each)."""
    from pdfrag.index.milvus import MilvusIndex

    found: list[str] = []
    real = MilvusIndex.delete_doc_stale
    monkeypatch.setattr(MilvusIndex, "delete_doc_stale", lambda self, doc, pipe: found.append(doc) or real(self, doc, pipe))
    return found


def test_rows_of_another_configuration_are_replaced_and_scanned_for_only_when_one_is_on_record(tmp_path, pdfs, scans) -> None:
    """A document indexed again under another configuration loses the old
    configuration's rows. Finding them is a scan of the collection, so it
    runs only while the collection records another configuration; a run
    that leaves none of its rows records only its own."""
    import shutil

    from pdfrag.config import ChunkSettings
    from pdfrag.pipeline import Pipeline, new_run

    src = tmp_path / "src"
    src.mkdir()
    for rel in ("prose/samplefiles_pdflatex-4-pages.pdf", "tables/pymupdf_small-table.pdf"):
        shutil.copy(pdfs / rel, src / rel.split("/")[1])

    def ingest(p: Pipeline, only: str | None = None) -> list:
        p.precheck()
        plan = p.plan(str(src))
        run = new_run(str(src))
        results = []
        for f in plan.todo:
            if only and f.name != only:
                continue
            pages = p.extract(f)
            chunks = p.chunk(f, pages)
            results.append((f, p.index_document(f, pages, chunks, p.embed_many([chunks])[0], plan.previous.get(f.uri), run.run_id)))
        p.finalize()
        return results

    home = str(tmp_path / "home")
    a = Pipeline(Settings(home=home, chunk=ChunkSettings(size=200)))
    first = ingest(a)
    assert scans == []  # a new collection: no other configuration, no scan
    assert a.index.pipelines() == {a.pipeline_id}
    total_a = a.index.count()
    assert total_a == sum(r.added for _, r in first) > 0
    a.index.close()

    # Another configuration, one of the two files: its old rows go.
    b = Pipeline(Settings(home=home, chunk=ChunkSettings(size=100)))
    assert b.pipeline_id != a.pipeline_id
    (f, res), = ingest(b, only="pymupdf_small-table.pdf")
    assert scans == [f.doc_id]
    old_rows = next(r for g, r in first if g.name == f.name).added
    assert res.deleted == old_rows and res.added > 0
    assert b.index.count() == total_a - old_rows + res.added
    # The other file still has rows of the first configuration.
    assert b.index.pipelines() == {a.pipeline_id, b.pipeline_id}

    # Once no row of the first configuration is left, only the second is on record.
    scans.clear()
    rest = ingest(b)
    assert [g.name for g, _ in rest] == ["samplefiles_pdflatex-4-pages.pdf"] and len(scans) == 1
    assert b.index.pipelines() == {b.pipeline_id}
    assert b.index.pipelines_present(b.pipeline_id) == set()
    b.index.close()


def test_a_collection_that_does_not_record_pipelines_is_scanned_then_recorded(tmp_path, pdfs, monkeypatch, scans) -> None:
    """Collections made before pdfrag recorded pipelines (or on a server that
    drops properties) may hold any configuration's rows: every document is
    cleaned up after, and the run's end records what is there."""
    import shutil

    from pdfrag.index.milvus import MilvusIndex
    from pdfrag.pipeline import Pipeline, new_run

    shutil.copy(pdfs / "prose/samplefiles_pdflatex-4-pages.pdf", tmp_path / "a.pdf")
    p = Pipeline(Settings(home=str(tmp_path / "home")))
    p.precheck()
    recorded: list[set[str] | None] = [None]
    monkeypatch.setattr(MilvusIndex, "pipelines", lambda self: recorded[0])
    monkeypatch.setattr(MilvusIndex, "record_pipelines", lambda self, pipes: recorded.__setitem__(0, set(pipes)))
    (f,) = p.plan(str(tmp_path / "a.pdf")).todo
    pages = p.extract(f)
    chunks = p.chunk(f, pages)
    p.index_document(f, pages, chunks, p.embed_many([chunks])[0], None, new_run(str(tmp_path)).run_id)
    assert scans == [f.doc_id] and recorded[0] is None  # unknown stays unknown until the run's end
    p.finalize()
    assert recorded[0] == {p.pipeline_id}
    p.index.close()


def test_rows_of_identical_files_name_a_file_that_still_holds_them(tmp_path, pdfs) -> None:
    """Identical files share one set of rows, which name one of them. When
    that file is deleted (prune) or its bytes change, the rows stay for the
    other file and name it: search never cites a file without the text."""
    import shutil

    from pdfrag.pipeline import Pipeline, new_run

    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(pdfs / "prose/docling_multi_page.pdf", src / "a.pdf")
    shutil.copy(pdfs / "prose/docling_multi_page.pdf", src / "b.pdf")
    shutil.copy(pdfs / "prose/samplefiles_pdflatex-4-pages.pdf", src / "c.pdf")
    p = Pipeline(Settings(home=str(tmp_path / "home")))

    def ingest(prune: bool = False) -> None:
        p.precheck()
        plan = p.plan(str(src), prune=prune)
        run = new_run(str(src))
        for f in plan.todo:
            pages = p.extract(f)
            chunks = p.chunk(f, pages)
            p.index_document(f, pages, chunks, p.embed_many([chunks])[0], plan.previous.get(f.uri), run.run_id)
        for f, of in plan.duplicates:
            p.record_duplicate(f, of, plan.previous.get(f.uri), run.run_id)
        if plan.removed:
            p.prune(plan.removed)
        p.finalize()

    def sources(doc_id: str) -> set[tuple[str, str]]:
        return {(r["source"], r["metadata"]["file_name"]) for r in p.index._query_all(f'doc_id == "{doc_id}"', ["source", "metadata"])}

    try:
        ingest()
        shared = p.ledger.get([str(src / "a.pdf")])[str(src / "a.pdf")].doc_id
        n = p.index.count(f'doc_id == "{shared}"')
        assert n > 0 and sources(shared) == {(str(src / "a.pdf"), "a.pdf")}
        assert p.ledger.get([str(src / "b.pdf")])[str(src / "b.pdf")].error == f"duplicate of {src / 'a.pdf'}"

        # a.pdf deleted: b.pdf keeps the rows, which now name it.
        (src / "a.pdf").unlink()
        ingest(prune=True)
        assert p.index.count(f'doc_id == "{shared}"') == n and sources(shared) == {(str(src / "b.pdf"), "b.pdf")}
        assert p.ledger.get([str(src / "b.pdf")])[str(src / "b.pdf")].error == ""

        # a.pdf back as a copy (indexed as new: its rows, the same ids, name
        # it), then a.pdf changed: the rows stay for b.pdf and name it.
        shutil.copy(src / "b.pdf", src / "a.pdf")
        ingest()
        assert p.index.count(f'doc_id == "{shared}"') == n and sources(shared) == {(str(src / "a.pdf"), "a.pdf")}
        shutil.copy(src / "c.pdf", src / "a.pdf")
        ingest()
        assert p.index.count(f'doc_id == "{shared}"') == n and sources(shared) == {(str(src / "b.pdf"), "b.pdf")}

        # The last holder changes too: the rows go.
        shutil.copy(pdfs / "tables/pymupdf_small-table.pdf", src / "b.pdf")
        ingest()
        assert p.index.count(f'doc_id == "{shared}"') == 0
    finally:
        p.index.close()
