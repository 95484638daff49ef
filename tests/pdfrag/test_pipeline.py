"""Tests for pdfrag.pipeline's pure helpers (the stages themselves are
tested through the flows)."""

from __future__ import annotations

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
