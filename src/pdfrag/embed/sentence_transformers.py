"""torch backends through sentence-transformers: fp32 (CPU or CUDA), bf16
autocast (CPUs with native bf16: AVX512_BF16 or AMX; any GPU), fp16 (CUDA).
Weights are loaded offline from the model's folder."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import Any, ClassVar

import numpy as np

from pdfrag.embed.base import Embedder
from pdfrag.embed.profiles import ModelProfile
from pdfrag.errors import ConfigError

log = logging.getLogger(__name__)

PRECISIONS = {"fp32": "torch", "bf16": "torch-bf16", "fp16": "torch-fp16"}


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("embed.device is 'cuda' but no CUDA device is visible", stage="embed", hint="use PDFRAG_EMBED__DEVICE=auto or cpu")
    return device


def quiet_offline_hub() -> None:
    """Never reach for a hub: weights come from an installed package or a
    local folder."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


class SentenceTransformerEmbedder(Embedder):
    """``precision``: fp32; bf16 (autocast: matrix products in bf16, sums
    and norms in fp32); fp16 (weights in half precision, CUDA only: on a CPU
    it falls back to fp32 with a warning)."""

    backend: ClassVar[str] = "torch"

    def __init__(self, profile: ModelProfile, device: str = "auto", precision: str = "fp32", threads: int = 0) -> None:
        if precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {precision!r}", stage="embed", hint=f"one of {sorted(PRECISIONS)}")
        self.profile = profile
        self.requested_device = device
        self.device = resolve_device(device)
        if precision == "fp16" and self.device != "cuda":
            log.warning("torch-fp16 needs a CUDA GPU and none is in use; embedding in fp32 on the CPU")
            precision = "fp32"
        self.precision = precision
        self.backend = PRECISIONS[precision]  # type: ignore[misc]
        self.threads = threads
        self._model = None
        self._lock = threading.Lock()

    @property
    def model(self):
        with self._lock:
            if self._model is None:
                quiet_offline_hub()
                from sentence_transformers import SentenceTransformer

                model = SentenceTransformer(str(self.profile.path), device=self.device, local_files_only=True)
                model.max_seq_length = self.profile.max_tokens
                dim_of = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
                got = dim_of()
                if got != self.profile.dimension:
                    raise ConfigError(
                        f"model {self.profile.name} gives {got}-d vectors, its profile says {self.profile.dimension}", stage="embed"
                    )
                if self.precision == "fp16":
                    model.half()
                model.eval()
                self._model = model
            return self._model

    def set_threads(self, threads: int) -> None:
        """OpenMP's thread count is per calling thread: this one only."""
        import torch

        self.threads = threads
        if threads:
            torch.set_num_threads(threads)

    def _autocast(self):
        import torch

        if self.precision == "bf16":
            return torch.autocast(self.device, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        import torch

        model = self.model
        if self.threads and self.device == "cpu":
            torch.set_num_threads(self.threads)
        with torch.inference_mode(), self._autocast():
            vecs = model.encode(
                texts, batch_size=batch_size, convert_to_numpy=False, convert_to_tensor=True, normalize_embeddings=False,
                show_progress_bar=False,
            )
        return vecs.float().cpu().numpy()

    def config(self) -> dict[str, Any]:
        return {**super().config(), "max_tokens": self.profile.max_tokens}
