"""Embedder interface: texts → L2-normalized float32 vectors."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from pdfrag.embed.profiles import ModelProfile
from pdfrag.errors import ConfigError

log = logging.getLogger(__name__)


class Embedder(ABC):
    backend: ClassVar[str]
    profile: ModelProfile
    # Texts embedded so far that were longer than the model's limit (their
    # tails were cut off); each batch with any is also logged as a warning.
    truncated: int = 0
    max_batch_tokens: int = 16384
    # Texts per forward pass at least (a GPU needs long batches to be busy);
    # max_batch_tokens still caps it.
    min_batch: int = 1
    # At most this many attention scores per head (texts × longest²) per
    # forward pass; 0: no such cap. On a CPU the attention matrices of a
    # long batch spill out of the caches, so long texts go faster in small
    # batches (backends set it from measurements).
    max_batch_attention: int = 0

    @property
    def dimension(self) -> int:
        return self.profile.dimension

    @abstractmethod
    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Raw vectors for already-prefixed texts, shape (n, dimension)."""

    def set_threads(self, threads: int) -> None:
        """Use ``threads`` CPU threads from now on (0: one per core). The
        query service runs short queries on one thread."""

    def config(self) -> dict[str, Any]:
        """What decides the vectors: part of the embedding stage key."""
        return {"backend": self.backend, **self.profile.identity()}

    def embed_documents(
        self, texts: list[str], batch_size: int = 64, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        texts = [self.profile.passage_prefix + t for t in texts]
        return self._batched(texts, batch_size, progress)

    def embed_queries(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        texts = [self.profile.query_prefix + t for t in texts]
        return self._batched(texts, batch_size, None)

    def token_counts(self, texts: list[str]) -> list[int]:
        """Tokens of each (prefixed) text as the model sees it, special
        tokens included, before any truncation."""
        from pdfrag.embed.tokens import _load

        tok = _load(str(self.profile.path))
        return [len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=True)]

    def _batched(self, texts: list[str], batch_size: int, progress: Callable[[int], None] | None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        try:
            lengths = self.token_counts(texts)
            self._check_lengths(lengths)
        except ConfigError:  # a local model folder without tokenizer.json
            lengths = [len(t) // 4 + 2 for t in texts]  # only orders the batches
        # Sort by token count so each batch pads little; restore order after.
        order = np.argsort([-n for n in lengths], kind="stable")
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        start = 0
        while start < len(texts):
            # Long texts go in smaller batches: at most max_batch_tokens per
            # forward pass bounds the memory that attention takes.
            longest = max(min(lengths[order[start]], self.profile.max_tokens), 1)
            size = min(max(batch_size, self.min_batch, 1), self.max_batch_tokens // longest)
            if self.max_batch_attention:
                size = min(size, self.max_batch_attention // longest**2)
            size = max(1, size)
            idx = order[start : start + size * 4]  # hand the backend a few batches at a time
            vecs = self._encode([texts[i] for i in idx], size)
            out[idx] = vecs
            if progress:
                progress(len(idx))
            start += len(idx)
        return normalize(out)

    def _check_lengths(self, lengths: list[int]) -> None:
        limit = self.profile.max_tokens
        over = [n for n in lengths if n > limit]
        if over:
            self.truncated += len(over)
            log.warning(
                "%d of %d texts are longer than %s's limit of %d tokens (the longest has %d): only their first %d tokens are "
                "embedded; use smaller chunks (pdfrag's chunker keeps every chunk within the limit)",
                len(over), len(lengths), self.profile.name, limit, max(over), limit,
            )


def normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (vectors / norms).astype(np.float32, copy=False)
