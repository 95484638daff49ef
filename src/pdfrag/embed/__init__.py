"""Embedders, one backend per file behind ``Embedder``; models by profile."""

from __future__ import annotations

from functools import lru_cache

from pdfrag.config import EmbedSettings
from pdfrag.embed.base import Embedder
from pdfrag.embed.profiles import PROFILES, ModelProfile, get_profile


@lru_cache(maxsize=4)
def _cached(model: str, device: str) -> Embedder:
    from pdfrag.embed.sentence_transformers import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(get_profile(model), device=device)


def get_embedder(settings: EmbedSettings) -> Embedder:
    """One embedder per (model, device) per process: loading weights is the
    expensive part, and tasks in one worker share it."""
    return _cached(settings.model, settings.device)


__all__ = ["PROFILES", "Embedder", "ModelProfile", "get_embedder", "get_profile"]
