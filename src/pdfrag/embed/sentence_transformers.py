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


def pooled_encoder(encoder, pooling: str):
    """The encoder with its pooling (``mean`` over the attention mask, or
    ``cls``) as one module: (input_ids, attention_mask) → vectors. The ONNX
    export is made of it, and the torch backends run it directly."""
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self, encoder) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask):
            h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            if pooling == "cls":
                return h[:, 0]
            mask = attention_mask.unsqueeze(-1).to(h.dtype)
            return (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    return Pooled(encoder).eval()


def _plain_pooling(model) -> str | None:
    """``mean`` or ``cls`` when the sentence-transformers model is just an
    encoder, that pooling and at most a Normalize (the profiles' models and
    most others); None for anything more (dense layers, other poolings),
    which then runs through ``model.encode``."""
    names = [type(m).__name__ for m in model]
    if names[:2] != ["Transformer", "Pooling"] or any(n != "Normalize" for n in names[2:]):
        return None
    if not hasattr(model[0], "auto_model"):
        return None
    pool = model[1]
    mode = getattr(pool, "pooling_mode", None)
    if mode is None and hasattr(pool, "get_pooling_mode_str"):
        mode = pool.get_pooling_mode_str()
    if mode not in ("mean", "cls") or getattr(pool, "include_prompt", True) is False:
        return None
    return mode


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
        if self.device == "cuda":
            # A GPU has the memory for long batches, and needs them to be
            # busy: on an H200, all-MiniLM-L6-v2 in fp16 embedded 0.80M
            # tokens/s in batches of 64, 1.16M in 256 and 1.42M in 1,024
            # (benchmarks/results/embedding-h200.md). Attention scores for
            # 2^18 tokens of a 12-head model at 256 tokens take about 1.6 GB
            # in half precision.
            self.max_batch_tokens = 1 << 18
            self.min_batch = 1024
        self._model = None
        self._direct = None  # (pooled encoder, padded tokenizer) where the model allows it
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
                pooling = _plain_pooling(model)
                if pooling and (self.profile.path / "tokenizer.json").is_file():
                    from pdfrag.embed.tokens import padded

                    self._direct = (pooled_encoder(model[0].auto_model, pooling), padded(str(self.profile.path), self.profile.max_tokens))
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
        if self._direct is not None:
            return self._encode_direct(texts, batch_size)
        with torch.inference_mode(), self._autocast():
            vecs = model.encode(
                texts, batch_size=batch_size, convert_to_numpy=False, convert_to_tensor=True, normalize_embeddings=False,
                show_progress_bar=False,
            )
        return vecs.float().cpu().numpy()

    def _encode_direct(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Tokenize with the model's fast tokenizer and run encoder and
        pooling: the same vectors as ``model.encode`` without its per-batch
        Python work. Vectors stay on the device until the last batch, so a
        GPU never waits for the host in between."""
        import torch

        pooled, tok = self._direct
        out = []
        with torch.inference_mode(), self._autocast():
            for start in range(0, len(texts), max(batch_size, 1)):
                enc = tok.encode_batch(texts[start : start + batch_size], add_special_tokens=True)
                ids = torch.from_numpy(np.array([e.ids for e in enc], dtype=np.int64))
                mask = torch.from_numpy(np.array([e.attention_mask for e in enc], dtype=np.int64))
                out.append(pooled(ids.to(self.device, non_blocking=True), mask.to(self.device, non_blocking=True)))
        return torch.cat(out).float().cpu().numpy()

    def config(self) -> dict[str, Any]:
        return {**super().config(), "max_tokens": self.profile.max_tokens}
