"""Static backend: one vector per vocabulary token, distilled from the model.

For semantic splitting only (``chunk.split_backend = static``): its vectors
decide where chunks end and are never stored. As in model2vec (which Chonkie's
semantic chunker uses for the same job), every token of the vocabulary is run
through the model once, alone between the special tokens, and the pooled
output is kept; a text's vector is then the mean of its tokens' rows, with no
forward pass at all. The rows are

1. centred on the vocabulary's mean and weighted by ``log(1 + rank)`` (the
   vocabulary's order as a stand-in for frequency, as model2vec does), so
   frequent pieces count for less;
2. stripped of the direction that every text shares (as SIF removes the
   common component of sentence vectors): the mean row under a Zipf prior
   over the vocabulary's words (pieces of two or more characters, in
   vocabulary order: BERT's WordPiece and SentencePiece vocabularies list
   them about by frequency). Without this, any two sentences of a language
   look alike and similarity says little about topic.

The table is built once per model from its ONNX fp32 export (30,522 tokens
for all-MiniLM-L6-v2: about 13 s on two cores) and cached beside it as
``static-v<N>.npy`` (float16).

What it is worth is measured on the chunking benchmark and the shared corpus
(see the README): compared sentence with sentence the static vectors agree
only loosely with the model's, but the ``dp`` split on them chose boundaries
within the benchmark's noise of the model's, at a small fraction of the cost.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from pdfrag.embed.base import Embedder, normalize
from pdfrag.embed.cache import build_file_once
from pdfrag.embed.profiles import ModelProfile

STATIC_VERSION = 1
_BATCH = 2048  # vocabulary rows per forward pass while building


def static_table_path(profile: ModelProfile, models_dir: Path | None = None) -> Path:
    """``static-v<N>.npy`` beside the model's ONNX export, built on first use."""
    from pdfrag.embed.onnx import onnx_dir

    folder = onnx_dir(profile, models_dir)
    return build_file_once(
        folder / f"static-v{STATIC_VERSION}.npy", lambda tmp: build_table(folder / "model.onnx", profile, tmp),
        what=f"static token vectors of {profile.name}",
    )


def build_table(onnx_model: Path, profile: ModelProfile, dest: Path) -> None:
    """Every vocabulary token through the model between the special tokens;
    rows centred, rank-weighted and stripped of the common direction, saved
    as float16."""
    from pdfrag.embed.onnx import _session
    from pdfrag.embed.tokens import _load

    tok = _load(str(profile.path))
    size = tok.get_vocab_size()
    specials = tok.encode("", add_special_tokens=True).ids  # e.g. [CLS] [SEP] or <s> </s>
    first, last = (specials[0], specials[-1]) if len(specials) >= 2 else (None, None)
    session = _session(onnx_model, 0)
    rows = []
    for start in range(0, size, _BATCH):
        ids = np.arange(start, min(size, start + _BATCH), dtype=np.int64)[:, None]
        if first is not None:
            ids = np.concatenate([np.full_like(ids, first), ids, np.full_like(ids, last)], axis=1)
        rows.append(session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0].astype(np.float32))
    table = np.concatenate(rows)
    table -= table.mean(axis=0)
    table *= np.log1p(np.arange(size, dtype=np.float32))[:, None]
    common = common_direction(table, word_weights([tok.id_to_token(i) or "" for i in range(size)], set(specials)))
    table -= np.outer(table @ common, common)
    with open(dest, "wb") as f:  # np.save on a path would add ".npy" to the temporary name
        np.save(f, table.astype(np.float16))


def word_weights(tokens: list[str], specials: set[int]) -> np.ndarray:
    """A Zipf prior (weight 1 / rank) over the vocabulary's words: tokens of
    two or more characters besides WordPiece's ``##`` and SentencePiece's
    ``▁``, in vocabulary order; special tokens and single characters get 0."""
    weights = np.zeros(len(tokens), dtype=np.float64)
    rank = 0
    for i, t in enumerate(tokens):
        if i in specials or (t[:1], t[-1:]) in (("[", "]"), ("<", ">")):
            continue
        if len(t.lstrip("#▁")) >= 2:
            rank += 1
            weights[i] = 1.0 / rank
    return weights


def common_direction(table: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The unit vector of the ``weights``-weighted mean row."""
    mean = weights @ table.astype(np.float64)
    norm = np.linalg.norm(mean)
    return (mean / norm if norm else mean).astype(np.float32)


class StaticEmbedder(Embedder):
    """Mean of the static rows of a text's tokens (no special tokens, no
    prefixes, no length limit), L2-normalized."""

    backend: ClassVar[str] = "static"

    def __init__(self, profile: ModelProfile, models_dir: Path | str | None = None) -> None:
        self.profile = profile
        self.models_dir = Path(models_dir) if models_dir else None
        self.device = "cpu"
        self._table: np.ndarray | None = None
        self._lock = threading.Lock()

    @property
    def table(self) -> np.ndarray:
        with self._lock:
            if self._table is None:
                self._table = np.load(static_table_path(self.profile, self.models_dir))
            return self._table

    def embed_documents(self, texts: list[str], batch_size: int = 64, progress=None) -> np.ndarray:
        out = self._encode(texts, batch_size)
        if progress:
            progress(len(texts))
        return normalize(out)

    def embed_queries(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        return normalize(self._encode(texts, batch_size))

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        from pdfrag.embed.tokens import _load

        table = self.table
        out = np.zeros((len(texts), table.shape[1]), dtype=np.float32)
        for i, enc in enumerate(_load(str(self.profile.path)).encode_batch(texts, add_special_tokens=False)):
            if enc.ids:
                out[i] = table[enc.ids].mean(axis=0, dtype=np.float32)
        return out

    def config(self) -> dict[str, Any]:
        return {**super().config(), "static": STATIC_VERSION}
