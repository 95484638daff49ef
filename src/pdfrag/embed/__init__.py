"""Embedders, one backend per file behind ``Embedder``; models by profile.

Backends (``embed.backend``): ``torch`` (sentence-transformers fp32),
``torch-bf16`` (bf16 autocast), ``torch-fp16`` (CUDA), ``onnx`` and
``onnx-int8`` (ONNX Runtime), and ``auto`` (see ``pdfrag.embed.backends``);
``static`` (token vectors distilled from the model, for semantic splitting
only: ``chunk.split_backend``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pdfrag.config import EmbedSettings
from pdfrag.embed.base import Embedder
from pdfrag.embed.profiles import PROFILES, ModelProfile, get_profile


@lru_cache(maxsize=4)
def _cached(model: str, backend: str, device: str, threads: int, models_dir: str) -> Embedder:
    profile = get_profile(model, models_dir or None)
    return make_embedder(profile, backend, device=device, threads=threads, models_dir=models_dir or None)


def make_embedder(profile: ModelProfile, backend: str, device: str = "auto", threads: int = 0, models_dir: str | Path | None = None) -> Embedder:
    """A new embedder for ``profile`` on ``backend`` (``auto`` resolved here)."""
    from pdfrag.embed.backends import resolve_backend
    from pdfrag.errors import ConfigError

    backend = resolve_backend(backend, device)
    if backend in ("torch", "torch-bf16", "torch-fp16"):
        from pdfrag.embed.sentence_transformers import SentenceTransformerEmbedder

        precision = {"torch": "fp32", "torch-bf16": "bf16", "torch-fp16": "fp16"}[backend]
        return SentenceTransformerEmbedder(profile, device=device, precision=precision, threads=threads)
    if backend in ("onnx", "onnx-int8"):
        from pdfrag.embed.onnx import OnnxEmbedder

        return OnnxEmbedder(profile, int8=backend == "onnx-int8", threads=threads, models_dir=models_dir)
    if backend == "static":
        from pdfrag.embed.static import StaticEmbedder

        return StaticEmbedder(profile, models_dir=models_dir)
    raise ConfigError(f"unknown embedding backend {backend!r}", stage="embed", hint="auto, torch, torch-bf16, torch-fp16, onnx or onnx-int8")


def get_embedder(settings: EmbedSettings) -> Embedder:
    """One embedder per (model, backend, device) per process: loading
    weights is the expensive part, and tasks in one worker share it."""
    return _cached(settings.model, settings.backend, settings.device, settings.threads, settings.models_dir)


__all__ = ["PROFILES", "Embedder", "ModelProfile", "get_embedder", "get_profile", "make_embedder"]
