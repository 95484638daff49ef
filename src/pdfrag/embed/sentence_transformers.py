"""sentence-transformers backend (torch), CPU or CUDA; weights loaded offline."""

from __future__ import annotations

import os
import threading
from typing import Any, ClassVar

import numpy as np

from pdfrag.embed.base import Embedder
from pdfrag.embed.profiles import ModelProfile
from pdfrag.errors import ConfigError


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("embed.device is 'cuda' but no CUDA device is visible", stage="embed", hint="use PDFRAG_EMBED__DEVICE=auto or cpu")
    return device


class SentenceTransformerEmbedder(Embedder):
    backend: ClassVar[str] = "sentence-transformers"

    def __init__(self, profile: ModelProfile, device: str = "auto") -> None:
        self.profile = profile
        self.requested_device = device
        self._model = None
        self._lock = threading.Lock()

    @property
    def model(self):
        with self._lock:
            if self._model is None:
                # Never reach for a hub: weights come from an installed package
                # or a local folder.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                import transformers
                from sentence_transformers import SentenceTransformer

                transformers.utils.logging.disable_progress_bar()
                transformers.utils.logging.set_verbosity_error()

                self.device = resolve_device(self.requested_device)
                self._model = SentenceTransformer(str(self.profile.path), device=self.device, local_files_only=True)
                self._model.max_seq_length = self.profile.max_tokens
                dim_of = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
                got = dim_of()
                if got != self.profile.dimension:
                    raise ConfigError(
                        f"model {self.profile.name} gives {got}-d vectors, its profile says {self.profile.dimension}", stage="embed"
                    )
            return self._model

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        vecs = self.model.encode(
            texts, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vecs, dtype=np.float32)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "max_tokens": self.profile.max_tokens}
