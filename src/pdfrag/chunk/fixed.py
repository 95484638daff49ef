"""Fixed windows: ``size`` tokens of the embedding model's tokenizer (or
``size`` characters), each starting ``size - overlap`` after the previous
one. Cuts fall on token (or character) boundaries, wherever they land: the
baseline every other chunker is measured against (LangChain's
TokenTextSplitter does the same with another tokenizer)."""

from __future__ import annotations

from typing import Any, ClassVar

from pdfrag.chunk.base import Chunker, TokenIndex, Unit
from pdfrag.embed.tokens import ModelTokenizer


class FixedChunker(Chunker):
    name: ClassVar[str] = "fixed"

    def __init__(
        self, tokenizer: ModelTokenizer, size: int = 200, overlap: int = 0, unit: Unit = "tokens", min_size: int = 0, context: int = 0
    ) -> None:
        super().__init__(tokenizer, size, unit=unit, min_size=min_size, context=context)
        if not 0 <= overlap < size:
            raise ValueError(f"overlap ({overlap}) must be >= 0 and smaller than size ({size})")
        self.overlap = overlap

    def params(self) -> dict[str, Any]:
        return {"size": self.size, "overlap": self.overlap, "unit": self.unit, "min_size": self.min_size}

    def split(self, text: str, tokens: TokenIndex) -> list[tuple[int, int]]:
        step = self.size - self.overlap
        if self.unit == "chars":
            cuts = range(0, len(text))
        else:
            cuts = tokens.starts
        n = len(cuts)
        spans = []
        for i in range(0, max(n, 1), step):
            s = cuts[i] if 0 < i < n else 0
            e = cuts[i + self.size] if i + self.size < n else len(text)
            spans.append((s, e))
            if e >= len(text):
                break
        return spans
