"""The embedder interface's batching: sorted by length, capped per forward pass."""

from __future__ import annotations

import numpy as np

from pdfrag.embed.base import Embedder
from pdfrag.embed.onnx import OnnxEmbedder
from pdfrag.embed.profiles import get_profile


class Recorder(Embedder):
    """Encodes each text as its length (in the first coordinate) and records
    the batch sizes it was asked for."""

    backend = "test"

    def __init__(self) -> None:
        self.profile = get_profile("all-MiniLM-L6-v2")
        self.sizes: list[int] = []

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        self.sizes.append(batch_size)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        out[:, 0] = [len(t) for t in texts]
        out[:, 1] = 1.0
        return out


def test_attention_cap_gives_long_texts_small_batches() -> None:
    rec = Recorder()
    rec.max_batch_attention = 1 << 18
    long_text = "word " * 240  # 242 tokens with [CLS] and [SEP]: 2^18 / 242^2 = 4.5
    short_text = "a few words"
    texts = [short_text, long_text] * 10
    vecs = rec.embed_documents(texts, batch_size=32)
    # Longest first: the long texts' forward passes hold 4 texts, the short ones' 32.
    assert rec.sizes[0] == 4
    assert rec.sizes[-1] == 32
    # The output keeps the input's order whatever the batches were.
    lengths = vecs[:, 0] / vecs[:, 1]
    assert np.allclose(lengths[::2], len(short_text)) and np.allclose(lengths[1::2], len(long_text))


def test_no_attention_cap_keeps_the_batch_size() -> None:
    rec = Recorder()
    rec.embed_documents(["word " * 240] * 8, batch_size=8)
    assert rec.sizes == [8]


def test_onnx_backend_runs_long_texts_in_small_batches(monkeypatch) -> None:
    """The ONNX backend's own batching (its session is never built here:
    ``_encode`` records what it is asked for)."""
    emb = OnnxEmbedder(get_profile("all-MiniLM-L6-v2"), int8=True)
    sizes: list[int] = []

    def encode(texts: list[str], batch_size: int) -> np.ndarray:
        sizes.append(batch_size)
        return np.ones((len(texts), emb.dimension), dtype=np.float32)

    monkeypatch.setattr(emb, "_encode", encode)
    emb.embed_documents(["word " * 240] * 8 + ["a few words"] * 200, batch_size=32)
    # Longest first, four batches' worth a call: 242 tokens allow 2^18 / 242^2 = 4.5 texts a pass
    # (the 8 long texts and 8 short ones go in passes of 4), the rest of the short ones 32.
    assert sizes == [4, 32, 32]
    assert emb._session is None


def test_min_batch_sets_the_smallest_forward_pass() -> None:
    """A GPU embedder asks for batches of at least ``min_batch`` texts, still
    capped by ``max_batch_tokens``."""
    rec = Recorder()
    rec.embed_documents(["text"] * 10, batch_size=2)
    assert rec.sizes[0] == 2
    rec.min_batch, rec.sizes = 8, []
    rec.embed_documents(["text"] * 10, batch_size=2)
    assert rec.sizes[0] == 8
    rec.max_batch_tokens, rec.sizes = 12, []  # 3 tokens a text ([CLS] text [SEP]): 4 fit
    rec.embed_documents(["text"] * 10, batch_size=2)
    assert rec.sizes[0] == 4
