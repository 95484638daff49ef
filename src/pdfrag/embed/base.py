"""Embedder interface: texts → L2-normalized float32 vectors."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from pdfrag.embed.profiles import ModelProfile


class Embedder(ABC):
    backend: ClassVar[str]
    profile: ModelProfile

    @property
    def dimension(self) -> int:
        return self.profile.dimension

    @abstractmethod
    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Raw vectors for already-prefixed texts, shape (n, dimension)."""

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

    def _batched(self, texts: list[str], batch_size: int, progress: Callable[[int], None] | None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # Sort by length so each batch pads little; restore order after.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        step = max(batch_size, 1) * 4  # hand the backend a few batches at a time
        for start in range(0, len(texts), step):
            idx = order[start : start + step]
            vecs = self._encode([texts[i] for i in idx], batch_size)
            out[idx] = vecs
            if progress:
                progress(len(idx))
        return normalize(out)


def normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (vectors / norms).astype(np.float32, copy=False)
