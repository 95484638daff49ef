"""Chunkers, one file each behind ``Chunker``: ``fixed``, ``recursive``,
``semantic`` and ``structure``."""

from __future__ import annotations

from collections.abc import Callable

from pdfrag.chunk.base import Chunker, DocumentText, TokenIndex, embedding_text
from pdfrag.config import ChunkSettings, EmbedSettings
from pdfrag.embed.base import Embedder
from pdfrag.embed.tokens import ModelTokenizer
from pdfrag.errors import ConfigError

CHUNKERS = ("fixed", "recursive", "semantic", "structure")


def get_chunker(
    settings: ChunkSettings, tokenizer: ModelTokenizer, embedder: Embedder | Callable[[], Embedder] | None = None
) -> Chunker:
    """The configured chunker. ``embedder`` (or a function returning it, so
    that the model loads only when first needed) is required by ``semantic``
    and by ``structure`` with ``section_split = "semantic"``."""
    s = settings
    if s.chunker == "recursive":
        from pdfrag.chunk.recursive import RecursiveChunker

        return RecursiveChunker(
            tokenizer, size=s.size, overlap=s.overlap, separators=s.separators, min_size=s.min_size, unit=s.unit, context=s.context
        )
    if s.chunker == "fixed":
        from pdfrag.chunk.fixed import FixedChunker

        return FixedChunker(tokenizer, size=s.size, overlap=s.overlap, unit=s.unit, min_size=s.min_size, context=s.context)
    if s.chunker == "structure":
        from pdfrag.chunk.structure import StructureChunker

        if s.section_split == "semantic" and embedder is None:
            raise ConfigError("semantic section splitting needs an embedder", stage="chunk", hint="pass the pipeline's embedder to get_chunker")
        return StructureChunker(
            tokenizer, size=s.size, overlap=s.overlap, min_size=s.min_size, separators=s.separators, heading_prefix=s.heading_prefix,
            context=s.context, split=s.section_split, embedder=embedder, breakpoint=s.breakpoint, threshold=s.threshold, window=s.window,
        )
    if s.chunker == "semantic":
        from pdfrag.chunk.semantic import SemanticChunker

        if embedder is None:
            raise ConfigError("the semantic chunker needs an embedder", stage="chunk", hint="pass the pipeline's embedder to get_chunker")
        return SemanticChunker(
            tokenizer, embedder, size=s.size, min_size=s.min_size, breakpoint=s.breakpoint, threshold=s.threshold, window=s.window,
            context=s.context,
        )
    raise ValueError(f"unknown chunker {s.chunker!r}; one of {', '.join(CHUNKERS)}")


def split_embed_settings(chunk: ChunkSettings, embed: EmbedSettings) -> EmbedSettings:
    """How semantic splitting embeds sentences: the index's embedding
    settings with ``chunk.split_backend`` as the backend (see ChunkSettings;
    ``auto``: ``static`` for models with a calibrated static centring, else
    from the index's backend on this machine)."""
    from pdfrag.chunk.semantic import STATIC_DP_CENTRES
    from pdfrag.embed.backends import resolve_backend

    choice = chunk.split_backend
    if choice == "same":
        return embed
    if choice == "auto" and embed.model in STATIC_DP_CENTRES:
        return embed.model_copy(update={"backend": "static"})
    index = resolve_backend(embed.backend, embed.device)
    if choice == "auto":
        choice = "onnx-int8" if index == "onnx" else index
    # The index's own backend: its settings, so that one embedder serves both.
    return embed if choice == index else embed.model_copy(update={"backend": choice})


__all__ = ["CHUNKERS", "Chunker", "DocumentText", "TokenIndex", "embedding_text", "get_chunker", "split_embed_settings"]
