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
