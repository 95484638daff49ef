"""Tests for pdfrag.embed: the packaged all-MiniLM-L6-v2 loaded offline on the
CPU through sentence-transformers, and model profiles."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from pdfrag.config import EmbedSettings
from pdfrag.embed import PROFILES, get_embedder, get_profile
from pdfrag.embed.base import normalize
from pdfrag.embed.sentence_transformers import SentenceTransformerEmbedder, resolve_device
from pdfrag.embed.tokens import ModelTokenizer
from pdfrag.errors import ConfigError


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(get_profile("all-MiniLM-L6-v2"), device="cpu", precision="fp32")


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.integration
def test_model_loads_offline_on_cpu(embedder: SentenceTransformerEmbedder) -> None:
    # weights come from the installed package folder; offline mode is forced
    assert embedder.profile.path.is_dir()
    assert (embedder.profile.path / "modules.json").is_file()
    model = embedder.model
    assert embedder.device == "cpu"
    assert str(model.device) == "cpu"
    assert model.max_seq_length == 256
    assert embedder.dimension == 384
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    cfg = embedder.config()
    assert cfg == {"backend": "torch", "model": "all-MiniLM-L6-v2", "dimension": 384, "metric": "COSINE", "max_tokens": 256}


@pytest.mark.integration
def test_vectors_are_unit_norm_float32(embedder: SentenceTransformerEmbedder) -> None:
    texts = ["A short sentence.", "东北电气发展股份有限公司", "", "x" * 3000]
    v = embedder.embed_documents(texts)
    assert v.shape == (4, 384)
    assert v.dtype == np.float32
    assert np.all(np.isfinite(v))
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    q = embedder.embed_queries(["what is a short sentence?"])
    assert q.shape == (1, 384) and q.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)


@pytest.mark.integration
def test_paraphrase_scores_higher_than_unrelated(embedder: SentenceTransformerEmbedder) -> None:
    v = embedder.embed_documents(
        [
            "The cat is sitting on the mat.",
            "A cat sits on a rug.",
            "Quarterly revenue of the transformer business grew by ten percent.",
        ]
    )
    para, unrelated = _cos(v[0], v[1]), _cos(v[0], v[2])
    assert para > unrelated + 0.2, (para, unrelated)
    q = embedder.embed_queries(["Where is the cat?"])[0]
    assert _cos(q, v[0]) > _cos(q, v[2])


@pytest.mark.integration
def test_embed_documents_preserves_order(embedder: SentenceTransformerEmbedder) -> None:
    # very different lengths, so the length sort inside reorders them
    texts = ["short", "a much longer sentence about embedding models and vector search " * 5, "mid length text here", "x", "中文句子测试。" * 10]
    batched = embedder.embed_documents(texts, batch_size=2)
    assert batched.shape == (len(texts), 384)
    for i, t in enumerate(texts):
        one = embedder.embed_documents([t])[0]
        np.testing.assert_allclose(batched[i], one, atol=1e-4)
    # and more texts than one step of 4 batches (batch_size=1 -> steps of 4)
    many = [f"document number {i} " + "word " * (i % 7) for i in range(10)]
    progress: list[int] = []
    out = embedder.embed_documents(many, batch_size=1, progress=progress.append)
    assert sum(progress) == 10 and len(progress) == 3
    for i in (0, 5, 9):
        np.testing.assert_allclose(out[i], embedder.embed_documents([many[i]])[0], atol=1e-4)


@pytest.mark.integration
def test_empty_list(embedder: SentenceTransformerEmbedder) -> None:
    e = embedder.embed_documents([])
    assert e.shape == (0, 384) and e.dtype == np.float32
    assert embedder.embed_queries([]).shape == (0, 384)


@pytest.mark.integration
def test_get_embedder_is_cached() -> None:
    a = get_embedder(EmbedSettings(device="cpu", backend="torch"))
    b = get_embedder(EmbedSettings(device="cpu", backend="torch", batch_size=8))
    assert a is b
    assert isinstance(a, SentenceTransformerEmbedder)
    assert get_embedder(EmbedSettings(device="cpu", backend="torch-bf16")) is not a


def test_resolve_device() -> None:
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            resolve_device("cuda")


def test_normalize() -> None:
    v = np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float64)
    n = normalize(v)
    assert n.dtype == np.float32
    np.testing.assert_allclose(n[0], [0.6, 0.8], rtol=1e-6)
    np.testing.assert_array_equal(n[1], [0.0, 0.0])  # zero vectors stay zero, no NaN


# Profiles -------------------------------------------------------------------------


def test_get_profile_known_names() -> None:
    p = get_profile("all-MiniLM-L6-v2")
    assert p is PROFILES["all-MiniLM-L6-v2"]
    assert (p.dimension, p.max_tokens, p.metric) == (384, 256, "COSINE")
    assert p.identity() == {"model": "all-MiniLM-L6-v2", "dimension": 384, "metric": "COSINE"}
    # hub-style and case-insensitive names map to the packaged profile
    assert get_profile("sentence-transformers/all-MiniLM-L6-v2") is p
    assert get_profile("ALL-MINILM-L6-V2") is p


@pytest.mark.parametrize("name", ["no-such-model", "bert-base-uncased", "", "/definitely/not/a/model/dir"])
def test_get_profile_rejects_unknown(name: str) -> None:
    with pytest.raises(ConfigError, match="unknown embedding model") as ei:
        get_profile(name)
    assert ei.value.stage == "embed"
    assert "never downloaded" in (ei.value.hint or "")


def test_get_profile_from_local_folder(tmp_path: Path) -> None:
    import json

    folder = tmp_path / "my-model"
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "modules.json").write_text("[]")
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 128}))
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 512}))
    p = get_profile(str(folder))
    assert (p.name, p.dimension, p.max_tokens) == ("local:my-model", 512, 128)
    assert p.path == folder.absolute()
    # a folder without a dimension is refused
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "modules.json").write_text("[]")
    with pytest.raises(ConfigError, match="dimension"):
        get_profile(str(bare))


def test_tokenizer_counts_without_special_tokens() -> None:
    tok = ModelTokenizer(get_profile("all-MiniLM-L6-v2"))
    assert tok.special == 2
    assert tok.budget == 254
    assert tok.count("") == 0
    assert tok.count("hello world") == 2
    assert tok.count_batch(["hello world", "", "东北"]) == [2, 0, 2]
    offs = tok.offsets("hello world")
    assert offs == [(0, 5), (6, 11)]


@pytest.mark.integration
def test_direct_path_gives_the_vectors_of_encode(embedder: SentenceTransformerEmbedder) -> None:
    """The torch backends run encoder and pooling on the fast tokenizer's ids;
    the vectors must be sentence-transformers' own, for long (cut), short,
    empty and Chinese texts batched together."""
    texts = ["word " * 400, "short", "", "多列排版的阅读顺序。" * 20, "A paraphrase of a sentence about tables."]
    direct = embedder.embed_documents(texts, batch_size=2)
    assert embedder._direct is not None
    kept, embedder._direct = embedder._direct, None
    try:
        encoded = embedder.embed_documents(texts, batch_size=2)
    finally:
        embedder._direct = kept
    np.testing.assert_allclose(direct, encoded, atol=1e-5)


def test_plain_pooling_only_for_encoder_pooling_normalize() -> None:
    from pdfrag.embed.sentence_transformers import _plain_pooling

    def module(name: str, **attrs):
        return type(name, (), attrs)()

    enc = module("Transformer", auto_model=object())
    assert _plain_pooling([enc, module("Pooling", pooling_mode="mean"), module("Normalize")]) == "mean"
    assert _plain_pooling([enc, module("Pooling", pooling_mode="cls")]) == "cls"
    # Anything more runs through model.encode: a dense layer, another pooling, no encoder.
    assert _plain_pooling([enc, module("Pooling", pooling_mode="mean"), module("Dense")]) is None
    assert _plain_pooling([enc, module("Pooling", pooling_mode="max")]) is None
    assert _plain_pooling([module("Transformer"), module("Pooling", pooling_mode="mean")]) is None
    assert _plain_pooling([enc, module("Pooling", pooling_mode="mean", include_prompt=False)]) is None
