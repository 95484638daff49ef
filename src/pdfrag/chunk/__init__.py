"""Chunkers, one file each behind ``Chunker``."""

from __future__ import annotations

from pdfrag.chunk.base import Chunker, DocumentText, TokenIndex
from pdfrag.config import ChunkSettings
from pdfrag.embed.tokens import ModelTokenizer


def get_chunker(settings: ChunkSettings, tokenizer: ModelTokenizer) -> Chunker:
    if settings.chunker == "recursive":
        from pdfrag.chunk.recursive import RecursiveChunker

        return RecursiveChunker(
            tokenizer, size=settings.size, overlap=settings.overlap, separators=settings.separators, min_size=settings.min_size
        )
    raise ValueError(f"unknown chunker {settings.chunker!r}")


__all__ = ["Chunker", "DocumentText", "TokenIndex", "get_chunker"]
